"""What every detection backend shares: the Detection record and the search policy.

A backend is two parts: a box finder (where are the faces, how sure) and a landmarker (68 iBUG
points inside a box). `Detector` runs them with the settings that do not depend on the backend:
shrinking huge frames for the search, upsampling for small faces, a second search at twice the
scale when the first finds nothing, a score threshold and a minimum face size.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from swaplib.core.errors import SwaplibError

MODELS_PACKAGE = "face-recognition-models"


@dataclass
class Detection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
    score: float  # the backend's confidence (dlib HOG score, MMOD confidence, S3FD probability)
    landmarks: np.ndarray  # (68, 2) float32, frame coordinates, iBUG 68-point order

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, 0.0) * max(y1 - y0, 0.0)


class BoxFinder(Protocol):
    name: str
    default_min_score: float

    def find(self, rgb: np.ndarray, upsample: int, min_score: float) -> tuple[np.ndarray, np.ndarray]:
        """(boxes (N, 4) x0 y0 x1 y1 in rgb's pixels, scores (N,)) of the faces at or above min_score.
        upsample: search the image doubled that many times (finds smaller faces)."""
        ...


class Landmarker(Protocol):
    name: str

    def fit(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 68, 2) float32 landmarks of the faces in boxes (N, 4), frame coordinates."""
        ...


def dlib_model_path(name: str) -> Path:
    """Path of a dlib model file shipped by the face-recognition-models package."""
    # Located without importing the package: its __init__ needs pkg_resources, gone from new setuptools.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SwaplibError(f"{name}: dlib model file not found: the package {MODELS_PACKAGE} is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise SwaplibError(f"{path}: dlib model file missing from the package {MODELS_PACKAGE} (reinstall it)")
    return path


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """A contiguous RGB uint8 copy of a BGR, BGRA or grey frame (what dlib and torch models want)."""
    if image.dtype != np.uint8:
        raise SwaplibError(f"detector input must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    raise SwaplibError(f"detector input must be an image (h, w[, 3|4]), got shape {image.shape}")


def sort_by_area(detections: list[Detection]) -> list[Detection]:
    """Largest face first: index 0 is the main face of a frame everywhere downstream."""
    return sorted(detections, key=lambda d: d.area, reverse=True)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of x0 y0 x1 y1 boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


class Detector:
    """A box finder and a landmarker run under one search policy (see the module's docstring)."""

    def __init__(
        self,
        finder: BoxFinder,
        landmarker: Landmarker,
        *,
        upsample: int = 0,
        min_score: float | None = None,
        min_size: float = 0,
        multiscale: bool = True,
        max_side: int = 1024,
        max_faces: int = 32,
    ):
        """upsample: times the search image is doubled (each finds faces half as small, ~4x slower);
        min_score: drop faces the finder is less sure of (None: the backend's default);
        min_size: drop faces whose box side is below this many frame pixels;
        multiscale: search a frame again at twice the scale when the first search finds nothing;
        max_side: frames with a longer side are shrunk to it for the search (landmarks use the
        full frame); max_faces: at most this many boxes per frame, best score first (a guard
        against a broken detector flooding the landmarker)."""
        if not 0 <= upsample <= 4:
            raise SwaplibError(f"{finder.name} detector: upsample must be 0..4, got {upsample}")
        if min_size < 0 or max_side < 0 or max_faces < 1:
            raise SwaplibError(f"{finder.name} detector: min_size and max_side must be >= 0, max_faces >= 1")
        self.finder, self.landmarker = finder, landmarker
        self.upsample = int(upsample)
        self.min_score = finder.default_min_score if min_score is None else float(min_score)
        self.min_size = float(min_size)
        self.multiscale = bool(multiscale)
        self.max_side = int(max_side)
        self.max_faces = int(max_faces)

    @property
    def name(self) -> str:
        return f"{self.finder.name}+{self.landmarker.name}"

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """Faces of a BGR (or grey) frame, largest first, with 68 landmarks in frame coordinates."""
        rgb = to_rgb_uint8(image_bgr)
        boxes, scores = self.find_boxes(rgb)
        if not len(boxes):
            return []
        landmarks = self.landmarker.fit(rgb, boxes)
        detections = [
            Detection(box=tuple(float(v) for v in box), score=float(score), landmarks=points.astype(np.float32))
            for box, score, points in zip(boxes, scores, landmarks)
        ]
        return sort_by_area(detections)

    def find_boxes(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(boxes (N, 4) in frame pixels, scores (N,)) after the search policy and the filters."""
        scale = self._search_scale(rgb.shape)
        small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        boxes, scores = self.finder.find(small, self.upsample, self.min_score)
        if not len(boxes) and self.multiscale:
            boxes, scores = self.finder.find(small, self.upsample + 1, self.min_score)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4) / scale
        scores = np.asarray(scores, np.float64).reshape(-1)
        sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = (scores >= self.min_score) & (sides >= max(self.min_size, 1.0))
        boxes, scores = boxes[keep], scores[keep]
        best = np.argsort(-scores, kind="stable")[: self.max_faces]
        return boxes[best], scores[best]

    def _search_scale(self, shape: tuple[int, ...]) -> float:
        long_side = max(shape[:2])
        return self.max_side / long_side if 0 < self.max_side < long_side else 1.0
