"""The curve of swap quality against training: how many samples (and how much wall time) a recipe needs
before the swap is the source person.

It runs the library's own stages on a pair of clips: frames, faces and face sets of both clips
(swaplib.video, swaplib.extract, swaplib.sort), then trains (swaplib.train.train_model, resumed in
chunks on one state folder) and, every --every samples seen (src + dst faces), merges every 5th
frame of the destination (swaplib.merge) and measures it (swaplib.quality). It prints one row per
measure and writes curve.csv, curve.png (the figures against samples and against wall seconds) and
the machine it ran on (CPU model and cores, load average, device).

    .venv/bin/python bench/quality_curve.py                              # tiny, first pair of pairs.tsv
    .venv/bin/python bench/quality_curve.py --preset quick96 --samples 40000 --every 4000
    .venv/bin/python bench/quality_curve.py --pair 2 --preset quick96    # the second pair of pairs.tsv
    .venv/bin/python bench/quality_curve.py --source a.mp4 --destination b.mp4 --set lr=5e-4 --set batch_size=16
    .venv/bin/python bench/quality_curve.py --out runs/curve-tiny        # keep (and resume) the run there
    nice .venv/bin/python bench/quality_curve.py --out ~/.cache/swaplib/curves/tiny-1 --samples 500000 \
        --every 40000 --set threads=1                                     # a long curve: run it again to go on
    .venv/bin/python bench/quality_curve.py --base-samples 20000         # from a shared base (pretrain_model)
    .venv/bin/python bench/quality_curve.py --set ema=0.999              # a candidate recipe setting
    .venv/bin/python bench/quality_curve.py --samples 20000 --then gan_power=0.1 --extra-samples 8000

With --base-samples, a shared base is first pretrained on the faces of the pair's two clips (and
of any --base-source) and the pair's model starts from it; the base's own training time is printed
apart (it is paid once for every pair that uses it).

With --then KEY=VALUE (repeatable), the model trained to --samples is continued twice from its
state, for --extra-samples more each: once with those settings over the recipe ("with") and once
as it was ("without"), measured every --every samples; the last table sets the two side by side at
equal samples (GAN power's question: is a model continued with it sharper, and still the source?).

A curve outlives its session: every row is written to curve.csv as soon as it is measured, and the
training state is saved every --save-every samples (with the training seconds so far, progress.json),
so the same command run again on the same --out continues where it stopped: no row twice, samples and
seconds counted on; a larger --samples extends a finished curve. The pair, preset and settings are
kept in run.json, and a resume that asks for others is refused. machine.json lists every sitting
(the machine each part ran on), and each row names its sitting.

Wall seconds are training time only (merging and measuring are left out), on whatever device
`auto` picks (SWAPLIB_DEVICE=cpu to force the CPU). On a shared CPU they are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from machine import cpu_features, cpu_name  # noqa: E402  # bench/machine.py, beside this script
from swaplib.core.atomic import write_json  # noqa: E402
from swaplib.extract.detect.backends import make_detector  # noqa: E402
from swaplib.extract.stage import extract_faces  # noqa: E402
from swaplib.merge.stage import merge_video  # noqa: E402
from swaplib.model import resolve_device  # noqa: E402
from swaplib.quality.stage import measure_pair  # noqa: E402
from swaplib.sort.stage import build_faceset  # noqa: E402
from swaplib.train import pretrain_model, train_model  # noqa: E402
from swaplib.train.settings import model_config, train_settings  # noqa: E402
from swaplib.video.frames import extract_frames  # noqa: E402

MEASURE_FPS = 5  # the measured clip: every 5th frame of the 25 fps destination
COLUMNS = ["samples", "seconds", "loss_src", "loss_dst", "id_match", "id_top1", "sharpness", "relative_sharpness",
           "sharpness_limit", "landmark_error", "jitter_ratio", "verdict", "convincing"]
MEASURED = COLUMNS[4:]  # the quality figures of a row (the rest is training's)
SR_COLUMNS = ["sr_id_match", "sr_sharpness", "sr_verdict", "sr_convincing"]  # with --super-resolution
RESUME_KEYS = {"pair": None, "preset": None, "settings": None, "base_samples": 0,
               "face_type": "whole_face"}  # what a resumed curve must share with its start (and their defaults)
# Settings a sitting may change on resume: how fast it computes, not what (each sitting records its own).
SPEED_KEYS = ("threads", "workers", "device", "precision", "progress")


def machine() -> dict:
    """The CPU by name and cores, the load average when starting, and the device training uses."""
    device = resolve_device(os.environ.get("SWAPLIB_DEVICE", "auto"))
    info = {"cpu": cpu_name(), "features": cpu_features(), "cores": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "device": str(device)}
    if device.type == "cuda":
        import torch

        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def example_pair(number: int) -> tuple[str, Path, Path]:
    """(name, source, destination) of the n-th pair (1-based) of the example sheet."""
    sheet = pd.read_csv(REPO / "pairs.tsv", sep="\t", dtype=str, keep_default_na=False)
    row = sheet.iloc[number - 1]
    return row["pair"], (REPO / row["source"]).resolve(), (REPO / row["destination"]).resolve()


def prepare(video: Path, folder: Path, size: int, fps: float | None = None, face_type: str = "whole_face") -> dict:
    """Frames, faces and face set of one clip, as the workflow's stages make them (kept when already there)."""
    paths = {name: folder / name for name in ("frames", "faces", "faces.parquet", "faceset.parquet")}
    if not paths["faceset.parquet"].exists():
        extract_frames(video, paths["frames"], folder / "video.json", fps=fps)
        extract_faces(paths["frames"], paths["faces"], paths["faces.parquet"], detector=make_detector("dlib"),
                      size=size, face_type=face_type)
        build_faceset(paths["faces.parquet"], paths["faces"], paths["faceset.parquet"])
    return paths


def settings_from(pairs: list[str]) -> dict:
    """--set key=value (values read as JSON where they parse: numbers, true/false, null)."""
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", type=int, default=1, help="n-th pair of pairs.tsv (default 1)")
    parser.add_argument("--source", type=Path, help="source clip (with --destination: instead of pairs.tsv)")
    parser.add_argument("--destination", type=Path)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a training setting over the preset's (repeatable): lr, batch_size, optimizer, ...")
    parser.add_argument("--samples", type=int, default=20000, help="the budget: samples seen (src + dst faces)")
    parser.add_argument("--every", type=int, default=2000, help="measure every N samples seen")
    parser.add_argument("--out", type=Path,
                        help="work folder, resumed when it holds a curve (default: a temporary one)")
    parser.add_argument("--face-type", default="whole_face",
                        help="the faces' crop (extract.face_type): whole_face, full (DFL's Quick96), ...")
    parser.add_argument("--super-resolution", type=int, default=0, metavar="POWER",
                        help="also merge each measure with merge.super_resolution_power POWER: the sr_ columns")
    parser.add_argument("--save-every", type=int, default=4000,
                        help="save the training state every N samples between measures (what a stop can lose)")
    parser.add_argument("--base-samples", type=int, default=0,
                        help="pretrain a shared base for this many samples first; the model starts from it")
    parser.add_argument("--base-source", type=Path, action="append", default=[],
                        help="another clip whose faces the base learns (repeatable; the pair's two always)")
    parser.add_argument("--then", action="append", default=[], metavar="KEY=VALUE",
                        help="continue the trained model with this setting, beside it continued without (repeatable)")
    parser.add_argument("--extra-samples", type=int, default=None,
                        help="with --then: how many samples each continuation trains (default: --samples / 2)")
    args = parser.parse_args()
    args.extra_samples = args.extra_samples or max(args.every, args.samples // 2)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    if args.source and args.destination:
        name, source, destination = f"{args.source.stem}_to_{args.destination.stem}", args.source, args.destination
    else:
        name, source, destination = example_pair(args.pair)
    recipe = settings_from(args.set)
    out = args.out or Path(tempfile.mkdtemp(prefix="quality-curve-"))
    host = machine()
    print(f"# quality curve: {name} ({source.name} -> {destination.name}), preset {args.preset}, settings {recipe}")
    print(f"# machine: {host}")
    print(f"# work folder: {out}")
    sitting = start_sitting(out, {"pair": name, "preset": args.preset, "settings": recipe,
                                  "base_samples": args.base_samples, "face_type": args.face_type}, host)

    size = max(recipe.get("resolution") or model_config(args.preset).resolution, 64)
    src, dst = (prepare(clip, out / name, size, face_type=args.face_type)
                for clip, name in ((source, "src"), (destination, "dst")))
    shown = prepare(destination, out / "dst-measured", size, fps=MEASURE_FPS, face_type=args.face_type)
    batch = recipe.get("batch_size") or train_model_batch(args.preset)
    per_step = 2 * batch  # a step is a batch of source faces and a batch of destination faces
    base = {}
    if args.base_samples:
        sources = [src, dst] + [prepare(clip, out / f"base-{clip.stem}", size, face_type=args.face_type)
                                for clip in args.base_source]
        started = time.perf_counter()
        pretrained = pretrain_model(
            sources=[(p["faceset.parquet"], p["faces"]) for p in sources], preset=args.preset,
            iterations=-(-args.base_samples // per_step), state_dir=out / "base" / "state",
            model_path=out / "base" / "model.safetensors", preview_path=out / "base" / "preview.jpg",
            history_path=out / "base" / "history.csv", plot_path=out / "base" / "loss.png", save_every=10**9,
            backup_every=0, **{k: v for k, v in recipe.items() if k != "ema"},
        )
        base = {"from_base": True, "base": out / "base" / "model.safetensors"}
        print(f"# shared base: {pretrained['iterations'] * per_step} samples on {len(sources)} clips in "
              f"{time.perf_counter() - started:.0f} s (paid once for all pairs on it; not in the seconds below)")

    faces = {"src": src, "dst": dst, "shown": shown}
    rows = curve(out, faces, range(args.every, args.samples + 1, args.every), per_step, args.preset,
                 {**recipe, **base}, sitting=sitting, save_samples=args.save_every, sr_power=args.super_resolution)
    table = pd.DataFrame(rows, columns=COLUMNS + (SR_COLUMNS if args.super_resolution else []))
    ceiling = json.loads((out / "run.json").read_text()).get("ceiling")
    plot(table, out / "curve.png", f"{name}, {args.preset} {recipe or ''}")
    print(f"\nceiling (the source's own faces): {ceiling}")
    for column, value in (("verdict", "source"), ("convincing", True), ("sr_convincing", True)):
        if column in table:
            print(f"first {column} {value}, held at the next measure: {first_held(table, column, value)}")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    print(f"# wrote {out / 'curve.csv'} and {out / 'curve.png'}")
    if args.then:
        compare_continued(out, faces, rows, args, per_step, {**recipe, **base}, settings_from(args.then))


def start_sitting(out: Path, run: dict, host: dict) -> int:
    """Record this start in out/run.json (refusing a resume that asks for another pair, preset or recipe;
    SPEED_KEYS may change) and its machine and settings in out/machine.json's sittings; returns the
    sitting's number (0 for a new curve)."""
    run_file, machine_file = out / "run.json", out / "machine.json"
    host = {**host, "settings": run["settings"]}
    run = {**run, "settings": {k: v for k, v in run["settings"].items() if k not in SPEED_KEYS}}
    if run_file.exists():
        before = json.loads(run_file.read_text())
        differs = {k: (before.get(k, default), run[k]) for k, default in RESUME_KEYS.items()
                   if before.get(k, default) != run[k]}
        if differs:
            sys.exit(f"{run_file}: this folder holds a curve of another run ({differs}, as (was, asked)); "
                     "give another --out or the same flags")
        run = before
    sittings = json.loads(machine_file.read_text())["sittings"] if machine_file.exists() else []
    sittings.append({**host, "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    out.mkdir(parents=True, exist_ok=True)
    write_json(run_file, run)
    write_json(machine_file, {"sittings": sittings})
    return len(sittings) - 1


def read_rows(folder: Path) -> list[dict]:
    """The rows a curve in `folder` measured so far (none for a new one)."""
    path = folder / "curve.csv"
    if not path.exists():
        return []
    return pd.read_csv(path).to_dict("records")


def trained_so_far(folder: Path, seconds: float) -> tuple[int, float]:
    """(samples, training seconds) of the last save in `folder`: progress.json, else the start."""
    path = folder / "progress.json"
    if path.exists():
        saved = json.loads(path.read_text())
        return saved["samples"], saved["seconds"]
    return 0, seconds


def curve(folder: Path, faces: dict, targets, per_step: int, preset: str, recipe: dict, seconds: float = 0.0,
          label: str = "", sitting: int = 0, save_samples: int = 4000, sr_power: int = 0) -> list[dict]:
    """Train in `folder` (resuming its state) to each target of samples seen, merging and measuring
    after each: one row per target (seconds: training time, counted on from `seconds`). The rows
    already in folder/curve.csv are kept and their targets skipped; the state is saved every
    `save_samples` with the seconds so far."""
    src, dst = faces["src"], faces["dst"]
    rows = read_rows(folder)
    saved, seconds = trained_so_far(folder, seconds)
    if rows:
        print(f"# resuming {folder}: {len(rows)} rows to {rows[-1]['samples']} samples, the state saved at "
              f"{saved} samples after {seconds:.0f} s of training", flush=True)
    for target in targets:
        if rows and target <= rows[-1]["samples"]:
            continue
        for stop in [*range(saved + save_samples, target, save_samples), target]:
            started = time.perf_counter()
            trained = train_model(
                src=(src["faceset.parquet"], src["faces"]), dst=[(dst["faceset.parquet"], dst["faces"])],
                preset=preset, iterations=-(-stop // per_step), state_dir=folder / "state",
                model_path=folder / "model.safetensors", preview_path=folder / "preview.jpg",
                history_path=folder / "history.csv", plot_path=folder / "loss.png", save_every=10**9,
                preview_every=0, backup_every=0, **recipe,
            )
            seconds += time.perf_counter() - started
            saved = trained["iterations"] * per_step
            write_json(folder / "progress.json", {"samples": saved, "seconds": round(seconds, 1)})
        quality = measure(folder, faces, f"strip-{trained['iterations']}.jpg")
        extra = {}
        if sr_power:
            sr = measure(folder, faces, f"strip-{trained['iterations']}-sr.jpg", super_resolution_power=sr_power)
            extra = {f"sr_{k}": sr.get(k) for k in ("id_match", "sharpness", "verdict", "convincing")}
        losses = trained["losses"]
        rows.append({"samples": saved, "seconds": round(seconds, 1), "loss_src": losses["src"],
                     "loss_dst": losses["dst"], **{k: quality.get(k) for k in MEASURED}, **extra, "sitting": sitting})
        pd.DataFrame(rows).to_csv(folder / "curve.csv.partial", index=False)
        os.replace(folder / "curve.csv.partial", folder / "curve.csv")
        if (folder / "run.json").exists():
            write_json(folder / "run.json", {**json.loads((folder / "run.json").read_text()),
                                             "ceiling": quality["ceiling"]})
        columns = (["branch"] if label else []) + COLUMNS + (SR_COLUMNS if sr_power else [])
        print(pd.DataFrame([{"branch": label, **rows[-1]}], columns=columns)
              .to_string(index=False, header=len(rows) == 1), flush=True)
    return rows


def measure(folder: Path, faces: dict, strip: str, **merge) -> dict:
    """Merge the measured frames with folder's model (merge settings `merge` over the defaults) and
    measure them: the quality stage's figures."""
    src, dst, shown = faces["src"], faces["dst"], faces["shown"]
    merge_video(shown["frames"], shown["faces.parquet"], folder / "model.safetensors", folder / "merged", **merge)
    return measure_pair(
        destination_frames=shown["frames"], destination_faces=shown["faces.parquet"],
        destination_faceset=dst["faceset.parquet"], destination_faceset_frames=dst["frames"],
        source_frames=src["frames"], source_faceset=src["faceset.parquet"], merged=folder / "merged",
        quality_json=folder / "quality.json", table_path=folder / "quality.csv", plot_path=folder / "quality.png",
        strip_path=folder / strip, model=folder / "model.safetensors",
    )


def compare_continued(out: Path, faces: dict, rows: list[dict], args, per_step: int, recipe: dict,
                      then: dict) -> None:
    """The model of the curve's last row, continued for --extra-samples with `then` over the recipe and
    without it, each from a copy of its state: the two curves, and the figures side by side."""
    print(f"\n# continued from {rows[-1]['samples']} samples for {args.extra_samples} more: with {then} and without")
    start = rows[-1]["samples"]
    targets = range(start + args.every, start + args.extra_samples + 1, args.every)
    branches = {}
    for label, settings in (("without", recipe), ("with", {**recipe, **then})):
        folder = out / f"continued-{label}"
        if not (folder / "state").exists():
            shutil.copytree(out / "state", folder / "state")
            shutil.copy(out / "progress.json", folder / "progress.json")
        branches[label] = curve(folder, faces, targets, per_step, args.preset, settings, rows[-1]["seconds"], label,
                                save_samples=args.save_every)
    figures = ["id_match", "sharpness", "relative_sharpness", "verdict"]
    side = pd.DataFrame([{"samples": a["samples"], **{f"{k} without": a[k] for k in figures},
                          **{f"{k} with": b[k] for k in figures}}
                         for a, b in zip(branches["without"], branches["with"])])
    side.to_csv(out / "continued.csv", index=False)
    print(side.to_markdown(index=False, floatfmt=".3f"))
    print(f"# wrote {out / 'continued.csv'} (and each branch's curve.csv in {out}/continued-*)")


def first_held(table: pd.DataFrame, column: str, value) -> dict | str:
    """Samples and seconds of the first row where `column` is `value` and stays so at the next row: a
    verdict read over two measures, not one lucky row."""
    hits = (table[column] == value).to_numpy()
    for i in range(len(hits) - 1):
        if hits[i] and hits[i + 1]:
            return table.iloc[i][["samples", "seconds"]].to_dict()
    return "not reached"


def train_model_batch(preset: str) -> int:
    return train_settings(preset, iterations=1).batch_size


def plot(table: pd.DataFrame, path: Path, title: str) -> None:
    """id_match, id_top1 and sharpness against samples seen (left) and wall seconds (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, x in zip(axes, ("samples", "seconds")):
        for figure in ("id_match", "id_top1", "sharpness"):
            ax.plot(table[x], table[figure], "o-", label=figure)
        ax.set_xlabel("samples seen (src + dst faces)" if x == "samples" else "training wall seconds")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("figure (1 = best)")
    axes[0].legend()
    fig.suptitle(f"Swap quality against training: {title}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
