"""Training the segmentation model, as crash-safe as the swap models' training.

The state lives in a state folder (swaplib.train.state.StateFolder: checkpoint.pt written durably
with a CRC, checkpoint.prev.pt, corrupt files moved aside): a rerun resumes from it, exactly on a
CPU (batch i depends only on (seed, i); weights, optimizer and RNG are saved). Another network
shape (xseg.resolution) starts fresh and keeps the old checkpoint aside. A NaN/Inf loss rolls back
to the last checkpoint with half the learning rate; SIGINT/SIGTERM save and stop. The loss is
binary cross-entropy of the mask logit against the label.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.core.grid_labels import row_labels
from swaplib.core.images import write_image
from swaplib.core.progress import Progress
from swaplib.model.base import resolve_device
from swaplib.model.io import save_model
from swaplib.train.signals import StopOnSignal
from swaplib.train.state import CHECKPOINT_FORMAT, StateFolder
from swaplib.xseg.apply import predict
from swaplib.xseg.data import XSegData, batch, load_sources
from swaplib.xseg.model import XSegConfig, XSegNet
from swaplib.xseg.settings import XSegSettings, xseg_settings

logger = logging.getLogger("swaplib.xseg")

MAX_ROLLBACKS = 8  # NaN losses in a row before training gives up
PREVIEW_ROWS = ("crop", "mask over it", "mask")


class XSegTrainer:
    """The network, its optimizer and its run state, with what changes them: resume, save, rollback, step."""

    def __init__(self, cfg: XSegConfig, s: XSegSettings, data: XSegData, state: StateFolder, device, log):
        self.cfg, self.s, self.data, self.state, self.device, self.log = cfg, s, data, state, device, log
        torch.manual_seed(s.seed)
        self.model = XSegNet(cfg).to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=s.lr)
        self.iteration, self.lr_scale, self.rollbacks, self.in_a_row = 0, 1.0, 0, 0
        self.history: dict[str, list] = {"iteration": [], "loss": []}
        self.last_saved = 0

    def snapshot(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "model_config": self.cfg.to_dict(),
                "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "optimizer": self.opt.state_dict(), "iteration": self.iteration,
                "rng": {"torch": torch.get_rng_state()}, "lr_scale": self.lr_scale, "rollbacks": self.rollbacks,
                "history": {"iteration": torch.tensor(self.history["iteration"], dtype=torch.int64),
                            "loss": torch.tensor(self.history["loss"], dtype=torch.float64)},
                "settings": {k: v for k, v in vars(self.s).items() if k != "videos"}, "faces": len(self.data)}

    def save(self) -> None:
        self.state.save(self.snapshot(), backup=False, keep=1, best=False)
        self.last_saved = self.iteration

    def restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.s.lr)
        self.opt.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        self.iteration = self.last_saved = int(ckpt["iteration"])
        self.lr_scale, self.rollbacks = float(ckpt.get("lr_scale", 1.0)), int(ckpt.get("rollbacks", 0))
        self.history = {k: v.tolist() for k, v in ckpt["history"].items()}

    def resume(self) -> int | None:
        """Continue from the state folder where the checkpoint fits; the iteration resumed from, or None."""
        ckpt = self.state.load()
        if ckpt is not None and ckpt["model_config"] != self.cfg.to_dict():
            self.state.move_incompatible(ckpt, f"xseg network changed ({ckpt['model_config']} -> {self.cfg.to_dict()})")
            ckpt = None
        if ckpt is None:
            self.log.info("xseg training from scratch: %d faces, %s, %d iterations", len(self.data), self.cfg,
                          self.s.iterations)
            self.set_lr()
            return None
        self.restore(ckpt)
        self.set_lr()
        self.log.info("xseg resuming from iteration %d of %d (%s)", self.iteration, self.s.iterations,
                      self.state.checkpoint)
        return self.iteration

    def set_lr(self) -> None:
        for group in self.opt.param_groups:
            group["lr"] = self.s.lr * self.lr_scale

    def rollback(self, reason: str) -> None:
        """Back to the last checkpoint (or the initial weights) with half the learning rate."""
        failed_at = self.iteration + 1
        self.in_a_row += 1
        if self.in_a_row > MAX_ROLLBACKS:
            raise SwaplibError(f"xseg: {reason} at iteration {failed_at} again after {MAX_ROLLBACKS} rollbacks: giving "
                               f"up; lower xseg.lr")
        lr_scale, rollbacks = self.lr_scale * 0.5, self.rollbacks + 1
        ckpt = self.state.load() if self.state.checkpoint.exists() else None
        if ckpt is not None:
            self.restore(ckpt)
        else:
            torch.manual_seed(self.s.seed)
            self.model.load_state_dict(XSegNet(self.cfg).state_dict())
            self.opt = torch.optim.Adam(self.model.parameters(), lr=self.s.lr)
            self.iteration, self.history = 0, {"iteration": [], "loss": []}
        self.lr_scale, self.rollbacks = lr_scale, rollbacks
        self.set_lr()
        self.log.warning("xseg: %s at iteration %d: rolled back to iteration %d, learning rate now %.3g", reason,
                         failed_at, self.iteration, self.s.lr * self.lr_scale)

    def loss(self, images: np.ndarray, masks: np.ndarray) -> torch.Tensor:
        x, y = torch.from_numpy(images).to(self.device), torch.from_numpy(masks).to(self.device)
        return F.binary_cross_entropy_with_logits(self.model(x), y)

    def step(self) -> str | None:
        """One optimizer step on the next batch; None when taken, else why not (a rollback is due)."""
        s = self.s
        images, masks = batch(self.data, self.iteration, s.seed, s.batch_size, s.occlusion, s.labelled_share)
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(images, masks)
        value = float(loss.detach())
        if not math.isfinite(value):
            return f"loss became {value}"
        loss.backward()
        self.opt.step()
        self.iteration += 1
        self.history["iteration"].append(self.iteration)
        self.history["loss"].append(value)
        return None


def train_xseg(data: XSegData, s: XSegSettings, *, state_dir: Path, model_path: Path, preview_path: Path,
               plot_path: Path, threads: int | None = None, log: logging.Logger = logger) -> dict:
    """Train (or continue) the segmentation model on `data`; write the model, its preview and loss plot."""
    cfg = XSegConfig(resolution=s.resolution, width=s.width)
    if data.images.shape[1] != cfg.resolution:
        raise SwaplibError(f"xseg data at {data.images.shape[1]} px, the model at {cfg.resolution} px")
    device = resolve_device(s.device)
    trainer = XSegTrainer(cfg, s, data, StateFolder(state_dir, log), device, log)
    resumed_from = trainer.resume()
    start, t_start, step_times = trainer.iteration, time.perf_counter(), []
    threads_before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    progress = Progress(s.iterations, "xseg iteration", unit="it", log=log, mode="off", start=start)
    trainer.model.train()
    with StopOnSignal() as stop:
        try:
            while trainer.iteration < s.iterations:
                stop.check(trainer.iteration)
                t_step = time.perf_counter()
                bad = trainer.step()
                if bad:
                    trainer.rollback(bad)
                    continue
                step_times.append(time.perf_counter() - t_step)
                progress.advance_to(trainer.iteration, f"loss {trainer.history['loss'][-1]:.4f}")
                if s.save_every and trainer.iteration % s.save_every == 0:
                    trainer.save()
                    trainer.in_a_row = 0
            if trainer.iteration > trainer.last_saved or not trainer.state.checkpoint.exists():
                trainer.save()
        except KeyboardInterrupt:
            if trainer.iteration > trainer.last_saved:
                trainer.save()
            log.warning("xseg training interrupted at iteration %d; checkpoint saved in %s: run again to resume",
                        trainer.iteration, state_dir)
            raise
        finally:
            progress.close()
            torch.set_num_threads(threads_before)
    recent = trainer.history["loss"][-50:]
    loss = float(np.mean(recent)) if recent else None
    write_image(preview_path, preview(trainer.model, data))
    write_loss_plot(plot_path, trainer.history)
    save_model(model_path, trainer.model, iterations=trainer.iteration, loss=loss, faces=len(data),
               labelled=int(data.labelled.sum()), settings=trainer.snapshot()["settings"])
    steady = step_times[min(3, len(step_times) // 2):]
    ms_per_it = 1000 * float(np.median(steady)) if steady else None
    log.info("xseg done: %d iterations (%d this run), loss %s", trainer.iteration, trainer.iteration - start,
             "n/a" if loss is None else f"{loss:.4f}")
    return {"iterations": trainer.iteration, "resumed_from": resumed_from, "loss": loss, "ms_per_it": ms_per_it,
            "samples_per_s": s.batch_size * 1000 / ms_per_it if ms_per_it else None, "rollbacks": trainer.rollbacks,
            "seconds": time.perf_counter() - t_start}


def preview(model: XSegNet, data: XSegData, n: int = 8) -> np.ndarray:
    """Columns of faces spread over the data: the crop, its mask over it (faded outside), the mask. BGR uint8."""
    picks = np.linspace(0, len(data) - 1, min(n, len(data))).round().astype(int)
    crops = data.images[picks]
    masks = predict(model, crops)[..., None]
    over = (crops * (0.3 + 0.7 * masks)).round().astype(np.uint8)
    grey = np.repeat((masks * 255).round().astype(np.uint8), 3, axis=3)
    grid = np.concatenate([np.concatenate(list(row), axis=1) for row in (crops, over, grey)], axis=0)
    return np.concatenate([row_labels(PREVIEW_ROWS, crops.shape[1]), grid], axis=1)


def write_loss_plot(path: Path, history: dict) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    fig = Figure(figsize=(8, 4.5), dpi=100)
    ax = fig.add_subplot()
    its, values = np.asarray(history["iteration"]), np.asarray(history["loss"])
    ax.plot(its, values, color="tab:green", alpha=0.4, linewidth=0.8, label="loss")
    window = max(1, len(its) // 50)
    if window > 1:
        ax.plot(its[window - 1:], np.convolve(values, np.ones(window) / window, mode="valid"), color="tab:green",
                label=f"mean of {window}")
    ax.set(xlabel="iteration", ylabel="mask loss (binary cross-entropy)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def train_xseg_model(*, sources: list[dict], state_dir, model_path, preview_path, plot_path, threads=None,
                     **section) -> dict:
    """The workflow's entry: `sources` {"name", "table", "faces", "labels"} per video, `section` config.yaml's xseg."""
    s = xseg_settings(section)
    data = load_sources(sources, s.resolution)
    return train_xseg(data, s, state_dir=Path(state_dir), model_path=Path(model_path),
                      preview_path=Path(preview_path), plot_path=Path(plot_path), threads=threads)
