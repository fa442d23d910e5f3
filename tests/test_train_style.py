"""DFL's face and background style losses, random HSV shift and blur-out mask: each is absent at its
off value, does what DFL's does when on, and a few real training steps with all of them on run,
resume exactly, and continue a checkpoint trained without them. The tiny model at 64 px."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch

from swaplib.core.errors import SwaplibError
from swaplib.train import CHECKPOINT, model_config, train_settings
from swaplib.train.data import Augmentation, Batches, FaceData, blur_out_mask
from swaplib.train.loop import FaceSets, Trainer
from swaplib.train.losses import StyleLosses, style_loss
from swaplib.train.state import StateFolder
from test_train import _face, _quick, _run, faces  # noqa: F401 (faces is a fixture)

R = 64
CFG = model_config("tiny")
STYLE = dict(face_style_power=10.0, bg_style_power=10.0)
ALL_ON = dict(face_style_power=1.0, bg_style_power=1.0, random_hsv_power=0.1, blur_out_mask=True)
STILL = dict(random_flip=False, random_warp=False, random_transform=False)  # samples as they are

pytestmark = pytest.mark.usefixtures("torch_one_thread")
log = logging.getLogger("swaplib.train")


def _data(name: str, skin, n: int = 4, noisy_background: bool = False) -> FaceData:
    rng = np.random.default_rng(len(name))
    crops = np.stack([_face(rng, skin, R) for _ in range(n)])
    masks = np.zeros((n, R, R), np.uint8)
    masks[:, 8:56, 12:52] = 255
    if noisy_background:  # detail outside the mask, for the blur to take away
        noise = rng.integers(-40, 40, crops.shape)
        crops = np.where(masks[..., None] > 0, crops, np.clip(crops + noise, 0, 255)).astype(np.uint8)
    return FaceData(name, crops, masks, None, None, [str(i) for i in range(n)])


SRC, DST = _data("src", (120, 160, 220)), _data("dst", (80, 110, 150))


def _batch(aug: Augmentation, src: FaceData = SRC, dst: FaceData = DST, iteration: int = 0) -> dict:
    return Batches(src, dst, 4, 0, aug, with_masks=True).batch(iteration)


# --------------------------------------------------------------------------- style losses


def test_style_loss_compares_colours_not_places():
    torch.manual_seed(0)
    a = torch.rand(2, 3, R, R)
    shuffled = a.flatten(2)[:, :, torch.randperm(R * R)].view_as(a)  # the same colours, elsewhere
    assert style_loss(a, shuffled) < 1e-6 < style_loss(a, a.flip(0))
    grey, white = torch.full((1, 3, 8, 8), 0.5), torch.ones(1, 3, 8, 8)
    assert style_loss(grey, white).item() == pytest.approx(0.25)  # the means' squared difference
    assert 0 < style_loss(grey, white, blur_sigma=4) < 0.25  # the blur's zeros outside the image count


def _step_gradients(tmp_path, **settings) -> tuple[Trainer, dict[str, torch.Tensor]]:
    """One real training step of a fresh tiny model on batch 0; its gradients by parameter name."""
    s = train_settings("tiny", iterations=1, batch_size=4, precision="fp32", **settings)
    face_sets = FaceSets(SRC, DST, True, None, {"src": SRC.ids, "dst": DST.ids})
    trainer = Trainer(CFG, s, face_sets, StateFolder(tmp_path / "state", log), torch.device("cpu"), log)
    assert trainer.step(_batch(Augmentation()), masked=True, eyes_mouth=False) is None
    return trainer, {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}


def test_style_losses_are_absent_at_power_0_and_change_the_gradients_when_on(tmp_path):
    assert StyleLosses.make(0.0, 0.0, R, "cpu") is None
    off, grads_off = _step_gradients(tmp_path / "off")
    assert not off.style
    for name, powers in (("face", dict(face_style_power=10.0)), ("bg", dict(bg_style_power=10.0))):
        on, grads_on = _step_gradients(tmp_path / name, **powers)
        assert on.style and on.run.history["src"][0] > off.run.history["src"][0]  # added to the source loss
        assert on.run.history["dst"] == off.run.history["dst"]
        changed = {n for n in grads_off if not torch.equal(grads_off[n], grads_on[n])}
        # the swap is dst faces through the src decoder: encoder, inter and decoder_src learn from it
        assert any(n.startswith("decoder_src.") for n in changed) and any(n.startswith("encoder.") for n in changed)
        assert not any(n.startswith("decoder_dst.") for n in changed), name


def test_style_losses_need_masks(faces, caplog):  # noqa: F811
    s = _quick(1, **STYLE, blur_out_mask=True)
    loaded = FaceSets.load(faces["src"], faces["dst"], s, R, None, None, log)
    assert not loaded.use_masks
    assert "face_style_power, bg_style_power, blur_out_mask asked for, but the face sets have no masks" in caplog.text


# --------------------------------------------------------------------------- augmentation


def test_random_hsv_shifts_only_the_source_input_within_dfl_bounds():
    src = _data("src", (60, 110, 160))  # mid tones: shifts of ±0.15 clip nowhere on the skin
    off = _batch(Augmentation(**STILL), src)
    assert all(np.array_equal(off[k], v) for k, v in _batch(Augmentation(**STILL, random_hsv_power=0.0), src).items())
    power = 0.3
    on = _batch(Augmentation(**STILL, random_hsv_power=power), src)
    assert set(on) == set(off) and all(np.array_equal(on[k], off[k]) for k in off if k != "src_in")
    assert np.array_equal(off["src_in"], off["src_target"]) and not np.array_equal(on["src_in"], off["src_in"])
    on_warped, off_warped = _batch(Augmentation(random_hsv_power=power)), _batch(Augmentation())
    assert all(np.array_equal(on_warped[k], off_warped[k]) for k in off if k != "src_in")  # same draws otherwise

    hue_turns = []
    for shifted, original in zip(on["src_in"], on["src_target"]):
        before, after = (cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_BGR2HSV) for x in (original, shifted))
        # pixels with a clear hue and nothing clipped: the shift is one turn and one move per image
        clear = (before[..., 1:] > 0.2).all(-1) & (before[..., 1:] < 0.8).all(-1)
        turn = (after[..., 0] - before[..., 0] + 180) % 360 - 180
        moves = after[..., 1:] - before[..., 1:]
        assert clear.sum() > 100
        assert np.ptp(turn[clear]) < 1.0 and np.ptp(moves[clear], axis=0).max() < 1e-3
        assert abs(turn[clear].mean()) <= 180 * power + 0.5  # DFL: whole degrees up to ±180·power
        assert np.abs(moves[clear].mean(0)).max() <= power / 2 + 1e-4  # saturation, value: up to ±power/2
        hue_turns.append(turn[clear].mean())
    assert np.ptp(hue_turns) > 1  # drawn per face

    with pytest.raises(SwaplibError, match="random_hsv_power must be 0..0.3"):
        Augmentation(random_hsv_power=0.5)
    with pytest.raises(SwaplibError, match="random_hsv_power must be within 0..0.3, got 0.5"):
        train_settings("tiny", random_hsv_power=0.5)
    with pytest.raises(SwaplibError, match="face_style_power must be within 0..100, got 101; bg_style_power .* got -1"):
        train_settings("tiny", face_style_power=101, bg_style_power=-1)


def test_blur_out_mask_blurs_the_targets_background_and_leaves_the_face():
    src, dst = _data("src", (120, 160, 220), noisy_background=True), _data("dst", (80, 110, 150), noisy_background=True)
    off = _batch(Augmentation(**STILL), src, dst)
    on = _batch(Augmentation(**STILL, blur_out_mask=True), src, dst)
    for side in ("src", "dst"):
        inside, outside = on[f"{side}_mask"] == 1, on[f"{side}_mask"] == 0
        target_on, target_off = on[f"{side}_target"], off[f"{side}_target"]
        assert np.array_equal(target_on[inside], target_off[inside])
        assert np.array_equal(on[f"{side}_in"], off[f"{side}_in"])  # the inputs are not blurred
        detail = lambda x: np.abs(np.stack([cv2.Laplacian(np.ascontiguousarray(im), cv2.CV_32F) for im in x]))
        assert detail(target_on)[outside].mean() < 0.7 * detail(target_off)[outside].mean()

    # the blur takes the outside alone: a bright face does not bleed into a dark background
    face = np.zeros((R, R, 3), np.float32)
    mask = np.zeros((R, R), np.float32)
    mask[:, : R // 2] = 1
    face[:, : R // 2] = 1.0
    face[:, R // 2 :] = np.random.default_rng(0).uniform(0, 0.2, (R, R - R // 2, 3))
    blurred = blur_out_mask(face, mask, sigma=2.0)
    assert np.array_equal(blurred[:, : R // 2], face[:, : R // 2]) and blurred[:, R // 2 :].max() <= 0.2
    assert blurred[:, R // 2 :].std() < 0.5 * face[:, R // 2 :].std()


# --------------------------------------------------------------------------- real training


def test_all_on_trains_resumes_exactly_and_continues_a_checkpoint_trained_without_them(faces, tmp_path,  # noqa: F811
                                                                                        caplog):
    masks = np.zeros((6, R, R), np.float32)
    masks[:, 10:54, 14:50] = 1
    run = lambda out, settings: _run(faces, out, settings, cfg=CFG, src_masks=masks, dst_masks=masks)
    straight = run(tmp_path / "straight", _quick(4, save_every=2, **ALL_ON))
    assert straight["iterations"] == 4 and straight["masks_trained"]
    assert torch.load(tmp_path / "straight" / "state" / CHECKPOINT, weights_only=True)["settings"]["blur_out_mask"]

    run(tmp_path / "resumed", _quick(2, save_every=2, **ALL_ON))
    resumed = run(tmp_path / "resumed", _quick(4, save_every=2, **ALL_ON))
    assert resumed["resumed_from"] == 2 and resumed["steps"] == 2
    assert (tmp_path / "resumed" / "history.csv").read_text() == (tmp_path / "straight" / "history.csv").read_text()

    caplog.set_level(logging.INFO, logger="swaplib.train")
    run(tmp_path / "late", _quick(2, save_every=2))  # trained without them, then turned on: it goes on
    late = run(tmp_path / "late", _quick(4, save_every=2, **ALL_ON))
    assert late["resumed_from"] == 2 and late["steps"] == 2 and "architecture changed" not in caplog.text
    assert "face_style_power 0.0 -> 1.0" in caplog.text and "blur_out_mask False -> True" in caplog.text
    run(tmp_path / "plain", _quick(4, save_every=2))
    history = lambda out: np.loadtxt(out / "history.csv", delimiter=",", skiprows=1)
    assert np.array_equal(history(tmp_path / "late")[:2], history(tmp_path / "plain")[:2])
    assert not np.array_equal(history(tmp_path / "late")[2:], history(tmp_path / "plain")[2:])


def test_pretraining_turns_the_style_losses_and_the_colour_shift_off(faces, tmp_path):  # noqa: F811
    out = tmp_path / "base"
    _run(faces, out, _quick(1, pretrain=True, **ALL_ON), cfg=CFG)
    settings = torch.load(out / "state" / CHECKPOINT, weights_only=True)["settings"]
    assert settings["face_style_power"] == settings["bg_style_power"] == settings["random_hsv_power"] == 0
    assert settings["blur_out_mask"]  # DFL keeps it in pretraining
