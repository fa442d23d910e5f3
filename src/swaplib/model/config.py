"""What shapes a network: ModelConfig and DFL's architecture strings.

An architecture is DFL's string `<type>[-<options>]`:

    type     df    shared encoder + inter, one decoder per identity (keeps the source's identity best)
             liae  shared encoder, inter_AB (both people) and inter_B (destination only), one shared
                   decoder (copes better with differently shaped faces)
             amp   shared encoder and decoder, inter_src and inter_dst whose codes training mixes by
                   the morph factor; the merge chooses how much of the source's code to draw with
                   (DFL's AMP: its own fixed layout, no options)
    options  u     pixel-normalise the encoder's output ("increased likeness")
    (df and  d     the decoders work at half the resolution and the last step doubles it
     liae)         (4 sub-pixel outputs): about the same cost for twice the pixels
             t     one more downscale (with residual blocks) in the encoder and one more upscale
                   in the decoders: a deeper model
             c     the activation x·cos(x) instead of LeakyReLU everywhere (DFL's cosine variant);
                   the same weights, so the same parameter count

e.g. "df", "df-ud", "liae-ud", "liae-udtc", "amp". Options are stored in the canonical order u, d, t, c
(DFL's listing order), so "df-cu" is "df-uc".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from swaplib.config.train import AMP_ONLY, ARCHI_OPTIONS, FAMILIES
from swaplib.core.errors import SwaplibError

ARCHI_TYPES = tuple(FAMILIES)
OPTIONLESS = tuple(name for name, own in FAMILIES.items() if own is not None)  # archi types with a fixed layout
OWN_KEYS = {name: own for name, own in FAMILIES.items() if own}  # the ModelConfig keys only that family has
MORPH_FACTOR_RANGE = (0.1, 0.5)  # DFL's AMP training option


def parse_archi(archi: str) -> tuple[str, str]:
    """'liae-du' -> ('liae', 'ud'); raises on anything DFL would not accept."""
    if not isinstance(archi, str):
        raise SwaplibError(f"model archi must be a string like 'df-ud', got {archi!r}")
    kind, sep, opts = archi.strip().lower().partition("-")
    if kind not in ARCHI_TYPES:
        raise SwaplibError(f"model archi {archi!r} unknown; known: {', '.join(ARCHI_TYPES)}, df and liae "
                           f"with options -{ARCHI_OPTIONS} in any combination (e.g. df-ud, liae-udt)")
    if kind in OPTIONLESS and sep:
        raise SwaplibError(f"model archi {archi!r}: {kind} has a fixed layout and takes no options")
    bad = sorted(set(opts) - set(ARCHI_OPTIONS))
    if bad or (sep and not opts) or len(set(opts)) != len(opts):
        raise SwaplibError(f"model archi {archi!r}: options must be distinct letters of "
                           f"'{ARCHI_OPTIONS}' after the dash (e.g. {kind}-ud)")
    return kind, "".join(o for o in ARCHI_OPTIONS if o in opts)


def keys_it_lacks(archi: str) -> tuple[str, ...]:
    """The ModelConfig keys of the other families, which a model of `archi` leaves None."""
    kind = parse_archi(archi)[0]
    return tuple(k for family, keys in OWN_KEYS.items() if family != kind for k in keys)


@dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes the network. Two checkpoints are compatible iff these are equal.
    No defaults but for AMP's own keys (None for other archis, so that the files and checkpoints
    written before they existed read as what they are): the values come from a training preset
    (swaplib.train.settings) or a model file."""

    resolution: int  # face crop px: a multiple of 16, or of 32 with option d or t, and for amp
    archi: str  # see the module docstring
    ae_dims: int  # the bottleneck (autoencoder dims)
    e_dims: int  # encoder base channels
    d_dims: int  # decoder base channels
    d_mask_dims: int  # mask decoder base channels
    inter_dims: int | None = None  # amp: channels of the inters' code grid (DFL's inter_dims)
    # amp: share of the inter_src code in the source faces' training code (DFL 0.1..0.5). Fixed when a
    # model is made, as in DFL, which asks for it on the first run only.
    morph_factor: float | None = None

    def __post_init__(self):
        kind, opts = parse_archi(self.archi)
        object.__setattr__(self, "archi", kind + (f"-{opts}" if opts else ""))
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("archi", "morph_factor") or (value is None and f.name in AMP_ONLY):
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise SwaplibError(f"model {f.name} must be a positive integer, got {value!r}")
        self._check_amp_keys(kind)
        step = 32 if ("d" in opts or "t" in opts or kind == "amp") else 16
        if self.resolution % step:
            why = f" ({'amp' if kind == 'amp' else 'options d and t'} need a multiple of 32)" if step == 32 else ""
            raise SwaplibError(f"model resolution must be a multiple of {step} for archi {self.archi}{why}, "
                               f"got {self.resolution}")

    def _check_amp_keys(self, kind: str) -> None:
        given = [k for k in AMP_ONLY if getattr(self, k) is not None]
        if kind != "amp":
            if given:
                raise SwaplibError(f"model {' and '.join(given)}: archi amp's setting(s); archi {self.archi} has "
                                   f"none (leave them null)")
            return
        missing = [k for k in AMP_ONLY if getattr(self, k) is None]
        if missing:
            raise SwaplibError(f"model archi amp needs {' and '.join(missing)} (preset amp has DFL's: 1024 and 0.5)")
        low, high = MORPH_FACTOR_RANGE
        m = self.morph_factor
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not low <= m <= high:
            raise SwaplibError(f"model morph_factor must be a number within {low}..{high} (DFL's), got {m!r}")
        object.__setattr__(self, "morph_factor", float(m))

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
        """From a model file's or checkpoint's header; keys added since it was written take their default."""
        known = {f.name for f in fields(cls)}
        unknown, missing = sorted(set(d) - known), sorted(known - set(d) - set(AMP_ONLY))
        if unknown or missing:
            raise SwaplibError(f"model config has unknown keys {unknown} / lacks keys {missing}; "
                               f"known: {sorted(known)}")
        return cls(**d)
