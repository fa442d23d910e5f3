"""config.yaml's `frames:` section, declared once: how each video becomes its frames (the frames
rule's settings; swaplib.video.frames.extract_frames takes them as its keywords)."""

from __future__ import annotations

from swaplib.config.declare import Section, Setting
from swaplib.core.images import IMAGE_FORMATS

SECONDS = {"type": "number", "minimum": 0}

FRAMES = Section("frames", settings=(
    Setting("limit", 0, {"type": "integer", "minimum": 0},
            "use at most N frames of each video (0 = all); for quick trials"),
    Setting("format", "png", {"enum": list(IMAGE_FORMATS)}, "png (lossless) or jpg"),
    Setting("jpg_quality", 100, {"type": "integer", "minimum": 1, "maximum": 100},
            "jpg frames: 1-100 (100 = best, what DFL uses); png is always lossless"),
    Setting("fps", 0, {"oneOf": [{"type": "null"}, {"type": "number", "minimum": 0, "maximum": 1000},
                                 {"type": "string", "pattern": "^[1-9][0-9]*(/[1-9][0-9]*)?$"}]},
            "frame rate: 0 = the source's (a variable one made constant), or e.g. 25, \"30000/1001\""),
    Setting("start", 0, SECONDS, "seconds into each video where its frames begin (not for photo folders)"),
    Setting("end", 0, SECONDS, "seconds into each video where its frames end (0 = the end)"),
    Setting("allow_truncated", False, {"type": "boolean"},
            "a video that decodes fewer frames than it promises: false = stop, true = go on (warned)",
            added_off=False),
))
