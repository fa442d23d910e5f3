"""Per-face scores of a face set, one column each, plus the arrays that orders and sheets use.

Geometry scores (pose, size, distance to the mean face, one face in the frame) come from the
face table for all faces at once. Image scores need each crop once: they are computed inside
the face's landmark hull (the background says nothing about the face), on a thread pool
(OpenCV releases the GIL), at most at WORK_PX so that a 1024 px face set scores as fast as a
256 px one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from swaplib.core.images import read_image, shrink
from swaplib.extract.align import hull_mask, invert
from swaplib.extract.pose import head_pose
from swaplib.sort.cpbd import cpbd
from swaplib.tables.faces import landmarks_array, matrices_array

WORK_PX = 256  # image scores are measured on crops scaled down to at most this size
MINIATURE_PX = 80  # the crop is shrunk to this before the grey miniature is taken
TINY_PX = 16  # grey miniature for pixel differences (duplicates, absolute-pixel-difference)
HIST_BINS = 32  # per BGR channel
DARK = 8  # grey level at or below which a pixel counts as black
CORE_POINTS = slice(17, 68)  # brows, eyes, nose, mouth: the jaw line slides with head turns
COARSE_LAPLACIAN = 11  # aperture (px) of DFL's motion-blur measure

IMAGE_SCORES = ["blur", "motion_blur", "brightness", "hue", "black", "cpbd", "coarse_sharpness"]
GEOMETRY_SCORES = ["yaw", "pitch", "roll", "face_px", "distance", "one_face"]
SCORE_COLUMNS = IMAGE_SCORES + GEOMETRY_SCORES + ["identity"]


@dataclass
class Features:
    """Per-face arrays beside the score table, row i = face i of the table."""

    hist: np.ndarray  # (N, 3 * HIST_BINS) float32, each channel's histogram sums to 1
    tiny: np.ndarray  # (N, TINY_PX * TINY_PX) float32 grey in 0..1
    aligned: np.ndarray  # (N, 68, 2) landmarks in the crop, as a share of the crop size
    crops: np.ndarray | None = None  # (N, side, side, 3) uint8 at most WORK_PX, for the orders that need pixels

    def take(self, rows: np.ndarray) -> Features:
        crops = None if self.crops is None else self.crops[rows]
        return Features(self.hist[rows], self.tiny[rows], self.aligned[rows], crops)


def crop_landmarks(faces: pd.DataFrame) -> np.ndarray:
    """(N, 68, 2) landmarks in crop pixels (the frame landmarks through each face's matrix)."""
    points, matrices = landmarks_array(faces).astype(np.float64), matrices_array(faces)
    return np.einsum("npk,njk->npj", points, matrices[:, :, :2]) + matrices[:, None, :, 2]


def geometry_scores(faces: pd.DataFrame, aligned: np.ndarray, faces_per_frame: pd.Series | None = None) -> pd.DataFrame:
    """Pose, size in the frame, distance to the set's mean face and one-face-in-frame, vectorised.

    faces_per_frame: every face detected per frame, also those extraction did not keep (by
    default the faces of the table)."""
    yaw, pitch, roll = head_pose(landmarks_array(faces))
    box_w = (faces["box_x1"] - faces["box_x0"]).to_numpy(dtype=np.float64)
    box_h = (faces["box_y1"] - faces["box_y0"]).to_numpy(dtype=np.float64)
    core = aligned[:, CORE_POINTS]
    # faceswap's "distance": how far a face's aligned features sit from the set's average face.
    distance = np.linalg.norm(core - core.mean(axis=0), axis=2).mean(axis=1) if len(core) else np.zeros(0)
    if faces_per_frame is None:
        faces_per_frame = faces.groupby("frame").size()
    per_frame = faces["frame"].map(faces_per_frame).to_numpy()
    return pd.DataFrame(
        {
            "yaw": yaw,
            "pitch": pitch,
            "roll": roll,
            "face_px": np.sqrt(np.clip(box_w * box_h, 0, None)),
            "distance": distance,
            "one_face": per_frame == 1,
        },
        index=faces.index,
    )


def _outside_frame(matrix: np.ndarray, frame_wh: tuple[int, int], crop_px: int) -> np.ndarray:
    """(TINY_PX, TINY_PX) bool: crop pixels whose source lies beyond the frame edge.

    The crops repeat the edge pixels there; DFL's crops are black there, hence "black" below."""
    centres = (np.arange(TINY_PX) + 0.5) * (crop_px / TINY_PX)
    xs, ys = np.meshgrid(centres, centres)
    to_frame = invert(matrix)
    fx = to_frame[0, 0] * xs + to_frame[0, 1] * ys + to_frame[0, 2]
    fy = to_frame[1, 0] * xs + to_frame[1, 1] * ys + to_frame[1, 2]
    return (fx < 0) | (fy < 0) | (fx >= frame_wh[0]) | (fy >= frame_wh[1])


# Unit vectors of OpenCV's 180 hues, for a circular mean from the hue histogram.
_HUE_COS, _HUE_SIN = np.cos(np.arange(180) * np.pi / 90), np.sin(np.arange(180) * np.pi / 90)


def _laplacian_variance(gray: np.ndarray, mask: np.ndarray, aperture: int = 1) -> float:
    """Variance of the Laplacian inside the mask (masked statistics in OpenCV: no copies of the pixels).
    A wider aperture smooths with binomial weights that add up to 2^(2 * aperture - 4); dividing
    them out keeps the score in the 3 px Laplacian's units (DFL's reads in the 10^11)."""
    gain = 2.0 ** (2 * aperture - 4) if aperture > 1 else 1.0
    laplacian = cv2.Laplacian(gray, cv2.CV_32F, ksize=aperture, scale=1 / gain)
    return float(cv2.meanStdDev(laplacian, mask=mask)[1][0, 0] ** 2)


def _sharpness(gray: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    """Variance of the Laplacian (faceswap's blur) and the gradient direction balance: the normalised
    structure tensor, a point in the unit disc that motion blur moves (it erases the gradients
    along the motion; see score_faces)."""
    blur = _laplacian_variance(gray, mask)
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = (cv2.mean(cv2.multiply(a, b), mask=mask)[0] for a, b in ((gx, gx), (gy, gy), (gx, gy)))
    energy = jxx + jyy + 1e-6
    return blur, (jxx - jyy) / energy, 2 * jxy / energy


def _colour(crop: np.ndarray, mask: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Brightness (mean HSV value), hue (circular mean, degrees) and the BGR histogram of the face."""
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    brightness = cv2.mean(hsv[..., 2], mask=mask)[0]
    hues = cv2.calcHist([hsv], [0], mask, [180], [0, 180]).ravel()
    hue = float(np.degrees(np.arctan2(hues @ _HUE_SIN, hues @ _HUE_COS)) % 360)
    hist = np.concatenate([cv2.calcHist([crop], [c], mask, [HIST_BINS], [0, 256]).ravel() for c in range(3)])
    return brightness, hue, (hist / max(hist[:HIST_BINS].sum(), 1.0)).astype(np.float32)


def _miniature(crop: np.ndarray) -> np.ndarray:
    """The grey miniature (uint8) for pixel differences."""
    grey = cv2.cvtColor(shrink(crop, MINIATURE_PX), cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (TINY_PX, TINY_PX), interpolation=cv2.INTER_AREA)


def _dfl_sharpness(gray: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """DFL's two sharpness measures, inside the hull: CPBD (its blur sort) and the variance of the
    coarse Laplacian (its motion-blur sort: an 11 px aperture sees the broad edges a motion smears)."""
    return cpbd(gray, mask), _laplacian_variance(gray, mask, COARSE_LAPLACIAN)


def _image_scores(path: Path, landmarks: np.ndarray, matrix: np.ndarray, frame_wh: tuple[int, int], crop_px: int,
                  keep_crop: bool):
    """One crop's (blur, balance x, balance y, brightness, hue, black, cpbd, coarse sharpness),
    histogram, miniature, and with keep_crop the crop (at most WORK_PX; else None)."""
    crop = read_image(path)
    if crop.shape[0] > WORK_PX:  # landmarks follow the crop down
        landmarks = landmarks * (WORK_PX / crop.shape[0])
        crop = cv2.resize(crop, (WORK_PX, WORK_PX), interpolation=cv2.INTER_AREA)
    mask = (hull_mask(landmarks, crop.shape[:2]) > 0.5).astype(np.uint8)
    if cv2.countNonZero(mask) < 16:  # degenerate landmarks: score the whole crop
        mask[:] = 1
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    brightness, hue, hist = _colour(crop, mask)
    tiny = _miniature(crop)
    black = float(((tiny <= DARK) | _outside_frame(matrix, frame_wh, crop_px)).mean())
    values = (*_sharpness(gray, mask), brightness, hue, black, *_dfl_sharpness(gray, mask))
    return values, hist, tiny.ravel().astype(np.float32) / 255, crop if keep_crop else None


def score_faces(
    faces: pd.DataFrame, faces_dir: str | Path, *, threads: int = 1, faces_per_frame: pd.Series | None = None,
    keep_crops: bool = False,
) -> tuple[pd.DataFrame, Features]:
    """Scores of every face (identity left NaN: see sort.identity) and the per-face arrays;
    keep_crops: with the crops themselves (memory: N x 196 kB at 256 px), for absdiff."""
    faces_dir = Path(faces_dir)
    in_crop = crop_landmarks(faces)
    sizes = faces["size"].to_numpy(dtype=np.float64)
    aligned = in_crop / sizes[:, None, None] if len(faces) else np.zeros((0, 68, 2))
    jobs = zip(
        [faces_dir / name for name in faces["file"]],
        in_crop,
        matrices_array(faces),
        zip(faces["frame_width"], faces["frame_height"]),
        faces["size"],
    )
    with ThreadPoolExecutor(max(1, threads)) as pool:
        results = list(pool.map(lambda job: _image_scores(*job, keep_crops), jobs))
    crops = _same_size([result[3] for result in results]) if keep_crops else None
    if results:
        values, hists, tinies = (np.array(part) for part in list(zip(*results))[:3])
    else:
        values = np.zeros((0, len(IMAGE_SCORES) + 1))
        hists = np.zeros((0, 3 * HIST_BINS), np.float32)
        tinies = np.zeros((0, TINY_PX * TINY_PX), np.float32)
    # Faces are naturally richer in horizontal edges (eyes, brows, mouth), so a face's gradient
    # balance is measured against the set's median face: the distance is the motion blur score.
    balance = values[:, 1:3]
    motion_blur = np.linalg.norm(balance - np.median(balance, axis=0), axis=1) if len(balance) else np.zeros(0)
    values = np.column_stack([values[:, :1], motion_blur, values[:, 3:]])
    scores = pd.DataFrame(values, columns=IMAGE_SCORES, index=faces.index)
    scores = pd.concat([scores, geometry_scores(faces, aligned, faces_per_frame)], axis=1)
    scores["identity"] = np.nan
    return scores, Features(hists.astype(np.float32), tinies.astype(np.float32), aligned, crops)


def _same_size(crops: list[np.ndarray]) -> np.ndarray:
    """The crops as one array, all at the smallest one's size (a face set's crops normally share one)."""
    if not crops:
        return np.zeros((0, 1, 1, 3), np.uint8)
    side = min(crop.shape[0] for crop in crops)
    return np.stack([crop if crop.shape[0] == side else cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
                     for crop in crops])
