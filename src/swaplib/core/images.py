"""Image files: reading and writing them (atomically), the formats stages write, and the frame-file name.

A frames folder holds one image per frame, named by its number: `000012.png` is frame 12. This
module is the one owner of that name; the frames, faces, merge and quality stages go through it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError

IMAGE_FORMATS = ("png", "jpg")  # what the stages write (frames, face crops)
FRAME_DIGITS = 6
FRAME_NAME = re.compile(r"^(\d+)\.(png|jpe?g)$", re.IGNORECASE)


def frame_name(number: int, ext: str) -> str:
    """The file name of frame `number`: 12, "png" -> "000012.png"."""
    return f"{number:0{FRAME_DIGITS}d}.{ext}"


def frame_files(frames_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(frame number, path) of every NNNNNN.png/jpg in the folder, in frame order."""
    frames_dir = Path(frames_dir)
    if not frames_dir.is_dir():
        raise SwaplibError(f"{frames_dir}: frames folder not found")
    found = [(int(m.group(1)), p) for p in frames_dir.iterdir() if (m := FRAME_NAME.match(p.name))]
    if not found:
        raise SwaplibError(f"{frames_dir}: no frame images (NNNNNN.png or .jpg) in this folder")
    found.sort()
    # Two files for one frame number (000005.png and 000005.jpg) would give two faces one id.
    for (number, first), (next_number, second) in zip(found, found[1:]):
        if number == next_number:
            raise SwaplibError(f"{frames_dir}: frame {number} is there twice ({first.name}, {second.name})")
    return found


def write_image(path: str | os.PathLike, image: np.ndarray, jpeg_quality: int = 95) -> None:
    """Write an image (BGR uint8) atomically; a failed write (full disk, bad path) raises."""
    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), image, params):
            raise SwaplibError(f"{path}: could not write image (disk full or folder not writable?)")


def shrink(image: np.ndarray, side: int) -> np.ndarray:
    """A square image scaled down to side x side (area resampling, halved first: OpenCV's area
    resize is fast at whole ratios)."""
    half = image.shape[0] // 2
    if half >= side:
        image = cv2.resize(image, (half, half), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as BGR uint8, or raise naming the file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SwaplibError(f"{path}: missing or not a readable image")
    return image
