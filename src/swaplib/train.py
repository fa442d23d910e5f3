"""Training the face-swap autoencoder: one readable loop, resumable.

Each step draws a batch of source faces and a batch of destination faces, distorts the inputs
(flip, small affine, DFL-style random warp), and trains src → decoder src and dst → decoder dst
through the shared encoder, with DFL's loss (10·DSSIM + 10·MSE, masked by the face mask when
masks are given, plus 10·MSE on the predicted mask).

State lives in `state_dir` (not a workflow output, so Snakemake never deletes it):

    checkpoint.pt        model, optimizer, iteration, RNG states, model config, loss history
    checkpoint.prev.pt   the checkpoint before the latest one (one backup)
    checkpoint.incompatible-<time>.pt   a checkpoint of another architecture, moved aside
    previews/            previews during training (preview_every > 0)

Raising `iterations` and running again continues from checkpoint.pt; on CPU the result is bitwise
the same as one uninterrupted run (all RNG states are saved). The declared outputs (model.pt,
preview, history, plot) are written only when training completes, each one atomically.
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .atomic import atomic_path, read_image, write_image
from .errors import SwaplibError
from .dataset import combined_data
from .model import (
    MODEL_FORMAT, DFModel, ModelConfig, autocast, build_model, count_parameters, model_config, resolve_device,
)

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
PREV_CHECKPOINT = "checkpoint.prev.pt"
CHECKPOINT_FORMAT = "swaplib-train-state/1"


@dataclass
class TrainSettings:
    iterations: int
    batch_size: int = 8
    lr: float = 5e-5  # DFL's default
    seed: int = 0
    save_every: int = 500  # checkpoint every N iterations (0: only at the end / on interrupt)
    preview_every: int = 0  # 0: preview only at the end; N: also state_dir/previews/ every N
    random_flip: bool = True
    random_transform: bool = True  # small affine on input and target (rotation ±10°, scale ±5%, shift ±5%)
    random_warp: bool = True  # smooth grid distortion on the input only
    clip_grad: float = 0.0  # max gradient norm; 0: no clipping
    device: str = "auto"  # auto: cuda if available, else cpu

    def __post_init__(self):
        checks = {
            "iterations": self.iterations >= 1,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0,
            "save_every": self.save_every >= 0,
            "preview_every": self.preview_every >= 0,
            "clip_grad": self.clip_grad >= 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise SwaplibError(f"invalid training settings: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by SIGINT/SIGTERM; the checkpoint was saved first. Rerun to resume."""


# --------------------------------------------------------------------------- data


def load_faces(paths: list[Path], resolution: int, name: str = "faces") -> np.ndarray:
    """Read aligned face crops into one uint8 (N,R,R,3) BGR array, resized to `resolution`."""
    paths = list(paths)
    if not paths:
        raise SwaplibError(f"{name} face set is empty: nothing to train on")
    faces = np.empty((len(paths), resolution, resolution, 3), np.uint8)
    for i, path in enumerate(paths):
        try:
            image = read_image(path)
        except SwaplibError as e:
            raise SwaplibError(f"{name} face set: {e}") from None
        faces[i] = _square(image, resolution, path, name)
    return faces


def _square(image: np.ndarray, resolution: int, path, name: str) -> np.ndarray:
    h, w = image.shape[:2]
    if h != w:
        raise SwaplibError(f"{name} face set: {path}: face crop is {w}x{h}, expected a square aligned face")
    if h == resolution:
        return image
    interp = cv2.INTER_AREA if h > resolution else cv2.INTER_CUBIC
    return cv2.resize(image, (resolution, resolution), interpolation=interp)


def _load_masks(masks, n: int, resolution: int, name: str) -> np.ndarray | None:
    """None, an array (N,H,W) of 0..1, or a list of arrays / grayscale image paths → float32 (N,R,R)."""
    if masks is None:
        return None
    items = list(masks)
    if len(items) != n:
        raise SwaplibError(f"{name} masks: {len(items)} masks for {n} faces")
    out = np.empty((n, resolution, resolution), np.float32)
    for i, m in enumerate(items):
        if isinstance(m, (str, os.PathLike)):
            image = cv2.imread(str(m), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise SwaplibError(f"{name} masks: {m}: missing or not a readable image")
            m = image.astype(np.float32) / 255.0
        m = np.asarray(m, np.float32)
        if m.ndim == 3:
            m = m[..., 0]
        if m.shape != (resolution, resolution):
            m = cv2.resize(m, (resolution, resolution), interpolation=cv2.INTER_LINEAR)
        out[i] = np.clip(m, 0.0, 1.0)
    return out


# --------------------------------------------------------------------------- augmentation


def _random_warp(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """DFL-style random warp: jitter the inner points of a coarse grid, interpolate a smooth offset
    field from them (edges pinned), and resample the image through it."""
    R = image.shape[0]
    cells = int(rng.choice([2, 4, 8]))
    cell = R // cells
    offsets = np.zeros((2, cells + 1, cells + 1), np.float32)
    offsets[:, 1:-1, 1:-1] = rng.normal(0.0, 0.24 * cell, (2, cells - 1, cells - 1))
    # Resize the (cells+1)² grid to R+cell px and crop half a cell each side: grid point i lands on px i·cell.
    half = cell // 2
    dx, dy = (cv2.resize(o, (R + cell, R + cell), interpolation=cv2.INTER_CUBIC)[half : half + R, half : half + R] for o in offsets)
    grid = np.arange(R, dtype=np.float32)
    map_x, map_y = grid[None, :] + dx, grid[:, None] + dy
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _random_affine(rng: np.random.Generator, R: int) -> np.ndarray:
    angle = rng.uniform(-10, 10)
    scale = rng.uniform(0.95, 1.05)
    tx, ty = rng.uniform(-0.05, 0.05, 2) * R
    M = cv2.getRotationMatrix2D((R / 2, R / 2), angle, scale)
    M[:, 2] += (tx, ty)
    return M


def _augment(face, mask, rng, s: TrainSettings):
    """One sample → (input, target, target mask). Input and target share flip and affine; only
    the input gets the random warp, so the network learns to undo it."""
    R = face.shape[0]
    if s.random_flip and rng.random() < 0.5:
        face = face[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    warped = _random_warp(face, rng) if s.random_warp else face
    if s.random_transform:
        M = _random_affine(rng, R)
        affine = lambda im, border: cv2.warpAffine(im, M, (R, R), flags=cv2.INTER_LINEAR, borderMode=border)
        face, warped = affine(face, cv2.BORDER_REPLICATE), affine(warped, cv2.BORDER_REPLICATE)
        mask = None if mask is None else affine(mask, cv2.BORDER_CONSTANT)
    return warped, face, mask


def _make_batch(faces, masks, rng: np.random.Generator, s: TrainSettings, device):
    """Random batch → (input, target, target mask or None) tensors (B,C,R,R) float 0..1 on device."""
    idx = rng.integers(0, len(faces), s.batch_size)
    samples = [_augment(faces[i], None if masks is None else masks[i], rng, s) for i in idx]
    to_tensor = lambda arrays: torch.from_numpy(np.stack(arrays)).to(device).permute(0, 3, 1, 2).float().div_(255)
    x = to_tensor([a for a, _, _ in samples])
    y = to_tensor([b for _, b, _ in samples])
    m = None if masks is None else torch.from_numpy(np.stack([c for _, _, c in samples])).to(device)[:, None]
    return x, y, m


# --------------------------------------------------------------------------- loss


def _gaussian_kernel(resolution: int, device) -> torch.Tensor:
    size = max(3, int(resolution / 11.6) | 1)  # DFL's SSIM window size for the resolution, made odd
    g = torch.exp(-((torch.arange(size, dtype=torch.float32) - size // 2) ** 2) / (2 * 1.5**2))
    return (g / g.sum()).to(device)


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


def face_loss(rgb, mask, target, target_mask, kernel) -> torch.Tensor:
    """DFL: 10·DSSIM + 10·MSE on the face (masked when a mask is given) + 10·MSE on the mask."""
    if target_mask is not None:
        rgb, target = rgb * target_mask, target * target_mask
    loss = 10 * dssim(rgb, target, kernel) + 10 * F.mse_loss(rgb, target)
    if target_mask is not None:
        loss = loss + 10 * F.mse_loss(mask, target_mask)
    return loss


# --------------------------------------------------------------------------- state


def _rng_state(np_rng: np.random.Generator) -> dict:
    state = {"python": random.getstate(), "numpy": np_rng.bit_generator.state, "torch": torch.get_rng_state()}
    state["cuda"] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return state


def _set_rng_state(state: dict, np_rng: np.random.Generator) -> None:
    random.setstate(state["python"])
    np_rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(state_dir: Path, state: dict) -> None:
    """Write checkpoint.pt atomically; the one it replaces becomes checkpoint.prev.pt."""
    path, prev = state_dir / CHECKPOINT, state_dir / PREV_CHECKPOINT
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        if path.exists():  # keep the old one as the backup: hard link (or copy) then rename
            with atomic_path(prev) as tmp_prev:
                tmp_prev.unlink()
                try:
                    os.link(path, tmp_prev)
                except OSError:
                    shutil.copy2(path, tmp_prev)


def _read_checkpoint(path: Path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("not a swaplib training checkpoint")
        for key in ("model_config", "model", "optimizer", "iteration", "rng", "history"):
            if key not in ckpt:
                raise ValueError(f"no {key!r} in it")
    except Exception as e:
        reason = (str(e).splitlines() or [e.__class__.__name__])[0].split(". ")[0]
        prev = path.parent / PREV_CHECKPOINT
        restore = (f"restore the backup (rename {prev} to {path.name}) to resume from the save before, or "
                   if prev.exists() else "")
        raise SwaplibError(f"{path}: training checkpoint is unreadable (truncated or corrupt: {reason}). "
                           f"To recover, {restore}delete {path} to start training over.") from None
    return ckpt


def _open_checkpoint(state_dir: Path, cfg: ModelConfig, log) -> dict | None:
    """The checkpoint to resume from, or None to start fresh (an incompatible one is moved aside)."""
    path = state_dir / CHECKPOINT
    if not path.exists():
        if (state_dir / PREV_CHECKPOINT).exists():
            log.warning("%s: no checkpoint; starting fresh (rename %s to %s to resume from the backup instead)",
                        state_dir, PREV_CHECKPOINT, CHECKPOINT)
        return None
    ckpt = _read_checkpoint(path)
    old, new = ckpt["model_config"], cfg.to_dict()
    try:
        old = ModelConfig.from_dict(old).to_dict()  # a key added since then compares as its default
    except (SwaplibError, TypeError):
        pass
    if old == new:
        return ckpt
    changed = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = state_dir / f"checkpoint.incompatible-{stamp}.pt"
    n = 1
    while aside.exists():
        aside, n = state_dir / f"checkpoint.incompatible-{stamp}-{n}.pt", n + 1
    os.replace(path, aside)
    prev = state_dir / PREV_CHECKPOINT
    if prev.exists():
        os.replace(prev, aside.with_name(aside.name.replace("incompatible", "prev.incompatible")))
    log.warning("model architecture changed (%s): starting training fresh; the old checkpoint (iteration %d) "
                "is kept as %s", changed, ckpt["iteration"], aside)
    return None


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


def _preview(model: DFModel, src, dst, device, n: int = 6) -> np.ndarray:
    """Grid, one face per column: src | src→src | dst | dst→dst | dst→src (the swap). BGR uint8."""
    pick = lambda faces: faces[np.linspace(0, len(faces) - 1, min(n, len(faces))).round().astype(int)]
    to_tensor = lambda faces: torch.from_numpy(faces).to(device).permute(0, 3, 1, 2).float().div(255)
    to_image = lambda t: (t.float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    s, d = pick(src), pick(dst)
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast(device):
        rows = [s, to_image(model(to_tensor(s), "src")[0]), d, to_image(model(to_tensor(d), "dst")[0]),
                to_image(model(to_tensor(d), "src")[0])]
    model.train(was_training)
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


def _final_losses(history: dict, last: int = 50) -> dict:
    if not history["iteration"]:
        return {"src": None, "dst": None}
    return {k: float(np.mean(history[k][-last:])) for k in ("src", "dst")}


# --------------------------------------------------------------------------- the loop


def train(
    src_faces: list[Path],
    dst_faces: list[Path],
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

    Masks (optional, both or neither): arrays (N,R,R) 0..1 aligned with the faces, or lists of
    arrays / grayscale mask image paths. Returns a summary dict.
    """
    s = settings
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(s.device)
    R = model_cfg.resolution

    src = load_faces(src_faces, R, "src")
    dst = load_faces(dst_faces, R, "dst")
    src_m = _load_masks(src_masks, len(src), R, "src")
    dst_m = _load_masks(dst_masks, len(dst), R, "dst")
    if (src_m is None) != (dst_m is None):
        raise SwaplibError("masks given for only one face set: give src and dst masks, or neither")
    use_masks = src_m is not None

    # Fresh start: everything seeded. A checkpoint, if any, overwrites it all below.
    random.seed(s.seed)
    np_rng = np.random.default_rng(s.seed)
    torch.manual_seed(s.seed)
    model = build_model(model_cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr, betas=(0.5, 0.999), eps=1e-7)
    history = {"iteration": [], "src": [], "dst": []}
    it = 0
    resumed_from = None

    ckpt = _open_checkpoint(state_dir, model_cfg, log)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        for group in opt.param_groups:
            group["lr"] = s.lr  # settings other than the architecture may change between runs
        _set_rng_state(ckpt["rng"], np_rng)
        history, it = ckpt["history"], ckpt["iteration"]
        resumed_from = it
        log.info("resuming from iteration %d of %d (%s)", it, s.iterations, state_dir / CHECKPOINT)
        old = ckpt.get("settings", {})
        changed = [f"{k} {old[k]!r} -> {v!r}" for k, v in asdict(s).items() if k != "iterations" and k in old and old[k] != v]
        if changed:
            log.info("settings changed since the checkpoint (the new values apply from here): %s", ", ".join(changed))
        if it >= s.iterations:
            log.info("checkpoint already at iteration %d >= %d: no training steps to do", it, s.iterations)
        del ckpt
    else:
        log.info("training from scratch: %d src faces, %d dst faces, %s, %d iterations", len(src), len(dst), model_cfg, s.iterations)
    log.info("model %s: %.2fM parameters on %s%s", model_cfg.archi, count_parameters(model) / 1e6, device,
             ", bf16 autocast" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "")

    def checkpoint(rng_state) -> dict:
        return {"format": CHECKPOINT_FORMAT, "model_config": model_cfg.to_dict(), "model": model.state_dict(),
                "optimizer": opt.state_dict(), "iteration": it, "rng": rng_state, "history": history,
                "settings": asdict(s), "masks": use_masks}

    kernel = _gaussian_kernel(R, device)
    log_every = max(1, s.iterations // 20)
    start, last_saved = it, it
    rng_after_step = _rng_state(np_rng)  # RNG state as of `it` completed steps (what a resume needs)
    t_start = t_log = time.perf_counter()
    it_log = it
    model.train()
    with _StopOnSignal() as stop:
        try:
            while it < s.iterations:
                stop.check(it)
                xs, ys, ms = _make_batch(src, src_m, np_rng, s, device)
                xd, yd, md = _make_batch(dst, dst_m, np_rng, s, device)
                opt.zero_grad(set_to_none=True)
                with autocast(device):
                    src_rgb, src_mask = model(xs, "src")
                    dst_rgb, dst_mask = model(xd, "dst")
                src_loss = face_loss(src_rgb.float(), src_mask.float(), ys, ms, kernel)
                dst_loss = face_loss(dst_rgb.float(), dst_mask.float(), yd, md, kernel)
                (src_loss + dst_loss).backward()
                if s.clip_grad > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), s.clip_grad)
                opt.step()
                it += 1
                rng_after_step = _rng_state(np_rng)

                ls, ld = src_loss.item(), dst_loss.item()
                history["iteration"].append(it)
                history["src"].append(ls)
                history["dst"].append(ld)
                if not (math.isfinite(ls) and math.isfinite(ld)):
                    raise SwaplibError(f"loss became {ls}/{ld} at iteration {it}: lower the learning rate (lr={s.lr}) "
                                       f"or set clip_grad; the last good checkpoint is {state_dir / CHECKPOINT}")
                if it % log_every == 0 or it == s.iterations:
                    now = time.perf_counter()
                    log.info("iteration %d/%d  src %.4f  dst %.4f  %.2f it/s", it, s.iterations, ls, ld,
                             (it - it_log) / max(now - t_log, 1e-9))
                    t_log, it_log = now, it
                if s.save_every and it % s.save_every == 0 and it < s.iterations:
                    _save_checkpoint(state_dir, checkpoint(rng_after_step))
                    last_saved = it
                if s.preview_every and it % s.preview_every == 0:
                    write_image(state_dir / "previews" / f"preview_{it:07d}.jpg", _preview(model, src, dst, device))
            if it > last_saved:
                _save_checkpoint(state_dir, checkpoint(rng_after_step))
                last_saved = it
            stop.check(it)
        except KeyboardInterrupt:
            if it > last_saved:
                _save_checkpoint(state_dir, checkpoint(rng_after_step))
                last_saved = it
            log.warning("training interrupted at iteration %d of %d; checkpoint saved in %s: run again to resume",
                        it, s.iterations, state_dir)
            raise

        seconds = time.perf_counter() - t_start
        losses = _final_losses(history)
        write_image(preview_path, _preview(model, src, dst, device))
        _write_history(Path(history_path), history)
        _write_plot(Path(plot_path), history)
        stop.check(it)
        with atomic_path(model_path) as tmp:
            torch.save({"format": MODEL_FORMAT, "model_config": model_cfg.to_dict(),
                        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                        "iterations": it, "settings": asdict(s), "losses": losses, "masks_trained": use_masks}, tmp)

    steps = it - start
    log.info("done: %d iterations (%d this run) in %.1f s, final losses src %s dst %s", it, steps, seconds,
             _fmt(losses["src"]), _fmt(losses["dst"]))
    return {"iterations": it, "steps": steps, "resumed_from": resumed_from, "losses": losses,
            "seconds": seconds, "it_per_s": steps / seconds if steps and seconds > 0 else None,
            "device": str(device), "parameters": count_parameters(model), "masks_trained": use_masks}


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


# --------------------------------------------------------------------------- the workflow's train stage


def train_model(
    *,
    src: tuple[str | Path, str | Path],
    dst: list[tuple[str | Path, str | Path]],
    preset: str,
    resolution: int,
    iterations: int,
    batch_size: int,
    lr: float,
    seed: int,
    save_every: int,
    state_dir: str | Path,
    model_path: str | Path,
    preview_path: str | Path,
    history_path: str | Path,
    plot_path: str | Path,
) -> dict:
    """Train a model on one source face set and one or more destination face sets.

    src and each dst entry are (faceset.parquet, faces folder). resolution 0 = the preset's.
    The faces' hull masks are the mask targets, so the model learns its own mask too.
    """
    cfg = model_config(preset, **({"resolution": resolution} if resolution else {}))
    src_paths, src_masks = combined_data([src], cfg.resolution)
    dst_paths, dst_masks = combined_data(dst, cfg.resolution)
    settings = TrainSettings(
        iterations=iterations, batch_size=batch_size, lr=lr, seed=seed, save_every=save_every,
        device=os.environ.get("SWAPLIB_DEVICE", "auto"),
    )
    return train(
        src_paths, dst_paths, cfg, settings,
        state_dir=Path(state_dir), model_path=Path(model_path), preview_path=Path(preview_path),
        history_path=Path(history_path), plot_path=Path(plot_path), src_masks=src_masks, dst_masks=dst_masks,
    )
