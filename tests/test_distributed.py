"""Data-parallel training with real torch.distributed ranks: two gloo ranks under torchrun, on the CPU.

Two ranks on halves of each batch take the step one process takes on the whole batch (the gradient
after the first step agrees to float rounding, the losses of every step too); a NaN on one rank
rolls both back; a rank killed mid-step stops the run, which resumes from the last checkpoint on one
rank; a run on one rank resumes on two. The tiny model at 32 px, one thread per rank."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from swaplib.core.errors import SwaplibError
from swaplib.model import load_model
from swaplib.train import BACKUPS, CHECKPOINT, load_state
from swaplib.train.data import Augmentation, Batches, FaceData
from swaplib.train.distributed import Ranks, split
from swaplib.train.launch import _run as run_ranks
from swaplib.train.launch import check_devices, torchrun
from test_train import _face, _quick, _run, _temp_files
from test_train_crash import _faces, crops  # noqa: F401 (crops: a fixture)

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("torch_one_thread")

# One rank of a run: train() as test_train's _run, under torchrun; a scenario may break one rank.
CHILD = r"""
import json, os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])  # tests/, for the helpers
import swaplib.train.loop as loop
from swaplib.model import DFModel
from swaplib.train import distributed
from test_distributed import _faces, _masks
from test_train import _quick, _run

scenario, root, out, settings = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), json.loads(sys.argv[5])
rank = int(os.environ["RANK"])
calls = [0]
if scenario.startswith("nan-on-rank-1-at-step-") and rank == 1:
    at, real = int(scenario.rsplit("-", 1)[1]), loop.pair_losses
    def pair_losses(*args, **kwargs):
        calls[0] += 1
        losses = real(*args, **kwargs)
        return [losses[0] * float("nan"), losses[1]] if calls[0] == at else losses
    loop.pair_losses = pair_losses
elif scenario.startswith(("kill-rank-1-at-step-", "sigterm-rank-1-at-step-")) and rank == 1:
    at, real = int(scenario.rsplit("-", 1)[1]), DFModel.forward_pair
    sig = signal.SIGKILL if scenario.startswith("kill") else signal.SIGTERM
    def forward_pair(self, xs, xd):
        calls[0] += 1
        if calls[0] == at:
            os.kill(os.getpid(), sig)
        return real(self, xs, xd)
    DFModel.forward_pair = forward_pair
elif scenario.startswith("stop-file-at-step-") and rank == 0:  # as `swaplib stop` asks
    at, real = int(scenario.rsplit("-", 1)[1]), DFModel.forward_pair
    def forward_pair(self, xs, xd):
        calls[0] += 1
        if calls[0] == at:
            (out / "state" / "STOP").write_text("")
        return real(self, xs, xd)
    DFModel.forward_pair = forward_pair
extra = _masks() if settings.pop("masks", False) else {}
with distributed.joined() as ranks:
    summary = _run(_faces(root), out, _quick(**settings), **extra)
if ranks.main:
    (out / "summary.json").write_text(json.dumps(summary))
"""


def _masks() -> dict:
    """A face mask for each of the six crops of test_train_crash's `crops` (48 px, as the crops)."""
    import cv2

    m = np.zeros((6, 48, 48), np.float32)
    for one in m:
        cv2.ellipse(one, (24, 24), (16, 20), 0, 0, 360, 1.0, -1)
    return dict(src_masks=m, dst_masks=m)


def _ranks(root: Path, out: Path, scenario: str = "", ranks: int = 2, **settings) -> subprocess.CompletedProcess:
    """torchrun: `ranks` gloo ranks of one thread each train into `out` (settings: _quick's)."""
    child = out.parent / "child.py"
    child.write_text(CHILD)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
        OMP_NUM_THREADS="1",
    )
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(ranks),
        str(child),
        str(REPO / "tests"),
        scenario or "-",
        str(root),
        str(out),
        json.dumps(settings),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float) -> bool:
    """Equal but for the order of float additions: within rtol of the larger magnitude in the tensor."""
    return bool((a.double() - b.double()).abs().max() <= rtol * max(float(a.abs().max()), 1e-12))


def _optimizer_states(ckpt: dict) -> list[torch.Tensor]:
    """Every optimizer state tensor of a checkpoint (the model's and the discriminators'), in one order."""
    states = [ckpt["optimizer"]] + [ckpt["adversarial"][name]["optimizer"] for name in sorted(ckpt["adversarial"])]
    return [
        t
        for opt in states
        for i in sorted(opt["state"])
        for _, t in sorted(opt["state"][i].items())
        if torch.is_tensor(t) and t.ndim > 0
    ]


def test_a_rank_s_share_of_a_batch_is_exactly_its_part_of_the_whole_batch():
    """Every sample's randomness is drawn in sample order before any is made: the shares of two ranks
    are, bit for bit, the two halves of the batch one process makes (colour transfer and shift included)."""
    import cv2

    rng = np.random.default_rng(3)
    faces = np.stack([cv2.resize(_face(rng, (120, 150, 200)), (32, 32)) for _ in range(6)])
    masks = np.zeros((6, 32, 32), np.uint8)
    for m in masks:
        cv2.ellipse(m, (16, 16), (10, 13), 0, 0, 360, 255, -1)
    src, dst = FaceData("src", faces, masks, masks), FaceData("dst", faces[::-1].copy(), masks, masks)
    aug = Augmentation(ct_mode="idt", random_hsv_power=0.1, blur_out_mask=True)
    whole = Batches(src, dst, 4, 7, aug, with_masks=True).batch(5)
    halves = [Batches(src, dst, 4, 7, aug, with_masks=True, share=Ranks(r, 2).share(4)).batch(5) for r in (0, 1)]
    assert set(whole) == set(halves[0]) == set(halves[1]) and len(whole) == 10  # in, target, three masks a side
    for key, value in whole.items():
        assert np.array_equal(np.concatenate([h[key] for h in halves]), value), key


@pytest.mark.parametrize("recipe", ["plain", "gan-style-ema"])
def test_two_gloo_ranks_take_the_step_of_one_process_with_the_whole_batch(crops, tmp_path, recipe):  # noqa: F811
    settings = dict(iterations=3, batch_size=4, save_every=1, backup_every=1, backup_keep=3)
    if recipe != "plain":
        settings.update(gan_power=0.1, true_face_power=0.01, face_style_power=0.1, bg_style_power=1.0, ema=0.9)
    one = tmp_path / "one"
    _run(_faces(crops), one, _quick(**settings), **(_masks() if recipe != "plain" else {}))
    two = tmp_path / "two"
    proc = _ranks(crops, two, masks=recipe != "plain", **settings)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((two / "summary.json").read_text())
    assert summary["ranks"] == 2 and summary["iterations"] == 3 and summary["rollbacks"] == 0

    first = [load_state(out / "state" / BACKUPS / "iter-00000001.pt") for out in (one, two)]
    states = [_optimizer_states(ckpt) for ckpt in first]  # Adam's moments after step 1: the gradient
    assert len(states[0]) == len(states[1]) > 0
    # float32 rounding only (the sums of two half batches are added in another order; in float64 the
    # gradients agree to 1e-15): up to ~5e-4 where the style loss's standard deviations of nearly flat
    # masked images magnify it, ~1e-5 elsewhere
    assert all(_close(a, b, rtol=1e-4 if recipe == "plain" else 2e-3) for a, b in zip(*states))
    if recipe != "plain":
        assert set(first[1]["adversarial"]) == {"gan", "true_face"} and first[1]["ema"] is not None
    histories = [load_state(out / "state" / CHECKPOINT)["history"] for out in (one, two)]
    for side in ("src", "dst"):  # each step's loss of the whole batch, the ranks' halves averaged
        assert np.allclose(histories[0][side].numpy(), histories[1][side].numpy(), rtol=1e-4)
    assert load_model(two / "model.safetensors")[1]["iterations"] == 3


def test_a_nan_on_one_rank_rolls_every_rank_back_and_a_one_rank_run_resumes_on_two(crops, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    _run(_faces(crops), out, _quick(2, batch_size=4, save_every=2))  # one rank, to iteration 2
    proc = _ranks(crops, out, "nan-on-rank-1-at-step-2", iterations=6, batch_size=4, save_every=2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from"] == 2 and summary["iterations"] == 6
    assert summary["rollbacks"] == 1 and summary["lr"] == pytest.approx(5e-4 * 0.5)  # both ranks rolled back
    assert "rolled back to iteration 2" in proc.stderr  # step 4 was rank 1's second: NaN there, back to the save


def test_a_killed_rank_stops_the_run_which_resumes_from_the_last_checkpoint_on_one_rank(crops, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    proc = _ranks(crops, out, "kill-rank-1-at-step-8", iterations=12, batch_size=4, save_every=3)
    assert proc.returncode != 0
    assert signal.Signals.SIGKILL.name in proc.stderr or "exitcode: -9" in proc.stderr, proc.stderr
    assert "rank 0 of 2: another rank of this training stopped" in proc.stderr  # rank 0 stops, saving nothing
    state = out / "state"
    assert load_state(state / CHECKPOINT)["iteration"] == 6  # the last save before the kill in step 8
    assert not (out / "model.safetensors").exists()

    summary = _run(_faces(crops), out, _quick(12, batch_size=4, save_every=3))  # the same run, on one rank
    assert summary["resumed_from"] == 6 and summary["iterations"] == 12 and summary["ranks"] == 1
    assert not _temp_files(out)
    assert load_model(out / "model.safetensors")[1]["iterations"] == 12


def test_a_sigterm_to_one_rank_stops_every_rank_after_that_step_and_rank_0_saves_it(crops, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    proc = _ranks(crops, out, "sigterm-rank-1-at-step-5", iterations=12, batch_size=4, save_every=3)
    assert proc.returncode != 0  # each rank raises TrainingInterrupted after the save, as one process does
    assert "training stopped by a signal to another rank at iteration 5" in proc.stderr  # rank 0's
    assert "training stopped by SIGTERM at iteration 5" in proc.stderr  # rank 1's
    assert load_state(out / "state" / CHECKPOINT)["iteration"] == 5  # the step in flight finished and saved
    summary = _run(_faces(crops), out, _quick(12, batch_size=4, save_every=3))
    assert summary["resumed_from"] == 5 and summary["iterations"] == 12


def test_a_stop_request_ends_every_rank_at_the_same_step_and_the_model_is_written(crops, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    proc = _ranks(crops, out, "stop-file-at-step-4", iterations=12, batch_size=4, save_every=3)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 4 and summary["stopped_by"] == "stop request"
    assert load_model(out / "model.safetensors")[1]["iterations"] == 4
    assert not (out / "state" / "STOP").exists()


def test_devices_this_machine_lacks_and_a_batch_that_does_not_split_are_refused_naming_the_setting():
    from swaplib.train import train_settings

    cores = len(os.sched_getaffinity(0))
    with pytest.raises(SwaplibError, match=rf"train.devices {cores + 1}: this machine has {cores} CPU core"):
        check_devices(train_settings("tiny", device="cpu", devices=cores + 1, batch_size=8 * (cores + 1)))
    with pytest.raises(SwaplibError, match="train.batch_size 5 does not split evenly over 2 ranks"):
        split(5, 2)
    with pytest.raises(SwaplibError, match="train.batch_size 6 does not split evenly over 4 ranks"):
        check_devices(train_settings("tiny", device="cpu", devices=2, nodes=2, batch_size=6))


def test_several_machines_without_a_slurm_allocation_get_the_command_to_start_on_each(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_NUM_NODES", raising=False)
    with pytest.raises(SwaplibError, match=r"train.nodes 2: .*torchrun --nnodes 2 --nproc-per-node 4 .*state/job.json"):
        torchrun(4, 2, Path("state/job.json"))
    assert torchrun(2, 1, Path("job.json"))[-6:] == [
        "--nproc-per-node",
        "2",
        "--standalone",
        "-m",
        "swaplib.train.launch",
        "job.json",
    ]


def test_a_sigterm_to_the_job_reaches_the_ranks_launcher_once_and_is_reported():
    """The job passes SIGINT/SIGTERM on to torchrun (in a session of its own, so a terminal's Ctrl-C does
    not reach it twice) and says which it passed; here the child, standing in for torchrun, sends the job
    its SIGTERM once it runs."""
    child = "import os, signal, time; time.sleep(0.5); os.kill(os.getppid(), signal.SIGTERM); time.sleep(60)"
    code, passed = run_ranks([sys.executable, "-c", child])
    assert (code, passed) == (-signal.SIGTERM, signal.SIGTERM)
