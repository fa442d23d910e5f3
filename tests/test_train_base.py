"""A shared base model (DFL's pretraining as its own model): a model with from_base starts from its
encoder and decoder(s) with fresh inter layer(s), learns faster than from scratch, and a checkpoint
started from another base (or from none) is moved aside, not resumed."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import torch

from swaplib.core.errors import SwaplibError
from swaplib.model import load_model
from swaplib.train import model_config
from test_train import CFG, _quick, _run, faces  # noqa: F401 (faces is a fixture)

pytestmark = pytest.mark.usefixtures("torch_one_thread")

BASE_STEPS = 80


@pytest.fixture(scope="module")
def base(faces, tmp_path_factory):  # noqa: F811
    """A base pretrained on both face sets."""
    out = tmp_path_factory.mktemp("base")
    _run(faces, out, _quick(BASE_STEPS, pretrain=True, save_every=0))
    return out / "model.safetensors"


def _losses(out) -> np.ndarray:
    history = np.loadtxt(out / "history.csv", delimiter=",", skiprows=1)
    return history[:, 1] + history[:, 2]


def test_a_model_from_the_base_starts_from_it_and_learns_faster(faces, base, tmp_path, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, logger="swaplib.train")
    fresh, based = tmp_path / "fresh", tmp_path / "based"
    _run(faces, fresh, _quick(20))
    summary = _run(faces, based, _quick(20, from_base=True), base=base)
    assert f"starting from the shared base {base} ({BASE_STEPS} iterations)" in caplog.text
    assert summary["iterations"] == 20 and summary["resumed_from"] is None
    # Its first steps are already below where a fresh model is after all of them.
    assert _losses(based)[:10].mean() < min(0.8 * _losses(fresh)[:10].mean(), _losses(fresh)[-5:].mean())
    _, header = load_model(based / "model.safetensors")
    base_header = load_model(base)[1]
    assert header["base"] == {"path": str(base), "weights_sha256": base_header["weights_sha256"]}
    assert load_model(fresh / "model.safetensors")[1]["base"] is None

    # Resuming keeps going from its own checkpoint: the base is not loaded again.
    caplog.clear()
    summary = _run(faces, based, _quick(25, from_base=True), base=base)
    assert summary["resumed_from"] == 20 and "starting from the shared base" not in caplog.text


def test_the_base_encoder_and_decoders_are_taken_and_the_inter_is_fresh(faces, base, tmp_path, monkeypatch):  # noqa: F811
    from swaplib.train import loop

    taken = {}
    original = loop.Trainer.keep_all_but_inter

    def spy(self, weights):
        original(self, weights)
        taken.update({k: v.clone() for k, v in self.model.state_dict().items()})

    monkeypatch.setattr(loop.Trainer, "keep_all_but_inter", spy)
    _run(faces, tmp_path, _quick(1, from_base=True), base=base)
    weights, _ = load_model(base)
    base_weights = weights.state_dict()
    for name, value in taken.items():
        same = torch.equal(value, base_weights[name])
        assert same != name.startswith("inter."), name


def test_a_retrained_or_removed_base_starts_the_model_again(faces, base, tmp_path, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, logger="swaplib.train")
    out = tmp_path / "out"
    _run(faces, out, _quick(10, from_base=True), base=base)
    other = tmp_path / "other-base"
    shutil.copytree(base.parent, other)
    _run(faces, other, _quick(BASE_STEPS + 5, pretrain=True, save_every=0))  # the base, trained on

    summary = _run(faces, out, _quick(12, from_base=True), base=other / "model.safetensors")
    assert "was trained again" in caplog.text and "starting training fresh" in caplog.text
    assert summary["resumed_from"] is None and summary["steps"] == 12
    assert list((out / "state").glob("checkpoint.incompatible-*.pt"))  # kept, not deleted

    caplog.clear()
    summary = _run(faces, out, _quick(12))
    assert "no longer starts from a shared base" in caplog.text and summary["resumed_from"] is None

    caplog.clear()
    summary = _run(faces, out, _quick(14, from_base=True), base=base)
    assert "now starts from the shared base" in caplog.text and summary["resumed_from"] is None


def test_a_base_of_another_architecture_or_none_is_refused(faces, base, tmp_path):  # noqa: F811
    with pytest.raises(SwaplibError, match="shared base has another architecture.*ae_dims"):
        _run(faces, tmp_path / "a", _quick(2, from_base=True), cfg=model_config("tiny", resolution=32, ae_dims=32),
             base=base)
    with pytest.raises(SwaplibError, match="from_base is set but no base model"):
        _run(faces, tmp_path / "b", _quick(2, from_base=True))
    assert CFG.ae_dims != 32
