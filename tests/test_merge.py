"""Merge on real frames with a (briefly) trained tiny model: every mode, mask and colour transfer,
faithful frames, the merge report, frame-range overrides, and the checks on the model."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO
from settings_agreement import assert_agreement
from swaplib.core.color import COLOR_TRANSFERS
from swaplib.core.errors import SwaplibError
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.stage import extract_faces
from swaplib.merge import masks
from swaplib.merge.frame import Face, frame_faces, merge_frame, predict_faces
from swaplib.merge.settings import MODES, SHARPEN, MergeSettings, merge_settings, read_overrides
from swaplib.merge.stage import merge_video
from swaplib.model import PRECISIONS, build_model, load_model
from swaplib.model import save_model as write_model
from swaplib.tables.faces import landmarks_array, read_faces
from swaplib.train.settings import model_config

FACELESS = (2, 4)  # frames whose face is painted over: they must pass through unchanged


def hide_faces(i, frame):
    if i in FACELESS:
        frame[:] = 90
    return frame


def save_model(path, **meta):
    """An untrained tiny model as train writes it (merging does not care how well it draws)."""
    torch.manual_seed(0)
    write_model(path, build_model(model_config("tiny")), **{"iterations": 0, "masks_trained": True, **meta})
    return path


@pytest.fixture(scope="module")
def scene(tmp_path_factory, write_frames):
    """6 real destination frames (two without a face), their faces, a tiny model."""
    root = tmp_path_factory.mktemp("merge")
    frames = write_frames("lp_d20_young_man_talking", root / "frames", 6, hide_faces)
    extract_faces(frames, root / "faces", root / "faces.parquet", detector=make_detector("dlib-hog", upsample=0),
                  size=64, face_type="whole_face")
    save_model(root / "model.safetensors")
    return root


def run(scene, out, **settings):
    """merge_video on the scene; returns the report (also written to out.json)."""
    report = merge_video(scene / "frames", scene / "faces.parquet", scene / "model.safetensors", out,
                               report=out.with_suffix(".json"), **settings)
    assert json.loads(out.with_suffix(".json").read_text()) == report
    return report


def image(path) -> np.ndarray:
    return cv2.imread(str(path)).astype(np.int16)


@pytest.fixture(scope="module")
def predicted_frame(scene):
    """The first frame and its faces with the model's predictions (both learned masks)."""
    model, _ = load_model(scene / "model.safetensors")
    table = read_faces(scene / "faces.parquet")
    frame = cv2.imread(str(scene / "frames" / "000000.png"))
    faces = frame_faces(frame, table[table["frame"] == 0], model.cfg.resolution)
    predict_faces(model, faces, dst_masks=True, device="cpu")
    return frame, faces


def face_region(frame, faces) -> np.ndarray:
    """The destination face's landmark hull in the frame, shrunk a little (surely swapped)."""
    hull = masks.hull_masks(faces[0].landmarks[None], max(frame.shape))[0][: frame.shape[0], : frame.shape[1]]
    return cv2.erode(hull, np.ones((15, 15), np.uint8)) > 0


# ----------------------------------------------------------------------------------- every mode


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_with_every_mask_and_colour_transfer(predicted_frame, mode):
    frame, faces = predicted_frame
    inside = face_region(frame, faces)
    combos = [(mask, "rct") for mask in masks.MASKS] + [("dst", ct) for ct in COLOR_TRANSFERS if ct != "rct"]
    for mask, ct in combos:
        result = merge_frame(frame, faces, MergeSettings(mode=mode, mask=mask, color_transfer=ct))
        assert not result.failures, (mask, ct, result.failures)
        if mode == "raw-predict":  # the model's face itself, at the model's resolution
            assert result.image is faces[0].predicted
        elif mode == "original":
            assert result.image is frame and result.swapped == 0
        else:
            assert result.image.shape == frame.shape and result.image.dtype == np.uint8 and result.swapped == 1
            changed = np.abs(result.image.astype(int) - frame).max(2)
            assert changed[inside].mean() > 0.5, (mode, mask, ct)  # the untrained masks are faint (~0.5)


def test_a_colour_transfer_moves_the_pasted_face_towards_the_destination(predicted_frame):
    frame, faces = predicted_frame
    inside = face_region(frame, faces)
    mean = lambda im: im[inside].reshape(-1, 3).mean(0)
    plain = merge_frame(frame, faces, MergeSettings(color_transfer="none")).image
    matched = merge_frame(frame, faces, MergeSettings(color_transfer="rct")).image
    assert np.linalg.norm(mean(matched) - mean(frame)) < 0.5 * np.linalg.norm(mean(plain) - mean(frame))


def test_post_processing_options_change_the_output(predicted_frame):
    frame, faces = predicted_frame
    base = merge_frame(frame, faces, MergeSettings()).image
    inside = face_region(frame, faces)
    moving = [Face(**{**vars(faces[0]), "motion": (12.0, 0.0)})]
    for name, settings, where in [
        ("motion blur", MergeSettings(motion_blur=100), inside),
        ("box sharpen", MergeSettings(sharpen="box", sharpen_amount=5), inside),
        ("gaussian sharpen", MergeSettings(sharpen="gaussian", sharpen_amount=5), inside),
        ("blur by negative amount", MergeSettings(sharpen="box", sharpen_amount=-30), inside),
        ("denoise", MergeSettings(denoise=100), ~inside),
        ("bicubic degrade", MergeSettings(bicubic_degrade=50), ~inside),
        ("colour degrade", MergeSettings(color_degrade=100), inside),
    ]:
        out = merge_frame(frame, moving, settings).image
        assert np.abs(out.astype(int) - base)[where].mean() > 0.5, name
    bigger = merge_frame(frame, faces, MergeSettings(face_scale=30)).image
    smaller = merge_frame(frame, faces, MergeSettings(face_scale=-30)).image
    changed = lambda out: (np.abs(out.astype(int) - frame).max(2) > 0).sum()
    assert changed(smaller) < changed(base) < changed(bigger)


def test_a_broken_face_is_reported_not_swapped(predicted_frame):
    frame, faces = predicted_frame
    broken = Face(**{**vars(faces[0]), "matrix": np.full((2, 3), np.nan)})
    shift = np.linalg.solve(faces[0].matrix[:, :2], [5000.0, 0.0])  # the same face, moved far out of the frame
    far = Face(**{**vars(faces[0]), "face_id": "far", "landmarks": faces[0].landmarks - shift,
                        "matrix": faces[0].matrix + [[0, 0, 5000], [0, 0, 0]]})
    result = merge_frame(frame, [broken, far], MergeSettings())
    assert result.image is frame and result.swapped == 0
    assert [reason.split(":")[0] for _, reason in result.failures] == ["bad transform", "face outside the frame"]
    eroded_away = merge_frame(frame, faces, MergeSettings(erode=0.5)).failures
    assert eroded_away and eroded_away[0][1].startswith("empty mask")


# ----------------------------------------------------------------------------------- whole videos


def test_faces_are_replaced_faceless_frames_pass_through_and_the_report_counts(scene, tmp_path):
    out = tmp_path / "merged"
    report = run(scene, out, threads=2)
    faces = read_faces(scene / "faces.parquet")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (scene / "frames").iterdir())
    assert (report["frames"], report["with_face"], report["without_face"], report["swapped"], report["failed"]) == (
        6, 4, 2, 4, 0)
    assert report["faces_swapped"] == len(faces) and report["failures"] == []
    assert report["settings"] == MergeSettings().to_dict() and len(report["model"]["sha256"]) == 64
    for i in range(6):
        original, merged = scene / "frames" / f"{i:06d}.png", out / f"{i:06d}.png"
        if i in FACELESS:
            assert merged.read_bytes() == original.read_bytes()
        else:
            assert np.abs(image(original) - image(merged)).max() > 0
    serial = tmp_path / "serial"
    run(scene, serial, threads=1)
    assert all((serial / p.name).read_bytes() == p.read_bytes() for p in out.iterdir())  # threads change nothing


@pytest.mark.parametrize("mode", ["overlay", "seamless"])
def test_pixels_outside_the_dilated_mask_are_the_destinations(scene, tmp_path, mode):
    out = tmp_path / "merged"
    run(scene, out, mode=mode, blur=0.1)
    faces = read_faces(scene / "faces.parquet")
    for row, landmarks in zip(faces.itertuples(), landmarks_array(faces)):
        original, merged = image(scene / "frames" / f"{row.frame:06d}.png"), image(out / f"{row.frame:06d}.png")
        hull = masks.hull_masks(landmarks[None], max(original.shape))[0][: original.shape[0], : original.shape[1]]
        # The feathered edge spreads at most ~1.6 blur sigmas past the hull; 0.1 face size covers it.
        reach = int(0.1 * np.sqrt(hull.sum())) + 3
        near = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)) > 0
        assert np.array_equal(merged[~near], original[~near])
        assert np.abs(merged - original)[hull > 0].mean() > 3


def test_original_mode_copies_every_frame(scene, tmp_path):
    report = run(scene, tmp_path / "m", mode="original")
    assert report["swapped"] == 0 and report["failed"] == 0
    for path in (scene / "frames").glob("*.png"):
        assert (tmp_path / "m" / path.name).read_bytes() == path.read_bytes()


def test_raw_predict_writes_the_prediction_of_every_frame(scene, tmp_path):
    run(scene, tmp_path / "m", mode="raw-predict")
    sizes = {cv2.imread(str(p)).shape for p in (tmp_path / "m").iterdir()}
    assert sizes == {(64, 64, 3)}  # faceless frames are black crops: one size for the video
    assert cv2.imread(str(tmp_path / "m" / "000002.png")).max() == 0


def test_bf16_merge_matches_fp32_within_rounding(scene, tmp_path):
    # raw-predict: the model's own pixels (a colour transfer would magnify the flat untrained faces' rounding)
    fp32, bf16 = (run(scene, tmp_path / p, precision=p, mode="raw-predict") for p in ("fp32", "bf16"))
    assert (fp32["precision"], bf16["precision"]) == ("fp32", "bf16")
    assert fp32["swapped"] == bf16["swapped"] > 0
    for path in sorted((tmp_path / "fp32").iterdir()):
        assert np.abs(image(path) - image(tmp_path / "bf16" / path.name)).max() <= 2


def test_failed_and_left_out_faces_are_listed_with_reasons(scene, tmp_path):
    table = read_faces(scene / "faces.parquet", kept_only=False)
    broken = table.copy()
    broken.loc[broken["frame"] == 1, "matrix"] = pd.Series([[np.nan] * 6] * int((broken["frame"] == 1).sum()),
                                                           index=broken.index[broken["frame"] == 1])
    broken.loc[broken["frame"] == 3, ["kept", "left_out"]] = [False, "not the reference person"]
    broken.to_parquet(tmp_path / "faces.parquet", index=False)
    out = tmp_path / "merged"
    report = merge_video(scene / "frames", tmp_path / "faces.parquet", scene / "model.safetensors", out)
    assert (report["swapped"], report["failed"]) == (2, 2)
    reasons = {f["frame"]: f["reason"] for f in report["failures"]}
    assert reasons["000001.png"].startswith("bad transform")
    assert reasons["000003.png"] == "no face kept (not the reference person)"
    for i in (1, 3):  # written, as the destination frame, never dropped
        assert (out / f"{i:06d}.png").read_bytes() == (scene / "frames" / f"{i:06d}.png").read_bytes()


# ----------------------------------------------------------------------------------- overrides


def test_a_frame_range_override_changes_only_its_frames(scene, tmp_path):
    sheet = tmp_path / "p.tsv"
    sheet.write_text("first_frame\tlast_frame\tsetting\tvalue\n"
                     "# colour first, then frame 5 shows the destination\n"
                     "0\t1\tcolor_transfer\tnone\n5\t5\tmode\toriginal\n")
    plain, changed = tmp_path / "plain", tmp_path / "changed"
    run(scene, plain)
    report = run(scene, changed, overrides=sheet)
    assert [(r["first"], r["last"], r["setting"], r["value"]) for r in report["overrides"]["rows"]] == [
        (0, 1, "color_transfer", "none"), (5, 5, "mode", "original")]
    same = lambda a, b: a.read_bytes() == b.read_bytes()
    assert not same(plain / "000000.png", changed / "000000.png")
    assert not same(plain / "000001.png", changed / "000001.png")
    assert all(same(plain / f"{i:06d}.png", changed / f"{i:06d}.png") for i in (2, 3, 4))
    assert same(scene / "frames" / "000005.png", changed / "000005.png")


@pytest.mark.parametrize("row, message", [
    ("0\t3\tmode\tblend", "line 2: invalid merge settings: mode 'blend' is not one of"),
    ("0\t3\tblur\tsoft", "line 2: blur needs a float value, got 'soft'"),
    ("0\t3\tsharpness\t2", "line 2: 'sharpness' is not a setting a frame range can change"),
    ("0\t3\tprecision\tfp32", "line 2: 'precision' is not a setting a frame range can change"),
    ("5\t3\tblur\t0.2", "line 2: frame range 5..3 is empty"),
    ("0\t3\tmode\traw-predict", "line 2: mode raw-predict writes face crops"),
    ("0\t3\tblur", "line 2: needs 4 tab-separated cells, found 3"),
])
def test_override_sheet_errors_name_the_file_and_line(tmp_path, row, message):
    sheet = tmp_path / "p.tsv"
    sheet.write_text(f"first_frame\tlast_frame\tsetting\tvalue\n{row}\n")
    with pytest.raises(SwaplibError, match=f"{sheet}: {message}"):
        read_overrides(sheet, MergeSettings())
    sheet.write_text("from\tto\tsetting\tvalue\n")
    with pytest.raises(SwaplibError, match="starts with the tab-separated header"):
        read_overrides(sheet, MergeSettings())


# ----------------------------------------------------------------------------------- checks


def test_learned_masks_refuse_a_model_whose_mask_decoder_was_not_trained(scene, tmp_path):
    untrained = save_model(tmp_path / "model.safetensors", masks_trained=False)
    with pytest.raises(SwaplibError, match=f"{untrained}: merge mask 'learned-prd' uses the model's learned mask.*"
                                           "not trained"):
        merge_video(scene / "frames", scene / "faces.parquet", untrained, tmp_path / "m", mask="learned-prd")
    merge_video(scene / "frames", scene / "faces.parquet", untrained, tmp_path / "m", mask="dst")  # fine


def test_a_model_of_another_face_type_stops_with_both_named(scene, tmp_path):
    head = save_model(tmp_path / "model.safetensors", face_type="head")
    with pytest.raises(SwaplibError, match=f"{head}: the model was trained on head faces but "
                                           f"{scene / 'faces.parquet'} has whole_face faces"):
        merge_video(scene / "frames", scene / "faces.parquet", head, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_stale_tables_bad_settings_and_missing_models_are_named(scene, tmp_path):
    frames = tmp_path / "frames"
    shutil.copytree(scene / "frames", frames)
    small = cv2.imread(str(frames / "000000.png"))[:200, :200]
    cv2.imwrite(str(frames / "000000.png"), small)
    with pytest.raises(SwaplibError, match=r"faces were found in 480x480 frames but .*000000.png is 200x200"):
        merge_video(frames, scene / "faces.parquet", scene / "model.safetensors", tmp_path / "m")
    with pytest.raises(SwaplibError, match="mode 'blend' is not one of"):
        merge_video(scene / "frames", scene / "faces.parquet", scene / "model.safetensors", tmp_path / "m",
                    mode="blend")
    with pytest.raises(SwaplibError, match="blur must be within 0..1, got 2"):
        MergeSettings(blur=2)
    with pytest.raises(SwaplibError, match="unknown merge setting.*strength"):
        merge_settings({"strength": 1})
    with pytest.raises(SwaplibError, match="model file not found"):
        merge_video(scene / "frames", scene / "faces.parquet", tmp_path / "none.pt", tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_config_schema_and_settings_agree():
    """config.yaml's merge section, the schema and MergeSettings name the same keys with the same
    defaults; the schema's choices are the library's."""
    assert_agreement("merge", MergeSettings)
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]["merge"]
    enums = {key: tuple(schema["properties"][key]["enum"]) for key in ("mode", "mask", "color_transfer", "sharpen",
                                                                        "precision")}
    assert enums == {"mode": MODES, "mask": masks.MASKS, "color_transfer": COLOR_TRANSFERS, "sharpen": SHARPEN,
                     "precision": PRECISIONS}
