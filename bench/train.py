"""Training speed against DeepFaceLab: steady-state ms per iteration and samples/s, and the share of
this machine's own convolution throughput the training loop reaches.

One iteration is a batch of source faces + a batch of destination faces (samples/s = 2 x batch / s),
through swaplib's real training loop (train.train: background batch making, DFL's augmentation,
masked DSSIM+MSE loss, the preset's optimizer). The first iterations (warm-up) are left out; the
figure is the median of the rest. DFL's figures were measured on a 2-core CPU machine kind
(TensorFlow CPU, same architectures and batch sizes).

Before the models, a plain 3x3 convolution (128 -> 128 channels at 48x48: Quick96's last decoder
block) is timed forward + backward in the precision and memory layout the training loop uses: the
machine's conv peak, measured in the same sitting. Each model's GFLOP/s (FLOPs counted by
FlopCounterMode) is then given as a share of the conv throughput measured just before and after
it (column conv; on a CPU shared with other jobs the load changes within minutes): a figure
other machines can check.

    .venv/bin/python bench/train.py                      # the five DFL comparisons and AMP, precision auto
    .venv/bin/python bench/train.py --precision fp32     # without bf16 autocast
    .venv/bin/python bench/train.py --only quick96 --iterations 30
    .venv/bin/python bench/train.py --only amp           # AMP at DFL's defaults beside SAEHD df-ud at 224 px
    .venv/bin/python bench/train.py --gpu                # on CUDA: Quick96, SAEHD and AMP, batch 8-64, bf16
    .venv/bin/python bench/train.py --gan --device cuda  # SAEHD with GAN power (and true face) beside plain
    .venv/bin/python bench/train.py --scaling            # one training on 1, 2, ... ranks (torchrun, train.devices)
    .venv/bin/python bench/train.py --scaling --device cuda --only saehd

On a CPU shared with other jobs the numbers are only upper bounds on time: say so when quoting them.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from machine import cpu_features, cpu_name  # bench/machine.py, beside this script
from swaplib.model import build_model
from swaplib.model.base import amp_dtype, autocast, native_bf16, precision_name
from swaplib.train import distributed, loop, resolve, train
from swaplib.train.data import FaceData

# name, preset, archi, resolution (None: the preset's), batch size, DFL ms/iter (2-core CPU, TensorFlow;
# None: not measured). AMP at DFL's defaults (224 px) comes with the plain model at its resolution.
CASES = [
    ("tiny", "tiny", None, None, 8, None),
    ("tiny", "tiny", None, None, 16, None),
    ("Quick96", "quick96", "df-ud", None, 4, 735),
    ("SAEHD 128 df-ud", "saehd", "df-ud", None, 4, 1190),
    ("SAEHD 128 df-ud", "saehd", "df-ud", None, 8, 2075),
    ("SAEHD 128 liae-ud", "saehd", "liae-ud", None, 4, 1640),
    ("SAEHD 128 liae-ud", "saehd", "liae-ud", None, 8, 2790),
    ("AMP 224", "amp", None, None, 8, None),
    ("df-ud 224, for amp", "saehd", "df-ud", 224, 8, None),
]

# --gpu: name, preset, archi, resolution (None: the preset's), each at every batch size of GPU_BATCHES
GPU_MODELS = [
    ("Quick96", "quick96", "df-ud", None),
    ("SAEHD 128 df-ud", "saehd", "df-ud", 128),
    ("SAEHD 128 liae-ud", "saehd", "liae-ud", 128),
    ("SAEHD 256 df-ud", "saehd", "df-ud", 256),
    ("SAEHD 256 liae-ud", "saehd", "liae-ud", 256),
    ("AMP 224", "amp", None, None),
    ("df-ud 224, for amp", "saehd", "df-ud", 224),
]
GPU_BATCHES = (8, 16, 32, 64)

# Dense (non-sparse) bf16 tensor-core peaks, TFLOP/s, from the vendors' data sheets; the first
# name fragment found in torch.cuda.get_device_name() wins, so the more specific ones come first.
GPU_BF16_PEAK = [
    ("H100 PCIe", 756),
    ("H100 SXM", 989),
    ("H100 80GB HBM3", 989),  # how the SXM part names itself
    ("H200", 989),
    ("A100", 312),
    ("L40S", 362),
    ("RTX 4090", 165),
]

# --gan: name, preset, archi, batch size, the adversarial settings (DFL's patch size R/8 and dims 16),
# each timed beside the same model without them
GAN_CASES = [
    ("SAEHD 128 liae-ud", "saehd", "liae-ud", 8, {"gan_power": 0.1}),
    ("SAEHD 128 df-ud", "saehd", "df-ud", 8, {"gan_power": 0.1}),
    ("SAEHD 128 df-ud", "saehd", "df-ud", 8, {"gan_power": 0.1, "true_face_power": 0.01}),
    ("AMP 224", "amp", None, 8, {"gan_power": 0.1}),  # AMP's GAN judges source and destination faces
]

# --scaling: name, preset, archi, global batch (split over the ranks: each configuration computes the same)
SCALING_CASES = [
    ("tiny", "tiny", None, 16),
    ("Quick96", "quick96", "df-ud", 8),
    ("SAEHD 128 df-ud", "saehd", "df-ud", 16),
]

# Where DFL's figures of CASES were measured (the training issue): not this machine, whatever it is.
DFL_MACHINE = "DeepFaceLab, TensorFlow 2.15 CPU, on an Intel Xeon with AMX, 2 cores (2026-11-25)"

# The conv peak's layer: channels in = out, spatial size, kernel.
CONV_CH, CONV_HW, CONV_K = 128, 48, 3


def synthetic_faces(name: str, n: int, resolution: int, seed: int) -> FaceData:
    """n face-like crops with hull-like masks and eyes-and-mouth masks (the loader does real work)."""
    rng = np.random.default_rng(seed)
    R = resolution
    faces = np.empty((n, R, R, 3), np.uint8)
    masks = np.zeros((n, R, R), np.uint8)
    em = np.zeros((n, R, R), np.uint8)
    for i in range(n):
        image = rng.integers(0, 80, (R, R, 3), dtype=np.uint8)
        c = (R // 2 + int(rng.integers(-R // 20, R // 20)), R // 2 + int(rng.integers(-R // 20, R // 20)))
        skin = tuple(int(v) for v in rng.integers(90, 230, 3))
        cv2.ellipse(image, c, (R // 3, int(R * 0.42)), float(rng.uniform(-10, 10)), 0, 360, skin, -1)
        cv2.ellipse(masks[i], c, (R // 3, int(R * 0.42)), 0, 0, 360, 255, -1)
        for dx in (-R // 7, R // 7):
            cv2.circle(image, (c[0] + dx, c[1] - R // 10), R // 16, (20, 30, 40), -1)
            cv2.circle(em[i], (c[0] + dx, c[1] - R // 10), R // 12, 255, -1)
        cv2.ellipse(image, (c[0], c[1] + R // 5), (R // 8, R // 20), 0, 0, 360, (40, 40, 170), -1)
        cv2.ellipse(em[i], (c[0], c[1] + R // 5), (R // 7, R // 15), 0, 0, 360, 255, -1)
        faces[i] = cv2.GaussianBlur(image, (0, 0), 1.0)
    return FaceData(name, faces, masks, em, rng.uniform(-40, 40, n).astype(np.float32), [str(i) for i in range(n)])


def counted_flops(fn) -> float:
    """FLOPs of fn() as FlopCounterMode counts them (convolution backward: twice the forward)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def flops_per_iteration(cfg, batch_size: int) -> float:
    """Forward + backward FLOPs of one training iteration (counted on the meta device: no compute)."""
    with torch.device("meta"):
        model = build_model(cfg)
        x = torch.empty(batch_size, 3, cfg.resolution, cfg.resolution)
        return counted_flops(lambda: sum(t.sum() for t in model.forward_pair(x, x)).backward())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def conv_peak(device: torch.device, precision: str, batch: int, iterations: int, warmup: int = 3) -> dict:
    """GFLOP/s of one 3x3 conv layer, forward + backward, in the training loop's precision and
    layout (channels_last on CUDA and with autocast, as the Trainer chooses); the median step."""
    amp = amp_dtype(precision, device)
    channels_last = device.type == "cuda" or amp is not None
    layout = torch.channels_last if channels_last else torch.contiguous_format
    conv = torch.nn.Conv2d(CONV_CH, CONV_CH, CONV_K, padding=CONV_K // 2).to(device, memory_format=layout)
    x = torch.randn(batch, CONV_CH, CONV_HW, CONV_HW, device=device).to(memory_format=layout).requires_grad_()

    def step():
        with autocast(device, amp):
            y = conv(x)
        y.float().sum().backward()

    flops = counted_flops(step)
    times = []
    for i in range(warmup + iterations):
        sync(device)
        t = time.perf_counter()
        step()
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    gflops = flops / 1e9 / float(np.median(times))
    what = (f"{CONV_K}x{CONV_K} conv {CONV_CH}->{CONV_CH} at {CONV_HW}x{CONV_HW}, batch {batch}, forward+backward, "
            f"{precision_name(amp)}{', channels_last' if channels_last else ''}")
    return {"gflops": gflops, "what": what}


def gpu_bf16_peak(device: torch.device) -> tuple[float, str]:
    """(dense bf16 TFLOP/s, where the figure comes from): the data sheet's for a known GPU, else a
    large bf16 matmul measured here (a little under the true peak)."""
    name = torch.cuda.get_device_name(device)
    for fragment, tflops in GPU_BF16_PEAK:
        if fragment.lower() in name.lower():
            return float(tflops), f"data sheet, {fragment}"
    n = 8192
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    sync(device)
    t, reps = time.perf_counter(), 20
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e12, f"measured here ({n}x{n} bf16 matmul), not a data sheet"


def run_case(preset: str, archi: str | None, batch_size: int, iterations: int, precision: str, device: str,
             resolution: int | None = None, threads: int | None = None, workers: int | None = None,
             **recipe) -> dict:
    cfg, settings = resolve(preset, archi=archi, resolution=resolution, iterations=iterations, batch_size=batch_size,
                            save_every=0, precision=precision, device=device, progress="off", threads=threads,
                            workers=workers, **recipe)
    src = synthetic_faces("src", 64, cfg.resolution, 1)
    dst = synthetic_faces("dst", 64, cfg.resolution, 2)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory(prefix="swaplib-bench-") as tmp:
        out = Path(tmp)
        summary = train(src, dst, cfg, settings, state_dir=out / "state", model_path=out / "model.safetensors",
                        preview_path=out / "preview.jpg", history_path=out / "loss.csv", plot_path=out / "loss.png",
                        log=logging.getLogger("bench"))
    summary["gflop"] = flops_per_iteration(cfg, batch_size) / 1e9
    summary["gflops"] = summary["gflop"] / summary["ms_per_it"] * 1000
    if device.startswith("cuda"):
        summary["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return summary


def gpu_main(args, conv_batch: int) -> None:
    """Quick96 and SAEHD on CUDA at batch 8-64: time, memory and the share of the GPU's bf16 peak."""
    device = torch.device(args.device if args.device.startswith("cuda") else "cuda")
    name = torch.cuda.get_device_name(device)
    total = torch.cuda.get_device_properties(device).total_memory / 2**30
    peak, source = gpu_bf16_peak(device)
    print(f"GPU: {name}, {total:.0f} GiB; dense bf16 peak {peak:.0f} TFLOP/s ({source}); CUDA {torch.version.cuda}")
    conv = conv_peak(device, args.precision, conv_batch, iterations=20)
    print(f"machine conv peak: {conv['gflops'] / 1000:.1f} TFLOP/s ({conv['what']}), "
          f"{conv['gflops'] / 1000 / peak:.0%} of the bf16 peak")
    print(f"{'model':<20}{'batch':>6}{'ms/iter':>9}{'samples/s':>11}{'peak GiB':>10}{'TFLOP/s':>9}"
          f"{'of bf16 peak':>14}{'of conv':>9}", flush=True)
    for label, preset, archi, resolution in GPU_MODELS:
        if args.only and args.only.lower() not in f"{label} {preset}".lower():
            continue
        for batch in GPU_BATCHES:
            try:
                r = run_case(preset, archi, batch, args.iterations, args.precision, str(device),
                             resolution=resolution, workers=args.workers)
            except torch.OutOfMemoryError:
                print(f"{label:<20}{batch:>6}{'OOM':>9}", flush=True)
            else:
                tflops = r["gflops"] / 1000
                print(f"{label:<20}{batch:>6}{r['ms_per_it']:>9.1f}{r['samples_per_s']:>11.1f}"
                      f"{r['peak_mem_gib']:>10.2f}{tflops:>9.1f}{tflops / peak:>14.1%}"
                      f"{r['gflops'] / conv['gflops']:>9.0%}", flush=True)
            gc.collect()  # the case's model, optimizer and batches, before the next one allocates
            torch.cuda.empty_cache()


def gan_main(args) -> None:
    """SAEHD (and AMP) with GAN power (and true face power) on, beside the same model without: what the
    discriminators cost per iteration."""
    print(f"{'model':<20}{'batch':>6}  {'with':<36}{'ms/iter':>9}{'samples/s':>11}{'plain ms':>10}"
          f"{'plain s/s':>11}{'cost':>7}", flush=True)
    plain = {}
    for label, preset, archi, batch, adversarial in GAN_CASES:
        if args.only and args.only.lower() not in f"{label} {preset}".lower():
            continue
        common = dict(threads=args.threads, workers=args.workers)
        if (preset, archi, batch) not in plain:
            plain[preset, archi, batch] = run_case(preset, archi, batch, args.iterations, args.precision, args.device,
                                                   **common)
        base = plain[preset, archi, batch]
        r = run_case(preset, archi, batch, args.iterations, args.precision, args.device, **common, **adversarial)
        what = ", ".join(f"{k} {v}" for k, v in adversarial.items())
        print(f"{label:<20}{batch:>6}  {what:<36}{r['ms_per_it']:>9.1f}{r['samples_per_s']:>11.1f}"
              f"{base['ms_per_it']:>10.1f}{base['samples_per_s']:>11.1f}{r['ms_per_it'] / base['ms_per_it']:>6.2f}x",
              flush=True)
        gc.collect()
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


def scaling_configurations(device: str) -> list[tuple[int, int | None]]:
    """(ranks, threads per rank): on a CPU one thread a rank on 1, 2, 4, ... cores, and one rank on every
    core (the other way to use them); on GPUs 1, 2, 4, ... of them (threads: the library's)."""
    if device.startswith("cuda"):
        count = torch.cuda.device_count()
        return [(n, None) for n in (1, 2, 4, 8, 16) if n <= count]
    cores = len(os.sched_getaffinity(0))
    return [(n, 1) for n in (1, 2, 4, 8, 16, 32, 64) if n <= cores] + ([(1, cores)] if cores > 1 else [])


def scaling_main(args) -> None:
    """One training (a global batch split over the ranks) on 1, 2, ... ranks under torchrun: samples/s,
    and the efficiency against one device's (a GPU, or one CPU core) times the devices used."""
    rows = scaling_configurations(args.device)
    print(f"{'model':<18}{'batch':>6}{'ranks':>6}{'threads':>8}{'ms/iter':>9}{'samples/s':>11}{'devices':>8}"
          f"{'efficiency':>11}", flush=True)
    for label, preset, archi, batch in SCALING_CASES:
        if args.only and args.only.lower() not in f"{label} {preset}".lower():
            continue
        one = None
        for ranks, threads in rows:
            case = dict(preset=preset, archi=archi, batch_size=batch, iterations=args.iterations,
                        precision=args.precision, device=args.device, threads=threads, workers=args.workers)
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks),
                       __file__, "--rank-case", json.dumps(case)]
            done = subprocess.run(command, capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode or not lines:
                print(f"{label:<18}{batch:>6}{ranks:>6}  failed:\n{done.stderr[-2000:]}", flush=True)
                continue
            r = json.loads(lines[0].removeprefix("RESULT "))
            devices = ranks if args.device.startswith("cuda") else ranks * threads  # GPUs, or cores
            one = one or (r["samples_per_s"] if devices == 1 else None)
            efficiency = f"{r['samples_per_s'] / (devices * one):>11.0%}" if one else f"{'-':>11}"
            print(f"{label:<18}{batch:>6}{ranks:>6}{threads or '-':>8}{r['ms_per_it']:>9.0f}"
                  f"{r['samples_per_s']:>11.1f}{devices:>8}{efficiency}", flush=True)


class FixedThreads:
    """Stands in for the thread tuner: a configuration keeps its thread count (the tuner would move one
    rank of two threads to one on a CPU that other jobs share, bench/shared_cpu.py)."""

    def __init__(self, most: int, log):
        self.best = most

    def before_step(self) -> None:
        pass

    def after_step(self, seconds: float) -> None:
        pass


def rank_case(case: dict) -> None:
    """One rank of a --scaling configuration (torchrun starts this script with --rank-case)."""
    loop.ThreadTuner = FixedThreads
    with distributed.joined() as ranks:
        r = run_case(**case)
    if ranks.main:
        print("RESULT " + json.dumps({k: r[k] for k in ("ms_per_it", "samples_per_s", "ranks")}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=None,
                        help="per case, the first 3 are warm-up (default 14; with --gpu 12)")
    parser.add_argument("--precision", default=None,
                        help="one or more of auto, fp32, bf16, fp16, comma-separated: each case in each, side by "
                             "side (default: fp32,bf16 where the CPU has bf16 in hardware, else fp32: emulated bf16 "
                             "takes minutes a case)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch compute threads (default: one per core)")
    parser.add_argument("--workers", type=int, default=None, help="batch-making threads (default: the library's)")
    parser.add_argument("--only", default="", help="run only cases whose name or preset contains this")
    parser.add_argument("--gpu", action="store_true", help="CUDA: Quick96, SAEHD at 128/256 px and AMP, batch 8-64")
    parser.add_argument("--gan", action="store_true", help="SAEHD and AMP with GAN power beside the plain models")
    parser.add_argument("--scaling", action="store_true",
                        help="one training on 1, 2, ... ranks (torchrun): samples/s and the scaling efficiency")
    parser.add_argument("--rank-case", help=argparse.SUPPRESS)  # one rank of --scaling, started by torchrun
    args = parser.parse_args()
    if args.rank_case:
        rank_case(json.loads(args.rank_case))
        return
    args.iterations = args.iterations or (12 if args.gpu else 14)
    args.precision = args.precision or ("fp32,bf16" if native_bf16() else "fp32")
    # those tables run one precision: the loop's own
    if (args.gpu or args.gan or args.scaling) and "," in args.precision:
        args.precision = "auto"
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"CPU: {cpu_name()}, {cores} cores, {'/'.join(cpu_features()) or 'no vector flags read'}, bf16 in hardware "
          f"{'yes' if native_bf16() else 'no'}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {load:.1f} at start, precision {args.precision}")
    if args.gpu:
        if not torch.cuda.is_available():
            sys.exit("--gpu: no CUDA device here (torch " + torch.__version__ + ")")
        gpu_main(args, conv_batch=64)
        return
    if args.gan:
        gan_main(args)
        return
    if args.scaling:
        scaling_main(args)
        return

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"DFL's columns: {DFL_MACHINE}: another machine, so no speed-up is computed from them")
    print(f"{'model':<20}{'batch':>6}{'precision':>10}{'ms/iter':>9}{'samples/s':>11}{'DFL ms':>8}{'DFL s/s':>9}"
          f"{'GFLOP/s':>9}{'conv':>7}{'of conv':>9}")
    precisions = args.precision.split(",")
    before = {p: conv_peak(device, p, batch=16, iterations=5)["gflops"] for p in precisions}
    for label, preset, archi, resolution, batch, dfl_ms in CASES:
        if args.only and args.only.lower() not in f"{label} {preset}".lower():
            continue
        for precision in precisions:
            started = time.perf_counter()
            r = run_case(preset, archi, batch, args.iterations, precision, args.device, resolution=resolution,
                         threads=args.threads, workers=args.workers)
            # On a shared CPU what other jobs leave changes within minutes: the conv measured just
            # before and just after each case (the mean of the two) is the one its share is taken of.
            after = conv_peak(device, precision, batch=16, iterations=5)["gflops"]
            conv = (before[precision] + after) / 2
            before[precision] = after
            dfl = f"{dfl_ms:>8}{2 * batch * 1000 / dfl_ms:>9.1f}" if dfl_ms else f"{'-':>8}{'-':>9}"
            print(f"{label:<20}{batch:>6}{precision_name(amp_dtype(precision, device)):>10}{r['ms_per_it']:>9.0f}"
                  f"{r['samples_per_s']:>11.1f}{dfl}{r['gflops']:>9.0f}{conv:>7.0f}{r['gflops'] / conv:>9.0%}"
                  f"   ({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
