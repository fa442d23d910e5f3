"""What extraction leaves for every later stage: the numbered frames and the face table.

    frame_files(frames_dir)        (number, path) of the frames, in order
    read_faces(faces.parquet)      the table (kept faces unless asked for all), contract checked
    landmarks_array, matrices_array, embeddings_array    its list columns as typed arrays

Kept apart from swaplib.faces (which writes them) so that sort, train, merge and quality depend
on the table's format only, not on the detectors: editing a detector reruns extraction alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from swaplib.core.errors import SwaplibError

FACE_COLUMNS = [
    "face_id", "frame", "index", "file", "box_x0", "box_y0", "box_x1", "box_y1", "score",
    "landmarks", "matrix", "face_type", "size", "frame_width", "frame_height",
    "embedding", "track_id", "kept", "left_out",
]

EMBEDDING_SIZE = 128  # the embedding column: dlib's face descriptor


def read_faces(table_path: str | os.PathLike, *, kept_only: bool = True) -> pd.DataFrame:
    """The face table at table_path, checked for the contract's columns.

    kept_only: only the faces extraction kept (the ones with crops; what sort and merge use).
    A table from before the kept column existed counts all its faces as kept.
    """
    table_path = Path(table_path)
    if not table_path.is_file():
        raise SwaplibError(f"{table_path}: face table not found")
    try:
        df = pd.read_parquet(table_path)
    except Exception as err:  # pyarrow raises several types for damaged files
        raise SwaplibError(f"{table_path}: not a readable face table ({type(err).__name__}: {err})") from None
    required = [c for c in FACE_COLUMNS if c not in ("embedding", "track_id", "kept", "left_out")]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise SwaplibError(f"{table_path}: face table lacks columns {', '.join(missing)}")
    if kept_only and "kept" in df.columns:
        df = df[df["kept"]].reset_index(drop=True)
    return df


def landmarks_array(df: pd.DataFrame) -> np.ndarray:
    """(N, 68, 2) float32 landmarks in frame coordinates."""
    return _stack(df["landmarks"], np.float32).reshape(-1, 68, 2)


def matrices_array(df: pd.DataFrame) -> np.ndarray:
    """(N, 2, 3) float64 frame -> crop matrices."""
    return _stack(df["matrix"], np.float64).reshape(-1, 2, 3)


def embeddings_array(df: pd.DataFrame) -> np.ndarray:
    """(N, 128) float32 identity embeddings; NaN rows for faces that were not measured."""
    unknown = np.full(EMBEDDING_SIZE, np.nan, np.float32)
    values = [unknown if v is None else np.asarray(v, np.float32) for v in df["embedding"]]
    return np.stack(values) if values else np.zeros((0, EMBEDDING_SIZE), np.float32)


def _stack(column: pd.Series, dtype) -> np.ndarray:
    values = [np.asarray(v, dtype=dtype) for v in column]
    return np.stack(values) if values else np.zeros((0,), dtype=dtype)
