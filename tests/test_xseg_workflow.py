"""The xseg rules through real Snakemake on a very small run: off by default (nothing of it is
planned), on: a model and every video's masks; a labels file added, edited or removed reruns the
segmentation model and the masks and nothing else; its untracked settings rerun nothing."""

from __future__ import annotations

import json
import time

import pytest

from workflow_support import copy_run, make_workdir, planned_jobs, snakemake, write_config, write_sheet

pytestmark = pytest.mark.workflow

SOURCE, DESTINATION = "lp_d12_man_glasses_talking", "lp_d20_young_man_talking"
SMALL = {"frames": {"limit": 6}, "extract": {"size": 64}, "sort": {"min_face_px": 32}}
XSEG = {"enabled": True, "resolution": 32, "width": 4, "iterations": 4, "batch_size": 4, "save_every": 2}
MASKS = [f"results/videos/{video}/masks" for video in (SOURCE, DESTINATION)]


@pytest.fixture(scope="module")
def xseg_run(tmp_path_factory, clip):
    workdir = make_workdir(tmp_path_factory.mktemp("xseg_workflow"))
    write_sheet(workdir, [("p", clip(SOURCE), clip(DESTINATION))])
    write_config(workdir, {**SMALL, "xseg": XSEG})
    write_config(workdir, SMALL, name="off.yaml")  # the shipped xseg section: off
    snakemake(workdir, *MASKS)
    return workdir


def test_off_by_default_nothing_of_it_is_planned(xseg_run):
    jobs = planned_jobs(xseg_run, "--configfile", "off.yaml")
    assert jobs and "xseg_train" not in jobs and "xseg_masks" not in jobs
    # ... and the stages both configurations ran (frames, faces) are up to date under either
    assert planned_jobs(xseg_run, "--configfile", "off.yaml", "--", *[f"results/videos/{v}/faces.parquet"
                                                                        for v in (SOURCE, DESTINATION)]) == {}


def test_on_it_writes_the_model_and_one_mask_per_face(xseg_run):
    for name in ("model.safetensors", "preview.jpg", "loss.png", "state/checkpoint.pt"):
        assert (xseg_run / "results/xseg/faces" / name).is_file(), name
    for video in (SOURCE, DESTINATION):
        crops = {p.stem for p in (xseg_run / f"results/videos/{video}/faces").glob("*.png")}
        masks = {p.stem for p in (xseg_run / f"results/videos/{video}/masks").glob("*.png")}
        assert crops and masks == crops
    # the default target asks for every video's masks when on (and for none when off)
    assert planned_jobs(xseg_run, "--forcerun", "xseg_masks")["xseg_masks"] == 2
    assert "xseg_masks" not in planned_jobs(xseg_run, "--configfile", "off.yaml", "--forcerun", "xseg_masks")
    assert planned_jobs(xseg_run, "--", *MASKS) == {}


def test_labels_added_edited_removed_rerun_the_model_and_its_masks_only(xseg_run, tmp_path):
    run = copy_run(xseg_run, tmp_path)
    label = run / "labels" / SOURCE / "000000.json"
    label.parent.mkdir(parents=True)
    label.write_text(json.dumps({"shapes": [{"label": "hand", "points": [[0, 0], [200, 0], [200, 200]]}]}))
    expected = {"xseg_train": 1, "xseg_masks": 2}
    assert planned_jobs(run, "--", *MASKS) == expected  # added
    snakemake(run, *MASKS)
    assert planned_jobs(run, "--", *MASKS) == {}
    time.sleep(1)  # an edit (Snakemake compares modification times, and contents where it recorded them)
    label.write_text(json.dumps({"shapes": [{"label": "hand", "points": [[0, 0], [100, 0], [100, 100]]}]}))
    assert planned_jobs(run, "--", *MASKS) == expected
    label.unlink()  # removed
    assert planned_jobs(run, "--", *MASKS) == expected


def test_untracked_settings_rerun_nothing(xseg_run, tmp_path):
    run = copy_run(xseg_run, tmp_path)
    write_config(run, {**SMALL, "xseg": {**XSEG, "save_every": 1, "device": "cpu"}}, name="untracked.yaml")
    assert planned_jobs(run, "--configfile", "untracked.yaml", "--", *MASKS) == {}
    write_config(run, {**SMALL, "xseg": {**XSEG, "occlusion": 0.3}}, name="tracked.yaml")
    assert planned_jobs(run, "--configfile", "tracked.yaml", "--", *MASKS) == {"xseg_train": 1, "xseg_masks": 2}


def test_a_bad_label_file_stops_the_job_with_its_name(xseg_run, tmp_path):
    run = copy_run(xseg_run, tmp_path)
    label = run / "labels" / SOURCE / "000000.json"
    label.parent.mkdir(parents=True)
    label.write_text('{"shapes": [{"label": "hand", "points": [[0, 0], [1, 1]]}]}')
    proc = snakemake(run, *MASKS, check=False)
    log = (run / "logs/xseg_train/faces.log").read_text()
    assert proc.returncode != 0
    assert "labels/lp_d12_man_glasses_talking/000000.json: shape 1 (hand): a polygon needs at least 3 points" in log
