"""Head pose (yaw, pitch, roll in degrees) from 68 iBUG landmarks, for many faces at once.

A generic 3D face (the alignment template of `align` plus a depth per point) is fitted to each
face's 2D landmarks under weak perspective (rotation, uniform scale, shift; faces are small
against their distance to the camera). The fit is linear, so all faces are solved in one matrix
product and one batched SVD instead of a solvePnP call per face.

Signs, in image terms: yaw > 0 when the face turns towards the image's right side, pitch > 0
when it tilts up, roll > 0 when it leans clockwise on screen. The depths are rough human
proportions, so angles are good to a few degrees: enough to bin, sort and filter faces.
"""

from __future__ import annotations

import numpy as np

from swaplib.core.errors import SwaplibError
from swaplib.extract.align import mean_face

# Depth of each landmark behind the nose tip, in the template's units (brows-to-lips = 1; the
# outer eye corners are 0.76 apart). Typical adult proportions: the jaw points on the cheek
# outline sit far back, eyes and mouth corners about a quarter of the eye span behind the tip.
_DEPTH = np.array(
    [
        # 0-16 jaw outline, left ear to chin to right ear
        0.64, 0.62, 0.58, 0.52, 0.44, 0.35, 0.27, 0.21, 0.18, 0.21, 0.27, 0.35, 0.44, 0.52, 0.58, 0.62, 0.64,
        # 17-26 brows, outer to inner, inner to outer
        0.42, 0.33, 0.27, 0.23, 0.21, 0.21, 0.23, 0.27, 0.33, 0.42,
        # 27-30 nose bridge to tip; 31-35 nostrils
        0.19, 0.13, 0.07, 0.00, 0.17, 0.13, 0.12, 0.13, 0.17,
        # 36-41 left eye; 42-47 right eye
        0.25, 0.21, 0.21, 0.20, 0.21, 0.21, 0.20, 0.21, 0.21, 0.25, 0.21, 0.21,
        # 48-59 outer lips; 60-67 inner lips
        0.23, 0.16, 0.12, 0.11, 0.12, 0.16, 0.23, 0.17, 0.14, 0.13, 0.14, 0.17,
        0.21, 0.14, 0.13, 0.14, 0.21, 0.15, 0.14, 0.15,
    ]
)
MODEL_3D = np.column_stack([mean_face(1, "half"), _DEPTH])  # x right, y down, z away from the camera
_CENTRED = MODEL_3D - MODEL_3D.mean(axis=0)
_FIT = _CENTRED @ np.linalg.inv(_CENTRED.T @ _CENTRED)  # least-squares projection onto the model


def head_pose(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(yaw, pitch, roll) in degrees, each of shape (N,), for (N, 68, 2) landmarks in any image frame."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise SwaplibError(f"head pose needs (N, 68, 2) landmarks, got shape {points.shape}")
    if len(points) == 0:
        empty = np.zeros(0)
        return empty, empty.copy(), empty.copy()
    centred = points - points.mean(axis=1, keepdims=True)
    projection = np.einsum("npi,pj->nij", centred, _FIT)  # (N, 2, 3): scale x first two rotation rows
    u, _, vt = np.linalg.svd(projection, full_matrices=False)
    rows = u @ vt  # the nearest pair of orthonormal rows: the scale and any shear taken out
    rotation = np.concatenate([rows, np.cross(rows[:, 0], rows[:, 1])[:, None]], axis=1)
    facing = -rotation[:, :, 2]  # where the face looks (model -z) in camera axes
    yaw = np.degrees(np.arctan2(facing[:, 0], -facing[:, 2]))
    pitch = np.degrees(np.arctan2(-facing[:, 1], np.hypot(facing[:, 0], facing[:, 2])))
    roll = np.degrees(np.arctan2(rotation[:, 1, 0], rotation[:, 1, 1]))
    return yaw, pitch, roll


def rotate_model(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(68, 2) image points of the 3D model in a known pose (degrees; for tests and checks).

    The face is leaned (roll) about its own nose axis, tilted (pitch), then turned (yaw) about
    the vertical, the order in which head_pose reads the angles back."""
    y, p, r = np.radians([yaw, pitch, roll])
    turn = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    lean = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return (_CENTRED @ (turn @ tilt @ lean).T)[:, :2]
