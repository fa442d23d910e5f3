"""CPBD, the cumulative probability of blur detection (Narvekar & Karam, IEEE TIP 2011): a
no-reference sharpness in 0..1, higher is sharper. DeepFaceLab's `blur` sort ranks faces by it.

The steps of the paper, measured inside a mask (the face hull) instead of over the whole image:
1. edges: Canny; the image is cut into BLOCK_PX blocks, and a block with more than EDGE_BLOCK of
   its pixels on an edge is an edge block (flat blocks say nothing about blur);
2. the width of each edge pixel of an edge block, Marziliano's way: along the gradient, from
   the local intensity extremum before the edge to the one after it (the walks start at the
   pixel's neighbours, so an ideal step is 2 wide). The gradient is quantised to 45 degrees;
   edges whose gradient runs along the rows are measured along the rows, those along the
   columns along the columns, and diagonal ones are not measured (an axis would overstate them);
3. the just noticeable blur width of the block by its contrast: 5 px up to a contrast of 50
   grey levels, 3 px above;
4. the probability that a person sees the edge blurred, P = 1 - exp(-(width / JNB width)^3.6);
5. CPBD: the share of the measured edges with P at most P_JNB, the probability at the JNB width.
DeepFaceLab blacks out everything outside the hull and measures the whole crop, so the hull's own
outline counts as a sharp edge there; here only the face's own edges count.
"""

from __future__ import annotations

import cv2
import numpy as np

BLOCK_PX = 64  # the paper's block side
EDGE_BLOCK = 0.002  # share of a block's pixels on edges above which it is an edge block
LOW_CONTRAST = 50  # grey levels: up to this a block's JNB width is 5 px, above it 3 px
BETA = 3.6  # the paper's fitted slope of the probability of blur detection
P_JNB = 1 - np.exp(-1)  # P at the JNB width: an edge at most that wide counts as sharp
CANNY = (50, 100)  # hysteresis thresholds on 8-bit grey


def _walks(grey: np.ndarray, rows: np.ndarray, cols: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Edge width along the rows at the pixels (rows, cols), for an edge rising to the right where
    `up` and falling elsewhere: 2 + the steps from the right neighbour on to the next extremum + the
    steps from the left neighbour back to the previous one. The image is walked as one line, rows
    one after the other, with a wall at each row's end; the walls of a walk are the steps where the
    intensity stops moving its way, found by binary search, so only the edge pixels cost anything."""
    h, w = grey.shape
    step = np.zeros((h, w), np.float32)
    step[:, :-1] = np.diff(grey, axis=1)  # step c: pixel c to c + 1; the last column is the wall
    step = step.ravel()
    at = rows * w + cols
    widths = np.full(len(at), 2, np.int64)
    for stops, chosen in ((step <= 0, up), (step >= 0, ~up)):
        walls = np.concatenate([[-1], np.flatnonzero(stops)])
        pixel = at[chosen]
        ahead = walls[np.searchsorted(walls, pixel + 1)] - (pixel + 1)  # from step c + 1 on
        behind = (pixel - 2) - walls[np.searchsorted(walls, pixel - 2, side="right") - 1]  # back from step c - 2
        widths[chosen] += ahead + behind
    return widths


# An edge is measured along an axis when its gradient lies within 22.5 degrees of it.
_TAN_22_5 = np.tan(np.pi / 8)


def edge_widths(grey: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Width (px) of the edge at each pixel (rows, cols), measured along the rows or the columns,
    whichever its gradient runs along; 0 for a diagonal gradient and on the image's outermost
    pixels (no neighbour to walk from)."""
    grey = grey.astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)[rows, cols]
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)[rows, cols]
    h, w = grey.shape
    inner = (rows > 0) & (rows < h - 1) & (cols > 0) & (cols < w - 1)
    widths = np.zeros(len(rows), np.int64)
    along = inner & (np.abs(gy) <= _TAN_22_5 * np.abs(gx))
    widths[along] = _walks(grey, rows[along], cols[along], gx[along] > 0)
    along = inner & (np.abs(gx) <= _TAN_22_5 * np.abs(gy))
    widths[along] = _walks(np.ascontiguousarray(grey.T), cols[along], rows[along], gy[along] > 0)
    return widths


def _per_block(values: np.ndarray, fill, reduce) -> np.ndarray:
    """(blocks down, blocks across) `reduce` of each BLOCK_PX block; the image padded with `fill`."""
    h, w = values.shape
    down, across = -(-h // BLOCK_PX), -(-w // BLOCK_PX)
    padded = np.full((down * BLOCK_PX, across * BLOCK_PX), fill, values.dtype)
    padded[:h, :w] = values
    return reduce(padded.reshape(down, BLOCK_PX, across, BLOCK_PX), axis=(1, 3))


def cpbd(grey: np.ndarray, mask: np.ndarray | None = None) -> float:
    """CPBD of an 8-bit grey image inside `mask` (nonzero = measured; None = all of it)."""
    inside = np.ones(grey.shape, bool) if mask is None else mask > 0
    edges = (cv2.Canny(grey, *CANNY) > 0) & inside
    area = _per_block(inside, False, np.sum)
    edge_block = (area > 0) & (_per_block(edges, False, np.sum) > EDGE_BLOCK * area)
    contrast = (_per_block(np.where(inside, grey, 0), 0, np.max).astype(np.int64)
                - _per_block(np.where(inside, grey, 255), 255, np.min))
    jnb = np.where(contrast <= LOW_CONTRAST, 5.0, 3.0)
    rows, cols = np.nonzero(edges)
    counted = edge_block[rows // BLOCK_PX, cols // BLOCK_PX]
    rows, cols = rows[counted], cols[counted]
    widths = edge_widths(grey, rows, cols)
    measured = widths > 0
    block_jnb = jnb[rows[measured] // BLOCK_PX, cols[measured] // BLOCK_PX]
    probability = 1 - np.exp(-((widths[measured] / block_jnb) ** BETA))
    return float(np.mean(probability <= P_JNB + 1e-9)) if measured.any() else 0.0
