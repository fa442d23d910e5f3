"""Merge: put the swapped face into every destination frame.

For each face found in a frame, the face is cut out with its alignment transform (scaled
to the model's resolution), sent through the source decoder, colour-matched, and pasted
back with the inverse transform through a feathered mask. Frames without a face are
passed through byte for byte.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .align import hull_mask, transform_points, warp_to_face, warp_to_frame
from .atomic import atomic_dir, read_image
from .color import transfer
from .errors import SwaplibError
from .faces import landmarks_array, matrices_array, read_faces
from .model import load_model, resolve_device, swap_faces

log = logging.getLogger(__name__)

MODES = ("original", "overlay", "seamless")
MASKS = ("hull", "learned", "hull-learned")


def face_mask(kind: str, landmarks: np.ndarray, learned: np.ndarray, size: int) -> np.ndarray:
    """The blend mask in crop space (float32 0..1): landmark hull, the model's mask, or both."""
    if kind == "hull":
        return hull_mask(landmarks, (size, size))
    if kind == "learned":
        return learned.astype(np.float32)
    if kind == "hull-learned":
        return hull_mask(landmarks, (size, size)) * learned.astype(np.float32)
    raise SwaplibError(f"unknown merge mask {kind!r}; choose one of {', '.join(MASKS)}")


def feather(mask: np.ndarray, *, erode: float, blur: float) -> np.ndarray:
    """Erode (or dilate, if negative) and blur a mask by shares of the face's size."""
    ys, xs = np.nonzero(mask > 0.5)
    if len(xs) == 0:
        return mask
    face_px = np.sqrt((np.ptp(xs) + 1) * (np.ptp(ys) + 1))
    radius = int(round(abs(erode) * face_px))
    if radius:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = (cv2.erode if erode > 0 else cv2.dilate)(mask, kernel)
    sigma = blur * face_px / 2
    if sigma > 0.5:
        # Erode by the blur's reach first so the feathered edge stays inside the face.
        reach = int(round(sigma))
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
        mask = cv2.GaussianBlur(mask, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    return np.clip(mask, 0, 1)


def blend(frame: np.ndarray, face: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Paste `face` (frame-sized, already warped back) onto `frame` through `mask`."""
    alpha = mask[..., None]
    if mode == "seamless":
        binary = (mask > 0.5).astype(np.uint8) * 255
        x, y, w, h = cv2.boundingRect(binary)
        # seamlessClone needs the mask's box strictly inside the frame.
        if w > 2 and h > 2 and x > 0 and y > 0 and x + w < frame.shape[1] and y + h < frame.shape[0]:
            face = cv2.seamlessClone(face, frame, binary, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    out = face.astype(np.float32) * alpha + frame.astype(np.float32) * (1 - alpha)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def swap_frame(frame, faces: pd.DataFrame, model, *, resolution, device, mode, color_transfer, mask, erode, blur):
    """Swap every listed face of one frame; returns the new frame."""
    matrices = matrices_array(faces) * (resolution / faces["size"].to_numpy()[:, None, None])
    crops = np.stack([warp_to_face(frame, m, resolution) for m in matrices])
    swapped, learned = swap_faces(model, crops, device=device)
    for crop, new, learned_mask, landmarks, matrix in zip(crops, swapped, learned, landmarks_array(faces), matrices):
        crop_mask = face_mask(mask, transform_points(landmarks, matrix), learned_mask, resolution)
        new = transfer(color_transfer, new, crop, crop_mask)
        crop_mask = feather(crop_mask, erode=erode, blur=blur)
        frame = blend(frame, warp_to_frame(new, matrix, frame.shape[:2]), warp_to_frame(crop_mask, matrix, frame.shape[:2]), mode)
    return frame


def _pass_through(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # a face-less frame is unchanged: share the bytes
    except OSError:
        shutil.copyfile(src, dst)


def merge_video(
    frames_dir: str | Path,
    faces_table: str | Path,
    model_path: str | Path,
    out_dir: str | Path,
    *,
    mode: str = "overlay",
    color_transfer: str = "rct",
    mask: str = "hull",
    erode: float = 0.0,
    blur: float = 0.1,
    device: str = "auto",
) -> dict:
    """Write every frame of `frames_dir` to `out_dir` (same names), swapped where a face was found."""
    if mode not in MODES:
        raise SwaplibError(f"unknown merge mode {mode!r}; choose one of {', '.join(MODES)}")
    frames = sorted(p for p in Path(frames_dir).iterdir() if p.suffix in (".png", ".jpg"))
    if not frames:
        raise SwaplibError(f"{frames_dir}: no frame images to merge")
    faces = read_faces(faces_table)
    by_frame = {frame: rows for frame, rows in faces.groupby("frame")}
    device = resolve_device(device)
    model, meta = load_model(model_path, device=device)
    resolution = meta["model_config"]["resolution"]
    swapped_frames = 0
    with atomic_dir(out_dir) as tmp:
        for i, path in enumerate(frames):
            rows = by_frame.get(int(path.stem))
            if rows is None or mode == "original":
                _pass_through(path, tmp / path.name)
                continue
            frame = swap_frame(
                read_image(path), rows, model, resolution=resolution, device=device,
                mode=mode, color_transfer=color_transfer, mask=mask, erode=erode, blur=blur,
            )
            if not cv2.imwrite(str(tmp / path.name), frame):
                raise SwaplibError(f"{out_dir}: could not write {path.name} (disk full?)")
            swapped_frames += 1
            if (i + 1) % 50 == 0:
                log.info("merged %d/%d frames", i + 1, len(frames))
    log.info("%d of %d frames had a face swapped", swapped_frames, len(frames))
    return {"frames": len(frames), "swapped": swapped_frames}
