"""The whole chain through real Snakemake: one small real run, then what reruns after a change."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from swaplib.tables.faces import read_faces
from swaplib.video.marks import SYNTHETIC_TAG, read_metadata_tags
from swaplib.video.probe import probe
from workflow_support import (
    FRAMES,
    ITERATIONS,
    SMALL,
    copy_run,
    finished_small_run,
    planned_jobs,
    snakemake,
    write_config,
    write_sheet,
)

pytestmark = pytest.mark.workflow

SOURCE = "lp_d12_man_glasses_talking"
DESTINATION = "lp_d20_young_man_talking"  # has audio
PAIR = "glasses_to_outdoors"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, clip):
    """A workdir in which the whole workflow has run once on one real pair."""
    started = time.monotonic()
    workdir = finished_small_run(tmp_path_factory.mktemp("run"), [(PAIR, clip(SOURCE), clip(DESTINATION))])
    print(f"small end-to-end run: {time.monotonic() - started:.0f} s")
    return workdir


@pytest.fixture
def run_copy(finished_run, tmp_path):
    return copy_run(finished_run, tmp_path)


def decode(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def test_video_has_destination_timing_audio_and_is_marked_synthetic(finished_run, clip):
    out = finished_run / f"results/pairs/{PAIR}.mp4"
    info, dst = probe(out), probe(clip(DESTINATION))
    assert info.frame_count == FRAMES
    assert info.fps_fraction == dst.fps_fraction
    assert (info.width, info.height) == (dst.width, dst.height)
    assert info.has_audio and dst.has_audio
    assert SYNTHETIC_TAG in " ".join(read_metadata_tags(out).values())
    assert (finished_run / f"results/pairs/{PAIR}.provenance.json").is_file()


def test_video_differs_inside_the_face_and_matches_outside(finished_run):
    out = decode(finished_run / f"results/pairs/{PAIR}.mp4")
    frames_dir = finished_run / f"results/videos/{DESTINATION}/frames"
    originals = [cv2.imread(str(p)) for p in sorted(frames_dir.glob("*.png"))]
    faces = read_faces(finished_run / f"results/videos/{DESTINATION}/faces.parquet")
    height, width = originals[0].shape[:2]
    inside_diffs, outside_diffs = [], []
    for frame, rows in faces.groupby("frame"):
        diff = np.abs(out[frame].astype(np.int16) - originals[frame].astype(np.int16)).mean(axis=2)
        inside = np.zeros((height, width), bool)
        near = np.zeros((height, width), bool)
        for r in rows.itertuples():
            x0, y0, x1, y1 = (int(round(v)) for v in (r.box_x0, r.box_y0, r.box_x1, r.box_y1))
            w, h = x1 - x0, y1 - y0
            inside[max(y0 + h // 4, 0) : y1 - h // 4, max(x0 + w // 4, 0) : x1 - w // 4] = True
            near[max(y0 - h // 2, 0) : y1 + h // 2, max(x0 - w // 2, 0) : x1 + w // 2] = True  # mask + feather
        near[int(height * 0.85) :, :] = True  # the visible "synthetic" label sits at the bottom
        inside_diffs.append(diff[inside].mean())
        if (~near).sum() > 1000:
            outside_diffs.append(diff[~near].mean())
    assert len(inside_diffs) >= FRAMES // 2 and len(outside_diffs) >= FRAMES // 2
    assert np.mean(inside_diffs) > 6.0, "the face region looks untouched"
    assert np.mean(outside_diffs) < 2.5, "pixels far from the face changed beyond re-encoding noise"


def test_nothing_to_do_after_a_run(finished_run):
    assert planned_jobs(finished_run) == {}


def test_merge_setting_reruns_merge_and_video_only(finished_run):
    write_config(finished_run, {**SMALL, "merge": {"color_transfer": "none"}}, name="merge_change.yaml")
    assert planned_jobs(finished_run, "--configfile", "merge_change.yaml") == {
        "all": 1, "merge": 1, "video": 1, "quality": 1, "quality_card": 1, "pair_pages": 1,
    }


def test_sort_setting_reruns_faceset_sheets_train_merge_video(finished_run):
    write_config(finished_run, {**SMALL, "sort": {"min_face_px": 33}}, name="sort_change.yaml")
    assert planned_jobs(finished_run, "--configfile", "sort_change.yaml") == {
        "all": 1, "faceset": 2, "sheets": 2, "train": 1, "model_page": 1, "merge": 1, "video": 1, "quality": 1,
        "quality_card": 1, "pair_pages": 1,
    }


def test_curation_sheet_reruns_what_uses_that_video(finished_run):
    faceset = pd.read_parquet(finished_run / f"results/videos/{SOURCE}/faceset.parquet")
    sheet = finished_run / "curation" / f"{SOURCE}.tsv"
    sheet.parent.mkdir(exist_ok=True)
    expected = {
        "all": 1, "faceset": 1, "sheets": 1, "train": 1, "model_page": 1, "merge": 1, "video": 1, "quality": 1,
        "quality_card": 1, "pair_pages": 1,
    }
    try:
        sheet.write_text(f"face_id\taction\n{faceset['face_id'].iloc[0]}\texclude\n")
        assert planned_jobs(finished_run) == expected  # added
        snakemake(finished_run, "--touch")  # pretend it ran, to test the edit and the removal
        assert planned_jobs(finished_run) == {}
        time.sleep(1.1)
        sheet.write_text(f"face_id\taction\n{faceset['face_id'].iloc[1]}\texclude\n")
        assert planned_jobs(finished_run) == expected  # edited
        snakemake(finished_run, "--touch")
    finally:
        sheet.unlink()
    assert planned_jobs(finished_run) == expected  # removed
    snakemake(finished_run, "--touch")


def test_pairs_sharing_videos_and_models_reuse_them(finished_run, clip):
    write_sheet(
        finished_run,
        [
            (PAIR, clip(SOURCE), clip(DESTINATION)),
            ("outdoors_to_glasses", clip(DESTINATION), clip(SOURCE)),  # both videos shared, new model
            ("glasses_again", clip(SOURCE), clip(DESTINATION), PAIR),  # shares the trained model
        ],
        name="shared.tsv",
    )
    assert planned_jobs(finished_run, "--config", "pairs=shared.tsv") == {
        "all": 1, "train": 1, "model_page": 1, "merge": 2, "video": 2, "quality": 2, "quality_card": 2, "pair_pages": 2,
    }


def train_log(workdir: Path) -> str:
    return (workdir / f"logs/train/{PAIR}.log").read_text()


def test_more_iterations_resume_and_architecture_change_starts_fresh(run_copy):
    model = f"results/models/{PAIR}/model.safetensors"
    write_config(run_copy, {**SMALL, "train": {**SMALL["train"], "iterations": ITERATIONS + 10}})
    snakemake(run_copy, model)
    assert f"resuming from iteration {ITERATIONS}" in train_log(run_copy)
    history = pd.read_csv(run_copy / f"results/models/{PAIR}/loss.csv")
    assert history["iteration"].max() == ITERATIONS + 10

    write_config(run_copy, {**SMALL, "train": {**SMALL["train"], "resolution": 32}})
    snakemake(run_copy, model)
    assert "architecture changed" in train_log(run_copy) and "starting training fresh" in train_log(run_copy)
    assert list((run_copy / f"results/models/{PAIR}/state").glob("checkpoint.incompatible-*.pt"))


def test_interrupted_training_keeps_its_state_and_resumes(run_copy):
    long = {**SMALL, "train": {**SMALL["train"], "iterations": 100_000, "save_every": 100_000}}
    write_config(run_copy, long)
    env = dict(os.environ, PYTHONPATH=str(run_copy / "src"))
    log = run_copy / f"logs/train/{PAIR}.log"
    log.unlink()  # the copied log of the first run would look like a started loop
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2", f"results/models/{PAIR}/model.safetensors"],
        cwd=run_copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not (log.exists() and "parameters on" in log.read_text()):  # logged as the loop starts
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
        time.sleep(0.5)
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0, output

    model_dir = run_copy / f"results/models/{PAIR}"
    assert not (model_dir / "model.safetensors").exists()
    assert not [p for p in model_dir.rglob("*") if ".tmp" in p.name], "temporary files left behind"
    saved = int(re.findall(r"training interrupted at iteration (\d+)", log.read_text())[-1])
    assert saved > ITERATIONS

    write_config(run_copy, {**SMALL, "train": {**SMALL["train"], "iterations": saved + 5}})
    snakemake(run_copy, f"results/models/{PAIR}/model.safetensors")
    assert f"resuming from iteration {saved}" in train_log(run_copy)
