"""What shapes a network: ModelConfig, DFL's architecture strings, and the presets.

An architecture is DFL's string `<type>[-<options>]`:

    type     df    shared encoder + inter, one decoder per identity (keeps the source's identity best)
             liae  shared encoder, inter_AB (both people) and inter_B (destination only), one shared
                   decoder (copes better with differently shaped faces)
    options  u     pixel-normalise the encoder's output ("increased likeness")
             d     the decoders work at half the resolution and the last step doubles it
                   (4 sub-pixel outputs): about the same cost for twice the pixels
             t     one more downscale (with residual blocks) in the encoder and one more upscale
                   in the decoders: a deeper model

e.g. "df", "df-ud", "liae-ud", "liae-udt". Options are stored in the canonical order u, d, t.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from swaplib.core.errors import SwaplibError

ARCHI_TYPES = ("df", "liae")
ARCHI_OPTIONS = "udt"


def parse_archi(archi: str) -> tuple[str, str]:
    """'liae-du' -> ('liae', 'ud'); raises on anything DFL would not accept."""
    if not isinstance(archi, str):
        raise SwaplibError(f"model archi must be a string like 'df-ud', got {archi!r}")
    kind, sep, opts = archi.strip().lower().partition("-")
    if kind not in ARCHI_TYPES:
        raise SwaplibError(f"model archi {archi!r} unknown; known: {', '.join(ARCHI_TYPES)} "
                           f"with options -{ARCHI_OPTIONS} in any combination (e.g. df-ud, liae-udt)")
    bad = sorted(set(opts) - set(ARCHI_OPTIONS))
    if bad or (sep and not opts) or len(set(opts)) != len(opts):
        raise SwaplibError(f"model archi {archi!r}: options must be distinct letters of "
                           f"'{ARCHI_OPTIONS}' after the dash (e.g. {kind}-ud)")
    return kind, "".join(o for o in ARCHI_OPTIONS if o in opts)


@dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes the network. Two checkpoints are compatible iff these are equal."""

    resolution: int = 64  # face crop px: a multiple of 16, or of 32 with option d or t
    archi: str = "df"  # see the module docstring
    ae_dims: int = 128  # the bottleneck (autoencoder dims)
    e_dims: int = 32  # encoder base channels
    d_dims: int = 32  # decoder base channels
    d_mask_dims: int = 16  # mask decoder base channels

    def __post_init__(self):
        kind, opts = parse_archi(self.archi)
        object.__setattr__(self, "archi", kind + (f"-{opts}" if opts else ""))
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "archi" and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise SwaplibError(f"model {f.name} must be a positive integer, got {value!r}")
        step = 32 if ("d" in opts or "t" in opts) else 16
        if self.resolution % step:
            why = " (options d and t need a multiple of 32)" if step == 32 else ""
            raise SwaplibError(f"model resolution must be a multiple of {step} for archi {self.archi}{why}, "
                               f"got {self.resolution}")

    @property
    def kind(self) -> str:
        return self.archi.partition("-")[0]

    @property
    def opts(self) -> str:
        return self.archi.partition("-")[2]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise SwaplibError(f"model config has unknown keys {unknown}; known: {sorted(known)}")
        return cls(**d)


# DFL's models. Quick96 is DFL's fixed "just try it" model (full face, 96 px, df-ud); SAEHD's
# values are its defaults (liae-ud, 128 px; d_mask_dims = d_dims/3 made even). tiny is ours: a
# CPU trial that trains in minutes.
PRESETS: dict[str, dict] = {
    "quick96": dict(resolution=96, archi="df-ud", ae_dims=128, e_dims=64, d_dims=64, d_mask_dims=16),
    "saehd": dict(resolution=128, archi="liae-ud", ae_dims=256, e_dims=64, d_dims=64, d_mask_dims=22),
    "tiny": dict(resolution=64, archi="df", ae_dims=64, e_dims=16, d_dims=16, d_mask_dims=8),
}


def model_config(preset: str, **overrides) -> ModelConfig:
    """A preset's config with `overrides` (e.g. resolution=160, archi="df-ud") on top; validated.
    An override of None, 0 or "" means "the preset's value"."""
    if preset not in PRESETS:
        raise SwaplibError(f"unknown model preset {preset!r}; presets: {', '.join(sorted(PRESETS))}")
    unknown = sorted(set(overrides) - {f.name for f in fields(ModelConfig)})
    if unknown:
        raise SwaplibError(f"unknown model setting(s) {unknown} for preset {preset!r}")
    given = {k: v for k, v in overrides.items() if v not in (None, 0, "")}
    return ModelConfig(**{**PRESETS[preset], **given})
