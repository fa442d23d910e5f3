"""Training a face-swap model: DFL's recipe in one readable loop that survives anything.

Each step takes batch i (src faces and dst faces, augmented off the main thread: see dataset.py),
runs src through the source identity and dst through the destination identity, and minimises DFL's
loss: DSSIM (two window sizes from 256 px) + MSE on the face, inside the blurred face mask when
`masked_training`, + 300·L1 on eyes and mouth when `eyes_mouth_prio`, + MSE on the predicted mask.

State lives in `state_dir` (not a workflow output, so Snakemake never deletes it):

    checkpoint.pt         weights, optimizer, iteration, RNG, loss history, lr scale: every save_every
    checkpoint.prev.pt    the checkpoint before it
    backups/iter-N.pt     a copy every backup_every iterations; the newest backup_keep are kept
    best.pt               the checkpoint with the lowest mean loss over its last save_every steps
    previews/             preview grids every preview_every iterations (0: none)
    checkpoint.incompatible-<time>.pt, *.corrupt-<time>.pt    files moved aside, never deleted

Every state file is written to a temporary name, fsync'ed, renamed, and the folder fsync'ed; it
carries a CRC of its tensors, so a truncated or corrupt file is detected on load, reported, moved
aside, and the previous checkpoint or the newest backup is used instead. Files are loaded with
`weights_only=True`: tensors and plain data only, never arbitrary pickles.

Resuming is exact: batch i depends only on (seed, i), and the model, optimizer and torch RNG are
saved, so on CPU a resumed run gives bit for bit the losses and weights of an uninterrupted one.
SIGINT/SIGTERM finish the step in flight, save, and stop. A NaN/Inf loss or an exploding gradient
rolls back to the last saved state, lowers the learning rate, logs it and goes on.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import threading
import time
import zlib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from swaplib.core.atomic import atomic_path, fsync_dir
from swaplib.core.errors import SwaplibError
from swaplib.core.images import write_image
from swaplib.core.progress import PROGRESS_MODES, Progress
from swaplib.model import (
    MODEL_FORMAT,
    PRECISIONS,
    ModelConfig,
    SwapModel,
    amp_dtype,
    autocast,
    build_model,
    count_parameters,
    model_config,
    precision_name,
    resolve_device,
)
from swaplib.train.data import (
    CT_MODES,
    Augmentation,
    Batches,
    BatchLoader,
    FaceData,
    combined_data,
    load_face_data,
    load_faces,
)
from swaplib.train.optim import OPTIMIZERS, make_optimizer

logger = logging.getLogger(__name__)

__all__ = ["TrainSettings", "TrainingInterrupted", "RECIPES", "train_settings", "train", "train_model", "load_faces",
           "face_loss", "dssim", "CHECKPOINT", "PREV_CHECKPOINT", "BEST", "BACKUPS"]

CHECKPOINT = "checkpoint.pt"
PREV_CHECKPOINT = "checkpoint.prev.pt"
BEST = "best.pt"
BACKUPS = "backups"
CHECKPOINT_FORMAT = "swaplib-train-state/2"


@dataclass
class TrainSettings:
    iterations: int
    batch_size: int = 8
    lr: float = 5e-5  # DFL's
    optimizer: str = "adabelief"  # adabelief (DFL SAEHD), rmsprop (DFL Quick96) or adam
    lr_dropout: float = 1.0  # share of weights updated per step (DFL: 0.3 when on; 1.0 = off)
    lr_cos: int = 0  # cosine lr period in steps (DFL: 500 with lr_dropout); 0 = off
    clip_grad: float = 0.0  # max gradient norm; 0: no clipping
    seed: int = 0
    # the recipe
    masked_training: bool = True  # losses inside the (blurred) face mask, when masks are given
    eyes_mouth_prio: bool = False  # + 300·L1 on eyes and mouth (needs eyes-and-mouth masks)
    random_flip: bool = True
    random_warp: bool = True  # DFL's grid warp on the input only
    random_transform: bool = True  # rotation ±10°, scale ±15 %, shift ±5 % on input and targets
    ct_mode: str = "none"  # colour transfer of src samples towards dst: none, rct, lct, mkl, idt, sot
    uniform_yaw: bool = False  # draw faces evenly over yaw
    pretrain: bool = False  # both identities learn all faces; switching it off keeps encoder+decoders
    # crash-proofing
    save_every: int = 500  # checkpoint every N iterations (0: only at the end / on interrupt)
    backup_every: int = 0  # a kept copy every N iterations (0: none)
    backup_keep: int = 3
    max_rollbacks: int = 8  # NaN/Inf or exploding-gradient rollbacks in a row before giving up
    rollback_lr_factor: float = 0.5  # each rollback multiplies the learning rate by this
    explode_factor: float = 1000.0  # gradient norm above this times its running mean = exploding (0: off)
    # outputs and speed
    preview_every: int = 0  # 0: preview only at the end; N: also state_dir/previews/ every N
    device: str = "auto"  # auto: cuda if available, else cpu
    precision: str = "auto"  # auto (bf16 on CUDA and on CPUs with AMX), fp32, bf16, fp16 (CUDA)
    channels_last: bool | None = None  # None: on CUDA, and on CPU with bf16 (oneDNN's fast path); else off
    workers: int = 0  # batch-making threads (0: up to 4, by CPU count)
    threads: int = 0  # torch's compute threads (0: torch's default, one per core)
    progress: str = "auto"  # progress bar: auto (when stderr is a terminal), on, off

    def __post_init__(self):
        checks = {
            "iterations": self.iterations >= 1,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0,
            "optimizer": self.optimizer in OPTIMIZERS,
            "lr_dropout": 0 < self.lr_dropout <= 1,
            "lr_cos": self.lr_cos >= 0,
            "clip_grad": self.clip_grad >= 0,
            "ct_mode": self.ct_mode in CT_MODES,
            "save_every": self.save_every >= 0,
            "backup_every": self.backup_every >= 0,
            "backup_keep": self.backup_keep >= 1,
            "max_rollbacks": self.max_rollbacks >= 0,
            "rollback_lr_factor": 0 < self.rollback_lr_factor < 1,
            "explode_factor": self.explode_factor == 0 or self.explode_factor > 1,
            "preview_every": self.preview_every >= 0,
            "precision": self.precision in PRECISIONS,
            "workers": self.workers >= 0,
            "threads": self.threads >= 0,
            "progress": self.progress in PROGRESS_MODES,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise SwaplibError(f"invalid training settings: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")
        if self.optimizer == "adam" and (self.lr_dropout < 1 or self.lr_cos):
            raise SwaplibError("lr_dropout and lr_cos need optimizer adabelief or rmsprop (as in DFL)")


# Each preset's training recipe, as DFL trains it. Quick96: RMSprop 2e-4 with lr dropout 0.3, batch 4.
# SAEHD: AdaBelief 5e-5 (lr dropout and its cosine schedule are a later-stage option). tiny (ours, a CPU
# trial): Adam, which tolerates the high learning rates of short trials (AdaBelief without bias correction
# takes ~3x larger first steps and diverges there).
RECIPES: dict[str, dict] = {
    "quick96": dict(optimizer="rmsprop", lr=2e-4, lr_dropout=0.3, batch_size=4),
    "saehd": dict(optimizer="adabelief", lr=5e-5, batch_size=8),
    "tiny": dict(optimizer="adam", lr=1e-4, batch_size=8),
}
LR_DROPOUT_ON = dict(lr_dropout=0.3, lr_cos=500)  # DFL SAEHD's lr_dropout "y"


def train_settings(preset: str, iterations: int, **overrides) -> TrainSettings:
    """The preset's recipe with `overrides` on top; an override of None, 0 or "" means "the preset's"
    (except for booleans and seed, which are taken as given). lr_dropout=True means DFL's 0.3 with
    the cosine schedule."""
    if preset not in RECIPES:
        raise SwaplibError(f"unknown training preset {preset!r}; presets: {', '.join(sorted(RECIPES))}")
    values = {**RECIPES[preset]}
    types = {f.name: f.type for f in fields(TrainSettings)}
    for key, value in overrides.items():
        if key not in types:
            raise SwaplibError(f"unknown training setting {key!r}")
        if key == "lr_dropout" and isinstance(value, bool):
            values.update(LR_DROPOUT_ON if value else dict(lr_dropout=1.0, lr_cos=0))
        elif value is None or (value in (0, "") and not isinstance(value, bool) and key != "seed"):
            continue
        else:
            values[key] = value
    return TrainSettings(iterations=iterations, **values)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by SIGINT/SIGTERM; the checkpoint was saved first. Rerun to resume."""


# --------------------------------------------------------------------------- loss


def _gaussian(sigma: float, size: int, device) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float32) - size // 2) ** 2) / (2 * sigma**2))
    return (g / g.sum()).to(device)


def ssim_kernels(resolution: int, device) -> list[tuple[float, torch.Tensor]]:
    """DFL: one DSSIM of window R/11.6 (weight 10) below 256 px, else R/11.6 and R/23.2 (5 each)."""
    size = lambda s: max(3, int(s) | 1)  # odd
    if resolution < 256:
        return [(10.0, _gaussian(1.5, size(resolution / 11.6), device))]
    return [(5.0, _gaussian(1.5, size(resolution / 11.6), device)), (5.0, _gaussian(1.5, size(resolution / 23.2), device))]


def dssim(a: torch.Tensor, b: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Structural dissimilarity (1 - SSIM) / 2 with a gaussian window, averaged over the batch."""
    C, k = a.shape[1], kernel.numel()
    stack = torch.cat([a, b, a * a, b * b, a * b], 1)  # blur all five maps at once, separably
    stack = F.conv2d(stack, kernel.view(1, 1, k, 1).expand(5 * C, 1, k, 1), groups=5 * C)
    stack = F.conv2d(stack, kernel.view(1, 1, 1, k).expand(5 * C, 1, 1, k), groups=5 * C)
    mu_a, mu_b, aa, bb, ab = stack.split(C, 1)
    var_a, var_b, cov = aa - mu_a**2, bb - mu_b**2, ab - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ((1 - ssim) / 2).mean()


def face_loss(rgb, mask, target, kernels, *, target_mask=None, loss_mask=None, em_mask=None) -> torch.Tensor:
    """DFL's loss of one identity: DSSIM + 10·MSE on the face (weighted by `loss_mask`, the blurred
    face mask, for masked training), + 300·L1 on eyes and mouth (`em_mask`), + 10·MSE on the mask."""
    if loss_mask is not None:
        rgb, target = rgb * loss_mask, target * loss_mask
    loss = sum(w * dssim(rgb, target, k) for w, k in kernels) + 10 * F.mse_loss(rgb, target)
    if em_mask is not None:
        loss = loss + 300 * (target * em_mask - rgb * em_mask).abs().mean()
    if target_mask is not None:
        loss = loss + 10 * F.mse_loss(mask, target_mask)
    return loss


# --------------------------------------------------------------------------- state files


def _tensors(obj, prefix=""):
    """Every tensor inside nested dicts/lists, with a stable path, in a stable order."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            yield from _tensors(obj[k], f"{prefix}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}/{i}")


def _checksum(obj) -> int:
    crc = 0
    for name, t in _tensors(obj):
        t = t.detach().contiguous().cpu()
        crc = zlib.crc32(f"{name}:{t.dtype}:{tuple(t.shape)}".encode(), crc)
        crc = zlib.crc32(t.view(-1).view(torch.uint8).numpy() if t.numel() else b"", crc)
    return crc


def save_state(path: Path, obj: dict) -> None:
    """torch.save `obj` (+ a CRC of its tensors) durably: temporary file, fsync, rename, fsync folder."""
    with atomic_path(path, durable=True) as tmp:
        torch.save({**obj, "checksum": _checksum(obj)}, tmp)


class OldStateFormat(ValueError):
    """A state file of another swaplib version: readable, but not resumable by this one."""


def load_state(path: Path) -> dict:
    """A state file written by save_state, verified; ValueError saying why when it is not usable."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"unreadable ({(str(e).splitlines() or [type(e).__name__])[0][:160]})") from None
    if isinstance(obj, dict) and str(obj.get("format", "")).startswith("swaplib-train-state/") and obj["format"] != CHECKPOINT_FORMAT:
        raise OldStateFormat(obj["format"])
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"not a swaplib training state (format {obj.get('format') if isinstance(obj, dict) else None!r})")
    for key in ("model_config", "model", "optimizer", "iteration", "rng", "history", "checksum"):
        if key not in obj:
            raise ValueError(f"no {key!r} in it")
    if _checksum({k: v for k, v in obj.items() if k != "checksum"}) != obj["checksum"]:
        raise ValueError("checksum mismatch: its contents are corrupt")
    return obj


def _link_or_copy(src: Path, dst: Path, copy: bool = False) -> None:
    """Put `src` at `dst` atomically: a hard link (cheap) or, with copy=True, an independent copy."""
    if not copy and dst.exists() and os.path.samefile(src, dst):
        return  # already so (and rename() would do nothing, leaving the temporary link behind)
    with atomic_path(dst, durable=copy) as tmp:
        tmp.unlink()  # the link or copy takes the temporary name itself
        if copy:
            shutil.copyfile(src, tmp)
        else:
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)


class StateFolder:
    """The training state folder: saving, backups, best-loss copy, and finding a usable state."""

    def __init__(self, folder: Path, log: logging.Logger):
        self.dir = Path(folder)
        self.log = log
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in list(self.dir.glob(".*.tmp*")) + list((self.dir / BACKUPS).glob(".*.tmp*")):
            stale.unlink(missing_ok=True)  # left by a killed save: never complete, never used

    @property
    def checkpoint(self) -> Path:
        return self.dir / CHECKPOINT

    def save(self, state: dict, *, backup: bool, keep: int, best: bool) -> None:
        """checkpoint.pt ← state; the old one becomes checkpoint.prev.pt; then backup and best copies."""
        path = self.checkpoint
        if path.exists():
            _link_or_copy(path, self.dir / PREV_CHECKPOINT)
        save_state(path, state)
        if backup:
            (self.dir / BACKUPS).mkdir(exist_ok=True)
            _link_or_copy(path, self.dir / BACKUPS / f"iter-{state['iteration']:08d}.pt", copy=True)
            for old in self.backups()[keep:]:
                old.unlink(missing_ok=True)
        if best:
            _link_or_copy(path, self.dir / BEST)
        fsync_dir(self.dir)

    def backups(self) -> list[Path]:
        """Backup files, newest first."""
        return sorted((self.dir / BACKUPS).glob("iter-*.pt"), reverse=True)

    def _aside(self, path: Path, kind: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = path.with_name(f"{path.stem}.{kind}-{stamp}.pt")
        n = 1
        while aside.exists():
            aside, n = path.with_name(f"{path.stem}.{kind}-{stamp}-{n}.pt"), n + 1
        os.replace(path, aside)
        return aside

    def load(self) -> dict | None:
        """The newest usable state: checkpoint.pt, else (reporting why) checkpoint.prev.pt, the
        backups newest first, best.pt. None when there is no checkpoint.pt (a fresh start)."""
        if not self.checkpoint.exists():
            if (self.dir / PREV_CHECKPOINT).exists():
                self.log.warning("%s: no checkpoint; starting fresh (rename %s to %s to resume from the backup instead)",
                                 self.dir, PREV_CHECKPOINT, CHECKPOINT)
            return None
        problems = []
        for path in [self.checkpoint, self.dir / PREV_CHECKPOINT, *self.backups(), self.dir / BEST]:
            if not path.exists():
                continue
            try:
                state = load_state(path)
            except OldStateFormat as e:
                aside = self._aside(path, "incompatible")
                self.log.warning("%s was written by another swaplib version (%s): starting training fresh; it is kept "
                                 "as %s", path, e, aside.name)
                return None
            except ValueError as e:
                aside = self._aside(path, "corrupt")
                problems.append(f"{path.name}: {e}")
                self.log.warning("training state %s is truncated or corrupt (%s); moved aside to %s", path, e, aside.name)
                continue
            if problems:
                self.log.warning("resuming from the backup %s (iteration %d) instead of the corrupt checkpoint",
                                 path, state["iteration"])
                if path != self.checkpoint:  # make it the checkpoint again, so the next save has a prev
                    _link_or_copy(path, self.checkpoint)
            return state
        raise SwaplibError(f"{self.dir}: every training state file is truncated or corrupt ({'; '.join(problems)}); "
                           f"they were moved aside. Delete the folder to start training over.")

    def move_incompatible(self, state: dict, changed: str) -> None:
        aside = self._aside(self.checkpoint, "incompatible")
        prev = self.dir / PREV_CHECKPOINT
        if prev.exists():
            os.replace(prev, aside.with_name(aside.name.replace("incompatible", "prev.incompatible")))
        for name in (BEST,):
            if (self.dir / name).exists():
                os.replace(self.dir / name, aside.with_name(aside.name.replace("checkpoint.", "best.")))
        if self.backups():
            os.replace(self.dir / BACKUPS, aside.with_name(aside.name.replace("checkpoint.", "backups.").removesuffix(".pt")))
        self.log.warning("model architecture changed (%s): starting training fresh; the old checkpoint (iteration %d) "
                         "is kept as %s", changed, state["iteration"], aside)


def _config_changes(old: dict, new: dict) -> str:
    try:
        old = ModelConfig.from_dict(old).to_dict()  # a key added since then compares as its default
    except (SwaplibError, TypeError):
        pass
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))


class _StopOnSignal:
    """While training: SIGINT/SIGTERM ask the loop to stop after the current step (it then saves and
    raises TrainingInterrupted). A second Ctrl-C stops at once. Old handlers come back on exit.
    Python allows handlers only in the main thread; elsewhere only a KeyboardInterrupt is caught."""

    def __init__(self):
        self.signum = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def check(self, iteration: int) -> None:
        if self.signum is not None:
            raise TrainingInterrupted(f"training stopped by {signal.Signals(self.signum).name} at iteration {iteration}")


# --------------------------------------------------------------------------- outputs


def _preview(model: SwapModel, src: FaceData, dst: FaceData, device, amp, n: int = 6) -> np.ndarray:
    """Grid, one face per column; rows: src | src→src | its mask | dst | dst→dst | its mask |
    dst→src (the swap) | the swap's mask. BGR uint8."""
    pick = lambda data: data.faces[np.linspace(0, len(data) - 1, min(n, len(data))).round().astype(int)]
    to_tensor = lambda faces: torch.from_numpy(faces).to(device).permute(0, 3, 1, 2).float().div(255)
    to_image = lambda t: (t.float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    grey = lambda t: np.repeat(to_image(t), 3, axis=3)
    s, d = pick(src), pick(dst)
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast(device, amp):
        ss, sm = model(to_tensor(s), "src")
        dd, dm = model(to_tensor(d), "dst")
        sw, swm = model(to_tensor(d), "src")
    model.train(was_training)
    rows = [s, to_image(ss), grey(sm), d, to_image(dd), grey(dm), to_image(sw), grey(swm)]
    width = max(len(s), len(d))
    pad = lambda row: np.concatenate([row, np.zeros((width - len(row),) + row.shape[1:], np.uint8)]) if len(row) < width else row
    return np.concatenate([np.concatenate(list(pad(r)), axis=1) for r in rows], axis=0)


def _write_history(path: Path, history: dict) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write("iteration,src_loss,dst_loss\n")
            for row in zip(history["iteration"], history["src"], history["dst"]):
                f.write(f"{row[0]},{row[1]!r},{row[2]!r}\n")


def _write_plot(path: Path, history: dict) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    fig = Figure(figsize=(8, 4.5), dpi=100)
    ax = fig.add_subplot()
    its = np.asarray(history["iteration"])
    window = max(1, len(its) // 50)
    for key, colour in (("src", "tab:blue"), ("dst", "tab:orange")):
        values = np.asarray(history[key])
        if window > 1:  # raw values faint, a moving average on top
            ax.plot(its, values, color=colour, alpha=0.25, linewidth=0.8)
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            ax.plot(its[window - 1 :], smooth, color=colour, label=f"{key} (mean of {window})")
        else:
            ax.plot(its, values, color=colour, label=key)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if len(its) and min(min(history["src"]), min(history["dst"])) > 0:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def _mean_losses(history: dict, last: int = 50) -> dict:
    if not history["iteration"]:
        return {"src": None, "dst": None}
    return {k: float(np.mean(history[k][-last:])) for k in ("src", "dst")}


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


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
    log: logging.Logger = logger,
) -> dict:
    """Train (or continue training) a model; write model, preview, history and plot at the end.

    src_faces / dst_faces: FaceSetFiles (crops with masks, eyes-and-mouth masks, yaw, ids: see
    dataset.face_set_data) or plain lists of crop paths. Masks (optional, both or neither) may also
    be given as arrays (N,R,R) 0..1 or lists of arrays / grayscale mask image paths.
    Returns a summary dict.
    """
    s = settings
    device = resolve_device(s.device)
    R = model_cfg.resolution
    state = StateFolder(state_dir, log)

    src = load_face_data(src_faces, R, "src", src_masks, s.workers)
    dst = load_face_data(dst_faces, R, "dst", dst_masks, s.workers)
    if (src.masks is None) != (dst.masks is None):
        raise SwaplibError("masks given for only one face set: give src and dst masks, or neither")
    use_masks = src.masks is not None
    if s.eyes_mouth_prio and (src.em_masks is None or dst.em_masks is None):
        log.warning("eyes_mouth_prio asked for, but the face sets have no eyes-and-mouth masks: not used")
    if src.face_type and dst.face_type and src.face_type != dst.face_type:
        raise SwaplibError(f"src faces are {src.face_type} crops but dst faces are {dst.face_type}: extract both with "
                           f"one face type")
    face_type = src.face_type or dst.face_type
    faces_record = {"src": src.ids, "dst": dst.ids}
    if s.pretrain:  # DFL: both identities on all faces; no warp, flips, even yaw, no lr dropout
        src = dst = FaceData.join("all", src, dst)
        s = replace(s, random_warp=False, random_flip=True, uniform_yaw=True, lr_dropout=1.0, lr_cos=0, ct_mode="none")

    # Fresh start: everything seeded. A checkpoint, if any, overwrites it below.
    torch.manual_seed(s.seed)
    model = build_model(model_cfg).to(device)
    amp = amp_dtype(s.precision, device)
    channels_last = s.channels_last if s.channels_last is not None else (device.type == "cuda" or amp is not None)
    model = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    if model_cfg.kind == "liae" and not s.random_warp:  # DFL: without warp, inter_AB stays as it is
        model.inter_AB.requires_grad_(False)
    make_opt = lambda: make_optimizer(s.optimizer, [p for p in model.parameters() if p.requires_grad], s.lr,
                                      s.lr_dropout, s.lr_cos)
    opt = make_opt()
    history = {"iteration": [], "src": [], "dst": []}
    it, lr_scale, rollbacks, best_loss = 0, 1.0, 0, math.inf
    resumed_from = None

    def restore(ckpt: dict) -> None:
        nonlocal history, it, lr_scale, rollbacks, best_loss, opt
        model.load_state_dict(ckpt["model"])
        opt = make_opt()
        try:
            opt.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError, RuntimeError) as e:
            log.warning("optimizer state not reusable (%s; optimizer now %s): starting with a fresh one", e, s.optimizer)
            opt = make_opt()
        torch.set_rng_state(ckpt["rng"]["torch"])
        if ckpt["rng"].get("cuda") and device.type == "cuda" and len(ckpt["rng"]["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        history = {k: v.tolist() for k, v in ckpt["history"].items()}
        it, lr_scale = int(ckpt["iteration"]), float(ckpt.get("lr_scale", 1.0))
        rollbacks, best_loss = int(ckpt.get("rollbacks", 0)), float(ckpt.get("best_loss", math.inf))

    ckpt = state.load()
    changed = ckpt is not None and _config_changes(ckpt["model_config"], model_cfg.to_dict())
    if changed:
        state.move_incompatible(ckpt, changed)
        ckpt = None
    if ckpt is not None and ckpt.get("pretrain") and not s.pretrain:
        model.load_state_dict(ckpt["model"])  # DFL: keep the pretrained encoder and decoder(s), new inter(s)
        fresh = build_model(model_cfg)
        for name in ("inter", "inter_AB", "inter_B"):
            if hasattr(model, name):
                getattr(model, name).load_state_dict(getattr(fresh, name).state_dict())
        opt = make_opt()
        log.info("pretrained model (%d iterations) found: training starts at iteration 0 with its encoder and "
                 "decoder(s) and fresh inter layer(s)", ckpt["iteration"])
        ckpt = None
    elif ckpt is not None:
        restore(ckpt)
        resumed_from = it
        log.info("resuming from iteration %d of %d (%s)", it, s.iterations, state.checkpoint)
        old = ckpt.get("settings", {})
        changed = [f"{k} {old[k]!r} -> {v!r}" for k, v in asdict(s).items() if k != "iterations" and k in old and old[k] != v]
        if changed:
            log.info("settings changed since the checkpoint (the new values apply from here): %s", ", ".join(changed))
        if it >= s.iterations:
            log.info("checkpoint already at iteration %d >= %d: no training steps to do", it, s.iterations)
        del ckpt
    else:
        log.info("training from scratch: %d src faces, %d dst faces, %s, %d iterations", len(src), len(dst), model_cfg, s.iterations)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    log.info("model %s: %.2fM parameters on %s, %s%s, optimizer %s lr %.3g%s", model_cfg.archi, count_parameters(model) / 1e6,
             device, precision_name(amp) + (" autocast" if amp else ""),
             ", channels_last" if channels_last else "", s.optimizer, s.lr * lr_scale,
             f", lr dropout {s.lr_dropout}" if s.lr_dropout < 1 else "")

    def set_lr():  # settings other than the architecture may change between runs: the new ones apply
        for group in opt.param_groups:
            group["lr"] = s.lr * lr_scale
            if "lr_dropout" in group:
                group["lr_dropout"], group["lr_cos"] = s.lr_dropout, s.lr_cos

    def snapshot(recent_loss: float | None) -> dict:
        cpu = lambda sd: {k: v.detach().cpu() for k, v in sd.items()}
        optim_state = opt.state_dict()
        optim_state["state"] = {k: {n: (t.detach().cpu() if torch.is_tensor(t) else t) for n, t in v.items()}
                                for k, v in optim_state["state"].items()}
        rng = {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else []}
        return {"format": CHECKPOINT_FORMAT, "model_config": model_cfg.to_dict(), "model": cpu(model.state_dict()),
                "optimizer": optim_state, "iteration": it, "rng": rng, "lr_scale": lr_scale, "rollbacks": rollbacks,
                "best_loss": best_loss, "recent_loss": recent_loss, "pretrain": s.pretrain,
                "history": {"iteration": torch.tensor(history["iteration"], dtype=torch.int64),
                            "src": torch.tensor(history["src"], dtype=torch.float64),
                            "dst": torch.tensor(history["dst"], dtype=torch.float64)},
                "settings": asdict(s), "masks": use_masks, "faces": faces_record}

    last_saved = it

    def save() -> None:
        nonlocal last_saved, best_loss
        n = max(1, it - last_saved)
        recent = float(np.mean(np.add(history["src"][-n:], history["dst"][-n:]))) if history["iteration"] else None
        is_best = recent is not None and recent < best_loss
        if is_best:
            best_loss = recent
        backup = bool(s.backup_every) and it // s.backup_every > last_saved // s.backup_every
        state.save(snapshot(recent), backup=backup, keep=s.backup_keep, best=is_best)
        last_saved = it

    def rollback(reason: str) -> None:
        """Back to the last saved state (or the initial weights), with a lower learning rate."""
        nonlocal lr_scale, rollbacks, history, it, opt, last_saved, rollbacks_in_a_row
        failed_at, new_scale, new_rollbacks = it + 1, lr_scale * s.rollback_lr_factor, rollbacks + 1
        rollbacks_in_a_row += 1
        if rollbacks_in_a_row > s.max_rollbacks:
            raise SwaplibError(f"{reason} at iteration {failed_at} again after {s.max_rollbacks} rollbacks and learning-rate "
                               f"cuts (lr now {s.lr * lr_scale:.3g}): giving up; check the face sets, lower lr or set clip_grad")
        ckpt = state.load() if state.checkpoint.exists() else None
        if ckpt is not None:
            restore(ckpt)
        else:  # nothing saved yet: the initial weights, made again from the seed
            torch.manual_seed(s.seed)
            model.load_state_dict(build_model(model_cfg).state_dict())
            opt = make_opt()
            torch.manual_seed(s.seed)
            history, it = {"iteration": [], "src": [], "dst": []}, 0
        last_saved = it
        lr_scale, rollbacks = new_scale, new_rollbacks
        set_lr()
        log.warning("%s at iteration %d: rolled back to iteration %d, learning rate lowered to %.3g (rollback %d)",
                    reason, failed_at, it, s.lr * lr_scale, rollbacks)

    set_lr()
    kernels = ssim_kernels(R, device)
    batches = Batches(src, dst, s.batch_size, s.seed, Augmentation(s.random_flip, s.random_warp, s.random_transform,
                                                                    s.ct_mode, s.uniform_yaw), use_masks,
                      with_eyes_mouth=s.eyes_mouth_prio)
    use_em = batches.with_em
    masked = use_masks and s.masked_training
    pin = device.type == "cuda"

    def tensor(array: np.ndarray) -> torch.Tensor:
        """NHWC float32 → NCHW view on the device (channels_last memory, as the model wants it)."""
        t = torch.from_numpy(array)
        t = (t.pin_memory() if pin else t).to(device, non_blocking=pin)
        t = t.permute(0, 3, 1, 2) if t.ndim == 4 else t[:, None]
        return t if channels_last else t.contiguous()

    start = it
    grad_mean, rollbacks_in_a_row = None, 0
    step_times: list[float] = []
    progress = Progress(s.iterations, "iteration", unit="it", log=log, mode=s.progress, start=it)
    t_start = time.perf_counter()
    model.train()
    threads_before = torch.get_num_threads()
    if s.threads:
        torch.set_num_threads(s.threads)
    with _StopOnSignal() as stop, BatchLoader(batches, s.workers) as loader:
        try:
            while it < s.iterations:
                stop.check(it)
                t_step = time.perf_counter()
                b = {k: tensor(v) for k, v in loader.get(it, rollbacks).items()}
                opt.zero_grad(set_to_none=True)
                with autocast(device, amp):
                    src_rgb, src_mask, dst_rgb, dst_mask = model.forward_pair(b["src_in"], b["dst_in"])
                losses = []
                for side, rgb, mask in (("src", src_rgb, src_mask), ("dst", dst_rgb, dst_mask)):
                    losses.append(face_loss(rgb.float(), mask.float(), b[f"{side}_target"], kernels,
                                            target_mask=b.get(f"{side}_mask"),
                                            loss_mask=b.get(f"{side}_loss_mask") if masked else None,
                                            em_mask=b.get(f"{side}_em") if use_em else None))
                total = losses[0] + losses[1]
                (scaler.scale(total) if scaler else total).backward()
                if scaler:
                    scaler.unscale_(opt)
                params = [p for p in model.parameters() if p.grad is not None]
                norm_t = torch.nn.utils.get_total_norm([p.grad for p in params])
                if s.clip_grad > 0:
                    torch.nn.utils.clip_grads_with_norm_(params, s.clip_grad, norm_t)
                norm = norm_t.item()
                ls, ld = losses[0].item(), losses[1].item()
                bad = None
                if not (math.isfinite(ls) and math.isfinite(ld)):
                    bad = f"loss became {ls:.4g}/{ld:.4g}"
                elif not math.isfinite(norm) and not scaler:
                    bad = f"gradient norm became {norm}"
                elif s.explode_factor and grad_mean is not None and it - start > 20 and norm > s.explode_factor * grad_mean:
                    bad = f"exploding gradient (norm {norm:.3g}, {norm / grad_mean:.0f}x its running mean)"
                if bad:
                    rollback(bad)
                    grad_mean = None
                    continue
                grad_mean = norm if grad_mean is None else 0.95 * grad_mean + 0.05 * norm
                if scaler:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                it += 1
                history["iteration"].append(it)
                history["src"].append(ls)
                history["dst"].append(ld)
                step_times.append(time.perf_counter() - t_step)
                samples = progress.rate() * 2 * s.batch_size  # src + dst faces per step
                progress.advance_to(it, f"src {ls:.4f}  dst {ld:.4f}  {samples:.1f} samples/s")
                if s.save_every and it % s.save_every == 0 and it < s.iterations:
                    save()
                    rollbacks_in_a_row = 0
                if s.preview_every and it % s.preview_every == 0:
                    write_image(state.dir / "previews" / f"preview_{it:07d}.jpg", _preview(model, src, dst, device, amp))
            if it > last_saved or not state.checkpoint.exists():
                save()
            stop.check(it)
        except KeyboardInterrupt:
            if it > last_saved:
                save()
            log.warning("training interrupted at iteration %d of %d; checkpoint saved in %s: run again to resume",
                        it, s.iterations, state.dir)
            raise
        finally:
            progress.close()
            torch.set_num_threads(threads_before)

        seconds = time.perf_counter() - t_start
        losses = _mean_losses(history)
        write_image(preview_path, _preview(model, src, dst, device, amp))
        _write_history(Path(history_path), history)
        _write_plot(Path(plot_path), history)
        stop.check(it)
        save_state_plain(Path(model_path), {
            "format": MODEL_FORMAT, "model_config": model_cfg.to_dict(),
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
            "iterations": it, "settings": asdict(s), "losses": losses, "masks_trained": use_masks,
            "faces": faces_record, "face_type": face_type, "best_loss": best_loss if math.isfinite(best_loss) else None})

    steps = it - start
    steady = step_times[min(3, len(step_times) // 2):]  # leave out the first steps (warm-up)
    ms_per_it = 1000 * float(np.median(steady)) if steady else None
    log.info("done: %d iterations (%d this run) in %.1f s, final losses src %s dst %s", it, steps, seconds,
             _fmt(losses["src"]), _fmt(losses["dst"]))
    return {"iterations": it, "steps": steps, "resumed_from": resumed_from, "losses": losses, "seconds": seconds,
            "it_per_s": steps / seconds if steps and seconds > 0 else None, "ms_per_it": ms_per_it,
            "samples_per_s": 2 * s.batch_size * 1000 / ms_per_it if ms_per_it else None, "rollbacks": rollbacks,
            "lr": s.lr * lr_scale, "device": str(device), "parameters": count_parameters(model), "masks_trained": use_masks}


def save_state_plain(path: Path, obj: dict) -> None:
    """torch.save durably (temporary file, fsync, rename): for model.pt, which load_model reads."""
    with atomic_path(path, durable=True) as tmp:
        torch.save(obj, tmp)


# --------------------------------------------------------------------------- the workflow's train stage


def train_model(
    *,
    src: tuple[str | Path, str | Path],
    dst: list[tuple[str | Path, str | Path]],
    preset: str,
    iterations: int,
    state_dir: str | Path,
    model_path: str | Path,
    preview_path: str | Path,
    history_path: str | Path,
    plot_path: str | Path,
    archi: str = "",
    resolution: int = 0,
    ae_dims: int = 0,
    e_dims: int = 0,
    d_dims: int = 0,
    d_mask_dims: int = 0,
    **recipe,
) -> dict:
    """Train a model on one source face set and one or more destination face sets.

    src and each dst entry are (faceset.parquet, faces folder). Architecture keys of 0 or "" and
    recipe keys of None/0/"" take the preset's values. The faces' hull masks are the mask targets
    (the model learns its own mask) and, with masked_training, weight the loss.
    """
    cfg = model_config(preset, archi=archi, resolution=resolution, ae_dims=ae_dims, e_dims=e_dims, d_dims=d_dims,
                       d_mask_dims=d_mask_dims)
    settings = train_settings(preset, iterations, device=os.environ.get("SWAPLIB_DEVICE", "auto"), **recipe)
    src_data = combined_data([src], cfg.resolution)
    dst_data = combined_data(dst, cfg.resolution)
    return train(
        src_data, dst_data, cfg, settings,
        state_dir=Path(state_dir), model_path=Path(model_path), preview_path=Path(preview_path),
        history_path=Path(history_path), plot_path=Path(plot_path),
    )
