"""The training loop: learning, outputs, resume (bitwise on CPU), architecture change, interrupts,
corrupt files. Synthetic faces (coloured ellipses with eyes and a mouth), tiny model at 32 px."""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from swaplib.errors import SwaplibError
from swaplib.model import DFModel, model_config, swap_faces
from swaplib.model import load_model
from swaplib.train import CHECKPOINT, PREV_CHECKPOINT, TrainingInterrupted, TrainSettings, load_faces, train

R = 32
CFG = model_config("tiny", resolution=R)


def _face(rng: np.random.Generator, skin, size: int = 48) -> np.ndarray:
    """A face-like picture: background, skin ellipse, two eyes, a mouth, jittered a little."""
    image = np.full((size, size, 3), rng.integers(20, 70), np.uint8)
    c = size // 2 + rng.integers(-2, 3, 2)
    colour = tuple(int(v) for v in np.clip(np.asarray(skin) + rng.integers(-25, 25, 3), 0, 255))
    cv2.ellipse(image, (int(c[0]), int(c[1])), (size // 3, int(size * 0.42)), float(rng.uniform(-8, 8)), 0, 360, colour, -1)
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
                 model_path=out / "model.pt", preview_path=out / "preview.jpg", history_path=out / "history.csv",
                 plot_path=out / "loss.png", **kw)


def _quick(iterations: int, **kw) -> TrainSettings:
    return TrainSettings(iterations=iterations, **{"batch_size": 4, "lr": 5e-4, "save_every": 10, **kw})


def _temp_files(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if ".tmp" in p.name]


def _checkpoint(state: Path) -> dict:
    return torch.load(state / CHECKPOINT, weights_only=True)


@pytest.fixture(scope="module")
def straight30(faces, tmp_path_factory):
    """A straight 30-iteration run to compare resumed and interrupted runs with."""
    out = tmp_path_factory.mktemp("straight30")
    _run(faces, out, _quick(30))
    model, _ = load_model(out / "model.pt")
    return model.state_dict(), (out / "history.csv").read_text()


def _assert_same_model(model_path: Path, reference: dict):
    model, _ = load_model(model_path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, reference[k]), k


def test_learns_and_writes_outputs(faces, tmp_path):
    out = tmp_path / "out"
    summary = _run(faces, out, TrainSettings(iterations=60, batch_size=6, lr=1e-3, save_every=25))
    assert summary["iterations"] == 60 and summary["steps"] == 60 and summary["resumed_from"] is None

    history = np.loadtxt(out / "history.csv", delimiter=",", skiprows=1)
    assert history.shape == (60, 3) and list(history[:, 0]) == list(range(1, 61))
    for col in (1, 2):  # src, dst
        first, last = history[:5, col].mean(), history[-10:, col].mean()
        assert last < first * 0.75, (first, last)

    preview = cv2.imread(str(out / "preview.jpg"))
    assert preview.shape == (5 * R, 6 * R, 3)  # rows: src, src rec, dst, dst rec, swap
    assert cv2.imread(str(out / "loss.png")) is not None
    assert not _temp_files(out)
    assert sorted(p.name for p in (out / "state").iterdir()) == [PREV_CHECKPOINT, CHECKPOINT]
    assert _checkpoint(out / "state")["iteration"] == 60

    model, meta = load_model(out / "model.pt")
    assert meta["iterations"] == 60 and meta["model_config"] == CFG.to_dict() and meta["settings"]["lr"] == 1e-3
    assert set(meta["losses"]) == {"src", "dst"} and not meta["masks_trained"]
    swapped, masks = swap_faces(model, load_faces(faces["dst"], R), "cpu")
    assert swapped.shape == (6, R, R, 3) and masks.shape == (6, R, R)


def test_deterministic(faces, tmp_path):
    a = _run(faces, tmp_path / "a", _quick(6, save_every=0))
    b = _run(faces, tmp_path / "b", _quick(6, save_every=0))
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
    _assert_same_model(out / "model.pt", straight30[0])
    assert _checkpoint(out / "state")["iteration"] == 30
    assert torch.load(out / "state" / PREV_CHECKPOINT, weights_only=True)["iteration"] == 20

    # Nothing left to do: no steps, outputs written again from the checkpoint.
    (out / "model.pt").unlink()
    again = _run(faces, out, _quick(30))
    assert again["steps"] == 0 and again["resumed_from"] == 30 and (out / "model.pt").exists()
    _assert_same_model(out / "model.pt", straight30[0])


def test_architecture_change_starts_fresh(faces, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="swaplib.train")
    out = tmp_path / "out"
    _run(faces, out, _quick(4))
    old = _checkpoint(out / "state")
    summary = _run(faces, out, _quick(6), cfg=replace(CFG, ae_dims=32))
    assert summary["resumed_from"] is None and summary["steps"] == 6
    assert "architecture changed" in caplog.text and "ae_dims: 64 -> 32" in caplog.text
    aside = list((out / "state").glob("checkpoint.incompatible-*.pt"))
    assert len(aside) == 1
    kept = torch.load(aside[0], weights_only=True)
    assert kept["iteration"] == 4 and kept["model_config"] == old["model_config"]
    assert _checkpoint(out / "state")["model_config"]["ae_dims"] == 32
    assert load_model(out / "model.pt")[1]["model_config"]["ae_dims"] == 32


def _interrupt_forward(monkeypatch, at_call: int, action):
    """Make DFModel.forward run `action` on its `at_call`-th call (two calls per step: src, dst)."""
    original, calls = DFModel.forward, [0]

    def forward(self, x, decoder):
        calls[0] += 1
        if calls[0] == at_call:
            action()
        return original(self, x, decoder)

    monkeypatch.setattr(DFModel, "forward", forward)


def test_keyboard_interrupt_saves_and_resumes(faces, tmp_path, straight30, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="swaplib.train")
    out = tmp_path / "out"

    def ctrl_c():
        raise KeyboardInterrupt

    _interrupt_forward(monkeypatch, at_call=2 * 12 + 2, action=ctrl_c)  # inside step 13, after 12 are done
    with pytest.raises(KeyboardInterrupt):
        _run(faces, out, _quick(30))
    monkeypatch.undo()
    assert _checkpoint(out / "state")["iteration"] == 12
    assert not (out / "model.pt").exists() and not (out / "history.csv").exists()
    assert not _temp_files(out)
    assert "interrupted at iteration 12" in caplog.text

    summary = _run(faces, out, _quick(30))
    assert summary["resumed_from"] == 12
    assert "resuming from iteration 12 of 30" in caplog.text
    assert (out / "history.csv").read_text() == straight30[1]
    _assert_same_model(out / "model.pt", straight30[0])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_finishes_step_saves_and_raises(faces, tmp_path, monkeypatch, sig):
    out = tmp_path / "out"
    before = signal.getsignal(sig)
    _interrupt_forward(monkeypatch, at_call=2 * 4 + 1, action=lambda: os.kill(os.getpid(), sig))
    with pytest.raises(TrainingInterrupted, match=f"{sig.name} at iteration 5"):
        _run(faces, out, _quick(30))
    assert signal.getsignal(sig) is before  # handler restored
    assert _checkpoint(out / "state")["iteration"] == 5  # the step in flight was finished, then saved
    assert not (out / "model.pt").exists()


def test_truncated_checkpoint_is_an_error(faces, tmp_path):
    out = tmp_path / "out"
    _run(faces, out, _quick(3, save_every=2))  # saves at 2 and 3: a backup exists
    path = out / "state" / CHECKPOINT
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SwaplibError, match=f"{path}.*{PREV_CHECKPOINT}"):
        _run(faces, out, _quick(6))
    assert path.exists()  # not silently replaced


def test_load_model_errors(faces, tmp_path):
    with pytest.raises(SwaplibError, match="not found"):
        load_model(tmp_path / "nope.pt")
    out = tmp_path / "out"
    _run(faces, out, _quick(2))
    model_path = out / "model.pt"
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(model_path.read_bytes()[:1000])
    with pytest.raises(SwaplibError, match="truncated.pt.*not a readable model"):
        load_model(truncated)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(SwaplibError, match="other.pt.*not a swaplib model"):
        load_model(other)


def test_masks(faces, tmp_path):
    masks = np.zeros((6, 40, 40), np.float32)  # other size than the model: resized
    masks[:, 6:34, 8:32] = 1
    summary = _run(faces, tmp_path / "out", _quick(3, clip_grad=1.0), src_masks=masks, dst_masks=list(masks))
    assert summary["masks_trained"] and load_model(tmp_path / "out" / "model.pt")[1]["masks_trained"]
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


def test_settings_validation():
    with pytest.raises(SwaplibError, match="iterations=0"):
        TrainSettings(iterations=0)
    with pytest.raises(SwaplibError, match="batch_size"):
        TrainSettings(iterations=5, batch_size=0)
