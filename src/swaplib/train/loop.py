"""The training loop: a Trainer (model, optimizer, the run's state) and train(), which reads top to
bottom: load the faces, restore or start, step until done, save, write the outputs.

Each step takes batch i (src faces and dst faces, augmented off the main thread: see data.py),
runs src through the source identity and dst through the destination identity, and minimises
DFL's loss (losses.py). Resuming is exact: batch i depends only on (seed, i), and the model,
optimizer and torch RNG are saved (state.py), so on CPU a resumed run gives bit for bit the losses
and weights of an uninterrupted one. SIGINT/SIGTERM finish the step in flight, save, and stop. A
NaN/Inf loss or an exploding gradient rolls back to the last saved state, lowers the learning
rate, logs it and goes on.

Under torchrun each rank (distributed.py) makes its share of batch i and the ranks average their
gradients and losses, so the ranks take the whole batch's step together and agree on every stop and
rollback; rank 0 alone reads and writes files. train_model and pretrain_model start the ranks
themselves (launch.py) for train.devices / train.nodes above 1.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from swaplib.config.train import DEFAULT_PRESET, PRETRAIN_RECIPE
from swaplib.core.errors import SwaplibError
from swaplib.core.images import write_image
from swaplib.core.progress import Progress
from swaplib.model.base import amp_dtype, autocast, precision_name, resolve_device
from swaplib.model.build import build_model, count_parameters
from swaplib.model.config import ModelConfig
from swaplib.model.io import read_header, read_weights, save_model
from swaplib.train import distributed, launch
from swaplib.train.adversarial import Adversarial
from swaplib.train.data import Augmentation, Batches, BatchLoader, FaceData, combined_data, load_face_data
from swaplib.train.distributed import SINGLE, Ranks
from swaplib.train.ema import WeightAverage
from swaplib.train.losses import StyleLosses, pair_losses, ssim_kernels
from swaplib.train.optim import cpu_state, make_optimizer
from swaplib.train.outputs import (
    ESTIMATE_AFTER,
    estimate,
    fmt_loss,
    mean_losses,
    preview,
    watch,
    write_history,
    write_plot,
)
from swaplib.train.settings import TrainSettings, resolve
from swaplib.train.signals import StopOnSignal, TrainingInterrupted
from swaplib.train.state import CHECKPOINT_FORMAT, StateFolder, architecture_changes
from swaplib.train.threads import ThreadTuner

logger = logging.getLogger("swaplib.train")
# Why a run stops before its last iteration; the ranks stop for the last of these that any of them has.
STOPS = ("", "stop request", "max_minutes", "signal")


def _empty_history() -> dict:
    return {"iteration": [], "src": [], "dst": []}


@dataclass
class RunState:
    """What a checkpoint carries besides the weights and the optimizer."""

    iteration: int = 0
    history: dict = field(default_factory=_empty_history)  # per step: iteration, src loss, dst loss
    lr_scale: float = 1.0  # lowered by each rollback
    rollbacks: int = 0
    best_loss: float = math.inf  # lowest mean loss over the steps before a save
    last_saved: int = 0  # the iteration of the last save (not saved itself: it is the iteration)


@dataclass
class FaceSets:
    """The two face sets of a run, checked against each other."""

    src: FaceData
    dst: FaceData
    use_masks: bool
    face_type: str | None
    ids: dict  # {"src": [...], "dst": [...]}: the faces the model was trained on

    @classmethod
    def load(cls, src_faces, dst_faces, s: TrainSettings, R: int, src_masks, dst_masks, log) -> FaceSets:
        src = load_face_data(src_faces, R, "src", src_masks, s.workers)
        dst = load_face_data(dst_faces, R, "dst", dst_masks, s.workers)
        if (src.masks is None) != (dst.masks is None):
            raise SwaplibError("masks given for only one face set: give src and dst masks, or neither")
        if s.eyes_mouth_prio and (src.em_masks is None or dst.em_masks is None):
            log.warning("eyes_mouth_prio asked for, but the face sets have no eyes-and-mouth masks: not used")
        need_masks = [k for k in ("face_style_power", "bg_style_power", "blur_out_mask") if getattr(s, k)]
        if need_masks and src.masks is None:
            log.warning("%s asked for, but the face sets have no masks: not used", ", ".join(need_masks))
        if src.face_type and dst.face_type and src.face_type != dst.face_type:
            raise SwaplibError(f"src faces are {src.face_type} crops but dst faces are {dst.face_type}: extract both "
                               f"with one face type")
        ids = {"src": src.ids, "dst": dst.ids}
        if s.pretrain:  # DFL: both identities learn all faces
            src = dst = FaceData.join("all", src, dst)
        return cls(src, dst, src.masks is not None, src.face_type or dst.face_type, ids)


class Trainer:
    """The model, its optimizer and the run's state, with what changes them: restore, save,
    rollback and step."""

    def __init__(self, model_cfg: ModelConfig, s: TrainSettings, faces: FaceSets, state: StateFolder, device, log,
                 base: Path | None = None, ranks: Ranks = SINGLE):
        self.cfg, self.s, self.faces, self.state, self.device, self.log = model_cfg, s, faces, state, device, log
        self.ranks = ranks
        if s.from_base and base is None:
            raise SwaplibError("from_base is set but no base model was given: the workflow's pretrain section names "
                               "the faces it is trained on")
        self.base = Path(base) if s.from_base else None
        # The base's weights digest: a checkpoint started from another base (or from none) is not this model's.
        self.base_id = read_header(self.base)["weights_sha256"] if self.base else None
        torch.manual_seed(s.seed)  # a fresh start is seeded; a checkpoint, if any, overwrites it in resume()
        self.model = build_model(model_cfg).to(device)
        self.amp = amp_dtype(s.precision, device)
        auto_layout = device.type == "cuda" or self.amp is not None
        self.channels_last = s.channels_last if s.channels_last is not None else auto_layout
        self.model = self.model.to(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        if not s.random_warp:
            for name in self.model.FROZEN_WITHOUT_WARP:
                getattr(self.model, name).requires_grad_(False)
        self.opt = self.new_optimizer()
        # the GAN and true-face discriminators
        self.adversarial = Adversarial(self.model, model_cfg, s, device, log, self.channels_last, ranks)
        self.run = RunState()
        self.ema: WeightAverage | None = None  # made in resume(), once the weights are what training starts from
        self.scaler = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
        self.own_loss_terms = self.model.OWN_LOSS_TERMS
        self.kernels = ssim_kernels(model_cfg.resolution, device, both=self.own_loss_terms)
        # the face and background style losses, on a swap pass of their own (they need the faces' masks)
        self.style = (StyleLosses.make(s.face_style_power, s.bg_style_power, model_cfg.resolution, device)
                      if faces.use_masks else None)
        self.grad_mean: float | None = None  # running mean of the gradient norm (explosion check)
        self.start = 0  # the iteration this process started at
        self.rollbacks_in_a_row = 0

    def new_optimizer(self):
        s = self.s
        return make_optimizer(s.optimizer, [p for p in self.model.parameters() if p.requires_grad], s.lr,
                              s.lr_dropout, s.lr_cos)

    # ----------------------------------------------------------------------- state in, state out

    def restore(self, ckpt: dict) -> None:
        """Model, optimizer, RNG and run state from a checkpoint."""
        self.model.load_state_dict(ckpt["model"])
        self.opt = self.new_optimizer()
        try:
            self.opt.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError, RuntimeError) as e:
            self.log.warning("optimizer state not reusable (%s; optimizer now %s): starting with a fresh one", e,
                             self.s.optimizer)
            self.opt = self.new_optimizer()
        torch.set_rng_state(ckpt["rng"]["torch"])
        cuda = ckpt["rng"].get("cuda")
        if cuda and self.device.type == "cuda" and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        if self.s.ema:
            self.ema = WeightAverage(self.model, self.s.ema)
            if ckpt.get("ema") is not None:
                self.ema.load_state_dict(ckpt["ema"])
            else:
                self.log.info("the checkpoint has no weight average: it starts from its weights")
        self.adversarial.load_state_dict(ckpt.get("adversarial"))
        it = int(ckpt["iteration"])
        self.run = RunState(iteration=it, history={k: v.tolist() for k, v in ckpt["history"].items()},
                            lr_scale=float(ckpt.get("lr_scale", 1.0)), rollbacks=int(ckpt.get("rollbacks", 0)),
                            best_loss=float(ckpt.get("best_loss", math.inf)), last_saved=it)

    def resume(self) -> int | None:
        """Continue from the state folder where it fits; the iteration resumed from, or None (a fresh start)."""
        s, log, ranks = self.s, self.log, self.ranks
        ckpt = ranks.first(self.state.load() if ranks.main else None)
        unfit = ckpt is not None and self.unfit(ckpt)
        if unfit:
            if ranks.main:
                self.state.move_incompatible(ckpt, unfit)
            ckpt = None
        resumed_from = None
        if ckpt is not None and ckpt.get("pretrain") and not s.pretrain:
            self.keep_all_but_inter(ckpt["model"])
            log.info("pretrained model (%d iterations) found: training starts at iteration 0 with its encoder and "
                     "decoder(s) and fresh inter layer(s)", ckpt["iteration"])
        elif ckpt is None and self.base is not None:
            self.start_from_base()
        elif ckpt is not None:
            self.restore(ckpt)
            resumed_from = self.run.iteration
            log.info("resuming from iteration %d of %d (%s)", resumed_from, s.iterations, self.state.checkpoint)
            old = ckpt.get("settings", {})
            changed = [f"{k} {old[k]!r} -> {v!r}" for k, v in s.to_dict().items()
                       if k != "iterations" and k in old and old[k] != v]
            if changed:
                log.info("settings changed since the checkpoint (the new values apply from here): %s",
                         ", ".join(changed))
            if resumed_from >= s.iterations:
                log.info("checkpoint already at iteration %d >= %d: no training steps to do; writing the outputs "
                         "from it", resumed_from, s.iterations)
        else:
            log.info("training from scratch: %d src faces, %d dst faces, %s, %d iterations", len(self.faces.src),
                     len(self.faces.dst), self.cfg, s.iterations)
        if s.ema and self.ema is None:  # a fresh start (or from a base): the average starts at the weights
            self.ema = WeightAverage(self.model, s.ema)
        self.start = self.run.iteration
        self.set_lr()
        log.info("model %s: %.2fM parameters on %s, %s%s, optimizer %s lr %.3g%s", self.cfg.archi,
                 count_parameters(self.model) / 1e6, self.device,
                 precision_name(self.amp) + (" autocast" if self.amp else ""),
                 ", channels_last" if self.channels_last else "", s.optimizer, self.lr,
                 f", lr dropout {s.lr_dropout}" if s.lr_dropout < 1 else "")
        if self.own_loss_terms:
            log.info("AMP's own recipe (recipe.json amp_version): DSSIM at both window sizes, the destination's "
                     "background loss%s", "; the GAN judges source and destination faces" if self.adversarial else "")
        return resumed_from

    def unfit(self, ckpt: dict) -> str:
        """Why a checkpoint is not this model's to resume (empty when it is): another architecture, or
        another starting point (a shared base trained again, one added or one taken away)."""
        changed = architecture_changes(ckpt["model_config"], self.cfg.to_dict())
        if changed:
            return f"model architecture changed ({changed})"
        was = ckpt.get("base")  # None also for a checkpoint from before shared bases
        if was == self.base_id:
            return ""
        if was is None:
            return f"the model now starts from the shared base {self.base}"
        if self.base_id is None:
            return "the model no longer starts from a shared base (from_base is off)"
        return f"the shared base {self.base} was trained again (weights {was[:12]} -> {self.base_id[:12]})"

    def keep_all_but_inter(self, weights: dict) -> None:
        """DFL's switch from pretraining: the given encoder and decoder(s), fresh inter layer(s), a fresh optimizer."""
        self.model.load_state_dict(weights)
        fresh = build_model(self.cfg)
        for name in self.model.FRESH_AFTER_BASE:
            getattr(self.model, name).load_state_dict(getattr(fresh, name).state_dict())
        self.opt = self.new_optimizer()

    def start_from_base(self) -> None:
        weights, header = read_weights(self.base)
        changed = architecture_changes(header["model_config"], self.cfg.to_dict())
        if changed:
            raise SwaplibError(f"{self.base}: the shared base has another architecture than this model ({changed}); "
                               f"the base is trained with the train section's architecture: rerun the pretrain rule")
        self.keep_all_but_inter(weights)
        self.log.info("starting from the shared base %s (%d iterations): its encoder and decoder(s), fresh inter "
                      "layer(s), iteration 0", self.base, header.get("iterations", 0))

    @property
    def lr(self) -> float:
        return self.s.lr * self.run.lr_scale

    def set_lr(self) -> None:
        """The current settings' learning rate (settings other than the architecture may change between runs)."""
        for group in (g for opt in (self.opt, *self.adversarial.optimizers.values()) for g in opt.param_groups):
            group["lr"] = self.lr
            if "lr_dropout" in group:
                group["lr_dropout"], group["lr_cos"] = self.s.lr_dropout, self.s.lr_cos

    def snapshot(self, recent_loss: float | None) -> dict:
        """Everything a resume needs, on the CPU, as a checkpoint dict."""
        cpu = lambda sd: {k: v.detach().cpu() for k, v in sd.items()}
        rng = {"torch": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else []}
        run, history = self.run, self.run.history
        return {"format": CHECKPOINT_FORMAT, "model_config": self.cfg.to_dict(), "model": cpu(self.model.state_dict()),
                "optimizer": cpu_state(self.opt), "iteration": run.iteration, "rng": rng,
                "lr_scale": run.lr_scale, "rollbacks": run.rollbacks, "best_loss": run.best_loss,
                "recent_loss": recent_loss, "pretrain": self.s.pretrain, "base": self.base_id,
                "ema": self.ema.state_dict() if self.ema else None, "adversarial": self.adversarial.state_dict(),
                "history": {"iteration": torch.tensor(history["iteration"], dtype=torch.int64),
                            "src": torch.tensor(history["src"], dtype=torch.float64),
                            "dst": torch.tensor(history["dst"], dtype=torch.float64)},
                "settings": self.s.to_dict(), "masks": self.faces.use_masks, "faces": self.faces.ids}

    def save(self) -> None:
        """A checkpoint now (+ a backup when one is due, + best.pt when the recent loss is the lowest yet)."""
        run, s = self.run, self.s
        n = max(1, run.iteration - run.last_saved)
        history = run.history
        recent = float(np.mean(np.add(history["src"][-n:], history["dst"][-n:]))) if history["iteration"] else None
        is_best = recent is not None and recent < run.best_loss
        if is_best:
            run.best_loss = recent
        backup = bool(s.backup_every) and run.iteration // s.backup_every > run.last_saved // s.backup_every
        if self.ranks.main:  # the ranks' states are equal: one copy
            self.state.save(self.snapshot(recent), backup=backup, keep=s.backup_keep, best=is_best)
        run.last_saved = run.iteration

    def rollback(self, reason: str) -> None:
        """Back to the last saved state (or the initial weights), with a lower learning rate."""
        s = self.s
        failed_at, rollbacks = self.run.iteration + 1, self.run.rollbacks + 1
        lr_scale = self.run.lr_scale * s.rollback_lr_factor
        self.rollbacks_in_a_row += 1
        if self.rollbacks_in_a_row > s.max_rollbacks:
            raise SwaplibError(f"{reason} at iteration {failed_at} again after {s.max_rollbacks} rollbacks and "
                               f"learning-rate cuts (lr now {self.lr:.3g}): giving up; check the face sets, lower lr "
                               f"or set clip_grad")
        main = self.ranks.main
        ckpt = self.ranks.first(self.state.load() if main and self.state.checkpoint.exists() else None)
        if ckpt is not None:
            self.restore(ckpt)
        else:  # nothing saved yet: the initial weights, made again from the seed
            torch.manual_seed(s.seed)
            self.model.load_state_dict(build_model(self.cfg).state_dict())
            self.opt = self.new_optimizer()
            torch.manual_seed(s.seed)
            self.run = RunState()
            self.ema = WeightAverage(self.model, s.ema) if s.ema else None
            self.adversarial.reset()
        self.run.lr_scale, self.run.rollbacks = lr_scale, rollbacks
        self.set_lr()
        self.grad_mean = None
        self.log.warning("%s at iteration %d: rolled back to iteration %d, learning rate lowered to %.3g (rollback %d)",
                         reason, failed_at, self.run.iteration, self.lr, rollbacks)

    # ----------------------------------------------------------------------- one step

    def tensor(self, array: np.ndarray) -> torch.Tensor:
        """NHWC float32 → NCHW view on the device (channels_last memory, as the model wants it)."""
        pin = self.device.type == "cuda"
        t = torch.from_numpy(array)
        t = (t.pin_memory() if pin else t).to(self.device, non_blocking=pin)
        t = t.permute(0, 3, 1, 2) if t.ndim == 4 else t[:, None]
        return t if self.channels_last else t.contiguous()

    def step(self, batch: dict[str, np.ndarray], masked: bool, eyes_mouth: bool) -> str | None:
        """One optimizer step on `batch`; None when it was taken, else why not (a rollback is due)."""
        b = {k: self.tensor(v) for k, v in batch.items()}
        opt, scaler, s, adversarial = self.opt, self.scaler, self.s, self.adversarial
        opt.zero_grad(set_to_none=True)
        with autocast(self.device, self.amp):
            with adversarial.watching(self.model):  # the true-face terms see this pass's codes only
                outputs = self.model.forward_pair(b["src_in"], b["dst_in"])
            swap = self.model(b["dst_in"], "src")[0] if self.style else None  # the swap: dst faces drawn as src
        losses = pair_losses(outputs, b, self.kernels, masked=masked, eyes_mouth=eyes_mouth,
                             amp_background=self.own_loss_terms)
        if self.style:  # DFL adds them to the source loss
            losses[0] = losses[0] + self.style(swap.float(), b)
        total = adversarial.generator_loss(losses[0] + losses[1], outputs, b, masked)
        (scaler.scale(total) if scaler else total).backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        pair = torch.stack([losses[0].detach().float(), losses[1].detach().float()])
        # the whole batch's gradient and losses on every rank: the same step, the same verdict on a NaN
        self.ranks.average([p.grad for p in params] + [pair])
        if scaler:
            scaler.unscale_(opt)
        norm_t = torch.nn.utils.get_total_norm([p.grad for p in params])
        if s.clip_grad > 0:
            torch.nn.utils.clip_grads_with_norm_(params, s.clip_grad, norm_t)
        ls, ld, norm = torch.cat([pair, norm_t.float()[None]]).tolist()
        if not (math.isfinite(ls) and math.isfinite(ld)):
            return f"loss became {ls:.4g}/{ld:.4g}"
        if not math.isfinite(norm) and not scaler:
            return f"gradient norm became {norm}"
        grad_mean, it = self.grad_mean, self.run.iteration
        if s.explode_factor and grad_mean is not None and it - self.start > 20 and norm > s.explode_factor * grad_mean:
            return f"exploding gradient (norm {norm:.3g}, {norm / grad_mean:.0f}x its running mean)"
        self.grad_mean = norm if grad_mean is None else 0.95 * grad_mean + 0.05 * norm
        if scaler:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        bad = adversarial.train_discriminators()
        if bad:
            return bad
        if self.ema:
            self.ema.update(self.model)
        self.run.iteration = it + 1
        for key, value in (("iteration", it + 1), ("src", ls), ("dst", ld)):
            self.run.history[key].append(value)
        return None

    def out_of_memory(self) -> SwaplibError:
        """The error for an out-of-memory step, after saving what was trained since the last save (memory runs
        out in the forward or backward pass, before the optimizer changes any weight)."""
        it, bs, cfg = self.run.iteration, self.s.batch_size, self.cfg
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        saved = ""
        if it > self.run.last_saved and self.ranks.main:
            self.save()
            saved = f"; iteration {it} is saved, a rerun resumes from it"
        return SwaplibError(f"out of memory on {self.device} at iteration {it + 1} with batch_size {bs} at "
                            f"resolution {cfg.resolution} ({cfg.archi}, {precision_name(self.amp)}): lower "
                            f"train.batch_size (e.g. {max(1, bs // 2)}) or train.resolution{saved}")

    @property
    def result(self):
        """The model the merge gets: the weight average where there is one."""
        return self.ema.model if self.ema else self.model

    def preview(self) -> np.ndarray:
        return preview(self.result, self.faces.src, self.faces.dst, self.device, self.amp)


# --------------------------------------------------------------------------- the loop


def train(
    src_faces,
    dst_faces,
    model_cfg: ModelConfig,
    settings: TrainSettings,
    *,
    state_dir: Path,
    model_path: Path,
    preview_path: Path,
    history_path: Path,
    plot_path: Path,
    src_masks=None,
    dst_masks=None,
    base: Path | None = None,
    log: logging.Logger = logger,
) -> dict:
    """Train (or continue training) a model; write model, preview, history and plot at the end.

    src_faces / dst_faces: FaceSetFiles (crops with masks, eyes-and-mouth masks, yaw, ids: see
    data.face_set_data) or plain lists of crop paths. Masks (optional, both or neither) may also
    be given as arrays (N,R,R) 0..1 or lists of arrays / grayscale mask image paths. With
    settings.from_base, a fresh start takes its encoder and decoder(s) from the `base` model file.
    Returns a summary dict.
    """
    s = settings
    ranks = distributed.current()  # this process alone, or one rank of those torchrun started
    device = ranks.device(resolve_device(s.device))
    share = ranks.share(s.batch_size)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # the shapes never change during a run: pick the fastest kernels once
    state = StateFolder(state_dir, log)
    faces = FaceSets.load(src_faces, dst_faces, s, model_cfg.resolution, src_masks, dst_masks, log)
    if s.pretrain:  # DFL: no warp, flips, even yaw, no lr dropout
        s = replace(s, **PRETRAIN_RECIPE)
    trainer = Trainer(model_cfg, s, faces, state, device, log, base, ranks)
    resumed_from = trainer.resume()
    if ranks.size > 1:
        log.info("data parallel: rank %d of %d, %d of each batch's %d samples on %s", ranks.rank, ranks.size,
                 share.stop - share.start, s.batch_size, device)
    batches = Batches(faces.src, faces.dst, s.batch_size, s.seed,
                      Augmentation(s.random_flip, s.random_warp, s.random_transform, s.ct_mode, s.uniform_yaw,
                                   s.random_hsv_power, s.blur_out_mask),
                      faces.use_masks, with_eyes_mouth=s.eyes_mouth_prio, share=share)
    masked, eyes_mouth = faces.use_masks and s.masked_training, batches.with_em

    step_times: list[float] = []
    progress = Progress(s.iterations, "iteration", unit="it", log=log, mode=s.progress if ranks.main else "off",
                        start=trainer.start)
    t_start = time.perf_counter()
    trainer.model.train()
    threads_before = torch.get_num_threads()
    if s.threads:
        torch.set_num_threads(s.threads)
    # On a GPU the CPU only makes batches; on a CPU the fastest thread count depends on what else runs. With
    # several ranks a step waits for the slowest, so one rank's timings would measure the others: no tuning.
    tuner = ThreadTuner(torch.get_num_threads(), log) if device.type == "cpu" and ranks.size == 1 else None
    deadline = t_start + 60 * s.max_minutes if s.max_minutes else math.inf
    stopped_by = "iterations"
    if ranks.main and state.stop_requested():  # asked for while nothing trained: not this run's to obey
        log.warning("a stop request from before this run (%s) was removed", state.dir / "STOP")
        state.clear_stop()
    with StopOnSignal() as stop, BatchLoader(batches, s.workers) as loader:
        try:
            while trainer.run.iteration < s.iterations:
                mine = ("signal" if stop.signum is not None else  # rank 0's clock and stop file, any rank's signal
                        "max_minutes" if ranks.main and time.perf_counter() >= deadline else
                        "stop request" if ranks.main and state.stop_requested() else "")
                why = STOPS[ranks.most(STOPS.index(mine))]
                if why == "signal":
                    stop.check(trainer.run.iteration)  # this rank's, by its name
                    raise TrainingInterrupted(f"training stopped by a signal to another rank at iteration "
                                              f"{trainer.run.iteration}")
                if why == "max_minutes":
                    stopped_by = "max_minutes"
                    log.info("time budget of %g min reached at iteration %d of %d: stopping here (the model records "
                             "iteration %d; raise max_minutes or iterations to go on)", s.max_minutes,
                             trainer.run.iteration, s.iterations, trainer.run.iteration)
                    break
                if why == "stop request":
                    stopped_by = "stop request"
                    if ranks.main:
                        state.clear_stop()
                    log.info("stop requested at iteration %d of %d: stopping here and writing the model (raise "
                             "iterations to go on)", trainer.run.iteration, s.iterations)
                    break
                if tuner:
                    tuner.before_step()
                t_step = time.perf_counter()
                try:
                    batch = loader.get(trainer.run.iteration, trainer.run.rollbacks)
                    bad = trainer.step(batch, masked, eyes_mouth)
                except torch.OutOfMemoryError:
                    raise trainer.out_of_memory() from None
                if tuner:
                    tuner.after_step(time.perf_counter() - t_step)
                if bad:
                    trainer.rollback(bad)
                    continue
                run = trainer.run
                it, ls, ld = run.iteration, run.history["src"][-1], run.history["dst"][-1]
                step_times.append(time.perf_counter() - t_step)
                samples = progress.rate() * 2 * s.batch_size  # src + dst faces per step
                progress.advance_to(it, f"src {ls:.4f}  dst {ld:.4f}  {samples:.1f} samples/s")
                if it - trainer.start == ESTIMATE_AFTER:
                    threads = tuner.best if tuner else torch.get_num_threads()  # not a count under trial
                    log.info("%s", estimate(progress, s, device, trainer.amp, t_start, threads))
                if s.save_every and it % s.save_every == 0 and it < s.iterations:
                    trainer.save()
                    trainer.rollbacks_in_a_row = 0
                    if ranks.main:
                        watch(state.dir, trainer.preview(), trainer.run.history)
                if ranks.main and s.preview_every and it % s.preview_every == 0:
                    write_image(state.dir / "previews" / f"preview_{it:07d}.jpg", trainer.preview())
            if trainer.run.iteration > trainer.run.last_saved or not state.checkpoint.exists():
                trainer.save()
            stop.check(trainer.run.iteration)
        except KeyboardInterrupt:
            if trainer.run.iteration > trainer.run.last_saved:
                trainer.save()
            log.warning("training interrupted at iteration %d of %d; checkpoint saved in %s: run again to resume",
                        trainer.run.iteration, s.iterations, state.dir)
            raise
        finally:
            progress.close()
            torch.set_num_threads(threads_before)

        run = trainer.run
        seconds = time.perf_counter() - t_start
        losses = mean_losses(run.history)
        if ranks.main:  # one copy of the outputs
            write_image(preview_path, trainer.preview())
            write_history(Path(history_path), run.history)
            write_plot(Path(plot_path), run.history)
            stop.check(run.iteration)
            save_model(model_path, trainer.result, iterations=run.iteration, stopped_by=stopped_by,
                       settings=s.to_dict(), losses=losses, masks_trained=faces.use_masks, faces=faces.ids,
                       face_type=faces.face_type, best_loss=run.best_loss if math.isfinite(run.best_loss) else None,
                       base={"path": str(trainer.base), "weights_sha256": trainer.base_id} if trainer.base else None)

    steps = run.iteration - trainer.start
    steady = step_times[min(3, len(step_times) // 2):]  # leave out the first steps (warm-up)
    ms_per_it = 1000 * float(np.median(steady)) if steady else None
    log.info("done: %d iterations (%d this run) in %.1f s, final losses src %s dst %s", run.iteration, steps, seconds,
             fmt_loss(losses["src"]), fmt_loss(losses["dst"]))
    return {"iterations": run.iteration, "stopped_by": stopped_by, "steps": steps, "resumed_from": resumed_from,
            "losses": losses, "seconds": seconds, "it_per_s": steps / seconds if steps and seconds > 0 else None,
            "ms_per_it": ms_per_it,
            "samples_per_s": 2 * s.batch_size * 1000 / ms_per_it if ms_per_it else None, "rollbacks": run.rollbacks,
            "lr": trainer.lr, "device": str(device), "ranks": ranks.size,
            "parameters": count_parameters(trainer.model), "masks_trained": faces.use_masks}


# --------------------------------------------------------------------------- the workflow's train stage

TRAINING_FILES = ("state_dir", "model_path", "preview_path", "history_path", "plot_path")  # what a training writes


def train_model(
    *,
    src: tuple[str | Path, str | Path],
    dst: list[tuple[str | Path, str | Path]],
    state_dir: str | Path,
    model_path: str | Path,
    preview_path: str | Path,
    history_path: str | Path,
    plot_path: str | Path,
    threads: int | None = None,
    preset: str = DEFAULT_PRESET,
    base: str | Path | None = None,
    src_masks: str | Path | None = None,
    dst_masks: list[str | Path] | None = None,
    **section,
) -> dict:
    """Train a model on one source face set and one or more destination face sets.

    src and each dst entry are (faceset.parquet, faces folder); `section` is config.yaml's `train:`
    section (settings.SECTION; None: the preset's value). SWAPLIB_DEVICE, when set, replaces
    device "auto". The faces' masks are the mask targets (the model learns its own mask) and, with
    masked_training, weight the loss: their hulls, or with train.masks xseg the segmentation model's
    masks in src_masks and dst_masks (each face set's masks folder, in dst's order). `base`: the
    shared base model (with from_base).
    """
    files = dict(state_dir=state_dir, model_path=model_path, preview_path=preview_path, history_path=history_path,
                 plot_path=plot_path)
    masks = None if src_masks is None and dst_masks is None else ([src_masks], list(dst_masks or []))
    return train_face_sets([src], dst, preset, threads, section, files, base, masks)


def pretrain_model(
    *,
    sources: list[tuple[str | Path, str | Path]],
    threads: int | None = None,
    preset: str = DEFAULT_PRESET,
    **section_and_files,
) -> dict:
    """Train a shared base model: every face of every source through both identities (DFL's
    pretraining), with the train section's architecture and recipe. A model with from_base starts
    from it: its encoder and decoder(s), fresh inter layer(s). sources: (faceset.parquet, faces folder);
    the files it writes are train_model's (TRAINING_FILES), the other keywords the train section's."""
    if not sources:
        raise SwaplibError("a shared base needs face sources: the pretrain section names none")
    files = {key: section_and_files.pop(key) for key in TRAINING_FILES if key in section_and_files}
    if len(files) < len(TRAINING_FILES):
        raise TypeError(f"pretrain_model needs {', '.join(k for k in TRAINING_FILES if k not in files)}")
    half = max(1, len(sources) // 2)  # the two halves are joined again: pretraining shows every face to both
    # the base learns the hulls: a pair's model relearns its mask decoder on its own masks
    section = {**section_and_files, "pretrain": True, "from_base": False, "masks": "hull"}
    return train_face_sets(sources[:half], sources[half:] or sources, preset, threads, section, files, None)


def job_files(job) -> dict:
    """A train or pretrain job's files (its state param and outputs) as train_model's keywords."""
    out = job.output
    return dict(state_dir=job.params.state, model_path=out.model, preview_path=out.preview, history_path=out.history,
                plot_path=out.plot)


def train_face_sets(src: list, dst: list, preset: str, threads: int | None, section: dict, files: dict,
                    base, masks: tuple[list, list] | None = None) -> dict:
    """train_model's and pretrain_model's work: in this process, or on the ranks train.devices and
    train.nodes ask for (each of them back here, as one rank)."""
    if section.get("device", "auto") == "auto" and os.environ.get("SWAPLIB_DEVICE"):
        section = {**section, "device": os.environ["SWAPLIB_DEVICE"]}
    cfg, settings = resolve(preset, threads=threads, **section)
    if settings.devices * settings.nodes > 1 and not distributed.launched():
        return launch.spawn(dict(src=src, dst=dst, preset=preset, threads=threads, section=section, files=files,
                                 base=base, masks=masks), settings)
    if settings.masks == "xseg" and (masks is None or None in masks[0] or len(masks[1]) != len(dst)):
        raise SwaplibError("train.masks xseg trains on the segmentation model's masks: give every face set's "
                           "masks folder (the workflow does with xseg.enabled: true)")
    if settings.masks == "hull":
        masks = None  # the landmark hulls
    else:
        logger.info("face masks: the segmentation model's (train.masks xseg), from %s", ", ".join(
            str(d) for d in masks[0] + masks[1]))
    src_dirs, dst_dirs = masks or (None, None)
    return train(combined_data(src, cfg.resolution, src_dirs), combined_data(dst, cfg.resolution, dst_dirs), cfg,
                 settings, base=Path(base) if base else None, **{k: Path(v) for k, v in files.items()})
