"""config.yaml's `quality:` section, declared once: how a swap is measured and the thresholds of its
verdict (swaplib.quality.figures.QualitySettings keeps the same defaults; a test holds them together)."""

from __future__ import annotations

from swaplib.config.declare import Section, Setting

AT_LEAST_0 = {"type": "number", "minimum": 0}

QUALITY = Section("quality", settings=(
    Setting("identity_faces", 64, {"type": "integer", "minimum": 0},
            "faces of each face set averaged into its identity (0 = all)"),
    Setting("strip_frames", 6, {"type": "integer", "minimum": 1, "maximum": 24},
            "frames in the report's destination / swap strip"),
    # The folder is an input of the quality job (common.smk's quality_gallery) and, as before this
    # declaration, a rerun trigger too.
    Setting("gallery", "", {"type": "string"},
            "folder of photos of other people, added to id_top1's identities (\"\" = none)"),
    Setting("same_person", 0.6, {"type": "number", "exclusiveMinimum": 0, "maximum": 2},
            "dlib embedding distance below which two faces are the same person (dlib's own)"),
    Setting("separable_margin", 0.1, {"type": "number", "minimum": 0, "maximum": 2},
            "source and destination closer than same_person + this: identity is not measurable"),
    Setting("verdict_id_match", 0.5, {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "verdict source needs at least this share of faces verified as the source ..."),
    Setting("verdict_sharpness", 0.5, AT_LEAST_0,
            "... and a relative_sharpness (swap detail / what the model's resolution allows) at least this"),
    Setting("convincing_sharpness", 0.5, AT_LEAST_0,
            "a source swap is convincing with detail at least this share of the source's own faces' there ..."),
    Setting("convincing_oversharp", 2.0, {"type": "number", "exclusiveMinimum": 1},
            "... and at most this many times it (more: drawn edges, what super resolution makes of a blur) ..."),
    Setting("convincing_id_margin", 0.1, AT_LEAST_0,
            "... and as near the source identity as the source's own faces pasted in, within this"),
))
