"""An exponential moving average of a model's weights, kept beside training: the merge and the
previews use it. Averaging over steps smooths out the step-to-step noise of small batches, which
shows as flicker and mush in a swap; the weights being trained are untouched by it, so a run with it
takes exactly the steps of a run without."""

from __future__ import annotations

import copy

import torch

from swaplib.model.base import SwapModel


class WeightAverage:
    """avg ← d·avg + (1-d)·weights after every step, with d = min(decay, (1+n)/(10+n)) after n
    updates: early on the average follows the weights closely (the first ones are far from good)."""

    def __init__(self, model: SwapModel, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: SwapModel) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for average, weight in zip(self.model.parameters(), model.parameters()):
            average.lerp_(weight.detach(), 1 - d)
        for average, buffer in zip(self.model.buffers(), model.buffers()):
            average.copy_(buffer)

    def state_dict(self) -> dict:
        return {"weights": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "updates": torch.tensor(self.updates)}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
