"""Merge speed: frames/s at the clip's size and at 1280x720, for a Quick96 and a SAEHD-128 model.

    .venv/bin/python bench/merge.py [--frames 175] [--threads 2] [--device auto]

Untrained weights (speed does not depend on training). The destination is the first frames of
lp_d20_young_man_talking (480x480, one face per frame); for 1280x720 the same frames are
upscaled to 720x720 and padded to 1280 wide, and the face table is transformed with them (no
second detection). Each case runs merge_video twice: with the model, and with the model replaced
by a stub that returns its input (what the CPU side of the merge sustains when a GPU draws the
faces). DeepFaceLab's merger on a 2-core machine, 2 workers, 1280x720: Quick96 13.5 frames/s,
SAEHD 128 df-ud 10.6 (its faces come from a GPU).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from swaplib.extract.detect.backends import make_detector
from swaplib.extract.stage import extract_faces
from swaplib.merge import stage
from swaplib.model import build_model
from swaplib.model import save_model as write_model
from swaplib.tables.faces import read_faces
from swaplib.train.settings import model_config

CLIP = "lp_d20_young_man_talking"
DATA = Path(os.environ.get("SWAPLIB_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
HD = (1280, 720)


def read_frames(clip: Path, n: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while len(frames) < n:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    return frames


def write_frames(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:06d}.png"), frame, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return folder


def to_hd(frame: np.ndarray) -> tuple[np.ndarray, float, int]:
    """The frame scaled to 720 high and padded to 1280 wide (centred); scale and x offset."""
    scale = HD[1] / frame.shape[0]
    big = cv2.resize(frame, (round(frame.shape[1] * scale), HD[1]), interpolation=cv2.INTER_CUBIC)
    left = (HD[0] - big.shape[1]) // 2
    return cv2.copyMakeBorder(big, 0, 0, left, HD[0] - big.shape[1] - left, cv2.BORDER_REPLICATE), scale, left


def hd_table(table: pd.DataFrame, scale: float, left: int) -> pd.DataFrame:
    """The face table of the HD frames: landmarks and frame -> crop matrices moved with the frames."""
    out = table.copy()
    to_old = np.array([[1 / scale, 0, -left / scale], [0, 1 / scale, 0], [0, 0, 1]])
    out["landmarks"] = [(np.asarray(lm).reshape(-1, 2) * scale + [left, 0]).reshape(-1).tolist()
                        for lm in table["landmarks"]]
    out["matrix"] = [(np.asarray(m).reshape(2, 3) @ to_old).reshape(-1).tolist() for m in table["matrix"]]
    out["frame_width"], out["frame_height"] = HD
    return out


MODELS = {  # name: (preset, overrides)
    "Quick96": ("quick96", {}),
    "SAEHD-128 df-ud": ("saehd", {"resolution": 128, "archi": "df-ud"}),
    "SAEHD-128 liae-ud": ("saehd", {"resolution": 128, "archi": "liae-ud"}),
}
DFL = {"Quick96": 13.5, "SAEHD-128 df-ud": 10.6, "SAEHD-128 liae-ud": 6.6}  # frames/s at 1280x720


def save_model(path: Path, preset: str, overrides: dict) -> Path:
    torch.manual_seed(0)
    write_model(path, build_model(model_config(preset, **overrides)), iterations=0, masks_trained=True,
                face_type="whole_face")
    return path


def stub_predict(model, faces, *, dst_masks, device, batch_size=32):
    """Instead of the model: each face's prediction is its own crop, its masks all ones."""
    for face in faces:
        face.predicted, face.prd_mask = face.crop.copy(), np.ones(face.crop.shape[:2], np.float32)
        face.dst_mask = face.prd_mask if dst_masks else None


def timed(frames_dir: Path, table: Path, model: Path, out: Path, threads: int, device: str) -> tuple[float, float]:
    """Frames/s of the frame loop (read, model, merge, write; loading the model left out), and its
    CPU ms per frame (all threads: what the frames cost whatever else the machine is doing)."""
    summary = stage.merge_video(frames_dir, table, model, out, threads=threads, device=device)
    assert summary["swapped"] == summary["with_face"] > 0, summary
    return summary["frames_per_second"], 1000 * summary["seconds"]["merging_cpu"] / summary["frames"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=175)  # the whole clip: oneDNN warm-up included as in a job
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    torch.set_flush_denormal(True)  # untrained weights produce denormals that are slow on CPU
    load_before = os.getloadavg()[0]  # other work on the machine slows every figure

    clip = DATA / "clips" / f"{CLIP}.mp4"
    if not clip.is_file():
        sys.exit(f"bench/merge.py: test clip {clip} not found (set SWAPLIB_TEST_DATA)")
    with tempfile.TemporaryDirectory(prefix="swaplib-bench-merge-") as tmp:
        root = Path(tmp)
        frames = read_frames(clip, args.frames)
        clip_dir = write_frames(root / "clip", frames)
        extract_faces(clip_dir, root / "faces", root / "faces.parquet", detector=make_detector("dlib-hog", upsample=0),
                      size=256, face_type="whole_face")
        table = read_faces(root / "faces.parquet")
        hd_frames = [to_hd(frame) for frame in frames]
        hd_dir = write_frames(root / "hd", [f for f, _, _ in hd_frames])
        hd_table(table, *hd_frames[0][1:]).to_parquet(root / "hd.parquet", index=False)
        cases = {f"{frames[0].shape[1]}x{frames[0].shape[0]}": (clip_dir, root / "faces.parquet"),
                 f"{HD[0]}x{HD[1]}": (hd_dir, root / "hd.parquet")}

        rows = []
        for name, (preset, overrides) in MODELS.items():
            model = save_model(root / "model.safetensors", preset, overrides)
            for size, (frames_dir, faces) in cases.items():
                full = timed(frames_dir, faces, model, root / "out", args.threads, args.device)
                real_predict, stage.predict_faces = stage.predict_faces, stub_predict
                try:
                    cpu_side = timed(frames_dir, faces, model, root / "out", args.threads, args.device)
                finally:
                    stage.predict_faces = real_predict
                rows.append((name, size, full, cpu_side))

    print(f"\nmerge, {args.frames} frames, overlay + rct + dst mask, threads={args.threads}, "
          f"device={stage.resolve_device(args.device)}, {os.cpu_count()} CPU cores "
          f"({platform.processor() or platform.machine()}), load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after")
    print(f"{'':<29}{'with the model':>20}{'without the model':>22}")
    print(f"{'model':<19}{'frames':>10}{'frames/s':>10}{'CPU ms':>10}{'frames/s':>11}{'CPU ms':>11}{'DFL':>7}")
    for name, size, (fps, cpu), (stub_fps, stub_cpu) in rows:
        dfl = f"{DFL[name]:>7}" if size == f"{HD[0]}x{HD[1]}" else ""
        print(f"{name:<19}{size:>10}{fps:>10.2f}{cpu:>10.1f}{stub_fps:>11.2f}{stub_cpu:>11.1f}{dfl}")
    print("frames/s of the frame loop; CPU ms: CPU time per frame, all threads. Without the model: a stub")
    print("draws the faces (the CPU side, what is left when a GPU draws them). DFL: frames/s of its merger")
    print("on a 2-core machine with 2 workers, faces from a GPU.")


if __name__ == "__main__":
    main()
