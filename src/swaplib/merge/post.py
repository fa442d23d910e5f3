"""Post-processing of merged faces and frames: DFL's motion blur, blur/sharpen, denoise and degrades."""

from __future__ import annotations

import cv2
import numpy as np

from swaplib.merge.settings import MergeSettings


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def motion_blur(image: np.ndarray, movement: np.ndarray, power: int) -> np.ndarray:
    """Blur along the face's movement (crop px per frame), `power` % of its length."""
    length = int(np.hypot(*movement) * power / 100)
    if length < 1:
        return image
    size = int(np.clip(length + 1, 2, 50))
    kernel = np.zeros((size, size), np.float32)
    kernel[(size - 1) // 2, :] = 1
    angle = np.degrees(np.arctan2(-movement[1], movement[0]))
    rotation = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (size, size))
    return cv2.filter2D(image, -1, kernel / kernel.sum())


def blur_sharpen(image: np.ndarray, mode: str, amount: int) -> np.ndarray:
    """DFL's blur/sharpen: amount > 0 sharpens (box or gaussian, 3x3), < 0 blurs (median passes)."""
    if amount > 0:
        if mode == "box":
            identity = np.zeros((3, 3), np.float32)
            identity[1, 1] = 1
            return cv2.filter2D(image, -1, identity + (identity - np.full((3, 3), 1 / 9, np.float32)) * amount)
        blurred = cv2.GaussianBlur(image, (3, 3), 0)
        return cv2.addWeighted(image, 1 + 0.5 * amount, blurred, -0.5 * amount, 0)
    return median_passes(image, -amount / 10)


def median_passes(image: np.ndarray, passes: float) -> np.ndarray:
    """`passes` 5x5 median filters; a fractional last pass is blended in partly."""
    out = image
    while passes > 0:
        filtered = cv2.medianBlur(out, 5)
        weight = min(passes, 1.0)
        out = filtered if weight == 1 else cv2.addWeighted(out, 1 - weight, filtered, weight, 0)
        passes -= 1
    return out


def degrade_frame(frame: np.ndarray, s: MergeSettings) -> np.ndarray:
    """A copy of the destination frame to paste the faces on, degraded when asked.

    Denoise and bicubic degrade soften the whole destination frame so that it matches a softer
    swapped face (as in DFL); they change pixels outside the face, and are off by default.
    """
    if s.denoise:
        frame = median_passes(frame, s.denoise / 100)
    if s.bicubic_degrade:
        height, width = frame.shape[:2]
        keep = 1.0 - s.bicubic_degrade / 101
        small = cv2.resize(frame, (max(1, int(width * keep)), max(1, int(height * keep))),
                           interpolation=cv2.INTER_CUBIC)
        frame = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return frame.copy()


def reduce_colors(image: np.ndarray) -> np.ndarray:
    """The image with an adaptive 256-colour palette (DFL's colour degrade)."""
    from PIL import Image  # Pillow comes with matplotlib; only this option needs it

    rgb = to_uint8(image[..., ::-1])
    reduced = np.asarray(Image.fromarray(rgb).quantize(256).convert("RGB"))
    return reduced[..., ::-1].astype(np.float32)
