"""The segmentation model file, and masks from it.

The file is model.safetensors as swaplib.model.io writes it (weights + a JSON header), with the
network's XSegConfig as its model_config (kind "xseg"), so a swap model is never taken for one.
write_masks() writes one mask per kept face of a video: masks/{face_id}.png, grey 0..255 at the
crop's own size.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image, shrink, write_image
from swaplib.model.base import resolve_device
from swaplib.model.io import read_weights
from swaplib.tables.faces import read_faces
from swaplib.xseg.model import XSegConfig, XSegNet

log = logging.getLogger(__name__)


def load_xseg(path: str | Path, device: str = "cpu") -> tuple[XSegNet, dict]:
    """(the network in eval mode on `device`, the file's header); SwaplibError naming the file."""
    tensors, header = read_weights(path)
    try:
        model = XSegNet(XSegConfig.from_dict(header.get("model_config") or {}))
        model.load_state_dict(tensors)
    except (SwaplibError, RuntimeError, TypeError) as e:
        raise SwaplibError(f"{path}: not a segmentation model file this swaplib reads: {e}") from None
    return model.to(resolve_device(device)).eval(), header


def predict(model: XSegNet, crops: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(N, R, R) float32 masks 0..1 of BGR uint8 crops (N, R, R, 3) at the model's resolution."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(crops), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(crops[start:start + batch_size])).to(device)
            x = x.permute(0, 3, 1, 2).float().div_(255)
            out.append(torch.sigmoid(model(x))[:, 0].float().cpu().numpy())
    model.train(was_training)
    size = model.cfg.resolution
    return np.concatenate(out) if out else np.zeros((0, size, size), np.float32)


def masks_for(model: XSegNet, crops: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(N, S, S) float32 masks of square BGR uint8 crops (N, S, S, 3) of any size S: each crop
    scaled to the model's resolution, its mask scaled back to S."""
    size, side = model.cfg.resolution, crops.shape[1]
    if not len(crops):
        return np.zeros((0, side, side), np.float32)
    if side == size:
        return predict(model, crops, batch_size)
    scaled = np.stack([shrink(c, size) if side > size else cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR)
                       for c in crops])
    masks = predict(model, scaled, batch_size)
    return np.stack([cv2.resize(m, (side, side), interpolation=cv2.INTER_LINEAR) for m in masks])


def write_masks(model_path: str | Path, table: str | Path, faces_dir: str | Path, masks_dir: str | Path, *,
                device: str = "auto", threads: int | None = None, batch_size: int = 64) -> dict:
    """masks_dir/{face_id}.png for every kept face of a video (the face table and its crops folder)."""
    started = time.perf_counter()
    threads_before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        model, header = load_xseg(model_path, device)
        faces = read_faces(table)
        masks_dir = Path(masks_dir)
        masks_dir.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(faces), batch_size):
            rows = faces.iloc[start:start + batch_size]
            crops = np.stack([read_image(Path(faces_dir) / name) for name in rows["file"]])
            for face_id, mask in zip(rows["face_id"], masks_for(model, crops, batch_size)):
                write_image(masks_dir / f"{face_id}.png", np.round(np.clip(mask, 0, 1) * 255).astype(np.uint8))
    finally:
        torch.set_num_threads(threads_before)
    seconds = time.perf_counter() - started
    log.info("%d masks from %s (iteration %s) in %.1f s", len(faces), model_path, header.get("iterations"), seconds)
    return {"masks": len(faces), "seconds": seconds}
