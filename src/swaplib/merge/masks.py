"""Blend masks of the merge: which pixels of the swapped face replace the destination's.

Masks live in the aligned crop (the model's resolution), as float32 0..1, one per face. The
kinds are DeepFaceLab's:

    dst                        the destination face's landmark hull (plus a strip of forehead)
    learned-prd                the mask the model draws with its prediction (source decoder)
    learned-dst                the mask the model draws for the destination face (destination decoder)
    learned-prd*learned-dst    both at once (the smaller, safer region)
    learned-prd+learned-dst    either (the larger region)

The XSeg kinds come with a learned segmenter later. `feather` then erodes (or grows) and
softens the mask by shares of the face's size, and keeps it inside the crop.
"""

from __future__ import annotations

import cv2
import numpy as np

from swaplib.core.errors import SwaplibError
from swaplib.extract.align import hull_mask, mean_face

MASKS = ("dst", "learned-prd", "learned-dst", "learned-prd*learned-dst", "learned-prd+learned-dst")
NOISE = 1.0 / 255  # mask values below this are rounding noise; they would tint the frame


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


def face_size(face_type: str, size: int) -> float:
    """Size in px of the face (the 68 template points' box) in a `size` crop of `face_type`.

    Erode and blur are shares of it. It comes from the template, not from each face's
    landmarks, so the feathering does not flicker with landmark noise.
    """
    span = np.ptp(mean_face(size, face_type), axis=0)
    return float(np.sqrt(span[0] * span[1]))


def feather(mask: np.ndarray, *, erode: float, blur: float, face_px: float) -> np.ndarray:
    """One (R, R) mask eroded by `erode` (grown if negative) and softened by `blur`, shares of face_px.

    The softened edge lies mostly inside the eroded shape (it is eroded by the blur's sigma
    first), and the mask is 0 near the crop's border, where the prediction ends.
    """
    mask = np.asarray(mask, np.float32)
    radius = int(round(abs(erode) * face_px))
    if radius:
        mask = (cv2.erode if erode > 0 else cv2.dilate)(mask, _disc(radius))
    sigma = blur * face_px / 2
    soft = sigma > 0.5
    if soft:
        mask = cv2.erode(mask, _disc(int(round(sigma))))
    border = int(np.ceil(3 * sigma)) + 1 if soft else 1
    mask[:border], mask[-border:], mask[:, :border], mask[:, -border:] = 0, 0, 0, 0
    if soft:
        mask = cv2.GaussianBlur(mask, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    mask = np.clip(mask, 0.0, 1.0)
    mask[mask < NOISE] = 0.0
    return mask


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
