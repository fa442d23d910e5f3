"""A folder of photos as frames: which files count as its photos, and writing them as frame images."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2

from swaplib.core.errors import SwaplibError
from swaplib.core.progress import Progress

# Images a photo folder may hold (matched case-insensitively); everything else in it is ignored.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def photo_files(folder: str | os.PathLike) -> list[Path]:
    """The images of a photo folder, sorted by name; subfolders and hidden files are not looked in."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SwaplibError(f"{folder}: photo folder not found")
    files = sorted((p for p in folder.iterdir()
                    if p.suffix.lower() in PHOTO_SUFFIXES and not p.name.startswith(".") and p.is_file()),
                   key=lambda p: p.name)
    if not files:
        raise SwaplibError(f"{folder}: no photos in the folder (looked for {', '.join(PHOTO_SUFFIXES)} files; "
                           "subfolders are not searched)")
    return files


def convert_photos(photos: list[Path], frames: list[Path], options: list[int], threads: int,
                   progress: Progress) -> list[dict]:
    """Read each photo upright (its EXIF orientation applied) and write it as its frame with OpenCV's
    write `options`, in threads (OpenCV releases the GIL); the first unreadable photo stops the rest.
    Returns each photo's name and size, in order."""
    pool = ThreadPoolExecutor(max(1, threads))
    try:
        records = []
        for record in pool.map(_convert_photo, photos, frames, [options] * len(photos)):
            records.append(record)
            progress.update()
        return records
    finally:
        pool.shutdown(cancel_futures=True)


def _convert_photo(photo: Path, frame: Path, options: list[int]) -> dict:
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)  # IMREAD_COLOR applies the EXIF orientation
    if image is None:
        raise SwaplibError(f"{photo}: not a readable image")
    if not cv2.imwrite(str(frame), image, options):
        raise SwaplibError(f"{frame}: cannot write the frame of {photo}")
    return {"file": photo.name, "width": image.shape[1], "height": image.shape[0]}
