"""XSeg training: exact resume, NaN rollback, a new network shape starting fresh, the model file and
masks; and the real occlusion: a hand over a face in a photo the model never saw labelled.

The occlusion test trains 300 steps at 64 px (about 1.5 min on 2 shared cores, one thread)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from swaplib.core.errors import SwaplibError
from swaplib.extract.stage import extract_faces
from swaplib.tables.faces import matrices_array, read_faces
from swaplib.train.state import CHECKPOINT
from swaplib.xseg.apply import load_xseg, predict, write_masks
from swaplib.xseg.data import load_sources, load_video
from swaplib.xseg.labels import to_resolution
from swaplib.xseg.settings import XSegSettings
from swaplib.xseg.train import XSegTrainer, train_xseg

CLIPS = ("lp_d12_man_glasses_talking", "lp_d20_young_man_talking", "lp_d3_woman_expressions",
         "lp_s18_woman_landscape_talking", "lp_d13_man_vertical_selfie")
FRAMES_PER_CLIP, FRAME_STEP = 8, 10

# The hand over the face in lp_d30_woman_hand_on_face.jpg (600 x 900), outlined by eye in frame
# pixels: fingertip at the cheek, down the index finger's edge along the jaw, under the chin, the
# wrist, and back up the hand's outer edge.
HAND = [(135, 282), (157, 290), (165, 298), (167, 310), (162, 327), (155, 340), (152, 350), (157, 370),
        (168, 383), (180, 393), (190, 400), (213, 413), (230, 420), (240, 430), (243, 450), (245, 483),
        (245, 520), (193, 520), (190, 477), (163, 450), (133, 417), (120, 393), (110, 363), (112, 350),
        (123, 330), (130, 303), (129, 287)]


@pytest.fixture(scope="module")
def clip_faces(tmp_path_factory, clip):
    """Kept faces of a few frames of each real clip (no photo of the hand among them)."""
    root = tmp_path_factory.mktemp("xseg_clips")
    sources = []
    for name in CLIPS:
        frames = root / name / "frames"
        frames.mkdir(parents=True)
        capture = cv2.VideoCapture(str(clip(name)))
        for number in range(FRAMES_PER_CLIP * FRAME_STEP):
            ok, frame = capture.read()
            assert ok
            if number % FRAME_STEP == 0:
                cv2.imwrite(str(frames / f"{number:06d}.png"), frame)
        extract_faces(frames, root / name / "faces", root / name / "faces.parquet", size=128,
                      face_type="whole_face", smooth=False)
        sources.append({"name": name, "table": root / name / "faces.parquet", "faces": root / name / "faces"})
    return sources


@pytest.fixture(scope="module")
def hand_photo(tmp_path_factory, photo):
    root = tmp_path_factory.mktemp("xseg_hand")
    (root / "frames").mkdir()
    cv2.imwrite(str(root / "frames" / "000000.png"), cv2.imread(str(photo("lp_d30_woman_hand_on_face"))))
    extract_faces(root / "frames", root / "faces", root / "faces.parquet", size=128, face_type="whole_face",
                  photos=True, fps=None)
    return root


def run(data, state, tmp_path, **settings):
    s = XSegSettings(**{"resolution": 32, "width": 4, "batch_size": 4, "save_every": 0, **settings})
    return train_xseg(data, s, state_dir=state, model_path=tmp_path / "model.safetensors",
                      preview_path=tmp_path / "preview.jpg", plot_path=tmp_path / "loss.png")


def weights(path):
    model, header = load_xseg(path)
    return {k: v.clone() for k, v in model.state_dict().items()}, header


def test_resume_is_exact(clip_faces, tmp_path, torch_one_thread):
    data = load_sources(clip_faces[:2], 32)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    whole = run(data, tmp_path / "whole", tmp_path / "a", iterations=12)
    first = run(data, tmp_path / "split", tmp_path / "b", iterations=7, save_every=3)
    second = run(data, tmp_path / "split", tmp_path / "b", iterations=12, save_every=3)
    assert first["resumed_from"] is None and second["resumed_from"] == 7 and whole["iterations"] == 12
    w_whole, header = weights(tmp_path / "a" / "model.safetensors")
    w_split, _ = weights(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(w_whole[k], w_split[k]) for k in w_whole), "a resumed run ends where an unbroken one does"
    assert header["iterations"] == 12 and header["model_config"]["kind"] == "xseg"
    assert (tmp_path / "b" / "preview.jpg").stat().st_size > 0 and (tmp_path / "b" / "loss.png").stat().st_size > 0
    again = run(data, tmp_path / "split", tmp_path / "b", iterations=12)  # done already: writes the outputs only
    assert again["resumed_from"] == 12 and again["ms_per_it"] is None


def test_a_nan_loss_rolls_back_and_training_goes_on(clip_faces, tmp_path, torch_one_thread, monkeypatch, caplog):
    data = load_sources(clip_faces[:1], 32)
    real_loss, calls = XSegTrainer.loss, []

    def nan_once(self, images, masks):
        calls.append(self.iteration)
        loss = real_loss(self, images, masks)
        return loss * math.nan if self.iteration == 5 and calls.count(5) == 1 else loss

    monkeypatch.setattr(XSegTrainer, "loss", nan_once)
    out = run(data, tmp_path / "state", tmp_path, iterations=8, save_every=4)
    assert out["rollbacks"] == 1 and out["iterations"] == 8
    assert "loss became nan at iteration 6: rolled back to iteration 4" in caplog.text


def test_nan_every_time_gives_up(clip_faces, tmp_path, torch_one_thread, monkeypatch):
    data = load_sources(clip_faces[:1], 32)
    monkeypatch.setattr(XSegTrainer, "loss", lambda self, images, masks: torch.tensor(math.nan))
    with pytest.raises(SwaplibError, match="giving up; lower xseg.lr"):
        run(data, tmp_path / "state", tmp_path, iterations=4)


def test_another_resolution_starts_fresh_and_keeps_the_old_checkpoint(clip_faces, tmp_path, torch_one_thread):
    run(load_sources(clip_faces[:1], 32), tmp_path / "state", tmp_path, iterations=3)
    out = run(load_sources(clip_faces[:1], 48), tmp_path / "state", tmp_path, iterations=3, resolution=48)
    assert out["resumed_from"] is None
    assert list((tmp_path / "state").glob("checkpoint.incompatible-*.pt"))
    assert (tmp_path / "state" / CHECKPOINT).exists()
    assert weights(tmp_path / "model.safetensors")[1]["model_config"]["resolution"] == 48


def test_masks_are_written_per_face_at_the_crop_size(clip_faces, tmp_path, torch_one_thread):
    run(load_sources(clip_faces[:1], 32), tmp_path / "state", tmp_path, iterations=2)
    source = clip_faces[0]
    write_masks(tmp_path / "model.safetensors", source["table"], source["faces"], tmp_path / "masks", device="cpu")
    faces = read_faces(source["table"])
    written = sorted(p.stem for p in (tmp_path / "masks").glob("*.png"))
    assert written == sorted(faces["face_id"])
    assert cv2.imread(str(tmp_path / "masks" / f"{written[0]}.png"), cv2.IMREAD_GRAYSCALE).shape == (128, 128)


def test_a_swap_model_file_is_not_taken_for_a_segmentation_model(tmp_path):
    from swaplib.model.build import build_model
    from swaplib.model.io import save_model
    from swaplib.train.settings import model_config

    save_model(tmp_path / "swap.safetensors", build_model(model_config("tiny")))
    with pytest.raises(SwaplibError, match="not a segmentation model file"):
        load_xseg(tmp_path / "swap.safetensors")


def hand_shares(model, photo_root) -> dict:
    """Shares of the outlined hand and of the visible face (the hull less the hand) that each mask calls face."""
    size = model.cfg.resolution
    data = load_video(photo_root / "faces.parquet", photo_root / "faces", None, size, "photo")
    faces = read_faces(photo_root / "faces.parquet")
    matrix = to_resolution(matrices_array(faces)[0], faces["size"].iloc[0], size)
    points = np.array(HAND, float) @ matrix[:, :2].T + matrix[:, 2]
    hand = cv2.fillPoly(np.zeros((size, size), np.uint8), [np.round(points * 16).astype(np.int32)], 1, shift=4) > 0
    hull = data.masks[0] > 0.5
    xseg = predict(model, data.images)[0] > 0.5
    visible = hull & ~hand
    return {"hand_px": int(hand.sum()), "hull_on_hand": float(hull[hand].mean()),
            "xseg_on_hand": float(xseg[hand].mean()), "xseg_on_hand_in_hull": float(xseg[hand & hull].mean()),
            "xseg_on_visible_face": float(xseg[visible].mean()), "hull_on_visible_face": 1.0}


def test_the_mask_leaves_out_a_real_hand(clip_faces, hand_photo, tmp_path, torch_one_thread, capsys):
    """Trained on clips with synthetic occluders only (no label of this photo, nor the photo itself)."""
    data = load_sources(clip_faces, 64)
    out = run(data, tmp_path / "state", tmp_path, iterations=300, resolution=64, width=8, batch_size=8)
    model, _ = load_xseg(tmp_path / "model.safetensors")
    shares = hand_shares(model, hand_photo)
    with capsys.disabled():
        print(f"\nxseg occlusion shares after {out['iterations']} steps: {shares}")
    # The landmark hull takes in part of the hand (dlib puts this face's jaw points on the hand's
    # edge, so that part is small: ~7 % of the hand at 64 px, ~27 px). What is robust after 300 cheap
    # steps: the trained mask takes in less of the hand than the hull, and keeps most of the visible
    # face. How much of the hand inside the hull it leaves out varies run to run on so few pixels
    # (a third to three quarters here), so it is reported above, not asserted.
    assert shares["hull_on_hand"] > 0.03
    assert shares["xseg_on_hand"] < shares["hull_on_hand"]
    assert shares["xseg_on_visible_face"] > 0.85


def test_config_schema_and_settings_agree():
    from settings_agreement import assert_agreement

    assert_agreement("xseg", XSegSettings)
