"""Extraction speed per detector backend, and crop jitter with and without smoothing.

    .venv/bin/python bench/extract.py [--threads 2] [--backends dlib-hog,dlib-cnn,fan] [--frames N]
                                      [--no-jitter] [--jitter-face-type head] [--retry]

Speed: `extract_faces` (read frames, detect, landmarks, embeddings, tracking, smoothing, align,
write crops and table) on the frames of each clip of ../shared/data, decoded to PNG beforehand
(the frames stage's job, not timed). dlib-cnn and fan run on the first --slow-frames frames only.
fan needs its weight files; without them it runs on random weights saved under the real names
(same networks, same cost per pass, but S3FD then finds boxes everywhere), so for fan the table
gives the time of one S3FD pass per frame and of one 2DFAN4 fit per face instead.

Jitter: mean frame-to-frame movement of the eye region in the aligned crops of each
single-person clip (phase correlation on the crops' pixels, see swaplib.smoothing.eye_jitter),
with extract.smooth off and on (default settings).

Retry (--retry): extract.rotate and extract.second_pass off and on (dlib-hog, smoothing on), on
every clip, the clips turned 90 degrees, and the photos: frames with a face, faces found, eye
jitter (single-person clips) and wall time per frame.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from swaplib.core.images import read_image
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.smoothing import eye_jitter
from swaplib.extract.stage import extract_faces

DATA = Path(os.environ.get("SWAPLIB_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
HARD = "fr_hamilton_stage_multi_HARD"


def decode(clip: Path, folder: Path, limit: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(clip))
    number = 0
    while not limit or number < limit:
        ok, frame = capture.read()
        if not ok:
            break
        cv2.imwrite(str(folder / f"{number:06d}.png"), frame)
        number += 1
    return folder


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the extraction workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_extract(frames: Path, out: Path, detector, threads: int, smooth: bool = True, size: int = 256,
                  face_type: str = "whole_face", photos: bool = False):
    """(table, wall seconds, CPU seconds) of one extraction."""
    started, cpu = time.perf_counter(), cpu_seconds()
    table = extract_faces(frames, out / "faces", out / "faces.parquet", detector=detector, size=size,
                          face_type=face_type, smooth=smooth and not photos, threads=threads, photos=photos,
                          fps=None if photos else 25.0)
    return table, time.perf_counter() - started, cpu_seconds() - cpu


def speed_rows(clips: dict[str, Path], backend: str, threads: int, limit: int, work: Path) -> list[dict]:
    detector = make_detector(backend)
    rows = []
    for stem, frames in clips.items():
        count = len(list(frames.iterdir()))
        if limit:
            frames = decode(DATA / "clips" / f"{stem}.mp4", work / f"{stem}_first{limit}", limit)
            count = min(count, limit)
        try:
            table, seconds, cpu = timed_extract(frames, work / f"{backend}_{stem}", detector, threads)
            kept = int(table["kept"].sum())
        except Exception as err:  # the hard clip may have no face at all for some backend
            print(f"  {backend} {stem}: {err}", file=sys.stderr)
            seconds, cpu, kept = float("nan"), float("nan"), 0
        height, width = read_image(next(frames.iterdir())).shape[:2]
        rows.append({"backend": backend, "clip": stem, "size": f"{width}x{height}", "frames": count,
                     "kept faces": kept, "seconds": seconds, "frames/s": count / seconds,
                     "CPU ms/frame": 1000 * cpu / count})
    return rows


def fan_parts_timing(clips: dict[str, Path], work: Path) -> str:
    """S3FD pass per frame and 2DFAN4 fit per face, on real weights if present, else random ones."""
    from swaplib.extract.detect.fan import FAN_WEIGHTS, S3FD_WEIGHTS, save_random_weights, weights_folder

    folder, note = weights_folder(), "real weights"
    if not ((folder / FAN_WEIGHTS).is_file() and (folder / S3FD_WEIGHTS).is_file()):
        folder, note = work / "random_weights", "random weights (real weights absent)"
        save_random_weights(folder)
    detector = make_detector("fan", weights=str(folder), download=False)
    dlib_boxes = make_detector("dlib-hog", upsample=0)
    frame = read_image(next(iter(clips.values())) / "000000.png")
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    detector.finder.find(rgb, 0, 1.1)  # warm-up
    started = time.perf_counter()
    detector.finder._model.face_detector(_s3fd_input(rgb))  # the network pass alone
    s3fd = time.perf_counter() - started
    boxes, _ = dlib_boxes.find_boxes(rgb)
    started = time.perf_counter()
    detector.landmarker.fit(rgb, boxes[:1])
    fan = time.perf_counter() - started
    return (f"fan ({note}), {frame.shape[1]}x{frame.shape[0]} frame: S3FD pass {s3fd:.2f} s/frame, "
            f"2DFAN4 fit (with mirror pass) {fan:.2f} s/face -> about {1 / (s3fd + fan):.2f} frames/s "
            "with one face per frame")


def _s3fd_input(rgb: np.ndarray):
    import torch

    return torch.from_numpy(rgb[..., ::-1].transpose(2, 0, 1).copy()).float()[None] - torch.tensor(
        [104.0, 117.0, 123.0]).view(1, 3, 1, 1)


def jitter_rows(clips: dict[str, Path], threads: int, work: Path, face_type: str) -> list[dict]:
    detector = make_detector("dlib-hog")
    rows = []
    for stem, frames in clips.items():
        if stem == HARD:
            continue
        row = {"clip": stem}
        for smooth in (False, True):
            out = work / f"jitter_{stem}_{smooth}"
            table, _, _ = timed_extract(frames, out, detector, threads, smooth=smooth, face_type=face_type)
            kept = table[table["kept"]]
            crops = [read_image(out / "faces" / name) for name in kept["file"]]
            row["smoothing on" if smooth else "smoothing off"] = eye_jitter(kept["frame"].to_numpy(), crops, face_type)
        row["change"] = f"{row['smoothing on'] / row['smoothing off'] - 1:+.0%}"
        rows.append(row)
    return rows


RETRY_SETTINGS = {"plain": {}, "rotate": {"rotate": True}, "second pass": {"second_pass": True},
                  "both": {"rotate": True, "second_pass": True}}


def turned(frames: Path, folder: Path) -> Path:
    """The frames turned 90 degrees clockwise (a phone video read without its rotation flag)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(frames.iterdir()):
        cv2.imwrite(str(folder / path.name), cv2.rotate(read_image(path), cv2.ROTATE_90_CLOCKWISE))
    return folder


def numbered(photos: Path, folder: Path) -> Path:
    """The photos as NNNNNN.jpg, the frames stage's names for a folder of photos."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, path in enumerate(sorted(photos.glob("*.jpg"))):
        (folder / f"{number:06d}.jpg").write_bytes(path.read_bytes())
    return folder


def retry_rows(clips: dict[str, Path], photos: Path, threads: int, work: Path) -> list[dict]:
    inputs = {**{stem: (frames, False) for stem, frames in clips.items()},
              "lp_d20 turned 90": (turned(clips["lp_d20_young_man_talking"], work / "turned"), False),
              "photos": (numbered(photos, work / "photos"), True)}
    rows = []
    for name, (frames, are_photos) in inputs.items():
        count = len(list(frames.iterdir()))
        for label, options in RETRY_SETTINGS.items():
            out = work / f"retry_{name}_{label}".replace(" ", "_")
            try:
                table, seconds, _ = timed_extract(frames, out, make_detector("dlib-hog", **options), threads,
                                                  photos=are_photos)
            except Exception as err:  # no face at all without the retry
                print(f"  {name} {label}: {err}", file=sys.stderr)
                rows.append({"input": name, "setting": label, "frames": count, "with a face": 0, "faces": 0,
                             "eye jitter px": float("nan"), "ms/frame": float("nan")})
                continue
            kept = table[table["kept"]]
            jitter = float("nan")
            if not are_photos and name != HARD:
                jitter = eye_jitter(kept["frame"].to_numpy(), [read_image(out / "faces" / f) for f in kept["file"]],
                                    "whole_face")
            rows.append({"input": name, "setting": label, "frames": count, "with a face": table["frame"].nunique(),
                         "faces": len(table), "eye jitter px": jitter, "ms/frame": 1000 * seconds / count})
    return rows


def print_table(rows: list[dict], floats: str = "{:.2f}") -> None:
    import pandas as pd

    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda x: floats.format(x)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--backends", default="dlib-hog,dlib-cnn,fan")
    parser.add_argument("--frames", type=int, default=0, help="frames per clip for dlib-hog (0 = all)")
    parser.add_argument("--slow-frames", type=int, default=10, help="frames per clip for dlib-cnn")
    parser.add_argument("--no-jitter", action="store_true", help="skip the jitter table")
    parser.add_argument("--jitter-face-type", default="whole_face", help="face type of the jitter table's crops")
    parser.add_argument("--retry", action="store_true", help="only the rotation retry and second pass table")
    args = parser.parse_args()
    if not (DATA / "clips").is_dir():
        sys.exit(f"test media not found at {DATA} (set SWAPLIB_TEST_DATA)")
    backends = [b for b in args.backends.split(",") if b]  # "" = the jitter table only
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; {args.threads} extraction processes; crops 256 px whole_face, "
          "embeddings every 5th frame, smoothing on\n")
    with tempfile.TemporaryDirectory(prefix="bench_extract_") as tmp:
        work = Path(tmp)
        clips = {p.stem: decode(p, work / "frames" / p.stem, args.frames)
                 for p in sorted((DATA / "clips").glob("*.mp4"))}
        if args.retry:
            print("rotation retry and second pass (dlib-hog, whole_face 256 px, smoothing on; eye jitter: px at "
                  "256 px, mean frame-to-frame movement of the eye region):")
            print_table(retry_rows(clips, DATA / "photos", args.threads, work), "{:.3f}")
            return
        rows = []
        for backend in backends:
            if backend == "fan":
                continue
            rows += speed_rows(clips, backend, args.threads, args.slow_frames if backend != "dlib-hog" else 0, work)
        if rows:
            print_table(rows)
            for backend in sorted({r["backend"] for r in rows}):
                mine = [r for r in rows if r["backend"] == backend and np.isfinite(r["seconds"])]
                frames = sum(r["frames"] for r in mine)
                wall, cpu = sum(r["seconds"] for r in mine), sum(r["CPU ms/frame"] * r["frames"] for r in mine) / 1000
                print(f"{backend}: {frames / wall:.1f} frames/s over all clips; {1000 * cpu / frames:.0f} ms CPU "
                      f"per frame, i.e. {args.threads * frames / cpu:.1f} frames/s on {args.threads} idle cores")
        if "fan" in backends:
            print(fan_parts_timing(clips, work))
        if not args.no_jitter:
            print(f"\neye-region jitter in the aligned {args.jitter_face_type} crops (px at 256 px, mean "
                  "frame-to-frame movement; dlib-hog):")
            print_table(jitter_rows(clips, args.threads, work, args.jitter_face_type), "{:.3f}")


if __name__ == "__main__":
    main()
