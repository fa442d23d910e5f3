"""The DF, LIAE and AMP networks: DFL's parameter counts (its numbers and its layer lists), every
-u/-d/-t/-c combination, AMP's morph in training and swapping, the presets' shapes, configs, the swap
path, swap_faces."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from swaplib.core.errors import SwaplibError
from swaplib.model import (
    AMPModel,
    DFModel,
    LIAEModel,
    ModelConfig,
    amp_dtype,
    build_model,
    count_parameters,
    swap_faces,
)
from swaplib.model import base as model_base
from swaplib.model.base import native_bf16
from swaplib.train.settings import PRESETS, model_config, resolve

TINY = dict(resolution=64, archi="df", ae_dims=16, e_dims=8, d_dims=8, d_mask_dims=4)
TINY_AMP = dict(TINY, archi="amp", inter_dims=16, morph_factor=0.5)

OPTION_SETS = ["".join(c) for n in range(5) for c in itertools.combinations("udtc", n)]
ARCHIS = [kind + (f"-{opts}" if opts else "") for kind in ("df", "liae") for opts in OPTION_SETS] + ["amp"]


# DFL's layer lists (DeepFakeArchi for df and liae, Model_AMP for amp), counted as DFL builds them:
# a conv k x k has i·o·k² + o weights, a dense i·o + o, an upscale a 3x3 conv to 4x the channels.
def _conv(i, o, k):
    return i * o * k * k + o


def _dense(i, o):
    return i * o + o


def _res(c):
    return 2 * _conv(c, c, 3)


def _up(i, o):
    return _conv(i, 4 * o, 3)


def _dfl_encoder(e, t):
    if t:
        return (_conv(3, e, 5) + _res(e) + _conv(e, 2 * e, 5) + _conv(2 * e, 4 * e, 5) + _conv(4 * e, 8 * e, 5)
                + _conv(8 * e, 8 * e, 5) + _res(8 * e))
    return _conv(3, e, 5) + _conv(e, 2 * e, 5) + _conv(2 * e, 4 * e, 5) + _conv(4 * e, 8 * e, 5)


def _dfl_decoder(i, d, m, opts):
    if "t" in opts:
        n = (_up(i, 8 * d) + _up(8 * d, 8 * d) + _up(8 * d, 4 * d) + _up(4 * d, 2 * d) + _res(8 * d) + _res(8 * d)
             + _res(4 * d) + _res(2 * d) + _up(i, 8 * m) + _up(8 * m, 8 * m) + _up(8 * m, 4 * m) + _up(4 * m, 2 * m))
    else:
        n = (_up(i, 8 * d) + _up(8 * d, 4 * d) + _up(4 * d, 2 * d) + _res(8 * d) + _res(4 * d) + _res(2 * d)
             + _up(i, 8 * m) + _up(8 * m, 4 * m) + _up(4 * m, 2 * m))
    n += _conv(2 * d, 3, 1)
    if "d" in opts:
        return n + 3 * _conv(2 * d, 3, 3) + _up(2 * m, m) + _conv(m, 1, 1)
    return n + _conv(2 * m, 1, 1)


def dfl_parameters(cfg: ModelConfig) -> int:
    R, e, ae, opts = cfg.resolution, cfg.e_dims, cfg.ae_dims, cfg.opts
    if cfg.kind == "amp":
        grid = R // 32
        return (_dfl_encoder(e, True) + _dense(8 * e * grid**2, ae) + 2 * _dense(ae, grid**2 * cfg.inter_dims)
                + _dfl_decoder(cfg.inter_dims, cfg.d_dims, cfg.d_mask_dims, "dt"))
    code = 8 * e * (R // (32 if "t" in opts else 16)) ** 2
    lowest = R // (32 if "d" in opts else 16)
    inter = lambda out: _dense(code, ae) + _dense(ae, lowest**2 * out) + (0 if "t" in opts else _up(out, out))
    if cfg.kind == "df":
        return _dfl_encoder(e, "t" in opts) + inter(ae) + 2 * _dfl_decoder(ae, cfg.d_dims, cfg.d_mask_dims, opts)
    return _dfl_encoder(e, "t" in opts) + 2 * inter(2 * ae) + _dfl_decoder(4 * ae, cfg.d_dims, cfg.d_mask_dims, opts)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _on_meta(cfg: ModelConfig) -> torch.nn.Module:
    with torch.device("meta"):  # shapes and parameter counts without allocating or computing
        return build_model(cfg)


@pytest.mark.parametrize("cfg, millions", [
    (model_config("quick96"), 38.3),  # DFL Quick96: df-ud, 96 px, ae 128 / e 64 / d 64 / dm 16
    (model_config("saehd", archi="df-ud"), 54.5),  # DFL SAEHD 128 df-ud, ae 256 / e 64 / d 64 / dm 22
    (model_config("saehd"), 82.4),  # DFL SAEHD's default: liae-ud
    (model_config("amp"), 101.3),  # DFL AMP's defaults: 224 px, ae 256 / inter 1024 / e 64 / d 64 / dm 22
])
def test_parameter_counts_match_dfl(cfg, millions):
    n = count_parameters(_on_meta(cfg)) / 1e6
    assert abs(n - millions) / millions < 0.01, (cfg, n)


@pytest.mark.parametrize("preset, archi", [
    ("amp", None), ("saehd", "df-udc"), ("saehd", "liae-udtc"), ("saehd", "df-c"), ("quick96", "liae-tc"),
    ("saehd", "liae-dt"), ("quick96", "df-u"),
])
def test_parameter_counts_are_dfl_s_layer_by_layer(preset, archi):
    """Exactly DFL's count, from its layer lists; option c changes the activation, not the weights."""
    cfg = model_config(preset, archi=archi)
    assert count_parameters(_on_meta(cfg)) == dfl_parameters(cfg)
    if "c" in cfg.opts:
        plain = model_config(preset, archi=cfg.archi.replace("c", "").rstrip("-"))
        assert count_parameters(_on_meta(cfg)) == count_parameters(_on_meta(plain))
    if cfg.kind == "amp":
        assert (cfg.resolution, cfg.inter_dims, cfg.morph_factor) == (224, 1024, 0.5)


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
    """Builds, runs forward and backward at 64 px; every weight gets a finite gradient (amp: every
    weight its optimizer gets; its inters stay fixed)."""
    torch.manual_seed(0)
    cfg = ModelConfig(**{**(TINY_AMP if archi == "amp" else TINY), "archi": archi})
    model = build_model(cfg)
    assert isinstance(model, {"df": DFModel, "liae": LIAEModel, "amp": AMPModel}[cfg.kind])
    xs, xd = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    src_rgb, src_mask, dst_rgb, dst_mask = model.forward_pair(xs, xd)
    for t, ch in ((src_rgb, 3), (dst_rgb, 3), (src_mask, 1), (dst_mask, 1)):
        assert t.shape == (2, ch, 64, 64) and 0 <= t.min() and t.max() <= 1
    ((src_rgb - xs).square().mean() + (dst_rgb - xd).square().mean() + src_mask.mean() + dst_mask.mean()).backward()
    for name, p in model.named_parameters():
        fixed = name.startswith(("inter_src.", "inter_dst."))
        assert fixed == (archi == "amp" and not p.requires_grad), name
        assert (p.grad is None) if fixed else (p.grad is not None and torch.isfinite(p.grad).all()), name
    with torch.no_grad():  # the paired pass is the two single passes (amp: in eval mode, at its morph)
        model.eval()
        src_rgb, _, _, dst_mask = model.forward_pair(xs, xd)
        assert torch.allclose(model.swap_pass(xs, cfg.morph_factor or 1.0)[0], src_rgb, atol=1e-6)
        assert torch.allclose(model(xd, "dst")[1], dst_mask, atol=1e-6)


def test_cosine_option_is_x_cos_x_everywhere():
    """-c: the same weights compute another function, x·cos(x) in place of every LeakyReLU."""
    torch.manual_seed(0)
    plain = build_model(ModelConfig(**{**TINY, "archi": "liae-ud"}))
    cosine = build_model(ModelConfig(**{**TINY, "archi": "liae-udc"}))
    cosine.load_state_dict(plain.state_dict())  # same names and shapes
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(cosine(x, "src")[0], plain(x, "src")[0], atol=1e-3)
        down = cosine.encoder.downs[0]
        assert torch.equal(down(x), (lambda y: y * torch.cos(y))(down.conv(x)))
        res = cosine.decoder.res[0]
        h = torch.randn(1, res.conv1.in_channels, 4, 4)
        y = res.conv1(h) * torch.cos(res.conv1(h))
        assert torch.allclose(res(h), (h + res.conv2(y)) * torch.cos(h + res.conv2(y)))


def test_amp_morphs_the_source_code_in_training_and_swapping():
    torch.manual_seed(0)
    model = build_model(ModelConfig(**TINY_AMP))
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        z = model.latent(x)
        s, d = model.inter_src(z), model.inter_dst(z)
        assert s.shape == (3, 16, 2, 2) and not torch.allclose(s, d)  # two different fixed projections
        code = model.morphed(z, 0.3)  # int(16 · 0.3) = 4 channels from inter_src, 12 from inter_dst
        assert torch.equal(code[:, :4], s[:, :4]) and torch.equal(code[:, 4:], d[:, 4:])
        model.eval()
        swaps = {m: model.swap(x, m)[0] for m in (0.0, 0.3, 1.0)}
        assert torch.allclose(swaps[0.0], model(x, "dst")[0], atol=1e-6)  # 0: the destination redrawn
        assert torch.allclose(swaps[1.0], model(x, "src")[0], atol=1e-6)  # 1: the full swap
        assert not torch.allclose(swaps[0.3], swaps[1.0], atol=1e-4)
        model.use_morph_factor(0.3)  # what merging sets from merge.morph_factor
        assert torch.equal(model.swap(x)[0], swaps[0.3]) and torch.equal(model(x, "src")[0], swaps[0.3])

    # Training mode: each source face's code takes exactly int(16 · 0.5) = 8 random channels from inter_src.
    seen = []
    model.decoder.forward = lambda code: seen.append(code) or (torch.zeros(len(code), 3, 64, 64),) * 2
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model.forward_pair(x, x)
        # The codes of the same batch of six (a batch of three may round differently on some CPUs).
        z = model.latent(torch.cat([x, x]))
        s, d = model.inter_src(z[:3]), model.inter_dst(z)
    for code in seen:
        from_src = (code[:3] == s).all(dim=(2, 3)) & ~(code[:3] == d[:3]).all(dim=(2, 3))
        assert from_src.sum(dim=1).tolist() == [8, 8, 8]
        assert torch.equal(code[3:], d[3:])  # the destination faces: inter_dst's code whole
    assert not torch.equal(seen[0][:3], seen[1][:3])  # a fresh choice per step (and per face)


def test_only_amp_morphs():
    model = build_model(ModelConfig(**TINY))
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(model.swap(x, 1.0)[0], model.swap(x)[0])
    for call in (lambda: model.swap(x, 0.5), lambda: model.use_morph_factor(0.5)):
        with pytest.raises(SwaplibError, match="morph_factor 0.5 is archi amp's; archi df has no morph"):
            call()
    with pytest.raises(SwaplibError, match=r"morph_factor must be a number within 0..1, got 1.5"):
        build_model(ModelConfig(**TINY_AMP)).use_morph_factor(1.5)


@pytest.mark.parametrize("archi", ["df", "liae-ud", "amp"])
def test_family_traits_name_what_the_network_has(archi):
    """The trainer, the GAN and the base switch act on what a family's class declares: every layer it
    names is one of the network's, and the code the true-face discriminator judges is its inter."""
    model = build_model(ModelConfig(**(TINY_AMP if archi == "amp" else {**TINY, "archi": archi})))
    layers = dict(model.named_children())
    for name in model.FRESH_AFTER_BASE + model.FROZEN_WITHOUT_WARP:
        assert isinstance(layers.get(name), torch.nn.Module), f"{archi}: {name} is not a layer of the network"
    assert model.GAN_SIDES and set(model.GAN_SIDES) <= set(model.DECODERS)
    assert not model.TRUE_FACE or isinstance(layers.get("inter"), torch.nn.Module)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    # what a base switch makes anew is trained afterwards (AMP's fixed inters are kept, never trained)
    assert all(any(t.startswith(name + ".") for t in trainable) for name in model.FRESH_AFTER_BASE)


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
    with pytest.raises(SwaplibError, match="unknown.*known: df, liae, amp"):
        ModelConfig(**{**TINY, "archi": "dfhd"})
    for bad in ("df-x", "df-", "liae-uu", "df-ud-t", "liae-udtcc"):
        with pytest.raises(SwaplibError, match="options"):
            ModelConfig(**{**TINY, "archi": bad})
    with pytest.raises(SwaplibError, match="positive integer"):
        ModelConfig(**{**TINY, "ae_dims": 0})
    model = build_model(model_config("tiny", resolution=32))
    with pytest.raises(SwaplibError, match="decoder"):
        model(torch.rand(1, 3, 32, 32), "both")
    with pytest.raises(SwaplibError, match=r"\(B,3,32,32\)"):
        model(torch.rand(1, 3, 64, 64), "src")


def test_amp_config_errors():
    with pytest.raises(SwaplibError, match="amp has a fixed layout and takes no options"):
        ModelConfig(**{**TINY_AMP, "archi": "amp-c"})
    with pytest.raises(SwaplibError, match=r"archi amp needs inter_dims \(preset amp has DFL's"):
        ModelConfig(**{**TINY, "archi": "amp", "morph_factor": 0.5})
    with pytest.raises(SwaplibError, match="morph_factor must be a number within 0.1..0.5 .DFL's., got 0.6"):
        ModelConfig(**{**TINY_AMP, "morph_factor": 0.6})
    with pytest.raises(SwaplibError, match="inter_dims must be a positive integer"):
        ModelConfig(**{**TINY_AMP, "inter_dims": 0})
    with pytest.raises(SwaplibError, match="multiple of 32 for archi amp .amp need"):
        ModelConfig(**{**TINY_AMP, "resolution": 80})
    with pytest.raises(SwaplibError, match=r"model morph_factor: archi amp's setting\(s\); archi liae-ud has none"):
        ModelConfig(**{**TINY, "archi": "liae-ud", "morph_factor": 0.3})
    # The train section: AMP's keys come with preset amp, stay behind when archi leaves amp, and are
    # refused when given for another archi.
    assert model_config("amp", archi="df-ud").to_dict() == {**model_config("amp").to_dict(), "archi": "df-ud",
                                                             "inter_dims": None, "morph_factor": None}
    assert model_config("amp", morph_factor=0.33).morph_factor == 0.33
    with pytest.raises(SwaplibError, match="model inter_dims: archi amp's"):
        resolve("saehd", inter_dims=512)
    with pytest.raises(SwaplibError, match="archi amp needs inter_dims and morph_factor"):
        resolve("saehd", archi="amp")


def test_config_dict_round_trip_and_canonical_options():
    cfg = model_config("saehd", resolution=160)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(SwaplibError, match="unknown keys"):
        ModelConfig.from_dict({**cfg.to_dict(), "lr": 1})
    with pytest.raises(SwaplibError, match=r"lacks keys \['d_mask_dims'\]"):
        ModelConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "d_mask_dims"})
    assert ModelConfig(**{**TINY, "archi": "LIAE-tdu"}) == ModelConfig(**{**TINY, "archi": "liae-udt"})
    assert ModelConfig(**{**TINY, "archi": "df-cu"}).archi == "df-uc"
    amp = ModelConfig(**TINY_AMP)
    assert ModelConfig.from_dict(amp.to_dict()) == amp
    # A header written before AMP's keys existed reads as what it is, and compares equal to today's config.
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("inter_dims", "morph_factor")}
    assert ModelConfig.from_dict(old) == cfg and cfg.inter_dims is None and cfg.morph_factor is None
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
    assert amp_dtype("auto", cpu) is (torch.bfloat16 if native_bf16() else None)  # emulated bf16 is slow
    with pytest.raises(SwaplibError, match="fp16 needs a CUDA device"):
        amp_dtype("fp16", cpu)
    with pytest.raises(SwaplibError, match="precision must be one of auto, fp32, bf16, fp16, not 'fp64'"):
        amp_dtype("fp64", cpu)


@pytest.mark.parametrize("flags, amx, expected", [
    ({"avx2", "avx512f", "avx512_bf16"}, False, torch.bfloat16),  # AMD Zen 4, Intel Cooper Lake
    ({"avx2", "avx512f", "amx_tile", "amx_bf16"}, True, torch.bfloat16),  # Intel Sapphire Rapids
    ({"avx2", "avx512f"}, False, None),  # AVX-512 without bf16 (Zen 3 servers, Skylake): emulated
    ({"avx2"}, False, None),
    (set(), False, None),  # no /proc/cpuinfo (not Linux)
])
def test_auto_precision_takes_bf16_where_the_cpu_computes_it(monkeypatch, flags, amx, expected):
    monkeypatch.setattr(model_base, "cpu_flags", lambda: flags)
    monkeypatch.setattr(model_base, "amx_available", lambda: amx)
    assert amp_dtype("auto", torch.device("cpu")) is expected


def test_cpu_flags_are_read_from_this_machine():
    flags = model_base.cpu_flags()
    if Path("/proc/cpuinfo").exists():
        assert "fpu" in flags or "fp" in flags or "neon" in flags or "asimd" in flags  # x86 or arm
    assert model_base.native_bf16() == (model_base.amx_available() or bool({"avx512_bf16", "amx_bf16"} & flags))


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


def test_every_declared_family_is_registered_by_its_own_class():
    from swaplib.config.train import FAMILIES
    from swaplib.model.build import FAMILY_CLASSES

    assert set(FAMILY_CLASSES) == set(FAMILIES)
    for name, cls in FAMILY_CLASSES.items():
        assert cls.__module__ == f"swaplib.model.{name}"  # a family is its file
