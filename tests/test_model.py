"""The DF autoencoder: shapes per preset, the swap path, config validation, swap_faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swaplib.errors import SwaplibError
from swaplib.model import (
    PRESETS,
    DFModel,
    ModelConfig,
    build_model,
    count_parameters,
    model_config,
    swap_faces,
)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_shapes(preset):
    torch.manual_seed(0)
    cfg = model_config(preset)
    R = cfg.resolution
    model = DFModel(cfg)
    x = torch.rand(1, 3, R, R)
    with torch.no_grad():
        for decoder in ("src", "dst"):
            rgb, mask = model(x, decoder)
            assert rgb.shape == (1, 3, R, R) and mask.shape == (1, 1, R, R)
            assert 0 <= rgb.min() and rgb.max() <= 1 and 0 <= mask.min() and mask.max() <= 1
    assert count_parameters(model) > 0


def test_preset_values_and_overrides():
    assert model_config("saehd") == ModelConfig(resolution=128, archi="df", ae_dims=256, e_dims=64, d_dims=64, d_mask_dims=22)
    assert model_config("quick96").resolution == 96
    cfg = model_config("tiny", resolution=32, ae_dims=32)
    assert (cfg.resolution, cfg.ae_dims, cfg.e_dims) == (32, 32, 16)
    model = DFModel(cfg)
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32), "dst")[0].shape == (2, 3, 32, 32)


def test_swap_uses_src_decoder():
    torch.manual_seed(0)
    model = DFModel(model_config("tiny", resolution=32))
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
    with pytest.raises(SwaplibError, match="unknown model setting"):
        model_config("tiny", bottleneck=3)
    with pytest.raises(SwaplibError, match="unknown.*known: df, liae"):
        ModelConfig(archi="dfhd")
    with pytest.raises(SwaplibError, match="not implemented"):
        DFModel(model_config("tiny", archi="liae"))
    with pytest.raises(SwaplibError, match="positive integer"):
        ModelConfig(ae_dims=0)
    model = DFModel(model_config("tiny", resolution=32))
    with pytest.raises(SwaplibError, match="decoder"):
        model(torch.rand(1, 3, 32, 32), "both")
    with pytest.raises(SwaplibError, match=r"\(B,3,32,32\)"):
        model(torch.rand(1, 3, 64, 64), "src")


def test_config_dict_round_trip():
    cfg = model_config("saehd", resolution=160)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(SwaplibError, match="unknown keys"):
        ModelConfig.from_dict({**cfg.to_dict(), "lr": 1})
    assert isinstance(build_model(cfg), DFModel)


def test_swap_faces_helper():
    torch.manual_seed(0)
    model = DFModel(model_config("tiny", resolution=32))
    faces = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    out, masks = swap_faces(model, faces, "cpu", batch_size=2)
    assert out.shape == (5, 32, 32, 3) and out.dtype == np.uint8
    assert masks.shape == (5, 32, 32) and masks.dtype == np.float32
    assert 0 <= masks.min() and masks.max() <= 1
    single, _ = swap_faces(model, faces[0], "cpu")
    assert np.array_equal(single[0], out[0])
    with pytest.raises(SwaplibError, match=r"\(N,32,32,3\)"):
        swap_faces(model, np.zeros((2, 64, 64, 3), np.uint8))
