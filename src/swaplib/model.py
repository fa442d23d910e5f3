"""The face-swap autoencoder, DeepFaceLab "DF" style, in one readable file.

One shared encoder learns a face code that is the same for both people; two decoders learn to
draw it back as the source person (decoder "src") or the destination person (decoder "dst").
The swap is a destination face through the *source* decoder: dst's pose, expression and light,
src's identity.

    x (B,3,R,R) ─Encoder─▶ (B, 8·e, R/16, R/16) ─flatten─▶ Inter ─▶ (B, ae, R/8, R/8) ─┬─Decoder src─▶ rgb, mask
                 4 × [conv5x5 stride 2, LeakyReLU]       dense ae_dims,              └─Decoder dst─▶ rgb, mask
                                                          dense (R/16)²·ae, upscale
    Decoder: 3 × [upscale (conv3x3 → pixel shuffle), residual block] → conv1x1 → sigmoid (rgb, 3 ch)
             3 × [upscale] → conv1x1 → sigmoid (mask, 1 ch), a thinner branch of its own

Images are float 0..1, channels first; the model does not care whether they are RGB or BGR and
gives back the order it was given (swaplib trains in OpenCV's BGR).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from pathlib import Path

from .errors import SwaplibError

MODEL_FORMAT = "swaplib-model/1"  # what model.pt holds (see load_model)
ARCHIS = ("df", "liae")  # "liae" is a known name, not built yet (DFModel refuses it)


@dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes the network. Two checkpoints are compatible iff these are equal."""

    resolution: int = 64  # face crop px (multiple of 16)
    archi: str = "df"
    ae_dims: int = 128  # bottleneck
    e_dims: int = 32  # encoder base channels
    d_dims: int = 32  # decoder base channels
    d_mask_dims: int = 16  # mask decoder base channels

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "archi":
                if value not in ARCHIS:
                    raise SwaplibError(f"model archi {value!r} unknown; known: {', '.join(ARCHIS)}")
            elif not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise SwaplibError(f"model {f.name} must be a positive integer, got {value!r}")
        if self.resolution % 16:
            raise SwaplibError(f"model resolution must be a multiple of 16, got {self.resolution}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise SwaplibError(f"model config has unknown keys {unknown}; known: {sorted(known)}")
        return cls(**d)


# DFL-like presets. Quick96 is DFL's fixed "just try it" model; SAEHD's defaults are its usual start.
PRESETS: dict[str, dict] = {
    "quick96": dict(resolution=96, archi="df", ae_dims=128, e_dims=64, d_dims=64, d_mask_dims=16),
    "saehd": dict(resolution=128, archi="df", ae_dims=256, e_dims=64, d_dims=64, d_mask_dims=22),
    "tiny": dict(resolution=64, archi="df", ae_dims=64, e_dims=16, d_dims=16, d_mask_dims=8),
}


def model_config(preset: str, **overrides) -> ModelConfig:
    """A preset's config with `overrides` (e.g. resolution=160) on top; validated."""
    if preset not in PRESETS:
        raise SwaplibError(f"unknown model preset {preset!r}; presets: {', '.join(sorted(PRESETS))}")
    unknown = sorted(set(overrides) - {f.name for f in fields(ModelConfig)})
    if unknown:
        raise SwaplibError(f"unknown model setting(s) {unknown} for preset {preset!r}")
    return ModelConfig(**{**PRESETS[preset], **overrides})


# --------------------------------------------------------------------------- building blocks


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


class Downscale(nn.Module):
    """conv 5x5 stride 2, LeakyReLU: halves the size."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=5, stride=2, padding=2)

    def forward(self, x):
        return _act(self.conv(x))


class Upscale(nn.Module):
    """conv 3x3 to 4× the channels, LeakyReLU, pixel shuffle (depth to space): doubles the size."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch * 4, kernel_size=3, padding=1)

    def forward(self, x):
        return F.pixel_shuffle(_act(self.conv(x)), 2)


class ResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, kernel_size=3, padding=1)

    def forward(self, x):
        y = F.leaky_relu(self.conv1(x), 0.2)
        return F.leaky_relu(x + self.conv2(y), 0.2)


class Encoder(nn.Module):
    """(B,3,R,R) → (B, 8·e_dims, R/16, R/16)."""

    def __init__(self, e_dims: int):
        super().__init__()
        chs = [3, e_dims, e_dims * 2, e_dims * 4, e_dims * 8]
        self.downs = nn.Sequential(*[Downscale(a, b) for a, b in zip(chs[:-1], chs[1:])])

    def forward(self, x):
        return self.downs(x)


class Inter(nn.Module):
    """Flatten → dense ae_dims (the bottleneck) → dense back to a (R/16)² grid → upscale to R/8."""

    def __init__(self, in_features: int, ae_dims: int, lowres: int):
        super().__init__()
        self.ae_dims, self.lowres = ae_dims, lowres
        self.dense1 = nn.Linear(in_features, ae_dims)
        self.dense2 = nn.Linear(ae_dims, lowres * lowres * ae_dims)
        self.up = Upscale(ae_dims, ae_dims)

    def forward(self, x):
        x = self.dense2(self.dense1(x.flatten(1)))  # linear, as in DFL
        x = x.view(-1, self.ae_dims, self.lowres, self.lowres)
        return self.up(x)


class Decoder(nn.Module):
    """(B, ae, R/8, R/8) → rgb (B,3,R,R) and mask (B,1,R,R), both sigmoid 0..1."""

    def __init__(self, in_ch: int, d_dims: int, d_mask_dims: int):
        super().__init__()
        d, m = d_dims, d_mask_dims
        self.ups = nn.ModuleList([Upscale(in_ch, d * 8), Upscale(d * 8, d * 4), Upscale(d * 4, d * 2)])
        self.res = nn.ModuleList([ResidualBlock(d * 8), ResidualBlock(d * 4), ResidualBlock(d * 2)])
        self.to_rgb = nn.Conv2d(d * 2, 3, kernel_size=1)
        self.mask_ups = nn.Sequential(Upscale(in_ch, m * 8), Upscale(m * 8, m * 4), Upscale(m * 4, m * 2))
        self.to_mask = nn.Conv2d(m * 2, 1, kernel_size=1)

    def forward(self, z):
        x = z
        for up, res in zip(self.ups, self.res):
            x = res(up(x))
        rgb = torch.sigmoid(self.to_rgb(x))
        mask = torch.sigmoid(self.to_mask(self.mask_ups(z)))
        return rgb, mask


# --------------------------------------------------------------------------- the model


class DFModel(nn.Module):
    """DF: shared encoder + inter, one decoder per identity."""

    DECODERS = ("src", "dst")

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.archi != "df":
            raise SwaplibError(f"model archi {cfg.archi!r} is not implemented yet; use 'df'")
        self.cfg = cfg
        lowres = cfg.resolution // 16
        self.encoder = Encoder(cfg.e_dims)
        self.inter = Inter(cfg.e_dims * 8 * lowres * lowres, cfg.ae_dims, lowres)
        self.decoder_src = Decoder(cfg.ae_dims, cfg.d_dims, cfg.d_mask_dims)
        self.decoder_dst = Decoder(cfg.ae_dims, cfg.d_dims, cfg.d_mask_dims)

    def forward(self, x: torch.Tensor, decoder: str) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B,3,R,R) float 0..1 → (rgb (B,3,R,R), mask (B,1,R,R)) from the chosen decoder."""
        if decoder not in self.DECODERS:
            raise SwaplibError(f"decoder must be one of {self.DECODERS}, got {decoder!r}")
        R = self.cfg.resolution
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, R, R):
            raise SwaplibError(f"model expects faces of shape (B,3,{R},{R}), got {tuple(x.shape)}")
        z = self.inter(self.encoder(x))
        return (self.decoder_src if decoder == "src" else self.decoder_dst)(z)

    @torch.no_grad()
    def swap(self, dst_faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The face swap: destination faces drawn by the SOURCE decoder (eval mode, no grad)."""
        was_training = self.training
        self.eval()
        try:
            with autocast(dst_faces.device):
                rgb, mask = self(dst_faces, "src")
            return rgb.float(), mask.float()
        finally:
            self.train(was_training)


def build_model(cfg: ModelConfig) -> nn.Module:
    """The network for `cfg.archi` (only "df" so far)."""
    return DFModel(cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def autocast(device: torch.device):
    """bf16 mixed precision on CUDA (when supported); plain fp32 everywhere else."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def swap_faces(
    model: DFModel, faces_bgr_uint8: np.ndarray, device: str | torch.device = "cpu", batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Swap aligned faces (N,R,R,3) uint8 → (swapped faces (N,R,R,3) uint8, masks (N,R,R) float32 0..1).

    The swapped faces come back in the channel order they went in (BGR in, BGR out).
    `model` should already be on `device` (load_model puts it there).
    """
    R = model.cfg.resolution
    faces = np.asarray(faces_bgr_uint8)
    if faces.ndim == 3:
        faces = faces[None]
    if faces.ndim != 4 or faces.shape[1:] != (R, R, 3):
        raise SwaplibError(f"swap_faces: faces must be (N,{R},{R},3) for this model, got {faces.shape}")
    device = torch.device(device)
    out_rgb = np.empty(faces.shape, np.uint8)
    out_mask = np.empty(faces.shape[:3], np.float32)
    for i in range(0, len(faces), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(faces[i : i + batch_size])).to(device)
        x = x.permute(0, 3, 1, 2).float().div_(255)
        rgb, mask = model.swap(x)
        out_rgb[i : i + batch_size] = (rgb.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        out_mask[i : i + batch_size] = mask[:, 0].clamp(0, 1).cpu().numpy()
    return out_rgb, out_mask


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise SwaplibError(f"device {device!r} is not a device name ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SwaplibError(f"device {device!r} asked for, but no CUDA GPU is available here")
    return dev


# --------------------------------------------------------------------------- using a trained model


def load_model(model_path, device="cpu") -> tuple[DFModel, dict]:
    """Load model.pt → (model in eval mode on `device`, metadata: model_config, iterations, settings, losses)."""
    path = Path(model_path)
    if not path.is_file():
        raise SwaplibError(f"{path}: model file not found (train the model first)")
    dev = resolve_device(str(device))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise SwaplibError(f"{path}: not a readable model file (truncated or corrupt? {e.__class__.__name__}: {e}); "
                           f"retrain it") from None
    if not isinstance(obj, dict) or "model_config" not in obj or "state_dict" not in obj:
        raise SwaplibError(f"{path}: not a swaplib model file (no model_config/state_dict inside)")
    try:
        model = build_model(ModelConfig.from_dict(obj["model_config"]))
        model.load_state_dict(obj["state_dict"])
    except (SwaplibError, RuntimeError, TypeError) as e:
        raise SwaplibError(f"{path}: model file does not match its architecture: {e}") from None
    model.to(dev).eval()
    meta = {k: v for k, v in obj.items() if k != "state_dict"}
    return model, meta
