"""What a change reruns, through real Snakemake on one finished small run: code reruns a stage only
when what it computes changed (touch, comments and docstrings rerun nothing), training only when its
recipe version moves, and settings that change no output rerun nothing."""

from __future__ import annotations

import ast
import json
import os
import time
from pathlib import Path

import pytest
import yaml

from swaplib.core.codehash import PACKAGE_DIR, closure, imported_modules
from workflow_support import ITERATIONS, REPO, copy_run, finished_small_run, planned_jobs

pytestmark = pytest.mark.workflow

PAIR = "glasses_to_outdoors"
SCRIPTS = REPO / "workflow/scripts"
MERGE_AND_BELOW = {"merge": 1, "video": 1, "quality": 1, "quality_card": 1, "pair_pages": 1}
TRAIN_AND_BELOW = {"train": 1, "model_page": 1, **MERGE_AND_BELOW}


def only(**jobs: int) -> dict[str, int]:
    """A dry run's plan that runs these jobs (and the `all` target that collects them)."""
    return {"all": 1, **jobs}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, clip):
    rows = [(PAIR, clip("lp_d12_man_glasses_talking"), clip("lp_d20_young_man_talking"))]
    workdir = finished_small_run(tmp_path_factory.mktemp("reruns"), rows)
    assert planned_jobs(workdir) == {}
    return workdir


@pytest.fixture
def run(finished_run, tmp_path):
    return copy_run(finished_run, tmp_path)


def library(run: Path) -> list[Path]:
    return sorted((run / "src/swaplib").rglob("*.py"))


def scripts(run: Path) -> list[Path]:
    return sorted((run / "workflow/scripts").glob("*.py"))


def defining(run: Path, folder: str, text: str) -> Path:
    """The module under src/swaplib/<folder> whose source contains `text` (it survives a file split)."""
    found = [path for path in sorted((run / "src/swaplib" / folder).rglob("*.py")) if text in path.read_text()]
    assert found, f"no module in src/swaplib/{folder} contains {text!r}"
    return found[0]


def change_code(path: Path) -> None:
    """A real change of what `path` computes: its first numeric module constant + 1 (or a new one)."""
    source = path.read_text()
    for node in ast.parse(source).body:
        value = getattr(node, "value", None)
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(value, ast.Constant) \
                and type(value.value) in (int, float):
            lines = source.splitlines(keepends=True)
            line = lines[value.lineno - 1]
            lines[value.lineno - 1] = line[: value.col_offset] + repr(value.value + 1) + line[value.end_col_offset :]
            path.write_text("".join(lines))
            return
    path.write_text(source + "\nRERUN_PROBE = 1\n")


def test_touching_every_code_file_reruns_nothing(run):
    later = time.time() + 60
    for path in [*library(run), *scripts(run), run / "src/swaplib/train/recipe.json", run / "Snakefile"]:
        os.utime(path, (later, later))
    assert planned_jobs(run) == {}


def test_comments_and_docstrings_rerun_nothing(run):
    for path in [*library(run), *scripts(run)]:
        source = path.read_text()
        if source.startswith('"""'):  # the module's docstring
            source = source.replace('"""', '"""Edited: ', 1)
        path.write_text(source + "\n# a comment added after the run\n")
    assert planned_jobs(run) == {}


def test_quality_code_reruns_only_quality(run):
    change_code(defining(run, "quality", "def measure_pair"))
    assert planned_jobs(run) == only(quality=1, quality_card=1, pair_pages=1)


def test_contact_sheet_code_reruns_only_the_sheets(run):
    change_code(run / "src/swaplib/sort/contact_sheet.py")
    assert planned_jobs(run) == only(sheets=2)


def test_label_code_reruns_only_the_video(run):
    label = defining(run, "video", "drawtext")
    module = PACKAGE_DIR / label.relative_to(run / "src/swaplib")
    upstream = [name for name in ("frames.py", "faces.py") if module in closure(*imported_modules(SCRIPTS / name))]
    if upstream:
        pytest.skip(f"{label.name} holds the label code and also code that {', '.join(upstream)} run")
    change_code(label)
    assert planned_jobs(run) == only(video=1, quality_card=1, pair_pages=1)


def test_merge_code_reruns_merge_and_below_not_training(run):
    change_code(run / "src/swaplib/merge/masks.py")
    assert planned_jobs(run) == only(**MERGE_AND_BELOW)


def test_training_reruns_when_its_recipe_version_moves(run):
    change_code(defining(run, "train", "dssim"))  # the training loss
    assert planned_jobs(run) == {}  # tests/test_recipe_version.py fails until recipe.json says whether it counts
    recipe = run / "src/swaplib/train/recipe.json"
    content = json.loads(recipe.read_text())
    recipe.write_text(json.dumps({**content, "amp_version": content["amp_version"] + 1}))
    assert planned_jobs(run) == {}  # AMP's own terms: this model is no AMP
    recipe.write_text(json.dumps({**content, "version": content["version"] + 1}))
    assert planned_jobs(run) == only(**TRAIN_AND_BELOW)  # no extraction, no sort


def test_settings_that_change_no_output_rerun_nothing(run):
    untracked = {"save_every": 3, "backup_every": 7, "backup_keep": 1, "preview_every": 5}
    (run / "untracked.yaml").write_text(yaml.safe_dump({"train": untracked}))
    assert planned_jobs(run, "--configfile", "untracked.yaml") == {}


def test_more_iterations_rerun_training_and_below(run):
    (run / "longer.yaml").write_text(yaml.safe_dump({"train": {"iterations": ITERATIONS + 10}}))
    assert planned_jobs(run, "--configfile", "longer.yaml") == only(**TRAIN_AND_BELOW)


def reversed_keys(value):
    return {key: reversed_keys(value[key]) for key in reversed(value)} if isinstance(value, dict) else value


def test_reordered_settings_rerun_nothing(run):
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "reordered.yaml").write_text(yaml.safe_dump(reversed_keys(config), sort_keys=False))
    assert planned_jobs(run, "--configfile", "reordered.yaml") == {}
    (run / "config.yaml").write_text(yaml.safe_dump(reversed_keys(config), sort_keys=False))
    assert planned_jobs(run) == {}


def test_settings_added_later_rerun_nothing_at_their_off_value(run):
    """A run made before a setting existed (emulated: the setting taken out of the config and the
    schema) plans the same as one with the setting at its off value: an upgrade adding it reruns nothing."""
    # (max_minutes came with a default of 15 for the workflow: it counts)
    added = ("from_base", "ema", "gan_power", "gan_patch_size", "gan_dims", "true_face_power", "inter_dims",
             "morph_factor")
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert all(key in config["train"] for key in added)
    config["train"] = {key: value for key, value in config["train"].items() if key not in added}
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    schema_path = run / "workflow/schemas/config.schema.yaml"
    schema = yaml.safe_load(schema_path.read_text())
    train = schema["properties"]["train"]
    train["required"] = [key for key in train["required"] if key not in added]
    schema_path.write_text(yaml.safe_dump(schema, sort_keys=False))
    assert planned_jobs(run) == {}
    (run / "on.yaml").write_text(yaml.safe_dump({"train": {"ema": 0.999}}))  # the setting, turned on: it counts
    assert planned_jobs(run, "--configfile", "on.yaml") == only(**TRAIN_AND_BELOW)
    # The GAN's shape counts only with the GAN on.
    (run / "shape.yaml").write_text(yaml.safe_dump({"train": {"gan_patch_size": 12, "gan_dims": 32}}))
    assert planned_jobs(run, "--configfile", "shape.yaml") == {}
    (run / "gan.yaml").write_text(yaml.safe_dump({"train": {"gan_power": 0.1, "gan_dims": 32}}))
    assert planned_jobs(run, "--configfile", "gan.yaml") == only(**TRAIN_AND_BELOW)
