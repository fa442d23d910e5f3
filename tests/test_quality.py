"""Swap quality on real faces: an untouched clip measures as no swap, a blur as nobody, the source's face
pasted in as a swap, the source's own faces as the ceiling; and the workflow measures every pair of a real
(tiny) run."""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import asdict, fields

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image, write_image
from swaplib.extract.align import face_matrix, hull_mask, warp_to_face, warp_to_frame
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.identity import FaceEmbedder
from swaplib.extract.stage import extract_faces
from swaplib.merge.stage import merge_video
from swaplib.model import build_model, save_model
from swaplib.quality.figures import (
    FIGURES,
    VERDICTS,
    QualitySettings,
    detail_needed,
    judge,
    quality_settings,
    summarize,
)
from swaplib.quality.measure import DESTINATION, SOURCE, faceset_identity, measure_faces, photo_identities
from swaplib.quality.stage import measure_pair, write_card
from swaplib.sort.stage import build_faceset
from swaplib.tables.faces import landmarks_array, read_faces
from swaplib.train.settings import model_config
from workflow_support import REPO, make_workdir, planned_jobs, snakemake, write_config, write_sheet

# dlib's mean-embedding distances (16 frames each): young man / red-haired woman 0.87 apart, well separable;
# young man / man with glasses 0.56, closer than dlib's own same-person threshold.
SOURCE_CLIP, DESTINATION_CLIP = "lp_d20_young_man_talking", "lp_s18_woman_landscape_talking"
THIRD_CLIP, LOOKALIKE_CLIP = "lp_d3_woman_expressions", "lp_d12_man_glasses_talking"
FRAMES = 6


@pytest.fixture(scope="module")
def scene(tmp_path_factory, write_frames):
    """A few real frames of four people, with their faces and face sets (as the workflow makes them)."""
    root = tmp_path_factory.mktemp("quality")
    detector = make_detector("dlib", upsample=1)
    for name, stem in (("src", SOURCE_CLIP), ("dst", DESTINATION_CLIP), ("third", THIRD_CLIP),
                       ("lookalike", LOOKALIKE_CLIP)):
        frames = write_frames(stem, root / name / "frames", FRAMES)
        extract_faces(frames, root / name / "faces", root / name / "faces.parquet", detector=detector, size=64,
                      face_type="whole_face")
        build_faceset(root / name / "faces.parquet", root / name / "faces", root / name / "faceset.parquet",
                      min_face_px=32)
    return root


def measure(scene, merged, out, source="src", destination="dst", model=None, **settings):
    return measure_pair(
        destination_frames=scene / destination / "frames", destination_faces=scene / destination / "faces.parquet",
        destination_faceset=scene / destination / "faceset.parquet", source_frames=scene / source / "frames",
        source_faceset=scene / source / "faceset.parquet", merged=merged, quality_json=out / "quality.json",
        table_path=out / "quality.csv", plot_path=out / "quality.png", strip_path=out / "strip.jpg",
        settings={"strip_frames": 3, **settings}, merge={"mode": "test"},
        others={"third": (scene / "third" / "faceset.parquet", scene / "third" / "frames")}, model=model,
    )


@pytest.fixture(scope="module")
def tiny_model(scene):
    """An untrained 64 px model file: what the quality stage reads of it is its resolution."""
    torch.manual_seed(0)
    save_model(scene / "tiny.safetensors", build_model(model_config("tiny")), iterations=0, masks_trained=True)
    return scene / "tiny.safetensors"


def paste_source_faces(scene, out, source="src", destination="dst"):
    """A crude but real swap: each source face, aligned onto the destination face, pasted inside its hull."""
    out.mkdir()
    src, dst = read_faces(scene / source / "faces.parquet"), read_faces(scene / destination / "faces.parquet")
    for (_, s), (_, d), s_lm, d_lm in zip(src.iterrows(), dst.iterrows(), landmarks_array(src), landmarks_array(dst)):
        frame = read_image(scene / destination / "frames" / f"{d.frame:06d}.png")
        face = warp_to_face(read_image(scene / source / "frames" / f"{s.frame:06d}.png"), face_matrix(s_lm, 256), 256)
        swapped = warp_to_frame(face, face_matrix(d_lm, 256), frame.shape)
        mask = hull_mask(d_lm, frame.shape)[..., None]
        write_image(out / f"{d.frame:06d}.png", (swapped * mask + frame * (1 - mask)).astype(np.uint8))
    return out


def blur_destination_faces(scene, out):
    """What an undertrained model gives: the destination with a strong Gaussian blur inside each face hull."""
    out.mkdir()
    dst = read_faces(scene / "dst" / "faces.parquet")
    for (_, d), d_lm in zip(dst.iterrows(), landmarks_array(dst)):
        frame = read_image(scene / "dst" / "frames" / f"{d.frame:06d}.png")
        mask = hull_mask(d_lm, frame.shape)[..., None]
        blurred = cv2.GaussianBlur(frame, (0, 0), 8)
        write_image(out / f"{d.frame:06d}.png", (blurred * mask + frame * (1 - mask)).astype(np.uint8))
    return out


def test_an_untouched_clip_measures_as_the_destination(scene, tmp_path):
    # What merge mode `original` writes: every destination frame as it was.
    merged = shutil.copytree(scene / "dst" / "frames", tmp_path / "merged")
    quality = measure(scene, merged, tmp_path)
    assert quality["verdict"] == "destination" and quality["separable"]
    assert quality["id_match"] == 0 and quality["id_top1"] == 0 and quality["id_retrieval"] == 0
    assert quality["id_match_destination"] == 1 and quality["sharpness"] == 1
    # No model given: nothing bounds the detail, so the relative figure is the plain one.
    assert quality["sharpness_limit"] == quality["relative_sharpness"] == 1 and quality["model_resolution"] is None
    assert quality["landmark_error"] == 0 and quality["jitter_ratio"] == 0
    assert quality["coverage"] == 0 and quality["faces_swapped"] == 0
    assert quality["id_distance_destination"] < 0.2 and quality["id_distance_source"] > 0.7
    assert quality["frames"] == quality["frames_with_face"] == quality["faces"] == FRAMES


def test_a_blurred_face_is_never_the_source(scene, tmp_path):
    quality = measure(scene, blur_destination_faces(scene, tmp_path / "merged"), tmp_path)
    assert quality["faces_swapped"] == FRAMES
    assert quality["sharpness"] < 0.2
    assert quality["sharpness_limit"] == 1 and quality["relative_sharpness"] == quality["sharpness"]
    assert quality["verdict"] == "nobody" and quality["verdict_text"] == VERDICTS["nobody"]
    assert not quality["convincing"]
    assert quality["convincing_text"] == "Not convincing: the verdict is nobody, not source."


def test_the_destination_through_a_64_px_model_is_as_sharp_as_that_resolution_allows(scene, tiny_model, tmp_path,
                                                                                      monkeypatch):
    # A real merge with a perfect model at 64 px: its swap gives each destination crop back as it came.
    model_class = type(build_model(model_config("tiny")))
    monkeypatch.setattr(model_class, "swap", lambda self, x: (x, torch.ones_like(x[:, :1])))
    merge_video(scene / "dst" / "frames", scene / "dst" / "faces.parquet", tiny_model, tmp_path / "merged",
                color_transfer="none", threads=1)
    quality = measure(scene, tmp_path / "merged", tmp_path, model=tiny_model)
    assert quality["model_resolution"] == 64 and quality["faces_swapped"] == FRAMES
    assert quality["sharpness"] < 0.5 and quality["relative_sharpness"] > 0.8
    assert quality["sharpness_limit"] == pytest.approx(quality["sharpness"], rel=0.2)
    assert quality["verdict"] == "destination"  # the destination given back, not a blur
    table = pd.read_csv(tmp_path / "quality.csv")
    per_face = table["sharpness"] / table["sharpness_limit"]
    assert table["relative_sharpness"].to_numpy() == pytest.approx(per_face.to_numpy(), rel=1e-3)
    # Judged on the plain sharpness, the same perfect 64 px swap would be a blur.
    plain = {**quality, "relative_sharpness": quality["sharpness"]}
    assert judge(plain, quality["identities"]["distance"], QualitySettings())["verdict"] == "nobody"
    # The detail convincing asks for here (half the source's own faces', of the destination's at most):
    # the face size calls for the resolution that keeps it, in agreement with the limit measured per face.
    needed = detail_needed(quality["sharpness_source"], QualitySettings())
    assert 0 < quality["sharpness_source"] < 2 and needed == 0.5 * min(1, quality["sharpness_source"])
    assert quality["resolution_needed"] >= 64 and 40 < quality["face_width"] < 480
    assert ((table["resolution_needed"] > 64) == (table["sharpness_limit"] < needed)).mean() > 0.8
    # Were it the source: too soft, over-sharpened, or a real face's detail; the card says which, and what to do.
    source = quality["sharpness_source"]
    as_source = {**quality, "id_match": 1.0, "id_match_destination": 0.0}
    soft = judge({**as_source, "sharpness": needed / 2}, quality["identities"]["distance"], QualitySettings())
    assert soft["verdict"] == "source" and not soft["convincing"]
    assert soft["convincing_text"].startswith(
        f"Not convincing yet: the source person for the recogniser, but softer than a real face here "
        f"({needed / 2:.2f} of the destination's detail; the source's own faces would show {source:.2f}; a viewer "
        f"needs {needed:.2f}). The destination's faces are about {quality['face_width']:.0f} px wide in the frame")
    assert "(this model: 64 px)" in soft["convincing_text"]
    drawn = judge({**as_source, "sharpness": 3 * max(1, source)}, quality["identities"]["distance"], QualitySettings())
    assert not drawn["convincing"] and "but over-sharpened" in drawn["convincing_text"]
    assert "Lower merge.super_resolution_power" in drawn["convincing_text"]
    own = quality["id_distance_source_own"]
    assert 0 < own < 0.6  # the source's own faces, pasted onto these destination faces, are the source
    real = judge({**as_source, "sharpness": source, "id_distance_source": own + 0.05},
                 quality["identities"]["distance"], QualitySettings())
    assert real["convincing"] and real["convincing_text"].startswith("Convincing: the source person")
    likeness = judge({**as_source, "sharpness": source, "id_distance_source": own + 0.15},
                     quality["identities"]["distance"], QualitySettings())
    assert not likeness["convincing"] and "a likeness rather than the face" in likeness["convincing_text"]


def test_a_blurred_face_stays_a_blur_against_the_models_resolution(scene, tiny_model, tmp_path):
    quality = measure(scene, blur_destination_faces(scene, tmp_path / "merged"), tmp_path, model=tiny_model)
    assert quality["sharpness"] < quality["sharpness_limit"] < 1
    assert quality["relative_sharpness"] < 0.3 and quality["verdict"] == "nobody"


def test_the_source_face_pasted_in_measures_as_the_source(scene, tmp_path):
    quality = measure(scene, paste_source_faces(scene, tmp_path / "merged"), tmp_path)
    assert quality["coverage"] == 1 and quality["faces_swapped"] == FRAMES
    assert quality["verdict"] == "source" and quality["separable"]
    assert quality["convincing"] and quality["convincing_text"].startswith("Convincing: the source person, with")
    assert quality["id_match"] >= 0.8 and quality["id_top1"] >= 0.8 and quality["id_retrieval"] >= 0.8
    assert quality["id_distance_source"] < 0.6 / 2 < quality["id_distance_destination"]
    assert quality["sharpness"] > 0.5  # resampled once: a little softer than the frame, far from a blur
    # Aligned onto the destination's face, the pose is kept roughly but not exactly (another face shape).
    assert 0.01 < quality["landmark_error"] < 0.3
    assert quality["jitter_ratio"] > 0
    # The source's own faces pasted in are what a true swap shows: the ceiling's sharpness, and this swap's.
    assert quality["ceiling"]["id_match"] >= 0.8 and quality["ceiling"]["sharpness"] == quality["sharpness_source"]
    assert quality["sharpness"] == pytest.approx(quality["sharpness_source"], rel=0.5)


def test_the_sources_own_faces_score_the_ceiling(scene):
    # The source clip measured as if it were the swap of itself: what a perfect swap would score.
    embedder = FaceEmbedder()
    gallery = [faceset_identity(SOURCE, scene / "src" / "faceset.parquet", scene / "src" / "frames", embedder),
               faceset_identity(DESTINATION, scene / "dst" / "faceset.parquet", scene / "dst" / "frames", embedder),
               faceset_identity("third", scene / "third" / "faceset.parquet", scene / "third" / "frames", embedder)]
    table = measure_faces(scene / "src" / "frames", scene / "src" / "faces.parquet", scene / "src" / "frames",
                          gallery, embedder)
    figures = summarize(table, FRAMES, QualitySettings())
    assert figures["id_match"] >= 0.9 and figures["id_top1"] >= 0.9 and figures["sharpness"] == pytest.approx(1)


def test_a_third_person_of_the_gallery_is_identified_as_that_person(scene, tmp_path, photo):
    embedder = FaceEmbedder()
    gallery = [faceset_identity(name, scene / folder / "faceset.parquet", scene / folder / "frames", embedder)
               for name, folder in ((SOURCE, "src"), (DESTINATION, "dst"), ("third", "third"))]
    table = measure_faces(scene / "third" / "frames", scene / "third" / "faces.parquet", scene / "third" / "frames",
                          gallery, embedder)
    assert (table["nearest"] == "third").all()
    assert summarize(table, FRAMES, QualitySettings())["id_top1"] == 0
    # A photo folder joins the gallery, each photo named by its file.
    shutil.copy(photo("fr_alex_lacamoire"), tmp_path / "alex.jpg")
    (alex,) = photo_identities(tmp_path, embedder)
    assert alex.name == "alex" and np.linalg.norm(alex.mean - gallery[0].mean) > 0.6
    (tmp_path / "empty").mkdir()
    with pytest.raises(SwaplibError, match="empty: the quality gallery holds no photo"):
        photo_identities(tmp_path / "empty", embedder)


def test_a_pair_the_recogniser_cannot_tell_apart_is_never_the_source(scene, tmp_path):
    # The man with glasses pasted onto the young man: a clean swap, but the two are ~0.56 apart for dlib.
    merged = paste_source_faces(scene, tmp_path / "merged", source="lookalike", destination="src")
    quality = measure(scene, merged, tmp_path, source="lookalike", destination="src")
    assert quality["identities"]["distance"] < 0.7 and not quality["separable"]
    assert quality["verdict"] == "unmeasurable identity"
    perfect = {"faces_swapped": 6, "sharpness": 1.0, "id_match": 1.0, "id_top1": 1.0}
    assert judge(perfect, 0.65, QualitySettings())["verdict"] == "unmeasurable identity"
    assert judge(perfect, 0.75, QualitySettings())["verdict"] == "source"
    assert judge(perfect, 0.75, QualitySettings(separable_margin=0.2))["verdict"] == "unmeasurable identity"


def test_the_verdict_thresholds_are_named_settings(scene, tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())["quality"]
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]["quality"]
    names = [f.name for f in fields(QualitySettings)]
    assert list(config) == names and set(schema["required"]) == set(schema["properties"]) == set(names)
    assert config == asdict(QualitySettings())
    assert all(f"`{name}`" in (REPO / "docs/quality.md").read_text() for name in names)
    with pytest.raises(SwaplibError, match="unknown"):
        quality_settings({"sharpness_min": 1})
    # A stricter sharpness threshold turns the same pasted swap into `nobody`.
    quality = measure(scene, paste_source_faces(scene, tmp_path / "merged"), tmp_path, verdict_sharpness=5.0)
    assert quality["verdict"] == "nobody" and quality["thresholds"]["verdict_sharpness"] == 5.0


def test_outputs_name_the_models_and_hold_one_row_per_face(scene, tmp_path):
    merged = paste_source_faces(scene, tmp_path / "merged")
    measure(scene, merged, tmp_path)
    quality = json.loads((tmp_path / "quality.json").read_text())
    assert set(FIGURES) <= set(quality)
    assert {"detector", "landmarks", "embedding", "sharpness"} <= set(quality["models"])
    assert "dlib_face_recognition_resnet_model_v1" in quality["models"]["embedding"]
    assert quality["merge"] == {"mode": "test"}
    assert set(quality["gallery"]) == {SOURCE, DESTINATION, "third"}
    table = pd.read_csv(tmp_path / "quality.csv")
    assert list(table["frame"]) == list(range(FRAMES))
    assert table["jitter"].isna().sum() == 1  # the first frame has no previous frame to move from
    strip = read_image(tmp_path / "strip.jpg")
    assert strip.shape == (2 * 160, 3 * 160, 3)
    assert read_image(tmp_path / "quality.png").shape[0] > 300

    (tmp_path / "provenance.json").write_text(json.dumps({"synthetic": True, "model": "m<1>"}))
    write_card(tmp_path / "quality.json", tmp_path / "provenance.json", tmp_path / "card.html", title="Pair p")
    card = (tmp_path / "card.html").read_text()
    assert card.index("Verdict: source") < card.index("id_match")  # the verdict first, in words
    # ... with the test that decided it and the viewer's test beside it
    assert re.search(r"Decided by: id_match [01]\.\d\d &gt;= verdict_id_match 0\.5, "
                     r"relative_sharpness \d\.\d\d &gt;= 0\.5", card)
    assert f"<p class='convincing'>{html.escape(quality['convincing_text'])}</p>" in card
    assert all(name in card for name in FIGURES if name != "verdict") and "m&lt;1&gt;" in card
    assert "synthetic" in card and "ceiling" in card
    assert "http" not in card  # loads nothing: the report must open offline


def test_the_card_shows_the_video_s_c2pa_manifest(tmp_path):
    (tmp_path / "quality.json").write_text(json.dumps({"verdict": "source"}))
    credentials = {"embedded": True, "label": "urn:c2pa:1", "state": "Valid", "generator": "swaplib 0.1.0",
                   "digital_source_types": ["http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"],
                   "signer": "swaplib local key", "signature": "proves integrity, not identity"}
    (tmp_path / "provenance.json").write_text(json.dumps({"synthetic": True, "content_credentials": credentials}))
    write_card(tmp_path / "quality.json", tmp_path / "provenance.json", tmp_path / "card.html", title="Pair p")
    card = (tmp_path / "card.html").read_text()
    assert "<th>digital source type (IPTC)</th><td>trainedAlgorithmicMedia</td>" in card
    assert "<th>manifest</th><td>urn:c2pa:1</td>" in card and "proves integrity, not identity" in card
    assert "http" not in card  # the source type by its name: the page still loads nothing
    (tmp_path / "provenance.json").write_text(json.dumps({"synthetic": True, "content_credentials": {
        "embedded": False, "why": "video.c2pa.enabled is false"}}))
    write_card(tmp_path / "quality.json", tmp_path / "provenance.json", tmp_path / "card.html", title="Pair p")
    assert "<th>manifest</th><td>video.c2pa.enabled is false</td>" in (tmp_path / "card.html").read_text()


def test_merged_frames_that_do_not_match_are_named(scene, tmp_path):
    merged = shutil.copytree(scene / "dst" / "frames", tmp_path / "merged")
    (merged / f"{FRAMES - 1:06d}.png").unlink()
    with pytest.raises(SwaplibError, match=r"merged frames do not match the destination frames.*\[5\]"):
        measure(scene, merged, tmp_path)
    assert not (tmp_path / "quality.json").exists()


# --------------------------------------------------------------------------- through the workflow

PAIR = "outdoors_to_landscape"
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
        write_sheet(workdir, [(PAIR, clip(SOURCE_CLIP), clip(DESTINATION_CLIP))])
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
    assert quality["verdict"] in VERDICTS and quality["separable"]  # these two people are 0.87 apart
    assert 0 <= quality["id_match"] <= quality["ceiling"]["id_match"] <= 1 and quality["sharpness"] > 0
    assert (finished_run / "logs/quality" / f"{PAIR}.log").is_file()
    assert (finished_run / "benchmarks/quality" / f"{PAIR}.tsv").is_file()


@pytest.mark.workflow
def test_merge_mode_original_measures_as_no_swap_and_reruns_only_what_it_changes(finished_run, tmp_path):
    run = shutil.copytree(finished_run, tmp_path / "run", symlinks=True)
    write_config(run, {**SMALL, "merge": {"mode": "original"}}, name="original.yaml")
    assert planned_jobs(run, "--configfile", "original.yaml") == {
        "all": 1, "merge": 1, "video": 1, "quality": 1, "quality_card": 1, "pair_pages": 1,
    }
    done = snakemake(run, "--configfile", "original.yaml")  # --configfile takes several
    # The run ends by saying what it made: the pair's video, its verdict and the test that decided it.
    summary = done.stdout[done.stdout.index("swaplib: the run made these"):]
    assert re.search(rf"\n{PAIR}\s+results/pairs/{PAIR}.mp4\s+destination\s+no\s+no face was changed\n", summary)
    assert "swaplib status" in summary and "quality.html" in summary
    swap = json.loads((finished_run / f"results/pairs/{PAIR}/quality.json").read_text())
    original = json.loads((run / f"results/pairs/{PAIR}/quality.json").read_text())
    assert original["id_retrieval"] == 0 and original["landmark_error"] == 0 and original["coverage"] == 0
    assert original["id_match"] == 0 and original["verdict"] == "destination"
    assert swap["landmark_error"] > 0.01 and swap["coverage"] > 0.8
    assert original["merge"]["mode"] == "original"


@pytest.mark.workflow
def test_a_video_setting_redraws_the_card_but_measures_nothing(finished_run):
    write_config(finished_run, {**SMALL, "video": {"crf": 30}}, name="video.yaml")
    assert planned_jobs(finished_run, "--configfile", "video.yaml") == {
        "all": 1, "video": 1, "quality_card": 1, "pair_pages": 1,
    }
