"""DFL's two discriminators beside the model, both off by default (swaplib.model.discriminators).

GAN power: a U-Net patch discriminator learns to tell the source faces (real) from the model's
reconstructions of them (fake), both inside the blurred face mask with masked training. The model
gets gan_power x the discriminator's verdict on its reconstructions (binary cross-entropy against
"real", of the patch logits and of the pixel logits) as one more loss: it pushes the model to draw
the fine detail that DSSIM and MSE average away. With masked training two small terms keep the
GAN from painting the background: 0.02 x MSE to the target outside the mask, and 1e-6 x the total
variation of the whole reconstruction. For AMP (DFL's AMP recipe) the discriminator judges the
destination faces too: real source and destination faces against the model's reconstructions of
both, and the model gets its verdict on both.

True face power (df family): a code discriminator learns to tell destination codes (real) from
source codes (fake), the inter's output for each. The model gets true_face_power x its verdict on
the source codes against "destination": source faces are coded where destination faces lie, so
the source decoder learns to draw the source from codes like the destination's, which is what a
swap feeds it.

Each discriminator has its own optimizer, of the model's kind, learning rate (with the rollbacks'
cuts), lr dropout and clipping, as in DFL, and takes its step after the model's, on that step's
reconstruction and codes (detached: one forward pass serves both); with several ranks each learns
from the whole batch, its gradients averaged as the model's. The discriminators run in fp32
(they are small beside the model, and so need no loss scaler of their own). Their weights start
from the run's seed without drawing from torch's RNG, so switching one on changes nothing else a
run draws. Their state is part of the checkpoint: it resumes and rolls back with the rest; a
checkpoint without one (trained with its power at 0, or with another patch size or dims) resumes
with the model as it is and that discriminator fresh. A discriminator switched off keeps its saved
state in the checkpoint, for when it is switched on again.
"""

from __future__ import annotations

import contextlib
import logging
import math

import torch
import torch.nn.functional as F

from swaplib.model.config import ModelConfig
from swaplib.model.discriminators import CodeDiscriminator, UNetPatchDiscriminator
from swaplib.train.distributed import SINGLE, Ranks
from swaplib.train.losses import total_variation
from swaplib.train.optim import cpu_state, make_optimizer
from swaplib.train.settings import TrainSettings

NAMES = {"gan": "GAN (patch) discriminator", "true_face": "true-face (code) discriminator"}
POWERS = {"gan": "gan_power", "true_face": "true_face_power"}


def judged(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """DFL's discriminator loss: binary cross-entropy of the logits against all-real or all-fake."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


@contextlib.contextmanager
def frozen(net: torch.nn.Module):
    """The net's weights out of the graph: its verdict gives gradients to its input only."""
    net.requires_grad_(False)
    try:
        yield net
    finally:
        net.requires_grad_(True)


class Adversarial:
    """The run's discriminators (none, either or both), their optimizers and their loss terms."""

    def __init__(self, model, cfg: ModelConfig, s: TrainSettings, device, log: logging.Logger,
                 channels_last: bool = False, ranks: Ranks = SINGLE):
        self.s, self.device, self.log, self.ranks = s, device, log, ranks
        self.layout = torch.channels_last if channels_last else torch.contiguous_format
        self.powers = {"gan": s.gan_power, "true_face": s.true_face_power if model.TRUE_FACE else 0.0}
        self.gan_sides = model.GAN_SIDES
        if s.true_face_power and not model.TRUE_FACE:
            log.warning("true_face_power %g is for a family with one code for both people (df, as in DFL); "
                        "this model is %s: not used", s.true_face_power, cfg.archi)
        self.shapes: dict[str, dict] = {}  # what a saved discriminator must match to be resumed
        if self.powers["gan"]:
            self.shapes["gan"] = {"patch_size": s.gan_patch_size or cfg.resolution // 8, "dims": s.gan_dims}
        if self.powers["true_face"]:
            inter = model.inter
            self.shapes["true_face"] = {"channels": inter.out_ch,
                                        "resolution": inter.lowres * (1 if inter.up is None else 2)}
        self.nets: dict[str, torch.nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.kept: dict = {}  # saved state of discriminators switched off, carried into the next checkpoint
        self.losses: dict[str, float] = {}  # the discriminators' losses of the last step
        self._codes: list[torch.Tensor] = []
        self._seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # (real, fake) each discriminator learns from
        self.reset()
        for name, net in self.nets.items():
            log.info("%s %g: a %s of %s parameters (%s)", POWERS[name], self.powers[name], NAMES[name],
                     f"{sum(p.numel() for p in net.parameters()):,}",
                     ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.shapes[name].items()))

    def __bool__(self) -> bool:
        return bool(self.nets)

    def reset(self) -> None:
        """Every discriminator as it starts, from the run's seed."""
        for name in self.shapes:
            self._build(name)

    def _build(self, name: str) -> None:
        shape = self.shapes[name]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.s.seed)
            net = (UNetPatchDiscriminator(shape["patch_size"], shape["dims"]) if name == "gan"
                   else CodeDiscriminator(shape["channels"], shape["resolution"]))
        self.nets[name] = net.to(self.device, memory_format=self.layout)
        self.optimizers[name] = self._optimizer(name)

    def _optimizer(self, name: str) -> torch.optim.Optimizer:
        s = self.s
        return make_optimizer(s.optimizer, self.nets[name].parameters(), s.lr, s.lr_dropout, s.lr_cos)

    # ----------------------------------------------------------------------- the step

    @contextlib.contextmanager
    def watching(self, model):
        """Within it, the model's forward passes leave their face codes for the true-face terms."""
        self._codes = []
        hook = (model.inter.register_forward_hook(lambda module, inputs, code: self._codes.append(code))
                if "true_face" in self.nets else None)
        try:
            yield
        finally:
            if hook is not None:
                hook.remove()

    def generator_loss(self, total: torch.Tensor, outputs, b: dict, masked: bool) -> torch.Tensor:
        """`total` + the discriminators' terms for the model (`total` itself when both are off).
        outputs: forward_pair's; b: the step's tensors; masked: masked training with masks."""
        if "gan" in self.nets:
            reals, fakes = [], []
            for side in self.gan_sides:
                rgb, target = outputs[0 if side == "src" else 2].float(), b[f"{side}_target"]
                mask = b[f"{side}_loss_mask"] if masked else None
                fake = rgb if mask is None else rgb * mask
                reals.append(target if mask is None else target * mask)
                fakes.append(fake)
                with frozen(self.nets["gan"]) as net:
                    center, pixels = net(fake)
                total = total + self.powers["gan"] * (judged(center, True) + judged(pixels, True))
                if mask is not None and side == "src":  # keep the GAN from painting the background
                    total = total + 1e-6 * total_variation(rgb) + 0.02 * F.mse_loss(rgb * (1 - mask),
                                                                                     target * (1 - mask))
            self._seen["gan"] = (torch.cat(reals), torch.cat(fakes).detach())
        if "true_face" in self.nets:
            src, dst = torch.cat(self._codes).float().split(len(b["src_in"]))
            self._seen["true_face"] = (dst.detach(), src.detach())
            with frozen(self.nets["true_face"]) as net:
                total = total + self.powers["true_face"] * judged(net(src), True)
        return total

    def train_discriminators(self) -> str | None:
        """One step of each discriminator on what generator_loss saw: real against fake. None when
        they were taken, else why not (a loss that is not finite: a rollback is due)."""
        if not self.nets:
            return None
        losses = {}
        for name, (real, fake) in self._seen.items():
            real_out, fake_out = self.nets[name](real), self.nets[name](fake)
            if name == "gan":  # the patch logits and the pixel logits, each real against fake (DFL's AMP: of
                # both sides' faces, its eight terms averaged, where SAEHD's four are halved)
                losses[name] = sum((judged(r, True) + judged(f, False)) / 2
                                   for r, f in zip(real_out, fake_out)) / len(self.gan_sides)
            else:
                losses[name] = (judged(real_out, True) + judged(fake_out, False)) / 2
        judged_t = torch.stack(list(losses.values())).detach()
        self.ranks.average([judged_t])  # every rank's verdict on a NaN is the same
        values = dict(zip(losses, judged_t.tolist()))
        bad = [f"{NAMES[name]} loss became {value:.4g}" for name, value in values.items() if not math.isfinite(value)]
        if bad:
            return "; ".join(bad)
        for name, loss in losses.items():
            opt = self.optimizers[name]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            self.ranks.average([p.grad for p in self.nets[name].parameters() if p.grad is not None])
            if self.s.clip_grad > 0:
                torch.nn.utils.clip_grad_norm_(self.nets[name].parameters(), self.s.clip_grad)
            opt.step()
        self.losses = values
        self._seen = {}
        return None

    # ----------------------------------------------------------------------- state in, state out

    def state_dict(self) -> dict:
        """Per discriminator (those switched off: as the checkpoint had them) its shape, weights and optimizer."""
        live = {name: {"shape": self.shapes[name], "optimizer": cpu_state(self.optimizers[name]),
                       "weights": {k: v.detach().cpu() for k, v in net.state_dict().items()}}
                for name, net in self.nets.items()}
        return {**self.kept, **live}

    def load_state_dict(self, state: dict | None) -> None:
        """The discriminators from a checkpoint's state_dict(); one it lacks or has in another shape starts fresh."""
        state = state or {}
        self.kept = {name: saved for name, saved in state.items() if name not in self.nets}
        for name in self.nets:
            saved = state.get(name)
            if saved is None or saved["shape"] != self.shapes[name]:
                why = ("the checkpoint has none (trained without it)" if saved is None else
                       f"its shape changed ({saved['shape']} -> {self.shapes[name]})")
                self.log.info("%s %g: %s; the model goes on from the checkpoint, the %s starts fresh", POWERS[name],
                              self.powers[name], why, NAMES[name])
                self._build(name)
                continue
            self.nets[name].load_state_dict(saved["weights"])
            self.optimizers[name] = self._optimizer(name)
            try:
                self.optimizers[name].load_state_dict(saved["optimizer"])
            except (ValueError, KeyError, RuntimeError) as e:
                self.log.warning("the %s's optimizer state is not reusable (%s): starting with a fresh one",
                                 NAMES[name], e)
                self.optimizers[name] = self._optimizer(name)
