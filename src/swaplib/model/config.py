"""What shapes a network: ModelConfig and DFL's architecture strings.

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
    """Everything that shapes the network. Two checkpoints are compatible iff these are equal.
    No defaults: the values come from a training preset (swaplib.train.settings) or a model file."""

    resolution: int  # face crop px: a multiple of 16, or of 32 with option d or t
    archi: str  # see the module docstring
    ae_dims: int  # the bottleneck (autoencoder dims)
    e_dims: int  # encoder base channels
    d_dims: int  # decoder base channels
    d_mask_dims: int  # mask decoder base channels

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
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown, missing = sorted(set(d) - known), sorted(known - set(d))
        if unknown or missing:
            raise SwaplibError(f"model config has unknown keys {unknown} / lacks keys {missing}; "
                               f"known: {sorted(known)}")
        return cls(**d)
