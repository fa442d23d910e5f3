"""The weight average (train.ema): its update, that it leaves the training steps as they are, that
the model file and previews are the average, and that it is saved and resumed exactly."""

from __future__ import annotations

import logging

import pytest
import torch

from swaplib.model import build_model, load_model
from swaplib.train import CHECKPOINT
from swaplib.train.ema import WeightAverage
from test_train import CFG, _assert_same_model, _quick, _run, faces, straight30  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_the_average_follows_the_weights_with_a_warm_up():
    torch.manual_seed(0)
    model = build_model(CFG)
    average = WeightAverage(model, decay=0.9)
    weight = next(model.parameters())
    start = weight.detach().clone()
    expected = start.clone()
    for n in range(1, 30):
        with torch.no_grad():
            weight.add_(1.0)
        average.update(model)
        d = min(0.9, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * weight.detach()
    assert torch.allclose(next(average.model.parameters()), expected, atol=1e-5)
    assert not torch.equal(next(average.model.parameters()), weight)  # it lags behind the weights
    assert not any(p.requires_grad for p in average.model.parameters())


def test_training_steps_are_unchanged_and_the_model_file_is_the_average(faces, straight30, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    _run(faces, out, _quick(30, ema=0.9))
    assert (out / "history.csv").read_text() == straight30[1]  # the same steps, loss for loss
    state = torch.load(out / "state" / CHECKPOINT, weights_only=True)
    trained, averaged = state["model"], state["ema"]["weights"]
    model, header = load_model(out / "model.safetensors")
    assert header["settings"]["ema"] == 0.9 and int(state["ema"]["updates"]) == 30
    for name, value in model.state_dict().items():
        assert torch.equal(value, averaged[name]), name
    assert any(not torch.equal(trained[k], averaged[k]) for k in trained)
    assert all(torch.equal(trained[k], straight30[0][k]) for k in trained)  # the trained weights: as without


def test_the_average_resumes_exactly(faces, tmp_path, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, logger="swaplib.train")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _run(faces, straight, _quick(30, ema=0.9))
    _run(faces, resumed, _quick(20, ema=0.9))
    _run(faces, resumed, _quick(30, ema=0.9))
    reference, _ = load_model(straight / "model.safetensors")
    _assert_same_model(resumed / "model.safetensors", reference.state_dict())

    # Turned on for a run made without it: the average starts from the checkpoint's weights.
    plain = tmp_path / "plain"
    _run(faces, plain, _quick(10))
    summary = _run(faces, plain, _quick(12, ema=0.9))
    assert summary["resumed_from"] == 10 and "the checkpoint has no weight average" in caplog.text
