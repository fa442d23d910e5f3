"""config.yaml's `video:` section, declared once: how the swapped frames become a video, its visible
label and its signed C2PA manifest (`c2pa:`, a section of its own inside it). swaplib.video's
encoder, label and signing keep the same defaults and choices (a test holds them together)."""

from __future__ import annotations

from dataclasses import dataclass

from swaplib.config.declare import COMMENT_COLUMN, Section, Setting

# swaplib.video's own names (encode.X264_PRESETS, marks.LABEL_CORNERS): video lies above config, so
# they are repeated here and a test holds the two together.
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
LABEL_CORNERS = ("bottom-left", "bottom-right", "top-left", "top-right")


@dataclass(frozen=True)
class Enclosing(Section):
    """A section some of whose settings are sections of their own (`inner`): each is one setting of it
    (see `within`), and config.yaml writes it as an indented block. Kept out of declare.py, which the
    merge's and training's code hashes cover: a change there would rerun every merge."""

    inner: tuple[Section, ...] = ()

    def yaml_lines(self) -> list[str]:
        lines = super().yaml_lines()
        for section in self.inner:
            at = next(i for i, line in enumerate(lines) if line.startswith(f"  {section.name}: "))
            lines[at:at + 1] = _indented(section.yaml_lines())
        return lines


def within(section: Section) -> Setting:
    """`section` as one setting of the section around it: its defaults the value, its schema the
    values it takes, its comment the meaning."""
    return Setting(section.name, section.defaults(), section.schema(), section.comment)


def _indented(lines: list[str]) -> list[str]:
    """A section's lines two spaces in, their comments kept in config.yaml's column."""
    out = []
    for line in lines:
        entry, mark, comment = line.partition(" # ")
        if mark and entry.strip():
            out.append(f"  {entry.rstrip()}".ljust(COMMENT_COLUMN - 1) + mark + comment)
        else:  # a bare entry, a comment line of its own, or a meaning's next line (already in the column)
            out.append(line if line.startswith(" " * COMMENT_COLUMN) else f"  {line}")
    return out


C2PA = Section("c2pa", comment="a signed C2PA manifest (Content Credentials) embedded in every video", settings=(
    Setting("enabled", True, {"type": "boolean"}, "false: no manifest (the label, container tags and sidecar stay)"),
    Setting("cert", "", {"type": "string"},
            "PEM certificate chain that signs (\"\" = swaplib's local key: integrity, not identity)"),
    Setting("key", "", {"type": "string"}, "its unencrypted PEM private key (set with cert, or neither)"),
))

VIDEO = Enclosing("video", inner=(C2PA,), settings=(
    Setting("crf", 18, {"type": "integer", "minimum": 0, "maximum": 51}, "x264 quality (lower = better, bigger)"),
    Setting("preset", "medium", {"enum": list(X264_PRESETS)},
            "x264 preset: ultrafast ... veryslow (slower = smaller at the same quality)"),
    Setting("lossless", False, {"type": "boolean"},
            "true: x264 lossless RGB (exactly the merged frames; large, for editing)"),
    Setting("label", "SYNTHETIC", {"type": "string"}, "visible label burnt into every swapped video (\"\" for none)"),
    Setting("label_corner", "bottom-left", {"enum": list(LABEL_CORNERS)},
            "bottom-left, bottom-right, top-left or top-right"),
    # Which files a run makes (the mask video is a rule's output of its own), so it reruns nothing.
    Setting("mask_output", "frames", {"enum": ["frames", "video"]},
            "the merge mask for compositing: frames (results/pairs/{pair}/merged_mask/, grey PNGs, always\n"
            "written) or video (also {pair}.mask.mp4, lossless)", role="location"),
    within(C2PA),
))
