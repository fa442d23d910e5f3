"""Orders of a face set (`sort.order`): DeepFaceLab's sort methods, faceswap's identity and
distance, and yaw bins for review.

Each order takes the table of the faces to order (face columns + scores) and their Features,
and returns (positions, score): a permutation of range(len(table)) and, per position, the value
that placed the face there (shown under its thumbnail on the contact sheet). Ties keep the
table's frame order. Pairwise methods are linear or one vector product per face, never an
N x N matrix, so 10,000 faces order in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from swaplib.core.errors import SwaplibError
from swaplib.sort.scores import Features

BIN_DEGREES = 10.0  # width of the yaw and pitch bins of best and yaw-bins

Sorter = Callable[[pd.DataFrame, Features], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Order:
    sort: Sorter
    about: str  # what it puts first, for the README table and the sheet header


def _by(column: str, descending: bool) -> Sorter:
    def sort(table: pd.DataFrame, features: Features) -> tuple[np.ndarray, np.ndarray]:
        values = table[column].to_numpy(dtype=np.float64)
        positions = np.argsort(-values if descending else values, kind="stable")
        return positions, values[positions]

    return sort


def _round_robin(groups: list[np.ndarray]) -> np.ndarray:
    """One from each group in turn: any prefix holds the groups as evenly as their sizes allow."""
    depth = max((len(g) for g in groups), default=0)
    return np.array([g[level] for level in range(depth) for g in groups if level < len(g)], dtype=np.int64)


def _bins(degrees: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(degrees, dtype=np.float64) / BIN_DEGREES).astype(np.int64)


def _centre_first(bins: np.ndarray) -> list[int]:
    """Distinct bins, the most frontal first (the bin centres' distance from 0 degrees)."""
    return sorted(set(bins.tolist()), key=lambda b: (abs(b + 0.5), b))


def spread(table: pd.DataFrame, key: str, *, pitch: bool = True) -> np.ndarray:
    """DFL's "best" order: round robin over yaw bins (frontal first), inside each yaw bin round
    robin over pitch bins, and within a bin the highest `key` first. The first N of this order
    are N faces spread over the poses as evenly as the data allows."""
    by_key = np.argsort(-table[key].to_numpy(dtype=np.float64), kind="stable")
    yaw_bins, pitch_bins = _bins(table["yaw"])[by_key], _bins(table["pitch"])[by_key]
    per_yaw = []
    for yaw_bin in _centre_first(yaw_bins):
        members = by_key[yaw_bins == yaw_bin]
        if pitch:
            inner_bins = pitch_bins[yaw_bins == yaw_bin]
            members = _round_robin([members[inner_bins == b] for b in _centre_first(inner_bins)])
        per_yaw.append(members)
    return _round_robin(per_yaw)


def _spread(key: str, pitch: bool) -> Sorter:
    def sort(table: pd.DataFrame, features: Features) -> tuple[np.ndarray, np.ndarray]:
        positions = spread(table, key, pitch=pitch)
        return positions, table[key].to_numpy(dtype=np.float64)[positions]

    return sort


def _yaw_bins(table: pd.DataFrame, features: Features) -> tuple[np.ndarray, np.ndarray]:
    """Left to right in BIN_DEGREES bins, sharpest first inside a bin: a pose-by-pose review."""
    yaw = table["yaw"].to_numpy(dtype=np.float64)
    positions = np.lexsort((-table["blur"].to_numpy(dtype=np.float64), _bins(yaw)))
    return positions, yaw[positions]


def _hist_similarity(table: pd.DataFrame, features: Features) -> tuple[np.ndarray, np.ndarray]:
    """DFL's hist: from the sharpest face, each next face is the one whose colour histogram is
    closest to the previous one, so look-alike faces (and look-alike wrong faces) sit together."""
    n = len(table)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    roots = np.sqrt(features.hist).astype(np.float32) / np.sqrt(3)  # Bhattacharyya: dot products of roots
    current = int(np.argmax(table["blur"].to_numpy()))
    positions, steps = [current], [0.0]
    rest = np.delete(np.arange(n), current)  # faces not placed yet, and their rows
    block, used = roots[rest], np.zeros(n - 1, bool)
    for _ in range(n - 1):
        similarity = np.einsum("ij,j->i", block, roots[current])  # not BLAS: its threads stall on a busy CPU
        similarity[used] = -np.inf
        pick = int(np.argmax(similarity))
        current, used[pick] = int(rest[pick]), True
        positions.append(current)
        steps.append(1.0 - float(similarity[pick]))
        if used.sum() * 2 > len(used):  # drop the placed rows now and then: half the work overall
            rest, block, used = rest[~used], block[~used], np.zeros((~used).sum(), bool)
    return np.array(positions, np.int64), np.array(steps)


def _hist_dissimilarity(table: pd.DataFrame, features: Features) -> tuple[np.ndarray, np.ndarray]:
    """DFL's hist-dissim: mean histogram distance to all other faces, most different first."""
    roots = np.sqrt(features.hist)
    # 1 - Bhattacharyya coefficient is linear in each face, so the mean over all others is one product.
    distance = 1.0 - roots @ roots.mean(axis=0) / 3 if len(roots) else np.zeros(0)
    positions = np.argsort(-distance, kind="stable")
    return positions, distance[positions]


def mean_abs_difference(values: np.ndarray) -> np.ndarray:
    """(N,) mean over the other rows and the columns of |row_i - row_j|, exactly, in O(N log N)
    per column: in sorted order, a value's differences to all others come from two prefix sums."""
    n, d = values.shape
    if n < 2:
        return np.zeros(n)
    order = np.argsort(values, axis=0, kind="stable")
    ranked = np.take_along_axis(values, order, axis=0).astype(np.float64)
    below = np.cumsum(ranked, axis=0) - ranked  # sum of the values ranked before each
    total = ranked.sum(axis=0)
    k = np.arange(n)[:, None]
    sums = ranked * k - below + (total - below - ranked) - ranked * (n - 1 - k)
    per_face = np.zeros((n, d))
    np.put_along_axis(per_face, order, sums, axis=0)
    return per_face.sum(axis=1) / ((n - 1) * d)


def _absolute_pixel_difference(table: pd.DataFrame, features: Features) -> tuple[np.ndarray, np.ndarray]:
    """DFL's absdiff (its dissimilar variant): mean absolute pixel difference to all other faces
    on small grey copies, most different first: odd crops and other people lead the review."""
    difference = mean_abs_difference(features.tiny)
    positions = np.argsort(-difference, kind="stable")
    return positions, difference[positions]


def _one_face(table: pd.DataFrame, features: Features) -> tuple[np.ndarray, np.ndarray]:
    """DFL's one-face: faces alone in their frame first (no doubt whose they are), then frame order."""
    alone = table["one_face"].to_numpy(dtype=np.float64)
    positions = np.argsort(-alone, kind="stable")
    return positions, alone[positions]


def _identity(table: pd.DataFrame, features: Features) -> tuple[np.ndarray, np.ndarray]:
    """faceswap's face similarity, anchored: closest to the reference (or median) person first."""
    distance = table["identity"].to_numpy(dtype=np.float64)
    if len(distance) and np.isnan(distance).all():
        raise SwaplibError("sort order 'identity' needs identity embeddings, and sort.identity is 'none'")
    positions = np.argsort(np.nan_to_num(distance, nan=np.inf), kind="stable")
    return positions, distance[positions]


ORDERS: dict[str, Order] = {
    "blur": Order(_by("blur", True), "sharpest first (variance of the Laplacian)"),
    "motion-blur": Order(_by("motion_blur", False), "least motion blur first"),
    "face-yaw": Order(_by("yaw", False), "yaw, turned to the image's left first"),
    "face-pitch": Order(_by("pitch", False), "pitch, looking down first"),
    "face-size": Order(_by("face_px", True), "largest in the frame first"),
    "hist-similarity": Order(_hist_similarity, "look-alike colour histograms next to each other"),
    "hist-dissimilarity": Order(_hist_dissimilarity, "most unusual colour histogram first"),
    "brightness": Order(_by("brightness", True), "brightest first"),
    "hue": Order(_by("hue", True), "hue, from 360 down to 0 degrees"),
    "black": Order(_by("black", False), "fewest black or beyond-the-frame pixels first"),
    "original-filename": Order(_by("frame", False), "frame order"),
    "one-face": Order(_one_face, "faces alone in their frame first"),
    "absolute-pixel-difference": Order(_absolute_pixel_difference, "most different pixels first"),
    "best": Order(_spread("blur", pitch=True), "spread over yaw and pitch bins, sharpest first in a bin"),
    "best-faster": Order(_spread("face_px", pitch=False), "spread over yaw bins, largest first in a bin"),
    "identity": Order(_identity, "closest to the person (reference faces, or the set's median) first"),
    "distance": Order(_by("distance", False), "closest to the set's average face first"),
    "yaw-bins": Order(_yaw_bins, f"{BIN_DEGREES:g} degree yaw bins left to right, sharpest first in a bin"),
}
