"""Swapping aligned faces with a trained model: uint8 crops in, uint8 swaps and float masks out."""

from __future__ import annotations

import numpy as np
import torch

from swaplib.core.errors import SwaplibError
from swaplib.model.base import SwapModel


def swap_faces(
    model: SwapModel, faces_bgr_uint8: np.ndarray, device: str | torch.device = "cpu", batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Swap aligned faces (N,R,R,3) uint8 → (swapped faces (N,R,R,3) uint8, masks (N,R,R) float32 0..1).

    The swapped faces come back in the channel order they went in (BGR in, BGR out).
    `model` should already be on `device` (load_model puts it there); an amp model swaps at the
    morph factor use_morph_factor gave it (1, the full swap, unless set).
    """
    R = model.cfg.resolution
    faces = np.asarray(faces_bgr_uint8)
    if faces.ndim == 3:
        faces = faces[None]
    if faces.ndim != 4 or faces.shape[1:] != (R, R, 3):
        raise SwaplibError(f"swap_faces: faces must be (N,{R},{R},3) for this model, got {faces.shape}")
    device = torch.device(device)
    out_rgb = np.empty(faces.shape, np.uint8)
    out_mask = np.empty(faces.shape[:3], np.float32)
    for i in range(0, len(faces), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(faces[i : i + batch_size])).to(device)
        x = x.permute(0, 3, 1, 2).float().div_(255)
        rgb, mask = model.swap(x)
        out_rgb[i : i + batch_size] = (rgb.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        out_mask[i : i + batch_size] = mask[:, 0].clamp(0, 1).cpu().numpy()
    return out_rgb, out_mask
