"""The segmentation network: a small U-Net on aligned face crops.

Input: BGR crops 0..1, (N, 3, R, R), R = XSegConfig.resolution (a multiple of 2**depth). Output:
one mask logit per pixel, (N, 1, R, R); sigmoid gives the mask. Each level is two 3x3 conv +
BatchNorm + ReLU; the encoder halves the size with max-pooling, the decoder doubles it back
(nearest) and joins the encoder's features of that size (the skip connections that keep the mask's
edges where the image's are). Small on purpose: it runs on every face of a clip, on a CPU too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from swaplib.core.errors import SwaplibError

KIND = "xseg"  # model_config["kind"] in the model file: tells an XSeg file from a swap model's


@dataclass(frozen=True)
class XSegConfig:
    """What shapes the network; two checkpoints are compatible iff these are equal."""

    resolution: int = 64  # crop px
    width: int = 16  # channels of the first level; each deeper level doubles them
    depth: int = 4  # number of halvings

    def __post_init__(self):
        for name in ("resolution", "width", "depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise SwaplibError(f"xseg {name} must be a positive integer, got {value!r}")
        if self.resolution % (2**self.depth):
            raise SwaplibError(f"xseg resolution {self.resolution} must be a multiple of {2**self.depth}")

    def to_dict(self) -> dict:
        return {"kind": KIND, **asdict(self)}

    @classmethod
    def from_dict(cls, values: dict) -> XSegConfig:
        if values.get("kind") != KIND:
            raise SwaplibError(f"not an xseg model (model kind {values.get('kind')!r})")
        return cls(**{k: v for k, v in values.items() if k != "kind"})


def _level(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class XSegNet(nn.Module):
    def __init__(self, cfg: XSegConfig):
        super().__init__()
        self.cfg = cfg
        widths = [cfg.width * 2**i for i in range(cfg.depth + 1)]  # e.g. 16 32 64 128 256 (the bottom)
        self.down = nn.ModuleList([_level(3, widths[0])] + [_level(a, b) for a, b in zip(widths, widths[1:])])
        self.up = nn.ModuleList([_level(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(cfg.depth))])
        self.out = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, level in enumerate(self.down):
            x = level(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()  # the bottom level is x itself
        for level in self.up:
            x = level(torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skips.pop()], dim=1))
        return self.out(x)
