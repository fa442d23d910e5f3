"""AMP: one shared encoder and decoder, two inters whose codes training mixes (DFL's "amp" model).

    x ─Encoder─▶ ─dense─▶ z (ae_dims) ─┬─ inter_src ─▶ s   (inter_dims x R/32 x R/32)
                                        └─ inter_dst ─▶ d

    training, src faces   decoder(s on a random int(inter_dims·morph_factor) of the channels, d on the rest)
    training, dst faces   decoder(d)
    swap at morph m       decoder(s on the first int(inter_dims·m) channels, d on the rest); m = 1: s whole

The encoder is DF's with options u and t (five downscales with residual blocks, a normalised code),
followed by one dense layer down to ae_dims that both people share; the decoder is DF's with
options d and t, drawing both people from inter_dims channels. The inters are single dense layers
that training leaves as they were made (the optimizer gets only the encoder and the decoder, as in
DFL): two fixed random projections of the shared code z. What makes a face the source is then the
share of its code that comes through inter_src, which the decoder learns from the source faces'
mixed codes; at merge time the morph factor says how much of the destination's code to take
through inter_src, from 0 (the destination redrawn) to 1 (the full swap). The same fixed inters
are why a switch from pretraining keeps them: the encoder and decoder learnt around them.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from swaplib.model.base import SwapModel, family
from swaplib.model.blocks import Decoder, Encoder, init_weights
from swaplib.model.config import ModelConfig

ENCODER_OPTS, DECODER_OPTS = "ut", "dt"  # AMP's layout in DF's options


class CodeGrid(nn.Module):
    """Dense ae_dims → inter_dims channels on the (R/32)² grid: one of AMP's inters."""

    def __init__(self, ae_dims: int, inter_dims: int, resolution: int):
        super().__init__()
        self.channels, self.grid = inter_dims, resolution // 32
        self.dense = nn.Linear(ae_dims, self.grid * self.grid * inter_dims)

    def forward(self, z):
        return self.dense(z).view(-1, self.channels, self.grid, self.grid)


@family("amp")
class AMPModel(SwapModel):
    MORPHS = True
    # FRESH_AFTER_BASE stays empty: the inters are fixed projections the encoder and decoder learnt around
    OWN_LOSS_TERMS = True  # DFL's AMP recipe: both DSSIM windows, its destination background loss
    GAN_SIDES = ("src", "dst")  # AMP's GAN judges both people's reconstructions

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        if cfg.kind != "amp":
            raise ValueError(f"AMPModel builds the amp family, not {cfg.archi!r}")
        R = cfg.resolution
        self.encoder = Encoder(cfg.e_dims, ENCODER_OPTS)
        self.dense = nn.Linear(self.encoder.out_ch * Encoder.out_res(R, ENCODER_OPTS) ** 2, cfg.ae_dims)
        self.inter_src = CodeGrid(cfg.ae_dims, cfg.inter_dims, R)
        self.inter_dst = CodeGrid(cfg.ae_dims, cfg.inter_dims, R)
        self.decoder = Decoder(cfg.inter_dims, cfg.d_dims, cfg.d_mask_dims, DECODER_OPTS)
        init_weights(self)
        self.inter_src.requires_grad_(False)  # fixed projections: training gives them no optimizer state
        self.inter_dst.requires_grad_(False)

    def morph_channels(self, morph_factor: float) -> int:
        """How many of the code's channels come from inter_src at `morph_factor` (rounded down, as DFL)."""
        return int(self.cfg.inter_dims * morph_factor)

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.encoder(x))

    def morphed(self, z: torch.Tensor, morph_factor: float) -> torch.Tensor:
        """The code of z with inter_src's first channels and inter_dst's others."""
        k = self.morph_channels(morph_factor)
        return torch.cat([self.inter_src(z)[:, :k], self.inter_dst(z)[:, k:]], dim=1)

    def forward(self, x: torch.Tensor, decoder: str) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B,3,R,R) float 0..1 → (rgb (B,3,R,R), mask (B,1,R,R)) as the chosen identity: "dst" the
        inter_dst code, "src" the swap's morph (use_morph_factor; 1: the inter_src code whole)."""
        self.check_decoder(decoder)
        self.check_input(x)
        z = self.latent(x)
        return self.decoder(self.inter_dst(z) if decoder == "dst" else self.morphed(z, self.swap_morph))

    def swap_pass(self, dst_faces: torch.Tensor, morph_factor: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_morph_factor(morph_factor)
        self.check_input(dst_faces)
        return self.decoder(self.morphed(self.latent(dst_faces), morph_factor))

    def swap_pass_at(self, dst_faces: torch.Tensor, morph_value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """swap_pass with the morph factor a tensor (an exported graph's input, DFL's morph_value): the
        same channels, chosen by a 0/1 mask, so that the graph keeps the factor free."""
        z = self.latent(dst_faces)
        k = torch.floor(self.cfg.inter_dims * morph_value.reshape(-1)[:1])
        from_src = (torch.arange(self.cfg.inter_dims, device=z.device) < k).to(z.dtype).view(1, -1, 1, 1)
        return self.decoder(self.inter_src(z) * from_src + self.inter_dst(z) * (1 - from_src))

    def forward_pair(self, xs, xd):
        """Training: one encoder pass over src+dst and one decoder pass of 2B. The src faces' code takes
        int(inter_dims·morph_factor) channels from inter_src and the rest from inter_dst: a fresh random
        choice per face in training mode (DFL's morph), the first channels in eval mode."""
        self.check_input(xs)
        self.check_input(xd)
        n = len(xs)
        z = self.latent(torch.cat([xs, xd]))
        d, s = self.inter_dst(z), self.inter_src(z[:n])
        k = self.morph_channels(self.cfg.morph_factor)
        rank = torch.rand(n, s.shape[1], device=s.device).argsort(dim=1) if self.training else \
            torch.arange(s.shape[1], device=s.device).expand(n, -1)
        from_src = (rank < k)[:, :, None, None]  # exactly k channels of each face
        rgb, mask = self.decoder(torch.cat([torch.where(from_src, s, d[:n]), d[n:]]))
        return rgb[:n], mask[:n], rgb[n:], mask[n:]
