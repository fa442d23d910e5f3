"""Curation round trip through real Snakemake: excluding faces of one video reruns exactly the
models that use it, the faces leave the training set with reason `curation`, and deleting the
sheet brings them back."""

from __future__ import annotations

import pandas as pd
import pytest

from swaplib.tables.faceset import selected_faces
from workflow_support import make_workdir, planned_jobs, snakemake, write_config, write_sheet

pytestmark = pytest.mark.workflow

CURATED = "lp_d12_man_glasses_talking"  # source of model "a" only
OTHER = "lp_d13_man_vertical_selfie"  # source of model "b"
SHARED = "lp_d20_young_man_talking"  # destination of both
TINY = {
    "frames": {"limit": 6},
    "extract": {"size": 64},
    "sort": {"min_face_px": 32, "blur_keep": 1.0, "duplicate": 0},
    "train": {"preset": "tiny", "iterations": 4, "batch_size": 2, "save_every": 2},
}


def affected(jobs: dict[str, int]) -> dict[str, int]:
    """The planned jobs of the stages a curation sheet must rerun (rule all and reports aside)."""
    stages = ("faces", "frames", "faceset", "sheets", "train", "merge", "video")
    return {rule: n for rule, n in jobs.items() if rule in stages}


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, clip):
    """Two models that share a destination: curating the first one's source must leave the second alone."""
    workdir = make_workdir(tmp_path_factory.mktemp("curation"))
    write_sheet(workdir, [("a", clip(CURATED), clip(SHARED)), ("b", clip(OTHER), clip(SHARED))])
    write_config(workdir, TINY)
    snakemake(workdir)
    return workdir


def test_excluding_faces_reruns_the_models_that_use_the_video_and_drops_them(two_models):
    workdir = two_models
    faceset_path = workdir / f"results/videos/{CURATED}/faceset.parquet"
    excluded = list(pd.read_parquet(faceset_path)["face_id"].iloc[[0, 2, 4]])
    sheet = workdir / "curation" / f"{CURATED}.tsv"
    sheet.parent.mkdir(exist_ok=True)
    sheet.write_text("face\taction\tnote\n" + "".join(f"{face}\texclude\treview\n" for face in excluded))

    expected = {"faceset": 1, "sheets": 1, "train": 1, "merge": 1, "video": 1}  # model a's, none of b's
    assert affected(planned_jobs(workdir)) == expected
    snakemake(workdir, "results/models/a/model.safetensors", f"results/videos/{CURATED}/sheets")
    faceset = pd.read_parquet(faceset_path).set_index("face_id")
    assert (faceset.loc[excluded, "reason"] == "curation").all() and not faceset.loc[excluded, "selected"].any()
    assert not set(excluded) & set(selected_faces(faceset_path)["face_id"])  # what train reads
    assert (workdir / f"results/videos/{CURATED}/sheets/page-001.png").is_file()

    sheet.unlink()
    assert affected(planned_jobs(workdir)) == expected
    snakemake(workdir, str(faceset_path.relative_to(workdir)))
    restored = pd.read_parquet(faceset_path).set_index("face_id")
    assert restored.loc[excluded, "selected"].all() and (restored.loc[excluded, "curation"] == "").all()
