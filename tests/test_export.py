"""`swaplib export MODEL OUT.onnx`: the swap network as ONNX, equal to PyTorch's on real face crops."""

from __future__ import annotations

import re

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from swaplib import __version__
from swaplib.cli import main
from swaplib.core.errors import SwaplibError
from swaplib.model import build_model, load_model, read_header, save_model
from swaplib.model.export import INPUT, OUTPUTS, TOLERANCE, export_onnx, face_crops
from swaplib.train.settings import model_config

R = 64
CLIP = "lp_d20_young_man_talking"


@pytest.fixture(scope="module")
def crops_dir(tmp_path_factory, clip):
    """Real pixels: the centred square of a few frames of a talking-head clip (the face is in it), at 2R."""
    folder = tmp_path_factory.mktemp("crops")
    capture = cv2.VideoCapture(str(clip(CLIP)))
    for i in range(4):
        for _ in range(10):  # frames 10 apart: different expressions
            ok, frame = capture.read()
            assert ok
        h, w = frame.shape[:2]
        side = min(h, w) // 2
        y, x = (h - side) // 2, (w - side) // 2
        cv2.imwrite(str(folder / f"{i:06d}_0.png"), cv2.resize(frame[y : y + side, x : x + side], (2 * R, 2 * R)))
    return folder


def tiny_model(path, archi="df-ud", **record):
    torch.manual_seed(0)
    model = build_model(model_config("tiny", archi=archi, resolution=R))
    save_model(path, model, iterations=7, face_type="whole_face", **record)
    return path


@pytest.mark.parametrize("archi", ["df-ud", "liae-ud"])
def test_export_matches_pytorch_on_real_crops(tmp_path, crops_dir, archi, capsys, torch_one_thread):
    path, out = tiny_model(tmp_path / "model.safetensors", archi), tmp_path / "swap.onnx"
    assert main(["export", str(path), str(out), "--faces", str(crops_dir)]) == 0
    reported = float(re.search(r"within (\S+) \(tolerance", capsys.readouterr().out)[1])
    assert reported <= TOLERANCE

    graph = onnx.load(out)
    meta = {p.key: p.value for p in graph.metadata_props}
    assert meta == {"resolution": "64", "face_type": "whole_face", "archi": archi, "channel_order": "BGR",
                    "value_range": "0..1", "layout": "NCHW", "swaplib_version": __version__,
                    "weights_sha256": read_header(path)["weights_sha256"], "iterations": "7"}
    assert [i.name for i in graph.graph.input] == [INPUT]
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"

    # Independently of the command's own check: a batch of another size, against merging's PyTorch path.
    faces = face_crops(sorted(crops_dir.glob("*.png"))[:3], R)
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float().div(255)
    model, _ = load_model(path)
    expected = [t.numpy() for t in model.swap(x)]
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(list(OUTPUTS), {INPUT: x.numpy()})
    assert [g.shape for g in got] == [(3, 3, R, R), (3, 1, R, R)]
    for g, e in zip(got, expected):
        assert np.abs(g - e).max() <= TOLERANCE
        assert g.std() > 1e-3  # a face and a mask, not a constant


def test_export_by_name_checks_on_the_faces_it_trained_on(tmp_path, crops_dir, monkeypatch, capsys, torch_one_thread):
    """A model's name finds its file in results/models; its header's destination ids find the crops."""
    faces = tmp_path / "results" / "videos" / CLIP / "faces"
    faces.mkdir(parents=True)
    for crop in sorted(crops_dir.glob("*.png"))[:2]:
        (faces / crop.name).write_bytes(crop.read_bytes())
    (tmp_path / "results" / "models" / "pair1").mkdir(parents=True)
    tiny_model(tmp_path / "results" / "models" / "pair1" / "model.safetensors",
               faces={"src": ["other/000000_0"], "dst": [f"{CLIP}/000000_0", f"{CLIP}/000001_0", f"{CLIP}/gone_0"]})
    monkeypatch.chdir(tmp_path)
    assert main(["export", "pair1", "pair1.onnx"]) == 0
    assert "on 2 real face crops" in capsys.readouterr().out
    assert onnx.load(tmp_path / "pair1.onnx").graph.output[1].name == "mask"


def test_a_bad_model_path_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["export", "nosuch", "out.onnx", "--faces", str(tmp_path)]) == 2
    assert "results/models/nosuch/model.safetensors: model file not found" in capsys.readouterr().err
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    assert main(["export", "junk.safetensors", "out.onnx"]) == 2
    assert "junk.safetensors: not a readable model file" in capsys.readouterr().err
    assert not (tmp_path / "out.onnx").exists()


def test_no_crops_to_check_on_is_an_error(tmp_path, monkeypatch, capsys):
    path = tiny_model(tmp_path / "model.safetensors")
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(path), "out.onnx"]) == 2  # no faces in its header, no --faces
    assert "pass --faces DIR" in capsys.readouterr().err
    assert not (tmp_path / "out.onnx").exists()


def test_an_export_beyond_the_tolerance_is_not_written(tmp_path, crops_dir, monkeypatch, torch_one_thread):
    path = tiny_model(tmp_path / "model.safetensors")
    monkeypatch.setattr("swaplib.model.export.max_difference", lambda *args: 0.02)
    with pytest.raises(SwaplibError, match=r"differs from PyTorch by up to 0.02 on 4 face crops \(tolerance 0.0001\)"):
        export_onnx(path, tmp_path / "out.onnx", face_crops(sorted(crops_dir.glob("*.png")), R))
    assert not (tmp_path / "out.onnx").exists()


def test_an_amp_model_exports_with_its_morph_factor_in_the_graph(tmp_path, crops_dir, torch_one_thread):
    """The morph factor is fixed in the graph and named in the metadata; another factor, another graph.
    df and liae have none to give."""
    torch.manual_seed(0)
    model = build_model(model_config("amp", resolution=R, ae_dims=16, e_dims=8, d_dims=8, d_mask_dims=4,
                                     inter_dims=16))
    path = tmp_path / "amp.safetensors"
    save_model(path, model, iterations=3, face_type="whole_face")
    faces = face_crops(sorted(crops_dir.glob("*.png")), R)
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float().div(255).numpy()
    swapped = {}
    for morph in (1.0, 0.25):
        out = tmp_path / f"amp-{morph}.onnx"
        done = export_onnx(path, out, faces, morph_factor=morph)
        assert done["max_abs_diff"] <= TOLERANCE and done["metadata"]["morph_factor"] == str(morph)
        assert {p.key: p.value for p in onnx.load(out).metadata_props}["archi"] == "amp"
        swapped[morph] = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run([OUTPUTS[0]],
                                                                                                {INPUT: x})[0]
    assert np.abs(swapped[1.0] - swapped[0.25]).max() > 1e-3
    with pytest.raises(SwaplibError, match="morph_factor 0.5 is archi amp's; archi df-ud has no morph"):
        export_onnx(tiny_model(tmp_path / "df.safetensors"), tmp_path / "df.onnx", faces, morph_factor=0.5)
    assert not (tmp_path / "df.onnx").exists()


# ---------------------------------------------------------------------------------------- DFL's DFM

DFM_SPEC = {"inputs": ["in_face:0"], "outputs": ["out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0"]}


def _dims(value_info) -> list:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


@pytest.mark.parametrize("archi", ["df-ud", "liae-ud"])
def test_a_dfm_is_deepfacelive_s_interface_and_draws_the_model_s_swap(tmp_path, crops_dir, archi, capsys,
                                                                      torch_one_thread):
    path, out = tiny_model(tmp_path / "model.safetensors", archi), tmp_path / "model.dfm"
    assert main(["export", str(path), str(out), "--faces", str(crops_dir)]) == 0  # .dfm: the DFM interface
    assert "as DFL's DFM, for DeepFaceLive" in capsys.readouterr().out
    graph = onnx.load(out)
    assert [i.name for i in graph.graph.input] == DFM_SPEC["inputs"]
    assert [o.name for o in graph.graph.output] == DFM_SPEC["outputs"]  # DeepFaceLive unpacks them in this order
    assert _dims(graph.graph.input[0]) == ["batch", R, R, 3]
    assert [_dims(o) for o in graph.graph.output] == [["batch", R, R, c] for c in (1, 3, 1)]
    meta = {p.key: p.value for p in graph.metadata_props}
    assert meta["layout"] == "NHWC" and meta["interface"] == "DFM" and meta["channel_order"] == "BGR"

    # As DeepFaceLive feeds it: NHWC float 0..1 BGR crops, a batch of another size than the check's.
    faces = face_crops(sorted(crops_dir.glob("*.png"))[:3], R)
    x = torch.from_numpy(faces).float().div(255)
    face_mask, celeb, celeb_mask = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(
        None, {"in_face:0": x.numpy()})
    model, _ = load_model(path)
    swapped, swapped_mask = model.swap(x.permute(0, 3, 1, 2))
    with torch.no_grad():
        dst_mask = model.eval()(x.permute(0, 3, 1, 2), "dst")[1]
    for got, expected in ((celeb, swapped), (celeb_mask, swapped_mask), (face_mask, dst_mask)):
        assert np.abs(got - expected.permute(0, 2, 3, 1).numpy()).max() <= 1e-3
    assert celeb.std() > 1e-3 and 0 <= face_mask.min() and face_mask.max() <= 1


def test_an_amp_dfm_takes_the_morph_value_as_an_input(tmp_path, crops_dir, torch_one_thread):
    from swaplib.model.export import export_dfm

    torch.manual_seed(0)
    model = build_model(model_config("amp", resolution=R, ae_dims=16, e_dims=8, d_dims=8, d_mask_dims=4,
                                     inter_dims=16))
    path, out = tmp_path / "amp.safetensors", tmp_path / "amp.dfm"
    save_model(path, model, iterations=3, face_type="whole_face")
    faces = face_crops(sorted(crops_dir.glob("*.png")), R)
    done = export_dfm(path, out, faces)
    assert done["max_abs_diff"] <= TOLERANCE and "morph_factor" not in done["metadata"]
    graph = onnx.load(out)
    assert [i.name for i in graph.graph.input] == ["in_face:0", "morph_value:0"]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.from_numpy(faces).float().div(255)
    loaded, _ = load_model(path)
    for morph in (1.0, 0.25, 0.0):
        feed = {"in_face:0": x.numpy(), "morph_value:0": np.array([morph], np.float32)}
        celeb = session.run(["out_celeb_face:0"], feed)[0]
        expected = loaded.swap(x.permute(0, 3, 1, 2), morph)[0].permute(0, 2, 3, 1).numpy()
        assert np.abs(celeb - expected).max() <= 1e-3, morph
