"""The GPU check in one call of the lent machine, prepared and measured here on the CPU.

The lent GPU machine reaches no registry, takes the working tree plus carried paths (64 MiB in all),
returns at most 8 files of 16 MiB from $OUT, and has Python 3.12 with torch already installed but
no dlib, Snakemake or ffmpeg. So the work is cut in three, around what can travel:

    .venv/bin/python bench/gpu_swap.py prepare            # here: frames, faces and face sets of pair 1,
                                                          # the carry folder .gpu/ and its wheels
    python3 bench/gpu_swap.py device --out $OUT           # there, one call: the tables, the CUDA tests,
                                                          # a timed training of the pair, its merged frames
    .venv/bin/python bench/gpu_swap.py measure RESULTS    # here: the quality stage on what came back

`prepare` runs the library's stages on the pair (as bench/quality_curve.py does, in a work folder
outside the checkout that later runs reuse) and copies into `.gpu/` only what training and merging
need: the two face sets' crops and tables, the measured destination frames (every 5th) with their
face table, and cp312 wheels of the few packages the GPU machine lacks (DEVICE_LACKS). It refuses a
carry folder over CARRY_LIMIT.

`device` (run from the repository root) installs those wheels where the machine lacks them, then
writes to $OUT: nvidia-smi.txt, train_gpu.txt (bench/train.py --gpu: samples/s, peak memory and
share of the bf16 peak), test_cuda.txt (tests/test_cuda.py), swap.json (the training: device,
iterations, samples, seconds, samples/s, peak memory) and merged.tar (the merged frames as JPEG and
the model's header, without its weights, which the measure reads its resolution from). Every step
has a time bound; a failed step is written down and the next one runs. Without CUDA it is its own
dry run: the same steps on the CPU with the tables cut to one small case (--train-seconds tiny).

`measure` unpacks merged.tar into the work folder and runs the quality stage (identity, detail,
the verdict) against the pair's face sets, as the curves do.

The one GPU call, after prepare (device time counts from the machine's start; leave room to rerun):

    run(command="python3 bench/gpu_swap.py device --out $OUT", carry=[".gpu"], timeout_s=560)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(1, str(REPO / "bench"))

CARRY = REPO / ".gpu"  # ignored by git (.gitignore); named in the device call's carry
CARRY_LIMIT = 48 * 2**20  # of the 64 MiB that travel: the working tree (a few MiB) and room to spare
RETURN_LIMIT = 16 * 2**20  # one file back from $OUT
# Packages swaplib's training and merging import that the GPU machine's image lacks (its package list
# in the device tool's KINDS.md): (import name, distribution) each; they travel as cp312 wheels.
DEVICE_LACKS = (("jsonschema", "jsonschema"), ("jsonschema_specifications", "jsonschema-specifications"),
                ("referencing", "referencing"), ("rpds", "rpds-py"))
DEVICE_PYTHON = "3.12"
PRESET = "quick96"  # the swap it trains: the model a GPU user starts with
# The clip parts that travel: the face sets (crops and tables) and the measured destination frames.
CARRIED = {"src": ("faces", "faces.parquet", "faceset.parquet"),
           "dst": ("faces", "faces.parquet", "faceset.parquet"),
           "shown": ("frames", "faces.parquet")}
JPEG_QUALITY = 95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    p = steps.add_parser("prepare", help="here: the pair's face sets and the carry folder")
    p.add_argument("--pair", type=int, default=1, help="n-th pair of pairs.tsv (default 1)")
    p.add_argument("--source", type=Path, help="source clip (with --destination: instead of pairs.tsv)")
    p.add_argument("--destination", type=Path)
    p.add_argument("--work", type=Path, help="work folder (default ~/.cache/swaplib/gpu/PAIR)")
    p.add_argument("--carry", type=Path, default=CARRY)
    p.add_argument("--no-wheels", action="store_true", help="carry no wheels (a machine that has the packages)")
    d = steps.add_parser("device", help="there: tables, CUDA tests, the timed swap, under --out")
    d.add_argument("--carry", type=Path, default=CARRY)
    d.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-out")))
    # The defaults fit one call of at most 600 s: 150 + 60 + 270 s, the model's building and the merge.
    d.add_argument("--train-seconds", type=float, default=270, help="the swap's training budget")
    d.add_argument("--bench-seconds", type=float, default=150, help="bound of bench/train.py")
    d.add_argument("--test-seconds", type=float, default=60, help="bound of tests/test_cuda.py")
    m = steps.add_parser("measure", help="here: the quality stage on what came back")
    m.add_argument("results", type=Path, help="the folder holding merged.tar and swap.json")
    m.add_argument("--carry", type=Path, default=CARRY)
    args = parser.parse_args()
    if args.step == "prepare":
        clips = (args.source, args.destination) if args.source and args.destination else args.pair
        prepare(clips, args.work, args.carry, wheels=not args.no_wheels)
    elif args.step == "device":
        device(args.carry, args.out, args.train_seconds, args.bench_seconds, args.test_seconds)
    else:
        measure(args.results, args.carry)


# --- here, before the call ---------------------------------------------------------------------------------------


def prepare(pair: int | tuple[Path, Path], work: Path | None, carry: Path, wheels: bool = True) -> None:
    """The pair's (the n-th of pairs.tsv, or two clips) frames, faces and face sets in `work` (kept when
    there), and what travels in `carry`."""
    from quality_curve import MEASURE_FPS, example_pair
    from quality_curve import prepare as prepare_clip
    from swaplib.train.settings import model_config

    if isinstance(pair, int):
        name, source, destination = example_pair(pair)
    else:
        (source, destination), name = pair, f"{pair[0].stem}_to_{pair[1].stem}"
    work = work or Path.home() / ".cache" / "swaplib" / "gpu" / name
    size = model_config(PRESET).resolution
    clips = {"src": prepare_clip(source, work / "src", size), "dst": prepare_clip(destination, work / "dst", size),
             "shown": prepare_clip(destination, work / "shown", size, fps=MEASURE_FPS)}
    shutil.rmtree(carry, ignore_errors=True)
    for clip, parts in CARRIED.items():
        for part in parts:
            copy(clips[clip][part], carry / clip / part)
    (carry / "pair.json").write_text(json.dumps({"pair": name, "work": str(work), "preset": PRESET}, indent=1))
    if wheels:
        fetch_wheels(carry / "wheels")
    size = folder_size(carry)
    if size > CARRY_LIMIT:
        sys.exit(f"{carry}: {size / 2**20:.1f} MiB, over the {CARRY_LIMIT / 2**20:.0f} MiB that may travel beside "
                 "the working tree; a shorter destination clip would fit")
    print(f"{carry}: {size / 2**20:.1f} MiB to carry (pair {name}; work folder {work})")


def copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)


def fetch_wheels(folder: Path) -> None:
    """cp312 wheels of DEVICE_LACKS, at the versions installed here (pip's download, as the device tool's
    README gives it)."""
    from importlib.metadata import version

    wanted = [f"{dist}=={version(dist)}" for _, dist in DEVICE_LACKS]
    platforms = [f"--platform={p}" for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
                                             "manylinux2014_x86_64", "manylinux1_x86_64")]
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               f"--python-version={DEVICE_PYTHON}", "--implementation=cp", *platforms, "-d", str(folder), *wanted]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the wheels for the GPU machine ({', '.join(wanted)}) did not download: {done.stderr.strip()}\n"
                 "(prepare --no-wheels carries none)")


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# --- there, in the one call --------------------------------------------------------------------------------------


def device(carry: Path, out: Path, train_seconds: float, bench_seconds: float, test_seconds: float) -> None:
    """Every step of the GPU call, each bounded and written under `out`; a failed step does not stop the next."""
    out.mkdir(parents=True, exist_ok=True)
    install_lacking(carry)
    import torch

    cuda = torch.cuda.is_available()
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.cuda.get_device_name() if cuda else 'no CUDA device: a dry run on the CPU'}", flush=True)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if shutil.which("nvidia-smi"):
        step("nvidia-smi", ["nvidia-smi"], out / "nvidia-smi.txt", 30, environment)
    tables = ["--gpu"] if cuda else ["--only", "quick96", "--iterations", "4"]
    step("bench/train.py", [sys.executable, "bench/train.py", *tables], out / "train_gpu.txt", bench_seconds,
         environment)
    step("tests/test_cuda.py", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cuda.py"],
         out / "test_cuda.txt", test_seconds, environment)
    swap(carry, out, train_seconds)


def install_lacking(carry: Path) -> None:
    """Install the carried wheels of whichever DEVICE_LACKS this Python lacks, into carry/site."""
    if all(importlib.util.find_spec(module) for module, _ in DEVICE_LACKS):
        return
    site = carry / "site"
    wheels = sorted((carry / "wheels").glob("*.whl"))
    if not wheels:
        sys.exit(f"{carry / 'wheels'}: no wheels, and this Python lacks some of "
                 f"{', '.join(d for _, d in DEVICE_LACKS)} (run prepare with wheels)")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--upgrade", "--target", str(site), *map(str, wheels)], check=True)
    sys.path.insert(0, str(site))


def step(name: str, command: list[str], log: Path, seconds: float, environment: dict) -> None:
    """Run one step with its output in `log`, stopped after `seconds`; its outcome goes to stdout too."""
    started = time.perf_counter()
    with log.open("w") as sink:
        try:
            code = subprocess.run(command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT, timeout=seconds,
                                  env=environment).returncode
            outcome = "ok" if code == 0 else f"failed (exit status {code})"
        except subprocess.TimeoutExpired:
            outcome = f"stopped at its bound of {seconds:.0f} s"
            sink.write(f"\n[{outcome}]\n")
    print(f"{name}: {outcome} in {time.perf_counter() - started:.0f} s ({log.name})", flush=True)


def swap(carry: Path, out: Path, train_seconds: float) -> None:
    """Train the carried pair for `train_seconds`, merge the measured frames, pack them for the way back."""
    import cv2
    import torch
    from safetensors import safe_open

    from swaplib.core.images import frame_files
    from swaplib.merge.stage import merge_video
    from swaplib.train import train_model

    work = Path(tempfile.gettempdir()) / "gpu-swap"
    shutil.rmtree(work, ignore_errors=True)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    trained = train_model(
        src=(carry / "src" / "faceset.parquet", carry / "src" / "faces"),
        dst=[(carry / "dst" / "faceset.parquet", carry / "dst" / "faces")],
        preset=PRESET, iterations=10**7, max_minutes=train_seconds / 60, state_dir=work / "state",
        model_path=work / "model.safetensors", preview_path=work / "preview.jpg",
        history_path=work / "loss.csv", plot_path=work / "loss.png", save_every=10**9, preview_every=0,
        backup_every=0,
    )
    seconds = time.perf_counter() - started
    merge_video(carry / "shown" / "frames", carry / "shown" / "faces.parquet", work / "model.safetensors",
                work / "merged")
    header = work / "model-header.json"
    with safe_open(work / "model.safetensors", "pt") as model:
        header.write_text(json.dumps(model.metadata()))
    with tarfile.open(out / "merged.tar", "w") as tar:
        tar.add(header, arcname="model-header.json")
        for number, path in frame_files(work / "merged"):
            jpeg = work / f"{number:06d}.jpg"
            cv2.imwrite(str(jpeg), cv2.imread(str(path)), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            tar.add(jpeg, arcname=f"merged/{jpeg.name}")
    summary = {"device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
               "preset": PRESET, "iterations": trained["iterations"], "seconds": round(seconds, 1),
               "train_seconds": train_seconds, "losses": trained["losses"],
               "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None}
    (out / "swap.json").write_text(json.dumps(summary, indent=1))
    for path in out.iterdir():
        if path.stat().st_size > RETURN_LIMIT:
            print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB, over the {RETURN_LIMIT / 2**20:.0f} MiB that come "
                  "back", flush=True)
    print(f"swap: {PRESET}, {trained['iterations']} iterations in {seconds:.0f} s (the budget {train_seconds:.0f} s, "
          f"building and loading included) on {summary['device']}", flush=True)


# --- here, after the call -----------------------------------------------------------------------------------------


def measure(results: Path, carry: Path) -> dict:
    """The quality stage on the merged frames that came back, against the pair's face sets in its work folder."""
    from swaplib.quality.stage import measure_pair

    pair = json.loads((carry / "pair.json").read_text())
    work = Path(pair["work"])
    landed = work / "from-gpu"
    shutil.rmtree(landed, ignore_errors=True)
    with tarfile.open(results / "merged.tar") as tar:
        tar.extractall(landed, filter="data")
    model = landed / "model.safetensors"
    write_header_only(json.loads((landed / "model-header.json").read_text()), model)
    quality = measure_pair(
        destination_frames=work / "shown" / "frames", destination_faces=work / "shown" / "faces.parquet",
        destination_faceset=work / "dst" / "faceset.parquet", destination_faceset_frames=work / "dst" / "frames",
        source_frames=work / "src" / "frames", source_faceset=work / "src" / "faceset.parquet",
        merged=landed / "merged", quality_json=landed / "quality.json", table_path=landed / "quality.csv",
        plot_path=landed / "quality.png", strip_path=landed / "strip.jpg", model=model,
    )
    trained = json.loads((results / "swap.json").read_text())
    print(f"{pair['pair']}: {trained['preset']} trained {trained['iterations']} iterations in {trained['seconds']} s "
          f"on {trained['device']}: verdict {quality['verdict']}, convincing {quality.get('convincing')} "
          f"(identity {quality.get('id_match')}, detail {quality.get('sharpness')}); strip {landed / 'strip.jpg'}")
    return quality


def write_header_only(metadata: dict, path: Path) -> None:
    """A model file with the trained one's safetensors metadata and no weights: what the quality stage reads
    (the model's resolution)."""
    from safetensors.torch import save_file

    save_file({}, str(path), metadata=metadata)


if __name__ == "__main__":
    main()
