"""The DF and LIAE networks: DFL's parameter counts, every -u/-d/-t combination, the presets'
shapes, configs, the swap path, swap_faces."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from swaplib.core.errors import SwaplibError
from swaplib.model import (
    DFModel,
    LIAEModel,
    ModelConfig,
    amp_dtype,
    build_model,
    count_parameters,
    swap_faces,
)
from swaplib.model.base import amx_available
from swaplib.train.settings import PRESETS, model_config

TINY = dict(resolution=64, archi="df", ae_dims=16, e_dims=8, d_dims=8, d_mask_dims=4)

OPTION_SETS = ["".join(c) for n in range(4) for c in itertools.combinations("udt", n)]
ARCHIS = [kind + (f"-{opts}" if opts else "") for kind in ("df", "liae") for opts in OPTION_SETS]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _on_meta(cfg: ModelConfig) -> torch.nn.Module:
    with torch.device("meta"):  # shapes and parameter counts without allocating or computing
        return build_model(cfg)


@pytest.mark.parametrize("cfg, millions", [
    (model_config("quick96"), 38.3),  # DFL Quick96: df-ud, 96 px, ae 128 / e 64 / d 64 / dm 16
    (model_config("saehd", archi="df-ud"), 54.5),  # DFL SAEHD 128 df-ud, ae 256 / e 64 / d 64 / dm 22
    (model_config("saehd"), 82.4),  # DFL SAEHD's default: liae-ud
])
def test_parameter_counts_match_dfl(cfg, millions):
    n = count_parameters(_on_meta(cfg)) / 1e6
    assert abs(n - millions) / millions < 0.01, (cfg, n)


def test_presets():
    assert model_config("quick96") == ModelConfig(resolution=96, archi="df-ud", ae_dims=128, e_dims=64, d_dims=64,
                                                  d_mask_dims=16)
    assert model_config("saehd") == ModelConfig(resolution=128, archi="liae-ud", ae_dims=256, e_dims=64, d_dims=64,
                                                d_mask_dims=22)
    assert model_config("tiny").resolution == 64
    cfg = model_config("tiny", resolution=32, ae_dims=32, archi="liae-du", e_dims=None)
    assert (cfg.resolution, cfg.ae_dims, cfg.e_dims, cfg.d_dims, cfg.archi) == (32, 32, 16, 16, "liae-ud")
    with pytest.raises(SwaplibError, match="d_dims must be a positive integer, got 0"):  # 0 is no "preset's"
        model_config("tiny", d_dims=0)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_shapes(preset):
    cfg = model_config(preset)
    R = cfg.resolution
    model = _on_meta(cfg)
    x = torch.empty(2, 3, R, R, device="meta")
    for decoder in ("src", "dst"):
        rgb, mask = model(x, decoder)
        assert rgb.shape == (2, 3, R, R) and mask.shape == (2, 1, R, R)


@pytest.mark.parametrize("archi", ARCHIS)
def test_every_option_combination_trains_at_64px(archi):
    """Builds, runs forward and backward at 64 px; every weight gets a finite gradient."""
    torch.manual_seed(0)
    cfg = ModelConfig(resolution=64, archi=archi, ae_dims=16, e_dims=8, d_dims=8, d_mask_dims=4)
    model = build_model(cfg)
    assert isinstance(model, DFModel if archi.startswith("df") else LIAEModel)
    xs, xd = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    src_rgb, src_mask, dst_rgb, dst_mask = model.forward_pair(xs, xd)
    for t, ch in ((src_rgb, 3), (dst_rgb, 3), (src_mask, 1), (dst_mask, 1)):
        assert t.shape == (2, ch, 64, 64) and 0 <= t.min() and t.max() <= 1
    ((src_rgb - xs).square().mean() + (dst_rgb - xd).square().mean() + src_mask.mean() + dst_mask.mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    with torch.no_grad():  # the paired pass is the two single passes
        assert torch.allclose(model(xs, "src")[0], src_rgb, atol=1e-6)
        assert torch.allclose(model(xd, "dst")[1], dst_mask, atol=1e-6)


@pytest.mark.parametrize("archi", ["df", "liae-ud"])
def test_swap_is_dst_through_the_src_identity(archi):
    torch.manual_seed(0)
    model = build_model(model_config("tiny", resolution=32, archi=archi))
    model.train()
    x = torch.rand(3, 3, 32, 32)
    rgb, mask = model.swap(x)
    assert model.training  # swap leaves the mode as it found it
    assert not rgb.requires_grad
    with torch.no_grad():
        src_rgb, src_mask = model(x, "src")
        dst_rgb, _ = model(x, "dst")
    assert torch.equal(rgb, src_rgb) and torch.equal(mask, src_mask)
    assert not torch.allclose(rgb, dst_rgb)


def test_config_errors():
    with pytest.raises(SwaplibError, match="quick96.*saehd.*tiny"):
        model_config("h128")
    with pytest.raises(SwaplibError, match="multiple of 16"):
        model_config("tiny", resolution=72)
    with pytest.raises(SwaplibError, match="multiple of 32 .*d and t"):
        model_config("tiny", resolution=80, archi="df-d")
    with pytest.raises(SwaplibError, match="multiple of 32"):
        model_config("tiny", resolution=48, archi="liae-t")
    with pytest.raises(SwaplibError, match="not architecture settings: bottleneck"):
        model_config("tiny", bottleneck=3)
    with pytest.raises(SwaplibError, match="unknown.*known: df, liae"):
        ModelConfig(**{**TINY, "archi": "dfhd"})
    for bad in ("df-x", "df-", "liae-uu", "df-ud-t"):
        with pytest.raises(SwaplibError, match="options"):
            ModelConfig(**{**TINY, "archi": bad})
    with pytest.raises(SwaplibError, match="positive integer"):
        ModelConfig(**{**TINY, "ae_dims": 0})
    model = build_model(model_config("tiny", resolution=32))
    with pytest.raises(SwaplibError, match="decoder"):
        model(torch.rand(1, 3, 32, 32), "both")
    with pytest.raises(SwaplibError, match=r"\(B,3,32,32\)"):
        model(torch.rand(1, 3, 64, 64), "src")


def test_config_dict_round_trip_and_canonical_options():
    cfg = model_config("saehd", resolution=160)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(SwaplibError, match="unknown keys"):
        ModelConfig.from_dict({**cfg.to_dict(), "lr": 1})
    with pytest.raises(SwaplibError, match=r"lacks keys \['d_mask_dims'\]"):
        ModelConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "d_mask_dims"})
    assert ModelConfig(**{**TINY, "archi": "LIAE-tdu"}) == ModelConfig(**{**TINY, "archi": "liae-udt"})
    assert isinstance(build_model(model_config("tiny")), DFModel)


def test_first_model_files_still_load():
    """The weight names of swaplib's first (plain df) model are kept, so its training states resume."""
    keys = set(build_model(model_config("tiny")).state_dict())
    assert {"encoder.downs.0.conv.weight", "inter.dense1.weight", "inter.up.conv.weight",
            "decoder_src.ups.0.conv.weight", "decoder_src.res.2.conv2.bias", "decoder_src.to_rgb.weight",
            "decoder_dst.mask_ups.2.conv.weight", "decoder_dst.to_mask.bias"} <= keys


def test_swap_faces_helper():
    torch.manual_seed(0)
    model = build_model(model_config("tiny", resolution=32))
    faces = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    out, masks = swap_faces(model, faces, "cpu", batch_size=2)
    assert out.shape == (5, 32, 32, 3) and out.dtype == np.uint8
    assert masks.shape == (5, 32, 32) and masks.dtype == np.float32
    assert 0 <= masks.min() and masks.max() <= 1
    single, _ = swap_faces(model, faces[0], "cpu")
    assert np.array_equal(single[0], out[0])
    with pytest.raises(SwaplibError, match=r"\(N,32,32,3\)"):
        swap_faces(model, np.zeros((2, 64, 64, 3), np.uint8))


def test_precision_settings():
    cpu = torch.device("cpu")
    assert amp_dtype("fp32", cpu) is None and amp_dtype("bf16", cpu) is torch.bfloat16
    assert amp_dtype("auto", cpu) is (torch.bfloat16 if amx_available() else None)  # emulated bf16 is slow
    with pytest.raises(SwaplibError, match="fp16 needs a CUDA device"):
        amp_dtype("fp16", cpu)
    with pytest.raises(SwaplibError, match="precision must be one of auto, fp32, bf16, fp16, not 'fp64'"):
        amp_dtype("fp64", cpu)


def test_bf16_inference_draws_what_fp32_draws():
    """bf16 swapping (channels_last weights, oneDNN's fast path) gives the fp32 faces to within
    bf16 rounding, as float32 tensors."""
    torch.manual_seed(0)
    model = build_model(model_config("tiny", resolution=32))
    faces = torch.rand(4, 3, 32, 32)
    rgb_trained_layout, _ = model.eval().swap(faces)  # as training leaves it: plain fp32
    model.for_inference(torch.device("cpu"), "fp32")
    conv = next(p for p in model.parameters() if p.ndim == 4)
    assert model.amp is None and conv.is_contiguous(memory_format=torch.channels_last)
    rgb32, mask32 = model.swap(faces)
    assert torch.allclose(rgb32, rgb_trained_layout, atol=1e-5)  # the layout changes speed, not results
    model.for_inference(torch.device("cpu"), "bf16")
    assert model.amp is torch.bfloat16
    rgb16, mask16 = model.swap(faces)
    assert rgb16.dtype == mask16.dtype == torch.float32
    difference = (rgb16 - rgb32).abs()
    assert 0 < difference.mean() < 0.01 and difference.max() < 0.06  # rounding, not another picture
    assert (mask16 - mask32).abs().max() < 0.06
