"""Manual faces: the faces a person placed by hand on a video's frames, which extraction merges in.

One JSON file per video (`{extract.manual_faces}/{video}.json`, written by `swaplib review`):

    {"faces": [
        {"frame": 12, "box": [x0, y0, x1, y1]},             the landmarker fits inside this box
        {"frame": 40, "landmarks": [[x, y], ... 68 points]}  the points as placed (iBUG 68 order)
    ]}

in frame pixels. On its frame a manual face replaces the found face its box overlaps (intersection
over union at least REPLACES_IOU), or is added; its detector score is NaN (no detector placed it),
and smoothing along its track leaves its points as placed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.extract.detect.base import Detection, box_iou

REPLACES_IOU = 0.3  # a manual box over at least this much of a found face's box replaces that face


@dataclass(frozen=True)
class ManualFace:
    frame: int
    box: tuple[float, float, float, float] | None  # the landmarker fits inside it (None: landmarks given)
    landmarks: np.ndarray | None  # (68, 2) as placed, or None

    def as_json(self) -> dict:
        entry: dict = {"frame": self.frame}
        if self.box is not None:
            entry["box"] = [round(float(v), 2) for v in self.box]
        if self.landmarks is not None:
            entry["landmarks"] = np.round(self.landmarks.astype(float), 2).tolist()
        return entry


def read_manual_faces(path: str | os.PathLike | None) -> dict[int, list[ManualFace]]:
    """A manual faces file, by frame (none: {}); what is malformed is refused naming the file and the
    face (check_in_frame checks a face against its frame)."""
    if not path:
        return {}
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SwaplibError(f"{path}: manual faces file not found") from None
    except json.JSONDecodeError as err:
        raise SwaplibError(f"{path}: line {err.lineno}: not JSON ({err.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("faces"), list):
        raise SwaplibError(f"{path}: a manual faces file is {{\"faces\": [...]}}")
    faces: dict[int, list[ManualFace]] = {}
    for number, entry in enumerate(data["faces"], 1):
        face = face_from_json(entry, f"{path}: face {number}")
        faces.setdefault(face.frame, []).append(face)
    return faces


def face_from_json(entry, where: str) -> ManualFace:
    """One face of the file, checked (errors start with `where`)."""
    if not isinstance(entry, dict):
        raise SwaplibError(f"{where}: each face is an object with frame and box or landmarks, got {entry!r}")
    unknown = sorted(set(entry) - {"frame", "box", "landmarks"})
    if unknown:
        raise SwaplibError(f"{where}: unknown keys {', '.join(unknown)} (frame, box, landmarks)")
    frame = entry.get("frame")
    if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
        raise SwaplibError(f"{where}: frame must be a frame number >= 0, got {frame!r}")
    box = landmarks = None
    if entry.get("box") is not None:
        box = _numbers(entry["box"], (4,), f"{where}: box")
        if not (box[2] > box[0] and box[3] > box[1]):
            raise SwaplibError(f"{where}: box must be [x0, y0, x1, y1] with x1 > x0 and y1 > y0, got {box.tolist()}")
    if entry.get("landmarks") is not None:
        landmarks = _numbers(entry["landmarks"], (68, 2), f"{where}: landmarks")
    if box is None and landmarks is None:
        raise SwaplibError(f"{where}: give a box (the landmarker fits inside it) or 68 landmarks")
    return ManualFace(frame, None if box is None else tuple(float(v) for v in box), landmarks)


def _numbers(value, shape: tuple[int, ...], where: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or array.shape != shape or not np.isfinite(array).all():
        what = "[x0, y0, x1, y1]" if shape == (4,) else "68 [x, y] points"
        raise SwaplibError(f"{where} must be {what} in frame pixels, got {str(value)[:80]}")
    return array


def check_in_frame(face: ManualFace, shape: tuple[int, int], where: str) -> None:
    """Refuses a face reaching outside its frame of (h, w)."""
    height, width = shape
    points = np.asarray(face.box, np.float64).reshape(-1, 2) if face.box is not None else face.landmarks
    if face.landmarks is not None:
        points = np.vstack([points, face.landmarks])
    if (points < 0).any() or (points[:, 0] > width).any() or (points[:, 1] > height).any():
        raise SwaplibError(f"{where}: outside frame {face.frame} ({width}x{height} px)")


def merge_faces(found: list[Detection], manual: list[ManualFace], fitted: list[Detection]) -> list[Detection]:
    """A frame's faces with its manual ones merged in: `fitted` are the manual faces as Detections
    (in `manual`'s order); each replaces the found faces its box overlaps, or is added."""
    if not manual:
        return found
    boxes = np.array([d.box for d in fitted], np.float64).reshape(-1, 4)
    kept = [d for d in found if not len(boxes) or box_iou(np.array([d.box]), boxes).max() < REPLACES_IOU]
    return sorted(kept + fitted, key=lambda d: d.area, reverse=True)


def box_of(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """The box around placed landmarks (the face's extent, as a manual face's box)."""
    (x0, y0), (x1, y1) = landmarks.min(axis=0), landmarks.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def write_manual_faces(path: str | os.PathLike, faces: list[ManualFace]) -> Path:
    """The file of these faces, by frame, written whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [face.as_json() for face in sorted(faces, key=lambda f: f.frame)]
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps({"faces": entries}, indent=1) + "\n")
    return path
