"""Spreading faces over pose bins: taking from bins in turns, the most frontal bin first.

Shared by the orders that spread a face set over its poses (orders.spread, final.final_order)."""

from __future__ import annotations

import numpy as np


def round_robin(groups: list[np.ndarray]) -> np.ndarray:
    """One from each group in turn: any prefix holds the groups as evenly as their sizes allow."""
    depth = max((len(g) for g in groups), default=0)
    return np.array([g[level] for level in range(depth) for g in groups if level < len(g)], dtype=np.int64)


def centre_first(bins: np.ndarray, frontal: float = 0.0) -> list[int]:
    """Distinct bins, the most frontal first: by the distance of the bin's centre from `frontal`,
    the bin coordinate of 0 degrees (bin b spans b..b + 1)."""
    return sorted(set(np.asarray(bins).tolist()), key=lambda b: (abs(b + 0.5 - frontal), b))
