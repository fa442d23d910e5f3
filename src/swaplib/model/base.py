"""What every swap model offers, whatever its family: the interface training and merging use.

    model(x, "src")      x through the source identity: reconstruction of src faces, or the swap
                         when x are destination faces
    model(x, "dst")      x through the destination identity (reconstruction of dst faces)
    model.forward_pair(xs, xd)   both training passes at once, sharing the encoder's batch
    model.swap(dst)      the face swap, eval mode, no grad

Images are float 0..1, channels first; a model does not care whether they are RGB or BGR and
gives back the order it was given (swaplib trains in OpenCV's BGR).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn

from ..errors import SwaplibError
from .config import ModelConfig


def autocast(device: torch.device):
    """bf16 mixed precision on CUDA (when supported); plain fp32 everywhere else."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class SwapModel(nn.Module):
    DECODERS = ("src", "dst")

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg

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
            with autocast(dst_faces.device):
                rgb, mask = self(dst_faces, "src")
            return rgb.float(), mask.float()
        finally:
            self.train(was_training)
