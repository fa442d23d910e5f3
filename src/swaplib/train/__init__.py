"""Training a face-swap model: DFL's recipe in one readable loop that survives anything.

    settings.py   the preset table (architecture and recipe together), TrainSettings, resolve()
    data.py       face sets on disk → faces and masks in memory; DFL's augmentation; batches
    losses.py     DSSIM + MSE, inside the face mask, + eyes and mouth, + the mask's own loss
    optim.py      DFL's AdaBelief and RMSprop with learning-rate dropout; Adam
    adversarial.py  GAN power and true face power: the discriminators, their optimizers, their losses
    state.py      the state folder: checkpoints with a CRC, prev/backup/best, bad files moved aside
    outputs.py    preview grid, loss history csv, loss plot
    signals.py    SIGINT/SIGTERM stop after the step in flight
    distributed.py  data parallel: a rank's share of each batch, gradients averaged, stops and rollbacks agreed
    launch.py     train.devices / train.nodes: the ranks started by torchrun, each on the same job file
    loop.py       the Trainer and the loop: train(); train_model() and pretrain_model(), the workflow's entries
    recipe.json   the recipe version: bump it when what training computes changes (see its "about")
    recipe.py     the guard: which code computes a training step and its data (recipe.json's code_hash)

The model file itself is swaplib.model.io's. This file only re-exports the names callers use, each on first use.
"""

import importlib

# name -> the module that defines it. Re-exported on first use (PEP 562): a module that needs one part
# of training (xseg's use of the state folder and signals, say) imports that part alone, and the
# code hashes of the rules that use it cover that part alone.
_DEFINED_IN = {
    "PRESETS": "swaplib.config.train", "load_faces": "swaplib.train.data", "Trainer": "swaplib.train.loop",
    "pretrain_model": "swaplib.train.loop", "train": "swaplib.train.loop", "train_model": "swaplib.train.loop",
    "TrainSettings": "swaplib.train.settings", "model_config": "swaplib.train.settings",
    "resolve": "swaplib.train.settings", "train_settings": "swaplib.train.settings",
    "TrainingInterrupted": "swaplib.train.signals", "BACKUPS": "swaplib.train.state", "BEST": "swaplib.train.state",
    "CHECKPOINT": "swaplib.train.state", "CHECKPOINT_FORMAT": "swaplib.train.state",
    "PREV_CHECKPOINT": "swaplib.train.state", "load_state": "swaplib.train.state",
}
__all__ = sorted(_DEFINED_IN)


def __getattr__(name: str):
    if name not in _DEFINED_IN:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_DEFINED_IN[name]), name)
