# The sheet, the validated config, and the input functions of the workflow.

import json
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "src"))  # the library, also when it is not pip-installed

from swaplib.config.declare import Section
from swaplib.config.files import DECLARED
from swaplib.config.train import AMP_PRESETS, PRETRAIN_RECIPE, TRAIN
from swaplib.core.codehash import script_hash
from swaplib.core.errors import SwaplibError
from swaplib.sheet import config_layers, load_sheet, pretrain_videos, validate_config, video_references
from swaplib.video.photos import photo_files

SCHEMAS = REPO / "workflow" / "schemas"
ENV = "../../envs/swaplib.yaml"

try:
    # What made `config`, in Snakemake's order: the Snakefile's config.yaml, each --configfile, --config.
    given = [Path(f).absolute() for f in workflow.config_settings.configfiles]
    LAYERS = config_layers(
        [f for f in workflow.configfiles if Path(f).absolute() not in given] + given,
        dict(workflow.config_settings.config),
    )
    validate_config(config, SCHEMAS / "config.schema.yaml", layers=LAYERS)
    # Every video is probed once, by the snakemake that plans the run (so a bad one stops it before
    # any job); a cluster job parsing the workflow again for itself skips that (its video is read
    # by the job anyway).
    SHEET = load_sheet(config["pairs"], SCHEMAS / "pairs.schema.yaml", check_videos=workflow.is_main_process)
    # video name -> reference photo: the sheet's *_reference columns and extract.references
    REFERENCES = video_references(SHEET, config["extract"]["references"])
    # The shared base's face sources: extracted and sorted like the sheet's videos.
    PRETRAIN_VIDEOS = pretrain_videos(SHEET, config["pretrain"]["sources"], check_videos=workflow.is_main_process)
    if config["train"].get("from_base") and not PRETRAIN_VIDEOS:
        raise SwaplibError(
            "config.yaml: train.from_base is set, but pretrain.sources names no videos or photo "
            "folders for the shared base to learn"
        )
except SwaplibError as exc:
    raise WorkflowError(f"swaplib: {exc}") from None

PAIRS = SHEET.pairs.set_index("pair", drop=False)
MODELS = sorted(PAIRS["model"].unique())
VIDEOS = {**SHEET.videos, **PRETRAIN_VIDEOS}  # every video name -> its file or photo folder


def local(path):
    """Inside the working directory, a path relative to it (moving a checkout reruns nothing)."""
    relative = os.path.relpath(path)
    return os.path.abspath(path) if relative.startswith("..") else relative


# ---------------------------------------------------------------- what reruns a job
# A rule reruns when its inputs are newer, or when a param's value changed (the profiles' rerun
# triggers: mtime, params, input, software-env). Every rule passes its config section whole, as
# two params: `settings` (what its outputs depend on: a rerun trigger) and `run` (how the job
# runs: not one), and its code as a content hash. Each table below holds what the declarations of
# config.yaml's sections (swaplib.config) say of their settings, by section.


def declared(table):
    """A table by section: what `table` (a Section method) gives of each declared section, those with none left out."""
    return {section.name: table(section) for section in DECLARED if table(section)}


# Settings that change no output: how often training saves, backs up and previews, and how a job
# runs (progress display, augmentation threads, which device, memory layout). They reach the job in
# `run`, a SimpleNamespace: Snakemake's params trigger compares only builtin values (str, numbers,
# lists, dicts, ...) and leaves any other object out, so changing them reruns nothing.
UNTRACKED = declared(Section.untracked)
# Settings added after runs were made, at the value that does what the code did before they existed:
# left out of `settings` at that value, so that a run made before them reruns nothing.
ADDED_OFF = declared(Section.added_off)
# Settings that shape what another setting turns on: left out of `settings` while it is off (0, false),
# so that they rerun nothing then.
ONLY_WITH = declared(Section.only_with)
# Settings that say where a rule's input files are: those files are inputs (their content reruns
# what reads them), so the setting itself goes to no job and reruns nothing.
LOCATIONS = declared(Section.locations)


def sorted_keys(value):
    """`value` with every dict's keys in sorted order: Snakemake compares a param's repr(), and a
    --configfile merged over config.yaml may list the same keys in another order."""
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    return value


def tracked(section, unused=()):
    """A config section as a job's `settings` param: all of it but the untracked keys (and the
    keys the rule does not use, `unused`)."""
    skip = UNTRACKED.get(section, ()) + LOCATIONS.get(section, ()) + tuple(unused)
    off = ADDED_OFF.get(section, {})
    needs = ONLY_WITH.get(section, {})
    return sorted_keys(
        {
            key: value
            for key, value in config[section].items()
            if key not in skip
            and not (key in off and value == off[key])
            and not (key in needs and not config[section].get(needs[key]))
        }
    )


def untracked(section):
    """The untracked keys of a config section, as a job's `run` param (not a rerun trigger)."""
    return SimpleNamespace(
        **{key: config[section][key] for key in UNTRACKED.get(section, ()) if key in config[section]}
    )


def code(script):
    """A rule's code param: its script and every swaplib module the script imports, hashed after
    normalising away comments, docstrings and formatting (swaplib.core.codehash): a touch, a fresh
    clone or a comment reruns nothing; a change of what the job computes reruns it."""
    return script_hash(REPO / "workflow" / "scripts" / script)


def recipe():
    """The train rule's code param: the recipe version in src/swaplib/train/recipe.json, not a code
    hash, so that training reruns only when what it computes changed (a test holds the training
    code to that file); an AMP model adds amp_version, what AMP's own terms compute, so that a
    change to them reruns AMP trainings only. Read here as JSON: importing swaplib.train would
    load torch to plan a run."""
    path = REPO / "src" / "swaplib" / "train" / "recipe.json"
    train = config["train"]
    amp = (train.get("archi") or ("amp" if train["preset"] in AMP_PRESETS else "")).split("-")[0] == "amp"
    try:
        versions = json.loads(path.read_text())
        return f"recipe {versions['version']}" + (f", amp {versions['amp_version']}" if amp else "")
    except (OSError, ValueError, KeyError) as exc:
        raise WorkflowError(f"swaplib: {path}: cannot read the training recipe version ({exc})") from None


# ---------------------------------------------------------------- input functions and params


def all_videos(wildcards):
    """Every pair's video, quality and pages, every video's contact sheets, and every model's settings
    page (for review and the report); with xseg.enabled, every video's masks too."""
    pair_files = ["{pair}.mp4", "{pair}/quality.json", "{pair}/quality.html", "{pair}/player.html"]
    pair_files.append("{pair}/quality_table.html")
    models = expand("results/models/{model}/settings.html", model=MODELS)
    if config["train"].get("from_base"):
        models.append(f"results/pretrained/{BASE}/settings.html")
    targets = (
        expand([f"results/pairs/{name}" for name in pair_files], pair=PAIRS.index)
        + expand("results/videos/{video}/sheets", video=sorted(VIDEOS))
        + models
    )
    if config["xseg"]["enabled"]:
        targets += expand("results/videos/{video}/masks", video=sorted(VIDEOS))
        targets += expand("results/videos/{video}/to_label", video=xseg_videos())
    return targets


def video_file(wildcards):
    """The video file, or every photo of a photo folder (so adding or changing a photo reruns frames)."""
    path = VIDEOS[wildcards.video]
    return [local(photo) for photo in photo_files(path)] if path.is_dir() else local(path)


def video_source(wildcards):
    """The video file or photo folder that the frames job reads."""
    return local(VIDEOS[wildcards.video])


def frames_settings(wildcards):
    """The frames section for one video, with what cannot change its frames taken out: jpg_quality
    where the frames are png, and the time settings (fps, start, end: None) for a photo folder."""
    settings = tracked("frames")
    if settings["format"] != "jpg":
        settings["jpg_quality"] = 100
    if VIDEOS[wildcards.video].is_dir():
        settings.update(fps=None, start=None, end=None)
    return settings


def reference_photo(wildcards):
    """The video's reference photo as a list (none: empty): an input, so replacing it reruns
    extraction and a missing one stops the run naming the file."""
    photo = REFERENCES.get(wildcards.video)
    return [local(photo)] if photo else []


def curation_file(wildcards):
    """The optional curation sheet of a video: adding, editing or removing it reruns sort."""
    path = Path(config["curation"]["dir"]) / f"{wildcards.video}.tsv"
    return [str(path)] if path.exists() else []


def sheet_inputs(wildcards):
    """A video's face set and crops; with curation.show_masks, its XSeg masks to overlay."""
    inputs = {
        "faceset": f"results/videos/{wildcards.video}/faceset.parquet",
        "faces": f"results/videos/{wildcards.video}/faces",
    }
    if config["curation"].get("show_masks"):
        if not config["xseg"]["enabled"]:
            raise WorkflowError("swaplib: curation.show_masks overlays the XSeg masks; set xseg.enabled: true")
        inputs["masks"] = f"results/videos/{wildcards.video}/masks"
    return inputs


def model_videos(model):
    rows = PAIRS[PAIRS["model"] == model]
    return rows["source_video"].iloc[0], sorted(rows["destination_video"].unique())


def train_inputs(wildcards):
    source, destinations = model_videos(wildcards.model)
    inputs = {
        "src_faceset": f"results/videos/{source}/faceset.parquet",
        "src_faces": f"results/videos/{source}/faces",
        "dst_facesets": expand("results/videos/{video}/faceset.parquet", video=destinations),
        "dst_faces": expand("results/videos/{video}/faces", video=destinations),
    }
    if config["train"].get("from_base"):
        inputs["base"] = f"results/pretrained/{BASE}/model.safetensors"
    if config["train"].get("masks") == "xseg":  # labels edited: XSeg, its masks, then this training rerun
        if not config["xseg"]["enabled"]:
            raise WorkflowError("swaplib: train.masks xseg trains on the XSeg masks; set xseg.enabled: true")
        inputs["src_masks"] = f"results/videos/{source}/masks"
        inputs["dst_masks"] = expand("results/videos/{video}/masks", video=destinations)
    return inputs


# ---------------------------------------------------------------- the shared base (pretrain)
# What pretraining sets itself, the shape of the discriminators it so has none of (ONLY_WITH), and each
# model's own budget and start (declared not of the base): none of them changes the base, so none of
# them retrains it.
NOT_THE_BASES = (*TRAIN.not_of_base(), *PRETRAIN_RECIPE, *ONLY_WITH["train"])
ARCHITECTURE = TRAIN.architecture()


def base_name():
    """One base per architecture: the preset's name, with the architecture settings given over it."""
    train = config["train"]
    given = [f"{key}{train[key]}" for key in ARCHITECTURE if train.get(key) is not None]
    return "-".join([train["preset"], *given])


BASE = base_name()


def base_settings():
    """The base's settings param: the train section's architecture and recipe (less what pretraining
    sets itself), its own budget, and the names of its sources (their faces are inputs)."""
    train = {key: value for key, value in tracked("train").items() if key not in NOT_THE_BASES}
    own = {key: value for key, value in config["pretrain"].items() if key != "sources"}
    return sorted_keys({**train, **own, "sources": sorted(PRETRAIN_VIDEOS)})


def pretrain_inputs(wildcards):
    return {
        "facesets": expand("results/videos/{video}/faceset.parquet", video=sorted(PRETRAIN_VIDEOS)),
        "faces": expand("results/videos/{video}/faces", video=sorted(PRETRAIN_VIDEOS)),
    }


def merge_overrides(wildcards):
    """The optional frame-range overrides of a pair's merge: adding, editing or removing it reruns merge."""
    path = Path(config["merge"]["overrides_dir"]) / f"{wildcards.pair}.tsv"
    return [str(path)] if path.exists() else []


def merge_masks(wildcards):
    """The mask kinds a pair's merge uses: merge.mask and the mask rows of its overrides sheet (whose
    cells the merge job checks in full)."""
    kinds = {config["merge"]["mask"]}
    for path in merge_overrides(wildcards):
        for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
            cells = [cell.strip() for cell in line.split("\t")]
            if len(cells) == 4 and cells[2] == "mask":
                kinds.add(cells[3])
    return kinds


def merge_inputs(wildcards):
    """A pair's destination frames and faces and its model; the segmentation model too where a mask
    kind uses it (so that a labels file edited reruns the merge through it)."""
    pair = PAIRS.loc[wildcards.pair]
    video = pair["destination_video"]
    inputs = {
        "frames": f"results/videos/{video}/frames",
        "info": f"results/videos/{video}/video.json",
        "faces": f"results/videos/{video}/faces.parquet",
        "model": f"results/models/{pair['model']}/model.safetensors",
    }
    xseg = sorted(kind for kind in merge_masks(wildcards) if "xseg" in kind)
    if xseg and not config["xseg"]["enabled"]:
        raise WorkflowError(
            f"swaplib: merge mask {xseg[0]!r} (pair {wildcards.pair}) uses the XSeg masks; set xseg.enabled: "
            f'true (README "Masks") or choose another mask'
        )
    if xseg:
        inputs["xseg"] = f"results/xseg/{config['xseg']['name']}/model.safetensors"
    return inputs


def video_inputs(wildcards):
    pair = PAIRS.loc[wildcards.pair]
    return {
        "merged": f"results/pairs/{wildcards.pair}/merged",
        "info": f"results/videos/{pair['destination_video']}/video.json",
        "source_info": f"results/videos/{pair['source_video']}/video.json",
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
    """A pair's merged frames, its destination's frames and faces, both face sets (the identities), and
    the model that merged (its resolution bounds the sharpness a swap can reach)."""
    pair = PAIRS.loc[wildcards.pair]
    source, destination = pair["source_video"], pair["destination_video"]
    return {
        "merged": f"results/pairs/{wildcards.pair}/merged",
        "model": f"results/models/{pair['model']}/model.safetensors",
        "frames": f"results/videos/{destination}/frames",
        "faces": f"results/videos/{destination}/faces.parquet",
        "dst_faceset": f"results/videos/{destination}/faceset.parquet",
        "src_frames": f"results/videos/{source}/frames",
        "src_faceset": f"results/videos/{source}/faceset.parquet",
    }


def quality_gallery(wildcards):
    """The quality.gallery folder of photos, when one is set: its photos join the identification gallery."""
    return [config["quality"]["gallery"]] if config["quality"].get("gallery") else []


# ---------------------------------------------------------------- the report (snakemake --report)
# The report sorts the entries of a section by their labels' text, the first label first. So every
# entry's first label says what it shows, numbered by its place in these lists: a pair's section
# opens with its verdict, a model's with its settings. The labels after it name the pair, model
# and videos (the same throughout a section, so the report makes no toggle of them).
PAIR_ENTRIES = (
    "verdict and quality figures",
    "swapped video (synthetic)",
    "destination / swap faces",
    "quality over the clip",
    "quality of each face",
    "quality of each face (CSV)",
)
MODEL_ENTRIES = ("settings it trained with", "training preview", "loss over training")


def numbered(entries, shows):
    return f"{entries.index(shows) + 1}. {shows}"


# The report's sections, in this order in its sidebar (it sorts them by name): the results first.
REPORT_PAIRS = "1. Pairs and verdicts"
REPORT_MODELS = "2. Models"
REPORT_FACE_SETS = "3. Face sets"


def pair_section(wildcards):
    """A pair's section of the report: the pair and its verdict (quality.json, read when the report
    is made)."""
    try:
        verdict = json.loads(Path(f"results/pairs/{wildcards.pair}/quality.json").read_text())["verdict"]
    except (OSError, ValueError, KeyError):
        return wildcards.pair  # not measured yet
    return f"{wildcards.pair}: verdict {verdict}"


def pair_labels(shows):
    """The labels of a pair's entry: what it shows (one of PAIR_ENTRIES), and the pair with its videos
    and model. Two columns: the report's entry list squeezes its page with each more."""
    shows = numbered(PAIR_ENTRIES, shows)

    def labels(wildcards):
        pair = PAIRS.loc[wildcards.pair]
        return {
            "shows": shows,
            "pair": f"{wildcards.pair}: {pair['source_video']} → {pair['destination_video']} (model {pair['model']})",
        }

    return labels


def trained(wildcards):
    """(name, whether it is the shared base) of a model's entry: train's {model}, pretrain's {base},
    or model_page's {folder}/{name}."""
    if wildcards.get("folder"):
        return wildcards.name, wildcards.folder == "pretrained"
    return (wildcards.base, True) if wildcards.get("base") else (wildcards.model, False)


def model_section(wildcards):
    name, base = trained(wildcards)
    return f"{name} (shared base)" if base else name


def model_labels(shows):
    """The labels of a model's entry: what it shows (one of MODEL_ENTRIES), the model and its videos."""
    shows = numbered(MODEL_ENTRIES, shows)

    def labels(wildcards):
        name, base = trained(wildcards)
        if base:
            return {"shows": shows, "model": f"{name} (shared base): {', '.join(sorted(PRETRAIN_VIDEOS))}"}
        source, destinations = model_videos(name)
        return {"shows": shows, "model": f"{name}: {source} → {', '.join(destinations)}"}

    return labels


# ---------------------------------------------------------------- learned segmentation (xseg)


def xseg_videos():
    """The videos whose faces the segmentation model learns: xseg.videos, or every video."""
    named = config["xseg"]["videos"]
    unknown = sorted(set(named) - set(VIDEOS))
    if unknown:
        raise WorkflowError(
            f"swaplib: config.yaml: xseg.videos names {', '.join(unknown)}, which the sheet does not "
            f"have; videos: {', '.join(sorted(VIDEOS))}"
        )
    return sorted(named) if named else sorted(VIDEOS)


def xseg_label_files(video):
    """A video's label files (labels/{video}/*.json|png, as swaplib.xseg.labels reads them): inputs,
    so adding, editing or removing one retrains the segmentation model and what uses it."""
    folder = Path(config["xseg"]["labels_dir"]) / video
    if not folder.is_dir():
        return []
    return sorted(
        str(path)
        for path in folder.iterdir()
        if path.suffix.lower() in (".json", ".png") and not path.name.startswith(".")
    )


def xseg_train_inputs(wildcards):
    videos = xseg_videos()
    return {
        "tables": expand("results/videos/{video}/faces.parquet", video=videos),
        "faces": expand("results/videos/{video}/faces", video=videos),
        "labels": [path for video in videos for path in xseg_label_files(video)],
    }


def label_review_inputs(wildcards):
    """A video's faces and masks, its label files (a labelled face is not suggested again) and its
    marks file (labels/{video}/to_label.tsv) if there is one."""
    inputs = {
        "table": f"results/videos/{wildcards.video}/faces.parquet",
        "faces": f"results/videos/{wildcards.video}/faces",
        "masks": f"results/videos/{wildcards.video}/masks",
        "labels": xseg_label_files(wildcards.video),
    }
    marks = Path(config["xseg"]["labels_dir"]) / wildcards.video / "to_label.tsv"
    if marks.is_file():
        inputs["marks"] = str(marks)
    return inputs


def xseg_sources(wildcards):
    """Each training video's table, crops and labels folder, for the job (not a rerun trigger: the
    files are its inputs)."""
    folder = Path(config["xseg"]["labels_dir"])
    return SimpleNamespace(
        videos=[
            {
                "name": video,
                "table": f"results/videos/{video}/faces.parquet",
                "faces": f"results/videos/{video}/faces",
                "labels": str(folder / video),
            }
            for video in xseg_videos()
        ]
    )
