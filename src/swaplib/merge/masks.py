"""Blend masks of the merge: which pixels of the swapped face replace the destination's.

Masks live in the aligned crop (the model's resolution), as float32 0..1, one per face. The
kinds are DeepFaceLab's:

    full                       the whole predicted square
    dst                        the destination face's landmark hull (plus a strip of forehead)
    learned-prd                the mask the model draws with its prediction (source decoder)
    learned-dst                the mask the model draws for the destination face (destination decoder)
    learned-prd*learned-dst    both at once (the smaller, safer region)
    learned-prd+learned-dst    either (the larger region)
    xseg-prd                   the segmentation model (swaplib.xseg) on the predicted face
    xseg-dst                   the segmentation model on the destination face: leaves out what
                               covers it (a hand, a microphone)
    xseg-prd*xseg-dst          both at once
    learned-prd*learned-dst*xseg-prd*xseg-dst   all four at once

`erode_and_blur` then erodes (or grows)
and softens the mask with DeepFaceLab's erode_mask_modifier and blur_mask_modifier, in their
units: px of the mask at SUBRES times the model's resolution, where it is worked on and from
where it is warped into the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from swaplib.config.merge import MASKS
from swaplib.core.errors import SwaplibError
from swaplib.extract.align import hull_mask

NOISE = 1.0 / 255  # mask values below this are rounding noise; they would tint the frame
SUBRES = 4  # the mask is eroded, blurred and warped into the frame at 4x the model's resolution


def check_mask(kind: str) -> None:
    if kind not in MASKS:
        raise SwaplibError(f"unknown merge mask {kind!r}; choose one of {', '.join(MASKS)}")


def uses_learned(kind: str) -> bool:
    """Whether the kind needs the model's mask decoder (trained masks)."""
    return "learned-" in kind


def uses_dst_decoder(kind: str) -> bool:
    """Whether the kind needs the destination decoder's mask (an extra pass of the model)."""
    return "learned-dst" in kind


def uses_xseg(kind: str) -> bool:
    """Whether the kind needs the segmentation model (xseg.enabled)."""
    return "xseg" in kind


def uses_xseg_prd(kind: str) -> bool:
    """Whether the kind needs the segmentation model on the predicted face (an extra pass)."""
    return "xseg-prd" in kind


def parts(kind: str) -> list[str]:
    """The masks a kind is made of: 'xseg-prd*xseg-dst' -> ['xseg-prd', 'xseg-dst']."""
    return kind.replace("*", "+").split("+")


def build(kind: str, *, hull: np.ndarray | None = None, prd: np.ndarray | None = None,
          dst: np.ndarray | None = None, xseg_prd: np.ndarray | None = None,
          xseg_dst: np.ndarray | None = None, size: int | None = None) -> np.ndarray:
    """(N, R, R) masks of `kind` from the hull masks, the model's prd / dst masks and the segmentation
    model's masks it needs; `full` takes its shape from any of them, or (1, size, size)."""
    check_mask(kind)
    given = {"dst": hull, "learned-prd": prd, "learned-dst": dst, "xseg-prd": xseg_prd, "xseg-dst": xseg_dst}
    if kind == "full":
        shape = next((np.shape(m) for m in given.values() if m is not None), None) or (1, size, size)
        if None in shape:
            raise SwaplibError("mask 'full' needs a mask to take its shape from, or the size")
        return np.ones(shape, np.float32)
    names = parts(kind)
    missing = [name for name in names if given[name] is None]
    if missing:
        raise SwaplibError(f"mask {kind!r} needs the {', '.join(missing)} mask(s)")
    first, *rest = (np.asarray(given[name], np.float32) for name in names)
    mask = first.copy()
    for other in rest:  # a kind is all products or one sum
        mask = mask * other if "*" in kind else np.minimum(mask + other, 1.0)
    mask[mask < NOISE] = 0.0
    return mask


def hull_masks(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size) hull masks from (N, 68, 2) landmarks given in crop coordinates."""
    return np.stack([hull_mask(points, (size, size)) for points in landmarks]).astype(np.float32)


def blur_kernel(blur: int) -> int:
    """Side in px of the Gaussian kernel of blur_mask_modifier `blur`: `blur`, made odd upwards.
    Its sigma is OpenCV's for that side: 0.3·((side - 1)/2 - 1) + 0.8."""
    return blur + 1 - blur % 2


def erode_and_blur(mask: np.ndarray, *, erode: int, blur: int, scale: int = SUBRES) -> np.ndarray:
    """One (R, R) mask, eroded and blurred as DeepFaceLab's merger does it: the (4R, 4R) result.

    `scale`: how many times the mask is scaled up first: SUBRES for a mask at the model's resolution,
    1 for one already at SUBRES times it (a face drawn by super resolution, swaplib.merge.enhance).
    The mask is scaled up to SUBRES·R (bilinear) and padded with R px of zeros on every side; in
    px of that array it is eroded with an ellipse `erode` px across (grown if negative), cleared
    outside the predicted square less blur // 2 px (so the blur fades to 0 inside the square),
    and blurred with a blur_kernel(blur) px Gaussian. Only a window around the mask's reach is
    computed: with zeros all around it, the result is the whole array's.
    """
    big = np.asarray(mask, np.float32)
    if scale != 1:
        big = cv2.resize(big, (scale * mask.shape[0],) * 2, interpolation=cv2.INTER_LINEAR)
    size = big.shape[0] // SUBRES  # R, the model's resolution: the padding
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
