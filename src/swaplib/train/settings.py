"""Training settings: the preset table (model and recipe together) and TrainSettings.

A `train:` config section, or train_model's keywords, names a preset and any setting on top of
it. A setting of None (null in config.yaml) takes the preset's value, or for a setting that no
preset sets, its default below. No setting has a magic 0: a 0 means "off" or "none" only where
its comment says so.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields

from swaplib.core.errors import SwaplibError
from swaplib.core.progress import PROGRESS_MODES
from swaplib.model.base import PRECISIONS
from swaplib.model.config import AMP_ONLY, ModelConfig, parse_archi
from swaplib.train.data import CT_MODES, HSV_POWER_MAX, MASK_SOURCES
from swaplib.train.optim import OPTIMIZERS

# DFL's models and recipes. Quick96 is DFL's fixed "just try it" model (full face, 96 px, df-ud),
# trained with RMSprop 2e-4, lr dropout 0.3, batch 4. SAEHD's values are its defaults (liae-ud,
# 128 px; d_mask_dims = d_dims/3 made even), AdaBelief 5e-5 (lr dropout and its cosine schedule are
# a later-stage option). tiny is ours, a CPU trial that trains in minutes, with Adam at 5e-4: on the
# first example pair it is the source person for the recogniser at 40,000 samples where 1e-4 is
# still a blur (id_match 1.0 against 0.03, bench/README.md); AdaBelief without bias correction takes
# ~3x larger first steps and diverges at such rates. amp is DFL's AMP at its defaults (224 px, inter dims 1024, morph
# factor 0.5), trained as DFL trains it: AdaBelief 5e-5, no lr dropout, batch 8 (DFL's AMP also
# always adds the eyes-and-mouth loss: eyes_mouth_prio true). Only amp has inter_dims and morph_factor.
NOT_AMP = dict(inter_dims=None, morph_factor=None)
PRESETS: dict[str, dict] = {
    "quick96": dict(archi="df-ud", resolution=96, ae_dims=128, e_dims=64, d_dims=64, d_mask_dims=16, **NOT_AMP,
                    optimizer="rmsprop", lr=2e-4, lr_dropout=0.3, lr_cos=0, batch_size=4),
    "saehd": dict(archi="liae-ud", resolution=128, ae_dims=256, e_dims=64, d_dims=64, d_mask_dims=22, **NOT_AMP,
                  optimizer="adabelief", lr=5e-5, lr_dropout=1.0, lr_cos=0, batch_size=8),
    "tiny": dict(archi="df", resolution=64, ae_dims=64, e_dims=16, d_dims=16, d_mask_dims=8, **NOT_AMP,
                 optimizer="adam", lr=5e-4, lr_dropout=1.0, lr_cos=0, batch_size=8),
    "amp": dict(archi="amp", resolution=224, ae_dims=256, e_dims=64, d_dims=64, d_mask_dims=22, inter_dims=1024,
                morph_factor=0.5, optimizer="adabelief", lr=5e-5, lr_dropout=1.0, lr_cos=0, batch_size=8),
}
DEFAULT_PRESET = "tiny"
# What DFL's pretraining sets itself, whatever the recipe says: no warp, flips, faces even over yaw,
# no lr dropout, no colour shift, no colour transfer and no style losses (there is no destination to
# match), no discriminators.
PRETRAIN_RECIPE = dict(random_warp=False, random_flip=True, uniform_yaw=True, lr_dropout=1.0, lr_cos=0,
                       ct_mode="none", random_hsv_power=0.0, face_style_power=0.0, bg_style_power=0.0,
                       gan_power=0.0, true_face_power=0.0)
ARCHITECTURE = tuple(f.name for f in fields(ModelConfig))  # the preset keys that shape the network
LR_DROPOUT = {True: dict(lr_dropout=0.3, lr_cos=500), False: dict(lr_dropout=1.0, lr_cos=0)}  # DFL's "y" / "n"


@dataclass(kw_only=True)
class TrainSettings:
    """Everything training does but the architecture, resolved (no None left where a value is due).
    Fields without a default are the preset's (PRESETS)."""

    iterations: int = 4000  # total steps; raising it continues from the saved state
    max_minutes: float = 0.0  # stop this run after this many minutes of training steps; 0 = no limit
    batch_size: int
    lr: float
    optimizer: str  # adabelief (DFL SAEHD), rmsprop (DFL Quick96) or adam
    lr_dropout: float  # share of weights updated per step (DFL: 0.3 when on; 1.0 = off)
    lr_cos: int  # cosine lr period in steps (DFL: 500 with lr_dropout); 0 = off
    clip_grad: float = 0.0  # max gradient norm; 0 = no clipping
    seed: int = 0
    # the recipe
    masks: str = "hull"  # the face masks (mask target, masked training): hull (landmarks) or xseg (swaplib.xseg)
    masked_training: bool = True  # losses inside the (blurred) face mask, when masks are given
    eyes_mouth_prio: bool = False  # + 300·L1 on eyes and mouth (needs eyes-and-mouth masks)
    random_flip: bool = True
    random_warp: bool = True  # DFL's grid warp on the input only
    random_transform: bool = True  # rotation ±10°, scale ±15 %, shift ±5 % on input and targets
    ct_mode: str = "none"  # colour transfer of src samples towards dst: none, rct, lct, mkl, idt, sot
    uniform_yaw: bool = False  # draw faces evenly over yaw
    pretrain: bool = False  # both identities learn all faces; switching it off keeps encoder+decoders
    from_base: bool = False  # start from a shared base model (the workflow's pretrain stage) instead of from scratch
    ema: float = 0.0  # the merge and previews use a moving average of the weights with this decay; 0 = off
    face_style_power: float = 0.0  # DFL's 0..100: the swap's colours inside the dst face mask learn dst's; 0 = off
    bg_style_power: float = 0.0  # DFL's 0..100: the swap outside the dst face mask learns dst's background; 0 = off
    random_hsv_power: float = 0.0  # DFL's 0..0.3: random hue/saturation/value shift of the src input; 0 = off
    blur_out_mask: bool = False  # blur the targets' background next to the face mask (needs masks)
    # adversarial training, DFL's (either may be switched on for a model trained without it)
    gan_power: float = 0.0  # weight of the patch discriminator's verdict on src reconstructions (DFL 0..5); 0 = off
    gan_patch_size: int | None = None  # its patch in px (DFL 3..640); None: resolution / 8, DFL's default
    gan_dims: int = 16  # its base channels (DFL 4..512)
    true_face_power: float = 0.0  # weight of the code discriminator's verdict (df family; DFL 0..1); 0 = off
    # crash-proofing
    save_every: int = 500  # checkpoint every N iterations; 0 = only at the end and on interrupt
    backup_every: int = 5000  # a kept copy every N iterations; 0 = none
    backup_keep: int = 3
    max_rollbacks: int = 8  # NaN/Inf or exploding-gradient rollbacks in a row before giving up
    rollback_lr_factor: float = 0.5  # each rollback multiplies the learning rate by this
    explode_factor: float = 1000.0  # gradient norm above this times its running mean = exploding; 0 = off
    # outputs and speed: what the model computes does not depend on these
    preview_every: int = 0  # preview grids in state_dir/previews/ every N iterations; 0 = none
    device: str = "auto"  # auto: cuda if available, else cpu
    precision: str = "auto"  # auto (bf16 on CUDA and on CPUs with AMX or AVX512_BF16), fp32, bf16, fp16 (CUDA)
    channels_last: bool | None = None  # None: on CUDA, and on CPU with bf16 (oneDNN's fast path); else off
    workers: int | None = None  # batch-making threads; None: up to 4, by CPU count
    threads: int | None = None  # torch's compute threads; None: torch's default, one per core
    progress: str = "auto"  # progress bar: auto (when stderr is a terminal), on, off

    def __post_init__(self):
        checks = {
            "iterations": self.iterations >= 1,
            "max_minutes": self.max_minutes >= 0,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0,
            "optimizer": self.optimizer in OPTIMIZERS,
            "lr_dropout": 0 < self.lr_dropout <= 1,
            "lr_cos": self.lr_cos >= 0,
            "ema": 0 <= self.ema < 1,
            "gan_power": 0 <= self.gan_power <= 5,
            "gan_patch_size": self.gan_patch_size is None or 3 <= self.gan_patch_size <= 640,
            "gan_dims": 4 <= self.gan_dims <= 512,
            "true_face_power": 0 <= self.true_face_power <= 1,
            "clip_grad": self.clip_grad >= 0,
            "face_style_power": 0 <= self.face_style_power <= 100,
            "bg_style_power": 0 <= self.bg_style_power <= 100,
            "random_hsv_power": 0 <= self.random_hsv_power <= HSV_POWER_MAX,
            "ct_mode": self.ct_mode in CT_MODES,
            "masks": self.masks in MASK_SOURCES,
            "save_every": self.save_every >= 0,
            "backup_every": self.backup_every >= 0,
            "backup_keep": self.backup_keep >= 1,
            "max_rollbacks": self.max_rollbacks >= 0,
            "rollback_lr_factor": 0 < self.rollback_lr_factor < 1,
            "explode_factor": self.explode_factor == 0 or self.explode_factor > 1,
            "preview_every": self.preview_every >= 0,
            "precision": self.precision in PRECISIONS,
            "workers": self.workers is None or self.workers >= 1,
            "threads": self.threads is None or self.threads >= 1,
            "progress": self.progress in PROGRESS_MODES,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise SwaplibError(f"invalid training settings: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")
        if self.optimizer == "adam" and (self.lr_dropout < 1 or self.lr_cos):
            raise SwaplibError("lr_dropout and lr_cos need optimizer adabelief or rmsprop (as in DFL)")

    def to_dict(self) -> dict:
        return asdict(self)


RECIPE = tuple(f.name for f in fields(TrainSettings))
# The keys of config.yaml's `train:` section, i.e. train_model's keywords: threads is not one of
# them (the workflow gives Snakemake's thread count).
SECTION = ("preset", *ARCHITECTURE, *(k for k in RECIPE if k != "threads"))


# Where the workflow's default run differs from the library's: a time budget, so that `make run`
# takes about the same time on any machine (a library caller asking for N steps gets N steps).
SECTION_ONLY_DEFAULTS = {"max_minutes": 30.0}


def section_defaults() -> dict:
    """Each `train:` key's default: None where it is the preset's, the TrainSettings default elsewhere
    (SECTION_ONLY_DEFAULTS over it)."""
    defaults = {f.name: None if f.default is MISSING else f.default for f in fields(TrainSettings)}
    return {"preset": DEFAULT_PRESET, **{k: None for k in ARCHITECTURE},
            **{k: defaults[k] for k in SECTION if k in RECIPE}, **SECTION_ONLY_DEFAULTS}


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
    if parse_archi(values["archi"])[0] != "amp":  # the amp preset's own keys stay behind when archi leaves amp
        values.update({k: given.get(k) for k in AMP_ONLY})
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
