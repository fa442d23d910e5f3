"""Who is who: dlib face embeddings, a reference photo, and which faces of a frame are kept.

Embeddings come from dlib's face-recognition ResNet (128 numbers per face; two photos of one
person are usually closer than 0.6, of two people farther). They pick the right person in
frames with several faces, and let a tracker refuse to join two people into one track.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image
from swaplib.extract.detect.base import dlib_model_path, to_rgb_uint8
from swaplib.tables.faces import EMBEDDING_SIZE

EMBEDDING_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE, CHIP_PADDING = 150, 0.25  # the chips dlib's embedding network was trained on
SAME_PERSON = 0.6  # dlib's distance threshold for "same person"
SELECT_MODES = ("largest", "all")

# Why a face was left out (the faces table's left_out column; "" for kept faces).
NOT_LARGEST = "not the largest face"
OTHER_PERSON = "not the reference person"
SECOND_MATCH = "another face is closer to the reference"


@functools.cache
def _encoder():
    import dlib

    return dlib.face_recognition_model_v1(str(dlib_model_path(EMBEDDING_MODEL)))  # ~0.3 s, 22 MB


class FaceEmbedder:
    """128-D dlib identity embeddings of faces given by their 68 landmarks (~30-70 ms per face on a CPU)."""

    def __init__(self):
        import dlib

        self._dlib = dlib
        self._encoder = _encoder()

    def embed(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(N, 128) float32 embeddings of the faces with landmarks (N, 68, 2) in an RGB frame."""
        landmarks = np.asarray(landmarks, np.float64).reshape(-1, 68, 2)
        if not len(landmarks):
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        shapes = [self._shape(points) for points in landmarks]
        chips = self._dlib.get_face_chips(rgb, self._dlib.full_object_detections(shapes), CHIP_SIZE, CHIP_PADDING)
        return np.asarray(self._encoder.compute_face_descriptor(chips), np.float32).reshape(-1, EMBEDDING_SIZE)

    def _shape(self, points: np.ndarray):
        """A dlib shape (what its chip cutter takes) from 68 points, whatever detector found them."""
        x0, y0 = np.floor(points.min(axis=0)).astype(int)
        x1, y1 = np.ceil(points.max(axis=0)).astype(int)
        parts = [self._dlib.point(int(round(x)), int(round(y))) for x, y in points]
        return self._dlib.full_object_detection(self._dlib.rectangle(x0, y0, x1, y1), parts)


def distances(embeddings: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance of each embedding (N, 128) to the reference (128,); NaN rows give NaN."""
    return np.linalg.norm(np.asarray(embeddings, np.float64) - np.asarray(reference, np.float64), axis=1)


def reference_embedding(path: str | os.PathLike, detector, embedder: FaceEmbedder) -> np.ndarray:
    """The embedding of the one face in a reference photo; an error naming the photo otherwise."""
    image = read_image(path)  # raises naming the file when it is missing or not an image
    faces = detector.detect(image)
    if not faces:
        raise SwaplibError(f"{path}: no face found in this reference photo; use a photo where the face is "
                           "frontal and at least ~80 px")
    if len(faces) > 1:
        raise SwaplibError(f"{path}: {len(faces)} faces in this reference photo; crop it to the one person")
    return embedder.embed(to_rgb_uint8(image), faces[0].landmarks[None])[0]


def keep_faces(
    frames: np.ndarray,
    tracks: np.ndarray,
    mode: str,
    reference_distances: np.ndarray | None = None,
    tolerance: float = SAME_PERSON,
) -> tuple[np.ndarray, list[str]]:
    """(kept, left_out reason) for faces given in frame order, each frame's largest face first.

    Without reference distances, mode "largest" keeps the first face of each frame and "all"
    keeps every face. With them (NaN where a face was not measured), a face is kept when its
    distance, or its track's median distance when it has none, is within tolerance; of two such
    faces in one frame only the closer one.
    """
    if mode not in SELECT_MODES:
        raise SwaplibError(f"unknown face selection {mode!r}; choose one of: {', '.join(SELECT_MODES)}")
    frames, tracks = np.asarray(frames), np.asarray(tracks)
    first_in_frame = np.r_[True, frames[1:] != frames[:-1]] if len(frames) else np.zeros(0, bool)
    if reference_distances is None:
        kept = first_in_frame if mode == "largest" else np.ones(len(frames), bool)
        return kept, ["" if k else NOT_LARGEST for k in kept]

    judged = fill_from_tracks(np.asarray(reference_distances, np.float64), tracks)
    close = judged <= tolerance  # NaN (a track never measured) compares False: not kept
    kept, reasons = np.zeros(len(frames), bool), [OTHER_PERSON] * len(frames)
    for frame in np.unique(frames[close]):
        candidates = np.flatnonzero(close & (frames == frame))
        best = candidates[np.argmin(judged[candidates])]
        kept[best], reasons[best] = True, ""
        for other in candidates[candidates != best]:
            reasons[other] = SECOND_MATCH
    return kept, reasons


def fill_from_tracks(values: np.ndarray, tracks: np.ndarray, reduce=np.median) -> np.ndarray:
    """Rows without a value (any NaN) take `reduce` of their track's measured rows: a track is one
    person, so a face not measured itself borrows its track's value. Works on (N,) and (N, D)."""
    filled = values.copy()
    missing = np.isnan(values).reshape(len(values), -1).any(axis=1)
    for track in np.unique(tracks[missing]):
        members = tracks == track
        measured = members & ~missing
        if measured.any():
            filled[members & missing] = reduce(values[measured], axis=0)
    return filled
