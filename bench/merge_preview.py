"""How fast the review app's merger redraws a frame (swaplib.merge.preview), at a clip's own size and
scaled up to others (e.g. 1280x720): the first draw of a frame (the model's pass) and a redraw after
a merge setting changed (the merge alone, which is what a slider moves).

    .venv/bin/python bench/merge_preview.py --model results/models/PAIR/model.safetensors \\
        --clip ../shared/data/clips/lp_s18_woman_landscape_talking.mp4 --size 512x288 --size 1280x720

The clip (its first --frames frames, scaled with ffmpeg) goes through the real frames and faces
stages in a scratch folder; the model is any trained one (its face type must be the extraction's)."""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg
import torch

from swaplib.extract.stage import extract_faces
from swaplib.merge.preview import FramePreview
from swaplib.merge.settings import MergeSettings
from swaplib.model.io import read_header
from swaplib.video.frames import extract_frames

CHANGES = ({"color_transfer": "none"}, {"erode_mask_modifier": 60}, {"blur_mask_modifier": 120},
           {"color_transfer": "lct"}, {"mode": "hist-match"}, {"sharpen": "gaussian", "sharpen_amount": 30})


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def measure(model: Path, clip: Path, size: str, frames: int, work: Path) -> dict:
    width, height = (int(v) for v in size.split("x"))
    scaled = work / f"clip-{size}.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-frames:v", str(frames),
                    "-vf", f"scale={width}:{height}", "-an", str(scaled)], check=True)
    frames_dir, faces_dir, table = work / f"frames-{size}", work / f"faces-{size}", work / f"faces-{size}.parquet"
    extract_frames(scaled, frames_dir, work / f"video-{size}.json")
    face_type = read_header(model).get("face_type") or "whole_face"
    extract_faces(frames_dir, faces_dir, table, face_type=face_type, progress="off")
    settings = MergeSettings()
    preview = FramePreview(frames_dir, table, model, precision=settings.precision)
    first, again = [], []
    for number in preview.numbers[: min(5, len(preview.numbers))]:
        started = time.perf_counter()
        preview.draw(number, settings)
        first.append(time.perf_counter() - started)
        for changes in CHANGES:
            started = time.perf_counter()
            preview.draw(number, dataclasses.replace(settings, **changes))
            again.append(time.perf_counter() - started)
    return {"size": size, "first_draw_ms": 1000 * statistics.median(first),
            "redraw_ms": 1000 * statistics.median(again), "redraw_max_ms": 1000 * max(again)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--size", action="append", required=True, help="WIDTHxHEIGHT, again for another")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {cpu_name()}, {args.threads} thread(s); model {args.model} ({read_header(args.model)['model_config']})")
    with tempfile.TemporaryDirectory(prefix="swaplib-merge-preview-") as work:
        for size in args.size:
            row = measure(args.model, args.clip, size, args.frames, Path(work))
            print(f"{row['size']:>10}  first draw {row['first_draw_ms']:7.1f} ms  redraw after a change "
                  f"{row['redraw_ms']:6.1f} ms (median; at most {row['redraw_max_ms']:.1f})")


if __name__ == "__main__":
    main()
