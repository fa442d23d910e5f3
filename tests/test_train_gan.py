"""GAN power and true face power (train/adversarial.py, model/discriminators.py): DFL's layers for a
patch size, the terms absent at power 0 and changing the right gradients above it, the
discriminators learning real faces, switching GAN on for a model trained without it, and the
discriminators' state through SIGKILL, resume and NaN rollback."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from swaplib.config.train import PRETRAIN_RECIPE
from swaplib.core.errors import SwaplibError
from swaplib.core.merging import deep_merge
from swaplib.model import DFModel, build_model, load_model
from swaplib.model.discriminators import CodeDiscriminator, UNetPatchDiscriminator, patch_strides, receptive_field
from swaplib.sheet import validate_config
from swaplib.train import CHECKPOINT, Trainer, load_state, model_config, train_model, train_settings
from swaplib.train.adversarial import Adversarial
from test_train import R, _checkpoint, _quick, _run, faces  # noqa: F401 (fixtures)
from test_train_recipe import real_face_sets  # noqa: F401 (a fixture)
from test_train_settings import CONFIG, SCHEMA_PATH

REPO = Path(__file__).resolve().parents[1]
GAN = dict(gan_power=0.1, gan_dims=8)
BOTH = dict(GAN, true_face_power=0.01)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _gan(iterations: int, **kw):
    return _quick(iterations, **{**BOTH, **kw})


def _tensors(state, path: str = "") -> dict:
    """Every tensor of a (nested) state dict by its path: weights, optimizer moments, steps."""
    if torch.is_tensor(state):
        return {path: state}
    if isinstance(state, dict):
        return {k: t for key, value in state.items() for k, t in _tensors(value, f"{path}/{key}").items()}
    return {}


def _states_equal(a: dict, b: dict) -> bool:
    """Two discriminators' states, tensor for tensor (the learning rate, cut by a rollback, aside)."""
    ta, tb = _tensors(a), _tensors(b)
    return bool(ta) and ta.keys() == tb.keys() and all(torch.equal(t, tb[k]) for k, t in ta.items())


def test_the_patch_size_gives_dfls_layers_and_the_shapes_follow():
    assert receptive_field((2, 2, 2)) == 15 and receptive_field((2,)) == 3
    assert patch_strides(16) == (2, 2, 2)  # 128 px, DFL's default patch R/8: three convs, field 15
    assert patch_strides(8) == (2, 2)  # 64 px: field 7
    assert patch_strides(12) == (2, 1, 2)  # field 11: the third conv's stride does not widen it
    assert patch_strides(3) == (2,) and receptive_field(patch_strides(640)) == 639
    net = UNetPatchDiscriminator(16, dims=8)
    center, pixels = net(torch.rand(2, 3, 128, 128))
    assert center.shape == (2, 1, 16, 16) and pixels.shape == (2, 1, 128, 128)
    assert [conv.out_channels for conv in net.downs] == [16, 32, 64]
    assert [conv.out_channels for conv in UNetPatchDiscriminator(16, dims=300).downs] == [512, 512, 512]
    _, pixels = UNetPatchDiscriminator(12, dims=4)(torch.rand(1, 3, 96, 96))  # odd sizes inside: cropped back
    assert pixels.shape == (1, 1, 96, 96)
    code = CodeDiscriminator(64, code_res=8)
    assert len(code.convs) == 2 and code(torch.rand(2, 64, 8, 8)).shape == (2, 1, 2, 2)
    assert [c.out_channels for c in CodeDiscriminator(64, code_res=16).convs] == [256, 512, 1024]


def test_settings_are_checked_with_dfls_ranges():
    for bad in (dict(gan_power=5.5), dict(gan_power=-0.1), dict(gan_patch_size=2), dict(gan_patch_size=641),
                dict(gan_dims=3), dict(gan_dims=513), dict(true_face_power=1.5)):
        key = next(iter(bad))
        with pytest.raises(SwaplibError, match=f"invalid training settings: {key} must be within"):
            train_settings("tiny", **bad)
        with pytest.raises(SwaplibError, match=f"train.{key}"):
            validate_config(deep_merge(CONFIG, {"train": bad}), SCHEMA_PATH, source="my.yaml")
    validate_config(deep_merge(CONFIG, {"train": dict(gan_power=5, gan_patch_size=640, true_face_power=1)}),
                    SCHEMA_PATH)
    # Pretraining has no discriminators, as DFL's (the loop puts this over the settings).
    assert PRETRAIN_RECIPE["gan_power"] == 0 and PRETRAIN_RECIPE["true_face_power"] == 0


def _gradients(cfg, powers: dict, gan_sides=None) -> tuple[dict, Adversarial]:
    """The model's gradients of one step's loss (a stand-in reconstruction loss + the discriminators'
    terms at `powers`), from one seed; gan_sides: the faces the GAN judges, in place of the model's."""
    torch.manual_seed(0)
    model = build_model(cfg)
    adversarial = Adversarial(model, cfg, _quick(1, **powers), torch.device("cpu"), logging.getLogger("test"))
    if gan_sides:
        adversarial.gan_sides = gan_sides
    gen = torch.Generator().manual_seed(1)
    b = {k: torch.rand(2, c, cfg.resolution, cfg.resolution, generator=gen)
         for k, c in (("src_in", 3), ("dst_in", 3), ("src_target", 3), ("src_loss_mask", 1), ("dst_target", 3),
                      ("dst_loss_mask", 1))}
    with adversarial.watching(model):
        outputs = model.forward_pair(b["src_in"], b["dst_in"])
    plain = sum(o.square().mean() for o in outputs)
    total = adversarial.generator_loss(plain, outputs, b, masked=True)
    if not adversarial:
        assert total is plain  # not a single operation added
    total.backward()
    return {name: torch.zeros_like(p) if p.grad is None else p.grad.clone()  # (AMP: a part a pass skips)
            for name, p in model.named_parameters()}, adversarial


def test_each_term_is_absent_at_power_0_and_changes_the_right_gradients_above_it(caplog):
    cfg = model_config("tiny")
    plain, off = _gradients(cfg, {})
    assert not off and off.nets == {} and off.train_discriminators() is None and off.state_dict() == {}
    part = lambda grads, prefix: [g for name, g in grads.items() if name.startswith(prefix)]
    same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a, b))

    gan, adversarial = _gradients(cfg, GAN)
    assert set(adversarial.nets) == {"gan"}
    assert not same(part(gan, "decoder_src"), part(plain, "decoder_src"))  # the source reconstruction is judged
    assert not same(part(gan, "encoder"), part(plain, "encoder"))
    assert same(part(gan, "decoder_dst"), part(plain, "decoder_dst"))  # ... and nothing of the destination's
    assert all(p.grad is None for p in adversarial.nets["gan"].parameters())  # its verdict trains the model only

    true_face, adversarial = _gradients(cfg, {"true_face_power": 0.01})
    assert set(adversarial.nets) == {"true_face"}
    assert not same(part(true_face, "inter"), part(plain, "inter"))  # the source's codes are pulled
    assert same(part(true_face, "decoder_src") + part(true_face, "decoder_dst"),
                part(plain, "decoder_src") + part(plain, "decoder_dst"))  # the decoders are not judged

    caplog.set_level(logging.INFO, logger="test")
    liae = model_config("tiny", archi="liae")
    _, adversarial = _gradients(liae, {"true_face_power": 0.01})
    assert not adversarial and "true_face_power 0.01 is for a family with one code for both people" in caplog.text


AMP_TINY = dict(resolution=64, ae_dims=16, e_dims=8, d_dims=8, d_mask_dims=4, inter_dims=16)


def test_amps_gan_judges_the_destination_faces_too():
    """DFL's AMP recipe: the discriminator sees source and destination reconstructions (its loss the
    mean of its eight terms), and the model gets its verdict on both; df's GAN judges the source only."""
    cfg = model_config("amp", **AMP_TINY)
    both, adversarial = _gradients(cfg, GAN)
    assert adversarial.gan_sides == ("src", "dst")
    source_only, _ = _gradients(cfg, GAN, gan_sides=("src",))
    plain, _ = _gradients(cfg, {})
    changed = lambda a, b: sum(not torch.equal(a[name], b[name]) for name in a)
    assert changed(both, source_only) > 0 and changed(source_only, plain) > 0
    real, fake = adversarial._seen["gan"]
    assert real.shape[0] == fake.shape[0] == 4  # two source faces and two destination faces
    assert adversarial.train_discriminators() is None
    assert _gradients(model_config("tiny"), GAN)[1].gan_sides == ("src",)


def test_the_discriminators_learn_to_tell_real_faces(real_face_sets, monkeypatch):  # noqa: F811
    """A few dozen real steps (the workflow's entry point, real faces with their masks): both
    discriminators' losses fall below chance (ln 2 per verdict) as they learn to tell real from fake,
    while the model learns to fool them (so the GAN's falls slowly: DFL's default dims here)."""
    root, sets = real_face_sets
    seen = []
    original = Adversarial.train_discriminators

    def recording(self):
        bad = original(self)
        seen.append(dict(self.losses))
        return bad

    monkeypatch.setattr(Adversarial, "train_discriminators", recording)
    out = root / "gan"
    summary = train_model(
        src=sets["src"], dst=[sets["dst"]], preset="tiny", iterations=40, batch_size=4, lr=5e-4, threads=1,
        save_every=0, state_dir=out / "state", model_path=out / "model.safetensors", preview_path=out / "preview.jpg",
        history_path=out / "loss.csv", plot_path=out / "loss.png", **{**BOTH, "gan_dims": 16},
    )
    assert summary["iterations"] == 40 and summary["masks_trained"] and len(seen) == 40
    for name, chance in (("gan", 2 * np.log(2)), ("true_face", np.log(2))):  # gan: patch and pixel verdicts
        losses = np.array([step[name] for step in seen])
        assert losses[-20:].mean() < min(chance - 0.005, losses[:5].mean() - 0.01), (name, losses)
    checkpoint = load_state(out / "state" / CHECKPOINT)
    assert set(checkpoint["adversarial"]) == {"gan", "true_face"}
    assert checkpoint["adversarial"]["gan"]["shape"] == {"patch_size": 8, "dims": 16}  # 64 px: DFL's R/8
    _, header = load_model(out / "model.safetensors")
    assert header["settings"]["gan_power"] == 0.1
    assert not any(k.startswith(("gan", "true_face")) for k in load_model(out / "model.safetensors")[0].state_dict())


def test_gan_switched_on_for_a_model_trained_without_it_goes_on(faces, tmp_path, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, logger="swaplib.train")
    out = tmp_path / "out"
    _run(faces, out, _quick(10))
    assert _checkpoint(out / "state")["adversarial"] == {}
    summary = _run(faces, out, _quick(14, **GAN))
    assert summary["resumed_from"] == 10 and summary["iterations"] == 14
    assert ("gan_power 0.1: the checkpoint has none (trained without it); the model goes on from the checkpoint, "
            "the GAN (patch) discriminator starts fresh") in caplog.text
    assert "training from scratch" not in caplog.text.split("resuming from iteration 10")[-1]
    trained = _checkpoint(out / "state")["adversarial"]["gan"]
    assert trained["shape"] == {"patch_size": R // 8, "dims": 8} and trained["optimizer"]["state"]

    # Switched off, its state stays in the checkpoint; switched on again, it goes on from there.
    caplog.clear()
    _run(faces, out, _quick(16))
    assert _states_equal(_checkpoint(out / "state")["adversarial"]["gan"], trained)
    _run(faces, out, _quick(18, **GAN))
    assert "starts fresh" not in caplog.text
    # Another shape (gan_dims) cannot resume it: a fresh one, said so.
    _run(faces, out, _quick(20, gan_power=0.1, gan_dims=4))
    assert "its shape changed ({'patch_size': 4, 'dims': 8} -> {'patch_size': 4, 'dims': 4})" in caplog.text


CHILD = r"""
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])  # tests/, for the helpers
from swaplib.model import DFModel
from test_train import _run
from test_train_gan import _gan

root, out = Path(sys.argv[2]), Path(sys.argv[3])
faces = {n: sorted((root / n).glob("*.png")) for n in ("src", "dst")}
real, calls = DFModel.forward_pair, [0]
def forward_pair(self, xs, xd):  # SIGKILL inside the forward pass of step 13 (iteration 10 is saved)
    calls[0] += 1
    if calls[0] == 13:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, xs, xd)
DFModel.forward_pair = forward_pair
_run(faces, out, _gan(16, save_every=5))
"""


def test_the_discriminators_survive_sigkill_and_resume_exactly(faces, tmp_path):  # noqa: F811
    straight = tmp_path / "straight"
    _run(faces, straight, _gan(16, save_every=5))
    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(REPO / "tests"), str(faces["src"][0].parents[1]),
                           str(killed)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    assert set(load_state(killed / "state" / CHECKPOINT)["adversarial"]) == {"gan", "true_face"}

    summary = _run(faces, killed, _gan(16, save_every=5))
    assert summary["resumed_from"] == 10
    assert (killed / "history.csv").read_text() == (straight / "history.csv").read_text()
    reference, _ = load_model(straight / "model.safetensors")
    resumed, _ = load_model(killed / "model.safetensors")
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in resumed.state_dict().items())
    a, b = (load_state(run / "state" / CHECKPOINT)["adversarial"] for run in (straight, killed))
    assert _states_equal(a, b)  # the discriminators too, weight for weight and moment for moment


def test_a_nan_rolls_the_discriminators_back_with_the_model(faces, tmp_path, monkeypatch, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, logger="swaplib.train")
    after_rollback = []
    original = Trainer.rollback

    def rollback(self, reason):
        before = self.adversarial.state_dict()
        original(self, reason)
        saved = load_state(self.state.checkpoint)["adversarial"]
        after_rollback.append((_states_equal(self.adversarial.state_dict(), saved), _states_equal(before, saved)))

    monkeypatch.setattr(Trainer, "rollback", rollback)
    forward_pair, calls = DFModel.forward_pair, [0]

    def nan_at_step_15(self, xs, xd):  # the real pass (its codes seen), its outputs made NaN
        calls[0] += 1
        outputs = forward_pair(self, xs, xd)
        return tuple(o * float("nan") for o in outputs) if calls[0] == 15 else outputs

    monkeypatch.setattr(DFModel, "forward_pair", nan_at_step_15)
    summary = _run(faces, tmp_path / "model", _gan(20))
    assert "loss became nan/nan at iteration 15: rolled back to iteration 10" in caplog.text
    assert summary["rollbacks"] == 1 and after_rollback == [(True, False)]  # back to the saved ones, not as they were

    # A discriminator's own loss going bad rolls everything back too.
    monkeypatch.undo()
    monkeypatch.setattr(Trainer, "rollback", rollback)
    steps, train_discriminators = [0], Adversarial.train_discriminators

    def poisoned(self):
        steps[0] += 1
        if steps[0] == 15:
            with torch.no_grad():
                next(self.nets["gan"].parameters()).fill_(float("nan"))
        return train_discriminators(self)

    monkeypatch.setattr(Adversarial, "train_discriminators", poisoned)
    after_rollback.clear()
    summary = _run(faces, tmp_path / "poisoned", _gan(20))
    assert "GAN (patch) discriminator loss became nan at iteration 15: rolled back to iteration 10" in caplog.text
    assert summary["rollbacks"] == 1 and after_rollback == [(True, False)]
    final = load_state(tmp_path / "poisoned" / "state" / CHECKPOINT)["adversarial"]["gan"]["weights"]
    assert all(torch.isfinite(w).all() for w in final.values())
