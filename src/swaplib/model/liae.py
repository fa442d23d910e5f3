"""LIAE: one shared encoder, two inters, one shared decoder (DFL's "liae" family).

    x ─Encoder─▶ e ─┬─ inter_AB ─▶ ab    (a code for both people)
                    └─ inter_B  ─▶ b     (a code learnt from destination faces only)

    src identity:  decoder([ab, ab])     src faces → their reconstruction; dst faces → the swap
    dst identity:  decoder([b,  ab])     dst faces → their reconstruction

The single decoder draws both people; what makes a face the destination person is inter_B's half
of the code. Swapping replaces it with inter_AB's. Copes better than DF with differently shaped
faces, at some cost in likeness to the source.
"""

from __future__ import annotations

import torch

from swaplib.model.base import SwapModel, family
from swaplib.model.blocks import Decoder, Encoder, Inter, init_weights
from swaplib.model.config import ModelConfig


@family("liae")
class LIAEModel(SwapModel):
    FRESH_AFTER_BASE = ("inter_AB", "inter_B")  # DFL's switch from pretraining: fresh inters, the rest kept
    FROZEN_WITHOUT_WARP = ("inter_AB",)  # DFL: without warp, the shared code stays as it is
    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        if cfg.kind != "liae":
            raise ValueError(f"LIAEModel builds the liae family, not {cfg.archi!r}")
        R, opts = cfg.resolution, cfg.opts
        self.encoder = Encoder(cfg.e_dims, opts)
        code = self.encoder.out_ch * Encoder.out_res(R, opts) ** 2
        self.inter_AB = Inter(code, cfg.ae_dims, cfg.ae_dims * 2, R, opts)
        self.inter_B = Inter(code, cfg.ae_dims, cfg.ae_dims * 2, R, opts)
        self.decoder = Decoder(cfg.ae_dims * 4, cfg.d_dims, cfg.d_mask_dims, opts)
        init_weights(self)

    def forward(self, x: torch.Tensor, decoder: str) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B,3,R,R) float 0..1 → (rgb (B,3,R,R), mask (B,1,R,R)) as the chosen identity."""
        self.check_decoder(decoder)
        self.check_input(x)
        e = self.encoder(x)
        ab = self.inter_AB(e)
        code = torch.cat([ab, ab] if decoder == "src" else [self.inter_B(e), ab], dim=1)
        return self.decoder(code)

    def forward_pair(self, xs, xd):
        """Training: one encoder and inter_AB pass over src+dst, inter_B on dst, one decoder pass of 2B."""
        self.check_input(xs)
        self.check_input(xd)
        n = len(xs)
        e = self.encoder(torch.cat([xs, xd]))
        ab = self.inter_AB(e)
        code = torch.cat([torch.cat([ab[:n], ab[:n]], dim=1), torch.cat([self.inter_B(e[n:]), ab[n:]], dim=1)])
        rgb, mask = self.decoder(code)
        return rgb[:n], mask[:n], rgb[n:], mask[n:]
