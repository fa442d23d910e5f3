"""The marks that say a video (or a swapped photo) is synthetic: a visible label, metadata tags and a
provenance sidecar.

Every video the encoder writes carries all three: the label burnt into the pictures (when one is
asked for), tags in the container naming swaplib and the model, and `<video>.provenance.json`
naming the inputs by their hashes, the model and the merge settings. The stills writer
(video.stills) draws the same label, writes the same words in each photo's metadata
(video.photo_metadata) and one sidecar for the folder.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from pathlib import Path

import av

from swaplib import __version__
from swaplib.core.errors import SwaplibError
from swaplib.video.frames import _source_record
from swaplib.video.photos import photo_files


def synthetic_statement(media: str) -> str:
    """What every file swaplib writes says of itself, `media` naming it (video, photo)."""
    return f"SYNTHETIC: face-swapped {media} made with swaplib; it does not show real events"


SYNTHETIC_TAG = synthetic_statement("video")
PHOTO_TAG = synthetic_statement("photo")
LABEL_CORNERS = ("bottom-left", "bottom-right", "top-left", "top-right")


def check_label_corner(corner: str, out_path) -> None:
    if corner not in LABEL_CORNERS:
        raise SwaplibError(f"{out_path}: unknown label corner {corner!r}; choose one of {', '.join(LABEL_CORNERS)}")


def draw_label(picture, label: str, height: int, corner: str):
    """`picture` (an ffmpeg-python stream `height` px high) with `label` written at `corner`.

    ffmpeg-python escapes the option values for the filter graph, and drawtext's own %{...}
    expansion is off, so every character of the label is drawn as it is.
    """
    return picture.drawtext(text=label, escape_text=False, expansion="none", **label_style(height, corner))


def label_style(height: int, corner: str) -> dict:
    """drawtext's options for the label, but the text: white on a dark box, sized to the picture."""
    size = max(12, height // 28)
    return {
        "fontfile": str(find_font()),
        "fontsize": size,
        "fontcolor": "white",
        "box": 1,
        "boxcolor": "black@0.55",
        "boxborderw": max(4, size // 3),
        "x": f"w-tw-{size}" if corner.endswith("right") else size,
        "y": size if corner.startswith("top") else f"h-th-{size}",
    }


_FONT_NAMES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "LiberationSans-Regular.ttf", "Arial.ttf")
_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/truetype/liberation",
    "/usr/local/share/fonts",
    "/Library/Fonts",
    "/System/Library/Fonts/Supplemental",
    "C:/Windows/Fonts",
)


@functools.lru_cache(maxsize=1)
def find_font() -> Path:
    """A TrueType font for the visible label: common system places, then matplotlib's own copy."""
    dirs = [Path(d) for d in _FONT_DIRS]
    try:
        import matplotlib  # ships DejaVuSans in mpl-data, so a font exists even without fontconfig

        dirs.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    except ImportError:
        pass
    for name in _FONT_NAMES:
        for folder in dirs:
            if (folder / name).is_file():
                return folder / name
    raise SwaplibError(
        f"no font found for the synthetic-video label (looked for {', '.join(_FONT_NAMES)} in "
        f"{', '.join(map(str, dirs))}); install fonts-dejavu or matplotlib"
    )


def made_with(statement: str, model_name: str | None, model_file: dict | None) -> str:
    """`statement` followed by what made the file: swaplib's version, the model's name and the start of
    its file's sha256."""
    parts = [f"generator: swaplib {__version__}"]
    if model_name:
        parts.append(f"model: {model_name}")
    if model_file and model_file.get("sha256"):
        parts.append(f"model sha256: {model_file['sha256'][:16]}")
    return f"{statement} ({'; '.join(parts)})"


def synthetic_tags(model_name: str | None, model_file: dict | None) -> dict[str, str]:
    """Container tags, as ffmpeg-python output options (title, comment, description)."""
    tags = {
        "comment": SYNTHETIC_TAG,
        "title": "SYNTHETIC face-swapped video",
        "description": made_with(SYNTHETIC_TAG, model_name, model_file),
    }
    # ffmpeg wants one -metadata option per tag, an option keyword appears once: so each tag gets
    # its own spelling of the global specifier (-metadata:g:0, -metadata:g:1, ...; all global).
    return {f"metadata:g:{i}": f"{key}={value}" for i, (key, value) in enumerate(tags.items())}


def read_metadata_tags(path: str | os.PathLike) -> dict:
    """Container-level tags (title, comment, ...) of a media file."""
    try:
        with av.open(str(path)) as container:
            return dict(container.metadata)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise SwaplibError(f"{path}: cannot read metadata ({exc})") from exc


def read_merge_report(path) -> dict:
    """merge.json, whose model and settings the provenance records."""
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SwaplibError(f"{path}: cannot read the merge report ({exc})") from exc
    if not isinstance(report, dict):
        raise SwaplibError(f"{path}: not a merge report (expected a JSON object)")
    return report


def input_record(info: dict) -> dict:
    """An input of a swap by its content, from the video.json the frames stage wrote of it: the
    frames stage's hash is the one definition of an input's identity, and it is not computed twice."""
    photos = info.get("source_frame_count") if info.get("kind") == "photos" else None
    return _content(info["source"], photos)


def _file_record(value):
    """An input by its content: a record (input_record) as it is, or a path to a video or photo folder,
    hashed as the frames stage hashes it (its _source_record: private there, and renaming it would
    change the frames stage's code hash and so rerun every user's frames and all after). Anything
    else as it is."""
    if isinstance(value, (str, os.PathLike)) and Path(value).exists():
        photos = photo_files(Path(value)) if Path(value).is_dir() else None
        return _content(_source_record(Path(value), photos), len(photos) if photos else None)
    return value


def _content(record: dict, photos: int | None) -> dict:
    """{"path", "kind", "sha256", "bytes"(, "photos": how many)} of a frames stage's source record."""
    kind = {"kind": "photo folder", "photos": photos} if photos else {"kind": "video"}
    return {"path": record["path"], **kind, "sha256": record["sha256"], "bytes": record["bytes"]}


def provenance_record(out_path: Path, count: int, fps: str | None, label: str | None, provenance: dict | None,
                      merged: dict, media: str = "video") -> dict:
    """The provenance sidecar's record (the encoder adds its encoding and audio, the stills writer its
    photos): what made the video (`media` "photos": the folder of swapped photos), from which inputs (by
    their hashes) and model, with which merge settings; always synthetic."""
    given = dict(provenance or {})
    for key in ("source", "destination"):  # the input videos, identified by their content
        if key in given:
            given[key] = _file_record(given[key])
    return {
        "generator": f"swaplib {__version__}",
        "swaplib_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        media: out_path.name,
        "frame_count": count,
        "fps": fps,
        "visible_label": label or None,
        "metadata_comment": SYNTHETIC_TAG if media == "video" else PHOTO_TAG,
        "model_file": merged.get("model"),
        "merge": {key: merged[key] for key in ("settings", "overrides", "frames", "swapped", "failed") if key in merged}
        or None,
        **given,
        "synthetic": True,  # last, so a caller's provenance cannot unset it
    }
