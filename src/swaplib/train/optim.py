"""DFL's optimizers in PyTorch: AdaBelief and RMSprop, with learning-rate dropout and cosine lr.

Both follow DeepFaceLab's own implementations (core/leras/optimizers), which differ from the papers'
reference code in small ways that matter for matching its training: no bias correction, and an
epsilon of 1e-6 added outside the square root.

    AdaBelief   m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·(g-m)²;  w ← w - lr·m / (√v + ε)
    RMSprop     a ← ρ·a + (1-ρ)·g²;                             w ← w - lr·g / (√a + ε)

lr_dropout (DFL's "learning rate dropout", 0.3 when on): each step only a random share lr_dropout
of the weights is updated, which sharpens a trained model. The random keep-mask is a hash of
(a seed drawn from torch's RNG each step, the weight's index): as random as a Bernoulli draw for
this purpose, reproducible, and computed inside the update instead of filling a tensor of random
numbers as large as the model.
lr_cos (DFL: 500 with lr_dropout in SAEHD): lr · (cos(2π·step/lr_cos) + 1) / 2.

Speed: an update is a handful of element-wise passes over every weight; done one op at a time that
costs more than the model's forward and backward on a CPU. So each weight's whole update runs as one
fused kernel compiled by torch.compile (once per process, cached on disk by PyTorch), falling back
to the same code run op by op where compiling is not possible.
"""

from __future__ import annotations

import logging
import math
import warnings

import torch

from swaplib.config.train import OPTIMIZERS
from swaplib.core.errors import SwaplibError

log = logging.getLogger(__name__)

_M32 = 0xFFFFFFFF


def keep_mask(n: int, start: torch.Tensor, seed: torch.Tensor, threshold: int, device) -> torch.Tensor:
    """(n,) bool: element i is kept when a 32-bit hash of (seed, start + i) falls below threshold/2^24.
    Multipliers stay below 2^31 and values below 2^32, so no int64 product overflows."""
    x = (torch.arange(n, device=device, dtype=torch.int64) + start + seed * 0x61C88647) & _M32
    x = x ^ (x >> 16)
    x = (x * 0x2C1B3C6D) & _M32
    x = x ^ (x >> 12)
    x = (x * 0x297A2D39) & _M32
    x = x ^ (x >> 15)
    return (x & 0xFFFFFF) < threshold


def _adabelief_update(p, g, m, v, lr, start, seed, b1: float, b2: float, eps: float, threshold: int):
    m.lerp_(g, 1 - b1)  # m = b1·m + (1-b1)·g
    d = g - m
    v.mul_(b2).add_(d * d * (1 - b2))
    update = m / (v.sqrt() + eps)
    if threshold < 1 << 24:
        update = update * keep_mask(p.numel(), start, seed, threshold, p.device)
    p.sub_(update * lr)


def _rmsprop_update(p, g, a, lr, start, seed, rho: float, eps: float, threshold: int):
    a.mul_(rho).add_(g * g * (1 - rho))
    update = g / (a.sqrt() + eps)
    if threshold < 1 << 24:
        update = update * keep_mask(p.numel(), start, seed, threshold, p.device)
    p.sub_(update * lr)


def _flat(t: torch.Tensor) -> torch.Tensor:
    """A 1-D view of a dense tensor in memory order (plain or channels_last), no copy."""
    if t.is_contiguous():
        return t.view(-1)
    if t.ndim == 4 and t.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).view(-1)
    raise SwaplibError(f"optimizer: a weight of shape {tuple(t.shape)} is neither contiguous nor channels_last")


_compiled: dict = {}
_compile_failed: set = set()


def _kernel(fn, fused: bool):
    """`fn` compiled into one fused kernel (cached per process), or `fn` itself."""
    if not fused or fn in _compile_failed:
        return fn
    if fn not in _compiled:
        _compiled[fn] = torch.compile(fn, dynamic=True, fullgraph=True)
    return _compiled[fn]


class _DFLOptimizer(torch.optim.Optimizer):
    STATE: tuple[str, ...] = ()

    def __init__(self, params, defaults: dict, fused: bool):
        if not defaults["lr"] > 0 or not 0 < defaults["lr_dropout"] <= 1:
            raise SwaplibError(f"{type(self).__name__}: lr {defaults['lr']!r} / lr_dropout {defaults['lr_dropout']!r} "
                               f"out of range")
        super().__init__(params, {**defaults, "step": 0})
        self.fused = fused

    def _lr(self, group) -> float:
        lr = group["lr"]
        if group["lr_cos"]:
            lr *= (math.cos(group["step"] * 2 * math.pi / group["lr_cos"]) + 1) / 2
        return lr

    def _update(self, fn, p, *args) -> None:
        kernel = _kernel(fn, self.fused and p.numel() >= 4096)
        try:
            kernel(*args)
        except Exception as e:  # no compiler here, or an unsupported platform: run it op by op
            if kernel is fn:
                raise
            _compile_failed.add(fn)
            warnings.warn(f"swaplib: could not compile the fused optimizer update ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:200]}); using the slower op-by-op update", stacklevel=2)
            fn(*args)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            keep = group["lr_dropout"]
            threshold = round(keep * (1 << 24)) if keep < 1 else 1 << 24
            seed = torch.randint(0, 1 << 31, (), dtype=torch.int64) if keep < 1 else torch.zeros((), dtype=torch.int64)
            offset = 0
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                for name in self.STATE:
                    if name not in state:
                        state[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if p.grad.stride() != p.stride():  # the update walks all tensors in one memory order
                    if p.grad.is_contiguous() == p.is_contiguous():
                        p.grad = p.grad.clone(memory_format=torch.preserve_format)
                    else:
                        channels_last = p.ndim == 4 and not p.is_contiguous()
                        p.grad = p.grad.contiguous(
                            memory_format=torch.channels_last if channels_last else torch.contiguous_format)
                lr = torch.tensor(self._lr(group), dtype=p.dtype, device=p.device)
                start = torch.tensor(offset, dtype=torch.int64, device=p.device)
                self._update_one(p, _flat, lr, start, seed.to(p.device), threshold, group, state)
                offset += p.numel()
            group["step"] += 1


class AdaBelief(_DFLOptimizer):
    STATE = ("m", "v")

    def __init__(self, params, lr: float = 5e-5, betas=(0.9, 0.999), eps: float = 1e-6, lr_dropout: float = 1.0,
                 lr_cos: int = 0, fused: bool = True):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, lr_dropout=lr_dropout, lr_cos=lr_cos), fused)

    def _update_one(self, p, flat, lr, start, seed, threshold, group, state):
        b1, b2 = group["betas"]
        self._update(_adabelief_update, p, flat(p), flat(p.grad), flat(state["m"]), flat(state["v"]), lr, start, seed,
                     b1, b2, group["eps"], threshold)


class RMSprop(_DFLOptimizer):
    STATE = ("acc",)

    def __init__(self, params, lr: float = 2e-4, rho: float = 0.9, eps: float = 1e-6, lr_dropout: float = 1.0,
                 lr_cos: int = 0, fused: bool = True):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, lr_dropout=lr_dropout, lr_cos=lr_cos), fused)

    def _update_one(self, p, flat, lr, start, seed, threshold, group, state):
        self._update(_rmsprop_update, p, flat(p), flat(p.grad), flat(state["acc"]), lr, start, seed, group["rho"],
                     group["eps"], threshold)


def make_optimizer(name: str, params, lr: float, lr_dropout: float = 1.0, lr_cos: int = 0,
                   fused: bool = True) -> torch.optim.Optimizer:
    """adabelief (DFL SAEHD's default), rmsprop (DFL's other choice, Quick96's) or adam (β1 0.5).
    fused: one compiled kernel per weight tensor (adam: PyTorch's fused Adam) where available."""
    params = list(params)
    if name == "adabelief":
        return AdaBelief(params, lr=lr, lr_dropout=lr_dropout, lr_cos=lr_cos, fused=fused)
    if name == "rmsprop":
        return RMSprop(params, lr=lr, lr_dropout=lr_dropout, lr_cos=lr_cos, fused=fused)
    if name == "adam":
        if lr_dropout < 1 or lr_cos:
            raise SwaplibError("lr_dropout and lr_cos need optimizer adabelief or rmsprop (as in DFL)")
        options = {"fused": True} if fused else {"foreach": True}
        return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999), eps=1e-7, **options)
    raise SwaplibError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def cpu_state(optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer's state_dict with its tensors on the CPU (for a checkpoint)."""
    state = optimizer.state_dict()
    state["state"] = {k: {n: (t.detach().cpu() if torch.is_tensor(t) else t) for n, t in v.items()}
                      for k, v in state["state"].items()}
    return state
