"""Training a face-swap model: DFL's recipe in one readable loop that survives anything.

    settings.py   the preset table (architecture and recipe together), TrainSettings, resolve()
    data.py       face sets on disk → faces and masks in memory; DFL's augmentation; batches
    losses.py     DSSIM + MSE, inside the face mask, + eyes and mouth, + the mask's own loss
    optim.py      DFL's AdaBelief and RMSprop with learning-rate dropout; Adam
    adversarial.py  GAN power and true face power: the discriminators, their optimizers, their losses
    state.py      the state folder: checkpoints with a CRC, prev/backup/best, bad files moved aside
    outputs.py    preview grid, loss history csv, loss plot
    signals.py    SIGINT/SIGTERM stop after the step in flight
    loop.py       the Trainer and the loop: train(); train_model() and pretrain_model(), the workflow's entries
    recipe.json   the recipe version: bump it when what training computes changes (see its "about")

The model file itself is swaplib.model.io's. This file only re-exports the names callers use.
"""

from swaplib.config.train import PRESETS
from swaplib.train.data import load_faces
from swaplib.train.loop import Trainer, pretrain_model, train, train_model
from swaplib.train.settings import TrainSettings, model_config, resolve, train_settings
from swaplib.train.signals import TrainingInterrupted
from swaplib.train.state import BACKUPS, BEST, CHECKPOINT, CHECKPOINT_FORMAT, PREV_CHECKPOINT, load_state

__all__ = [
    "BACKUPS", "BEST", "CHECKPOINT", "CHECKPOINT_FORMAT", "PREV_CHECKPOINT", "PRESETS", "TrainSettings", "Trainer",
    "TrainingInterrupted", "load_faces", "load_state", "model_config", "pretrain_model", "resolve", "train",
    "train_model", "train_settings",
]
