"""Where a workflow folder stands (`swaplib status`): its models' training and its pairs' stages.

Read from what the workflow leaves behind, without loading a checkpoint:

    results/{models,pretrained}/NAME/state/loss.csv     the iteration and losses at the last save
    results/{models,pretrained}/NAME/model.safetensors  its header, once the training ended (iterations, stopped_by)
    logs/{train,pretrain}/NAME.log                      the last progress line: target, samples/s, time left
    results/{models,pretrained}/NAME/state/preview-latest.jpg, STOP
    results/pairs/PAIR/merged, PAIR.mp4 (or PAIR.photos/), PAIR/quality.json (its verdict)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from swaplib.core.columns import aligned
from swaplib.core.errors import SwaplibError
from swaplib.model.io import MODEL_FILE, read_header
from swaplib.train.state import STOP_REQUEST
from swaplib.video.results import PHOTOS_SUFFIX, made_result
from swaplib.workfolder import MODEL_ROOTS

# swaplib.core.progress's line, as the train loop fills it in.
PROGRESS_LINE = re.compile(r"iteration (?P<it>\d+)/(?P<total>\d+) \(\d+%\)\s+src \S+\s+dst \S+\s+"
                           r"(?P<samples>[\d.]+) samples/s.*?ETA (?P<eta>\S+)")
_TAIL = 64 << 10  # the end of a log or loss history is all status needs; both grow with the training


def model_file(results: Path, model: str) -> Path:
    """A model named on the command line: a model file's path, or a model's name (its folder under results)."""
    path = Path(model)
    if path.suffix == ".safetensors" or path.is_file():
        return path
    candidates = [results / root / model / MODEL_FILE for root in MODEL_ROOTS]
    return next((c for c in candidates if c.is_file()), candidates[0])


@dataclass
class ModelStatus:
    name: str
    iteration: int | None = None
    target: int | None = None
    losses: tuple[float, float] | None = None  # src, dst
    samples_per_s: float | None = None
    time_left: str | None = None
    state: str = "not started"
    preview: Path | None = None


@dataclass
class PairStatus:
    name: str
    stage: str
    verdict: str | None = None


def _tail(path: Path) -> list[str]:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - _TAIL))
        return f.read().decode(errors="replace").splitlines()


def _last_save(history: Path) -> tuple[int, tuple[float, float]] | None:
    """(iteration, (src, dst loss)) of a loss.csv's last row."""
    if not history.is_file():
        return None
    for line in reversed(_tail(history)):
        try:
            it, src, dst = line.split(",")
            return int(it), (float(src), float(dst))
        except ValueError:
            continue  # the header, or a line cut by the tail
    return None


def _last_progress(log: Path) -> re.Match | None:
    if not log.is_file():
        return None
    return next((m for line in reversed(_tail(log)) if (m := PROGRESS_LINE.search(line))), None)


def model_status(workdir: Path, root: str, folder: Path) -> ModelStatus:
    status = ModelStatus(folder.name if root == "models" else f"{folder.name} (base)")
    state = folder / "state"
    saved = _last_save(state / "loss.csv")
    if saved:
        status.iteration, status.losses = saved
        status.state = "training"
    progress = _last_progress(workdir / "logs" / MODEL_ROOTS[root] / f"{folder.name}.log")
    header = None
    if (folder / MODEL_FILE).is_file():
        try:
            header = read_header(folder / MODEL_FILE)
        except SwaplibError as exc:
            status.state = f"unreadable model ({exc})"
    final = header and header.get("iterations", 0) >= (status.iteration or 0)  # else a rerun trains it further
    if final:
        status.iteration = header.get("iterations")
        stopped_by = header.get("stopped_by") or "iterations"
        status.state = "done" if stopped_by == "iterations" else f"stopped ({stopped_by})"
        if header.get("losses"):  # the model's own, from its last steps: newer than the last periodic save
            src, dst = header["losses"].get("src"), header["losses"].get("dst")
            status.losses = (src, dst) if src is not None and dst is not None else status.losses
    if progress:
        status.target = int(progress["total"])
        status.samples_per_s = float(progress["samples"])
        if status.state == "training":  # a finished training's last ETA says nothing
            status.iteration = max(status.iteration or 0, int(progress["it"]))
            status.time_left = progress["eta"]
    if (state / STOP_REQUEST).exists():
        status.state = "stop requested"
    # A finished model's preview is the one written with it; a training's, the latest periodic one.
    order = ("preview.jpg", "state/preview-latest.jpg") if final else ("state/preview-latest.jpg", "preview.jpg")
    status.preview = next((folder / p for p in order if (folder / p).is_file()), None)
    return status


def pair_status(pairs: Path, folder: Path) -> PairStatus:
    name = folder.name
    quality = folder / "quality.json"
    if quality.is_file():
        try:
            verdict = json.loads(quality.read_text()).get("verdict")
        except (OSError, ValueError, AttributeError):
            verdict = "unreadable quality.json"
        return PairStatus(name, "quality done", verdict)
    made = made_result(pairs, name)
    if made is not None:
        return PairStatus(name, "photos" if made.is_dir() else "video")
    if (folder / "merge.json").is_file():
        return PairStatus(name, "merged")
    return PairStatus(name, "merging" if (folder / "merged").exists() else "not merged")


def collect(workdir: Path) -> tuple[list[ModelStatus], list[PairStatus]]:
    results = workdir / "results"
    models = [model_status(workdir, root, folder) for root in MODEL_ROOTS
              for folder in sorted((results / root).glob("*")) if folder.is_dir()]
    # A pair's folder; not a photo pair's swapped photos beside it (the sheet keeps the suffix from pairs).
    pairs = [pair_status(results / "pairs", folder) for folder in sorted((results / "pairs").glob("*"))
             if folder.is_dir() and not folder.name.endswith(PHOTOS_SUFFIX)]
    return models, pairs


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def report(workdir: str | Path) -> str:
    """The compact tables `swaplib status` prints."""
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise SwaplibError(f"{workdir}: no such folder (the workflow's folder, which holds results/ and logs/)")
    models, pairs = collect(workdir)
    if not models and not pairs:
        return f"{workdir / 'results'}: no models or pairs yet (run the workflow first)"
    lines = []
    if models:
        rows = [[m.name, f"{m.iteration if m.iteration is not None else '-'}" + (f"/{m.target}" if m.target else ""),
                 m.state, *(_loss(v) for v in (m.losses or (None, None))),
                 f"{m.samples_per_s:.1f}" if m.samples_per_s is not None else "-", m.time_left or "-",
                 str(m.preview) if m.preview else "-"] for m in models]
        lines += aligned(["model", "iteration", "state", "src loss", "dst loss", "samples/s", "left", "preview"], rows)
    if pairs:
        lines += [""] if lines else []
        lines += aligned(["pair", "stage", "verdict"], [[p.name, p.stage, p.verdict or "-"] for p in pairs])
    return "\n".join(lines)
