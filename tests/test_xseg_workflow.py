"""The xseg rules through real Snakemake on a very small run: off by default (nothing of it is
planned), on: a model and every video's masks; a labels file added, edited or removed reruns the
segmentation model and the masks and nothing else; its untracked settings rerun nothing. With
train.masks xseg and merge.mask xseg-dst, a tiny swap model trains on the masks and merges through
the model, and a label reruns exactly what uses them; with xseg off, both stop naming the setting."""

from __future__ import annotations

import json
import shutil
import time

import cv2
import numpy as np
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


# --------------------------------------------------------------- reviewing the masks

REVIEW = f"results/videos/{SOURCE}/to_label"
SHEETS = f"results/videos/{SOURCE}/sheets"


def test_the_faces_to_outline_and_masked_sheets_rerun_nothing_else(xseg_run, tmp_path):
    run = copy_run(xseg_run, tmp_path)
    write_config(run, {**SMALL, "xseg": XSEG, "curation": {"show_masks": True, "suggest_labels": 3}})
    assert planned_jobs(run, "--", REVIEW, SHEETS) == {"label_review": 1, "faceset": 1, "sheets": 1}
    snakemake(run, REVIEW, SHEETS)
    listed = (run / REVIEW / "faces.tsv").read_text().splitlines()
    assert listed[0].split("\t")[:2] == ["face_id", "why"] and len(listed) == 4  # 3 suggested
    assert len(list((run / REVIEW / "crops").iterdir())) == 3 and (run / SHEETS / "page-001.png").is_file()
    # the default target asks for it with xseg on (for the videos xseg learns from)
    assert planned_jobs(run, "--forcerun", "label_review")["label_review"] == 2
    # a face marked to outline: only the list reruns, and lists it first
    marks = run / "labels" / SOURCE / "to_label.tsv"
    marks.parent.mkdir(parents=True)
    face = sorted(p.stem for p in (run / f"results/videos/{SOURCE}/faces").glob("*.png"))[-1]
    marks.write_text(f"face\tnote\n{face}\tglasses rim\n")
    assert planned_jobs(run, "--", REVIEW, SHEETS, *MASKS) == {"label_review": 1}
    snakemake(run, REVIEW)
    assert (run / REVIEW / "faces.tsv").read_text().splitlines()[1].startswith(f"{face}\tmarked\tglasses rim")
    # the suggestions' count reruns the list, not the sheets
    write_config(run, {**SMALL, "xseg": XSEG, "curation": {"show_masks": True, "suggest_labels": 1}}, name="one.yaml")
    assert planned_jobs(run, "--configfile", "one.yaml", "--", REVIEW, SHEETS) == {"label_review": 1}
    # show_masks with xseg off stops before any job, naming the setting
    write_config(run, {**SMALL, "curation": {"show_masks": True}}, name="off_masks.yaml")
    proc = snakemake(run, "--configfile", "off_masks.yaml", "--dry-run", "--", SHEETS, check=False)
    message = "curation.show_masks overlays the XSeg masks; set xseg.enabled: true"
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr


# --------------------------------------------------------------- training and merging with the masks

TRAIN = {"preset": "tiny", "iterations": 2, "batch_size": 2, "save_every": 2}
MERGED = "results/pairs/p/merged"
WITH_XSEG = {**SMALL, "xseg": XSEG, "train": {**TRAIN, "masks": "xseg"}, "merge": {"mask": "xseg-dst"}}


@pytest.fixture(scope="module")
def merged_run(xseg_run, tmp_path_factory):
    """The xseg run, then a tiny swap model trained on the XSeg masks and merged with mask xseg-dst."""
    run = copy_run(xseg_run, tmp_path_factory.mktemp("xseg_merge"))
    write_config(run, WITH_XSEG)
    assert planned_jobs(run, "--", MERGED) == {"faceset": 2, "train": 1, "merge": 1}  # the masks are made already
    snakemake(run, MERGED)
    return run


def test_train_masks_xseg_and_merge_mask_xseg_dst_run_end_to_end(merged_run):
    log = (merged_run / "logs/train/p.log").read_text()
    assert "face masks: the segmentation model's (train.masks xseg)" in log
    report = json.loads((merged_run / "results/pairs/p/merge.json").read_text())
    assert report["settings"]["mask"] == "xseg-dst" and report["swapped"] > 0
    assert report["xseg_model"]["path"] == "results/xseg/faces/model.safetensors"
    # mask dst reruns the merge only, and paints other pixels
    write_config(merged_run, {**WITH_XSEG, "merge": {"mask": "dst"}}, name="dst.yaml")
    assert planned_jobs(merged_run, "--configfile", "dst.yaml", "--", MERGED) == {"merge": 1}
    kept = merged_run / "merged_xseg"
    shutil.copytree(merged_run / MERGED, kept)
    snakemake(merged_run, "--configfile", "dst.yaml", "--", MERGED)
    name = sorted(p.name for p in kept.glob("*.png"))[0]
    differ = np.abs(cv2.imread(str(kept / name)).astype(int) - cv2.imread(str(merged_run / MERGED / name))).max(2)
    assert (differ > 8).sum() > 100


def test_labels_rerun_xseg_its_masks_and_what_uses_them_only(merged_run, tmp_path):
    run = copy_run(merged_run, tmp_path)
    label = run / "labels" / DESTINATION / "000000.json"
    label.parent.mkdir(parents=True)

    def outline(size):
        time.sleep(1)  # Snakemake compares modification times
        label.write_text(json.dumps({"shapes": [{"label": "hand", "points": [[0, 0], [size, 0], [size, size]]}]}))

    outline(200)  # trained and merged with the masks: all of it
    assert planned_jobs(run, "--", MERGED) == {"xseg_train": 1, "xseg_masks": 2, "train": 1, "merge": 1}
    write_config(run, {**WITH_XSEG, "train": TRAIN}, name="hull.yaml")  # trained on the hulls: no training
    snakemake(run, "--configfile", "hull.yaml", "--", MERGED)
    outline(100)
    assert planned_jobs(run, "--configfile", "hull.yaml", "--", MERGED) == {"xseg_train": 1, "merge": 1}
    write_config(run, {**WITH_XSEG, "train": TRAIN, "merge": {"mask": "dst"}}, name="neither.yaml")
    snakemake(run, "--configfile", "neither.yaml", "--", MERGED)
    outline(50)  # neither: nothing
    assert planned_jobs(run, "--configfile", "neither.yaml", "--", MERGED) == {}


def test_xseg_masks_with_xseg_off_stop_naming_the_setting(merged_run, tmp_path):
    for name, overrides, message in (
        ("merge.yaml", {**SMALL, "train": TRAIN, "merge": {"mask": "xseg-prd*xseg-dst"}},
         "merge mask 'xseg-prd*xseg-dst' (pair p) uses the XSeg masks; set xseg.enabled: true"),
        ("train.yaml", {**SMALL, "train": {**TRAIN, "masks": "xseg"}},
         "train.masks xseg trains on the XSeg masks; set xseg.enabled: true"),
    ):
        write_config(merged_run, overrides, name=name)
        proc = snakemake(merged_run, "--configfile", name, "--dry-run", "--", MERGED, check=False)
        assert proc.returncode != 0 and message in proc.stdout + proc.stderr, name
    sheet = merged_run / "merge" / "p.tsv"  # a frame range asking for it is the same
    sheet.parent.mkdir(exist_ok=True)
    sheet.write_text("first_frame\tlast_frame\tsetting\tvalue\n0\t2\tmask\txseg-dst\n")
    try:
        write_config(merged_run, {**SMALL, "train": TRAIN}, name="sheet.yaml")
        proc = snakemake(merged_run, "--configfile", "sheet.yaml", "--dry-run", "--", MERGED, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "merge mask 'xseg-dst' (pair p) uses the XSeg masks" in output
    finally:
        sheet.unlink()
