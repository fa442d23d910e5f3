"""The training data of a model: the selected faces of face sets, with their face masks.

A face set's crops are at extract.size; the model may work at another resolution, so
masks are drawn straight at the model's resolution from the landmarks and the alignment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .align import hull_mask, transform_points
from .errors import SwaplibError
from .faces import landmarks_array, matrices_array
from .sort import selected_faces


def face_set_data(faceset_path: str | Path, faces_dir: str | Path, resolution: int) -> tuple[list[Path], np.ndarray]:
    """(crop files in training order, hull masks (N, resolution, resolution) float32)."""
    faces = selected_faces(faceset_path)
    if faces.empty:
        raise SwaplibError(f"{faceset_path}: the face set selects no face to train on")
    faces_dir = Path(faces_dir)
    scale = resolution / faces["size"].to_numpy(dtype=np.float64)
    matrices = matrices_array(faces) * scale[:, None, None]
    masks = np.stack(
        [hull_mask(transform_points(lm, m), (resolution, resolution)) for lm, m in zip(landmarks_array(faces), matrices)]
    ).astype(np.float32)
    return [faces_dir / name for name in faces["file"]], masks


def combined_data(sets: list[tuple[str | Path, str | Path]], resolution: int) -> tuple[list[Path], np.ndarray]:
    """Several (faceset, faces_dir) of one identity side, concatenated."""
    paths, masks = [], []
    for faceset_path, faces_dir in sets:
        p, m = face_set_data(faceset_path, faces_dir, resolution)
        paths += p
        masks.append(m)
    return paths, np.concatenate(masks)
