"""The merge settings (config.yaml `merge:`), their checks, and the per-frame-range overrides sheet.

`MergeSettings` is the config section itself: its fields are the section's keys with the same
defaults. Most of them say how a face is drawn into a frame and may change by frame range (an
overrides sheet: TSV first_frame, last_frame, setting, value; later rows win), which replaces
DFL's interactive per-frame tweaking; `precision` and `overrides_dir` are the same for the whole
video.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from swaplib.core.color import COLOR_TRANSFERS
from swaplib.core.errors import SwaplibError
from swaplib.core.settings import from_section
from swaplib.merge.enhance import NETWORKS
from swaplib.merge.masks import MASKS
from swaplib.model.base import PRECISIONS

MODES = ("original", "overlay", "hist-match", "seamless", "seamless-hist-match", "raw-rgb", "raw-predict")
SHARPEN = ("none", "box", "gaussian")
OVERRIDE_COLUMNS = ("first_frame", "last_frame", "setting", "value")


# ---------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class MergeSettings:
    """Every merge setting: config.yaml `merge:` key for key, README "Merge settings"; checked on creation."""

    mode: str = "overlay"
    mask: str = "dst"
    color_transfer: str = "rct"
    # DeepFaceLab's mask modifiers, px of the mask at 4x the model's resolution (swaplib.merge.masks)
    erode_mask_modifier: int = 25  # -400..400, ellipse erosion (negative: dilation)
    blur_mask_modifier: int = 70  # 0..400, Gaussian kernel side
    motion_blur: int = 0  # 0..100 % of the face's movement per frame
    face_scale: int = 0  # -50..50 % bigger / smaller
    sharpen: str = "none"
    sharpen_amount: int = 0  # -100..100, DFL's blur/sharpen amount (negative blurs)
    hist_match_threshold: int = 255
    masked_hist_match: bool = True  # hist-match: statistics inside the mask (else over the whole crop)
    image_denoise_power: int = 0  # 0..500, DeepFaceLab's: 100 = about 5.5 median passes (post.denoise_passes)
    bicubic_degrade: int = 0  # 0..100
    color_degrade: int = 0  # 0..100
    precision: str = "auto"  # the model's (model.base.amp_dtype): auto is bf16 on GPUs and CPUs with native bf16
    overrides_dir: str = "merge"  # where the workflow looks for {pair}.tsv, the overrides sheet
    morph_factor: float = 1.0  # amp models: 0..1 of the source's code in the swap (DFL's default 1); others: none
    super_resolution_power: int = 0  # 0..100, DFL's: the face drawn at 4x by Real-ESRGAN, blended by this share
    super_resolution_model: str = "x4plus"  # which Real-ESRGAN network (swaplib.merge.enhance.NETWORKS)

    def __post_init__(self):
        problems = [p for f in dataclasses.fields(self) if (p := _check(f.name, getattr(self, f.name)))]
        if problems:
            raise SwaplibError("invalid merge settings: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def needs_crop_pass(self) -> bool:
        """Whether the pasted face goes back to the crop for DFL's second pass (post-processing)."""
        seamless = self.mode.startswith("seamless")
        return (seamless and self.color_transfer != "none") or self.mode == "seamless-hist-match" or bool(
            self.motion_blur or (self.sharpen != "none" and self.sharpen_amount)
        )


_CHOICES = {"mode": MODES, "mask": MASKS, "color_transfer": COLOR_TRANSFERS, "sharpen": SHARPEN,
            "precision": PRECISIONS, "super_resolution_model": tuple(NETWORKS)}
WHOLE_VIDEO = ("precision", "overrides_dir", "morph_factor", "super_resolution_model")  # not for a frame range
_RANGES = {
    "erode_mask_modifier": (-400, 400), "blur_mask_modifier": (0, 400), "motion_blur": (0, 100),
    "face_scale": (-50, 50), "sharpen_amount": (-100, 100), "hist_match_threshold": (0, 255),
    "image_denoise_power": (0, 500), "bicubic_degrade": (0, 100), "color_degrade": (0, 100),
    "morph_factor": (0, 1), "super_resolution_power": (0, 100),
}
_INTEGERS = {f.name for f in dataclasses.fields(MergeSettings) if f.type == "int"}
_BOOLEANS = {f.name for f in dataclasses.fields(MergeSettings) if f.type == "bool"}
# Keys of an older swaplib whose unit changed with the rename: a stop, never a silent new meaning.
RENAMED = {
    "erode": "erode_mask_modifier, -400..400 in DeepFaceLab's unit (px of the mask at 4x the model's "
             "resolution), no longer a share of the face size",
    "blur": "blur_mask_modifier, 0..400 in DeepFaceLab's unit (px of the mask at 4x the model's resolution), "
            "no longer a share of the face size",
    "denoise": "image_denoise_power, 0..500 in DeepFaceLab's unit (100 is about 5.5 median passes), no longer "
               "100 = one pass",
}


def _check(name: str, value) -> str | None:
    if name == "overrides_dir":
        return None if isinstance(value, str) and value else f"overrides_dir must be a folder name, got {value!r}"
    if name in _CHOICES:
        return None if value in _CHOICES[name] else f"{name} {value!r} is not one of {', '.join(_CHOICES[name])}"
    if name in _BOOLEANS:
        return None if isinstance(value, bool) else f"{name} must be true or false, got {value!r}"
    low, high = _RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name} must be a number, got {value!r}"
    if name in _INTEGERS and value != int(value):
        return f"{name} must be a whole number, got {value!r}"
    return None if low <= value <= high else f"{name} must be within {low}..{high}, got {value!r}"


def merge_settings(values: dict) -> MergeSettings:
    """MergeSettings from a mapping (the config's merge section); unknown keys are errors, and the
    renamed ones name their successor."""
    renamed = [f"{key} is now {RENAMED[key]}" for key in values if key in RENAMED]
    if renamed:
        raise SwaplibError("renamed merge setting(s): " + "; ".join(renamed))
    return from_section(MergeSettings, values, "merge")


@dataclass(frozen=True)
class Override:
    first: int
    last: int
    setting: str
    value: object
    line: int


def read_overrides(path: str | os.PathLike, base: MergeSettings) -> list[Override]:
    """The frame-range overrides sheet, every row checked against `base`; errors name file and line.

    Tab-separated with the header first_frame, last_frame, setting, value; frame numbers are the
    frame files' (000012.png is 12), both ends included; blank lines and # comments are skipped.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SwaplibError(f"{path}: not a readable overrides sheet ({exc})") from None
    rows = [(number, line.rstrip("\r").split("\t")) for number, line in enumerate(lines, start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows or tuple(cell.strip() for cell in rows[0][1]) != OVERRIDE_COLUMNS:
        raise SwaplibError(f"{path}: an overrides sheet starts with the tab-separated header "
                           f"{' '.join(OVERRIDE_COLUMNS)}")
    return [_override(cells, base, f"{path}: line {number}", number) for number, cells in rows[1:]]


def _override(cells: list[str], base: MergeSettings, where: str, number: int) -> Override:
    if len(cells) != len(OVERRIDE_COLUMNS):
        raise SwaplibError(f"{where}: needs {len(OVERRIDE_COLUMNS)} tab-separated cells, found {len(cells)}")
    first, last, setting, text = (cell.strip() for cell in cells)
    try:
        first, last = int(first), int(last)
    except ValueError:
        raise SwaplibError(f"{where}: first_frame and last_frame must be frame numbers, "
                           f"got {first!r}, {last!r}") from None
    if not 0 <= first <= last:
        raise SwaplibError(f"{where}: frame range {first}..{last} is empty or negative")
    value = _parse_value(setting, text, where)
    if setting == "mode" and "raw-predict" in (value, base.mode):
        raise SwaplibError(f"{where}: mode raw-predict writes face crops, not frames; it cannot be mixed with "
                           f"other modes by frame range")
    try:
        dataclasses.replace(base, **{setting: value})
    except SwaplibError as exc:
        raise SwaplibError(f"{where}: {exc}") from None
    return Override(first, last, setting, value, number)


def _parse_value(setting: str, text: str, where: str):
    fields = {f.name: f.type for f in dataclasses.fields(MergeSettings)}
    if setting in RENAMED:
        raise SwaplibError(f"{where}: {setting} is now {RENAMED[setting]}")
    if setting not in fields or setting in WHOLE_VIDEO:
        known = ", ".join(name for name in fields if name not in WHOLE_VIDEO)
        raise SwaplibError(f"{where}: {setting!r} is not a setting a frame range can change; known: {known}")
    if fields[setting] == "str":
        return text
    if fields[setting] == "bool":
        if text.lower() not in ("true", "false"):
            raise SwaplibError(f"{where}: {setting} needs true or false, got {text!r}")
        return text.lower() == "true"
    try:
        return float(text) if fields[setting] == "float" else int(text)
    except ValueError:
        kind = "a number" if fields[setting] == "float" else "a whole number"
        raise SwaplibError(f"{where}: {setting} needs {kind}, got {text!r}") from None


def settings_for(frame: int, base: MergeSettings, overrides: list[Override]) -> MergeSettings:
    changes = {rule.setting: rule.value for rule in overrides if rule.first <= frame <= rule.last}
    return dataclasses.replace(base, **changes) if changes else base
