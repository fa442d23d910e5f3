"""Segmentation (XSeg) speed: training ms per iteration and samples/s, and masks per second when
applying it, beside the extraction speed of the same frames (the issue's bound: masks must not slow
extraction-to-merge of a clip by more than a quarter on a CPU).

Faces: the first frames of a real clip (../shared/data/clips), extracted as the workflow does
(dlib-hog, whole_face, 256 px crops). Training: swaplib.xseg.train.train_xseg (batches with
synthetic occluders made on the main thread, BCE loss, Adam), the median step after the first few.
Masks: swaplib.xseg.apply.write_masks over the clip's kept faces (crops read, scaled, predicted,
written as PNG), and the network alone (predict on crops in memory).

    .venv/bin/python bench/xseg.py                   # 64 px width 16 (the defaults), 64/8, 128/16
    .venv/bin/python bench/xseg.py --iterations 10 --threads 1

On a CPU shared with other jobs the numbers are only upper bounds on time: say so when quoting them.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from machine import cpu_name  # bench/machine.py, beside this script
from swaplib.extract.stage import extract_faces
from swaplib.xseg.apply import load_xseg, predict, write_masks
from swaplib.xseg.data import load_sources
from swaplib.xseg.settings import XSegSettings
from swaplib.xseg.train import train_xseg

CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips" / "lp_d12_man_glasses_talking.mp4"
CASES = [(64, 16, 16), (64, 8, 8), (128, 16, 16)]  # resolution, width, batch size


def extract(root: Path, frames: int) -> tuple[dict, float]:
    (root / "frames").mkdir(parents=True)
    capture = cv2.VideoCapture(str(CLIP))
    for number in range(frames):
        ok, frame = capture.read()
        if not ok:
            break
        cv2.imwrite(str(root / "frames" / f"{number:06d}.png"), frame)
    started = time.perf_counter()
    extract_faces(root / "frames", root / "faces", root / "faces.parquet", size=256, face_type="whole_face",
                  progress="off")
    seconds = time.perf_counter() - started
    return {"name": "clip", "table": root / "faces.parquet", "faces": root / "faces"}, frames / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    print(f"machine: {cpu_name()}, {args.threads} torch thread(s), torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source, extract_fps = extract(tmp / "clip", args.frames)
        print(f"extraction (dlib-hog, whole_face 256 px): {extract_fps:.2f} frames/s\n")
        print("| resolution | width | batch | train ms/it | samples/s | masks/s (files) | masks/s (network) | "
              "share of extraction time |")
        print("|---|---|---|---|---|---|---|---|")
        for resolution, width, batch_size in CASES:
            data = load_sources([source], resolution)
            s = XSegSettings(resolution=resolution, width=width, batch_size=batch_size, iterations=args.iterations,
                             save_every=0, device="cpu")
            run = tmp / f"run{resolution}-{width}"
            out = train_xseg(data, s, state_dir=run / "state", model_path=run / "model.safetensors",
                             preview_path=run / "preview.jpg", plot_path=run / "loss.png", threads=args.threads)
            written = write_masks(run / "model.safetensors", source["table"], source["faces"], run / "masks",
                                  device="cpu", threads=args.threads)
            model, _ = load_xseg(run / "model.safetensors")
            predict(model, data.images[:8])  # warm-up
            started = time.perf_counter()
            predict(model, data.images)
            network = len(data) / (time.perf_counter() - started)
            files = written["masks"] / written["seconds"]
            share = extract_fps / files  # faces per frame: one
            print(f"| {resolution} | {width} | {batch_size} | {out['ms_per_it']:.0f} | {out['samples_per_s']:.1f} | "
                  f"{files:.1f} | {network:.1f} | {100 * share:.1f} % |")


if __name__ == "__main__":
    main()
