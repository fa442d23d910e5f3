"""Blend masks of the merge: which pixels of the swapped face replace the destination's.

Masks live in the aligned crop (the model's resolution), as float32 0..1, one per face. The
kinds are DeepFaceLab's:

    dst                        the destination face's landmark hull (plus a strip of forehead)
    learned-prd                the mask the model draws with its prediction (source decoder)
    learned-dst                the mask the model draws for the destination face (destination decoder)
    learned-prd*learned-dst    both at once (the smaller, safer region)
    learned-prd+learned-dst    either (the larger region)

The XSeg kinds come with a learned segmenter later. `erode_and_blur` then erodes (or grows)
and softens the mask with DeepFaceLab's erode_mask_modifier and blur_mask_modifier, in their
units: px of the mask at SUBRES times the model's resolution, where it is worked on and from
where it is warped into the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from swaplib.core.errors import SwaplibError
from swaplib.extract.align import hull_mask

MASKS = ("dst", "learned-prd", "learned-dst", "learned-prd*learned-dst", "learned-prd+learned-dst")
NOISE = 1.0 / 255  # mask values below this are rounding noise; they would tint the frame
SUBRES = 4  # the mask is eroded, blurred and warped into the frame at 4x the model's resolution


def check_mask(kind: str) -> None:
    if kind not in MASKS:
        raise SwaplibError(f"unknown merge mask {kind!r}; choose one of {', '.join(MASKS)}")


def uses_learned(kind: str) -> bool:
    """Whether the kind needs the model's mask decoder (trained masks)."""
    return kind.startswith("learned")


def uses_dst_decoder(kind: str) -> bool:
    """Whether the kind needs the destination decoder's mask (an extra pass of the model)."""
    return "learned-dst" in kind


def build(kind: str, *, hull: np.ndarray | None = None, prd: np.ndarray | None = None,
          dst: np.ndarray | None = None) -> np.ndarray:
    """(N, R, R) masks of `kind` from the hull masks and the model's prd / dst masks it needs."""
    check_mask(kind)
    parts = {"dst": hull, "learned-prd": prd, "learned-dst": dst}
    names = kind.replace("*", "+").split("+")
    missing = [name for name in names if parts[name] is None]
    if missing:
        raise SwaplibError(f"mask {kind!r} needs the {', '.join(missing)} mask(s)")
    first, *rest = (np.asarray(parts[name], np.float32) for name in names)
    if not rest:
        mask = first.copy()
    elif "*" in kind:
        mask = first * rest[0]
    else:
        mask = np.minimum(first + rest[0], 1.0)
    mask[mask < NOISE] = 0.0
    return mask


def hull_masks(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size) hull masks from (N, 68, 2) landmarks given in crop coordinates."""
    return np.stack([hull_mask(points, (size, size)) for points in landmarks]).astype(np.float32)


def blur_kernel(blur: int) -> int:
    """Side in px of the Gaussian kernel of blur_mask_modifier `blur`: `blur`, made odd upwards.
    Its sigma is OpenCV's for that side: 0.3·((side - 1)/2 - 1) + 0.8."""
    return blur + 1 - blur % 2


def erode_and_blur(mask: np.ndarray, *, erode: int, blur: int) -> np.ndarray:
    """One (R, R) mask, eroded and blurred as DeepFaceLab's merger does it: the (4R, 4R) result.

    The mask is scaled up to SUBRES·R (bilinear) and padded with R px of zeros on every side; in
    px of that array it is eroded with an ellipse `erode` px across (grown if negative), cleared
    outside the predicted square less blur // 2 px (so the blur fades to 0 inside the square),
    and blurred with a blur_kernel(blur) px Gaussian. Only a window around the mask's reach is
    computed: with zeros all around it, the result is the whole array's.
    """
    size = mask.shape[0]
    big = cv2.resize(np.asarray(mask, np.float32), (SUBRES * size,) * 2, interpolation=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(big)
    if not len(ys) or not (erode or blur):
        return np.clip(big, 0.0, 1.0)
    padded = np.pad(big, size)
    full = padded.shape[0]
    kernel = blur_kernel(blur) if blur else 0
    reach = abs(erode) // 2 + kernel // 2 + 2
    y0, x0 = max(ys.min() + size - reach, 0), max(xs.min() + size - reach, 0)
    y1, x1 = min(ys.max() + size + reach + 1, full), min(xs.max() + size + reach + 1, full)
    work = padded[y0:y1, x0:x1].copy()
    if erode:
        work = (cv2.erode if erode > 0 else cv2.dilate)(work, _ellipse(abs(erode)))
    clear = size + blur // 2  # from each side of the padded array
    work[: max(clear - y0, 0)], work[:, : max(clear - x0, 0)] = 0, 0
    work[max(full - clear - y0, 0) :], work[:, max(full - clear - x0, 0) :] = 0, 0
    if blur:
        work = cv2.GaussianBlur(work, (kernel, kernel), 0)
    padded[:] = 0
    padded[y0:y1, x0:x1] = work
    return np.clip(padded[size:-size, size:-size], 0.0, 1.0)


def _ellipse(side: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
