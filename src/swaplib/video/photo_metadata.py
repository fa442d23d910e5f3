"""The metadata that says a swapped photo is synthetic: written with the photo, and read back.

Every format gets EXIF (ImageDescription: the statement and what made the photo; Software) and XMP
with the IPTC digital source type trainedAlgorithmicMedia, the property photo tools and platforms
read for generated images, and a dc:description. A PNG also gets the statement as tEXt chunks
(Description, Software), which PNG readers show where they show no EXIF. Pillow writes EXIF in JPEG,
PNG (eXIf) and WebP, and XMP in JPEG and WebP; a PNG's XMP goes in the iTXt chunk XMP defines.

The original photo's EXIF is not carried over: its orientation is already applied to the pixels, and
it may hold a place (GPS) or a camera's serial number that a swapped photo has no business carrying.
Its colour profile is (the pixels are in its colours).
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from PIL import Image, PngImagePlugin

from swaplib import __version__
from swaplib.core.errors import SwaplibError
from swaplib.video.credentials import TRAINED_ALGORITHMIC_MEDIA

# The image types a swapped photo is written in, by Pillow's name: those c2pa-python signs.
MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
QUALITY = 95  # JPEG and WebP: near-lossless, a file a viewer would keep
IMAGE_DESCRIPTION, SOFTWARE = 0x010E, 0x0131  # EXIF tags (IFD0)
PNG_XMP = "XML:com.adobe.xmp"  # the iTXt keyword XMP's specification gives PNG
# Read by a pattern, not an XML parser: any photo's XMP is untrusted input, and no field but this is needed.
_SOURCE_TYPE = re.compile(r"""DigitalSourceType\s*=\s*["']([^"']+)|DigitalSourceType>\s*([^<\s]+)""")


def save_marked(image: Image.Image, path: str | os.PathLike, media: str, statement: str,
                icc_profile: bytes | None = None) -> None:
    """Write `image` to `path` as `media` (a key of MEDIA_TYPES) with `statement` in its EXIF, XMP (and
    a PNG's text chunks), and the original's colour profile; a failed write names the file."""
    path, generator = Path(path), f"swaplib {__version__}"
    exif = Image.Exif()
    exif[IMAGE_DESCRIPTION], exif[SOFTWARE] = statement, generator
    options: dict = {"exif": exif, "icc_profile": icc_profile}
    xmp = _xmp(statement, generator)
    if media == "image/png":
        text = PngImagePlugin.PngInfo()
        text.add_text("Description", statement)
        text.add_text("Software", generator)
        text.add_itxt(PNG_XMP, xmp.decode())
        options["pnginfo"] = text
    else:
        options.update(xmp=xmp, quality=QUALITY)
    try:
        image.save(path, MEDIA_TYPES[media], **{key: value for key, value in options.items() if value is not None})
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        raise SwaplibError(f"{path}: cannot write the swapped photo ({exc.strerror or exc})"
                           + ("; the disk is full: free space and run again" if full else "")) from exc


def _xmp(statement: str, generator: str) -> bytes:
    """An XMP packet: the IPTC digital source type, the creator tool and the statement as description."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f"Iptc4xmpExt:DigitalSourceType={quoteattr(TRAINED_ALGORITHMIC_MEDIA)} xmp:CreatorTool={quoteattr(generator)}>"
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(statement)}</rdf:li></rdf:Alt>'
        "</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def read_marks(path: str | os.PathLike) -> dict:
    """What a photo's metadata says of it: EXIF ImageDescription and Software, the XMP digital source
    type, and a PNG's Description chunk (None where absent)."""
    try:
        with Image.open(path) as image:
            exif, info = image.getexif(), dict(image.info)
    except (OSError, ValueError) as exc:
        raise SwaplibError(f"{path}: not a readable image ({exc})") from None
    xmp = info.get("xmp") or info.get(PNG_XMP) or b""
    found = _SOURCE_TYPE.search(xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp))
    return {
        "description": exif.get(IMAGE_DESCRIPTION),
        "software": exif.get(SOFTWARE),
        "digital_source_type": next(filter(None, found.groups()), None) if found else None,
        "png_description": info.get("Description"),
    }
