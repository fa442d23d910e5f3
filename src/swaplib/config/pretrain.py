"""config.yaml's `pretrain:` section, declared once: the shared base's sources and budget (the train
section gives its architecture and recipe; config.train.PRETRAIN_RECIPE what pretraining sets itself)."""

from __future__ import annotations

from swaplib.config.declare import Section, Setting

# The sources' faces are the base's inputs and their names part of its settings (common.smk's
# base_settings), as before this declaration: no rerun table names them.
PRETRAIN = Section("pretrain", comment="a shared base (DFL's pretraining): trained once; models with "
                   "train.from_base start from it", settings=(
    Setting("sources", [], {"type": "array", "items": {"type": "string", "minLength": 1}},
            "videos or photo folders (from the working directory) whose faces it learns"),
    Setting("iterations", 2000, {"type": "integer", "minimum": 1},
            "its budget in steps (the train section gives its architecture and recipe) ..."),
    Setting("max_minutes", 0, {"type": "number", "minimum": 0}, "... and in minutes (0 = no limit)"),
))
