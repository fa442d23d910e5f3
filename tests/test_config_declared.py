"""Settings declared once (swaplib.config): config.yaml's and the schema's sections are what the
declarations make, the library's settings object and the workflow's rerun tables come from them,
the workflow reads them without torch, and a setting added to a declaration alone reaches all of it."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from swaplib.config import extract, files, sort, video
from swaplib.config.declare import NOTHING, Section, Setting
from swaplib.config.extract import EXTRACT
from swaplib.config.frames import FRAMES
from swaplib.config.merge import MERGE
from swaplib.config.quality import QUALITY
from swaplib.config.sort import CURATION, SORT
from swaplib.config.train import AMP_PRESETS, PRECISIONS, PRESETS, PRETRAIN_RECIPE, PROGRESS, TRAIN
from swaplib.config.video import C2PA, VIDEO
from swaplib.config.xseg import XSEG
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


def test_every_section_of_config_yaml_is_declared_and_c2pa_is_written_inside_video():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    assert [section.name for section in files.DECLARED] == [key for key in config if key != "pairs"]
    for section in files.DECLARED:
        assert config[section.name] == section.defaults(), section.name
        assert schema["properties"][section.name] == section.schema(), section.name
    assert config["video"]["c2pa"] == C2PA.defaults() == {"enabled": True, "cert": "", "key": ""}
    lines = (REPO / "config.yaml").read_text().splitlines()
    at = lines.index("  c2pa:".ljust(27) + " # " + C2PA.comment)
    assert lines[at + 1] == "    enabled: true".ljust(27) + " # " + C2PA["enabled"].meaning  # comments in their column
    c2pa = VIDEO["c2pa"]
    assert c2pa.problem({"enabled": False, "cert": "", "key": ""}) is None
    assert c2pa.problem({"enabled": True, "cert": "", "key": "", "keys": ""}) and c2pa.problem({"enabled": "yes"})


def _library_defaults(settings_type) -> dict:
    return {f.name: f.default_factory() if f.default is dataclasses.MISSING else f.default
            for f in dataclasses.fields(settings_type)}


def test_the_library_s_settings_objects_keep_the_declared_defaults():
    """The stages above config in LAYERS keep their own defaults: they are the declarations'."""
    from swaplib.extract.settings import ExtractSettings
    from swaplib.quality.figures import QualitySettings
    from swaplib.sort.settings import CurationSettings, SortSettings
    from swaplib.video.encode import DEFAULT_C2PA, encode_video
    from swaplib.video.frames import extract_frames
    from swaplib.video.signing import C2paSettings
    from swaplib.xseg.settings import XSegSettings

    assert _library_defaults(ExtractSettings) == EXTRACT.defaults()
    assert _library_defaults(SortSettings) == SORT.defaults()
    assert _library_defaults(CurationSettings).items() <= CURATION.defaults().items()
    assert _library_defaults(XSegSettings) == XSEG.defaults()
    assert _library_defaults(QualitySettings) == QUALITY.defaults()
    assert _library_defaults(C2paSettings) == C2PA.defaults() and DEFAULT_C2PA == C2paSettings()
    for function, section in ((extract_frames, FRAMES), (encode_video, VIDEO)):
        keywords = inspect.signature(function).parameters
        # The workflow's own (which files a run makes, e.g. video.mask_output) are no keyword of the job.
        own = [s for s in section.settings if s.name != "c2pa" and s.role != "location"]
        assert {s.name: keywords[s.name].default for s in own} == {s.name: s.default for s in own}, function.__name__


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
    """Values kept beside modules the declarations cannot import: without torch, or above config in LAYERS."""
    from swaplib.core.progress import PROGRESS_MODES
    from swaplib.extract.align import FACE_TYPES
    from swaplib.extract.detect.backends import ALIASES, DETECTORS, LANDMARKERS
    from swaplib.extract.identity import SAME_PERSON, SELECT_MODES
    from swaplib.model.base import PRECISIONS as MODEL_PRECISIONS
    from swaplib.sort.identity import IDENTITY_MODES
    from swaplib.sort.orders import ORDERS
    from swaplib.video.encode import X264_PRESETS
    from swaplib.video.marks import LABEL_CORNERS

    assert PRECISIONS == MODEL_PRECISIONS and PROGRESS == PROGRESS_MODES
    assert AMP_PRESETS == ("amp",) and all(PRESETS[name]["archi"] == "amp" for name in AMP_PRESETS)
    archi = re.compile(next(s for s in TRAIN.settings if s.name == "archi").schema["pattern"])
    for kind in ARCHI_TYPES + ("vae",):  # the schema takes every archi string parse_archi takes, no other family
        for opts in ("", "-", "-u", "-udtc", "-x"):
            assert bool(archi.match(kind + opts)) == _parses(kind + opts), kind + opts
    assert set(PRETRAIN_RECIPE) <= {s.name for s in TRAIN.settings}
    assert set(extract.DETECTORS) == {*DETECTORS, *ALIASES} and extract.LANDMARKS == ("auto", *LANDMARKERS)
    assert extract.FACE_TYPES == FACE_TYPES and extract.SELECT_MODES == SELECT_MODES
    assert EXTRACT["tolerance"].default == QUALITY["same_person"].default == SAME_PERSON
    assert set(sort.ORDERS) == set(ORDERS) and sort.IDENTITY_MODES == IDENTITY_MODES
    assert video.X264_PRESETS == X264_PRESETS and video.LABEL_CORNERS == LABEL_CORNERS
    assert isinstance(json.loads((REPO / "src/swaplib/train/recipe.json").read_text())["amp_version"], int)


def test_the_workflow_s_rerun_tables_are_the_declaration_s():
    """What common.smk plans with: no key moved in or out of a rerun trigger (a finished run reruns
    nothing because of the declarations)."""
    assert set(TRAIN.untracked()) == {"save_every", "backup_every", "backup_keep", "preview_every", "progress",
                                      "workers", "device", "devices", "nodes", "channels_last"}
    assert TRAIN.added_off() == {"max_minutes": 0, "from_base": False, "ema": 0, "face_style_power": 0,
                                 "bg_style_power": 0, "random_hsv_power": 0, "blur_out_mask": False, "gan_power": 0,
                                 "true_face_power": 0, "inter_dims": None, "morph_factor": None, "masks": "hull"}
    assert TRAIN.only_with() == {"gan_patch_size": "gan_power", "gan_dims": "gan_power"}
    assert set(TRAIN.not_of_base()) == {"iterations", "max_minutes", "pretrain", "from_base", "masks"}
    # common.smk's tables, each of every declared section: what they held when only train and merge
    # were declared and the other sections' entries were written in it by hand.
    assert _workflow_table(Section.untracked) == {"train": TRAIN.untracked(), "xseg": ("save_every", "device")}
    # Settings added since (off at their added_off value, so finished runs rerun nothing for them).
    assert _workflow_table(Section.added_off) == {"frames": {"allow_truncated": False}, "train": TRAIN.added_off(),
                                                  "merge": MERGE.added_off(), "curation": {"show_masks": False},
                                                  "extract": {"rotate": False, "second_pass": False}}
    assert _workflow_table(Section.only_with) == {"train": TRAIN.only_with()}
    assert _workflow_table(Section.locations) == {"extract": ("references", "manual_faces"), "curation": ("dir",),
                                                  "merge": MERGE.locations(), "xseg": ("labels_dir",),
                                                  "video": ("mask_output",)}


def _workflow_table(table) -> dict:
    """A rerun table as common.smk's `declared` makes it."""
    return {section.name: table(section) for section in files.DECLARED if table(section)}


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


def test_a_setting_added_to_the_quality_declaration_alone_reaches_config_yaml_and_the_schema(tmp_path):
    """A copy of the checkout with one quality setting declared: the generator puts it in config.yaml (its last
    line: quality is its last section) and in the schema's quality section."""
    for name in ("src", "config.yaml", "workflow"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, tmp_path / name)
    quality = tmp_path / "src/swaplib/config/quality.py"
    new = '    Setting("min_faces", 10, {"type": "integer", "minimum": 1}, "fewer measured faces: no verdict"),\n'
    quality.write_text(quality.read_text().replace("))\n", new + "))\n", 1))
    env = {"PYTHONPATH": str(tmp_path / "src")}
    subprocess.run([sys.executable, "-m", "swaplib.config", str(tmp_path)], check=True, env=env)
    lines = (tmp_path / "config.yaml").read_text().splitlines()
    assert lines[-1] == "  min_faces: 10".ljust(27) + " # fewer measured faces: no verdict"
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["quality"]["min_faces"] == 10
    schema = yaml.safe_load((tmp_path / "workflow/schemas/config.schema.yaml").read_text())["properties"]["quality"]
    assert schema["properties"]["min_faces"] == {"type": "integer", "minimum": 1, "default": 10,
                                                 "description": "fewer measured faces: no verdict"}
    assert schema["required"][-1] == "min_faces"


def test_yaml_lines_align_comments_and_quote_what_yaml_would_misread():
    section = Section("demo", header=("a note",), settings=(
        Setting("mode", "on", {"enum": ["on", "off"]}, "switch"), Setting("n", 3, {"type": "integer"}),
        Setting("rate", 0.5, {"type": "number"}, "share", before="Speed."),
    ))
    assert section.yaml_lines() == ["demo:", "  # a note", '  mode: "on"                # switch', "  n: 3",
                                    "  # Speed.", "  rate: 0.5                 # share"]
    assert yaml.safe_load("\n".join(section.yaml_lines()))["demo"] == {"mode": "on", "n": 3, "rate": 0.5}
