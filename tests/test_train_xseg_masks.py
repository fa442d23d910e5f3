"""train.masks xseg: the swap model trains on the segmentation model's masks (masks/{face_id}.png, as
xseg_masks writes them) instead of the landmark hulls: they are the face sets' masks, the learned
mask follows them, and missing masks stop the run naming what is missing. Real faces of two clips,
the tiny model."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.model import load_model, swap_faces
from swaplib.tables.faceset import selected_faces
from swaplib.train.data import face_set_data, load_face_data
from swaplib.train.loop import train_model
from test_train_recipe import real_face_sets  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("torch_one_thread")
R = 64


def write_top_masks(faceset, faces_dir, out):
    """A masks folder that calls only the top 55 % of each crop face (the hull reaches the chin)."""
    out.mkdir(exist_ok=True)
    faces = selected_faces(faceset)
    for face_id, name in zip(faces["face_id"], faces["file"]):
        size = cv2.imread(str(faces_dir / name)).shape[0]
        mask = np.zeros((size, size), np.uint8)
        mask[: int(0.55 * size)] = 255
        cv2.imwrite(str(out / f"{face_id}.png"), mask)
    return out


@pytest.fixture(scope="module")
def masks_dirs(real_face_sets):  # noqa: F811
    root, sets = real_face_sets
    return {side: write_top_masks(*sets[side], root / side / "masks") for side in ("src", "dst")}


def test_the_face_sets_masks_are_the_xseg_masks(real_face_sets, masks_dirs):  # noqa: F811
    _, sets = real_face_sets
    hull = face_set_data(*sets["src"], R)
    xseg = face_set_data(*sets["src"], R, masks_dirs["src"])
    assert xseg.paths == hull.paths and np.array_equal(xseg.em_masks, hull.em_masks)
    assert xseg.masks.shape == hull.masks.shape
    assert (xseg.masks[:, int(0.6 * R):] == 0).all() and (xseg.masks[:, : int(0.5 * R)] == 1).all()
    assert hull.masks[:, int(0.6 * R):].mean() > 0.2  # the hull reaches below


def test_a_missing_mask_stops_naming_the_file(real_face_sets, masks_dirs, tmp_path):  # noqa: F811
    _, sets = real_face_sets
    partial = tmp_path / "masks"
    partial.mkdir()
    files = sorted(masks_dirs["src"].glob("*.png"))
    for path in files[1:]:
        (partial / path.name).write_bytes(path.read_bytes())
    with pytest.raises(SwaplibError, match=f"XSeg masks: {partial / files[0].name}: missing or not a readable"):
        load_face_data(face_set_data(*sets["src"], R, partial), R, "src")


def _train(sets, out, **settings):
    return train_model(src=sets["src"], dst=[sets["dst"]], preset="tiny", iterations=60, batch_size=4, lr=5e-4,
                       threads=1, save_every=0, state_dir=out / "state", model_path=out / "model.safetensors",
                       preview_path=out / "preview.jpg", history_path=out / "loss.csv", plot_path=out / "loss.png",
                       **settings)


def test_train_masks_xseg_without_masks_stops(real_face_sets, tmp_path):  # noqa: F811
    _, sets = real_face_sets
    with pytest.raises(SwaplibError, match="train.masks xseg trains on the segmentation model's masks"):
        _train(sets, tmp_path, masks="xseg")
    with pytest.raises(SwaplibError, match="invalid training settings: masks 'learned' is not one of hull, xseg"):
        _train(sets, tmp_path, masks="learned")


def test_the_learned_mask_follows_the_xseg_masks(real_face_sets, masks_dirs, tmp_path, caplog):  # noqa: F811
    """60 steps each, hull against xseg masks from the same start: below the xseg masks' edge the
    model's own mask of the source faces is lower when it learned the xseg masks."""
    _, sets = real_face_sets
    caplog.set_level(logging.INFO, "swaplib.train")
    lower = {}
    for kind in ("hull", "xseg"):
        given = dict(src_masks=masks_dirs["src"], dst_masks=[masks_dirs["dst"]]) if kind == "xseg" else {}
        summary = _train(sets, tmp_path / kind, masks=kind, **given)
        assert summary["iterations"] == 60
        model, meta = load_model(tmp_path / kind / "model.safetensors")
        assert meta["settings"]["masks"] == kind
        crops = load_face_data(face_set_data(*sets["src"], R), R, "src").faces
        _, mask = swap_faces(model, crops, device="cpu")
        lower[kind] = float(mask[:, int(0.65 * R):int(0.85 * R), R // 4:3 * R // 4].mean())
    assert "face masks: the segmentation model's (train.masks xseg)" in caplog.text
    print(f"learned source mask below the xseg masks' edge after 60 steps: {lower}")
    assert lower["xseg"] < 0.7 * lower["hull"], lower
