"""Making a network from its ModelConfig."""

from __future__ import annotations

import torch.nn as nn

from swaplib.model.amp import AMPModel
from swaplib.model.base import SwapModel
from swaplib.model.config import ModelConfig
from swaplib.model.df import DFModel
from swaplib.model.liae import LIAEModel

FAMILIES = {"df": DFModel, "liae": LIAEModel, "amp": AMPModel}


def build_model(cfg: ModelConfig) -> SwapModel:
    """The network for `cfg.archi` (df…, liae… or amp), freshly initialised."""
    return FAMILIES[cfg.kind](cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
