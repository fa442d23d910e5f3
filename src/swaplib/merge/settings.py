"""The merge settings (config.yaml `merge:`), their checks, and the per-frame-range overrides sheet.

`MergeSettings` is the config section itself: its fields are the section's keys with the same
defaults. Most of them say how a face is drawn into a frame and may change by frame range (an
overrides sheet: TSV first_frame, last_frame, setting, value; later rows win), which replaces
DFL's interactive per-frame tweaking; those declared not per frame (`precision`, `overrides_dir`,
`morph_factor`, `super_resolution_model`) are the same for the whole video. Every setting is
declared once in swaplib.config.merge.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path

from swaplib.config.merge import MERGE, MODES, RENAMED, SHARPEN  # noqa: F401  # the values settings take
from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.core.settings import from_section

OVERRIDE_COLUMNS = ("first_frame", "last_frame", "setting", "value")
WHOLE_VIDEO = tuple(s.name for s in MERGE.settings if not s.per_frame)  # not for a frame range

# ---------------------------------------------------------------------------------- settings


class _Checked:
    """MergeSettings' behaviour: each value checked against its declaration (swaplib.config.merge)."""

    def __post_init__(self):
        problems = [problem for s in MERGE.settings if (problem := s.problem(getattr(self, s.name)))]
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


# Every merge setting: config.yaml's `merge:` section key for key, with its defaults (docs/merge.md),
# checked on creation; frozen, so that the settings of many frame ranges compare and hash.
MergeSettings = make_dataclass("MergeSettings", [(s.name, object, field(default=s.default)) for s in MERGE.settings],
                               bases=(_Checked,), frozen=True)
MergeSettings.__module__ = __name__  # where it is made, for pickling and reprs
_KINDS = {s.name: s.schema.get("type", "enum") for s in MERGE.settings}  # how an overrides sheet's cell reads


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
    if setting in RENAMED:
        raise SwaplibError(f"{where}: {setting} is now {RENAMED[setting]}")
    if setting not in _KINDS or setting in WHOLE_VIDEO:
        known = ", ".join(name for name in _KINDS if name not in WHOLE_VIDEO)
        raise SwaplibError(f"{where}: {setting!r} is not a setting a frame range can change; known: {known}")
    kind = _KINDS[setting]
    if kind in ("string", "enum"):
        return text
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise SwaplibError(f"{where}: {setting} needs true or false, got {text!r}")
        return text.lower() == "true"
    try:
        return float(text) if kind == "number" else int(text)
    except ValueError:
        kind = "a number" if kind == "number" else "a whole number"
        raise SwaplibError(f"{where}: {setting} needs {kind}, got {text!r}") from None


def settings_for(frame: int, base: MergeSettings, overrides: list[Override]) -> MergeSettings:
    changes = {rule.setting: rule.value for rule in overrides if rule.first <= frame <= rule.last}
    return dataclasses.replace(base, **changes) if changes else base


def append_overrides(path: str | os.PathLike, rows: list[tuple[int, int, str, object]], base: MergeSettings) -> None:
    """Add (first_frame, last_frame, setting, value) rows to an overrides sheet, creating it with its
    header; each row checked as read_overrides checks it, and the file replaced whole."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else "\t".join(OVERRIDE_COLUMNS) + "\n"
    if path.exists():
        read_overrides(path, base)  # refuse to add to a sheet that is already broken
    if not text.endswith("\n"):
        text += "\n"
    for first, last, setting, value in rows:
        cells = [str(first), str(last), setting, str(value).lower() if isinstance(value, bool) else str(value)]
        _override(cells, base, f"{path}: new row {first}-{last} {setting}", 0)
        text += "\t".join(cells) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
