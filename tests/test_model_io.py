"""model.safetensors: what save_model writes, what load_model gives back, and a clear error naming
the file for everything that is not such a file."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from swaplib import __version__
from swaplib.core.errors import SwaplibError
from swaplib.model import MODEL_FORMAT, build_model, load_model, read_header, save_model
from swaplib.model.io import weights_digest
from swaplib.train.settings import model_config
from swaplib.train.state import architecture_changes

CFG = model_config("tiny", resolution=32)
RECORD = dict(iterations=7, settings={"lr": 1e-4, "optimizer": "adam"}, face_type="whole_face",
              faces={"src": ["a/000001_0"], "dst": ["b/000002_0"]}, losses={"src": 0.5, "dst": None},
              masks_trained=True)


def _write(path, model, header: dict) -> None:
    """A model file with a header of our making (as another swaplib version might write one)."""
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, path, metadata={"swaplib": json.dumps(header)})


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model(CFG)
    path = tmp_path / "model.safetensors"
    save_model(path, model, **RECORD)
    return path, model


def test_round_trip_weights_and_header(saved):
    path, model = saved
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # written atomically: no temporary left
    loaded, meta = load_model(path)
    assert loaded.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
    assert not loaded.training and loaded.cfg == CFG
    digest = meta.pop("weights_sha256")
    assert meta == {"format": MODEL_FORMAT, "swaplib_version": __version__, "model_config": CFG.to_dict(), **RECORD}
    assert read_header(path) == {**meta, "weights_sha256": digest}


def test_the_weights_digest_follows_the_weights_not_the_header(saved, tmp_path):
    path, model = saved
    digest = read_header(path)["weights_sha256"]
    assert digest == weights_digest(model.state_dict()) and len(digest) == 64
    save_model(tmp_path / "other.safetensors", model, iterations=99, note="another header")
    assert read_header(tmp_path / "other.safetensors")["weights_sha256"] == digest
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    assert weights_digest(model.state_dict()) != digest


def test_not_found(tmp_path):
    with pytest.raises(SwaplibError, match="nope.safetensors: model file not found"):
        load_model(tmp_path / "nope.safetensors")


def test_old_model_pt_is_named_as_such(tmp_path):
    old = tmp_path / "model.pt"
    weights = build_model(CFG).state_dict()
    torch.save({"format": "swaplib-model/1", "model_config": CFG.to_dict(), "state_dict": weights}, old)
    with pytest.raises(SwaplibError, match=r"model.pt: an old swaplib model file \(a torch pickle.*rerun the train"):
        load_model(old)


def test_foreign_safetensors_file(tmp_path):
    foreign = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, foreign, metadata={"format": "pt"})
    with pytest.raises(SwaplibError, match="other.safetensors: not a swaplib model file"):
        load_model(foreign)


@pytest.mark.parametrize("keep", [0.5, 0.999, 100])  # in the tensors, at the end, inside the header
def test_truncated_file(saved, tmp_path, keep):
    path, _ = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: int(len(data) * keep)] if keep < 1 else data[:keep])
    with pytest.raises(SwaplibError, match="cut.safetensors: not a readable model file"):
        load_model(cut)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(SwaplibError, match="empty.safetensors: not a readable model file"):
        load_model(empty)


def test_other_format_version(saved, tmp_path):
    path, model = saved
    header = {**read_header(path), "format": "swaplib-model/3"}
    newer = tmp_path / "newer.safetensors"
    _write(newer, model, header)
    with pytest.raises(SwaplibError, match="newer.safetensors: model file format 'swaplib-model/3', but this swaplib "
                                           "reads 'swaplib-model/2'"):
        load_model(newer)


def test_weights_that_do_not_fit_the_architecture(saved, tmp_path):
    path, model = saved
    header = {**read_header(path), "model_config": {**CFG.to_dict(), "ae_dims": 32}}
    wrong = tmp_path / "wrong.safetensors"
    _write(wrong, model, header)
    with pytest.raises(SwaplibError, match="wrong.safetensors: model file does not match its architecture"):
        load_model(wrong)


@pytest.mark.parametrize("start", [b"\x80", b"PK"])
def test_a_header_length_that_starts_like_a_pickle_or_zip_still_loads(tmp_path, start):
    """The 8-byte header length is little-endian: it may start with 0x80 (a pickle's first byte) or
    b"PK" (a zip's), and the file is still a model."""
    torch.manual_seed(0)
    model = build_model(CFG)
    path = tmp_path / "model.safetensors"
    save_model(path, model, note="")
    length = int.from_bytes(path.read_bytes()[:8], "little")
    want, modulus = int.from_bytes(start, "little"), 256 ** len(start)
    target = length + (want - length) % modulus  # the next header length that starts so (a multiple of 8)
    pad = target - length  # one note character per byte; safetensors pads the header to 8 bytes
    save_model(path, model, note="x" * pad)
    assert path.read_bytes()[: len(start)] == start
    loaded, header = load_model(path)
    assert header["note"] == "x" * pad and loaded.cfg == CFG


def test_a_file_from_before_amp_s_keys_loads_and_its_checkpoints_resume(saved, tmp_path):
    """A header without inter_dims and morph_factor (written before they existed) loads as the same
    architecture, so its training state is this config's: nothing changed, nothing starts afresh."""
    path, model = saved
    header = read_header(path)
    old_config = {k: v for k, v in header["model_config"].items() if k not in ("inter_dims", "morph_factor")}
    older = tmp_path / "older.safetensors"
    _write(older, model, {**header, "model_config": old_config})
    loaded, meta = load_model(older)
    assert loaded.cfg == CFG and meta["model_config"] == old_config
    assert architecture_changes(old_config, CFG.to_dict()) == ""
    assert architecture_changes(old_config, {**CFG.to_dict(), "archi": "df-c"}) == "archi: 'df' -> 'df-c'"


def test_an_amp_model_round_trips_with_its_morph(tmp_path):
    torch.manual_seed(0)
    cfg = model_config("amp", resolution=64, ae_dims=16, e_dims=8, d_dims=8, d_mask_dims=4, inter_dims=16)
    model = build_model(cfg)
    save_model(tmp_path / "amp.safetensors", model, iterations=1)
    loaded, header = load_model(tmp_path / "amp.safetensors")
    assert loaded.cfg == cfg and header["model_config"]["morph_factor"] == 0.5
    assert not any(p.requires_grad for p in loaded.inter_src.parameters())  # fixed again after loading
    x = torch.rand(2, 3, 64, 64)
    for m in (1.0, 0.25):
        assert torch.allclose(loaded.swap(x, m)[0], model.swap(x, m)[0], atol=1e-5)  # loaded: channels_last
