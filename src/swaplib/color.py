"""Colour transfer: make the swapped face take the destination face's colours."""

from __future__ import annotations

import cv2
import numpy as np

from .errors import SwaplibError

COLOR_TRANSFERS = ("none", "rct")


def reinhard(source: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Reinhard colour transfer (RCT): match the mean and spread of each L*a*b* channel.

    source, target: BGR uint8 of one shape; mask: float (h, w), statistics are taken
    where it is > 0.5 (the face), so background colours do not leak in.
    """
    src_lab = cv2.cvtColor(source, cv2.COLOR_BGR2LAB).astype(np.float32)
    tgt_lab = cv2.cvtColor(target, cv2.COLOR_BGR2LAB).astype(np.float32)
    inside = (mask > 0.5) if mask is not None else np.ones(source.shape[:2], bool)
    if inside.sum() < 16:  # too few pixels for stable statistics
        return source
    src_mean, src_std = src_lab[inside].mean(0), src_lab[inside].std(0) + 1e-6
    tgt_mean, tgt_std = tgt_lab[inside].mean(0), tgt_lab[inside].std(0) + 1e-6
    out = (src_lab - src_mean) * (tgt_std / src_std) + tgt_mean
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def transfer(kind: str, source: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    if kind == "none":
        return source
    if kind == "rct":
        return reinhard(source, target, mask)
    raise SwaplibError(f"unknown colour transfer {kind!r}; choose one of {', '.join(COLOR_TRANSFERS)}")
