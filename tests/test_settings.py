"""Config and sheet validation: each bad input stops early, naming the file, key or row."""

from __future__ import annotations

import shutil

import pytest
import yaml

from swaplib.codedeps import module_files
from swaplib.errors import SwaplibError
from swaplib.settings import load_sheet, validate_config
from workflow_support import REPO, deep_merge

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


def test_module_files_follow_imports():
    files = {f.rsplit("/", 1)[-1] for f in module_files("sort")}
    assert {"scores.py", "align.py", "facetable.py", "atomic.py", "errors.py"} <= files
    assert "faces.py" not in files  # sorting reads the table; it does not run the detectors
    assert "merge.py" not in files and "train.py" not in files
    with pytest.raises(ValueError):
        module_files("no_such_module")
