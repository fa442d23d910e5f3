"""The training loop: learning, outputs, resume (bitwise on CPU), architecture change, interrupts,
NaN rollback, corrupt state files. Synthetic faces (coloured ellipses with eyes and a mouth), the
tiny model at 32 px, one compute thread (fast on a shared CPU)."""

from __future__ import annotations

import logging
import os
import re
import signal
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from swaplib.core.errors import SwaplibError
from swaplib.core.grid_labels import row_labels
from swaplib.model import DFModel, load_model, swap_faces
from swaplib.train import (
    BACKUPS,
    BEST,
    CHECKPOINT,
    PREV_CHECKPOINT,
    TrainingInterrupted,
    TrainSettings,
    load_faces,
    model_config,
    train,
    train_settings,
)
from swaplib.train.outputs import PREVIEW_ROWS, estimate

R = 32
CFG = model_config("tiny", resolution=R)


def _face(rng: np.random.Generator, skin, size: int = 48) -> np.ndarray:
    """A face-like picture: background, skin ellipse, two eyes, a mouth, jittered a little."""
    image = np.full((size, size, 3), rng.integers(20, 70), np.uint8)
    c = size // 2 + rng.integers(-2, 3, 2)
    colour = tuple(int(v) for v in np.clip(np.asarray(skin) + rng.integers(-25, 25, 3), 0, 255))
    cv2.ellipse(image, (int(c[0]), int(c[1])), (size // 3, int(size * 0.42)), float(rng.uniform(-8, 8)), 0, 360,
                colour, -1)
    for dx in (-size // 7, size // 7):
        cv2.circle(image, (int(c[0]) + dx, int(c[1]) - size // 10), size // 16, (20, 30, 40), -1)
    cv2.ellipse(image, (int(c[0]), int(c[1]) + size // 5), (size // 8, size // 20), 0, 0, 360, (40, 40, 170), -1)
    return image


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> dict[str, list[Path]]:
    """Six src and six dst face crops (48 px, so loading also resizes to 32)."""
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(1)
    sets = {}
    for name, skin in (("src", (120, 160, 220)), ("dst", (80, 110, 150))):
        (root / name).mkdir()
        sets[name] = []
        for i in range(6):
            path = root / name / f"{i:03d}.png"
            cv2.imwrite(str(path), _face(rng, skin))
            sets[name].append(path)
    return sets


def _run(faces, out: Path, settings: TrainSettings, cfg=CFG, state: Path | None = None, **kw) -> dict:
    return train(faces["src"], faces["dst"], cfg, settings, state_dir=state or out / "state",
                 model_path=out / "model.safetensors", preview_path=out / "preview.jpg",
                 history_path=out / "history.csv", plot_path=out / "loss.png", **kw)


def _quick(iterations: int, **kw) -> TrainSettings:
    return train_settings("tiny", iterations=iterations, **{"batch_size": 4, "lr": 5e-4, "save_every": 10, "threads": 1,
                                                            "workers": 2, **kw})


def _temp_files(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if ".tmp" in p.name]


def _checkpoint(state: Path, name: str = CHECKPOINT) -> dict:
    return torch.load(state / name, weights_only=True)


@pytest.fixture(scope="module")
def straight30(faces, tmp_path_factory):
    """A straight 30-iteration run to compare resumed and interrupted runs with."""
    out = tmp_path_factory.mktemp("straight30")
    _run(faces, out, _quick(30))
    model, _ = load_model(out / "model.safetensors")
    return model.state_dict(), (out / "history.csv").read_text()


def _assert_same_model(model_path: Path, reference: dict):
    model, _ = load_model(model_path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, reference[k]), k


def test_learns_and_writes_outputs(faces, tmp_path):
    out = tmp_path / "out"
    summary = _run(faces, out, _quick(60, batch_size=6, lr=1e-3, save_every=25))
    assert summary["iterations"] == 60 and summary["steps"] == 60 and summary["resumed_from"] is None
    assert summary["ms_per_it"] > 0 and summary["samples_per_s"] > 0 and summary["rollbacks"] == 0

    history = np.loadtxt(out / "history.csv", delimiter=",", skiprows=1)
    assert history.shape == (60, 3) and list(history[:, 0]) == list(range(1, 61))
    for col in (1, 2):  # src, dst
        first, last = history[:5, col].mean(), history[-10:, col].mean()
        assert last < first * 0.75, (first, last)

    preview = cv2.imread(str(out / "preview.jpg"))
    labels = row_labels(PREVIEW_ROWS, R)  # a column naming the rows: src, rec, mask, dst, rec, mask, swap, mask
    assert preview.shape == (8 * R, labels.shape[1] + 6 * R, 3) and len(PREVIEW_ROWS) == 8
    assert np.abs(preview[:, : labels.shape[1]].astype(int) - labels).mean() < 8  # the labels, after JPEG
    assert cv2.imread(str(out / "loss.png")) is not None
    assert not _temp_files(out)
    assert sorted(p.name for p in (out / "state").iterdir()) == sorted(
        [BEST, PREV_CHECKPOINT, CHECKPOINT, "loss.csv", "loss.png", "preview-latest.jpg"])
    assert _checkpoint(out / "state")["iteration"] == 60

    model, meta = load_model(out / "model.safetensors")
    assert meta["iterations"] == 60 and meta["model_config"] == CFG.to_dict() and meta["settings"]["lr"] == 1e-3
    assert set(meta["losses"]) == {"src", "dst"} and not meta["masks_trained"]
    ids = ["000", "001", "002", "003", "004", "005"]
    assert meta["faces"] == {"src": ids, "dst": ids}
    swapped, masks = swap_faces(model, load_faces(faces["dst"], R), "cpu")
    assert swapped.shape == (6, R, R, 3) and masks.shape == (6, R, R)


def test_it_says_how_long_it_will_take_after_the_first_steps(faces, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="swaplib.train")
    _run(faces, tmp_path / "out", _quick(24, save_every=0))
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("estimate: ")]
    assert len(said) == 1 and re.fullmatch(r"estimate: [\d.]+ samples/s here \(cpu, fp32, 1 thread\): iteration 24 "
                                           r"in about \S+", said[0]), said


def test_the_estimate_says_when_max_minutes_stops_the_run_first():
    class Measured:  # 100 steps done at 2 steps a second
        done = 100

        def rate(self):
            return 2.0

    s = _quick(10000, max_minutes=10)
    said = estimate(Measured(), s, torch.device("cpu"), None, time.perf_counter() - 49.9, 2)  # 550 s of 600 left
    assert said.startswith("estimate: 16.0 samples/s here (cpu, fp32, 2 threads): ")
    assert said.endswith("iteration 10000 in about 1h22m, but max_minutes 10 stops it at about iteration 1200 (raise "
                         "it, or set it to 0, to train to the end)")


def test_deterministic(faces, tmp_path):
    a = _run(faces, tmp_path / "a", _quick(6, save_every=0))
    b = _run(faces, tmp_path / "b", _quick(6, save_every=0, workers=1))  # however many threads make batches
    assert a["losses"] == b["losses"]
    assert (tmp_path / "a" / "history.csv").read_text() == (tmp_path / "b" / "history.csv").read_text()
    c = _run(faces, tmp_path / "c", _quick(6, save_every=0, seed=1))
    assert c["losses"] != a["losses"]


def test_resume_matches_straight_run(faces, tmp_path, straight30, caplog):
    caplog.set_level(logging.INFO, logger="swaplib.train")
    out = tmp_path / "out"
    assert _run(faces, out, _quick(20))["iterations"] == 20
    summary = _run(faces, out, _quick(30))
    assert summary["resumed_from"] == 20 and summary["steps"] == 10
    assert "resuming from iteration 20 of 30" in caplog.text
    # Bitwise the same as one uninterrupted run: model, optimizer and RNG states were all saved.
    assert (out / "history.csv").read_text() == straight30[1]
    assert len((out / "history.csv").read_text().splitlines()) == 31
    _assert_same_model(out / "model.safetensors", straight30[0])
    assert _checkpoint(out / "state")["iteration"] == 30
    assert _checkpoint(out / "state", PREV_CHECKPOINT)["iteration"] == 20

    # Nothing left to do (a finished run whose outputs are gone, or moved to a new name): not one
    # more step, the outputs written again from the checkpoint, and the log says so.
    caplog.clear()
    moved = out / "renamed"
    again = train(faces["src"], faces["dst"], CFG, _quick(30), state_dir=out / "state",
                  model_path=moved / "model.safetensors", preview_path=moved / "preview.jpg",
                  history_path=moved / "history.csv", plot_path=moved / "loss.png")
    assert again["steps"] == 0 and again["resumed_from"] == 30 and again["iterations"] == 30
    assert "checkpoint already at iteration 30 >= 30: no training steps to do; writing the outputs" in caplog.text
    _assert_same_model(moved / "model.safetensors", straight30[0])
    assert (moved / "history.csv").read_text() == straight30[1]
    assert _checkpoint(out / "state")["iteration"] == 30
    assert _checkpoint(out / "state", PREV_CHECKPOINT)["iteration"] == 20


def test_architecture_change_starts_fresh(faces, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="swaplib.train")
    out = tmp_path / "out"
    _run(faces, out, _quick(4))
    old = _checkpoint(out / "state")
    summary = _run(faces, out, _quick(6), cfg=replace(CFG, archi="liae-u"))
    assert summary["resumed_from"] is None and summary["steps"] == 6
    assert "architecture changed" in caplog.text and "archi: 'df' -> 'liae-u'" in caplog.text
    aside = list((out / "state").glob("checkpoint.incompatible-*.pt"))
    assert len(aside) == 1
    kept = torch.load(aside[0], weights_only=True)
    assert kept["iteration"] == 4 and kept["model_config"] == old["model_config"]
    assert _checkpoint(out / "state")["model_config"]["archi"] == "liae-u"
    assert load_model(out / "model.safetensors")[1]["model_config"]["archi"] == "liae-u"


def _interrupt_step(monkeypatch, at_call: int, action):
    """Make the model's training pass run `action` on its `at_call`-th call (one call per step)."""
    original, calls = DFModel.forward_pair, [0]

    def forward_pair(self, xs, xd):
        calls[0] += 1
        if calls[0] == at_call:
            result = action()
            if result is not None:
                return result
        return original(self, xs, xd)

    monkeypatch.setattr(DFModel, "forward_pair", forward_pair)
    return calls


def test_keyboard_interrupt_saves_and_resumes(faces, tmp_path, straight30, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="swaplib.train")
    out = tmp_path / "out"

    def ctrl_c():
        raise KeyboardInterrupt

    _interrupt_step(monkeypatch, at_call=13, action=ctrl_c)  # inside step 13, after 12 are done
    with pytest.raises(KeyboardInterrupt):
        _run(faces, out, _quick(30))
    monkeypatch.undo()
    assert _checkpoint(out / "state")["iteration"] == 12
    assert not (out / "model.safetensors").exists() and not (out / "history.csv").exists()
    assert not _temp_files(out)
    assert "interrupted at iteration 12" in caplog.text

    summary = _run(faces, out, _quick(30))
    assert summary["resumed_from"] == 12
    assert "resuming from iteration 12 of 30" in caplog.text
    assert (out / "history.csv").read_text() == straight30[1]
    _assert_same_model(out / "model.safetensors", straight30[0])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_finishes_step_saves_and_raises(faces, tmp_path, monkeypatch, sig):
    out = tmp_path / "out"
    before = signal.getsignal(sig)
    _interrupt_step(monkeypatch, at_call=5, action=lambda: os.kill(os.getpid(), sig))
    with pytest.raises(TrainingInterrupted, match=f"{sig.name} at iteration 5"):
        _run(faces, out, _quick(30))
    assert signal.getsignal(sig) is before  # handler restored
    assert _checkpoint(out / "state")["iteration"] == 5  # the step in flight was finished, then saved
    assert not (out / "model.safetensors").exists()


def test_nan_loss_rolls_back_lowers_lr_and_goes_on(faces, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="swaplib.train")
    out = tmp_path / "out"

    def nan_outputs():
        nan = torch.full((4, 3, R, R), float("nan"), requires_grad=True)
        return nan, nan[:, :1], nan, nan[:, :1]

    calls = _interrupt_step(monkeypatch, at_call=15, action=nan_outputs)  # step 15; the last save was at 10
    summary = _run(faces, out, _quick(20, lr=1e-3))
    assert ("loss became nan/nan at iteration 15: rolled back to iteration 10, learning rate lowered to 0.0005"
            in caplog.text)
    assert summary["iterations"] == 20 and summary["rollbacks"] == 1 and summary["lr"] == 5e-4
    assert calls[0] == 20 + 5  # steps 11..14 ran twice
    history = np.loadtxt(out / "history.csv", delimiter=",", skiprows=1)
    assert list(history[:, 0]) == list(range(1, 21)) and np.isfinite(history).all()
    model, meta = load_model(out / "model.safetensors")
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())
    assert _checkpoint(out / "state")["lr_scale"] == 0.5  # a resume keeps the lowered rate

    # Before any save: back to the initial weights. And a loss that stays NaN gives up, clearly.
    monkeypatch.undo()
    _interrupt_step(monkeypatch, at_call=3, action=nan_outputs)
    assert _run(faces, tmp_path / "early", _quick(6, save_every=0))["rollbacks"] == 1
    monkeypatch.undo()
    monkeypatch.setattr(DFModel, "forward_pair", lambda self, xs, xd: nan_outputs())
    with pytest.raises(SwaplibError, match="giving up"):
        _run(faces, tmp_path / "hopeless", _quick(6, max_rollbacks=2))


def test_truncated_or_corrupt_checkpoint_falls_back_to_the_backup(faces, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="swaplib.train")
    out = tmp_path / "out"
    _run(faces, out, _quick(3, save_every=2))  # saves at 2 and 3: checkpoint.prev.pt is iteration 2
    path = out / "state" / CHECKPOINT
    data = path.read_bytes()
    path.unlink()  # a new inode: the truncation must not reach the hard-linked best.pt
    path.write_bytes(data[: len(data) // 2])
    summary = _run(faces, out, _quick(5, save_every=2))
    assert summary["resumed_from"] == 2 and summary["iterations"] == 5
    assert f"training state {path} is truncated or corrupt" in caplog.text
    assert "resuming from the backup" in caplog.text and PREV_CHECKPOINT in caplog.text
    assert len(list((out / "state").glob("checkpoint.corrupt-*.pt"))) == 1  # kept aside for a look

    # A flipped byte inside the tensors (torch.load alone does not notice) is caught by the checksum.
    caplog.clear()
    data = bytearray(path.read_bytes())
    path.unlink()
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert _run(faces, out, _quick(6, save_every=2))["resumed_from"] == 4  # prev: saved at 4
    assert "checksum mismatch" in caplog.text

    # Nothing usable at all: a clear error, nothing deleted.
    for p in (out / "state").glob("*.pt"):
        p.write_bytes(b"junk")
    with pytest.raises(SwaplibError, match="every training state file is truncated or corrupt"):
        _run(faces, out, _quick(8))


def test_backups_every_n_keep_k_and_best(faces, tmp_path):
    out = tmp_path / "out"
    _run(faces, out, _quick(12, save_every=2, backup_every=4, backup_keep=2))
    backups = sorted(p.name for p in (out / "state" / BACKUPS).iterdir())
    assert backups == ["iter-00000008.pt", "iter-00000012.pt"]
    assert not (out / "state" / BACKUPS / "iter-00000008.pt").samefile(out / "state" / CHECKPOINT)  # a real copy
    best = _checkpoint(out / "state", BEST)
    assert best["recent_loss"] == best["best_loss"] == _checkpoint(out / "state")["best_loss"]


def test_masks(faces, tmp_path):
    masks = np.zeros((6, 40, 40), np.float32)  # other size than the model: resized
    masks[:, 6:34, 8:32] = 1
    summary = _run(faces, tmp_path / "out", _quick(3, clip_grad=1.0), src_masks=masks, dst_masks=list(masks))
    assert summary["masks_trained"] and load_model(tmp_path / "out" / "model.safetensors")[1]["masks_trained"]
    with pytest.raises(SwaplibError, match="src masks: 5 masks for 6 faces"):
        _run(faces, tmp_path / "bad", _quick(3), src_masks=masks[:5], dst_masks=masks)
    with pytest.raises(SwaplibError, match="only one face set"):
        _run(faces, tmp_path / "bad", _quick(3), src_masks=masks)


def test_load_faces(faces, tmp_path):
    loaded = load_faces(faces["src"], R)
    assert loaded.shape == (6, R, R, 3) and loaded.dtype == np.uint8
    with pytest.raises(SwaplibError, match="dst face set is empty"):
        load_faces([], R, "dst")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(SwaplibError, match="src face set.*broken.png"):
        load_faces([faces["src"][0], bad], R, "src")
    with pytest.raises(SwaplibError, match="dst face set is empty"):
        _run({"src": faces["src"], "dst": []}, tmp_path / "out", _quick(3))


# The code before the training stage was split into modules (its state format is still "swaplib-train-state/2").
PREVIOUS = "48b53f8"
PREVIOUS_CHILD = r"""
import sys
from pathlib import Path
from swaplib.model import model_config
from swaplib.train import TrainSettings, train
root, out, iterations = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
faces = {n: sorted((root / n).glob("*.png")) for n in ("src", "dst")}
settings = TrainSettings(iterations=iterations, batch_size=4, lr=5e-4, optimizer="adam", save_every=10, threads=1,
                         workers=2)
train(faces["src"], faces["dst"], model_config("tiny", resolution=32), settings, state_dir=out / "state",
      model_path=out / "model.pt", preview_path=out / "preview.jpg", history_path=out / "history.csv",
      plot_path=out / "loss.png")
"""


def test_a_state_folder_of_the_previous_code_resumes_bit_for_bit(faces, tmp_path, straight30, caplog):
    """Training time is sacred: a state folder written by the previous code resumes, and the steps
    it took are exactly the ones this code takes (so the recipe version did not need a bump)."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    old = tmp_path / "previous"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", PREVIOUS, "src"], capture_output=True)
    if archive.returncode:
        pytest.skip(f"needs a git checkout with commit {PREVIOUS}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(old / "src"))
    proc = subprocess.run([sys.executable, "-c", PREVIOUS_CHILD, str(faces["src"][0].parents[1]), str(out), "20"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "model.pt").exists() and _checkpoint(out / "state")["format"] == "swaplib-train-state/2"

    caplog.set_level(logging.INFO, logger="swaplib.train")
    summary = _run(faces, out, _quick(30))
    assert summary["resumed_from"] == 20 and summary["steps"] == 10
    assert "architecture changed" not in caplog.text and "another swaplib version" not in caplog.text
    assert (out / "history.csv").read_text() == straight30[1]
    _assert_same_model(out / "model.safetensors", straight30[0])


def test_time_budget_stops_early_records_the_iteration_and_resumes(faces, tmp_path, straight30, caplog):
    caplog.set_level(logging.INFO, logger="swaplib.train")
    out = tmp_path / "out"
    summary = _run(faces, out, _quick(30, max_minutes=1e-4))  # 6 ms: the budget ends after the first step or two
    reached = summary["iterations"]
    assert 1 <= reached < 30 and summary["stopped_by"] == "max_minutes"
    assert f"time budget of 0.0001 min reached at iteration {reached} of 30" in caplog.text
    _, header = load_model(out / "model.safetensors")
    assert header["iterations"] == reached and header["stopped_by"] == "max_minutes"
    assert _checkpoint(out / "state")["iteration"] == reached

    # Without the budget the same state folder goes on to the end, step for step as a straight run.
    summary = _run(faces, out, _quick(30))
    assert summary["resumed_from"] == reached and summary["stopped_by"] == "iterations"
    assert (out / "history.csv").read_text() == straight30[1]


def test_out_of_memory_saves_and_names_what_to_lower(faces, tmp_path, monkeypatch):
    out = tmp_path / "out"

    def oom():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    _interrupt_step(monkeypatch, at_call=14, action=oom)  # step 14; the last save was at 10
    with pytest.raises(SwaplibError) as error:
        _run(faces, out, _quick(20))
    message = str(error.value)
    assert "out of memory on cpu at iteration 14 with batch_size 4 at resolution 32" in message
    assert "lower train.batch_size (e.g. 2) or train.resolution" in message
    assert "iteration 13 is saved" in message
    assert _checkpoint(out / "state")["iteration"] == 13  # nothing trained is lost
    monkeypatch.undo()
    assert _run(faces, out, _quick(20))["resumed_from"] == 13


def test_a_stop_request_ends_training_writes_the_model_and_raising_iterations_goes_on(faces, tmp_path, monkeypatch,
                                                                                       caplog):
    caplog.set_level(logging.INFO, logger="swaplib.train")
    out = tmp_path / "out"
    (out / "state").mkdir(parents=True)
    (out / "state" / "STOP").touch()  # left from before: not this run's
    _interrupt_step(monkeypatch, at_call=12, action=lambda: (out / "state" / "STOP").touch())  # `swaplib stop`
    summary = _run(faces, out, _quick(30))
    assert "a stop request from before this run" in caplog.text
    assert summary["iterations"] == 12 and summary["stopped_by"] == "stop request"
    assert "stop requested at iteration 12 of 30" in caplog.text and not (out / "state" / "STOP").exists()
    _, header = load_model(out / "model.safetensors")
    assert header["iterations"] == 12 and header["stopped_by"] == "stop request"
    # What a user watches during training, rewritten at every save (save_every 10).
    assert {"preview-latest.jpg", "loss.csv", "loss.png"} <= {p.name for p in (out / "state").iterdir()}
    assert len((out / "state" / "loss.csv").read_text().splitlines()) == 1 + 10
    monkeypatch.undo()
    assert _run(faces, out, _quick(20))["resumed_from"] == 12
