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
    whole, part = divmod(-amount, 10)  # a pass per 10, the rest a partial pass
    return median_passes(image, [1.0] * whole + ([part / 10] if part else []))


def denoise_passes(power: int) -> list[float]:
    """The 5x5 median passes of image_denoise_power `power`, as DeepFaceLab's: one pass per 10 of it,
    each in full while the power left is 100 or more, then blended in by what is left / 100
    (100: 1, 0.9, 0.8 ... 0.1, about five and a half passes)."""
    return [min(left / 100, 1.0) for left in range(power, 0, -10)]


def median_passes(image: np.ndarray, weights: list[float]) -> np.ndarray:
    """5x5 median filters one after the other, each blended in by its weight (1: in full); in
    float, rounded once at the end."""
    out = image.astype(np.float32)
    for weight in weights:
        filtered = cv2.medianBlur(out, 5)
        out = filtered if weight == 1 else out * (1 - weight) + filtered * weight
    return to_uint8(out) if image.dtype == np.uint8 else out


def degrade_frame(frame: np.ndarray, s: MergeSettings) -> np.ndarray:
    """A copy of the destination frame to paste the faces on, degraded when asked.

    Denoise and bicubic degrade soften the whole destination frame so that it matches a softer
    swapped face (as in DFL); they change pixels outside the face, and are off by default.
    """
    if s.image_denoise_power:
        frame = median_passes(frame, denoise_passes(s.image_denoise_power))
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
