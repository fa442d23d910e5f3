"""Merge and video through real Snakemake on a very small run: the merge report is a declared
output, the video's sidecar names inputs, model and merge, review videos come on request, and
merge overrides and video settings rerun only what they change."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from swaplib.model.io import read_header
from swaplib.video.credentials import TRAINED_ALGORITHMIC_MEDIA, read_manifest, settings_digest
from swaplib.video.marks import SYNTHETIC_TAG, read_metadata_tags
from swaplib.video.probe import probe
from workflow_support import make_workdir, planned_jobs, snakemake, write_config, write_sheet

pytestmark = pytest.mark.workflow

SOURCE = "lp_d12_man_glasses_talking"
DESTINATION = "lp_d20_young_man_talking"  # 480x480, with audio
PAIR = "p"
FRAMES = 8
SMALL = {
    "frames": {"limit": FRAMES},
    "extract": {"size": 64},
    "sort": {"min_face_px": 32},
    "train": {"preset": "tiny", "iterations": 2, "batch_size": 2, "save_every": 2},
}
VIDEO = f"results/pairs/{PAIR}.mp4"
REVIEW = f"results/pairs/{PAIR}.review.mp4"
MASK = f"results/pairs/{PAIR}.mask.mp4"


def planned(run, target, *options):
    """Jobs a dry run for `target` would run ("--" ends the options, which take several values)."""
    return planned_jobs(run, *options, "--", target)


@pytest.fixture(scope="module")
def run(tmp_path_factory, clip):
    workdir = make_workdir(tmp_path_factory.mktemp("merge_run"))
    write_sheet(workdir, [(PAIR, clip(SOURCE), clip(DESTINATION))])
    write_config(workdir, SMALL)
    snakemake(workdir, VIDEO)
    return workdir


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_merge_report_counts_every_frame_and_is_tracked(run):
    path = run / f"results/pairs/{PAIR}/merge.json"
    report = json.loads(path.read_text())
    assert report["frames"] == len(list((run / f"results/pairs/{PAIR}/merged").glob("*.png"))) == FRAMES
    assert report["swapped"] + report["failed"] + report["without_face"] == FRAMES and report["swapped"] > 0
    assert len(report["failures"]) == report["faces_failed"]
    kept = shutil.copy2(path, run / "merge.json.kept")
    path.unlink()  # a declared output of the merge: asked for, the merge makes it
    assert planned(run, f"results/pairs/{PAIR}/merge.json") == {"merge": 1}
    shutil.move(kept, path)


def test_video_sidecar_and_tags_name_the_inputs_the_model_and_the_merge(run, clip):
    sidecar = json.loads((run / f"results/pairs/{PAIR}.provenance.json").read_text())
    assert sidecar["synthetic"] is True and sidecar["pair"] == PAIR
    assert sidecar["source"]["sha256"] == sha256(clip(SOURCE))
    assert sidecar["destination"]["sha256"] == sha256(clip(DESTINATION))
    assert sidecar["model_file"]["sha256"] == sha256(run / f"results/models/{PAIR}/model.safetensors")
    assert sidecar["merge"]["settings"]["mask"] == "dst" and sidecar["audio"]["handling"] == "copied"
    tags = read_metadata_tags(run / VIDEO)
    assert tags["comment"] == SYNTHETIC_TAG and f"model: {PAIR}" in tags["description"]


def test_the_video_s_c2pa_manifest_names_the_trained_model(run):
    manifest = read_manifest(run / VIDEO)
    assert manifest["present"] and not manifest["altered"]
    assert TRAINED_ALGORITHMIC_MEDIA in manifest["digital_source_types"]
    header = read_header(run / f"results/models/{PAIR}/model.safetensors")
    model = manifest["swaplib"]["model"]
    assert model["id"] == header["weights_sha256"]
    assert model["training_settings_sha256"] == settings_digest(header["settings"])


def test_review_video_is_made_on_request(run):
    assert planned(run, REVIEW) == {"review": 1}
    snakemake(run, REVIEW)
    info = probe(run / REVIEW)
    assert (info.width, info.height, info.frame_count) == (960, 480, FRAMES)


def test_the_mask_video_is_the_merge_masks_frame_for_frame_and_marked(run):
    import av
    import cv2
    import numpy as np

    masks = sorted((run / f"results/pairs/{PAIR}/merged_mask").glob("*.png"))
    assert len(masks) == FRAMES  # the merge writes them whatever mask_output says
    write_config(run, {**SMALL, "video": {"mask_output": "video"}}, name="mask_video.yaml")
    assert planned(run, "all", "--configfile", "mask_video.yaml").get("mask_video") == 1  # a target of the run
    assert "mask_video" not in planned(run, "all")  # only when asked for
    assert planned(run, MASK) == {"mask_video": 1}
    snakemake(run, MASK)
    with av.open(str(run / MASK)) as container:
        assert not container.streams.audio  # a matte: no sound
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == FRAMES
    for frame, path in zip(frames, masks):  # lossless and unlabelled: the masks themselves
        assert np.array_equal(frame[..., 0], cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
    sidecar = json.loads((run / f"results/pairs/{PAIR}.mask.provenance.json").read_text())
    assert sidecar["synthetic"] is True and sidecar["visible_label"] is None and "matte" in sidecar["picture"]
    assert read_metadata_tags(run / MASK)["comment"] == SYNTHETIC_TAG
    assert read_manifest(run / MASK)["present"]


def test_a_video_setting_reruns_the_video_only(run):
    write_config(run, {**SMALL, "video": {"preset": "veryfast"}}, name="video_change.yaml")
    assert planned(run, VIDEO, "--configfile", "video_change.yaml") == {"video": 1}


def test_a_merge_setting_reruns_merge_and_video_never_training(run):
    write_config(run, {**SMALL, "merge": {"blur_mask_modifier": 150}}, name="merge_change.yaml")
    assert planned(run, VIDEO, "--configfile", "merge_change.yaml") == {"merge": 1, "video": 1}


def test_an_old_merge_key_stops_the_run_naming_its_successor(run):
    write_config(run, {**SMALL, "merge": {"erode": 0.05}}, name="old_keys.yaml")
    proc = snakemake(run, VIDEO, "--configfile", "old_keys.yaml", "--dry-run", check=False)
    assert proc.returncode != 0
    assert "merge.erode: renamed: erode is now erode_mask_modifier, -400..400" in proc.stdout + proc.stderr


def test_a_merge_overrides_sheet_reruns_merge_and_video_only(run):
    sheet = run / "merge" / f"{PAIR}.tsv"
    sheet.parent.mkdir(exist_ok=True)
    sheet.write_text("first_frame\tlast_frame\tsetting\tvalue\n2\t3\tcolor_transfer\tnone\n")
    assert planned(run, VIDEO) == {"merge": 1, "video": 1}
    before = {p.name: p.read_bytes() for p in (run / f"results/pairs/{PAIR}/merged").iterdir()}
    snakemake(run, VIDEO)
    after = {p.name: p.read_bytes() for p in (run / f"results/pairs/{PAIR}/merged").iterdir()}
    report = json.loads((run / f"results/pairs/{PAIR}/merge.json").read_text())
    changed = sorted(name for name in before if before[name] != after[name])
    assert set(changed) <= {"000002.png", "000003.png"} and report["overrides"]["rows"]
    sheet.unlink()
    assert planned(run, VIDEO) == {"merge": 1, "video": 1}


def test_a_missing_certificate_stops_the_video_rule_naming_it(run):
    # Last: the failed job takes the review video with it.
    write_config(run, {**SMALL, "video": {"c2pa": {"cert": "no/such/cert.pem", "key": "no/such/key.pem"}}},
                 name="bad_cert.yaml")
    proc = snakemake(run, REVIEW, "--configfile", "bad_cert.yaml", check=False)
    said = proc.stdout + proc.stderr + (run / f"logs/review/{PAIR}.log").read_text()
    assert proc.returncode != 0 and "video.c2pa.cert: no/such/cert.pem: file not found" in said
