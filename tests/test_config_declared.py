"""Settings declared once (swaplib.config): config.yaml's and the schema's sections are what the
declarations make, the library's settings object and the workflow's rerun tables come from them,
the workflow reads them without torch, and a setting added to a declaration alone reaches all of it."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from swaplib.config import files
from swaplib.config.declare import NOTHING, Section, Setting
from swaplib.config.merge import MERGE
from swaplib.config.train import AMP_PRESETS, PRECISIONS, PRESETS, PRETRAIN_RECIPE, PROGRESS, TRAIN
from swaplib.core.errors import SwaplibError
from swaplib.model.config import ARCHI_TYPES, parse_archi
from workflow_support import REPO


def test_the_files_in_the_repository_are_what_the_declarations_make():
    differ = files.write(REPO, check=True)
    assert not differ, f"run `python -m swaplib.config` to write {', '.join(map(str, differ))} from the declarations"


def test_the_train_section_s_keys_defaults_and_schema_come_from_the_declaration():
    config = yaml.safe_load((REPO / "config.yaml").read_text())["train"]
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]["train"]
    assert config == TRAIN.defaults() and list(config) == [s.name for s in TRAIN.config]
    assert schema == TRAIN.schema() and set(schema["required"]) == set(config)
    # The schema accepts what config.yaml ships and refuses what a declaration refuses.
    assert TRAIN["ct_mode"].problem("mkl-m") is None  # the library's masked modes are offered too
    assert "is not one of" in TRAIN["ct_mode"].problem("blend")


def test_the_merge_section_and_mergesettings_come_from_the_declaration():
    from swaplib.merge.settings import WHOLE_VIDEO, MergeSettings

    config = yaml.safe_load((REPO / "config.yaml").read_text())["merge"]
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]["merge"]
    assert config == MERGE.defaults() and schema == MERGE.schema()
    assert MergeSettings().to_dict() == MERGE.defaults()  # the library's defaults are config.yaml's
    assert set(WHOLE_VIDEO) == {"overrides_dir", "precision", "morph_factor", "super_resolution_model"}
    assert MERGE.added_off() == {"morph_factor": 1.0, "super_resolution_power": 0, "super_resolution_model": "x4plus"}
    assert MERGE.locations() == ("overrides_dir",) and not MERGE.untracked()
    assert "erode is now erode_mask_modifier" in schema["patternProperties"]["^erode$"]["description"]
    assert hash(MergeSettings()) == hash(MergeSettings())  # frame ranges' settings compare and hash


def test_the_library_s_settings_object_is_made_from_the_declaration():
    from swaplib.train.settings import ARCHITECTURE, RECIPE, SECTION, TrainSettings, train_settings

    fields = {f.name: f for f in dataclasses.fields(TrainSettings)}
    assert list(fields) == list(RECIPE) == [s.name for s in TRAIN.settings if not s.architecture and s.name != "preset"]
    for setting in TRAIN.settings:
        if setting.name in fields:
            default = fields[setting.name].default
            assert (NOTHING if default is dataclasses.MISSING else default) == setting.library_default, setting.name
    assert SECTION == tuple(s.name for s in TRAIN.config) and "threads" in RECIPE and "threads" not in SECTION
    assert train_settings("tiny").max_minutes == 0  # the library's own default; the workflow's run has 30
    with pytest.raises(Exception, match=r"invalid training settings: gan_power must be within 0..5, got 9"):
        train_settings("tiny", gan_power=9)
    from swaplib.model.config import ModelConfig

    assert set(ARCHITECTURE) == {f.name for f in dataclasses.fields(ModelConfig)}


def _parses(archi: str) -> bool:
    try:
        return parse_archi(archi) is not None
    except SwaplibError:
        return False


def test_declared_values_agree_with_the_modules_that_use_them():
    """Values kept beside modules the declarations cannot import without torch."""
    from swaplib.core.progress import PROGRESS_MODES
    from swaplib.model.base import PRECISIONS as MODEL_PRECISIONS

    assert PRECISIONS == MODEL_PRECISIONS and PROGRESS == PROGRESS_MODES
    assert AMP_PRESETS == ("amp",) and all(PRESETS[name]["archi"] == "amp" for name in AMP_PRESETS)
    archi = re.compile(next(s for s in TRAIN.settings if s.name == "archi").schema["pattern"])
    for kind in ARCHI_TYPES + ("vae",):  # the schema takes every archi string parse_archi takes, no other family
        for opts in ("", "-", "-u", "-udtc", "-x"):
            assert bool(archi.match(kind + opts)) == _parses(kind + opts), kind + opts
    assert set(PRETRAIN_RECIPE) <= {s.name for s in TRAIN.settings}
    assert isinstance(json.loads((REPO / "src/swaplib/train/recipe.json").read_text())["amp_version"], int)


def test_the_workflow_s_rerun_tables_are_the_declaration_s():
    """What common.smk plans with: no key moved in or out of a rerun trigger (a finished run reruns
    nothing because of the declarations)."""
    assert set(TRAIN.untracked()) == {"save_every", "backup_every", "backup_keep", "preview_every", "progress",
                                      "workers", "device", "channels_last"}
    assert TRAIN.added_off() == {"max_minutes": 0, "from_base": False, "ema": 0, "face_style_power": 0,
                                 "bg_style_power": 0, "random_hsv_power": 0, "blur_out_mask": False, "gan_power": 0,
                                 "true_face_power": 0, "inter_dims": None, "morph_factor": None, "masks": "hull"}
    assert TRAIN.only_with() == {"gan_patch_size": "gan_power", "gan_dims": "gan_power"}
    assert set(TRAIN.not_of_base()) == {"iterations", "max_minutes", "pretrain", "from_base", "masks"}


def test_the_workflow_reads_the_declarations_without_torch():
    code = ("import sys; from swaplib.config.train import TRAIN; from swaplib.config import files; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_a_setting_added_in_the_declaration_alone_reaches_config_schema_library_and_reruns(tmp_path):
    """A copy of the checkout with one new train setting declared: the generator puts it in config.yaml
    and the schema, the library's settings take and check it, and the workflow's tables file it as
    declared: a speed setting reruns nothing, a recipe setting is left out at its added-off value."""
    for name in ("src", "config.yaml", "workflow"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, tmp_path / name)
    train = tmp_path / "src/swaplib/config/train.py"
    text = train.read_text()
    new = ('    Setting("warp_until", 0, _whole(0), "stop the random warp after this many steps (0 = never)", '
           'added_off=0),\n    Setting("log_every", 100, _whole(1), "a log line every N steps", role="run"),\n')
    train.write_text(text.replace('    Setting("save_every", 500,', new + '    Setting("save_every", 500,', 1))
    env = {"PYTHONPATH": str(tmp_path / "src")}
    run = [sys.executable, "-c"]
    subprocess.run([sys.executable, "-m", "swaplib.config", str(tmp_path)], check=True, env=env)
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())["train"]
    assert config["warp_until"] == 0 and config["log_every"] == 100
    schema = yaml.safe_load((tmp_path / "workflow/schemas/config.schema.yaml").read_text())["properties"]["train"]
    assert schema["properties"]["warp_until"] == {"type": "integer", "minimum": 0, "default": 0,
                                                  "description": "stop the random warp after this many steps "
                                                                 "(0 = never)"}
    assert "warp_until" in schema["required"]
    lines = (tmp_path / "config.yaml").read_text().splitlines()
    assert "  warp_until: 0".ljust(27) + " # stop the random warp after this many steps (0 = never)" in lines
    probe = ("from swaplib.config.train import TRAIN; from swaplib.train.settings import train_settings; "
             "s = train_settings('tiny', warp_until=300, log_every=5); "
             "print(s.warp_until, s.log_every, 'log_every' in TRAIN.untracked(), TRAIN.added_off()['warp_until']); "
             "train_settings('tiny', warp_until=-1)")
    done = subprocess.run([*run, probe], capture_output=True, text=True, env=env)
    assert done.stdout.split() == ["300", "5", "True", "0"]
    assert re.search(r"invalid training settings: warp_until must be at least 0, got -1", done.stderr)


def test_yaml_lines_align_comments_and_quote_what_yaml_would_misread():
    section = Section("demo", header=("a note",), settings=(
        Setting("mode", "on", {"enum": ["on", "off"]}, "switch"), Setting("n", 3, {"type": "integer"}),
        Setting("rate", 0.5, {"type": "number"}, "share", before="Speed."),
    ))
    assert section.yaml_lines() == ["demo:", "  # a note", '  mode: "on"                # switch', "  n: 3",
                                    "  # Speed.", "  rate: 0.5                 # share"]
    assert yaml.safe_load("\n".join(section.yaml_lines()))["demo"] == {"mode": "on", "n": 3, "rate": 0.5}
