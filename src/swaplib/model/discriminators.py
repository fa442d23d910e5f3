"""The two discriminators of DFL's SAEHD training, used only while training (never in a model file).

UNetPatchDiscriminator (GAN power) judges faces patch by patch, as a U-Net: an encoder of 3x3
convs whose receptive field is the patch size, a verdict at its centre (one logit per patch), and a
decoder with skip connections back to full size (one logit per pixel). Its layers follow from the
patch size as DFL finds them: the first conv has stride 2, each further one stride 1 or 2, and of
all such stacks of up to 9 convs the one whose receptive field is nearest the patch size wins
(fewest layers first, then the most downscaling). Channels: gan_dims, doubled per level, at most 512.

    face ─1x1─▶ d ─3x3/s─▶ 2d ─3x3/s─▶ 4d ... ─▶ centre ─1x1─▶ patch logits
                │            │                     │
                └──concat◀─up─┴──concat◀─up ... ◀──┘ 1x1 conv ─▶ 2d ─1x1─▶ pixel logits

CodeDiscriminator (true face power, df family) judges the inter's output (the face code): 1 + code
size / 8 convs of stride 2 (4x4, then 3x3), 256 channels doubled per level up to 8x, then a 1x1 conv
to one logit per position.

LeakyReLU 0.2 (U-Net) and 0.1 (code); Glorot-uniform weights and zero biases, as the model's.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from swaplib.model.blocks import init_weights

MAX_PATCH_LAYERS = 9


def receptive_field(strides: tuple[int, ...], kernel: int = 3) -> int:
    """The receptive field in px of a stack of `kernel`-sized convs with these strides."""
    field, step = 1, 1
    for stride in strides:
        field += (kernel - 1) * step
        step *= stride
    return field


def patch_strides(patch_size: int) -> tuple[int, ...]:
    """The strides of the 3x3 convs whose receptive field is nearest `patch_size` (a tie: the smaller
    field); of the stacks that reach one field, the one with the fewest convs, then the most downscaling."""
    best: dict[int, tuple[int, ...]] = {}
    for n in range(1, MAX_PATCH_LAYERS + 1):
        for bits in reversed(range(2 ** (n - 1))):  # bit i: conv i+1 has stride 2 (all 2s first: they win a tie)
            strides = (2, *(1 + (bits >> i & 1) for i in range(n - 1)))
            field = receptive_field(strides)
            known = best.get(field)
            if known is None or (len(known) == n and sum(strides) > sum(known)):
                best[field] = strides
    nearest = min(sorted(best), key=lambda field: abs(field - patch_size))
    return best[nearest]


class UNetPatchDiscriminator(nn.Module):
    """(B,C,R,R) → (patch logits (B,1,r,r) at the centre, pixel logits (B,1,R,R))."""

    def __init__(self, patch_size: int, dims: int = 16, in_ch: int = 3):
        super().__init__()
        self.strides = patch_strides(patch_size)
        chs = [min(dims * 2**i, 512) for i in range(len(self.strides) + 1)]  # chs[0]: after the 1x1 input conv
        self.in_conv = nn.Conv2d(in_ch, chs[0], kernel_size=1)
        self.downs = nn.ModuleList(nn.Conv2d(a, b, 3, stride=s, padding=1)
                                   for a, b, s in zip(chs[:-1], chs[1:], self.strides))
        self.center_out = nn.Conv2d(chs[-1], 1, kernel_size=1)
        self.center_conv = nn.Conv2d(chs[-1], chs[-1], kernel_size=1)
        # Deepest first; each level's input is the level below's output concatenated with its skip
        # (the deepest has no skip: it takes the centre alone).
        ups = []
        for level in reversed(range(len(self.strides))):
            width = chs[level + 1] * (1 if level == len(self.strides) - 1 else 2)
            stride = self.strides[level]
            ups.append(nn.ConvTranspose2d(width, chs[level], 3, stride=stride, padding=1, output_padding=stride - 1))
        self.ups = nn.ModuleList(ups)
        self.out_conv = nn.Conv2d(chs[0] * 2, 1, kernel_size=1)
        init_weights(self)
        for m in self.ups:
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.leaky_relu(self.in_conv(x), 0.2)
        skips = []
        for down in self.downs:
            skips.append(x)
            x = F.leaky_relu(down(x), 0.2)
        center = self.center_out(x)
        x = F.leaky_relu(self.center_conv(x), 0.2)
        for up, skip in zip(self.ups, reversed(skips)):
            x = F.leaky_relu(up(x), 0.2)[..., : skip.shape[-2], : skip.shape[-1]]  # odd sizes: crop to the skip
            x = torch.cat([skip, x], 1)
        return center, self.out_conv(x)


class CodeDiscriminator(nn.Module):
    """(B,C,g,g) face codes → (B,1,g',g') logits."""

    def __init__(self, in_ch: int, code_res: int, ch: int = 256):
        super().__init__()
        convs, prev = [], in_ch
        for i in range(1 + code_res // 8):
            out = ch * min(2**i, 8)
            convs.append(nn.Conv2d(prev, out, kernel_size=4 if i == 0 else 3, stride=2, padding=1))
            prev = out
        self.convs = nn.ModuleList(convs)
        self.out_conv = nn.Conv2d(prev, 1, kernel_size=1)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
        return self.out_conv(x)
