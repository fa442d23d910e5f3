"""DFL's training recipe: batches (deterministic, epochs, uniform yaw, masks), colour transfer of src
samples, eyes-and-mouth masks, AdaBelief/RMSprop with lr dropout, pretraining, LIAE without warp,
and a few dozen real steps on real face crops through the workflow's entry point."""

from __future__ import annotations

import copy
import logging

import cv2
import numpy as np
import pytest
import torch

from swaplib.extract.align import mean_face
from swaplib.model import build_model, load_model
from swaplib.train import CHECKPOINT, model_config, train, train_model
from swaplib.train.data import Augmentation, Batches, BatchLoader, FaceData, eyes_mouth_mask, yaw_estimate
from swaplib.train.optim import AdaBelief, RMSprop, make_optimizer
from test_train import _face, _quick, _run, faces  # noqa: F401 (faces is a fixture)

R = 32


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _data(name: str, skin, n: int = 5, yaw=None) -> FaceData:
    rng = np.random.default_rng(len(name))
    crops = np.stack([cv2.resize(_face(rng, skin), (R, R), interpolation=cv2.INTER_AREA) for _ in range(n)])
    masks = np.zeros((n, R, R), np.uint8)
    masks[:, 4:28, 6:26] = 255
    em = np.zeros((n, R, R), np.uint8)
    em[:, 10:14, 8:24] = 255
    yaw = None if yaw is None else np.asarray(yaw, np.float32)
    return FaceData(name, crops, masks, em, yaw, [str(i) for i in range(n)])


def test_landmark_masks_and_yaw():
    lm = mean_face(64, "whole_face")
    em = eyes_mouth_mask(lm, 64)
    for point in (lm[36:42].mean(0), lm[42:48].mean(0), lm[48:60].mean(0)):  # eye and mouth centres
        assert em[int(point[1]), int(point[0])] > 0.5
    assert em[int(lm[33][1]), int(lm[2][0])] == 0 and em[2, 2] == 0  # a cheek, a corner
    assert abs(yaw_estimate(lm[None])[0]) < 5  # the template looks straight ahead
    turned = lm.copy()
    turned[27:36, 0] += 8  # the nose moved towards one side
    assert yaw_estimate(turned[None])[0] > 15


def test_batches_are_a_function_of_seed_and_iteration_and_cover_every_face_per_epoch():
    src, dst = _data("src", (120, 160, 220)), _data("dst", (80, 110, 150))
    batches = Batches(src, dst, batch_size=2, seed=3, aug=Augmentation(), with_masks=True)
    a, b = batches.batch(4), batches.batch(4)
    assert set(a) == {f"{s}_{k}" for s in ("src", "dst") for k in ("in", "target", "mask", "loss_mask", "em")}
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["src_in"], batches.batch(5)["src_in"])
    assert not np.array_equal(a["src_in"], batches.batch(4, attempt=1)["src_in"])  # after a rollback: new draws
    assert a["src_in"].shape == (2, R, R, 3) and a["src_in"].dtype == np.float32 and a["src_mask"].shape == (2, R, R)
    assert 0 <= a["src_in"].min() and a["src_in"].max() <= 1
    drawn = np.concatenate([batches.indices("src", i) for i in range(5)])  # 10 draws of 5 faces: 2 epochs
    assert sorted(drawn) == sorted(list(range(5)) * 2)
    # the loss mask: the face mask blurred and widened, so the face edge still counts fully
    assert (a["src_loss_mask"] >= a["src_mask"] - 1e-6).all() and a["src_loss_mask"].max() <= 1

    with BatchLoader(batches, workers=2, prefetch=3) as loader:  # made ahead in threads: the same batches
        for i in (0, 1, 2, 7, 8):  # a jump (as after a rollback) starts over
            assert all(np.array_equal(loader.get(i)[k], batches.batch(i)[k]) for k in a)


def test_uniform_yaw_draws_rare_profiles_as_often_as_frontal_faces():
    yaw = [0.0] * 9 + [60.0]
    src = _data("src", (120, 160, 220), n=10, yaw=yaw)
    even = Batches(src, src, batch_size=8, seed=0, aug=Augmentation(uniform_yaw=True), with_masks=True)
    share = np.mean([np.mean(even.indices("src", i) == 9) for i in range(200)])
    assert 0.4 < share < 0.6  # one face alone in its yaw bin: half the draws (1/10 without uniform yaw)


@pytest.mark.parametrize("mode", ["rct", "lct", "mkl", "idt", "sot"])
def test_ct_mode_moves_source_colours_towards_the_destination(mode):
    src, dst = _data("src", (200, 200, 60)), _data("dst", (60, 90, 220))
    plain = Augmentation(random_flip=False, random_warp=False, random_transform=False)
    base = Batches(src, dst, 4, 0, plain, with_masks=True).batch(0)
    moved = Batches(src, dst, 4, 0, Augmentation(False, False, False, ct_mode=mode), with_masks=True).batch(0)
    inside = base["src_mask"] > 0.5
    target = dst.faces[..., :].astype(np.float32)[dst.masks > 127].mean(0) / 255
    before = np.abs(base["src_target"][inside].mean(0) - target).sum()
    after = np.abs(moved["src_target"][inside].mean(0) - target).sum()
    assert after < 0.5 * before, (before, after)
    assert np.array_equal(moved["dst_target"], base["dst_target"])  # only src samples are recoloured
    assert np.array_equal(moved["src_in"], moved["src_target"])  # input and target alike


def test_optimizers_follow_dfl():
    torch.manual_seed(0)
    w0, g = torch.randn(50), torch.randn(50)
    for cls, expected in (
        (AdaBelief, lambda: w0 - 1e-2 * (0.1 * g) / (torch.sqrt(0.001 * (g - 0.1 * g) ** 2) + 1e-6)),
        (RMSprop, lambda: w0 - 1e-2 * g / (torch.sqrt(0.1 * g**2) + 1e-6)),
    ):
        w = torch.nn.Parameter(w0.clone())
        opt = cls([w], lr=1e-2, fused=False)
        w.grad = g.clone()
        opt.step()
        assert torch.allclose(w.detach(), expected(), atol=1e-6), cls
        assert opt.state_dict()["param_groups"][0]["step"] == 1

    w = torch.nn.Parameter(torch.zeros(10000))
    opt = make_optimizer("rmsprop", [w], lr=1e-3, lr_dropout=0.3, fused=False)
    w.grad = torch.ones(10000)
    opt.step()
    assert 0.27 < (w != 0).float().mean() < 0.33  # DFL's lr dropout: ~30 % of the weights move per step

    w = torch.nn.Parameter(torch.zeros(3))
    opt = make_optimizer("adabelief", [w], lr=1e-3, lr_cos=4, fused=False)
    for _ in range(3):
        w.grad = torch.ones(3)
        before = w.detach().clone()
        opt.step()
    assert torch.equal(w.detach(), before)  # step 2 of a 4-step cosine: lr · (cos π + 1)/2 = 0


def test_fused_update_matches_the_op_by_op_update():
    """The compiled one-kernel update (the default) computes what the plain PyTorch ops compute,
    lr-dropout masks included, on plain and channels_last weights."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 3), torch.nn.Linear(30, 5000))
    net = net.to(memory_format=torch.channels_last)
    twin = copy.deepcopy(net)
    fused = make_optimizer("rmsprop", net.parameters(), 1e-3, lr_dropout=0.3, fused=True)
    plain = make_optimizer("rmsprop", twin.parameters(), 1e-3, lr_dropout=0.3, fused=False)
    for _ in range(2):
        for a, b in zip(net.parameters(), twin.parameters()):
            a.grad = torch.randn_like(a)
            b.grad = a.grad.clone()
        rng = torch.get_rng_state()  # the same dropout seeds for both
        fused.step()
        torch.set_rng_state(rng)
        plain.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        assert torch.allclose(a, b, atol=1e-7), (a - b).abs().max()
    assert 0.4 < (twin[1].weight != 0).float().mean() and fused.state_dict()["param_groups"][0]["step"] == 2


def test_pretraining_then_training_keeps_encoder_and_decoders(faces, tmp_path, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, logger="swaplib.train")
    out = tmp_path / "out"
    _run(faces, out, _quick(4, pretrain=True))
    pretrained = torch.load(out / "state" / CHECKPOINT, weights_only=True)
    assert pretrained["pretrain"] and pretrained["settings"]["random_warp"] is False
    summary = _run(faces, out, _quick(3))
    assert "pretrained model (4 iterations) found: training starts at iteration 0" in caplog.text
    assert summary["iterations"] == 3 and summary["resumed_from"] is None
    assert not torch.load(out / "state" / CHECKPOINT, weights_only=True)["pretrain"]


def test_liae_without_random_warp_leaves_inter_ab_as_it_is(faces, tmp_path):  # noqa: F811
    cfg = model_config("tiny", resolution=R, archi="liae-ud")
    _run(faces, tmp_path, _quick(3, random_warp=False), cfg=cfg)
    trained, _ = load_model(tmp_path / "model.safetensors")
    torch.manual_seed(0)
    initial = build_model(cfg)
    pairs = zip(trained.inter_AB.state_dict().values(), initial.inter_AB.state_dict().values())
    assert all(torch.equal(a, b) for a, b in pairs)
    assert not torch.equal(trained.inter_B.dense1.weight, initial.inter_B.dense1.weight)


@pytest.fixture(scope="module")
def real_face_sets(tmp_path_factory, write_frames):
    """Face sets of two real people: a few frames each, faces extracted at 64 px and sorted."""
    from swaplib.extract.detect.backends import make_detector
    from swaplib.extract.stage import extract_faces
    from swaplib.sort.stage import build_faceset

    root = tmp_path_factory.mktemp("real")
    sets = {}
    for side, clip in (("src", "lp_d12_man_glasses_talking"), ("dst", "lp_d20_young_man_talking")):
        frames = write_frames(clip, root / side / "frames", 8)
        extract_faces(frames, root / side / "faces", root / side / "faces.parquet",
                      detector=make_detector("dlib", upsample=0), size=64, face_type="whole_face")
        build_faceset(root / side / "faces.parquet", root / side / "faces", root / side / "faceset.parquet",
                      min_face_px=0, blur_keep=1.0)
        sets[side] = (root / side / "faceset.parquet", root / side / "faces")
    return root, sets


def test_real_faces_learn_with_the_dfl_recipe(real_face_sets):
    root, sets = real_face_sets
    out = root / "out"
    summary = train_model(
        src=sets["src"], dst=[sets["dst"]], preset="tiny", iterations=40, batch_size=4, lr=5e-4,
        masked_training=True, eyes_mouth_prio=True, ct_mode="rct", uniform_yaw=True, threads=1, save_every=20,
        state_dir=out / "state", model_path=out / "model.safetensors", preview_path=out / "preview.jpg",
        history_path=out / "loss.csv", plot_path=out / "loss.png",
    )
    assert summary["iterations"] == 40 and summary["masks_trained"]
    history = np.loadtxt(out / "loss.csv", delimiter=",", skiprows=1)
    for col in (1, 2):
        assert history[-10:, col].mean() < 0.85 * history[:5, col].mean(), history[:, col]
    preview, plot = cv2.imread(str(out / "preview.jpg")), cv2.imread(str(out / "loss.png"))
    assert preview is not None and preview.shape[0] == 8 * 64 and plot is not None and plot.std() > 0
    _, meta = load_model(out / "model.safetensors")
    assert meta["face_type"] == "whole_face" and meta["masks_trained"]
    assert meta["settings"]["eyes_mouth_prio"] and meta["settings"]["ct_mode"] == "rct"
    assert meta["faces"]["src"] and all(i.startswith("src/") for i in meta["faces"]["src"])


def test_train_accepts_arrays_only_sets(tmp_path, faces):  # noqa: F811
    """The library entry takes plain crop lists too (what merge's tests use)."""
    summary = train(faces["src"], faces["dst"], model_config("tiny", resolution=R), _quick(2), state_dir=tmp_path / "s",
                    model_path=tmp_path / "m.safetensors", preview_path=tmp_path / "p.jpg",
                    history_path=tmp_path / "h.csv", plot_path=tmp_path / "l.png")
    assert summary["iterations"] == 2
