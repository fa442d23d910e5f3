"""What every swap model offers, whatever its family: the interface training and merging use, and
the device and precision it runs in.

    model(x, "src")      x through the source identity: reconstruction of src faces, or the swap
                         when x are destination faces
    model(x, "dst")      x through the destination identity (reconstruction of dst faces)
    model.forward_pair(xs, xd)   both training passes at once, sharing the encoder's batch
    model.swap(dst)      the face swap, eval mode, no grad, in the precision for_inference chose
    model.swap_pass(dst, morph_factor)   the swap's forward pass itself (what an ONNX export traces)

AMP's swap takes a morph factor, 0..1 (use_morph_factor sets the one swap() uses; 1, the default,
draws the source identity whole); df and liae have none (MORPHS False) and draw it whole always.

Images are float 0..1, channels first; a model does not care whether they are RGB or BGR and
gives back the order it was given (swaplib trains in OpenCV's BGR).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn

from swaplib.core.errors import SwaplibError
from swaplib.model.config import ModelConfig

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def amx_available() -> bool:
    """Whether this CPU has AMX tiles (Xeon 4th gen on): bf16 matrix units, 3-4x fp32's speed."""
    return getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them in /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((set(line.split(":", 1)[1].split()) for line in info if line.startswith("flags")), set())
    except OSError:
        return set()


def native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware: AMX tiles, or AVX512_BF16's dot products (AMD Zen 4
    on, Intel Cooper Lake on). Measured on such CPUs, bf16 autocast with channels-last trains 2.7-3.7x
    faster than fp32 (AMD EPYC with avx512_bf16: Quick96 bs4 1,234 against 4,511 ms, the tiny preset 51
    against 18.5 samples/s on one thread; bench/README.md). Without them bf16 is emulated and slower."""
    return amx_available() or bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def resolve_device(device: str) -> torch.device:
    """A device name (auto: cuda if available, else cpu) → torch.device, checked to exist here."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise SwaplibError(f"device {device!r} is not a device name ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SwaplibError(f"device {device!r} asked for, but no CUDA GPU is available here")
    return dev


def amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision setting on `device`, or None for plain fp32.

    auto: bf16 on a GPU that has it (else fp16) and on CPUs with native bf16 (native_bf16: AMX or
    AVX512_BF16); fp32 on other CPUs, where bf16 is emulated and slower than fp32.
    """
    if precision not in PRECISIONS:
        raise SwaplibError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "fp32":
        return None
    if precision == "fp16":
        if device.type != "cuda":
            raise SwaplibError("precision fp16 needs a CUDA device; use bf16 or fp32 on CPU")
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if native_bf16() else None


def precision_name(dtype: torch.dtype | None) -> str:
    """fp32, bf16 or fp16: how records and logs name an autocast dtype (None = plain fp32)."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Mixed precision in `dtype` on `device`; a no-op for None (fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


REGISTERED: dict[str, type] = {}  # family name -> its class, as each family's file registers it


def family(name: str):
    """Registers the class it decorates as the model family `name` (a key of config.train.FAMILIES;
    model/build.py imports its module)."""
    def register(cls: type) -> type:
        REGISTERED[name] = cls
        return cls
    return register


class SwapModel(nn.Module):
    """What every family offers, and the traits by which it tells the trainer, the GAN and the
    merge what they need to know of it: a family is its file (its class registered with
    @family(name), these class attributes set as they are for it), its import in model/build.py and
    its line in config.train.FAMILIES; nothing outside model/ names a family."""

    DECODERS = ("src", "dst")
    MORPHS = False  # the swap blends the identities by a morph factor (AMP)
    FRESH_AFTER_BASE: tuple[str, ...] = ()  # layers made anew when a model starts from a shared base
    FROZEN_WITHOUT_WARP: tuple[str, ...] = ()  # layers training leaves as they are while random_warp is off
    OWN_LOSS_TERMS = False  # its recipe's own terms: both DSSIM windows and the destination background loss
    TRUE_FACE = False  # its code is one a discriminator can judge as source or not (true_face_power applies)
    GAN_SIDES: tuple[str, ...] = ("src",)  # the identities whose reconstructions the GAN judges

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.amp: torch.dtype | None = None  # autocast dtype of swap(); set by for_inference
        self.swap_morph = 1.0  # the morph factor swap() uses; set by use_morph_factor

    def for_inference(self, device: torch.device, precision: str = "fp32") -> SwapModel:
        """Eval mode on `device`, swapping in `precision` (see amp_dtype), with channels_last weights:
        oneDNN's and cuDNN's fast layout (on 2 AMX cores, Quick96 per face: fp32 30 ms, fp32
        channels_last 24, bf16 channels_last 7.5)."""
        self.amp = amp_dtype(precision, device)
        self.to(device, memory_format=torch.channels_last)
        return self.eval()

    def check_input(self, x: torch.Tensor) -> None:
        R = self.cfg.resolution
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, R, R):
            raise SwaplibError(f"model expects faces of shape (B,3,{R},{R}), got {tuple(x.shape)}")

    def check_decoder(self, decoder: str) -> None:
        if decoder not in self.DECODERS:
            raise SwaplibError(f"decoder must be one of {self.DECODERS}, got {decoder!r}")

    def check_morph_factor(self, morph_factor: float) -> float:
        if isinstance(morph_factor, bool) or not isinstance(morph_factor, (int, float)) or not 0 <= morph_factor <= 1:
            raise SwaplibError(f"morph_factor must be a number within 0..1, got {morph_factor!r}")
        if not self.MORPHS and morph_factor != 1:
            raise SwaplibError(f"morph_factor {morph_factor} is archi amp's; archi {self.cfg.archi} has no morph "
                               f"(it draws the source identity whole, as morph factor 1)")
        return float(morph_factor)

    def use_morph_factor(self, morph_factor: float) -> None:
        """The morph factor swap() uses from now on (merging sets merge.morph_factor)."""
        self.swap_morph = self.check_morph_factor(morph_factor)

    def forward_pair(self, xs: torch.Tensor, xd: torch.Tensor):
        """(src rgb, src mask, dst rgb, dst mask): src through "src", dst through "dst"."""
        return (*self(xs, "src"), *self(xd, "dst"))

    def swap_pass(self, dst_faces: torch.Tensor, morph_factor: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Destination faces drawn as the source identity (a family with a morph overrides this)."""
        self.check_morph_factor(morph_factor)
        return self(dst_faces, "src")

    @torch.no_grad()
    def swap(self, dst_faces: torch.Tensor, morph_factor: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The face swap: destination faces drawn as the SOURCE identity (eval mode, no grad), at
        `morph_factor` (None: use_morph_factor's, else 1)."""
        morph = self.swap_morph if morph_factor is None else self.check_morph_factor(morph_factor)
        was_training = self.training
        self.eval()
        try:
            with autocast(dst_faces.device, self.amp):
                rgb, mask = self.swap_pass(dst_faces, morph)
            return rgb.float(), mask.float()
        finally:
            self.train(was_training)
