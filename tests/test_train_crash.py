"""SIGKILL in the middle of a save and in the middle of a step (a real process, killed for real):
the rerun finds no corrupt state, loses at most save_every iterations, and ends exactly where an
uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from swaplib.model import load_model
from swaplib.train import CHECKPOINT, PREV_CHECKPOINT, load_state
from test_train import _face, _quick, _run, _temp_files

REPO = Path(__file__).resolve().parents[1]
ITERATIONS, SAVE_EVERY = 16, 5

# The child trains like _run, with one hook that SIGKILLs the process at a chosen point.
CHILD = r"""
import io, os, signal, sys
from pathlib import Path
import torch
sys.path.insert(0, sys.argv[1])  # tests/, for the helpers
import swaplib.train.state as T
from swaplib.model import DFModel
from test_train import _quick, _run

scenario, root = sys.argv[2], Path(sys.argv[3])
faces = {n: sorted((root / n).glob("*.png")) for n in ("src", "dst")}
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
saves = [0]

if scenario == "mid-write":  # the second checkpoint is half written when the process dies
    real_save = torch.save
    def save(obj, f, *a, **k):
        if isinstance(obj, dict) and obj.get("format") == T.CHECKPOINT_FORMAT:
            saves[0] += 1
            if saves[0] == 2:
                buf = io.BytesIO(); real_save(obj, buf)
                with open(f, "wb") as out:  # f is the temporary path of the atomic write
                    out.write(buf.getvalue()[: len(buf.getvalue()) // 2]); out.flush(); os.fsync(out.fileno())
                die()
        return real_save(obj, f, *a, **k)
    T.torch.save = save
elif scenario == "before-rename":  # written and synced, not yet renamed into place
    real_replace = os.replace
    def replace(src, dst):
        if str(dst).endswith(T.CHECKPOINT) and ".tmp" in str(src):
            saves[0] += 1
            if saves[0] == 2:
                die()
        return real_replace(src, dst)
    T.os.replace = replace
elif scenario == "mid-step":  # inside the forward pass of step 13
    real, calls = DFModel.forward_pair, [0]
    def forward_pair(self, xs, xd):
        calls[0] += 1
        if calls[0] == 13:
            die()
        return real(self, xs, xd)
    DFModel.forward_pair = forward_pair

_run(faces, root / scenario, _quick(int(sys.argv[4]), save_every=int(sys.argv[5])))
print("finished without being killed")
"""


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crash")
    rng = np.random.default_rng(1)
    import cv2

    for name, skin in (("src", (120, 160, 220)), ("dst", (80, 110, 150))):
        (root / name).mkdir()
        for i in range(6):
            cv2.imwrite(str(root / name / f"{i:03d}.png"), _face(rng, skin))
    return root


@pytest.fixture(scope="module")
def straight(crops, tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    _run(_faces(crops), out, _quick(ITERATIONS, save_every=SAVE_EVERY))
    return (out / "history.csv").read_text(), load_model(out / "model.safetensors")[0].state_dict()


def _faces(root: Path) -> dict:
    return {n: sorted((root / n).glob("*.png")) for n in ("src", "dst")}


@pytest.mark.parametrize("scenario, killed_at, resumes_from", [
    ("mid-write", 10, 5),  # dies writing the save of iteration 10
    ("before-rename", 10, 5),
    ("mid-step", 13, 10),  # dies inside step 13; iteration 10 was saved
])
def test_sigkill_then_rerun_resumes_exactly(crops, straight, scenario, killed_at, resumes_from):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(REPO / "tests"), scenario, str(crops), str(ITERATIONS),
                           str(SAVE_EVERY)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    out = crops / scenario
    state = out / "state"
    assert load_state(state / CHECKPOINT)["iteration"] == resumes_from  # intact, and the last complete save
    if scenario != "mid-step":
        assert _temp_files(state)  # the killed save's temporary file is there, never under the real name
    assert not (out / "model.safetensors").exists()

    summary = _run(_faces(crops), out, _quick(ITERATIONS, save_every=SAVE_EVERY))
    assert summary["resumed_from"] == resumes_from and killed_at - resumes_from <= SAVE_EVERY
    assert not _temp_files(out)  # cleaned up by the rerun
    assert load_state(state / PREV_CHECKPOINT)["iteration"] == 15
    assert (out / "history.csv").read_text() == straight[0]  # as if never killed
    model, _ = load_model(out / "model.safetensors")
    assert all(torch.equal(v, straight[1][k]) for k, v in model.state_dict().items())
