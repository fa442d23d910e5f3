"""config.yaml's `train:` section, declared once: the presets, every setting, and what pretraining sets
itself. The library's TrainSettings (swaplib.train.settings), config.yaml's section, the schema's and
common.smk's tables of the train rule are all made from this."""

from __future__ import annotations

from swaplib.config.declare import NOTHING, Section, Setting
from swaplib.core.color import COLOR_TRANSFERS

# What values some settings take (the library's modules import them from here).
OPTIMIZERS = ("adabelief", "rmsprop", "adam")
MASK_SOURCES = ("hull", "xseg")  # where the face masks come from
CT_MODES = ("none", "rct", "lct", "mkl", "idt", "sot") + tuple(m for m in COLOR_TRANSFERS if m.endswith("-m"))
HSV_POWER_MAX = 0.3  # DFL's range of random_hsv_power
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # as swaplib.model.base's (a test holds the two together)
PROGRESS = ("auto", "on", "off")

# The model families (swaplib.model: one file each, whose class registers under its name here), and
# DFL's architecture options the optioned ones take: the archi strings the schema accepts are made
# from these. amp has DFL's fixed layout, and keys of its own (None for every other family).
ARCHI_OPTIONS = "udtc"
AMP_ONLY = ("inter_dims", "morph_factor")
FAMILIES: dict[str, tuple[str, ...] | None] = {  # family -> its own keys, or None: it takes the options
    "df": None,
    "liae": None,
    "amp": AMP_ONLY,
}

# DFL's models and recipes. Quick96 is DFL's fixed "just try it" model (full face, 96 px, df-ud),
# trained with RMSprop 2e-4, lr dropout 0.3, batch 4. SAEHD's values are its defaults (liae-ud,
# 128 px; d_mask_dims = d_dims/3 made even), AdaBelief 5e-5 (lr dropout and its cosine schedule are
# a later-stage option). tiny is ours, a CPU trial that trains in minutes, with Adam at 5e-4: on the
# first example pair it is the source person for the recogniser at 40,000 samples where 1e-4 is
# still a blur (id_match 1.0 against 0.03, bench/README.md); AdaBelief without bias correction takes
# ~3x larger first steps and diverges at such rates. amp is DFL's AMP at its defaults (224 px, inter
# dims 1024, morph factor 0.5), trained as DFL trains it: AdaBelief 5e-5, no lr dropout, batch 8
# (DFL's AMP also always adds the eyes-and-mouth loss: eyes_mouth_prio true). Only amp has
# inter_dims and morph_factor.
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
AMP_PRESETS = tuple(name for name, preset in PRESETS.items() if preset["archi"].split("-")[0] == "amp")

# What DFL's pretraining sets itself, whatever the recipe says: no warp, flips, faces even over yaw,
# no lr dropout, no colour shift, no colour transfer and no style losses (there is no destination to
# match), no discriminators. None of them changes a shared base, so none of them retrains it.
PRETRAIN_RECIPE = dict(random_warp=False, random_flip=True, uniform_yaw=True, lr_dropout=1.0, lr_cos=0,
                       ct_mode="none", random_hsv_power=0.0, face_style_power=0.0, bg_style_power=0.0,
                       gan_power=0.0, true_face_power=0.0)


def _number(low=None, high=None, *, nullable=False, integer=False, low_open=False, high_open=False,
            **more) -> dict:
    kind = "integer" if integer else "number"
    schema = {"type": [kind, "null"] if nullable else kind}
    if low is not None:
        schema["exclusiveMinimum" if low_open else "minimum"] = low
    if high is not None:
        schema["exclusiveMaximum" if high_open else "maximum"] = high
    return {**schema, **more}


def _whole(low=None, high=None, **more) -> dict:
    return _number(low, high, integer=True, **more)


def _choice(*values, nullable=False) -> dict:
    return {"enum": [*values, None] if nullable else list(values)}


BOOLEAN = {"type": "boolean"}


def _archi_pattern() -> str:
    """The archi strings of FAMILIES: an optioned family with DFL's options, a fixed one alone."""
    optioned = "|".join(name for name, own in FAMILIES.items() if own is None)
    fixed = "".join(f"|{name}" for name, own in FAMILIES.items() if own is not None)
    return f"^(({optioned})(-[{ARCHI_OPTIONS}]{{1,{len(ARCHI_OPTIONS)}}})?{fixed})$"


def _architecture(name, schema, meaning="", **role) -> Setting:
    return Setting(name, None, schema, meaning, preset=True, architecture=True, **role)


def _recipe(name, schema, meaning) -> Setting:
    """A setting each preset decides (null in config.yaml: the preset's)."""
    return Setting(name, None, schema, meaning, preset=True)


TRAIN = Section("train", header=(
    "tiny is the CPU's model: the source person for the recogniser in about 20 minutes on 2 cores, still soft.",
    "quick96 and saehd are DFL's models and recipes: on a GPU, or 0.4-1.1 s a step on 2 AMX cores (bench/train.py).",
    "null = the preset's value. A change of preset, archi, resolution, *_dims or morph_factor starts afresh.",
), description="null = the preset's value (or, for a setting no preset sets, its default)", settings=(
    Setting("preset", DEFAULT_PRESET, _choice(*PRESETS),
            "tiny, quick96 (DFL Quick96: df-ud, 96 px), saehd (DFL SAEHD defaults: liae-ud, 128 px) or amp (DFL "
            "AMP, 224 px)", library=NOTHING),
    _architecture("archi", {"type": ["string", "null"], "pattern": _archi_pattern()},
                  "df or liae, with DFL's options -u -d -t -c in any combination (df-ud, liae-udtc, ...), or amp"),
    _architecture("resolution", _whole(16, nullable=True, multipleOf=16),
                  "model input px: a multiple of 16 (of 32 with -d or -t)"),
    _architecture("ae_dims", _whole(1, nullable=True), "autoencoder (bottleneck) dims"),
    _architecture("e_dims", _whole(1, nullable=True), "encoder dims"),
    _architecture("d_dims", _whole(1, nullable=True), "decoder dims"),
    _architecture("d_mask_dims", _whole(1, nullable=True), "mask decoder dims"),
    _architecture("inter_dims", _whole(1, nullable=True),
                  "amp only: the inters' code channels (amp 1024; DFL 32-2048)", added_off=None),
    _architecture("morph_factor", _number(0.1, 0.5, nullable=True),
                  "amp only: share of the source's code in its training faces (amp 0.5; DFL 0.1..0.5)",
                  added_off=None),
    Setting("iterations", 4000, _whole(1),
            "total steps (tiny: 64,000 faces seen); raising it continues from the saved state", base=False),
    # The workflow's default run has a time budget, so that `make run` takes about the same time on any
    # machine; a library caller asking for N steps gets N steps.
    Setting("max_minutes", 30, _number(0),
            "stop after this many minutes of training (0 = no limit); raise it to train on", library=0.0,
            added_off=0, base=False),
    _recipe("batch_size", _whole(1, nullable=True), "tiny 8, quick96 4, saehd 8"),
    _recipe("lr", _number(0, nullable=True, low_open=True), "learning rate (tiny 5e-4, quick96 2e-4, saehd 5e-5)"),
    _recipe("optimizer", _choice(*OPTIMIZERS, nullable=True), "adabelief (saehd), rmsprop (quick96) or adam (tiny)"),
    _recipe("lr_dropout", {"oneOf": [{"type": ["boolean", "null"]},
                                     {"type": "number", "exclusiveMinimum": 0, "maximum": 1}]},
            "DFL's learning-rate dropout: true (0.3 + cosine lr), false, or the share kept (quick96: 0.3)"),
    _recipe("lr_cos", _whole(0, nullable=True), "cosine lr period in steps (0 = off; lr_dropout true: 500)"),
    Setting("clip_grad", 0, _number(0), "clip the gradient norm to this (0 = off)", library=0.0),
    Setting("seed", 0, _whole(0)),
    Setting("masks", "hull", _choice(*MASK_SOURCES),
            "face masks to train on: hull (landmarks) or xseg (the XSeg model's; needs xseg.enabled)",
            added_off="hull", base=False),
    Setting("masked_training", True, BOOLEAN, "losses inside the face mask only"),
    Setting("eyes_mouth_prio", False, BOOLEAN, "extra loss on eyes and mouth (fixes \"alien\" eyes, sharper teeth)"),
    Setting("random_flip", True, BOOLEAN),
    Setting("random_warp", True, BOOLEAN, "warp the inputs (generalises expressions; turn off late for sharpness)"),
    Setting("random_transform", True, BOOLEAN, "rotate ±10°, scale ±15 %, shift ±5 % (inputs and targets)"),
    Setting("ct_mode", "none", _choice(*CT_MODES),
            "recolour source samples towards destination faces: none, rct, lct, mkl, idt, sot, or a -m mode "
            "(statistics inside the mask)"),
    Setting("uniform_yaw", False, BOOLEAN, "draw faces evenly over yaw (helps rare profile views)"),
    Setting("pretrain", False, BOOLEAN, "both identities learn all faces; set false afterwards to train the swap",
            base=False),
    Setting("from_base", False, BOOLEAN,
            "start each model from the shared base model (the pretrain section) instead of from scratch",
            added_off=False, base=False),
    Setting("ema", 0, _number(0, 1, high_open=True),
            "merge and previews use a moving average of the weights with this decay (0 = off; e.g. 0.999)",
            library=0.0, added_off=0),
    Setting("face_style_power", 0, _number(0, 100),
            "0..100: the swap learns the destination's colours inside its face mask (0 = off)", library=0.0,
            added_off=0),
    Setting("bg_style_power", 0, _number(0, 100),
            "0..100: ... and its background outside the mask (0 = off; DFL's typical 2)", library=0.0, added_off=0),
    Setting("random_hsv_power", 0, _number(0, HSV_POWER_MAX),
            "0..0.3: random hue/saturation/value of the source input (0 = off; typical 0.05)", library=0.0,
            added_off=0),
    Setting("blur_out_mask", False, BOOLEAN,
            "blur the targets' background next to the face mask (needs exact masks)", added_off=False),
    Setting("gan_power", 0, _number(0, 5),
            "DFL's GAN power 0..5: a patch discriminator sharpens detail (0 = off; typical 0.1, late in training)",
            library=0.0, added_off=0),
    Setting("gan_patch_size", None, _whole(3, 640, nullable=True),
            "its patch in px, 3..640 (null = resolution / 8)", only_with="gan_power"),
    Setting("gan_dims", 16, _whole(4, 512), "its channels, 4..512", only_with="gan_power"),
    Setting("true_face_power", 0, _number(0, 1),
            "DFL's 'true face' power 0..1, df family: the swap more like the source (0 = off; typical 0.01)",
            library=0.0, added_off=0),
    Setting("save_every", 500, _whole(0),
            "checkpoint interval (0 = only at the end and on interrupt; state: results/models/{model}/state/)",
            role="run", before="These change no output: saving, backups, previews, recovery, speed."),
    Setting("backup_every", 5000, _whole(0), "keep a copy of the state every N steps (0 = none) ...", role="run"),
    Setting("backup_keep", 3, _whole(1), "... the newest N of them", role="run"),
    Setting("max_rollbacks", 8, _whole(0), "NaN/exploding-gradient rollbacks in a row before training gives up"),
    Setting("rollback_lr_factor", 0.5, _number(0, 1, low_open=True, high_open=True),
            "each rollback multiplies the learning rate by this"),
    Setting("explode_factor", 1000.0, {"oneOf": [{"const": 0}, {"type": "number", "exclusiveMinimum": 1}]},
            "a gradient norm this many times its running mean is exploding (0 = off)"),
    Setting("preview_every", 0, _whole(0), "preview grids in the state folder every N steps (0 = none)", role="run"),
    Setting("device", "auto", {"type": "string", "pattern": "^(auto|cpu|cuda(:[0-9]+)?|mps)$"},
            "auto (a CUDA GPU if there is one, else cpu; $SWAPLIB_DEVICE replaces auto), cpu, cuda, cuda:1",
            role="run"),
    Setting("devices", 1, _whole(1),
            "devices one training runs on, one process each (torchrun, data parallel): GPUs, or CPU cores on a CPU; "
            "batch_size is split over them", role="run"),
    Setting("nodes", 1, _whole(1),
            "machines one training runs on, each with `devices` (a SLURM job of that many nodes; docs/scale-out.md)",
            role="run"),
    Setting("precision", "auto", _choice(*PRECISIONS),
            "auto (bf16 on a GPU and on CPUs with AMX or AVX512_BF16), fp32, bf16 or fp16 (GPU)"),
    Setting("channels_last", None, {"type": ["boolean", "null"]},
            "memory layout: null = on for a GPU and for bf16 on CPU", role="run"),
    Setting("workers", None, _whole(1, nullable=True), "augmentation threads (null = up to 4, by CPU count)",
            role="run"),
    Setting("threads", None, _whole(1, nullable=True), "torch's compute threads (the workflow gives the job's)",
            in_config=False),
    Setting("progress", "auto", {"enum": [*PROGRESS, True, False]}, "progress bar: auto (on a terminal), on, off",
            role="run"),
))
