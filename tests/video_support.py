"""The clips the video tests use, and the helpers they share."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import cv2
import numpy as np

from swaplib.video.ffmpeg import ffmpeg_exe

# name -> (width, height, frames, duration s, audio), as in the test data README.
CLIPS = {
    "lp_d12_man_glasses_talking": (512, 512, 183, 7.32, True),
    "lp_d20_young_man_talking": (480, 480, 175, 7.0, True),
    "lp_d3_woman_expressions": (512, 512, 200, 8.0, False),
    "lp_s18_woman_landscape_talking": (512, 288, 200, 8.0, True),
    "lp_d13_man_vertical_selfie": (288, 512, 200, 8.0, False),
    "fr_hamilton_stage_multi_HARD": (512, 288, 175, 7.0, True),
}
WITH_AUDIO, NO_AUDIO = "lp_d12_man_glasses_talking", "lp_d3_woman_expressions"
N = 12  # frames per test extraction: enough to check counts, small enough to stay fast



def ffmpeg(*args) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def decode_gray(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="gray") for f in container.decode(video=0)]).astype(np.float32)


def leftovers(folder: Path) -> list[str]:
    """Temporary names the atomic writers use (dot-prefixed)."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def make_bad_input(kind: str, folder: Path, real_clip: Path) -> Path:
    path = folder / f"bad_{kind}.mp4"
    if kind == "text":
        path.write_text("this is not a video\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(real_clip.read_bytes()[:2048])
    elif kind == "jpeg":
        cv2.imwrite(str(folder / "still.jpg"), np.full((32, 48, 3), 128, np.uint8))
        (folder / "still.jpg").rename(path)
    elif kind == "audio_only":
        path = folder / "audio_only.m4a"
        ffmpeg("-i", real_clip, "-vn", "-c:a", "copy", "-t", "0.5", path)
    elif kind == "no_frames":  # a well-formed mp4 holding no frame at all
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=25", "-frames:v", "0", "-c:v", "libx264", path)
    return path  # "missing": never created


def make_vfr(path: Path, source: Path, fast: int = 25, slow: int = 10, frames: int = 35) -> Path:
    """`fast` frames 1/25 s apart, then the rest 1/10 s apart: a variable frame rate."""
    spacing = f"if(lt(N,{fast}),N/25,{fast}/25+(N-{fast})/{slow})/TB"
    ffmpeg("-i", source, "-frames:v", str(frames), "-vf", f"setpts='{spacing}'", "-fps_mode", "vfr",
           "-c:v", "libx264", "-preset", "ultrafast", path)
    return path


def read_frames(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted(folder.iterdir())]
