"""The face set stage on faces extracted from real frames: scores, filters, orders, curation, sheets."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from swaplib.core import codehash
from swaplib.core.errors import SwaplibError
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.stage import extract_faces
from swaplib.sort.contact_sheet import write_faceset_sheets
from swaplib.sort.curation import read_curation
from swaplib.sort.orders import ORDERS
from swaplib.sort.stage import build_faceset
from swaplib.tables.faceset import ORDER_KEY, selected_faces

NO_FILTERS = {"min_face_px": 0, "blur_keep": 1.0, "duplicate": 0}


def blur_every_third(i, frame):
    return cv2.GaussianBlur(frame, (0, 0), 4) if i % 3 == 0 else frame


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, write_frames):
    """12 real frames, every third one blurred hard, with their faces extracted."""
    root = tmp_path_factory.mktemp("sort")
    frames = write_frames("lp_d20_young_man_talking", root / "frames", 12, blur_every_third)
    extract_faces(frames, root / "faces", root / "faces.parquet", detector=make_detector("dlib", upsample=0),
                  size=96, face_type="whole_face")
    return root


def build(root, **options):
    """The face set of the extracted faces, with no filter on unless `options` sets one."""
    out = root / "out"
    faceset = build_faceset(
        root / "faces.parquet", root / "faces", out / "faceset.parquet", **{**NO_FILTERS, **options}
    )
    return faceset, out


def test_blurred_copies_score_less_sharp_and_the_blur_filter_drops_them(extracted):
    faceset, out = build(extracted, blur_keep=0.7, order="blur-variance")
    blurred = faceset["frame"] % 3 == 0
    assert faceset.loc[blurred, "blur"].max() < faceset.loc[~blurred, "blur"].min()
    assert set(faceset.loc[faceset["reason"] == "blurry", "frame"]) <= set(faceset.loc[blurred, "frame"])
    assert faceset["selected"].sum() == int(np.ceil(len(faceset) * 0.7))
    chosen = selected_faces(out / "faceset.parquet")
    assert list(chosen["rank"]) == list(range(len(chosen)))
    assert chosen["blur"].is_monotonic_decreasing and (chosen["order_score"] == chosen["blur"]).all()

    # An absolute floor between the two groups drops exactly the blurred faces.
    floor = (faceset.loc[blurred, "blur"].max() + faceset.loc[~blurred, "blur"].min()) / 2
    faceset, _ = build(extracted, min_blur=floor)
    assert list(faceset["reason"] == "blurry") == list(blurred)


def test_scores_are_complete_and_in_range(extracted):
    faceset, _ = build(extracted)
    for column in ("blur", "motion_blur", "yaw", "pitch", "roll", "face_px", "brightness", "hue", "black", "distance"):
        assert faceset[column].notna().all(), column
    assert faceset["motion_blur"].between(0, 2).all() and faceset["black"].between(0, 1).all()
    assert faceset["hue"].between(0, 360).all() and faceset["brightness"].between(0, 255).all()
    assert faceset["one_face"].all()  # one person in this clip
    assert faceset["yaw"].abs().max() < 45 and faceset["pitch"].abs().max() < 45  # a talking head
    hist = np.stack(faceset["hist"])
    assert np.allclose(hist.reshape(len(faceset), 3, -1).sum(axis=2), 1, atol=1e-3)


def test_motion_blur_scores_higher_on_smeared_copies(tmp_path, write_frames):
    def smear(i, frame):  # frames 4 and 5: a 15 px motion, horizontal then vertical
        kernels = {4: np.full((1, 15), 1 / 15), 5: np.full((15, 1), 1 / 15)}
        return cv2.filter2D(frame, -1, kernels[i]) if i in kernels else frame

    frames = write_frames("lp_d12_man_glasses_talking", tmp_path / "frames", 6, smear)
    extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet",
                  detector=make_detector("dlib", upsample=0), size=128, face_type="whole_face")
    faceset = build_faceset(tmp_path / "faces.parquet", tmp_path / "faces", tmp_path / "f.parquet", **NO_FILTERS)
    smeared = faceset["frame"] >= 4
    assert smeared.sum() == 2 and len(faceset) == 6
    assert faceset.loc[smeared, "motion_blur"].min() > 2 * faceset.loc[~smeared, "motion_blur"].max()


def test_size_filter_and_cap(extracted):
    with pytest.raises(SwaplibError, match=r"no face left for training after sorting \(left out: 12 too small\)"):
        build(extracted, min_face_px=10_000)
    faceset, _ = build(extracted)
    large = faceset["face_px"].median()
    faceset, _ = build(extracted, min_face_px=large)
    assert (faceset.loc[~faceset["selected"], "reason"] == "too small").all()
    assert (faceset.loc[faceset["selected"], "face_px"] >= large).all()
    faceset, _ = build(extracted, max_face_px=large)
    assert (faceset.loc[~faceset["selected"], "reason"] == "too large").all() and faceset["selected"].any()
    faceset, _ = build(extracted, max_faces=5)
    assert faceset["selected"].sum() == 5
    assert (faceset["reason"] == "over max_faces").sum() == len(faceset) - 5


def test_pose_filter_names_its_reason(extracted):
    faceset, _ = build(extracted)
    limit = faceset["yaw"].abs().median()
    faceset, _ = build(extracted, max_yaw=limit)
    out = faceset["reason"] == "pose"
    assert out.any() and (faceset.loc[out, "yaw"].abs() > limit).all() and not faceset.loc[out, "selected"].any()


def test_exact_copies_of_a_frame_are_duplicates(tmp_path, write_frames):
    frames = write_frames("lp_d3_woman_expressions", tmp_path / "frames", 9)
    for frame in frames.glob("*.png"):  # frames 0, 4 and 8: she moves between them
        if int(frame.stem) % 4:
            frame.unlink()
    for copy in (9, 10):  # frame 8 shown three times, as a paused or frame-doubled video does
        (frames / f"{copy:06d}.png").write_bytes((frames / "000008.png").read_bytes())
    extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet",
                  detector=make_detector("dlib", upsample=0), size=96, face_type="whole_face")
    faceset = build_faceset(tmp_path / "faces.parquet", tmp_path / "faces", tmp_path / "f.parquet",
                            min_face_px=0, blur_keep=1.0, duplicate=0.003)
    assert list(faceset.sort_values("frame")["reason"]) == ["", "", "", "duplicate", "duplicate"]


@pytest.mark.parametrize("order", list(ORDERS))
def test_every_order_is_a_permutation_of_the_kept_faces(extracted, order):
    faceset, out = build(extracted, blur_keep=0.75, order=order, identity="dlib" if order == "identity" else "auto")
    kept = faceset["reason"] == ""
    assert (faceset["selected"] == kept).all()
    assert sorted(faceset.loc[kept, "rank"]) == list(range(kept.sum()))
    assert (faceset.loc[~kept, "rank"] == -1).all()
    assert faceset.loc[kept, "order_score"].notna().all() and faceset.loc[~kept, "order_score"].isna().all()
    in_rank_order = list(faceset[kept].sort_values("rank")["face_id"])
    assert list(selected_faces(out / "faceset.parquet")["face_id"]) == in_rank_order


def test_curation_excludes_includes_and_takes_frame_ranges(extracted, tmp_path):
    faces = pd.read_parquet(extracted / "faces.parquet")
    sharp = faces[faces["frame"] % 3 != 0]["face_id"].iloc[0]
    blurred = faces[faces["frame"] % 3 == 0]["face_id"].iloc[0]
    sheet = tmp_path / "curation.tsv"
    sheet.write_text(
        "# reviewed on the contact sheet\n"
        f"face\taction\tnote\n{sharp}\texclude\tclosed eyes\n{blurred}\tinclude\t\n"
        "000007-000008\texclude\tlooking away\n"
    )
    faceset, _ = build(extracted, blur_keep=0.5, curation_path=sheet)
    row = faceset.set_index("face_id")
    assert not row.loc[sharp, "selected"] and row.loc[sharp, "reason"] == "curation"
    assert row.loc[sharp, "curation_note"] == "closed eyes"
    assert row.loc[blurred, "selected"] and row.loc[blurred, "curation"] == "include"
    assert set(faceset.loc[faceset["frame"].isin([7, 8]), "reason"]) == {"curation"}

    # The old column name still reads; the last row about a face wins.
    sheet.write_text(f"face_id\taction\n{sharp}\texclude\n{sharp}\tinclude\n")
    assert read_curation(sheet, set(faces["face_id"])).actions == {sharp: "include"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("face\taction\n000001_0\tdelete\n", ":2: action 'delete' is not one of exclude, include, reference"),
        ("face\taction\n\n# note\n999999_0\texclude\n", ":4: face '999999_0' is not among the extracted faces"),
        ("face\taction\n000001_x\texclude\n", ":2: '000001_x' is neither a face id"),
        ("face\taction\n000005-000003\texclude\n", ":2: frame range '000005-000003' runs backwards"),
        ("face\taction\n000002-000004\texclude\n", ":2: no face was extracted from frames 000002-000004"),
        ("face\taction\n000001_0\n", ":2: '000001_0' has no action"),
        ("id\taction\n000001_0\texclude\n", ":1: header 'id\\taction' must name the columns"),
        ("", "empty curation sheet"),
    ],
)
def test_a_bad_curation_sheet_names_file_line_and_value(tmp_path, text, expected):
    sheet = tmp_path / "v.tsv"
    sheet.write_text(text)
    with pytest.raises(SwaplibError) as error:
        read_curation(sheet, {"000001_0"})
    assert str(error.value).startswith(str(sheet)) and expected in str(error.value), str(error.value)


def test_contact_sheets_show_every_face_on_pages(extracted):
    faceset, out = build(extracted, blur_keep=0.7)
    order = pq.read_schema(out / "faceset.parquet").metadata[ORDER_KEY].decode()
    assert order.startswith("best (") and order == f"best ({ORDERS['best'].about})"  # the pages' title says it
    assert write_faceset_sheets(out / "faceset.parquet", extracted / "faces", out / "sheets", faces_per_page=16) == 1
    pages = sorted((out / "sheets").glob("*.png"))
    assert [p.name for p in pages] == ["page-001.png"]
    sheet = cv2.imread(str(pages[0])).astype(int)
    assert sheet.shape == (44 + (80 + 28), 16 * 80, 3)  # header + one row of 12 tiles
    # Selected faces first, in training order and colour; then the left-out ones, greyed.
    n_selected = int(faceset["selected"].sum())
    tiles = [sheet[44 : 44 + 80, i * 80 : (i + 1) * 80] for i in range(len(faceset))]
    colour = [np.abs(t[..., 2] - t[..., 0]).mean() for t in tiles]
    assert 0 < n_selected < len(faceset)
    assert min(colour[:n_selected]) > 5 and max(colour[n_selected:]) < 1
    first = selected_faces(out / "faceset.parquet")["file"].iloc[0]
    thumb = cv2.resize(cv2.imread(str(extracted / "faces" / first)), (80, 80), interpolation=cv2.INTER_AREA)
    assert np.abs(tiles[0] - thumb.astype(int)).mean() < 3  # the best face's own crop comes first
    assert write_faceset_sheets(out / "faceset.parquet", extracted / "faces", out / "sheets", faces_per_page=5) == 3
    assert len(list((out / "sheets").glob("page-*.png"))) == 3  # 12 faces, 5 per page, the old pages gone


def test_sheets_are_drawn_from_the_written_faceset_alone(extracted, tmp_path):
    """The sheets step needs only faceset.parquet and the crops; a missing crop is named."""
    _, out = build(extracted)
    faces = tmp_path / "faces"
    shutil.copytree(extracted / "faces", faces)
    write_faceset_sheets(out / "faceset.parquet", faces, tmp_path / "sheets", faces_per_page=64, title="review")
    assert len(list((tmp_path / "sheets").glob("page-*.png"))) == 1
    gone = sorted(faces.iterdir())[0]
    gone.unlink()
    with pytest.raises(SwaplibError, match=f"{gone}: missing or not a readable image"):
        write_faceset_sheets(out / "faceset.parquet", faces, tmp_path / "again", faces_per_page=64)
    assert not (tmp_path / "again").exists()


def test_the_face_set_code_draws_no_sheets(extracted, tmp_path):
    """A change to the sheet drawing reruns no face set (and so no training): build_faceset neither
    draws sheets nor imports the module that does."""
    build_faceset(extracted / "faces.parquet", extracted / "faces", tmp_path / "out" / "faceset.parquet", **NO_FILTERS)
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["faceset.parquet"]
    files = {path.relative_to(codehash.PACKAGE_DIR).as_posix() for path in codehash.closure("sort.stage")}
    assert "sort/stage.py" in files and "sort/sheet.py" not in files
