"""DF: one shared encoder and inter, one decoder per identity (DFL's "df" family).

    x ─Encoder─▶ ─Inter─▶ z ─┬─ decoder_src ─▶ rgb, mask     (src faces; dst faces → the swap)
                             └─ decoder_dst ─▶ rgb, mask     (dst faces)

Both identities share one face code z, so z learns pose, expression and light, and each decoder
learns to draw its person from it. Keeps the source's identity best; needs similar face shapes.
"""

from __future__ import annotations

import torch

from swaplib.model.base import SwapModel, family
from swaplib.model.blocks import Decoder, Encoder, Inter, init_weights
from swaplib.model.config import ModelConfig


@family("df")
class DFModel(SwapModel):
    FRESH_AFTER_BASE = ("inter",)  # DFL's switch from pretraining: a fresh inter, the rest kept
    TRUE_FACE = True  # DFL's "true face": one inter code for both people, judged as the source's or not
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        if cfg.kind != "df":
            raise ValueError(f"DFModel builds the df family, not {cfg.archi!r}")
        R, opts = cfg.resolution, cfg.opts
        self.encoder = Encoder(cfg.e_dims, opts)
        code = self.encoder.out_ch * Encoder.out_res(R, opts) ** 2
        self.inter = Inter(code, cfg.ae_dims, cfg.ae_dims, R, opts)
        self.decoder_src = Decoder(cfg.ae_dims, cfg.d_dims, cfg.d_mask_dims, opts)
        self.decoder_dst = Decoder(cfg.ae_dims, cfg.d_dims, cfg.d_mask_dims, opts)
        init_weights(self)

    def forward(self, x: torch.Tensor, decoder: str) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B,3,R,R) float 0..1 → (rgb (B,3,R,R), mask (B,1,R,R)) from the chosen decoder."""
        self.check_decoder(decoder)
        self.check_input(x)
        z = self.inter(self.encoder(x))
        return (self.decoder_src if decoder == "src" else self.decoder_dst)(z)

    def forward_pair(self, xs, xd):
        """Training: src and dst share one encoder+inter pass (one batch of 2B), then each decoder."""
        self.check_input(xs)
        self.check_input(xd)
        zs, zd = self.inter(self.encoder(torch.cat([xs, xd]))).split([len(xs), len(xd)])
        return (*self.decoder_src(zs), *self.decoder_dst(zd))
