"""A photo folder as a pair's destination, through real Snakemake on a very small run: one swapped photo
per photo, each marked synthetic (the visible label, metadata, a valid C2PA manifest), one sidecar naming
the inputs; the quality stage measures identity and no jitter; the pair's page shows the photos, the
run's summary and `swaplib status` name the folder; and a setting reruns only what it changes."""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import cv2
import numpy as np
import pytest
import yaml

from swaplib.status import collect
from swaplib.video.credentials import TRAINED_ALGORITHMIC_MEDIA, read_manifest
from swaplib.video.marks import PHOTO_TAG
from swaplib.video.photo_metadata import read_marks
from workflow_support import make_workdir, planned_jobs, snakemake, write_config, write_sheet

pytestmark = pytest.mark.workflow

SOURCE = "lp_d12_man_glasses_talking"
PHOTOS = ("fr_alex_lacamoire", "fr_obama", "lp_d9_woman_open_mouth")  # in name order: the frames' order
PAIR = "p"
SMALL = {
    "frames": {"limit": 8},
    "extract": {"size": 64},
    "sort": {"min_face_px": 32},
    "train": {"preset": "tiny", "iterations": 2, "batch_size": 2, "save_every": 2},
}
RESULT = f"results/pairs/{PAIR}.photos"


@pytest.fixture(scope="module")
def run(tmp_path_factory, clip, photo):
    """The whole workflow (photos, quality, pages, the run's summary) on a clip and a folder of photos."""
    workdir = make_workdir(tmp_path_factory.mktemp("photos_run"))
    folder = workdir / "stills"
    folder.mkdir()
    for stem in PHOTOS:
        shutil.copy(photo(stem), folder / f"{stem}.jpg")
    write_sheet(workdir, [(PAIR, clip(SOURCE), folder)])
    write_config(workdir, SMALL)
    return workdir, snakemake(workdir).stdout


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_swapped_photo_per_photo_each_marked_synthetic(run):
    workdir, _ = run
    result, merged = workdir / RESULT, workdir / f"results/pairs/{PAIR}/merged"
    assert sorted(p.name for p in result.iterdir() if not p.name.startswith(".")) == [f"{s}.jpg" for s in PHOTOS]
    for number, stem in enumerate(PHOTOS):
        swapped, frame = cv2.imread(str(result / f"{stem}.jpg")), cv2.imread(str(merged / f"{number:06d}.png"))
        assert swapped.shape == frame.shape  # the photo's own size, upright
        diff = np.abs(swapped.astype(int) - frame.astype(int)).mean(axis=2)
        h, w = diff.shape
        assert diff[-h // 8:, : w // 2].mean() > 10 * max(diff[: -h // 8].mean(), 0.05), stem  # the label
        marks = read_marks(result / f"{stem}.jpg")
        assert marks["description"].startswith(PHOTO_TAG) and f"model: {PAIR}" in marks["description"]
        assert marks["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
        manifest = read_manifest(result / f"{stem}.jpg")
        assert manifest["present"] and not manifest["altered"] and manifest["failures"] == []
        assert manifest["digital_source_types"] == [TRAINED_ALGORITHMIC_MEDIA]
        ingredients = {i["title"]: i["instance_id"] for i in manifest["ingredients"]}
        assert ingredients["destination photo"] == f"sha256:{sha256(workdir / 'stills' / f'{stem}.jpg')}"


def test_the_sidecar_names_the_inputs_the_model_and_the_merge(run, clip):
    workdir, _ = run
    sidecar = json.loads((workdir / f"results/pairs/{PAIR}.provenance.json").read_text())
    assert sidecar["synthetic"] is True and sidecar["pair"] == PAIR and sidecar["photos"] == f"{PAIR}.photos"
    assert sidecar["source"]["sha256"] == sha256(clip(SOURCE))
    assert sidecar["destination"]["kind"] == "photo folder" and sidecar["destination"]["photos"] == len(PHOTOS)
    assert sidecar["model_file"]["sha256"] == sha256(workdir / f"results/models/{PAIR}/model.safetensors")
    assert sidecar["merge"]["settings"]["mask"] == "dst" and sidecar["merge"]["frames"] == len(PHOTOS)
    assert [f["original"]["file"] for f in sidecar["files"]] == [f"{s}.jpg" for s in PHOTOS]
    assert all(f["content_credentials"]["embedded"] for f in sidecar["files"])


def test_quality_measures_identity_per_face_and_no_jitter(run):
    workdir, _ = run
    quality = json.loads((workdir / f"results/pairs/{PAIR}/quality.json").read_text())
    assert quality["jitter"] is None and quality["jitter_ratio"] is None  # photos: no motion between them
    assert quality["id_distance_source"] is not None and quality["verdict"]
    card = (workdir / f"results/pairs/{PAIR}/quality.html").read_text()
    assert f"{PAIR}.photos" in card and "one manifest in each of the 3 photos" in card


def test_the_page_the_summary_and_status_name_the_photos(run):
    workdir, stdout = run
    page = (workdir / f"results/pairs/{PAIR}/player.html").read_text()
    assert page.count("<img src='data:image/jpeg;base64,") == len(PHOTOS) and "These photos are synthetic" in page
    summary = stdout[stdout.index("swaplib: the run made these"):]
    assert re.search(rf"\n{PAIR}\s+{re.escape(RESULT)}/\s", summary)
    _, pairs = collect(workdir)
    assert [(p.name, p.stage) for p in pairs] == [(PAIR, "quality done")]  # the photos' folder is no pair
    # The review app's merge tab renders the photos, not a video.
    from swaplib.review.folder import Folder
    from swaplib.review.merger import Merger

    assert [(p["pair"], f"results/pairs/{p['result']}") for p in Merger(Folder(workdir)).pairs()] == [(PAIR, RESULT)]


def test_a_setting_reruns_only_what_it_changes(run, tmp_path):
    workdir, _ = run
    assert planned_jobs(workdir) == {}
    unused = tmp_path / "unused.yaml"  # x264 makes no photo; there is no movement between photos to blur
    unused.write_text(yaml.safe_dump({"video": {"crf": 30, "preset": "ultrafast"}, "merge": {"motion_blur": 20}}))
    assert planned_jobs(workdir, "--configfile", str(unused)) == {}
    label = tmp_path / "label.yaml"
    label.write_text(yaml.safe_dump({"video": {"label": "FAKE"}}))
    assert planned_jobs(workdir, "--configfile", str(label)) == {
        "photos": 1, "pair_pages": 1, "quality_card": 1, "all": 1}


def test_a_sheet_with_a_video_and_a_photo_destination_plans_each_its_result(tmp_path, clip, photo):
    workdir = make_workdir(tmp_path / "mixed")
    folder = workdir / "stills"
    folder.mkdir()
    shutil.copy(photo("fr_obama"), folder / "a.jpg")
    write_sheet(workdir, [("v", clip(SOURCE), clip("lp_d20_young_man_talking")), ("s", clip(SOURCE), folder, "v")])
    write_config(workdir, {**SMALL, "video": {"mask_output": "video"}})
    jobs = planned_jobs(workdir)
    # one video and one folder of photos; a mask video for the video pair only (photos of many sizes)
    assert (jobs["video"], jobs["photos"], jobs["mask_video"], jobs["quality"]) == (1, 1, 1, 2)
