"""Orders of a face set (`sort.order`): DeepFaceLab's sort methods under DFL's names, faceswap's
under its, and ours (the default `best` among them) under names of their own; each Order says
whose algorithm it runs (docs/curation.md has the table).

Each order takes the table of the faces to order (face columns + scores) and their Features,
and returns (positions, score): a permutation of range(len(table)) and, per position, the value
that placed the face there (shown under its thumbnail on the contact sheet). Ties keep the
table's frame order. An order may also choose (DFL's final: its first sort.max_faces are the
faces kept) or leave faces out (DFL's oneface). Pairwise methods are linear or one vector
product per face, so 10,000 faces order in seconds; DFL's absdiff alone compares every pair of
crops (absdiff.py says its cost).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from swaplib.core.errors import SwaplibError
from swaplib.sort.absdiff import chain, pairwise_difference
from swaplib.sort.binning import centre_first, round_robin
from swaplib.sort.final import final_order
from swaplib.sort.scores import Features

BIN_DEGREES = 10.0  # width of the yaw and pitch bins of best and yaw-bins

Sorter = Callable[[pd.DataFrame, Features], tuple[np.ndarray, np.ndarray]]
# A choosing order: every face, the `count` it keeps first (in training order), and their scores.
Chooser = Callable[[pd.DataFrame, Features, int], tuple[np.ndarray, np.ndarray]]
# Whose algorithm an order runs: DFL's or faceswap's as they run it, after DFL's (its idea, measured
# with our scores: pose from our landmarks, colours inside the hull), after faceswap's, or ours.
DFL, AFTER_DFL, FACESWAP, AFTER_FACESWAP, OURS = "DFL's", "after DFL's", "faceswap's", "after faceswap's", "ours"


@dataclass(frozen=True)
class LeaveOut:
    """Faces an order leaves out before the others are ordered, and the reason it records."""

    reason: str
    faces: Callable[[pd.DataFrame], np.ndarray]  # the scores table -> bool per face


@dataclass(frozen=True)
class Order:
    sort: Sorter
    about: str  # what it puts first, for the docs and the sheet header
    algorithm: str  # whose algorithm it runs: DFL, AFTER_DFL, FACESWAP, AFTER_FACESWAP or OURS
    choose: Chooser | None = None  # it chooses the sort.max_faces kept (sort: all of them, in its order)
    leaves_out: LeaveOut | None = None
    needs_crops: bool = False  # it reads the crops' pixels (Features.crops)


def _by(column: str, descending: bool) -> Sorter:
    def sort(table: pd.DataFrame, features: Features) -> tuple[np.ndarray, np.ndarray]:
        values = table[column].to_numpy(dtype=np.float64)
        positions = np.argsort(-values if descending else values, kind="stable")
        return positions, values[positions]

    return sort


def _bins(degrees: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(degrees, dtype=np.float64) / BIN_DEGREES).astype(np.int64)


def spread(table: pd.DataFrame, key: str, *, pitch: bool = True) -> np.ndarray:
    """Our "best" order, after DFL's best faces: round robin over BIN_DEGREES yaw bins (frontal
    first), inside each yaw bin round robin over pitch bins, and within a bin the highest `key`
    first. The first N of this order are N faces spread over the poses as evenly as the data allows."""
    by_key = np.argsort(-table[key].to_numpy(dtype=np.float64), kind="stable")
    yaw_bins, pitch_bins = _bins(table["yaw"])[by_key], _bins(table["pitch"])[by_key]
    per_yaw = []
    for yaw_bin in centre_first(yaw_bins):
        members = by_key[yaw_bins == yaw_bin]
        if pitch:
            inner_bins = pitch_bins[yaw_bins == yaw_bin]
            members = round_robin([members[inner_bins == b] for b in centre_first(inner_bins)])
        per_yaw.append(members)
    return round_robin(per_yaw)


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
    """Ours: mean absolute pixel difference to all other faces on small grey copies, most
    different first: odd crops and other people lead the review (linear in the face count)."""
    difference = mean_abs_difference(features.tiny)
    positions = np.argsort(-difference, kind="stable")
    return positions, difference[positions]


def _absdiff(similar: bool) -> Sorter:
    """DFL's absdiff: a chain through the full-resolution pairwise differences (absdiff.py)."""

    def sort(table: pd.DataFrame, features: Features) -> tuple[np.ndarray, np.ndarray]:
        return chain(pairwise_difference(features.crops), similar)

    return sort


def _alone_first(table: pd.DataFrame, features: Features) -> tuple[np.ndarray, np.ndarray]:
    """Ours: faces alone in their frame first (no doubt whose they are), then frame order."""
    alone = table["one_face"].to_numpy(dtype=np.float64)
    positions = np.argsort(-alone, kind="stable")
    return positions, alone[positions]


# DFL's oneface: every face of a frame where several faces were found goes (not only the others').
SEVERAL_FACES = LeaveOut("several faces", lambda scores: ~scores["one_face"].to_numpy(dtype=bool))


def _final(sharpness: str) -> Chooser:
    """DFL's final (final.py), sharpest first within a pose by `sharpness`."""

    def choose(table: pd.DataFrame, features: Features, count: int) -> tuple[np.ndarray, np.ndarray]:
        values = table[sharpness].to_numpy(dtype=np.float64)
        positions = final_order(table["yaw"].to_numpy(), table["pitch"].to_numpy(), values, features.hist, count)
        return positions, values[positions]

    return choose


def _choosing(choose: Chooser, about: str) -> Order:
    """A DFL order that chooses the faces it keeps; without a count it keeps every face, in its order."""
    return Order(lambda table, features: choose(table, features, len(table)), about, DFL, choose=choose)


def _identity(table: pd.DataFrame, features: Features) -> tuple[np.ndarray, np.ndarray]:
    """faceswap's face similarity, anchored: closest to the reference (or median) person first."""
    distance = table["identity"].to_numpy(dtype=np.float64)
    if len(distance) and np.isnan(distance).all():
        raise SwaplibError("sort order 'identity' needs identity embeddings, and sort.identity is 'none'")
    positions = np.argsort(np.nan_to_num(distance, nan=np.inf), kind="stable")
    return positions, distance[positions]


ORDERS: dict[str, Order] = {
    "blur": Order(_by("cpbd", True), "sharpest first (CPBD inside the hull)", DFL),
    "blur-variance": Order(_by("blur", True), "sharpest first (variance of the Laplacian inside the hull)", FACESWAP),
    "motion-blur": Order(_by("coarse_sharpness", True), "least blurred first (variance of the 11 px Laplacian)", DFL),
    "motion-blur-direction": Order(_by("motion_blur", False), "least motion blur first (gradient directions)", OURS),
    "face-yaw": Order(_by("yaw", False), "yaw, turned to the image's left first", AFTER_DFL),
    "face-pitch": Order(_by("pitch", False), "pitch, looking down first", AFTER_DFL),
    "face-size": Order(_by("face_px", True), "largest in the frame first", DFL),
    "hist-similarity": Order(_hist_similarity, "look-alike colour histograms next to each other", AFTER_DFL),
    "hist-dissimilarity": Order(_hist_dissimilarity, "most unusual colour histogram first", AFTER_DFL),
    "brightness": Order(_by("brightness", True), "brightest first", AFTER_DFL),
    "hue": Order(_by("hue", True), "hue, from 360 down to 0 degrees", AFTER_DFL),
    "black": Order(_by("black", False), "fewest black or beyond-the-frame pixels first", AFTER_DFL),
    "original-filename": Order(_by("frame", False), "frame order", DFL),
    "oneface": Order(_by("frame", False), "frame order; the faces of frames with several faces left out", DFL,
                     leaves_out=SEVERAL_FACES),
    "alone-first": Order(_alone_first, "faces alone in their frame first", OURS),
    "absdiff": Order(_absdiff(True), "a chain of the most alike whole crops, from the first face", DFL,
                     needs_crops=True),
    "absdiff-dissimilar": Order(_absdiff(False), "a chain of the least alike whole crops, from the first face",
                                DFL, needs_crops=True),
    "absolute-pixel-difference": Order(_absolute_pixel_difference, "most different pixels first", OURS),
    "final": _choosing(_final("cpbd"), "sort.max_faces spread over 128 yaw bins and pitch, sharp (CPBD) and varied"),
    "final-fast": _choosing(_final("face_px"), "as final, the largest in the frame instead of the sharpest"),
    "best": Order(_spread("blur", pitch=True), "spread over yaw and pitch bins, sharpest first in a bin", OURS),
    "best-faster": Order(_spread("face_px", pitch=False), "spread over yaw bins, largest first in a bin", OURS),
    "identity": Order(_identity, "closest to the person (reference faces, or the set's median) first",
                      AFTER_FACESWAP),
    "distance": Order(_by("distance", False), "closest to the set's average face first", FACESWAP),
    "yaw-bins": Order(_yaw_bins, f"{BIN_DEGREES:g} degree yaw bins left to right, sharpest first in a bin", OURS),
}
