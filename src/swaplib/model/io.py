"""The model file, model.safetensors: the one writer and reader of a trained model.

    weights   the model's state dict as safetensors tensors (no pickle: loading runs no code)
    header    JSON in safetensors' metadata under "swaplib": {"format": "swaplib-model/2",
              "model_config": the architecture (ModelConfig), "swaplib_version", and what training
              records: iterations, settings (resolved), face_type, faces (ids), losses, masks_trained,
              best_loss, base (the shared base it started from, if any)}, and weights_sha256 (weights_digest)

The architecture travels in the file, so whoever loads a model needs no preset or setting.
Loading checks the format first and names the file and the problem: an old model.pt (a torch
pickle), a safetensors file without swaplib's header, a truncated file, another format version.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from swaplib import __version__
from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.model.base import SwapModel, resolve_device
from swaplib.model.build import build_model
from swaplib.model.config import ModelConfig

MODEL_FILE = "model.safetensors"
MODEL_FORMAT = "swaplib-model/2"  # /1 was model.pt, a torch pickle
HEADER_KEY = "swaplib"
_MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header


def weights_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of the weights alone (names, dtypes, shapes, values): what a model computes, whatever the
    header says (the swaplib version, say); a model that starts from a base records its base's."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def save_model(path: str | Path, model: SwapModel, **record) -> None:
    """Write `model`'s weights and header (+ `record`: JSON-able facts of its training) durably."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {"format": MODEL_FORMAT, "swaplib_version": __version__, "model_config": model.cfg.to_dict(),
              "weights_sha256": weights_digest(tensors), **record}
    text = json.dumps(header, sort_keys=True, allow_nan=False)
    with atomic_path(path, durable=True) as tmp:
        save_file(tensors, str(tmp), metadata={HEADER_KEY: text})


def read_header(path: str | Path) -> dict:
    """The swaplib header of a model file, format-checked; SwaplibError naming the file when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise SwaplibError(f"{path}: model file not found (train the model first)")
    size = path.stat().st_size
    with open(path, "rb") as f:
        start = f.read(9)
        safetensors = start[8:9] == b"{"  # an 8-byte header length, then the JSON header itself
        if not safetensors and (start[:4] == b"PK\x03\x04" or start[:1] == b"\x80"):  # a torch.save zip or pickle
            raise SwaplibError(f"{path}: an old swaplib model file (a torch pickle, format swaplib-model/1); this "
                               f"version reads {MODEL_FILE} (format {MODEL_FORMAT}): rerun the train rule, which "
                               f"writes it from the training state without training again")
        n = struct.unpack("<Q", start[:8])[0] if len(start) == 9 else -1
        if not 0 < n <= min(size - 8, _MAX_HEADER):
            raise SwaplibError(f"{path}: not a readable model file (no safetensors header: truncated or not a model); "
                               f"retrain it")
        try:
            f.seek(8)
            meta = json.loads(f.read(n)).get("__metadata__") or {}
        except (ValueError, AttributeError):
            raise SwaplibError(f"{path}: not a readable model file (its safetensors header is not JSON: truncated "
                               f"or corrupt); retrain it") from None
    if HEADER_KEY not in meta:
        raise SwaplibError(f"{path}: not a swaplib model file (a safetensors file without swaplib's header)")
    try:
        header = json.loads(meta[HEADER_KEY])
        fmt = header["format"]
    except (ValueError, TypeError, KeyError):
        raise SwaplibError(f"{path}: not a swaplib model file (its swaplib header is unreadable)") from None
    if fmt != MODEL_FORMAT:
        raise SwaplibError(f"{path}: model file format {fmt!r}, but this swaplib reads {MODEL_FORMAT!r}; use the "
                           f"swaplib version that wrote it, or rerun the train rule")
    return header


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """A model file's weights (on the CPU) and its header, format-checked."""
    path = Path(path)
    header = read_header(path)
    try:
        return load_file(path), header
    except (SafetensorError, OSError, ValueError) as e:
        raise SwaplibError(f"{path}: not a readable model file (truncated or corrupt? {e}); retrain it") from None


def load_model(model_path: str | Path, device="cpu", precision: str = "fp32") -> tuple[SwapModel, dict]:
    """Load model.safetensors → (model in eval mode on `device`, swapping in `precision` (base.amp_dtype);
    its header: format, model_config, iterations, settings, losses, masks_trained, faces, face_type, ...)."""
    path = Path(model_path)
    tensors, header = read_weights(path)
    dev = resolve_device(str(device))
    try:
        model = build_model(ModelConfig.from_dict(header["model_config"]))
        model.load_state_dict(tensors)
    except (SwaplibError, RuntimeError, TypeError, KeyError) as e:
        raise SwaplibError(f"{path}: model file does not match its architecture: {e}") from None
    model.for_inference(dev, precision)
    return model, header

