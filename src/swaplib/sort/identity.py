"""Identity scores: how far each face is from the video's person, from dlib face embeddings.

Embeddings come first from the face table (extraction measures some faces: every Nth frame,
frames with several faces, each track's first face); a face without one takes the mean of its
track's, since a track is one person. Faces still without one are embedded here from their
crops (swaplib.identity, ~30-150 ms per face on one CPU core), only when asked
(`identity: dlib`) or, in `auto` mode, when something needs them: reference faces named in the
curation sheet, or the identity order. A face with no embedding gets no identity score and
passes the identity filter.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image
from swaplib.extract.identity import EMBEDDING_SIZE, FaceEmbedder, distances, fill_from_tracks
from swaplib.tables.faces import embeddings_array

log = logging.getLogger(__name__)

EMBEDDING_COLUMN = "embedding"
IDENTITY_MODES = ("auto", "dlib", "none")


def fill_by_track(embeddings: np.ndarray, tracks: np.ndarray) -> np.ndarray:
    """Rows without an embedding take the mean of the measured ones of their track."""
    return fill_from_tracks(embeddings, tracks, reduce=np.mean)


def crop_embeddings(files: list[Path], crop_points: np.ndarray) -> np.ndarray:
    """(N, 128) embeddings of face crops, given each crop's 68 landmarks in crop pixels."""
    embedder = FaceEmbedder()
    out = np.zeros((len(files), EMBEDDING_SIZE))
    for row, (file, points) in enumerate(zip(files, crop_points)):
        out[row] = embedder.embed(cv2.cvtColor(read_image(file), cv2.COLOR_BGR2RGB), points[None])[0]
        if (row + 1) % 200 == 0:
            log.info("identity embeddings: %d/%d faces", row + 1, len(files))
    return out


def face_embeddings(
    faces: pd.DataFrame, faces_dir: str | Path, crop_points: np.ndarray, *, mode: str, wanted: bool
) -> np.ndarray | None:
    """(N, D) embeddings by `mode` (see the module doc; NaN rows for faces without one), or None."""
    if mode not in IDENTITY_MODES:
        raise SwaplibError(f"unknown identity mode {mode!r}; choose one of: {', '.join(IDENTITY_MODES)}")
    if mode == "none":
        return None
    embeddings = embeddings_array(faces).astype(np.float64) if EMBEDDING_COLUMN in faces.columns else None
    if embeddings is not None and "track_id" in faces.columns:
        embeddings = fill_by_track(embeddings, faces["track_id"].to_numpy())
    if mode == "dlib" or wanted:
        if embeddings is None:
            embeddings = np.full((len(faces), EMBEDDING_SIZE), np.nan)
        missing = np.flatnonzero(np.isnan(embeddings).any(axis=1))
        if len(missing):
            log.info("embedding %d of %d faces from their crops (the face table has none for them)",
                     len(missing), len(faces))
            files = [Path(faces_dir) / name for name in faces["file"].iloc[missing]]
            embeddings[missing] = crop_embeddings(files, crop_points[missing])
    return embeddings


def identity_distance(embeddings: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Distance of each face to the mean of the reference faces, or to the set's median face
    when there is no reference (in a one-person video the median is that person); NaN where a
    face has no embedding."""
    measured = ~np.isnan(embeddings).any(axis=1)
    if not measured.any():
        return np.full(len(embeddings), np.nan)
    anchors = references & measured
    anchor = embeddings[anchors].mean(axis=0) if anchors.any() else np.median(embeddings[measured], axis=0)
    return distances(embeddings, anchor)
