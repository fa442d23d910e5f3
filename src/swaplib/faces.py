"""The face table: every face found in a video's frames, its aligned crop and its geometry.

`extract_faces` turns a folder of frames into a folder of aligned crops plus one parquet row per
face (contract in DESIGN.md); later stages read it back with `read_faces`.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from . import align
from .atomic import atomic_dir, atomic_path, read_image, write_image
from .detect import Detection
from .errors import SwaplibError

logger = logging.getLogger(__name__)

FACE_COLUMNS = [
    "face_id", "frame", "index", "file", "box_x0", "box_y0", "box_x1", "box_y1", "score",
    "landmarks", "matrix", "face_type", "size", "frame_width", "frame_height",
]

IMAGE_FORMATS = ("png", "jpg")
_FRAME_NAME = re.compile(r"^(\d+)\.(png|jpe?g)$", re.IGNORECASE)


class Detector(Protocol):
    """What extract_faces needs of a detector backend (see swaplib.detect)."""

    def detect(self, image_bgr: np.ndarray) -> list[Detection]: ...


def frame_files(frames_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(frame number, path) of every NNNNNN.png/jpg in the folder, in frame order."""
    frames_dir = Path(frames_dir)
    if not frames_dir.is_dir():
        raise SwaplibError(f"{frames_dir}: frames folder not found")
    found = [(int(m.group(1)), p) for p in frames_dir.iterdir() if (m := _FRAME_NAME.match(p.name))]
    if not found:
        raise SwaplibError(f"{frames_dir}: no frame images (NNNNNN.png or .jpg) in this folder")
    found.sort()
    # Two files for one frame number (000005.png and 000005.jpg) would give two faces one id.
    for (number, first), (next_number, second) in zip(found, found[1:]):
        if number == next_number:
            raise SwaplibError(f"{frames_dir}: frame {number} is there twice ({first.name}, {second.name})")
    return found


def face_row(
    frame: int,
    index: int,
    detection: Detection,
    matrix: np.ndarray,
    face_type: str,
    size: int,
    image_format: str,
    frame_shape: tuple[int, ...],
) -> dict:
    """One row of the face table."""
    x0, y0, x1, y1 = (float(v) for v in detection.box)
    face_id = f"{frame:06d}_{index}"
    return {
        "face_id": face_id,
        "frame": frame,
        "index": index,
        "file": f"{face_id}.{image_format}",
        "box_x0": x0,
        "box_y0": y0,
        "box_x1": x1,
        "box_y1": y1,
        "score": float(detection.score),
        "landmarks": np.asarray(detection.landmarks, dtype=np.float64).reshape(-1).tolist(),
        "matrix": np.asarray(matrix, dtype=np.float64).reshape(-1).tolist(),
        "face_type": face_type,
        "size": size,
        "frame_width": int(frame_shape[1]),
        "frame_height": int(frame_shape[0]),
    }


def _table(rows: list[dict]) -> pd.DataFrame:
    """The rows as a DataFrame with the contract's columns and dtypes."""
    df = pd.DataFrame(rows, columns=FACE_COLUMNS)
    ints = ["frame", "index", "size", "frame_width", "frame_height"]
    floats = ["box_x0", "box_y0", "box_x1", "box_y1", "score"]
    return df.astype({**{c: "int64" for c in ints}, **{c: "float64" for c in floats}})


def _extract_frame(
    image: np.ndarray,
    frame: int,
    out_dir: Path,
    *,
    detector: Detector,
    size: int,
    face_type: str,
    image_format: str,
    max_faces: int,
) -> list[dict]:
    """Detect, align and save the faces of one frame; return their table rows."""
    detections = detector.detect(image)
    if max_faces > 0:
        detections = detections[:max_faces]
    rows = []
    for index, detection in enumerate(detections):
        matrix = align.face_matrix(detection.landmarks, size, face_type)
        row = face_row(frame, index, detection, matrix, face_type, size, image_format, image.shape)
        write_image(out_dir / row["file"], align.warp_to_face(image, matrix, size))
        rows.append(row)
    return rows


def _check_settings(size: int, face_type: str, image_format: str, max_faces: int) -> None:
    align.check_face_type(face_type)
    if image_format not in IMAGE_FORMATS:
        choices = ", ".join(IMAGE_FORMATS)
        raise SwaplibError(f"unknown face image format {image_format!r}; choose one of: {choices}")
    if size < 16:
        raise SwaplibError(f"face size must be at least 16 px, got {size}")
    if max_faces < 0:
        raise SwaplibError(f"max_faces must be >= 0 (0 = all), got {max_faces}")


def extract_faces(
    frames_dir: str | os.PathLike,
    faces_dir: str | os.PathLike,
    table_path: str | os.PathLike,
    *,
    detector: Detector,
    size: int,
    face_type: str,
    image_format: str = "png",
    max_faces: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Detect and align the faces of every frame; write the crops to faces_dir and the table to table_path.

    Both outputs appear whole or not at all; the table is written last, so a table on disk always
    has its crops beside it. max_faces > 0 keeps that many faces per frame, largest first.
    """
    _check_settings(size, face_type, image_format, max_faces)
    frames = frame_files(frames_dir)
    name = getattr(detector, "name", type(detector).__name__)
    logger.info("extracting %s faces (%d px, %s detector) from %d frames of %s",
                face_type, size, name, len(frames), frames_dir)
    rows: list[dict] = []
    with atomic_dir(faces_dir) as tmp_dir:
        for done, (frame, path) in enumerate(_progress(frames, progress), start=1):
            rows += _extract_frame(read_image(path), frame, tmp_dir, detector=detector, size=size,
                                   face_type=face_type, image_format=image_format, max_faces=max_faces)
            if done % 50 == 0 or done == len(frames):
                logger.info("%d/%d frames done, %d faces found", done, len(frames), len(rows))
        if not rows:
            raise SwaplibError(f"no face found in any of {len(frames)} frames of {frames_dir}")
    table = _table(rows)
    with atomic_path(table_path) as tmp:
        table.to_parquet(tmp, index=False)
    with_face = table["frame"].nunique()
    logger.info("%d faces in %d of %d frames -> %s, %s",
                len(table), with_face, len(frames), faces_dir, table_path)
    return table


def _progress(frames: list, enabled: bool):
    if not enabled:
        return frames
    from tqdm import tqdm

    return tqdm(frames, desc="faces", unit="frame")


def read_faces(table_path: str | os.PathLike) -> pd.DataFrame:
    """The face table at table_path, checked for the contract's columns."""
    table_path = Path(table_path)
    if not table_path.is_file():
        raise SwaplibError(f"{table_path}: face table not found")
    try:
        df = pd.read_parquet(table_path)
    except Exception as err:  # pyarrow raises several types for damaged files
        raise SwaplibError(f"{table_path}: not a readable face table ({type(err).__name__}: {err})") from None
    missing = [c for c in FACE_COLUMNS if c not in df.columns]
    if missing:
        raise SwaplibError(f"{table_path}: face table lacks columns {', '.join(missing)}")
    return df


def landmarks_array(df: pd.DataFrame) -> np.ndarray:
    """(N, 68, 2) float32 landmarks in frame coordinates."""
    return _stack(df["landmarks"], np.float32).reshape(-1, 68, 2)


def matrices_array(df: pd.DataFrame) -> np.ndarray:
    """(N, 2, 3) float64 frame -> crop matrices."""
    return _stack(df["matrix"], np.float64).reshape(-1, 2, 3)


def _stack(column: pd.Series, dtype) -> np.ndarray:
    values = [np.asarray(v, dtype=dtype) for v in column]
    return np.stack(values) if values else np.zeros((0,), dtype=dtype)
