"""Training speed against DeepFaceLab: steady-state ms per iteration and samples/s.

One iteration is a batch of source faces + a batch of destination faces (samples/s = 2 x batch / s),
through swaplib's real training loop (train.train: background batch making, DFL's augmentation,
masked DSSIM+MSE loss, the preset's optimizer). The first iterations (warm-up) are left out; the
figure is the median of the rest. DFL's figures were measured on this machine kind (2 cores,
TensorFlow CPU, same architectures and batch sizes).

    .venv/bin/python bench/train.py                      # the five DFL comparisons, precision auto
    .venv/bin/python bench/train.py --precision fp32     # without bf16 autocast
    .venv/bin/python bench/train.py --only quick96 --iterations 30
    .venv/bin/python bench/train.py --gpu                # on CUDA: SAEHD at 256 px, bf16, memory, share of peak

On a CPU shared with other jobs the numbers are only upper bounds on time: say so when quoting them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from swaplib.model import build_model
from swaplib.train import resolve, train
from swaplib.train.data import FaceData

# name, preset, archi, batch size, DFL ms/iter (2-core CPU, TensorFlow)
CASES = [
    ("Quick96", "quick96", "df-ud", 4, 735),
    ("SAEHD 128 df-ud", "saehd", "df-ud", 4, 1190),
    ("SAEHD 128 df-ud", "saehd", "df-ud", 8, 2075),
    ("SAEHD 128 liae-ud", "saehd", "liae-ud", 4, 1640),
    ("SAEHD 128 liae-ud", "saehd", "liae-ud", 8, 2790),
]


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


def flops_per_iteration(cfg, batch_size: int) -> float:
    """Forward + backward FLOPs of one training iteration (counted on the meta device: no compute)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = build_model(cfg)
        x = torch.empty(batch_size, 3, cfg.resolution, cfg.resolution)
        with FlopCounterMode(display=False) as counter:
            out = model.forward_pair(x, x)
            sum(t.sum() for t in out).backward()
    return counter.get_total_flops()


def run_case(preset: str, archi: str, batch_size: int, iterations: int, precision: str, device: str,
             resolution: int | None = None, threads: int | None = None) -> dict:
    cfg, settings = resolve(preset, archi=archi, resolution=resolution, iterations=iterations, batch_size=batch_size,
                            save_every=0, precision=precision, device=device, progress="off", threads=threads)
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
    if device.startswith("cuda"):
        summary["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=14, help="per case, the first 3 are warm-up (default 14)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch compute threads (default: one per core)")
    parser.add_argument("--only", default="", help="run only cases whose name or preset contains this")
    parser.add_argument("--gpu", action="store_true", help="CUDA: SAEHD df-ud / liae-ud at 256 px, bf16, bs 8")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {load:.1f} at start, precision {args.precision}")
    if args.gpu:
        name = torch.cuda.get_device_name(0)
        print(f"{name}: SAEHD at 256 px, bf16, batch 8")
        print(f"{'model':<22}{'ms/iter':>9}{'samples/s':>11}{'TFLOP/s':>9}{'peak mem GiB':>14}")
        for label, archi in (("SAEHD 256 df-ud", "df-ud"), ("SAEHD 256 liae-ud", "liae-ud")):
            r = run_case("saehd", archi, 8, args.iterations, "bf16", "cuda", resolution=256)
            tflops = r["gflop"] / r["ms_per_it"]
            print(f"{label:<22}{r['ms_per_it']:>9.1f}{r['samples_per_s']:>11.1f}{tflops:>9.1f}{r['peak_mem_gib']:>14.2f}")
        print("share of peak: TFLOP/s above over the GPU's dense bf16 peak (H100 SXM ~989 TFLOP/s)")
        return

    print(f"{'model':<20}{'batch':>6}{'ms/iter':>9}{'samples/s':>11}{'DFL ms':>8}{'DFL s/s':>9}{'speed-up':>9}"
          f"{'GFLOP/s':>9}")
    for label, preset, archi, batch, dfl_ms in CASES:
        if args.only and args.only.lower() not in f"{label} {preset}".lower():
            continue
        started = time.perf_counter()
        r = run_case(preset, archi, batch, args.iterations, args.precision, args.device, threads=args.threads)
        dfl_sps = 2 * batch * 1000 / dfl_ms
        print(f"{label:<20}{batch:>6}{r['ms_per_it']:>9.0f}{r['samples_per_s']:>11.1f}{dfl_ms:>8}{dfl_sps:>9.1f}"
              f"{r['samples_per_s'] / dfl_sps:>8.2f}x{r['gflop'] / r['ms_per_it'] * 1000:>9.0f}"
              f"   ({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
