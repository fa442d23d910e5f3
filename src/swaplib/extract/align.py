"""Face alignment: the frame -> crop similarity transform that puts a face onto a fixed template.

Every face crop of a given face type and size shows the face at the same place, scale and
rotation (eyes level), which is what training and merging rely on. The template is a mean
68-point face in a "unit" frame; a face type is a square window on that frame (bigger window =
more context around the face).
"""

from __future__ import annotations

import cv2
import numpy as np

from swaplib.core.errors import SwaplibError

FACE_TYPES = ("half", "mid_full", "full", "whole_face", "head")

# Mean iBUG 68-point face. Derived once from this project's test media: the generalised Procrustes
# mean of the dlib landmarks of 104 faces (the photos and every 10th frame of the five
# single-person clips), rotated to level eyes, averaged with its mirror image (so it is exactly
# left-right symmetric), then scaled so that points 17-67 (brows, eyes, nose, mouth) span the
# unit square [0, 1]^2. "Left"/"right" below are image sides.
_UNIT_FACE = np.array(
    [
        # 0-16 jaw, left ear to chin to right ear
        (-0.1164, 0.2469), (-0.1102, 0.4188), (-0.0891, 0.5893), (-0.0543, 0.7564),
        (0.0040, 0.9136), (0.0952, 1.0552), (0.2114, 1.1745), (0.3467, 1.2677),
        (0.5000, 1.2964), (0.6533, 1.2677), (0.7886, 1.1745), (0.9048, 1.0552),
        (0.9960, 0.9136), (1.0543, 0.7564), (1.0891, 0.5893), (1.1102, 0.4188),
        (1.1164, 0.2469),
        # 17-21 left brow
        (0.0000, 0.1018), (0.0756, 0.0248), (0.1846, 0.0000), (0.2984, 0.0125),
        (0.4030, 0.0570),
        # 22-26 right brow
        (0.5970, 0.0570), (0.7016, 0.0125), (0.8154, 0.0000), (0.9244, 0.0248),
        (1.0000, 0.1018),
        # 27-30 nose bridge
        (0.5000, 0.2075), (0.5000, 0.3184), (0.5000, 0.4277), (0.5000, 0.5406),
        # 31-35 nostrils
        (0.3759, 0.6357), (0.4362, 0.6553), (0.5000, 0.6714), (0.5638, 0.6553),
        (0.6241, 0.6357),
        # 36-41 left eye
        (0.1200, 0.2316), (0.1874, 0.1965), (0.2644, 0.1978), (0.3355, 0.2472),
        (0.2613, 0.2595), (0.1835, 0.2593),
        # 42-47 right eye
        (0.6645, 0.2472), (0.7356, 0.1978), (0.8126, 0.1965), (0.8800, 0.2316),
        (0.8165, 0.2593), (0.7387, 0.2595),
        # 48-59 outer lips
        (0.2730, 0.8620), (0.3552, 0.8071), (0.4402, 0.7755), (0.5000, 0.7918),
        (0.5598, 0.7755), (0.6448, 0.8071), (0.7270, 0.8620), (0.6484, 0.9496),
        (0.5666, 0.9916), (0.5000, 1.0000), (0.4334, 0.9916), (0.3516, 0.9496),
        # 60-67 inner lips
        (0.3103, 0.8628), (0.4388, 0.8422), (0.5000, 0.8486), (0.5612, 0.8422),
        (0.6897, 0.8628), (0.5625, 0.8951), (0.5000, 0.9032), (0.4375, 0.8951),
    ],
    dtype=np.float64,
)

# Crop window of each face type in unit-face coordinates: (side, centre x, centre y).
# DeepFaceLab's coverage: in DFL's own unit frame (its mean face from facelib/LandmarksProcessor.py)
# a face type's square has side 1 + 2*sqrt(2)*padding (padding 0, 0.0675, 0.2109375, 0.40, 0.70 for
# half, mid_full, full, whole_face, head), whole_face is moved up by 7% of that unit and head by
# 50%. Fitting our template onto DFL's mean face (a similarity, scale 0.9385) carries those squares
# into our unit frame, as below. Two deliberate differences: every window is centred on the
# face's midline (DFL's is 1% of a unit to the right, because its mean face is not centred), and
# head sits 0.0135 lower, so that it holds whole_face's chin margin too (in DFL it cuts 0.2% off).
# As in DFL, head also moves sideways with the face's yaw (face_matrix, _head_shift); these are the
# frontal positions.
_WINDOWS: dict[str, tuple[float, float, float]] = {
    "half": (1.0655, 0.5, 0.5293),
    "mid_full": (1.2690, 0.5, 0.5293),
    "full": (1.7013, 0.5, 0.5293),
    "whole_face": (2.2710, 0.5, 0.4547),
    "head": (3.1752, 0.5, 0.0100),
}

# DFL states its paddings and shifts in the side of its half-face window, which is our "half" side.
_DFL_UNIT = _WINDOWS["half"][0]
# The head window's sideways shift for a turned face (see _head_shift) stops where head would no
# longer hold whole_face: their sides differ by twice this.
HEAD_SHIFT_LIMIT = (_WINDOWS["head"][0] - _WINDOWS["whole_face"][0]) / 2

# The unit face's distance between the eye centres: what shifts in unit-face units are, in eye distances.
UNIT_EYE_DISTANCE = float(np.linalg.norm(_UNIT_FACE[42:48].mean(axis=0) - _UNIT_FACE[36:42].mean(axis=0)))

# Points the transform is fitted on: brows, eyes, nose and the mouth corners. The jaw line slides
# with head turns and the lips with speech; leaving them out keeps crops steady across frames.
ALIGN_POINTS = np.r_[17:48, 48, 54]


def check_face_type(face_type: str) -> None:
    if face_type not in _WINDOWS:
        raise SwaplibError(f"unknown face type {face_type!r}; choose one of: {', '.join(FACE_TYPES)}")


def _unit_to_crop(size: int, face_type: str, shift: float = 0.0) -> np.ndarray:
    """(2, 3) unit frame -> size x size crop of that face type, its window moved `shift` units right."""
    check_face_type(face_type)
    side, cx, cy = _WINDOWS[face_type]
    scale = size / side
    return np.array([[scale, 0.0, -scale * (cx + shift - side / 2)], [0.0, scale, -scale * (cy - side / 2)]])


def mean_face(size: int, face_type: str = "full") -> np.ndarray:
    """(68, 2) template landmark positions in a size x size crop of that face type."""
    return transform_points(_UNIT_FACE, _unit_to_crop(size, face_type))


def _as_points(points: np.ndarray, what: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise SwaplibError(f"{what} must be an (N, 2) array, got shape {points.shape}")
    return points


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 3) least-squares similarity (rotation, uniform scale, shift) taking src onto dst (Umeyama)."""
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = src_c.var(axis=0).sum()
    if src_var == 0:
        raise SwaplibError("cannot align: all landmark points coincide")
    u, sigma, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    # A reflection would mirror the face; force a proper rotation instead.
    flip = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = u @ flip @ vt
    scale = np.trace(np.diag(sigma) @ flip) / src_var
    linear = scale * rotation
    return np.hstack([linear, (dst_mean - linear @ src_mean)[:, None]])


def _outline_offset(unit_points: np.ndarray) -> float:
    """How far (unit-face units, + = image right) the middle of the face outline sits from the nose
    bridge, for 68 landmarks in the unit frame. 0 for a frontal face; a face turned towards one
    side shows less cheek on that side, so its outline's middle falls on the other side of the
    nose: about -0.018 per degree of yaw (as in swaplib.pose: + = turned towards the image's right).

    Measured on the upper jaw (points 0-2 and 14-16, near the ears, which do not move with the
    mouth) against the bridge (27-29): DFL's estimate of yaw for its head crops.
    """
    jaw_middle = (unit_points[0:3, 0] + unit_points[16:13:-1, 0]) / 2
    return float(np.mean(jaw_middle - unit_points[27:30, 0]))


def _head_shift(unit_points: np.ndarray) -> float:
    """Sideways move (unit-face units) of the head window for landmarks in the unit frame.

    The head's bulk sits behind the face, so a turned face's head reaches out on the side of its
    outline, away from where the nose points: the window follows the outline's offset. Damped
    near zero (as DFL does, by |tanh|), so landmark noise on a frontal face does not wobble the
    crop, and bounded, so extreme or broken landmarks cannot push whole_face out of head.
    """
    offset = _outline_offset(unit_points)
    damped = offset * abs(np.tanh(4 * offset / _DFL_UNIT))  # DFL: yaw*|tanh(2 yaw)| in its unit, halved
    return float(np.clip(damped, -HEAD_SHIFT_LIMIT, HEAD_SHIFT_LIMIT))


def face_matrix(landmarks: np.ndarray, size: int, face_type: str = "full", shift: float | None = None) -> np.ndarray:
    """(2, 3) float64 frame -> crop similarity that lays the landmarks onto the template.

    For `head` the window also moves sideways with the face's yaw: by `shift` (unit-face units,
    e.g. head_shift smoothed over time), or by this face's own head_shift when None."""
    to_unit = _to_unit(landmarks)
    if face_type != "head":
        shift = 0.0
    elif shift is None:
        shift = _head_shift(transform_points(landmarks, to_unit))
    return _compose(_unit_to_crop(size, face_type, shift), to_unit)


def head_shift(landmarks: np.ndarray) -> float:
    """The head window's sideways move (unit-face units) for 68 landmarks in frame coordinates."""
    return _head_shift(transform_points(landmarks, _to_unit(landmarks)))


def _to_unit(landmarks: np.ndarray) -> np.ndarray:
    """(2, 3) frame -> unit-face similarity fitted on the steady points."""
    landmarks = _as_points(landmarks, "landmarks")
    if landmarks.shape[0] != 68:
        raise SwaplibError(f"landmarks must be 68 iBUG points, got {landmarks.shape[0]}")
    return similarity_fit(landmarks[ALIGN_POINTS], _UNIT_FACE[ALIGN_POINTS])


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """(2, 3) affine applying inner, then outer."""
    return np.hstack([outer[:, :2] @ inner[:, :2], (outer[:, :2] @ inner[:, 2] + outer[:, 2])[:, None]])


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to (N, 2) points."""
    points = _as_points(points, "points")
    matrix = np.asarray(matrix, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine, as (2, 3)."""
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def _interpolation(image: np.ndarray, sharp: int) -> int:
    # uint8 results saturate, so a sharp kernel is safe; float images and masks get linear
    # interpolation, which never overshoots (a 0..1 mask stays 0..1).
    return sharp if image.dtype == np.uint8 else cv2.INTER_LINEAR


def warp_to_face(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The size x size aligned crop of a frame; pixels beyond the frame edge repeat the edge."""
    return cv2.warpAffine(
        frame,
        np.asarray(matrix, dtype=np.float64),
        (size, size),
        flags=_interpolation(frame, cv2.INTER_LANCZOS4),
        borderMode=cv2.BORDER_REPLICATE,
    )


def warp_to_frame(face: np.ndarray, matrix: np.ndarray, frame_shape: tuple[int, ...]) -> np.ndarray:
    """A crop (image or float mask) put back into frame coordinates (h, w); 0 outside the crop."""
    height, width = frame_shape[:2]
    return cv2.warpAffine(
        face,
        np.asarray(matrix, dtype=np.float64),
        (width, height),
        flags=_interpolation(face, cv2.INTER_CUBIC) | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def _lift_brows(landmarks: np.ndarray, forehead: float) -> np.ndarray:
    """Brow points moved up the face by `forehead` x (brow-to-chin length), for the forehead."""
    brows = landmarks[17:27]
    up = brows.mean(axis=0) - landmarks[8]
    return brows + forehead * up


def hull_mask(landmarks: np.ndarray, shape: tuple[int, int], forehead: float = 0.15) -> np.ndarray:
    """float32 (h, w) mask, 1 inside the convex hull of the 68 points plus a strip of forehead."""
    landmarks = _as_points(landmarks, "landmarks")
    points = np.vstack([landmarks, _lift_brows(landmarks, forehead)])
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    mask = np.zeros(tuple(shape[:2]), dtype=np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0)
    return mask
