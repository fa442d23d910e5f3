"""config.yaml's `xseg:` section, declared once: the learned face segmentation (docs/masks.md), its
model, what it learns from and how it trains (swaplib.xseg.settings.XSegSettings checks the same
keys; a test holds its defaults to these)."""

from __future__ import annotations

from swaplib.config.declare import Section, Setting

WHOLE_FROM_1 = {"type": "integer", "minimum": 1}
SHARE = {"type": "number", "minimum": 0, "maximum": 1}

XSEG = Section("xseg", comment='learned face segmentation (docs/masks.md): masks that leave out hands, hair, glasses',
               description='learned face segmentation (docs/masks.md)', settings=(
    Setting("enabled", False, {"type": "boolean"},
            "true: train the model and write results/videos/{video}/masks/ (false: nothing of it runs)"),
    Setting("name", "faces", {"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9_.-]+$"},
            "results/xseg/{name}/: the one model the videos share"),
    Setting("videos", [], {"type": "array", "items": {"type": "string", "minLength": 1}},
            "videos whose faces it learns ([] = every video of the sheet and pretrain.sources)"),
    # The label files are inputs of the jobs that read them: the folder reruns nothing.
    Setting("labels_dir", "labels", {"type": "string", "minLength": 1},
            "labels/{video}/: LabelMe polygons or PNG masks, on frames ({frame}.json) or crops ({face_id}.json)",
            role="location"),
    Setting("resolution", 64, {"type": "integer", "minimum": 16, "multipleOf": 16},
            "crop px the model sees: a multiple of 16 (DFL's XSeg: 256)"),
    Setting("width", 16, WHOLE_FROM_1, "channels of the network's first level (4 deeper levels double them)"),
    Setting("iterations", 3000, WHOLE_FROM_1, "training steps; raising it continues from the saved state"),
    Setting("batch_size", 16, WHOLE_FROM_1),
    Setting("lr", 0.001, {"type": "number", "exclusiveMinimum": 0}, "Adam's learning rate"),
    Setting("occlusion", 0.6, SHARE,
            "share of training samples given a synthetic occluder (hand, shape, patch, bar)"),
    Setting("labelled_share", 0.5, SHARE, "share of samples drawn from faces with your labels, where there are any"),
    Setting("seed", 0, {"type": "integer"}),
    Setting("save_every", 500, {"type": "integer", "minimum": 0},
            "checkpoint interval (state: results/xseg/{name}/state/)", role="run", before="These change no output."),
    Setting("device", "auto", {"type": "string", "minLength": 1},
            "auto (a CUDA GPU if there is one, else cpu), cpu, cuda, cuda:1", role="run"),
))
