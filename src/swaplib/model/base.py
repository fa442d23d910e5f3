"""What every swap model offers, whatever its family: the interface training and merging use, and
the device and precision it runs in.

    model(x, "src")      x through the source identity: reconstruction of src faces, or the swap
                         when x are destination faces
    model(x, "dst")      x through the destination identity (reconstruction of dst faces)
    model.forward_pair(xs, xd)   both training passes at once, sharing the encoder's batch
    model.swap(dst)      the face swap, eval mode, no grad, in the precision for_inference chose

Images are float 0..1, channels first; a model does not care whether they are RGB or BGR and
gives back the order it was given (swaplib trains in OpenCV's BGR).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn

from swaplib.core.errors import SwaplibError
from swaplib.model.config import ModelConfig

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def amx_available() -> bool:
    """Whether this CPU has AMX tiles (Xeon 4th gen on): bf16 matrix units, 3-4x fp32's speed."""
    return getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()


def resolve_device(device: str) -> torch.device:
    """A device name (auto: cuda if available, else cpu) → torch.device, checked to exist here."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise SwaplibError(f"device {device!r} is not a device name ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SwaplibError(f"device {device!r} asked for, but no CUDA GPU is available here")
    return dev


def amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision setting on `device`, or None for plain fp32.

    auto: bf16 on a GPU that has it (else fp16) and on CPUs with AMX; fp32 on other CPUs, where
    bf16 is emulated and slower than fp32.
    """
    if precision not in PRECISIONS:
        raise SwaplibError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "fp32":
        return None
    if precision == "fp16":
        if device.type != "cuda":
            raise SwaplibError("precision fp16 needs a CUDA device; use bf16 or fp32 on CPU")
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amx_available() else None


def precision_name(dtype: torch.dtype | None) -> str:
    """fp32, bf16 or fp16: how records and logs name an autocast dtype (None = plain fp32)."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Mixed precision in `dtype` on `device`; a no-op for None (fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


class SwapModel(nn.Module):
    DECODERS = ("src", "dst")

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.amp: torch.dtype | None = None  # autocast dtype of swap(); set by for_inference

    def for_inference(self, device: torch.device, precision: str = "fp32") -> SwapModel:
        """Eval mode on `device`, swapping in `precision` (see amp_dtype), with channels_last weights:
        oneDNN's and cuDNN's fast layout (on 2 AMX cores, Quick96 per face: fp32 30 ms, fp32
        channels_last 24, bf16 channels_last 7.5)."""
        self.amp = amp_dtype(precision, device)
        self.to(device, memory_format=torch.channels_last)
        return self.eval()

    def check_input(self, x: torch.Tensor) -> None:
        R = self.cfg.resolution
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, R, R):
            raise SwaplibError(f"model expects faces of shape (B,3,{R},{R}), got {tuple(x.shape)}")

    def check_decoder(self, decoder: str) -> None:
        if decoder not in self.DECODERS:
            raise SwaplibError(f"decoder must be one of {self.DECODERS}, got {decoder!r}")

    def forward_pair(self, xs: torch.Tensor, xd: torch.Tensor):
        """(src rgb, src mask, dst rgb, dst mask): src through "src", dst through "dst"."""
        return (*self(xs, "src"), *self(xd, "dst"))

    @torch.no_grad()
    def swap(self, dst_faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The face swap: destination faces drawn as the SOURCE identity (eval mode, no grad)."""
        was_training = self.training
        self.eval()
        try:
            with autocast(dst_faces.device, self.amp):
                rgb, mask = self(dst_faces, "src")
            return rgb.float(), mask.float()
        finally:
            self.train(was_training)
