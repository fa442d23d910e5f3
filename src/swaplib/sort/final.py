"""DeepFaceLab's `final` sort (its "best faces"): a target number of faces, spread over the poses,
sharp, and varied within a pose.

1. yaw bins: YAW_BINS bins from -YAW_LIMIT to +YAW_LIMIT radians (the end bins also hold the
   faces beyond), each with a quota of target / YAW_BINS faces; what the bins short of faces lack
   is shared out again over all bins (in whole faces per bin);
2. sharpness: a bin keeps its KEEP_PER_QUOTA x quota sharpest faces for the next steps;
3. pitch sub-bins: those faces go into `quota` pitch bins from -90 to +90 degrees;
4. variety: within a pitch bin, the faces whose colour histograms differ most from the others'
   (the sum of their Bhattacharyya distances) come first;
5. a yaw bin's faces are its pitch bins' in turn, one from each; its first `quota` are its pick.

Where this differs from DFL, and why: DFL's count is only near the target (a quota rounded to
whole faces, bins short of faces giving back less than they lack), and for a target of 64 or less
its quota is 0, so it returns nothing. Here the quota is at least 1 and the count is exact: the yaw bins'
faces are taken in turns, a bin's pick before its other faces, the most frontal bin first in each
turn, so that the first `target` hold every bin's pick when they add up to more than the target,
and are topped up from the faces DFL would set aside, bin by bin, when they add up to less. The
variety step compares the face's colour histograms inside the hull (the ones hist-similarity
uses); DFL compares grey histograms of the whole crop, background included.
"""

from __future__ import annotations

import numpy as np

from swaplib.sort.binning import centre_first, round_robin

YAW_BINS = 128
YAW_LIMIT = 1.2  # radians: DFL's reach of a landmark yaw; beyond it faces fall in the end bins
KEEP_PER_QUOTA = 10  # a yaw bin keeps ten times its quota, sharpest first, for the variety step
PITCH_LIMIT = np.pi / 2


def bins(values: np.ndarray, limit: float, count: int) -> np.ndarray:
    """DFL's bins: `count` edges evenly from -limit to +limit; bin g holds [edge g, edge g + 1),
    the first bin also everything below, the last everything from +limit on."""
    edges = np.linspace(-limit, limit, count)
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, count - 1).astype(np.int64)


def quota(yaw_bins: np.ndarray, target: int) -> int:
    """Faces per yaw bin: the target shared over every bin, plus the faces the bins short of it lack,
    shared again in whole faces per bin; at least 1."""
    share = round(target / YAW_BINS)
    lack = int(np.maximum(share - np.bincount(yaw_bins, minlength=YAW_BINS), 0).sum())
    return max(1, share + lack // YAW_BINS)


def dissimilarity(hist: np.ndarray) -> np.ndarray:
    """Per face, the sum of its Bhattacharyya distances (OpenCV's: sqrt(1 - coefficient)) to the
    others; hist: (N, 3 * bins), each channel summing to 1."""
    roots = np.sqrt(np.asarray(hist, np.float64))
    coefficient = roots @ roots.T / 3  # the mean of the three channels' coefficients
    return np.sqrt(np.clip(1 - coefficient, 0, None)).sum(axis=1)


def _bin_order(members: np.ndarray, pitch: np.ndarray, hist: np.ndarray, share: int) -> np.ndarray:
    """One yaw bin's faces (given sharpest first): its KEEP_PER_QUOTA x share sharpest in turns over
    their pitch bins, the most varied first in each; then the rest, sharpest first."""
    pool, rest = members[: KEEP_PER_QUOTA * share], members[KEEP_PER_QUOTA * share :]
    pitch_bins = bins(pitch[pool], PITCH_LIMIT, share)
    groups = []
    for pitch_bin in np.unique(pitch_bins):
        group = pool[pitch_bins == pitch_bin]
        groups.append(group[np.argsort(-dissimilarity(hist[group]), kind="stable")])
    return np.concatenate([round_robin(groups), rest])


def final_order(yaw: np.ndarray, pitch: np.ndarray, sharpness: np.ndarray, hist: np.ndarray,
                target: int) -> np.ndarray:
    """Every face, in an order whose first min(target, N) are DFL's final pick (see the module's
    docstring). yaw, pitch: degrees; sharpness: higher first within a yaw bin; hist as dissimilarity's."""
    yaw_bins = bins(np.radians(yaw), YAW_LIMIT, YAW_BINS)
    share = quota(yaw_bins, target)
    by_sharpness = np.argsort(-np.asarray(sharpness, np.float64), kind="stable")
    pitch = np.radians(pitch)
    per_bin = []
    for yaw_bin in centre_first(yaw_bins, frontal=(YAW_BINS - 1) / 2):  # 0 rad: (YAW_BINS - 1) / 2 steps up
        members = by_sharpness[yaw_bins[by_sharpness] == yaw_bin]
        per_bin.append(_bin_order(members, pitch, hist, share))
    # Level by level over the bins: levels below `share` are the bins' picks, so they come first.
    return round_robin(per_bin)
