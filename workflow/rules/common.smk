# The sheet, the validated config, the rerun tables and params every rule uses, the shared base's
# name, and the report's labels. Each stage's input functions: rules/{stage}_inputs.smk.

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
from swaplib.video.results import result_name

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
# Pairs whose destination is a photo folder: their result is the folder of swapped photos (rule
# photos), the others' a video (rule video).
PHOTO_PAIRS = [pair for pair in PAIRS.index if VIDEOS[PAIRS.loc[pair, "destination_video"]].is_dir()]
VIDEO_PAIRS = [pair for pair in PAIRS.index if pair not in PHOTO_PAIRS]


def one_of(names):
    """A wildcard constraint that matches exactly these names (none: nothing at all)."""
    return "|".join(map(re.escape, names)) or "(?!)"


def pair_result(pair):
    """A pair's result: results/pairs/{pair}.mp4, or its folder of swapped photos {pair}.photos."""
    return f"results/pairs/{result_name(pair, pair in PHOTO_PAIRS)}"


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
# What a training asks the scheduler for: one process per device (train.devices, torchrun).
TRAIN_DEVICES = config["train"]["devices"]


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


# ---------------------------------------------------------------- what every run asks for


def all_videos(wildcards):
    """Every pair's video (or swapped photos), quality and pages, every video's contact sheets and
    frames to check, and every model's settings page (for review and the report); with
    video.mask_output video, every video pair's mask video; with xseg.enabled, every video's masks."""
    pair_files = ["{pair}/quality.json", "{pair}/quality.html", "{pair}/player.html"]
    pair_files.append("{pair}/quality_table.html")
    models = expand("results/models/{model}/settings.html", model=MODELS)
    if config["train"].get("from_base"):
        models.append(f"results/pretrained/{BASE}/settings.html")
    targets = (
        [pair_result(pair) for pair in PAIRS.index]
        + expand([f"results/pairs/{name}" for name in pair_files], pair=PAIRS.index)
        + expand("results/videos/{video}/sheets", video=sorted(VIDEOS))
        + expand("results/videos/{video}/to_check.tsv", video=sorted(VIDEOS))
        + models
    )
    if config["video"]["mask_output"] == "video":
        # Photos of many sizes make no video: a photo pair's masks stay frames (merged_mask/).
        targets += expand("results/pairs/{pair}.mask.mp4", pair=VIDEO_PAIRS)
    if config["xseg"]["enabled"]:
        targets += expand("results/videos/{video}/masks", video=sorted(VIDEOS))
        targets += expand("results/videos/{video}/to_label", video=xseg_videos())
    return targets


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


# ---------------------------------------------------------------- what several stages use
# (each stage's own input functions are in rules/{stage}_inputs.smk, beside its rules)


def provenance(wildcards):
    """What the provenance sidecar of a pair's video or photos records (plain values: params trigger)."""
    pair = PAIRS.loc[wildcards.pair]
    return {
        "pair": wildcards.pair,
        "source": pair["source"],
        "destination": pair["destination"],
        "model": pair["model"],
    }


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
