"""Sort stage speed: faces/s of scoring, of each order, of selection and of the contact sheets.

    .venv/bin/python bench/sort.py [--faces 10000] [--threads 2] [--size 256]

The faces are made at run time in a temporary folder (never committed): real 256 px whole-face
crops of the five single-person clips, each turned into many by flips, brightness and contrast,
blur, noise and small shifts, written as PNG with a face table whose rows keep the geometry of
the crop they came from. Scoring reads every PNG (that is part of its cost).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from swaplib.extract.detect.backends import make_detector
from swaplib.extract.stage import extract_faces
from swaplib.sort.contact_sheet import write_faceset_sheets
from swaplib.sort.orders import ORDERS
from swaplib.sort.scores import score_faces
from swaplib.sort.select import select_faces
from swaplib.sort.settings import SortSettings
from swaplib.sort.stage import build_faceset
from swaplib.tables.faces import read_faces

CLIPS = ["lp_d12_man_glasses_talking", "lp_d20_young_man_talking", "lp_d3_woman_expressions",
         "lp_s18_woman_landscape_talking", "lp_d13_man_vertical_selfie"]
DATA = Path(os.environ.get("SWAPLIB_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def real_faces(work: Path, size: int, per_clip: int = 12) -> pd.DataFrame:
    """Crops of every 15th frame of each clip, and their face table rows (the file names made absolute)."""
    tables = []
    for clip in CLIPS:
        frames = work / clip / "frames"
        frames.mkdir(parents=True)
        capture = cv2.VideoCapture(str(DATA / "clips" / f"{clip}.mp4"))
        for number in range(per_clip * 15):
            ok, frame = capture.read()
            if ok and number % 15 == 0:
                cv2.imwrite(str(frames / f"{number:06d}.png"), frame)
        extract_faces(frames, work / clip / "faces", work / clip / "faces.parquet",
                      detector=make_detector("dlib", upsample=1), size=size, face_type="whole_face")
        table = read_faces(work / clip / "faces.parquet")
        tables.append(table.assign(file=[str(work / clip / "faces" / f) for f in table["file"]]))
    return pd.concat(tables, ignore_index=True)


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One plausible variant of a crop: what a longer video of the same person would hold."""
    out = image.astype(np.float32)
    out = out * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)  # contrast, brightness
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 2.5))
    out += rng.normal(0, rng.uniform(0, 6), out.shape)
    shift = np.float32([[1, 0, rng.uniform(-4, 4)], [0, 1, rng.uniform(-4, 4)]])
    out = cv2.warpAffine(out, shift, out.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.clip(out, 0, 255).astype(np.uint8)


def make_faces(work: Path, n: int, size: int) -> Path:
    """n augmented faces in work/faces and their table work/faces.parquet."""
    source = real_faces(work / "real", size)
    rng = np.random.default_rng(0)
    pick = rng.integers(0, len(source), n)
    (work / "faces").mkdir()
    crops = [cv2.imread(f) for f in source["file"]]
    rows = source.iloc[pick].reset_index(drop=True)
    rows["frame"] = np.arange(n)
    rows["index"] = 0
    rows["face_id"] = [f"{i:06d}_0" for i in range(n)]
    rows["file"] = [f"{face_id}.png" for face_id in rows["face_id"]]
    if "track_id" in rows.columns:
        rows["track_id"] = pick  # a track per real face: its variants are one person
    for face, file in zip(pick, rows["file"]):
        cv2.imwrite(str(work / "faces" / file), augment(crops[face], rng))
    rows.to_parquet(work / "faces.parquet", index=False)
    return work / "faces.parquet"


def timed(fn):
    """(result, wall seconds, CPU seconds of this process: all its threads)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sort-bench-") as tmp:
        work = Path(tmp)
        _, made, _ = timed(lambda: make_faces(work, args.faces, args.size))
        faces = read_faces(work / "faces.parquet")
        rows = []

        def add(step: str, seconds: float, cpu: float, n: int = args.faces) -> None:
            rows.append({"step": step, "faces": n, "seconds": seconds, "faces/s": n / max(seconds, 1e-9),
                         "cpu s": cpu, "faces/cpu s": n / max(cpu, 1e-9)})

        for threads in sorted({1, args.threads}):
            (scores, features), *took = timed(lambda n=threads: score_faces(faces, work / "faces", threads=n))
            add(f"score (read PNG + all scores), {threads} thread{'s' * (threads > 1)}", *took)
        for name, order in ORDERS.items():
            # identity needs embeddings for every face (sort/identity.py); absdiff compares every
            # pair of crops, growing with the square of the count (sort/absdiff.py says its cost)
            if name != "identity" and not order.needs_crops:
                rules = SortSettings(min_face_px=0, order=name)
                _, *took = timed(lambda rules=rules: select_faces(faces, scores, features, rules))
                add(f"select + order {name}", *took)
        for name in ("best", "final"):
            capped = SortSettings(min_face_px=0, max_faces=2000, order=name)
            _, *took = timed(lambda capped=capped: select_faces(faces, scores, features, capped))
            add(f"select + {name}-2000 cap", *took)
        _, *took = timed(lambda: build_faceset(work / "faces.parquet", work / "faces", work / "faceset.parquet",
                                               threads=args.threads, min_face_px=0))
        add(f"build_faceset (defaults, {args.threads} threads, parquet)", *took)
        pages, *took = timed(lambda: write_faceset_sheets(work / "faceset.parquet", work / "faces", work / "sheets",
                                                          faces_per_page=256, threads=args.threads))
        add(f"write_faceset_sheets (256 per page, {args.threads} threads)", *took)

    load = os.getloadavg()[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load:.1f} at the end; "
          f"{args.faces} faces of {args.size} px (made in {made:.0f} s); {pages} contact sheet pages\n"
          "faces/cpu s is the speed on one idle core (CPU time of all threads): on a shared machine the\n"
          "wall-clock rate depends on the other work\n")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda x: f"{x:.1f}"))


if __name__ == "__main__":
    main()
