"""The segmentation settings: config.yaml `xseg:`, key for key, checked on creation (docs/masks.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from swaplib.core.errors import SwaplibError
from swaplib.core.settings import from_section, is_number, is_whole


@dataclass(frozen=True)
class XSegSettings:
    enabled: bool = False  # off: no segmentation model, no masks; nothing else changes
    name: str = "faces"  # results/xseg/{name}/: the one model the videos share
    videos: list = field(default_factory=list)  # the videos whose faces it learns ([] = every video)
    labels_dir: str = "labels"  # labels/{video}/: LabelMe JSON polygons or PNG masks (swaplib.xseg.labels)
    resolution: int = 64  # crop px the model sees (a multiple of 16)
    width: int = 16  # channels of the network's first level (each of its 4 deeper levels doubles them)
    iterations: int = 3000  # training steps; raising it continues from the saved state
    batch_size: int = 16
    lr: float = 0.001  # Adam's learning rate
    occlusion: float = 0.6  # share of training samples given a synthetic occluder
    labelled_share: float = 0.5  # share of samples drawn from the user's labelled faces, where there are any
    seed: int = 0
    save_every: int = 500  # checkpoint interval (changes no output)
    device: str = "auto"  # auto (a CUDA GPU if there is one, else cpu), cpu, cuda, cuda:1 (changes no output)

    def __post_init__(self):
        if not isinstance(self.enabled, bool):
            raise SwaplibError(f"xseg.enabled must be true or false, got {self.enabled!r}")
        for name in ("name", "labels_dir", "device"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise SwaplibError(f"xseg.{name} must be a non-empty string, got {getattr(self, name)!r}")
        if not isinstance(self.videos, (list, tuple)) or not all(isinstance(v, str) for v in self.videos):
            raise SwaplibError(f"xseg.videos must be a list of video names, got {self.videos!r}")
        ranges = {
            "resolution": is_whole(self.resolution) and self.resolution >= 16 and self.resolution % 16 == 0,
            "width": is_whole(self.width) and self.width >= 1,
            "iterations": is_whole(self.iterations) and self.iterations >= 1,
            "batch_size": is_whole(self.batch_size) and self.batch_size >= 1,
            "lr": is_number(self.lr) and self.lr > 0,
            "occlusion": is_number(self.occlusion) and 0 <= self.occlusion <= 1,
            "labelled_share": is_number(self.labelled_share) and 0 <= self.labelled_share <= 1,
            "seed": is_whole(self.seed),
            "save_every": is_whole(self.save_every) and self.save_every >= 0,
        }
        bad = [name for name, ok in ranges.items() if not ok]
        if bad:
            raise SwaplibError("xseg settings out of range: " + ", ".join(f"{n}={getattr(self, n)!r}" for n in bad))


def xseg_settings(section: dict) -> XSegSettings:
    return from_section(XSegSettings, section, "xseg")
