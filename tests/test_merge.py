"""Merge on real frames with a (briefly) trained tiny model: swapped where a face is, untouched elsewhere."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from swaplib.color import reinhard, transfer
from swaplib.detect import make_detector
from swaplib.errors import SwaplibError
from swaplib.faces import extract_faces, read_faces
from swaplib.merge import blend, feather, merge_video
from swaplib.model import model_config
from swaplib.train import TrainSettings, train


def hide_faces_in_2_and_4(i, frame):
    if i in (2, 4):
        frame[:] = 90  # no face here: must pass through unchanged
    return frame


@pytest.fixture(scope="module")
def scene(tmp_path_factory, write_frames):
    """6 real destination frames (two of them with the face hidden), their faces, a tiny model."""
    root = tmp_path_factory.mktemp("merge")
    frames = write_frames("lp_d20_young_man_talking", root / "frames", 6, hide_faces_in_2_and_4)
    extract_faces(frames, root / "faces", root / "faces.parquet", detector=make_detector("dlib", upsample=0), size=64, face_type="whole_face")
    crops = sorted((root / "faces").glob("*.png"))
    train(
        crops, crops, model_config("tiny"), TrainSettings(iterations=3, batch_size=2, lr=1e-3),
        state_dir=root / "state", model_path=root / "model.pt", preview_path=root / "preview.jpg",
        history_path=root / "loss.csv", plot_path=root / "loss.png", log=logging.getLogger("test"),
    )
    return root


@pytest.mark.parametrize("mode", ["overlay", "seamless"])
def test_faces_are_replaced_and_faceless_frames_pass_through(scene, mode, tmp_path):
    out = tmp_path / "merged"
    summary = merge_video(scene / "frames", scene / "faces.parquet", scene / "model.pt", out, mode=mode)
    assert summary == {"frames": 6, "swapped": 4}
    faces = read_faces(scene / "faces.parquet")
    for i in range(6):
        original = (scene / "frames" / f"{i:06d}.png").read_bytes()
        merged = (out / f"{i:06d}.png").read_bytes()
        if i in (2, 4):
            assert merged == original
            continue
        a, b = (cv2.imread(str(p)).astype(np.int16) for p in (scene / "frames" / f"{i:06d}.png", out / f"{i:06d}.png"))
        row = faces[faces["frame"] == i].iloc[0]
        x0, y0, x1, y1 = (int(v) for v in (row.box_x0, row.box_y0, row.box_x1, row.box_y1))
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        assert np.abs(a - b)[cy - 10 : cy + 10, cx - 10 : cx + 10].mean() > 3  # face centre changed
        assert np.abs(a - b)[:10, :10].max() == 0  # a far corner did not


def test_original_mode_copies_every_frame(scene, tmp_path):
    merge_video(scene / "frames", scene / "faces.parquet", scene / "model.pt", tmp_path / "m", mode="original")
    for path in (scene / "frames").glob("*.png"):
        assert (tmp_path / "m" / path.name).read_bytes() == path.read_bytes()


def test_bad_settings_and_missing_model_are_named(scene, tmp_path):
    with pytest.raises(SwaplibError, match="unknown merge mode 'blend'"):
        merge_video(scene / "frames", scene / "faces.parquet", scene / "model.pt", tmp_path / "m", mode="blend")
    with pytest.raises(SwaplibError, match="model file not found"):
        merge_video(scene / "frames", scene / "faces.parquet", tmp_path / "none.pt", tmp_path / "m")
    assert not (tmp_path / "m").exists()
    with pytest.raises(SwaplibError, match="unknown colour transfer"):
        transfer("lct", np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8))


def test_reinhard_matches_target_statistics_inside_the_mask():
    rng = np.random.default_rng(0)
    source = rng.integers(0, 120, (32, 32, 3), dtype=np.uint8)
    target = rng.integers(100, 255, (32, 32, 3), dtype=np.uint8)
    out = reinhard(source, target, np.ones((32, 32), np.float32))
    lab = lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    assert np.allclose(lab(out).mean(0), lab(target).mean(0), atol=3)


def test_feather_softens_edges_and_erode_shrinks():
    mask = np.zeros((100, 100), np.float32)
    mask[20:80, 20:80] = 1
    soft = feather(mask, erode=0.0, blur=0.2)
    assert soft[50, 50] > 0.99 and 0 < soft[50, 22] < 1 and soft.max() <= 1
    shrunk = feather(mask, erode=0.1, blur=0.0)
    assert shrunk.sum() < mask.sum() and shrunk[50, 50] == 1
    grown = feather(mask, erode=-0.1, blur=0.0)
    assert grown.sum() > mask.sum()


def test_blend_uses_the_mask():
    frame = np.zeros((8, 8, 3), np.uint8)
    face = np.full((8, 8, 3), 200, np.uint8)
    mask = np.zeros((8, 8), np.float32)
    mask[2:6, 2:6] = 1
    out = blend(frame, face, mask, "overlay")
    assert out[3, 3, 0] == 200 and out[0, 0, 0] == 0
