"""Selection rules: DFL's best N spread over poses, includes under a cap, settings, pairwise helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from settings_agreement import assert_agreement
from swaplib.core.errors import SwaplibError
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.stage import extract_faces
from swaplib.sort.curation import Curation
from swaplib.sort.identity import IDENTITY_MODES
from swaplib.sort.orders import BIN_DEGREES, ORDERS, mean_abs_difference, spread
from swaplib.sort.scores import Features
from swaplib.sort.select import select_faces
from swaplib.sort.settings import CurationSettings, SortSettings, sort_settings
from swaplib.sort.stage import build_faceset
from swaplib.xseg.review import ReviewSettings

OFF = {"min_face_px": 0, "blur_keep": 1.0, "duplicate": 0}


def evenly_filled(chosen: pd.Series, available: pd.Series) -> bool:
    """Water-filling: a bin may hold 2+ fewer than the fullest one only when it has nothing left."""
    bins = available.value_counts()
    taken = chosen.value_counts().reindex(bins.index, fill_value=0)
    short = taken < taken.max() - 1
    return bool((taken[short] == bins[short]).all())


def synthetic(yaw: list[float], blur: list[float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, Features]:
    n = len(yaw)
    faces = pd.DataFrame({"face_id": [f"{i:06d}_0" for i in range(n)], "frame": range(n), "index": 0})
    scores = pd.DataFrame({
        "blur": blur if blur is not None else np.linspace(100, 1, n), "face_px": 100.0, "yaw": yaw, "pitch": 0.0,
        "identity": np.nan, "one_face": True, "motion_blur": 0.0, "brightness": 100.0, "hue": 10.0, "black": 0.0,
        "distance": 0.0, "roll": 0.0,
    })
    features = Features(np.full((n, 96), 1 / 32, np.float32), np.zeros((n, 256), np.float32), np.zeros((n, 68, 2)))
    return faces, scores, features


@pytest.mark.parametrize("n", [1, 4, 7, 12, 30])
def test_best_n_fills_yaw_bins_as_evenly_as_the_data_allows_on_synthetic_poses(n):
    yaw = [0.0] * 20 + [-25.0] * 3 + [15.0] * 6 + [40.0] * 1 + [-5.0] * 10
    faces, scores, features = synthetic(yaw)
    decision = select_faces(faces, scores, features, SortSettings(**OFF, max_faces=n, order="blur-variance"))
    chosen = decision["selected"]
    assert chosen.sum() == n
    bins = np.floor(scores["yaw"] / BIN_DEGREES)
    assert evenly_filled(bins[chosen], bins)
    # Within a bin, the sharpest go first.
    for _, group in scores[chosen].groupby(bins[chosen]):
        left = scores[~chosen & (bins == bins[group.index[0]])]
        assert left.empty or group["blur"].min() >= left["blur"].max()


def test_every_prefix_of_the_best_order_is_spread():
    yaw = list(np.random.default_rng(1).normal(0, 20, 200))
    faces, scores, _ = synthetic(yaw)
    order = spread(scores, "blur")
    assert sorted(order) == list(range(200))
    bins = np.floor(scores["yaw"] / BIN_DEGREES)
    for n in (5, 17, 50, 120):
        assert evenly_filled(bins.iloc[order[:n]], bins), n


@pytest.fixture(scope="module")
def expressive(tmp_path_factory, clip):
    """Every 4th frame of the clip where the woman turns her head left and right."""
    import cv2

    root = tmp_path_factory.mktemp("best")
    frames = root / "frames"
    frames.mkdir()
    capture = cv2.VideoCapture(str(clip("lp_d3_woman_expressions")))
    for number in range(200):
        ok, frame = capture.read()
        if ok and number % 4 == 0:
            cv2.imwrite(str(frames / f"{number:06d}.png"), frame)
    extract_faces(frames, root / "faces", root / "faces.parquet", detector=make_detector("dlib", upsample=0),
                  size=64, face_type="whole_face")
    return root


def test_best_n_on_real_faces_spreads_over_yaw(expressive):
    everything = build_faceset(expressive / "faces.parquet", expressive / "faces", expressive / "all.parquet", **OFF)
    bins = np.floor(everything["yaw"] / BIN_DEGREES)
    assert bins.nunique() >= 4, "the clip should cover several yaw bins"
    faceset = build_faceset(expressive / "faces.parquet", expressive / "faces", expressive / "best.parquet",
                            **OFF, max_faces=12)
    chosen = faceset["selected"]
    assert chosen.sum() == 12 and (faceset.loc[~chosen, "reason"] == "over max_faces").all()
    assert evenly_filled(bins[chosen], bins)
    # The plain sharpest 12 would crowd into fewer bins than best-N fills.
    sharpest = everything["blur"].nlargest(12).index
    assert bins[chosen].nunique() >= bins[sharpest].nunique()


def test_a_cap_keeps_the_faces_a_person_included():
    faces, scores, features = synthetic([0.0, 0.0, 0.0, 0.0], blur=[5.0, 4.0, 3.0, 2.0])
    curation = Curation(actions={"000003_0": "include"})
    rules = SortSettings(**OFF, max_faces=2, order="blur-variance")
    decision = select_faces(faces, scores, features, rules, curation=curation)
    assert list(decision["selected"]) == [True, False, False, True]
    assert list(decision["rank"]) == [0, -1, -1, 1]
    assert list(decision["reason"]) == ["", "over max_faces", "over max_faces", ""]


def test_includes_beat_filters_and_excludes_beat_everything():
    faces, scores, features = synthetic([0.0, 80.0, 0.0], blur=[5.0, 4.0, 3.0])
    curation = Curation(actions={"000001_0": "include", "000000_0": "exclude"}, notes={"000000_0": "blink"})
    decision = select_faces(faces, scores, features, SortSettings(**OFF, order="blur-variance"), curation=curation)
    assert list(decision["reason"]) == ["curation", "", ""] and decision["curation_note"][0] == "blink"


def test_settings_out_of_range_are_named():
    with pytest.raises(SwaplibError, match=r"blur_keep=0"):
        SortSettings(blur_keep=0)
    with pytest.raises(SwaplibError, match=r"max_yaw=-5"):
        SortSettings(max_yaw=-5)
    with pytest.raises(SwaplibError, match=r"max_faces=0"):  # no cap is null, not a magic 0
        SortSettings(max_faces=0)
    with pytest.raises(SwaplibError, match=r"unknown sort setting\(s\) blur_kep"):
        sort_settings({"blur_kep": 0.5})
    with pytest.raises(SwaplibError, match=r"unknown sort order 'sharpest'; choose one of: blur, blur-variance, "):
        SortSettings(order="sharpest")
    with pytest.raises(SwaplibError, match=r"sort order 'identity' needs identity embeddings"):
        SortSettings(order="identity", identity="none")


def test_config_schema_and_settings_agree():
    """config.yaml's sort and curation sections, the schema and the settings objects name the same
    keys with the same defaults; the schema's choices are the library's."""
    assert_agreement("sort", SortSettings)
    assert_agreement("curation", (CurationSettings, ReviewSettings))
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]["sort"]
    assert set(schema["properties"]["order"]["enum"]) == set(ORDERS)
    assert tuple(schema["properties"]["identity"]["enum"]) == IDENTITY_MODES


def test_mean_absolute_difference_matches_the_pairwise_definition():
    values = np.random.default_rng(2).random((40, 7))
    values[3] = values[5]  # ties
    pairwise = np.abs(values[:, None] - values[None]).sum(axis=(1, 2)) / (39 * 7)
    assert np.allclose(mean_abs_difference(values), pairwise)
