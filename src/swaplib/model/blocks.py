"""DFL's DeepFake building blocks, shared by the DF, LIAE and AMP families: encoder, inter, decoder.

Sizes for a resolution R, without options (channels x px):

    Encoder   3xR ─down─▶ e x R/2 ─down─▶ 2e x R/4 ─down─▶ 4e x R/8 ─down─▶ 8e x R/16 ─flatten─▶
    Inter     ─dense─▶ ae ─dense─▶ out x (R/16)² ─upscale─▶ out x R/8
    Decoder   in x R/8 ─up+res─▶ 8d x R/4 ─up+res─▶ 4d x R/2 ─up+res─▶ 2d x R ─conv1x1─▶ rgb (sigmoid)
              in x R/8 ─up─▶ 8m ─up─▶ 4m ─up─▶ 2m x R ─conv1x1─▶ mask (sigmoid), a thinner branch

    down = conv 5x5 stride 2 + LeakyReLU 0.1;  up = conv 3x3 to 4x channels + LeakyReLU 0.1 + pixel
    shuffle;  res = two conv 3x3 with a skip connection, LeakyReLU 0.2

Options (see config.py): u pixel-normalises the flattened encoder output; d makes the inter's grid
R/32 (so the decoders run at half size), gives the decoder four rgb convs whose outputs are the four
sub-pixels of a 2x larger image, and one more mask upscale; t adds a fifth downscale and two residual
blocks to the encoder, drops the inter's upscale and adds a fourth up+res stage to the decoders;
c replaces every LeakyReLU (0.1 and 0.2 alike) with x·cos(x), weights unchanged.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def activation(x: torch.Tensor, slope: float, cosine: bool) -> torch.Tensor:
    """LeakyReLU with `slope`, or with option c x·cos(x), which has no slope."""
    return x * torch.cos(x) if cosine else F.leaky_relu(x, slope)


class Downscale(nn.Module):
    """conv 5x5 stride 2, LeakyReLU 0.1: halves the size."""

    def __init__(self, in_ch: int, out_ch: int, cosine: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=5, stride=2, padding=2)
        self.cosine = cosine

    def forward(self, x):
        return activation(self.conv(x), 0.1, self.cosine)


class Upscale(nn.Module):
    """conv 3x3 to 4x the channels, LeakyReLU 0.1, pixel shuffle (depth to space): doubles the size."""

    def __init__(self, in_ch: int, out_ch: int, cosine: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch * 4, kernel_size=3, padding=1)
        self.cosine = cosine

    def forward(self, x):
        return F.pixel_shuffle(activation(self.conv(x), 0.1, self.cosine), 2)


class ResidualBlock(nn.Module):
    def __init__(self, ch: int, cosine: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, kernel_size=3, padding=1)
        self.cosine = cosine

    def forward(self, x):
        y = activation(self.conv1(x), 0.2, self.cosine)
        return activation(x + self.conv2(y), 0.2, self.cosine)


def pixel_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Scale each sample's feature vector to unit root mean square (option u), in float32."""
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.square().mean(dim=1, keepdim=True) + eps)).to(x.dtype)


class Encoder(nn.Module):
    """(B,3,R,R) → flat (B, 8·e · (R/16)²), or (R/32)² with option t."""

    def __init__(self, e_dims: int, opts: str, in_ch: int = 3):
        super().__init__()
        e, c = e_dims, "c" in opts
        self.opts = opts
        if "t" in opts:
            layers = [Downscale(in_ch, e, c), ResidualBlock(e, c), Downscale(e, e * 2, c), Downscale(e * 2, e * 4, c),
                      Downscale(e * 4, e * 8, c), Downscale(e * 8, e * 8, c), ResidualBlock(e * 8, c)]
        else:
            layers = [Downscale(in_ch, e, c), Downscale(e, e * 2, c), Downscale(e * 2, e * 4, c),
                      Downscale(e * 4, e * 8, c)]
        self.downs = nn.Sequential(*layers)  # (name kept from swaplib's first model: its files still load)
        self.out_ch = e * 8

    @staticmethod
    def out_res(resolution: int, opts: str) -> int:
        return resolution // (32 if "t" in opts else 16)

    def forward(self, x):
        x = self.downs(x).flatten(1)
        return pixel_norm(x) if "u" in self.opts else x


class Inter(nn.Module):
    """Flat code → dense ae_dims (the bottleneck) → dense back onto a small grid → (upscale).

    Out: (B, out_ch, g, g) with g = R/8 (R/16 with option d; with option t there is no upscale,
    so R/16, or R/32 with t and d)."""

    def __init__(self, in_features: int, ae_dims: int, out_ch: int, resolution: int, opts: str):
        super().__init__()
        self.out_ch = out_ch
        self.lowres = resolution // (32 if "d" in opts else 16)
        self.dense1 = nn.Linear(in_features, ae_dims)
        self.dense2 = nn.Linear(ae_dims, self.lowres * self.lowres * out_ch)
        self.up = None if "t" in opts else Upscale(out_ch, out_ch, "c" in opts)

    def forward(self, x):
        x = self.dense2(self.dense1(x))  # linear, as in DFL
        x = x.view(-1, self.out_ch, self.lowres, self.lowres)
        return x if self.up is None else self.up(x)


class Decoder(nn.Module):
    """Inter's grid → rgb (B,3,R,R) and mask (B,1,R,R), both sigmoid 0..1."""

    def __init__(self, in_ch: int, d_dims: int, d_mask_dims: int, opts: str):
        super().__init__()
        d, m, c = d_dims, d_mask_dims, "c" in opts
        chs = [in_ch, d * 8, d * 8, d * 4, d * 2] if "t" in opts else [in_ch, d * 8, d * 4, d * 2]
        self.ups = nn.ModuleList([Upscale(a, b, c) for a, b in zip(chs[:-1], chs[1:])])
        self.res = nn.ModuleList([ResidualBlock(b, c) for b in chs[1:]])
        self.to_rgb = nn.Conv2d(d * 2, 3, kernel_size=1)
        # Option d: three more rgb convs (3x3, as DFL); the four give the four sub-pixels of a 2x image.
        self.to_rgb_subpixels = nn.ModuleList(
            [nn.Conv2d(d * 2, 3, kernel_size=3, padding=1) for _ in range(3)] if "d" in opts else [])
        mchs = [in_ch, m * 8, m * 8, m * 4, m * 2] if "t" in opts else [in_ch, m * 8, m * 4, m * 2]
        if "d" in opts:
            mchs.append(m)
        self.mask_ups = nn.Sequential(*[Upscale(a, b, c) for a, b in zip(mchs[:-1], mchs[1:])])
        self.to_mask = nn.Conv2d(mchs[-1], 1, kernel_size=1)

    def forward(self, z):
        x = z
        for up, res in zip(self.ups, self.res):
            x = res(up(x))
        rgb = self.to_rgb(x)
        if len(self.to_rgb_subpixels):  # (B, 3, 4 sub-pixels, h, w) → (B, 3·4, h, w) → (B, 3, 2h, 2w)
            rgb = torch.stack([rgb] + [conv(x) for conv in self.to_rgb_subpixels], dim=2).flatten(1, 2)
            rgb = F.pixel_shuffle(rgb, 2)
        mask = self.to_mask(self.mask_ups(z))
        return torch.sigmoid(rgb), torch.sigmoid(mask)


def init_weights(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases, as TensorFlow/DFL initialise dense and conv layers."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
