"""Merge on real frames with a (briefly) trained tiny model: every mode, mask and colour transfer,
faithful frames, the merge report, frame-range overrides, the checks on the model, and DeepFaceLab's
units of erode, blur, denoise and masked hist match checked against its formulas."""

from __future__ import annotations

import json
import math
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO
from settings_agreement import assert_agreement
from swaplib.core.color import COLOR_TRANSFERS, hist_match
from swaplib.core.errors import SwaplibError
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.stage import extract_faces
from swaplib.merge import masks
from swaplib.merge.frame import Face, frame_faces, merge_frame, predict_faces
from swaplib.merge.post import degrade_frame, denoise_passes
from swaplib.merge.settings import MODES, RENAMED, SHARPEN, MergeSettings, merge_settings, read_overrides
from swaplib.merge.stage import merge_video
from swaplib.model import PRECISIONS, build_model, load_model
from swaplib.model import save_model as write_model
from swaplib.tables.faces import landmarks_array, matrices_array, read_faces
from swaplib.train.settings import model_config
from swaplib.xseg.model import XSegConfig, XSegNet

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
    torch.manual_seed(0)
    xseg = XSegNet(XSegConfig(resolution=32, width=4)).eval()  # untrained, leaning to "face" (about 0.95)
    with torch.no_grad():  # so that the product of all four masks stays above seamless clone's 0.1
        xseg.out.weight.mul_(0.1)
        xseg.out.bias.fill_(3.0)
    predict_faces(model, faces, dst_masks=True, device="cpu", xseg=xseg, xseg_prd=True)
    assert faces[0].xseg_dst.shape == faces[0].xseg_prd.shape == faces[0].prd_mask.shape
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
        ("denoise", MergeSettings(image_denoise_power=100), ~inside),
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
    eroded_away = merge_frame(frame, faces, MergeSettings(erode_mask_modifier=400)).failures
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
    erode, blur = MergeSettings().erode_mask_modifier, MergeSettings().blur_mask_modifier
    run(scene, out, mode=mode)
    faces = read_faces(scene / "faces.parquet")
    for row, landmarks, matrix in zip(faces.itertuples(), landmarks_array(faces), matrices_array(faces)):
        original, merged = image(scene / "frames" / f"{row.frame:06d}.png"), image(out / f"{row.frame:06d}.png")
        hull = masks.hull_masks(landmarks[None], max(original.shape))[0][: original.shape[0], : original.shape[1]]
        # The blur reaches half its kernel past the eroded edge, in px of the mask at 4x the
        # model's 64 px: that many frame px, plus a 64 px hull's and the warp's rounding.
        big_px_per_frame_px = masks.SUBRES * 64 / row.size * np.sqrt(abs(np.linalg.det(matrix[:, :2])))
        reach = int((blur // 2 - erode // 2 + 6) / big_px_per_frame_px) + 3
        near = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)) > 0
        assert np.array_equal(merged[~near], original[~near])
        assert np.abs(merged - original)[hull > 0].mean() > 3


def test_the_mask_sequence_is_the_merge_s_mask_frame_for_frame(scene, tmp_path):
    out, mask_dir = tmp_path / "merged", tmp_path / "merged_mask"
    run(scene, out, masks_dir=mask_dir)
    assert sorted(p.name for p in mask_dir.iterdir()) == sorted(p.name for p in (scene / "frames").iterdir())
    for path in sorted((scene / "frames").iterdir()):
        original, merged = image(path), image(out / path.name)
        mask = cv2.imread(str(mask_dir / path.name), cv2.IMREAD_UNCHANGED)
        assert mask.shape == original.shape[:2] and mask.dtype == np.uint8
        changed = np.abs(merged - original).max(axis=2) > 0
        if int(path.stem) in FACELESS:
            assert mask.max() == 0 and not changed.any()
            continue
        # The merge changed pixels where its mask covers the frame, and nowhere else.
        assert not changed[mask == 0].any() and changed[mask == 255].mean() > 0.9
        assert changed[mask > 0].mean() > 0.8


def test_raw_predict_masks_are_the_predicted_crops_masks(scene, tmp_path):
    run(scene, tmp_path / "m", mode="raw-predict", masks_dir=tmp_path / "masks")
    shapes = {cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape for p in (tmp_path / "masks").iterdir()}
    assert shapes == {(64, 64)}
    assert cv2.imread(str(tmp_path / "masks" / "000002.png"), cv2.IMREAD_UNCHANGED).max() == 0  # faceless


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
    ("0\t3\tblur_mask_modifier\tsoft", "line 2: blur_mask_modifier needs a whole number, got 'soft'"),
    ("0\t3\tmasked_hist_match\tyes", "line 2: masked_hist_match needs true or false, got 'yes'"),
    ("0\t3\terode\t0.1", "line 2: erode is now erode_mask_modifier, -400..400 in DeepFaceLab's unit"),
    ("0\t3\tblur_mask_modifier\t401", "line 2: invalid merge settings: blur_mask_modifier must be within 0..400"),
    ("0\t3\tsharpness\t2", "line 2: 'sharpness' is not a setting a frame range can change"),
    ("0\t3\tprecision\tfp32", "line 2: 'precision' is not a setting a frame range can change"),
    ("5\t3\tblur_mask_modifier\t20", "line 2: frame range 5..3 is empty"),
    ("0\t3\tmode\traw-predict", "line 2: mode raw-predict writes face crops"),
    ("0\t3\tblur_mask_modifier", "line 2: needs 4 tab-separated cells, found 3"),
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


def save_xseg(path, logit: float):
    """A segmentation model file whose mask is sigmoid(logit) on every pixel: all face or no face."""
    xseg = XSegNet(XSegConfig(resolution=32, width=4))
    with torch.no_grad():
        xseg.out.weight.zero_()
        xseg.out.bias.fill_(logit)
    write_model(path, xseg, iterations=7)
    return path


def test_xseg_masks_come_from_the_segmentation_model_file(scene, tmp_path):
    face_everywhere = save_xseg(tmp_path / "all.safetensors", 20)
    no_face = save_xseg(tmp_path / "none.safetensors", -20)
    full = run(scene, tmp_path / "full", mask="full")
    for kind in ("xseg-dst", "xseg-prd", "xseg-prd*xseg-dst"):  # all face: the whole square, as `full`
        report = run(scene, tmp_path / kind, mask=kind, xseg_model=face_everywhere)
        assert report["xseg_model"]["iterations"] == 7 and report["swapped"] == full["swapped"] == 4
        for name in ("000000.png", "000003.png"):
            assert np.array_equal(image(tmp_path / kind / name), image(tmp_path / "full" / name)), (kind, name)
    report = run(scene, tmp_path / "none", mask="xseg-dst", xseg_model=no_face)  # no face: nothing swapped
    assert report["swapped"] == 0 and {f["reason"][:10] for f in report["failures"]} == {"empty mask"}
    assert np.array_equal(image(tmp_path / "none/000000.png"), image(scene / "frames/000000.png"))


def test_xseg_masks_without_a_segmentation_model_stop_naming_the_setting(scene, tmp_path):
    with pytest.raises(SwaplibError, match="merge mask 'xseg-dst' uses the XSeg masks.*xseg.enabled: true"):
        merge_video(scene / "frames", scene / "faces.parquet", scene / "model.safetensors", tmp_path / "m",
                    mask="xseg-dst")
    sheet = tmp_path / "overrides.tsv"  # a frame range asking for it is the same
    sheet.write_text("first_frame\tlast_frame\tsetting\tvalue\n3\t4\tmask\txseg-prd*xseg-dst\n")
    with pytest.raises(SwaplibError, match="merge mask 'xseg-prd\\*xseg-dst' uses the XSeg masks"):
        merge_video(scene / "frames", scene / "faces.parquet", scene / "model.safetensors", tmp_path / "m",
                    overrides=sheet)
    assert not (tmp_path / "m").exists()


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
    with pytest.raises(SwaplibError, match="blur_mask_modifier must be within 0..400, got 401"):
        MergeSettings(blur_mask_modifier=401)
    with pytest.raises(SwaplibError, match="erode_mask_modifier must be a whole number, got 0.1"):
        MergeSettings(erode_mask_modifier=0.1)
    with pytest.raises(SwaplibError, match="masked_hist_match must be true or false, got 1"):
        MergeSettings(masked_hist_match=1)
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


# ----------------------------------------------------------------------------------- DeepFaceLab's units


def deepfacelab_mask(mask: np.ndarray, erode: int, blur: int) -> np.ndarray:
    """DeepFaceLab's merger on one (R, R) mask, step by step on the whole padded array: bilinear to
    4R, R px of zeros around, erode (dilate) with an |erode| px ellipse, zero the pad and blur // 2
    px more, Gaussian blur with the odd kernel of side >= blur, pad cut off, clipped."""
    size = mask.shape[0]
    big = np.pad(cv2.resize(mask, (4 * size, 4 * size), interpolation=cv2.INTER_LINEAR), size)
    if erode:
        ellipse = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (abs(erode), abs(erode)))
        big = cv2.erode(big, ellipse) if erode > 0 else cv2.dilate(big, ellipse)
    clear = size + blur // 2
    big[:clear], big[-clear:], big[:, :clear], big[:, -clear:] = 0, 0, 0, 0
    if blur > 0:
        side = blur if blur % 2 else blur + 1
        big = cv2.GaussianBlur(big, (side, side), 0)
    return np.clip(big[size:-size, size:-size], 0, 1)


def test_erode_and_blur_is_deepfacelabs_merger_mask():
    size = 32
    hull = np.zeros((size, size), np.float32)
    cv2.ellipse(hull, (16, 19), (10, 14), 0, 0, 360, 1.0, -1)  # reaches the crop's bottom edge
    learned = (cv2.GaussianBlur(hull, (0, 0), 2) * np.random.default_rng(0).uniform(0.5, 1, hull.shape)).astype(
        np.float32)
    for mask in (hull, learned):
        for erode, blur in [(0, 0), (30, 100), (-41, 7), (-30, 100), (2, 1), (400, 400), (-400, 0), (0, 399)]:
            ours = masks.erode_and_blur(mask, erode=erode, blur=blur)
            assert ours.shape == (4 * size, 4 * size)
            np.testing.assert_allclose(ours, deepfacelab_mask(mask, erode, blur), atol=1e-6,
                                       err_msg=f"erode {erode}, blur {blur}")


def test_mask_modifiers_are_px_of_the_mask_at_4x_the_model_resolution():
    """DeepFaceLab's kernel sizes on a straight edge, in px of the 4R mask: an ellipse `erode` px
    across moves it erode // 2 px, the blur is a Gaussian of sigma 0.3·((side - 1)/2 - 1) + 0.8 for
    the odd side >= blur, and the mask fades out blur // 2 px inside the predicted square."""
    size, row = 64, 128
    edge = np.zeros((size, size), np.float32)
    edge[:, 32:] = 1  # bilinear at 4R: the 0.5 crossing lies between 4R px 127 and 128
    at = lambda m, x: float(np.interp(x, np.arange(4 * size), m[row]))  # noqa: E731
    assert at(masks.erode_and_blur(edge, erode=0, blur=0), 127.5) == pytest.approx(0.5)
    assert at(masks.erode_and_blur(edge, erode=41, blur=0), 147.5) == pytest.approx(0.5)  # 20 px in
    assert at(masks.erode_and_blur(edge, erode=-41, blur=0), 107.5) == pytest.approx(0.5)  # 20 px out
    assert [masks.blur_kernel(b) for b in (1, 2, 100, 101, 400)] == [1, 3, 101, 101, 401]
    blurred = masks.erode_and_blur(edge, erode=0, blur=100)
    sigma = 0.3 * ((101 - 1) / 2 - 1) + 0.8  # 15.5 px
    assert at(blurred, 127.5) == pytest.approx(0.5, abs=1e-3)
    for k in (0.5, 1, 2):  # the normal distribution's 69, 84 and 98 %
        assert at(blurred, 127.5 + k * sigma) == pytest.approx(0.5 * (1 + math.erf(k / math.sqrt(2))), abs=0.01)
    # The whole square: zero 50 px in from its edge, blurred from there, so 0 at the edge itself.
    full = masks.erode_and_blur(np.ones((size, size), np.float32), erode=0, blur=100)
    assert full[row, 49] + full[row, 50] == pytest.approx(1.0, abs=1e-3) and full[row, 0] < 1e-3
    # Eroded without blur: the zero pad eats erode // 2 px of it.
    eroded = masks.erode_and_blur(np.ones((size, size), np.float32), erode=41, blur=0)
    assert (eroded[row, 19], eroded[row, 20]) == (0, 1)


def deepfacelab_denoise(frame: np.ndarray, power: int) -> np.ndarray:
    """DeepFaceLab's image_denoise_power loop on a float frame: a 5x5 median pass for each 10 of the
    power, taken whole while 100 or more is left, else blended in by what is left / 100."""
    image = frame.astype(np.float32)
    while power > 0:
        denoised = cv2.medianBlur(image, 5)
        weight = 1.0 if power // 100 else (power % 100) / 100
        image = image * (1 - weight) + denoised * weight
        power = max(power - 10, 0)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def test_image_denoise_power_passes_as_deepfacelab(predicted_frame):
    assert denoise_passes(100) == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    assert sum(denoise_passes(100)) == pytest.approx(5.5)
    assert denoise_passes(250) == pytest.approx([1.0] * 16 + [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    assert denoise_passes(55) == pytest.approx([0.55, 0.45, 0.35, 0.25, 0.15, 0.05])
    assert denoise_passes(0) == []
    frame = predicted_frame[0]
    for power in (55, 100, 250):
        ours = degrade_frame(frame, MergeSettings(image_denoise_power=power)).astype(int)
        assert np.abs(ours - deepfacelab_denoise(frame, power)).max() <= 1, power
    one_pass = cv2.medianBlur(frame, 5).astype(int)  # what 100 meant before: DeepFaceLab's is far softer
    assert np.abs(degrade_frame(frame, MergeSettings(image_denoise_power=100)).astype(int) - one_pass).mean() > 0.5


def deepfacelab_hist_match(source, target, inside, threshold):
    """DeepFaceLab's hist-match on float images: with a mask, both images white outside it, then per
    channel each source value's cumulative share · threshold / 255 read off the target's."""
    if inside is not None:
        source, target = (np.where(inside[..., None], image, 1.0) for image in (source, target))
    out = np.empty_like(source)
    for c in range(3):
        values, index, counts = np.unique(source[..., c], return_inverse=True, return_counts=True)
        t_values, t_counts = np.unique(target[..., c], return_counts=True)
        quantiles = threshold * np.cumsum(counts) / counts.sum()
        out[..., c] = np.interp(quantiles, 255 * np.cumsum(t_counts) / t_counts.sum(), t_values)[index].reshape(
            source.shape[:2])
    return out


def test_masked_hist_match_takes_the_histograms_inside_the_mask_as_deepfacelab():
    rng = np.random.default_rng(1)
    size = 64
    inside = np.zeros((size, size), bool)
    inside[16:48, 12:52] = True  # the face; around it a background of other colours
    source = np.where(inside[..., None], rng.uniform(0.2, 0.6, (size, size, 3)), rng.uniform(0.0, 0.3, (size, size, 3)))
    target = np.where(inside[..., None], rng.uniform(0.4, 0.9, (size, size, 3)), rng.uniform(0.6, 0.9, (size, size, 3)))
    source, target = source.astype(np.float32), target.astype(np.float32)
    for threshold in (255, 200):
        masked, whole = (hist_match(source, target, area, threshold) for area in (inside, None))
        assert np.abs(masked - deepfacelab_hist_match(source, target, inside, threshold))[inside].max() < 0.01
        assert np.abs(whole - deepfacelab_hist_match(source, target, None, threshold)).max() < 0.01
        assert np.abs(masked - whole)[inside].mean() > 0.05  # the background moves the unmasked match


def test_masked_hist_match_is_a_hist_match_setting(predicted_frame):
    frame, faces = predicted_frame
    result = lambda mode, masked: merge_frame(  # noqa: E731
        frame, faces, MergeSettings(mode=mode, masked_hist_match=masked)).image.astype(int)
    assert np.abs(result("hist-match", True) - result("hist-match", False)).max() > 10
    assert np.array_equal(result("seamless-hist-match", True), result("seamless-hist-match", False))
    assert np.array_equal(result("overlay", True), result("overlay", False))


def test_the_old_keys_stop_naming_their_successor_and_unit():
    for old, new in [("erode", "erode_mask_modifier, -400..400"), ("blur", "blur_mask_modifier, 0..400"),
                     ("denoise", "image_denoise_power, 0..500")]:
        with pytest.raises(SwaplibError, match=f"renamed merge setting.*{old} is now {new} in DeepFaceLab's unit"):
            merge_settings({old: 0.1})
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]["merge"]
    said = {pattern.strip("^$"): rule["description"] for pattern, rule in schema["patternProperties"].items()}
    assert said == {key: f"renamed: {key} is now {successor}" for key, successor in RENAMED.items()}
