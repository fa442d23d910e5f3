"""Making a network from its ModelConfig."""

from __future__ import annotations

import torch.nn as nn

# Each family's file registers its class (@family); imported here by name, so that the rules' and the
# recipe guard's code hashes, which follow imports, cover every family.
from swaplib.model import amp, df, liae  # noqa: F401
from swaplib.model.base import REGISTERED, SwapModel
from swaplib.model.config import ModelConfig

FAMILY_CLASSES: dict[str, type[SwapModel]] = REGISTERED


def build_model(cfg: ModelConfig) -> SwapModel:
    """The network for `cfg.archi` (df…, liae… or amp), freshly initialised."""
    return FAMILY_CLASSES[cfg.kind](cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
