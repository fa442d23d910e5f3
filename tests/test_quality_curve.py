"""bench/quality_curve.py outlives its session: a curve resumed from its folder continues its rows (no
row twice, samples and training seconds counted on), a stop between measures loses at most the steps
since the last save, and a resume that asks for another recipe is refused. Real stages on real frames,
a small model trained for real."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from conftest import REPO
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.stage import extract_faces
from swaplib.sort.stage import build_faceset

sys.path.insert(0, str(REPO / "bench"))
import quality_curve  # noqa: E402  # bench/quality_curve.py

FRAMES = 4
BATCH = 2
PER_STEP = 2 * BATCH  # samples seen per step: a batch of source and one of destination faces
RECIPE = {"resolution": 32, "ae_dims": 16, "e_dims": 4, "d_dims": 4, "d_mask_dims": 4, "batch_size": BATCH,
          "threads": 1, "workers": 1}


@pytest.fixture(scope="module")
def faces(tmp_path_factory, write_frames):
    """Frames, faces and face sets of a few frames of two people, as the curve's prepare() makes them."""
    root = tmp_path_factory.mktemp("curve")
    detector = make_detector("dlib", upsample=1)
    out = {}
    for name, stem in (("src", "lp_d20_young_man_talking"), ("dst", "lp_s18_woman_landscape_talking")):
        folder = root / name
        frames = write_frames(stem, folder / "frames", FRAMES)
        extract_faces(frames, folder / "faces", folder / "faces.parquet", detector=detector, size=64,
                      face_type="whole_face")
        build_faceset(folder / "faces.parquet", folder / "faces", folder / "faceset.parquet", min_face_px=32)
        out[name] = {"frames": frames, "faces": folder / "faces", "faces.parquet": folder / "faces.parquet",
                     "faceset.parquet": folder / "faceset.parquet"}
    out["shown"] = out["dst"]
    return out


def run_curve(folder, faces, last, **kwargs):
    return quality_curve.curve(folder, faces, range(16, last + 1, 16), PER_STEP, "tiny", RECIPE, save_samples=8,
                               **kwargs)


def test_a_resumed_curve_continues_its_rows(faces, tmp_path, monkeypatch):
    first = run_curve(tmp_path, faces, 32)
    assert [row["samples"] for row in first] == [16, 32]
    written = pd.read_csv(tmp_path / "curve.csv")
    assert list(written["samples"]) == [16, 32] and {"verdict", "convincing"} <= set(written.columns)

    # A stop after training to 48 samples, before its measure: the state and the seconds were saved.
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(quality_curve, "measure", stop)
    with pytest.raises(KeyboardInterrupt):
        run_curve(tmp_path, faces, 64)
    saved = json.loads((tmp_path / "progress.json").read_text())
    assert saved["samples"] == 48 and saved["seconds"] > first[-1]["seconds"]
    assert list(pd.read_csv(tmp_path / "curve.csv")["samples"]) == [16, 32]
    monkeypatch.undo()

    trained = []
    original = quality_curve.train_model
    monkeypatch.setattr(quality_curve, "train_model", lambda **kw: trained.append(kw["iterations"]) or original(**kw))
    rows = run_curve(tmp_path, faces, 64, sitting=1)
    samples = [row["samples"] for row in rows]
    assert samples == [16, 32, 48, 64]  # no row twice, none lost
    assert trained == [12, 14, 16]  # 48 resumed from its save (no step), then on to 64 in saves of 8 samples
    assert rows[:2] == pd.read_csv(tmp_path / "curve.csv").to_dict("records")[:2]
    seconds = [row["seconds"] for row in rows]
    assert seconds == sorted(seconds) and seconds[2] >= saved["seconds"]  # counted on, not from zero
    assert [row["sitting"] for row in rows] == [0, 0, 1, 1]
    history = pd.read_csv(tmp_path / "history.csv")
    assert history["iteration"].max() == 16  # the model saw 64 samples in all


def test_a_resume_with_another_recipe_is_refused_and_speed_settings_are_not_a_recipe(tmp_path):
    run = {"pair": "p", "preset": "tiny", "settings": {"lr": 5e-4, "threads": 1}, "base_samples": 0,
           "face_type": "whole_face"}
    assert quality_curve.start_sitting(tmp_path, run, {"cpu": "A"}) == 0
    assert quality_curve.start_sitting(tmp_path, {**run, "settings": {"lr": 5e-4, "threads": 2}}, {"cpu": "B"}) == 1
    sittings = json.loads((tmp_path / "machine.json").read_text())["sittings"]
    assert [s["cpu"] for s in sittings] == ["A", "B"] and sittings[1]["settings"]["threads"] == 2
    with pytest.raises(SystemExit, match=r"run.json: this folder holds a curve of another run .*'settings'"):
        quality_curve.start_sitting(tmp_path, {**run, "settings": {"lr": 1e-4}}, {"cpu": "A"})
    with pytest.raises(SystemExit, match=r"'face_type': \('whole_face', 'full'\)"):
        quality_curve.start_sitting(tmp_path, {**run, "face_type": "full"}, {"cpu": "A"})
    # A curve started before the face type was recorded was a whole_face one.
    legacy = {k: v for k, v in json.loads((tmp_path / "run.json").read_text()).items() if k != "face_type"}
    (tmp_path / "run.json").write_text(json.dumps(legacy))
    assert quality_curve.start_sitting(tmp_path, run, {"cpu": "A"}) == 2


def test_a_verdict_counts_when_the_next_measure_holds_it():
    table = pd.DataFrame({"samples": [10, 20, 30, 40, 50], "seconds": [1, 2, 3, 4, 5],
                          "verdict": ["nobody", "source", "nobody", "source", "source"]})
    assert quality_curve.first_held(table, "verdict", "source") == {"samples": 40, "seconds": 4}
    assert quality_curve.first_held(table.iloc[:4], "verdict", "source") == "not reached"
