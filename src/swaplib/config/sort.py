"""config.yaml's `sort:` and `curation:` sections, declared once: how a video's faces are scored,
selected and ordered, and where the curation sheets are (swaplib.sort.settings checks the same
keys; a test holds its defaults and choices to these)."""

from __future__ import annotations

from swaplib.config.declare import Section, Setting

# swaplib.sort's own names (orders.ORDERS, identity.IDENTITY_MODES): sort lies above config, so they
# are repeated here, best first, and a test holds the two together.
ORDERS = ("best", "best-faster", "final", "final-fast", "blur", "blur-variance", "motion-blur",
          "motion-blur-direction", "face-yaw", "face-pitch", "face-size", "hist-similarity", "hist-dissimilarity",
          "brightness", "hue", "black", "original-filename", "oneface", "alone-first", "absdiff",
          "absdiff-dissimilar", "absolute-pixel-difference", "identity", "distance", "yaw-bins")
IDENTITY_MODES = ("auto", "dlib", "none")
DEGREES = {"type": "number", "exclusiveMinimum": 0, "maximum": 180}

SORT = Section("sort", settings=(
    Setting("order", "best", {"enum": list(ORDERS)},
            "training and review order: best, final, blur, ... (docs/curation.md: whose algorithm each runs)"),
    Setting("min_face_px", 48, {"type": "number", "minimum": 0},
            "leave out faces whose box in the frame is smaller than this"),
    Setting("max_face_px", None, {"type": ["number", "null"], "exclusiveMinimum": 0},
            "... or larger than this (null = no limit)"),
    Setting("min_blur", 0, {"type": "number", "minimum": 0},
            "leave out faces less sharp than this variance of the Laplacian (0 = off)"),
    Setting("blur_keep", 0.9, {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "then keep this share of the remaining faces, sharpest first"),
    Setting("max_yaw", 75, DEGREES, "leave out faces turned further than this, degrees (90 = keep all)"),
    Setting("max_pitch", 60, DEGREES, "... or tilted further up or down than this"),
    Setting("identity", "auto", {"enum": list(IDENTITY_MODES)},
            "embeddings: auto (the face table's, or dlib's when reference faces are named), dlib, none"),
    Setting("max_identity", 0.6, {"type": "number", "minimum": 0},
            "leave out faces farther than this from the person (dlib embedding distance)"),
    Setting("duplicate", 0.003, {"type": "number", "minimum": 0, "maximum": 1},
            "leave out near-copies of a sharper face in consecutive frames (share of the crop; 0 = off)"),
    Setting("max_faces", None, {"type": ["integer", "null"], "minimum": 1},
            "cap: the best N, spread evenly over yaw and pitch (null = no cap); with order final or\n"
            "final-fast, DFL's target count (null: every face, in final's order)"),
))

CURATION = Section("curation", settings=(
    # The sheets are inputs of the sort job (common.smk's curation_file): the folder reruns nothing.
    Setting("dir", "curation", {"type": "string", "minLength": 1},
            "curation/{video}.tsv: face <tab> action (exclude | include | reference) <tab> note", role="location"),
    Setting("faces_per_page", 256, {"type": "integer", "minimum": 16, "maximum": 4096},
            "thumbnails per contact sheet page (results/videos/{video}/sheets/)"),
    Setting("show_masks", False, {"type": "boolean"},
            "true: the contact sheets show each face's XSeg mask (red: what it leaves out); needs xseg",
            added_off=False),
    Setting("suggest_labels", 16, {"type": "integer", "minimum": 0},
            "with xseg: faces whose masks look least right, put in results/videos/{video}/to_label/ to outline"),
))
