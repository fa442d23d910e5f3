"""Swapped photos: a pair whose destination is a photo folder gets its merged frames back as photos.

One photo per destination photo, named after it and in its format where c2pa-python signs that format
(JPEG, PNG, WebP; any other becomes PNG), each marked synthetic as a video is: the visible label drawn
by the video's own drawtext (video.marks), the statement in its metadata (video.photo_metadata), and a
signed C2PA manifest naming its own original photo by hash (video.credentials). One provenance sidecar
for the folder, `{pair}.provenance.json` beside it, lists every photo with its original and manifest.
"""

from __future__ import annotations

import functools
import logging
import mimetypes
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
from PIL import Image

from swaplib.core.atomic import atomic_dir, write_json
from swaplib.core.digest import hash_file
from swaplib.core.errors import SwaplibError
from swaplib.core.images import frame_files
from swaplib.core.progress import Progress
from swaplib.video.credentials import NOT_SIGNED, OTHER_FORMAT, sign_in_place
from swaplib.video.ffmpeg import run_ffmpeg
from swaplib.video.marks import (
    PHOTO_TAG,
    check_label_corner,
    draw_label,
    made_with,
    provenance_record,
    read_merge_report,
)
from swaplib.video.photo_metadata import save_marked
from swaplib.video.signing import C2paSettings, SigningKey, enabled_key

log = logging.getLogger(__name__)

# A swapped photo's type by its original's suffix: the original's own where every mark fits in it.
MEDIA_BY_SUFFIX = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
FALLBACK_SUFFIX = ".png"  # for the others (bmp: no metadata, no C2PA)
DEFAULT_C2PA = C2paSettings()


@dataclass(frozen=True)
class _Still:
    frame: Path  # the merged frame
    original: Path  # the destination photo it was made from
    target: Path  # the swapped photo, in the folder being written
    media: str
    size: tuple[int, int]  # the original's, upright (video.json's)


def write_photos(
    merged_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    photos: list[dict],
    originals: Iterable[str | os.PathLike],
    label: str | None = "SYNTHETIC",
    label_corner: str = "bottom-left",
    c2pa: C2paSettings | dict = DEFAULT_C2PA,
    provenance: dict | None = None,
    merge_report: str | os.PathLike | None = None,
    threads: int = 1,
) -> dict:
    """Write each merged frame of merged_dir as a photo in out_dir, and its sidecar beside out_dir.

    photos: the destination's video.json `photos` (each photo's file name and size, in frame order);
    originals: the destination folder's photo files (their hashes name them in each manifest, their
    colour profiles are kept). label, label_corner and c2pa are config.yaml's `video:` settings,
    provenance and merge_report what the sidecar records (as for a video). Returns the sidecar's record.
    """
    out_dir = Path(out_dir)
    check_label_corner(label_corner, out_dir)
    key = enabled_key(c2pa)  # a bad certificate stops the job before any photo is written
    merged = read_merge_report(merge_report) if merge_report is not None else {}
    record = provenance_record(out_dir, len(photos), None, label, provenance, merged, media="photos")
    write = functools.partial(_write_still, label=label, corner=label_corner, record=record, key=key,
                              statement=made_with(PHOTO_TAG, record.get("model"), record["model_file"]))
    with atomic_dir(out_dir) as tmp, tempfile.TemporaryDirectory(prefix=".labelled.", dir=tmp) as scratch:
        stills = _plan(Path(merged_dir), photos, originals, tmp)
        pool = ThreadPoolExecutor(max(1, threads))
        try:
            with Progress(len(stills), f"{out_dir.name}: photos written", unit="photo", log=log) as progress:
                files = []
                for entry in pool.map(functools.partial(write, scratch=Path(scratch)), stills):
                    files.append(entry)
                    progress.update()
        finally:
            pool.shutdown(cancel_futures=True)  # the first photo that fails stops the rest
        record["files"] = files
        record["content_credentials"] = _folder_credentials(files, key)
        # Written before the folder is renamed into place: no finished photos without their sidecar.
        write_json(out_dir.with_suffix(".provenance.json"), record)
    return record


def photo_names(files: list[str]) -> list[str]:
    """Each swapped photo's file name: its original's, or for a format that carries no mark its stem
    with .png (its whole name with .png where another photo has that name)."""
    taken, names = set(files), []
    for name in files:
        if Path(name).suffix.lower() not in MEDIA_BY_SUFFIX:
            stem = Path(name).stem + FALLBACK_SUFFIX
            name = stem if stem not in taken else name + FALLBACK_SUFFIX
            taken.add(name)
        names.append(name)
    return names


def _plan(merged_dir: Path, photos: list[dict], originals: Iterable, into: Path) -> list[_Still]:
    """The photos to write: merged frame n is photo n of video.json, found among the originals."""
    frames = frame_files(merged_dir)  # raises naming the folder when it holds no frame
    if [number for number, _ in frames] != list(range(len(photos))):
        raise SwaplibError(f"{merged_dir}: {len(frames)} merged frames, not the destination's {len(photos)} photos "
                           f"numbered from 000000; merge again")
    by_name = {Path(path).name: Path(path) for path in originals}
    stills = []
    for (_, frame), photo, name in zip(frames, photos, photo_names([photo["file"] for photo in photos])):
        if photo["file"] not in by_name:
            raise SwaplibError(f"{photo['file']}: a destination photo the frames were made from is no longer in "
                               f"its folder; run the frames stage again")
        stills.append(_Still(frame, by_name[photo["file"]], into / name,
                             MEDIA_BY_SUFFIX[Path(name).suffix.lower()], (photo["width"], photo["height"])))
    return stills


def _write_still(still: _Still, *, label: str | None, corner: str, statement: str, record: dict,
                 key: SigningKey | None, scratch: Path) -> dict:
    """One swapped photo written and marked; its entry in the sidecar."""
    try:
        with Image.open(still.frame) as frame:
            size = frame.size
    except OSError as exc:
        raise SwaplibError(f"{still.frame}: not a readable merged frame ({exc})") from None
    if size != still.size:
        raise SwaplibError(f"{still.frame} is {size[0]}x{size[1]} but {still.original} is "
                           f"{still.size[0]}x{still.size[1]}; merge again")
    picture = _labelled(still, label, corner, scratch) if label else still.frame
    with Image.open(picture) as image:
        save_marked(image.convert("RGB"), still.target, still.media, statement, _colour_profile(still.original))
    if picture != still.frame:
        picture.unlink()  # the labelled copy, as soon as it is written out
    original = {"kind": "photo", "format": mimetypes.guess_type(still.original.name)[0] or OTHER_FORMAT,
                "sha256": hash_file(still.original).hexdigest(), "bytes": still.original.stat().st_size}
    # Each photo's manifest names its own original as the destination, and one frame.
    credentials = sign_in_place(still.target, {**record, "frame_count": 1, "destination": original}, key, still.media)
    return {"file": still.target.name, "original": {"file": still.original.name, **original},
            "format": still.media, "width": size[0], "height": size[1], "content_credentials": credentials}


def _labelled(still: _Still, label: str, corner: str, scratch: Path) -> Path:
    """The merged frame with the visible label, drawn as on a video (ffmpeg's drawtext), as a PNG."""
    out = scratch / f"{still.frame.stem}.png"
    picture = draw_label(ffmpeg.input(str(still.frame))["v"], label, still.size[1], corner)
    run_ffmpeg(ffmpeg.output(picture, str(out), update=1, compression_level=1, **{"frames:v": 1}),
               f"{still.target.name}: drawing the label on {still.frame}")
    return out


def _colour_profile(original: Path) -> bytes | None:
    """The original's ICC profile: the merged pixels are in its colours (None where it has none)."""
    try:
        with Image.open(original) as image:
            return image.info.get("icc_profile")
    except OSError as exc:
        raise SwaplibError(f"{original}: cannot read the destination photo ({exc})") from None


def _folder_credentials(files: list[dict], key: SigningKey | None) -> dict:
    """The sidecar's summary of the folder's manifests (one in each photo, each validated as it was
    signed): the first photo's, with how many there are."""
    if key is None:
        return dict(NOT_SIGNED)
    states = sorted({entry["content_credentials"]["state"] for entry in files})
    return {**files[0]["content_credentials"], "label": f"one manifest in each of the {len(files)} photos (files)",
            "state": ", ".join(states)}
