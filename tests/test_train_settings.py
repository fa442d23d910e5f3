"""Training settings have one source each: the preset table for what a preset decides, the
TrainSettings defaults for the rest; config.yaml and the schema say the same, null = the preset's."""

from __future__ import annotations

import pytest
import yaml

from swaplib.core.errors import SwaplibError
from swaplib.core.merging import deep_merge
from swaplib.sheet import validate_config
from swaplib.train.settings import (
    ARCHITECTURE,
    PRESETS,
    SECTION,
    TrainSettings,
    model_config,
    resolve,
    section_defaults,
    train_settings,
)
from workflow_support import REPO

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
SCHEMA_PATH = REPO / "workflow/schemas/config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["train"]


def test_schema_config_and_library_name_the_same_keys_with_the_same_defaults():
    library = section_defaults()
    assert list(library) == list(SECTION)
    assert set(SCHEMA["properties"]) == set(CONFIG["train"]) == set(library)
    assert set(SCHEMA["required"]) == set(library)
    assert {k: p["default"] for k, p in SCHEMA["properties"].items()} == library
    assert CONFIG["train"] == library
    assert all(library[k] is None for k in ARCHITECTURE)  # the architecture is always the preset's unless given
    decided = set().union(*map(set, PRESETS.values()))
    automatic = {"channels_last", "workers", "gan_patch_size"}  # auto, and the resolution's share
    assert decided == {k for k, v in library.items() if v is None} - automatic
    assert all(set(p) == decided for p in PRESETS.values())  # every preset decides the same keys


def test_the_whole_config_section_resolves_to_the_preset():
    cfg, s = resolve(**CONFIG["train"])
    assert cfg == model_config("tiny") and (cfg.archi, cfg.resolution) == ("df", 64)
    assert (s.optimizer, s.lr, s.batch_size, s.lr_dropout, s.lr_cos) == ("adam", 5e-4, 8, 1.0, 0)
    cfg, s = resolve(**{**CONFIG["train"], "preset": "quick96"})
    assert (cfg.archi, cfg.resolution, cfg.ae_dims) == ("df-ud", 96, 128)
    assert (s.optimizer, s.lr, s.batch_size, s.lr_dropout) == ("rmsprop", 2e-4, 4, 0.3)  # the preset's batch size


def test_null_is_the_presets_and_zero_is_zero():
    s = train_settings("saehd", iterations=100, lr=None, batch_size=None, lr_dropout=True, masked_training=False)
    assert (s.optimizer, s.lr, s.batch_size, s.lr_dropout, s.lr_cos, s.masked_training) == \
        ("adabelief", 5e-5, 8, 0.3, 500, False)
    assert train_settings("saehd", lr_dropout=True, lr_cos=0).lr_cos == 0  # a given lr_cos wins
    assert train_settings("quick96", lr_dropout=False).lr_dropout == 1.0
    assert train_settings("quick96", lr_dropout=0.5).lr_dropout == 0.5
    assert train_settings("tiny", save_every=0).save_every == 0  # 0: only at the end (once silently 500)
    assert train_settings("tiny", progress=False).progress == "off"  # YAML's bare off
    with pytest.raises(SwaplibError, match="invalid training settings: lr must be above 0, got 0"):
        train_settings("tiny", lr=0)
    with pytest.raises(SwaplibError, match="optimizer '' is not one of adabelief, rmsprop, adam"):
        train_settings("tiny", optimizer="")
    with pytest.raises(SwaplibError, match="resolution must be a positive integer, got 0"):
        model_config("tiny", resolution=0)


def test_settings_errors():
    base = dict(batch_size=4, lr=1e-4, optimizer="adam", lr_dropout=1.0, lr_cos=0)
    with pytest.raises(SwaplibError, match="iterations must be at least 1, got 0"):
        TrainSettings(**base, iterations=0)
    with pytest.raises(SwaplibError, match="batch_size"):
        TrainSettings(**{**base, "batch_size": 0})
    with pytest.raises(SwaplibError, match="ct_mode 'xyz' is not one of none, rct, lct, mkl, idt, sot, mkl-m"):
        TrainSettings(**base, ct_mode="xyz")
    with pytest.raises(SwaplibError, match="workers must be at least 1, got 0"):
        TrainSettings(**base, workers=0)
    with pytest.raises(SwaplibError, match="lr_dropout and lr_cos need"):
        TrainSettings(**{**base, "lr_dropout": 0.3})
    with pytest.raises(TypeError):  # what a preset decides has no default here
        TrainSettings(iterations=5)
    with pytest.raises(SwaplibError, match="unknown training preset 'h128'"):
        resolve("h128")
    with pytest.raises(SwaplibError, match="unknown training setting.*'batch_sise'"):
        resolve("tiny", batch_sise=4)
    with pytest.raises(SwaplibError, match="belong in model_config"):
        train_settings("tiny", archi="df")


@pytest.mark.parametrize("key, value", [("lr", 0), ("archi", ""), ("resolution", 0), ("optimizer", ""),
                                        ("batch_size", 0), ("explode_factor", 0.5), ("workers", 0)])
def test_the_old_magic_values_are_refused_by_the_schema(key, value):
    validate_config(CONFIG, SCHEMA_PATH)
    with pytest.raises(SwaplibError, match=f"train.{key}"):
        validate_config(deep_merge(CONFIG, {"train": {key: value}}), SCHEMA_PATH, source="my.yaml")


@pytest.mark.parametrize("key, value", [("lr_dropout", True), ("lr_dropout", 0.3), ("progress", False),
                                        ("explode_factor", 0), ("device", "cuda:1"), ("archi", "liae-udt")])
def test_the_schema_takes_what_the_library_takes(key, value):
    config = deep_merge(CONFIG, {"train": {"preset": "saehd", key: value}})  # saehd: lr_dropout needs no adam
    validate_config(config, SCHEMA_PATH)
    resolve(**config["train"])


def test_the_amp_preset_and_its_own_settings_through_the_schema():
    config = deep_merge(CONFIG, {"train": {"preset": "amp"}})
    validate_config(config, SCHEMA_PATH)
    cfg, s = resolve(**config["train"])
    assert (cfg.archi, cfg.resolution, cfg.inter_dims, cfg.morph_factor) == ("amp", 224, 1024, 0.5)
    assert (s.optimizer, s.lr, s.lr_dropout, s.batch_size) == ("adabelief", 5e-5, 1.0, 8)
    for key, value in (("archi", "df-udtc"), ("morph_factor", 0.1), ("inter_dims", 512)):
        validate_config(deep_merge(config, {"train": {key: value}}), SCHEMA_PATH)
    for key, value in (("archi", "amp-c"), ("archi", "df-cc c"), ("morph_factor", 0.6), ("inter_dims", 0)):
        with pytest.raises(SwaplibError, match=f"train.{key}"):
            validate_config(deep_merge(config, {"train": {key: value}}), SCHEMA_PATH, source="my.yaml")
    with pytest.raises(SwaplibError, match="morph_factor: archi amp's setting"):  # for another archi: refused
        resolve(**{**CONFIG["train"], "morph_factor": 0.3})
