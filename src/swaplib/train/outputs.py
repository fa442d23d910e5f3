"""What training shows: the preview grid, the loss history (csv) and the loss plot, the files a user
watches a long training by, and the estimate of how long it will take."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from swaplib.core.atomic import atomic_path
from swaplib.core.grid_labels import row_labels
from swaplib.core.images import write_image
from swaplib.core.progress import Progress, duration
from swaplib.model.base import SwapModel, autocast, precision_name
from swaplib.train.data import FaceData
from swaplib.train.settings import TrainSettings

# The preview's rows, top to bottom, as their labels name them ("a > b": a's faces drawn as b).
PREVIEW_ROWS = ("src", "src > src", "its mask", "dst", "dst > dst", "its mask", "dst > src (swap)", "swap mask")


def preview(model: SwapModel, src: FaceData, dst: FaceData, device, amp, n: int = 6) -> np.ndarray:
    """Grid, one face per column after a column of row labels (PREVIEW_ROWS): src | src→src | its
    mask | dst | dst→dst | its mask | dst→src (the swap) | the swap's mask. BGR uint8."""
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
    blank = lambda row: np.zeros((width - len(row),) + row.shape[1:], np.uint8)
    pad = lambda row: np.concatenate([row, blank(row)]) if len(row) < width else row
    grid = np.concatenate([np.concatenate(list(pad(r)), axis=1) for r in rows], axis=0)
    return np.concatenate([row_labels(PREVIEW_ROWS, s.shape[1]), grid], axis=1)


def write_history(path: Path, history: dict) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write("iteration,src_loss,dst_loss\n")
            for row in zip(history["iteration"], history["src"], history["dst"]):
                f.write(f"{row[0]},{row[1]!r},{row[2]!r}\n")


def write_plot(path: Path, history: dict) -> None:
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


def mean_losses(history: dict, last: int = 50) -> dict:
    if not history["iteration"]:
        return {"src": None, "dst": None}
    return {k: float(np.mean(history[k][-last:])) for k in ("src", "dst")}


def fmt_loss(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def watch(folder: Path, preview_image: np.ndarray, history: dict) -> None:
    """What a user watches a long training by: the latest preview, the loss history and its plot, in
    the state folder (each written atomically, so a viewer never sees half a file)."""
    write_image(folder / "preview-latest.jpg", preview_image)
    write_history(folder / "loss.csv", history)
    write_plot(folder / "loss.png", history)


ESTIMATE_AFTER = 20  # steps measured before the run says how long it will take


def estimate(progress: Progress, s: TrainSettings, device, amp, started: float, threads: int) -> str:
    """How long this run will take on this machine, from the steps measured so far."""
    per_step = 1 / max(progress.rate(), 1e-9)
    left = (s.iterations - progress.done) * per_step
    where = f"{device.type}, {precision_name(amp)}, {threads} thread{'s' if threads > 1 else ''}"
    text = (f"estimate: {2 * s.batch_size / per_step:.1f} samples/s here ({where}): iteration {s.iterations} in "
            f"about {duration(left)}")
    if s.max_minutes and left > 60 * s.max_minutes - (time.perf_counter() - started):
        reach = progress.done + int((60 * s.max_minutes - (time.perf_counter() - started)) / per_step)
        text += (f", but max_minutes {s.max_minutes:g} stops it at about iteration {reach} (raise it, or set it "
                 "to 0, to train to the end)")
    return text
