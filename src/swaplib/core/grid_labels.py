"""The column of row names beside a preview grid (training's and XSeg's previews)."""

from __future__ import annotations

import cv2
import numpy as np


def row_labels(labels, row_px: int) -> np.ndarray:
    """A column of `labels`, one per row of height row_px, white on dark grey (BGR uint8), as wide as
    the longest label; the text grows with the rows, so it stays readable at every resolution."""
    scale = max(0.3, row_px / 160)
    thickness = max(1, round(row_px / 96))
    (text_w, text_h), _ = cv2.getTextSize(max(labels, key=len), cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    column = np.full((row_px * len(labels), text_w + 2 * max(4, row_px // 16), 3), 40, np.uint8)
    for i, label in enumerate(labels):
        y = i * row_px + (row_px + text_h) // 2
        cv2.putText(column, label, (max(4, row_px // 16), y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    thickness, cv2.LINE_AA)
    return column
