"""The face-swap networks (DFL's DF and LIAE families) and how to use a trained one.

    config.py   ModelConfig, DFL's architecture strings (df-ud, liae-udt, ...), the presets
    blocks.py   encoder, inter, decoder: DFL's DeepFake building blocks with options u, d, t
    df.py       DFModel: shared encoder + inter, one decoder per identity
    liae.py     LIAEModel: shared encoder, inter_AB + inter_B, one shared decoder
    base.py     the interface both offer (forward, forward_pair, swap) and autocast

This file: build a model from its config, load a trained model.pt, swap faces with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from swaplib.core.errors import SwaplibError
from swaplib.model.base import PRECISIONS, SwapModel, amp_dtype, autocast, precision_name
from swaplib.model.config import ARCHI_OPTIONS, ARCHI_TYPES, PRESETS, ModelConfig, model_config, parse_archi
from swaplib.model.df import DFModel
from swaplib.model.liae import LIAEModel

MODEL_FORMAT = "swaplib-model/1"  # what model.pt holds (see load_model)
FAMILIES = {"df": DFModel, "liae": LIAEModel}

__all__ = [
    "ARCHI_OPTIONS", "ARCHI_TYPES", "FAMILIES", "MODEL_FORMAT", "PRECISIONS", "PRESETS", "DFModel", "LIAEModel",
    "ModelConfig", "SwapModel", "amp_dtype", "autocast", "precision_name", "build_model", "count_parameters", "load_model", "model_config", "parse_archi",
    "resolve_device", "swap_faces",
]


def build_model(cfg: ModelConfig) -> SwapModel:
    """The network for `cfg.archi` (df… or liae…), freshly initialised."""
    return FAMILIES[cfg.kind](cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise SwaplibError(f"device {device!r} is not a device name ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SwaplibError(f"device {device!r} asked for, but no CUDA GPU is available here")
    return dev


def swap_faces(
    model: SwapModel, faces_bgr_uint8: np.ndarray, device: str | torch.device = "cpu", batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Swap aligned faces (N,R,R,3) uint8 → (swapped faces (N,R,R,3) uint8, masks (N,R,R) float32 0..1).

    The swapped faces come back in the channel order they went in (BGR in, BGR out).
    `model` should already be on `device` (load_model puts it there).
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


def load_model(model_path, device="cpu", precision: str = "fp32") -> tuple[SwapModel, dict]:
    """Load model.pt → (model in eval mode on `device`, swapping in `precision` (model.base.amp_dtype);
    metadata: model_config, iterations, settings, losses, masks_trained, faces). Only tensors and
    plain data are unpickled (weights_only)."""
    path = Path(model_path)
    if not path.is_file():
        raise SwaplibError(f"{path}: model file not found (train the model first)")
    dev = resolve_device(str(device))
    try:
        with path.open("rb") as file:  # a file, not a name: torch reads a *.safetensors name as safetensors
            obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:
        raise SwaplibError(f"{path}: not a readable model file (truncated or corrupt? {e.__class__.__name__}: {e}); "
                           f"retrain it") from None
    if not isinstance(obj, dict) or "model_config" not in obj or "state_dict" not in obj:
        raise SwaplibError(f"{path}: not a swaplib model file (no model_config/state_dict inside)")
    try:
        model = build_model(ModelConfig.from_dict(obj["model_config"]))
        model.load_state_dict(obj["state_dict"])
    except (SwaplibError, RuntimeError, TypeError) as e:
        raise SwaplibError(f"{path}: model file does not match its architecture: {e}") from None
    model.for_inference(dev, precision)
    meta = {k: v for k, v in obj.items() if k != "state_dict"}
    return model, meta
