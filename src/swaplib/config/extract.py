"""config.yaml's `extract:` section, declared once: how faces are found, chosen, steadied and cut
out (swaplib.extract.settings.ExtractSettings checks the same keys; a test holds its defaults and
choices to these)."""

from __future__ import annotations

from swaplib.config.declare import Section, Setting
from swaplib.core.images import IMAGE_FORMATS

# The extract package's own names (detect.backends, align, identity): it lies above config, so
# they are repeated here and a test holds the two together.
DETECTORS = ("dlib-hog", "dlib", "dlib-cnn", "fan")  # "dlib" is dlib-hog's other name
LANDMARKS = ("auto", "dlib", "fan")
FACE_TYPES = ("half", "mid_full", "full", "whole_face", "head")
SELECT_MODES = ("largest", "all")
BOOLEAN = {"type": "boolean"}

EXTRACT = Section("extract", settings=(
    Setting("detector", "dlib-hog", {"enum": list(DETECTORS)},
            "dlib-hog (fast, offline; \"dlib\" too), dlib-cnn (offline, ~1 s/frame) or fan (S3FD)"),
    Setting("landmarks", "auto", {"enum": list(LANDMARKS)},
            "68 points: auto (the detector's own), dlib or fan (2DFAN4)"),
    Setting("fan_weights", None, {"type": ["string", "null"], "minLength": 1},
            "folder with the fan weight files (null = $TORCH_HOME/hub/checkpoints)"),
    Setting("upsample", 0, {"type": "integer", "minimum": 0, "maximum": 3},
            "search the frame doubled N times: finds faces half as small each, ~4x slower"),
    Setting("multiscale", True, BOOLEAN, "search a frame with no face found again at twice the scale (small faces)"),
    Setting("rotate", False, BOOLEAN, "search a frame with no face found again turned by 90, 270 and 180 degrees",
            added_off=False),
    Setting("second_pass", False, BOOLEAN, "fit the landmarks again on the face turned upright (tilted heads)",
            added_off=False),
    Setting("min_size", 0, {"type": "number", "minimum": 0}, "leave out faces whose box side is below this, px"),
    Setting("min_score", None, {"type": ["number", "null"]},
            "detector confidence threshold (null = the detector's default)"),
    Setting("size", 256, {"type": "integer", "minimum": 32, "maximum": 1024}, "aligned face crop, px"),
    Setting("face_type", "whole_face", {"enum": list(FACE_TYPES)},
            "half, mid_full, full, whole_face or head (DFL face types)"),
    Setting("select", "largest", {"enum": list(SELECT_MODES)},
            "largest (per frame; the others are recorded as left out) or all"),
    # Each video's photo is an input of its faces job (common.smk's REFERENCES), so the mapping itself
    # reruns nothing.
    Setting("references", {}, {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}},
            "{video name: photo}: keep only that person's faces there (or the sheet's *_reference columns)",
            role="location"),
    # Each video's file is an input of its faces job (faces_inputs.smk), so the folder itself reruns nothing.
    Setting("manual_faces", "manual_faces", {"type": "string", "minLength": 1},
            "folder of the faces placed by hand ({video}.json, written by swaplib review), merged in",
            role="location"),
    Setting("tolerance", 0.6, {"type": "number", "exclusiveMinimum": 0, "maximum": 2},
            "embedding distance under which a face is the reference person"),
    Setting("embed_every", 5, {"type": "integer", "minimum": 1},
            "identity embedding of every face on every Nth frame (1 = all faces)"),
    Setting("smooth", True, BOOLEAN, "steady the landmarks along each face's track (false = off)"),
    Setting("smooth_cutoff", 1.0, {"type": "number", "exclusiveMinimum": 0},
            "Hz: how hard a still face is steadied (lower = steadier)"),
    Setting("smooth_beta", 10.0, {"type": "number", "minimum": 0},
            "how quickly the smoothing gives way to motion (higher = less lag)"),
    Setting("format", "png", {"enum": list(IMAGE_FORMATS)}, "crop image format: png or jpg"),
))
