"""Training settings: the preset table (model and recipe together) and TrainSettings.

A `train:` config section, or train_model's keywords, names a preset and any setting on top of
it. A setting of None (null in config.yaml) takes the preset's value, or for a setting that no
preset sets, its default below. No setting has a magic 0: a 0 means "off" or "none" only where
its comment says so.
"""

from __future__ import annotations

from dataclasses import asdict, field, fields, make_dataclass

from swaplib.config.declare import NOTHING
from swaplib.config.train import DEFAULT_PRESET, PRESETS, TRAIN
from swaplib.core.errors import SwaplibError
from swaplib.model.config import ModelConfig, keys_it_lacks

ARCHITECTURE = TRAIN.architecture()  # the preset keys that shape the network (ModelConfig's fields)
LR_DROPOUT = {True: dict(lr_dropout=0.3, lr_cos=500), False: dict(lr_dropout=1.0, lr_cos=0)}  # DFL's "y" / "n"
# What training does but the architecture: every declared train setting but the preset's name and the
# architecture (config.yaml's section, and threads, which the workflow gives itself).
_RECIPE = tuple(s for s in TRAIN.settings if not s.architecture and s.name != "preset")


class _Checked:
    """TrainSettings' behaviour: each value checked against its declaration on creation."""

    def __post_init__(self):
        bad = [problem for s in _RECIPE if (problem := s.problem(getattr(self, s.name)))]
        if bad:
            raise SwaplibError("invalid training settings: " + "; ".join(bad))
        if self.optimizer == "adam" and (self.lr_dropout < 1 or self.lr_cos):
            raise SwaplibError("lr_dropout and lr_cos need optimizer adabelief or rmsprop (as in DFL)")

    def to_dict(self) -> dict:
        return asdict(self)


def _field(setting):
    default = setting.library_default
    return setting.name, object, field(default=default) if default is not NOTHING else field()


# Everything training does but the architecture, resolved (no None left where a value is due): the
# declared settings (swaplib.config.train) as fields, with the library's defaults; those a preset
# decides have none.
TrainSettings = make_dataclass("TrainSettings", [_field(s) for s in _RECIPE], bases=(_Checked,), kw_only=True)
TrainSettings.__module__ = __name__  # where it is made, for pickling and reprs

RECIPE = tuple(f.name for f in fields(TrainSettings))
# The keys of config.yaml's `train:` section, i.e. train_model's keywords.
SECTION = tuple(s.name for s in TRAIN.config)


def section_defaults() -> dict:
    """Each `train:` key's default, as config.yaml ships it (None where it is the preset's)."""
    return TRAIN.defaults()


def resolve(preset: str = DEFAULT_PRESET, **given) -> tuple[ModelConfig, TrainSettings]:
    """The preset's architecture and recipe with the `given` settings on top (None: the preset's).
    lr_dropout may be True (DFL's 0.3 with the cosine schedule, unless lr_cos is given) or False (off)."""
    if preset not in PRESETS:
        raise SwaplibError(f"unknown training preset {preset!r}; presets: {', '.join(sorted(PRESETS))}")
    unknown = sorted(set(given) - set(ARCHITECTURE) - set(RECIPE))
    if unknown:
        raise SwaplibError(f"unknown training setting(s) {', '.join(map(repr, unknown))}; known: "
                           f"{', '.join(SECTION)}, threads")
    values = dict(PRESETS[preset])
    if isinstance(given.get("progress"), bool):  # YAML reads a bare on/off as a boolean
        given["progress"] = "on" if given["progress"] else "off"
    if isinstance(given.get("lr_dropout"), bool):
        values.update(LR_DROPOUT[given.pop("lr_dropout")])
    values.update({k: v for k, v in given.items() if v is not None})
    # a preset's family keys stay behind when archi leaves the family (amp's inter_dims on df)
    values.update({k: given.get(k) for k in keys_it_lacks(values["archi"])})
    return ModelConfig(**{k: values.pop(k) for k in ARCHITECTURE}), TrainSettings(**values)


def model_config(preset: str = DEFAULT_PRESET, **architecture) -> ModelConfig:
    """The preset's ModelConfig with `architecture` (archi, resolution, *_dims; None: the preset's) on top."""
    other = sorted(set(architecture) - set(ARCHITECTURE))
    if other:
        raise SwaplibError(f"not architecture settings: {', '.join(other)}; those are {', '.join(ARCHITECTURE)}")
    return resolve(preset, **architecture)[0]


def train_settings(preset: str = DEFAULT_PRESET, **recipe) -> TrainSettings:
    """The preset's TrainSettings with `recipe` (None: the preset's) on top."""
    other = sorted(set(recipe) & set(ARCHITECTURE))
    if other:
        raise SwaplibError(f"architecture settings {', '.join(other)} belong in model_config, not train_settings")
    return resolve(preset, **recipe)[1]
