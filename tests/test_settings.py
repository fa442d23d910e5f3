"""Config and sheet validation: each bad input stops early, naming the file, key or row."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from swaplib.core.errors import SwaplibError
from swaplib.core.merging import deep_merge
from swaplib.sheet import load_sheet, validate_config, video_references
from workflow_support import REPO

CONFIG_SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
SHEET_SCHEMA = REPO / "workflow/schemas/pairs.schema.yaml"
DEFAULTS = yaml.safe_load((REPO / "config.yaml").read_text())


def test_shipped_config_is_valid():
    validate_config(DEFAULTS, CONFIG_SCHEMA)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"train": {"iterations": -5}}, "train.iterations: -5 is less than the minimum of 1"),
        ({"merge": {"mode": "blend"}}, "merge.mode: 'blend' is not one of: original, overlay,"),
        ({"merge": {"erode": 0.1}}, "merge.erode: renamed: erode is now erode_mask_modifier, -400..400 in"),
        ({"merge": {"blur_mask_modifier": 0.5}}, "merge.blur_mask_modifier: 0.5 is not of type 'integer'"),
        ({"frames": {"limit": -1}}, "frames.limit"),
        ({"extract": {"face_type": "round"}}, "extract.face_type"),
        ({"train": {"batch_sise": 4}}, "batch_sise"),
        ({"train": {"resolution": 100}}, "train.resolution"),
    ],
)
def test_bad_config_values_are_named(overrides, expected):
    with pytest.raises(SwaplibError) as error:
        validate_config(deep_merge(DEFAULTS, overrides), CONFIG_SCHEMA, source="my.yaml")
    assert "my.yaml" in str(error.value) and expected in str(error.value)


def sheet(tmp_path, rows, header="pair\tsource\tdestination\tmodel"):
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join([header, *["\t".join(r) for r in rows]]) + "\n")
    return path


def test_sheet_resolves_paths_defaults_models_and_probes(tmp_path, clip):
    a, b = clip("lp_d12_man_glasses_talking"), clip("lp_d20_young_man_talking")
    shutil.copy(a, tmp_path / "a.mp4")
    parsed = load_sheet(sheet(tmp_path, [("p1", "a.mp4", str(b), ""), ("p2", "a.mp4", str(b), "p1")]), SHEET_SCHEMA)
    pairs = parsed.pairs.set_index("pair")
    assert pairs.loc["p1", "source"] == str(tmp_path / "a.mp4")
    assert list(pairs["model"]) == ["p1", "p1"]
    assert set(parsed.videos) == {"a", b.stem}


def test_sheet_errors_name_the_problem(tmp_path, clip):
    real = str(clip("lp_d12_man_glasses_talking"))
    other = str(clip("lp_d20_young_man_talking"))
    cases = [
        ([("p1", "missing.mp4", real, "")], "missing.mp4"),
        ([("p1", real, other, ""), ("p1", other, real, "")], "duplicate pair name(s): p1"),
        ([("bad name", real, other, "")], "row 2: pair"),
        ([("p1", real, real, "")], "source and destination are the same video"),
        ([("p1", real, other, "m"), ("p2", other, real, "m")], "model 'm' is named by pairs with different sources"),
    ]
    for rows, expected in cases:
        with pytest.raises(SwaplibError) as error:
            load_sheet(sheet(tmp_path, rows), SHEET_SCHEMA)
        assert str(tmp_path / "pairs.tsv") in str(error.value) or "missing.mp4" in str(error.value)
        assert expected in str(error.value), str(error.value)


def test_an_empty_sheet_and_a_text_file_named_mp4_are_named_with_what_to_do(tmp_path, clip):
    (tmp_path / "pairs.tsv").write_bytes(b"")
    with pytest.raises(SwaplibError, match=rf"^{re.escape(str(tmp_path / 'pairs.tsv'))}: the sheet is empty: it "
                                           r"needs a tab-separated header line \(pair, source, destination\)"):
        load_sheet(tmp_path / "pairs.tsv", SHEET_SCHEMA)
    (tmp_path / "notes.mp4").write_text("this is not a video\n")
    rows = [("p1", "notes.mp4", str(clip("lp_d20_young_man_talking")), "")]
    with pytest.raises(SwaplibError) as error:
        load_sheet(sheet(tmp_path, rows), SHEET_SCHEMA)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'pairs.tsv'}: row 2 (source): {tmp_path / 'notes.mp4'}: not a readable "
                              "video")
    assert message.endswith("; name a video (mp4, mov, mkv, ...) or a folder of photos there")


def test_a_missing_video_says_how_to_name_your_own(tmp_path):
    """The example sheet on a clone without its test media: one line, the way out in it."""
    with pytest.raises(SwaplibError) as error:
        load_sheet(sheet(tmp_path, [("p1", "../shared/a.mp4", "b.mp4", "")]), SHEET_SCHEMA)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'pairs.tsv'}: {tmp_path.parent / 'shared' / 'a.mp4'}: no such video")
    assert "edit pairs.tsv to name your own videos, or run `swaplib swap SOURCE DESTINATION`" in message


def test_two_files_with_one_stem_are_refused(tmp_path, clip):
    real = clip("lp_d12_man_glasses_talking")
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        shutil.copy(real, tmp_path / folder / "same.mp4")
    with pytest.raises(SwaplibError, match="same name 'same'"):
        load_sheet(sheet(tmp_path, [("p1", "x/same.mp4", "y/same.mp4", "")]), SHEET_SCHEMA)


def test_a_file_that_is_not_a_video_is_refused_before_any_job(tmp_path, clip):
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(SwaplibError, match="notes.mp4"):
        load_sheet(sheet(tmp_path, [("p1", "notes.mp4", str(clip("lp_d12_man_glasses_talking")), "")]), SHEET_SCHEMA)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"frames": {"fps": "30000/1001", "start": 1.5, "end": 4, "jpg_quality": 90}}, None),
        ({"frames": {"fps": 29.97}}, None),
        ({"frames": {"fps": None}}, None),
        ({"frames": {"fps": "fast"}}, "frames.fps"),
        ({"frames": {"fps": -1}}, "frames.fps"),
        ({"frames": {"jpg_quality": 0}}, "frames.jpg_quality"),
        ({"frames": {"start": -2}}, "frames.start"),
        ({"frames": {"fsp": 25}}, "fsp"),
    ],
)
def test_frames_settings_are_checked(overrides, expected):
    config = deep_merge(DEFAULTS, overrides)
    if expected is None:
        validate_config(config, CONFIG_SCHEMA)
        return
    with pytest.raises(SwaplibError, match=expected):
        validate_config(config, CONFIG_SCHEMA)


# ------------------------------------------------------------------- photo folders as sources and destinations


def photos(folder, photo, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(photo("lp_d9_woman_open_mouth"), folder / name)
    return folder


def test_a_photo_folder_can_be_a_source_named_by_the_folder(tmp_path, clip, photo):
    photos(tmp_path / "stills" / "me.v2", photo, "b.jpg", "a.JPEG")
    dst = str(clip("lp_d20_young_man_talking"))
    parsed = load_sheet(sheet(tmp_path, [("p1", "stills/me.v2", dst, "")]), SHEET_SCHEMA)
    assert parsed.videos["me.v2"] == tmp_path / "stills" / "me.v2"
    assert parsed.pairs.set_index("pair").loc["p1", "source_video"] == "me.v2"


def test_a_photo_folder_can_be_a_destination_but_no_pair_is_named_like_its_result(tmp_path, clip, photo):
    photos(tmp_path / "pics", photo, "a.jpg", "b.png")
    src = str(clip("lp_d12_man_glasses_talking"))
    parsed = load_sheet(sheet(tmp_path, [("p1", src, "pics", "")]), SHEET_SCHEMA)
    assert parsed.videos["pics"] == tmp_path / "pics"
    assert parsed.pairs.set_index("pair").loc["p1", "destination_video"] == "pics"
    # results/pairs/p1.photos/ holds p1's swapped photos: no pair may be named so
    with pytest.raises(SwaplibError, match=r"pair name\(s\) p1\.photos: a name may not end in \.photos"):
        load_sheet(sheet(tmp_path, [("p1.photos", src, "pics", "")]), SHEET_SCHEMA)


def test_photo_folder_errors_name_the_folder(tmp_path, clip, photo):
    real = str(clip("lp_d20_young_man_talking"))
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    photos(tmp_path / "empty" / "sub", photo, "x.jpg")  # subfolders are not searched
    photos(tmp_path / "pics", photo, "a.jpg")
    (tmp_path / "pics.mp4").write_bytes(b"")
    cases = [
        ([("p1", "empty", real, "")], f"{tmp_path / 'empty'}: no photos in the folder"),
        ([("p1", "pics", real, ""), ("p2", "pics.mp4", real, "")], "same name 'pics'"),
    ]
    for rows, expected in cases:
        with pytest.raises(SwaplibError) as error:
            load_sheet(sheet(tmp_path, rows), SHEET_SCHEMA)
        assert expected in str(error.value), str(error.value)


# -------------------------------------------------------------------------- reference photos


REF_HEADER = "pair\tsource\tdestination\tmodel\tsource_reference\tdestination_reference"


def test_reference_columns_resolve_against_the_sheet(tmp_path, clip, photo):
    a, b = str(clip("lp_d12_man_glasses_talking")), str(clip("lp_d20_young_man_talking"))
    (tmp_path / "refs").mkdir()
    shutil.copy(photo("fr_obama"), tmp_path / "refs" / "him.jpg")
    rows = [("p1", a, b, "", "refs/him.jpg", ""), ("p2", a, b, "p1", "", "")]
    parsed = load_sheet(sheet(tmp_path, rows, header=REF_HEADER), SHEET_SCHEMA)
    assert parsed.references == {Path(a).stem: tmp_path / "refs" / "him.jpg"}
    # the config map adds the others; naming the same photo again is fine
    config = {Path(b).stem: "elsewhere/her.jpg", Path(a).stem: str(tmp_path / "refs" / ".." / "refs" / "him.jpg")}
    assert video_references(parsed, config) == {Path(a).stem: str(tmp_path / "refs" / "him.jpg"),
                                                Path(b).stem: "elsewhere/her.jpg"}
    # a sheet without the columns has no references
    assert load_sheet(sheet(tmp_path, [("p1", a, b, "")]), SHEET_SCHEMA).references == {}


def test_reference_conflicts_and_missing_photos_are_named(tmp_path, clip, photo):
    a, b = str(clip("lp_d12_man_glasses_talking")), str(clip("lp_d20_young_man_talking"))
    for name in ("one.jpg", "two.jpg"):
        shutil.copy(photo("fr_obama"), tmp_path / name)
    one, two = tmp_path / "one.jpg", tmp_path / "two.jpg"
    cases = [
        ([("p1", a, b, "", "", "gone.jpg")],
         f"row 2: destination_reference {tmp_path / 'gone.jpg'}: reference photo not found"),
        ([("p1", a, b, "", "one.jpg", ""), ("p2", a, b, "p1", "two.jpg", "")],
         f"rows 2 and 3 name different reference photos for '{Path(a).stem}': {one} and {two}"),
        ([("p1", a, b, "", "", "one.jpg"), ("p2", b, a, "", "two.jpg", "")],  # b as destination, then as source
         f"different reference photos for '{Path(b).stem}'"),
    ]
    for rows, expected in cases:
        with pytest.raises(SwaplibError) as error:
            load_sheet(sheet(tmp_path, rows, header=REF_HEADER), SHEET_SCHEMA)
        assert str(tmp_path / "pairs.tsv") in str(error.value) and expected in str(error.value), str(error.value)

    parsed = load_sheet(sheet(tmp_path, [("p1", a, b, "", "one.jpg", "")], header=REF_HEADER), SHEET_SCHEMA)
    with pytest.raises(SwaplibError) as error:
        video_references(parsed, {Path(a).stem: str(tmp_path / "two.jpg")}, source="my.yaml")
    message = str(error.value)
    assert str(tmp_path / "one.jpg") in message and str(tmp_path / "two.jpg") in message and "my.yaml" in message
