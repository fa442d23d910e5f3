"""Swap quality on real faces: an untouched clip measures as no swap, the source's face pasted in as a swap,
and the workflow measures every pair of a real (tiny) run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image, write_image
from swaplib.extract.align import face_matrix, hull_mask, warp_to_face, warp_to_frame
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.stage import extract_faces
from swaplib.quality import FIGURES, SAME_PERSON, measure_pair, write_card
from swaplib.sort.stage import build_faceset
from swaplib.tables.faces import landmarks_array, read_faces
from workflow_support import make_workdir, planned_jobs, snakemake, write_config, write_sheet

SOURCE = "lp_d12_man_glasses_talking"
DESTINATION = "lp_d20_young_man_talking"
FRAMES = 6


@pytest.fixture(scope="module")
def scene(tmp_path_factory, write_frames):
    """A few real frames of two people, with their faces and face sets (as the workflow makes them)."""
    root = tmp_path_factory.mktemp("quality")
    detector = make_detector("dlib", upsample=0)  # these faces are large: no upsampling needed
    for name, stem in (("src", SOURCE), ("dst", DESTINATION)):
        frames = write_frames(stem, root / name / "frames", FRAMES)
        extract_faces(frames, root / name / "faces", root / name / "faces.parquet", detector=detector, size=64,
                      face_type="whole_face")
        build_faceset(root / name / "faces.parquet", root / name / "faces", root / name / "faceset.parquet",
                      min_face_px=32)
    return root


def measure(scene, merged, out):
    return measure_pair(
        destination_frames=scene / "dst" / "frames", destination_faces=scene / "dst" / "faces.parquet",
        destination_faceset=scene / "dst" / "faceset.parquet", source_frames=scene / "src" / "frames",
        source_faceset=scene / "src" / "faceset.parquet", merged=merged, quality_json=out / "quality.json",
        table_path=out / "quality.csv", plot_path=out / "quality.png", strip_path=out / "strip.jpg",
        strip_frames=3, settings={"mode": "test"},
    )


def paste_source_faces(scene, out):
    """A crude but real swap: each source face, aligned onto the destination face, pasted inside its hull."""
    out.mkdir()
    src, dst = read_faces(scene / "src" / "faces.parquet"), read_faces(scene / "dst" / "faces.parquet")
    for (_, s), (_, d), s_lm, d_lm in zip(src.iterrows(), dst.iterrows(), landmarks_array(src), landmarks_array(dst)):
        frame = read_image(scene / "dst" / "frames" / f"{d.frame:06d}.png")
        face = warp_to_face(read_image(scene / "src" / "frames" / f"{s.frame:06d}.png"), face_matrix(s_lm, 256), 256)
        swapped = warp_to_frame(face, face_matrix(d_lm, 256), frame.shape)
        mask = hull_mask(d_lm, frame.shape)[..., None]
        write_image(out / f"{d.frame:06d}.png", (swapped * mask + frame * (1 - mask)).astype(np.uint8))
    return out


def test_an_untouched_clip_measures_as_no_swap(scene, tmp_path):
    # What merge mode `original` writes: every destination frame as it was.
    merged = shutil.copytree(scene / "dst" / "frames", tmp_path / "merged")
    quality = measure(scene, merged, tmp_path)
    assert quality["id_retrieval"] == 0
    assert quality["landmark_error"] == 0 and quality["jitter_ratio"] == 0
    assert quality["coverage"] == 0 and quality["faces_swapped"] == 0
    # The destination's own faces sit at its identity; these two men are ~0.59 apart for dlib.
    assert quality["id_distance_destination"] < 0.1 and quality["id_distance_source"] > 0.4
    assert quality["frames"] == quality["frames_with_face"] == quality["faces"] == FRAMES


def test_the_source_face_pasted_in_measures_as_a_swap(scene, tmp_path):
    quality = measure(scene, paste_source_faces(scene, tmp_path / "merged"), tmp_path)
    assert quality["coverage"] == 1 and quality["faces_swapped"] == FRAMES
    assert quality["id_retrieval"] >= 0.8  # the source's identity is recognised in the swapped faces
    assert quality["id_distance_source"] < SAME_PERSON / 2 < quality["id_distance_destination"]
    # Aligned onto the destination's face, the pose is kept roughly but not exactly (another face shape).
    assert 0.01 < quality["landmark_error"] < 0.3
    assert quality["jitter_ratio"] > 0


def test_outputs_name_the_models_and_hold_one_row_per_face(scene, tmp_path):
    merged = paste_source_faces(scene, tmp_path / "merged")
    measure(scene, merged, tmp_path)
    quality = json.loads((tmp_path / "quality.json").read_text())
    assert set(FIGURES) <= set(quality)
    assert {"detector", "landmarks", "embedding"} <= set(quality["models"])
    assert "dlib_face_recognition_resnet_model_v1" in quality["models"]["embedding"]
    assert quality["merge"] == {"mode": "test"}
    table = pd.read_csv(tmp_path / "quality.csv")
    assert list(table["frame"]) == list(range(FRAMES))
    assert table["jitter"].isna().sum() == 1  # the first frame has no previous frame to move from
    strip = read_image(tmp_path / "strip.jpg")
    assert strip.shape == (2 * 160, 3 * 160, 3)
    assert read_image(tmp_path / "quality.png").shape[0] > 300

    (tmp_path / "provenance.json").write_text(json.dumps({"synthetic": True, "model": "m<1>"}))
    write_card(tmp_path / "quality.json", tmp_path / "provenance.json", tmp_path / "card.html", title="Pair p")
    card = (tmp_path / "card.html").read_text()
    assert all(name in card for name in FIGURES) and "m&lt;1&gt;" in card and "synthetic" in card
    assert "http" not in card  # loads nothing: the report must open offline


def test_merged_frames_that_do_not_match_are_named(scene, tmp_path):
    merged = shutil.copytree(scene / "dst" / "frames", tmp_path / "merged")
    (merged / f"{FRAMES - 1:06d}.png").unlink()
    with pytest.raises(SwaplibError, match=r"merged frames do not match the destination frames.*\[5\]"):
        measure(scene, merged, tmp_path)
    assert not (tmp_path / "quality.json").exists()


# --------------------------------------------------------------------------- through the workflow

PAIR = "glasses_to_outdoors"
SMALL = {
    "frames": {"limit": 10},
    "extract": {"size": 64, "upsample": 0},
    "sort": {"min_face_px": 32},
    "train": {"preset": "tiny", "iterations": 10, "batch_size": 4, "lr": 5.0e-4, "save_every": 10},
    "quality": {"identity_faces": 8, "strip_frames": 4},
}


def small_run(tmp_path_factory, clip):
    """One small real run of the whole workflow, shared by this module and test_report.py."""
    workdir = tmp_path_factory.getbasetemp() / "quality-run"
    if not (workdir / "results" / "pairs" / PAIR / "quality.html").exists():
        shutil.rmtree(workdir, ignore_errors=True)  # a run that failed half-way starts again
        make_workdir(workdir)
        write_sheet(workdir, [(PAIR, clip(SOURCE), clip(DESTINATION))])
        write_config(workdir, SMALL)
        snakemake(workdir)
    return workdir


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, clip):
    return small_run(tmp_path_factory, clip)


@pytest.mark.workflow
def test_the_workflow_measures_every_pair(finished_run):
    quality = json.loads((finished_run / f"results/pairs/{PAIR}/quality.json").read_text())
    assert 0 <= quality["id_retrieval"] <= 1 and 0 <= quality["coverage"] <= 1
    assert 0 <= quality["id_distance_source"] < 2 and 0 <= quality["id_distance_destination"] < 2
    assert 0 < quality["landmark_error"] < 1 and quality["jitter_ratio"] > 0
    assert quality["coverage"] == quality["frames_swapped"] / quality["frames"] > 0.8
    assert quality["merge"]["mode"] == "overlay"
    assert (finished_run / "logs/quality" / f"{PAIR}.log").is_file()
    assert (finished_run / "benchmarks/quality" / f"{PAIR}.tsv").is_file()


@pytest.mark.workflow
def test_merge_mode_original_measures_as_no_swap_and_reruns_only_what_it_changes(finished_run, tmp_path):
    run = shutil.copytree(finished_run, tmp_path / "run", symlinks=True)
    write_config(run, {**SMALL, "merge": {"mode": "original"}}, name="original.yaml")
    assert planned_jobs(run, "--configfile", "original.yaml") == {
        "all": 1, "merge": 1, "video": 1, "quality": 1, "quality_card": 1,
    }
    snakemake(run, f"results/pairs/{PAIR}/quality.json", "--configfile", "original.yaml")  # --configfile takes several
    swap = json.loads((finished_run / f"results/pairs/{PAIR}/quality.json").read_text())
    original = json.loads((run / f"results/pairs/{PAIR}/quality.json").read_text())
    assert original["id_retrieval"] == 0 and original["landmark_error"] == 0 and original["coverage"] == 0
    assert swap["landmark_error"] > 0.01 and swap["coverage"] > 0.8
    assert original["merge"]["mode"] == "original"


@pytest.mark.workflow
def test_a_video_setting_redraws_the_card_but_measures_nothing(finished_run):
    write_config(finished_run, {**SMALL, "video": {"crf": 30}}, name="video.yaml")
    assert planned_jobs(finished_run, "--configfile", "video.yaml") == {"all": 1, "video": 1, "quality_card": 1}
