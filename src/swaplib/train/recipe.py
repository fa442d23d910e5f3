"""The training recipe guard: which code computes a training step and its data.

recipe.json's "version" is the train rule's rerun trigger, and its "code_hash" is training_code_hash()
as it was when the version was last looked at; tests/test_recipe_version.py fails when the hash moves.
The hash takes training's code less what a training shows and how it keeps its files (previews and
plots, the estimate, checkpoints on disk, the model file's header, signals, thread tuning, progress
display), less every log call and error message, and of the train section's declaration the values
training reads (defaults, presets, pretraining's recipe, choices), not its words: a change of a
message, a comment in config.yaml or a preview label asks for nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from swaplib.config import train as declared
from swaplib.config.declare import NOTHING
from swaplib.core.codehash import PACKAGE_DIR, closure, code_hash, imported_modules, module_name

RECIPE_FILE = Path(__file__).with_name("recipe.json")
SCRIPTS = PACKAGE_DIR.parents[1] / "workflow" / "scripts"
ENTRIES = (SCRIPTS / "train.py", SCRIPTS / "pretrain.py")  # the scripts of the rules recipe.json reruns
# Modules of training's import closure that compute nothing a model learns.
SHOWS_OR_KEEPS = (
    "train.outputs",  # the preview grid, loss history and plot, the watch files, the time estimate
    "core.grid_labels",  # the preview's row names
    "train.state",  # the state folder: checkpoint files, CRCs, backups, bad files moved aside
    "train.signals",  # stop after the step in flight
    "train.threads",  # how many threads a step runs on (the same step either way)
    "model.io",  # the model file's format and header
    "core.progress",  # the progress display
    "core.atomic",  # writing files whole
    "core.jobs",  # how a workflow job runs: its log, its errors, its exit
    "train.launch",  # how the ranks of a training are started (torchrun); what they compute is in train.distributed
)
DECLARATIONS = ("config", "config.declare", "config.train")  # taken by their values (declared_values)


def declared_values() -> dict:
    """What training reads from the train section's declaration."""
    defaults = {s.name: s.library_default for s in declared.TRAIN.settings if s.library_default is not NOTHING}
    return {"defaults": defaults,
            "presets": declared.PRESETS, "default_preset": declared.DEFAULT_PRESET,
            "pretrain": declared.PRETRAIN_RECIPE, "optimizers": declared.OPTIMIZERS, "ct_modes": declared.CT_MODES,
            "hsv_power_max": declared.HSV_POWER_MAX}


def _roots() -> list[str]:
    return sorted(set().union(*(imported_modules(script) for script in ENTRIES)))


def training_modules() -> set[str]:
    """What the train and pretrain scripts import, transitively."""
    return {module_name(file) for file in closure(*_roots())}


def watched_modules() -> set[str]:
    """The modules the guard hashes: training_modules() less SHOWS_OR_KEEPS and DECLARATIONS."""
    return training_modules() - set(SHOWS_OR_KEEPS) - set(DECLARATIONS)


def training_code_hash() -> str:
    """What recipe.json's code_hash must be (see the module docstring)."""
    code = code_hash(*_roots(), extra=ENTRIES, leave_out=SHOWS_OR_KEEPS + DECLARATIONS, computation_only=True)
    values = json.dumps(declared_values(), sort_keys=True)
    return hashlib.sha256(f"{code}\n{values}".encode()).hexdigest()[:16]
