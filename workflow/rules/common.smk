# The sheet, the validated config, and the input functions of the workflow.

import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "src"))  # the library, also when it is not pip-installed

from swaplib.core.codedeps import module_files
from swaplib.core.errors import SwaplibError
from swaplib.sheet import load_sheet, validate_config, video_references
from swaplib.video.photos import photo_files

SCHEMAS = REPO / "workflow" / "schemas"
ENV = "../../envs/swaplib.yaml"

try:
    validate_config(config, SCHEMAS / "config.schema.yaml")
    # Every video is probed once, by the snakemake that plans the run (so a bad one stops it before
    # any job); a cluster job parsing the workflow again for itself skips that (its video is read
    # by the job anyway).
    SHEET = load_sheet(config["pairs"], SCHEMAS / "pairs.schema.yaml", check_videos=workflow.is_main_process)
    # video name -> reference photo: the sheet's *_reference columns and extract.references
    REFERENCES = video_references(SHEET, config["extract"]["references"])
except SwaplibError as exc:
    raise WorkflowError(f"swaplib: {exc}") from None

PAIRS = SHEET.pairs.set_index("pair", drop=False)
MODELS = sorted(PAIRS["model"].unique())


def local(path):
    """Inside the working directory, a path relative to it (moving a checkout reruns nothing)."""
    relative = os.path.relpath(path)
    return os.path.abspath(path) if relative.startswith("..") else relative


def lib(*modules):
    """The library files a job runs, declared as inputs so that editing one reruns the job."""
    return [local(f) for f in module_files(*modules)]


def all_videos(wildcards):
    return expand(
        ["results/pairs/{pair}.mp4", "results/pairs/{pair}/quality.json", "results/pairs/{pair}/quality.html"],
        pair=PAIRS.index,
    )


def video_file(wildcards):
    """The video file, or every photo of a photo folder (so adding or changing a photo reruns frames)."""
    path = SHEET.videos[wildcards.video]
    return [local(photo) for photo in photo_files(path)] if path.is_dir() else local(path)


def video_source(wildcards):
    """The video file or photo folder that the frames job reads."""
    return local(SHEET.videos[wildcards.video])


def time_setting(key):
    """frames.<key> (fps, start, end) for a video; None for a photo folder, which has no time:
    changing them reruns nothing there."""
    return lambda wildcards: None if SHEET.videos[wildcards.video].is_dir() else config["frames"][key]


def reference_photo(wildcards):
    """The video's reference photo as a list (none: empty): an input, so replacing it reruns
    extraction and a missing one stops the run naming the file."""
    photo = REFERENCES.get(wildcards.video)
    return [local(photo)] if photo else []


def curation_file(wildcards):
    """The optional curation sheet of a video: adding, editing or removing it reruns sort."""
    path = Path(config["curation"]["dir"]) / f"{wildcards.video}.tsv"
    return [str(path)] if path.exists() else []


def model_videos(model):
    rows = PAIRS[PAIRS["model"] == model]
    return rows["source_video"].iloc[0], sorted(rows["destination_video"].unique())


def train_inputs(wildcards):
    source, destinations = model_videos(wildcards.model)
    return {
        "src_faceset": f"results/videos/{source}/faceset.parquet",
        "src_faces": f"results/videos/{source}/faces",
        "dst_facesets": expand("results/videos/{video}/faceset.parquet", video=destinations),
        "dst_faces": expand("results/videos/{video}/faces", video=destinations),
    }


def merge_overrides(wildcards):
    """The optional frame-range overrides of a pair's merge: adding, editing or removing it reruns merge."""
    path = Path(config["merge"]["overrides_dir"]) / f"{wildcards.pair}.tsv"
    return [str(path)] if path.exists() else []


def merge_inputs(wildcards):
    pair = PAIRS.loc[wildcards.pair]
    video = pair["destination_video"]
    return {
        "frames": f"results/videos/{video}/frames",
        "info": f"results/videos/{video}/video.json",
        "faces": f"results/videos/{video}/faces.parquet",
        "model": f"results/models/{pair['model']}/model.pt",
    }


def video_inputs(wildcards):
    pair = PAIRS.loc[wildcards.pair]
    return {
        "merged": f"results/pairs/{wildcards.pair}/merged",
        "info": f"results/videos/{pair['destination_video']}/video.json",
        "audio": local(pair["destination"]),
    }


def provenance(wildcards):
    """What the provenance sidecar of a pair's video records (plain values: params trigger)."""
    pair = PAIRS.loc[wildcards.pair]
    return {
        "pair": wildcards.pair,
        "source": pair["source"],
        "destination": pair["destination"],
        "model": pair["model"],
    }


def quality_inputs(wildcards):
    """A pair's merged frames, its destination's frames and faces, and both face sets (the identities)."""
    pair = PAIRS.loc[wildcards.pair]
    source, destination = pair["source_video"], pair["destination_video"]
    return {
        "merged": f"results/pairs/{wildcards.pair}/merged",
        "frames": f"results/videos/{destination}/frames",
        "faces": f"results/videos/{destination}/faces.parquet",
        "dst_faceset": f"results/videos/{destination}/faceset.parquet",
        "src_frames": f"results/videos/{source}/frames",
        "src_faceset": f"results/videos/{source}/faceset.parquet",
    }
