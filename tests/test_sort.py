"""Sorting and curation on faces extracted from real frames."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from swaplib.detect import make_detector
from swaplib.errors import SwaplibError
from swaplib.faces import extract_faces
from swaplib.sort import build_faceset, read_curation, select_faces, selected_faces


def blur_every_third(i, frame):
    return cv2.GaussianBlur(frame, (0, 0), 4) if i % 3 == 0 else frame


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, write_frames):
    """12 real frames, every third one blurred hard, with their faces extracted."""
    root = tmp_path_factory.mktemp("sort")
    frames = write_frames("lp_d20_young_man_talking", root / "frames", 12, blur_every_third)
    extract_faces(frames, root / "faces", root / "faces.parquet", detector=make_detector("dlib", upsample=0), size=96, face_type="whole_face")
    return root


def build(root, **options):
    out = root / "out"
    out.mkdir(exist_ok=True)
    faceset = build_faceset(root / "faces.parquet", root / "faces", out / "faceset.parquet", out / "sheet.jpg", **options)
    return faceset, out


def test_blurred_faces_rank_last_and_are_cut_by_blur_keep(extracted):
    faceset, out = build(extracted, min_face_px=0, blur_keep=0.7)
    blurred = faceset["frame"] % 3 == 0
    assert faceset.loc[blurred, "blur"].max() < faceset.loc[~blurred, "blur"].min()
    assert set(faceset.loc[faceset["reason"] == "blurry", "frame"]) <= set(faceset.loc[blurred, "frame"])
    assert faceset["selected"].sum() == int(np.ceil(len(faceset) * 0.7))
    chosen = selected_faces(out / "faceset.parquet")
    assert list(chosen["rank"]) == list(range(len(chosen)))
    assert chosen["blur"].is_monotonic_decreasing
    sheet = cv2.imread(str(out / "sheet.jpg"))
    assert sheet is not None and sheet.shape[1] == 16 * 64


def test_size_filter_and_cap(extracted):
    with pytest.raises(SwaplibError, match=r"no face left for training after sorting \(left out: 12 too small\)"):
        build(extracted, min_face_px=10_000, blur_keep=1.0)
    faceset, _ = build(extracted, min_face_px=0, blur_keep=1.0)
    large = faceset["face_px"].median()
    faceset, _ = build(extracted, min_face_px=large, blur_keep=1.0)
    assert (faceset.loc[~faceset["selected"], "reason"] == "too small").all()
    assert (faceset.loc[faceset["selected"], "face_px"] >= large).all()
    faceset, _ = build(extracted, min_face_px=0, blur_keep=1.0, max_faces=5)
    assert faceset["selected"].sum() == 5
    assert (faceset["reason"] == "over max_faces").sum() == len(faceset) - 5


def test_curation_excludes_and_forces(extracted, tmp_path):
    faces = pd.read_parquet(extracted / "faces.parquet")
    sharp = faces[faces["frame"] % 3 != 0]["face_id"].iloc[0]
    blurred = faces[faces["frame"] % 3 == 0]["face_id"].iloc[0]
    sheet = tmp_path / "curation.tsv"
    sheet.write_text(f"face_id\taction\tnote\n{sharp}\texclude\tclosed eyes\n{blurred}\tinclude\t\n")
    faceset, _ = build(extracted, min_face_px=0, blur_keep=0.5, curation_path=sheet)
    row = faceset.set_index("face_id")
    assert not row.loc[sharp, "selected"] and row.loc[sharp, "reason"] == "curation"
    assert row.loc[blurred, "selected"] and row.loc[blurred, "curation"] == "include"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("face_id\taction\n000001_0\tdelete\n", "row 2: action 'delete'"),
        ("face_id\taction\n999999_0\texclude\n", "face '999999_0' is not among the extracted faces"),
        ("face\taction\n000001_0\texclude\n", "lacks column(s) face_id"),
    ],
)
def test_bad_curation_sheet_is_named(tmp_path, text, expected):
    sheet = tmp_path / "v.tsv"
    sheet.write_text(text)
    with pytest.raises(SwaplibError) as error:
        read_curation(sheet, {"000001_0"})
    assert str(sheet) in str(error.value) and expected in str(error.value)


def test_select_faces_keeps_forced_faces_under_a_cap():
    scores = pd.DataFrame({"blur": [5.0, 4.0, 3.0, 2.0], "face_px": [100.0] * 4, "brightness": [1.0] * 4})
    ids = pd.Series(["a", "b", "c", "d"])
    decision = select_faces(scores, ids, min_face_px=0, blur_keep=1.0, max_faces=2, curation={"d": "include"})
    assert list(decision["selected"]) == [True, False, False, True]
    assert list(decision["rank"]) == [0, -1, -1, 1]
