"""A trained model as ONNX, for tools outside swaplib: swaplib's own interface, or DFL's DFM, which
DeepFaceLive loads.

    export_onnx(model_path, out_path, faces)   the swap network → OUT.onnx, checked with onnxruntime
    export_dfm(model_path, out_path, faces)    DFL's DFM interface → OUT.dfm, checked the same way
    face_crops(paths, resolution)              aligned crops from disk, as the check takes them
    check_crops(header, videos_dir, faces_dir) which crops: a folder's, or those the model trained on

The graph is what merging runs (SwapModel.swap): input "face", aligned destination crops (N,3,R,R)
float32 0..1 in swaplib's channel order, BGR (OpenCV's; the model gives back the order it was given);
outputs "swapped" (N,3,R,R) 0..1 in the same order and "mask" (N,1,R,R) 0..1. N is dynamic. What a
consumer needs to feed it travels as ONNX metadata_props (METADATA_KEYS). An amp model's morph factor
is part of the graph (export_onnx's morph_factor, by default the full swap, 1), and in its metadata.

A DFM is DFL's exported model as DeepFaceLive reads it: input "in_face:0" (N,R,R,3) float 0..1 BGR
(NHWC); outputs, in this order, "out_face_mask:0" (the destination decoder's mask of the face),
"out_celeb_face:0" (the swap) and "out_celeb_face_mask:0" (its mask), all NHWC; an amp model takes a
second input, "morph_value:0" (1,), the morph factor, free in the graph as DFL's is.

onnx and onnxruntime are the optional `export` extra: imported here only, when a model is exported.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn

from swaplib import __version__
from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image, shrink
from swaplib.model.base import SwapModel
from swaplib.model.io import load_model

INPUT, OUTPUTS = "face", ("swapped", "mask")
# Largest |ONNX - PyTorch| accepted on the 0..1 outputs: ~1/40 of one 8-bit level, far above fp32 kernel
# differences (about 1e-6) and far below anything a swap would show.
TOLERANCE = 1e-4
OPSET = 17
CHECK_FACES = 8  # crops the check runs: enough to cover a batch > 1 (the dynamic axis), quick on a CPU
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DFM_INPUT, DFM_MORPH = "in_face:0", "morph_value:0"
DFM_OUTPUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")
DFM_OPSET = 13  # what DFL's DFMs use and DeepFaceLive's onnxruntime reads
METADATA_KEYS = ("resolution", "face_type", "archi", "channel_order", "value_range", "layout", "swaplib_version",
                 "weights_sha256", "iterations")


class _Swap(nn.Module):
    """The swap alone, as one graph: destination faces through the source identity (at the model's morph factor)."""

    def __init__(self, model: SwapModel):
        super().__init__()
        self.model = model

    def forward(self, face: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.swap_pass(face, self.model.swap_morph)


class _Dfm(nn.Module):
    """DFL's DFM interface over a model (see the module docstring)."""

    def __init__(self, model: SwapModel):
        super().__init__()
        self.model = model

    def forward(self, in_face: torch.Tensor, morph_value: torch.Tensor | None = None):
        x = in_face.permute(0, 3, 1, 2)
        celeb, celeb_mask = self.model.swap_pass(x) if morph_value is None else self.model.swap_pass_at(x, morph_value)
        face_mask = self.model(x, "dst")[1]
        return tuple(t.permute(0, 2, 3, 1) for t in (face_mask, celeb, celeb_mask))


def _onnx():
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise SwaplibError(f"exporting needs onnx and onnxruntime ({exc}): pip install 'swaplib[export]'") from None
    return onnx, onnxruntime


def face_crops(paths, resolution: int) -> np.ndarray:
    """Square crops from image files → (N,R,R,3) uint8 BGR, scaled to the model's resolution."""
    crops = []
    for path in paths:
        image = read_image(path)
        if image.shape[0] != image.shape[1]:
            raise SwaplibError(f"{path}: {image.shape[1]}x{image.shape[0]}, not a square aligned face crop")
        crops.append(shrink(image, resolution) if image.shape[0] > resolution else
                     cv2.resize(image, (resolution, resolution), interpolation=cv2.INTER_CUBIC))
    return np.stack(crops) if crops else np.empty((0, resolution, resolution, 3), np.uint8)


def check_crops(header: dict, videos_dir: Path, faces_dir: str | Path | None = None,
                limit: int = CHECK_FACES) -> list[Path]:
    """Up to `limit` crop files to check an export on: the images in `faces_dir`, else the destination faces
    the model trained on (its header lists them as VIDEO/FACE_ID; the workflow keeps them in
    videos_dir/VIDEO/faces/FACE_ID.<ext>). SwaplibError when there are none."""
    found: list[Path] = []
    if faces_dir is not None:
        found = sorted(p for p in Path(faces_dir).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        for face in (header.get("faces") or {}).get("dst") or []:
            video, _, face_id = str(face).rsplit(":", 1)[-1].partition("/")  # a base's ids are SIDE:VIDEO/ID
            found += sorted((videos_dir / video / "faces").glob(f"{face_id}.*")) if face_id else []
            if len(found) >= limit:
                break
    if not found:
        where = faces_dir or f"{videos_dir} (the destination faces the model trained on)"
        raise SwaplibError(f"no face crops in {where} to check the export on: pass --faces DIR of aligned crops")
    return found[:limit]


def _metadata(header: dict, model: SwapModel) -> dict[str, str]:
    cfg = header["model_config"]
    values = {"resolution": cfg["resolution"], "face_type": header.get("face_type") or "unknown",
              "archi": cfg["archi"], "channel_order": "BGR", "value_range": "0..1", "layout": "NCHW",
              "swaplib_version": __version__, "weights_sha256": header.get("weights_sha256", ""),
              "iterations": header.get("iterations", "")}
    morph = {"morph_factor": str(model.swap_morph)} if model.MORPHS else {}
    return {**{key: str(values[key]) for key in METADATA_KEYS}, **morph}


def _graph(module: nn.Module, example: tuple, inputs: list[str], outputs: list[str], opset: int = OPSET,
           batched: tuple[str, ...] | None = None) -> bytes:
    """The ONNX bytes of `module`, traced on `example`, the batch axis of `batched` (default: the
    first input and every output) left free."""
    buffer = io.BytesIO()
    axes = {name: {0: "batch"} for name in (batched or (inputs[0], *outputs))}
    with warnings.catch_warnings():
        # The TorchScript exporter (the torch.export one needs onnxscript; a swap network has no control flow
        # for it to keep) warns that it is the old one, and that input checks are traced as constants: both known.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, buffer, dynamo=False, input_names=inputs, output_names=outputs,
                          dynamic_axes=axes, opset_version=opset)
    return buffer.getvalue()


def max_difference(onnx_bytes: bytes, model: SwapModel, faces_bgr_uint8: np.ndarray) -> float:
    """Largest |onnxruntime - PyTorch| over both outputs, all `faces` in one batch."""
    _, ort = _onnx()
    x = torch.from_numpy(np.ascontiguousarray(faces_bgr_uint8)).permute(0, 3, 1, 2).float().div(255)
    expected = model.swap(x)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUTS), {INPUT: x.numpy()})
    return max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))


def export_onnx(model_path: str | Path, out_path: str | Path, faces_bgr_uint8: np.ndarray,
                tolerance: float = TOLERANCE, morph_factor: float = 1.0) -> dict:
    """Export a model file's swap network to `out_path` as ONNX, after checking it against PyTorch on
    `faces` (N,R,R,3) uint8 BGR: real aligned crops. Nothing is written when the check fails.
    morph_factor: an amp model's, fixed in the graph (0..1; other archis have none: 1).
    Returns {"max_abs_diff", "faces", "metadata"}."""
    onnx, _ = _onnx()
    model, header, faces = _model_and_crops(model_path, faces_bgr_uint8)
    model.use_morph_factor(morph_factor)
    R = model.cfg.resolution
    graph = onnx.load_from_string(_graph(_Swap(model), (torch.rand(1, 3, R, R),), [INPUT], list(OUTPUTS)))
    metadata = _metadata(header, model)
    onnx.helper.set_model_props(graph, metadata)
    graph.doc_string = (f"swaplib face swap: input '{INPUT}' aligned destination crops (N,3,{R},{R}) float 0..1 BGR; "
                        f"outputs '{OUTPUTS[0]}' the swapped face (same layout), '{OUTPUTS[1]}' its mask (N,1,{R},{R})")
    onnx.checker.check_model(graph)
    data = graph.SerializeToString()
    diff = max_difference(data, model, faces)
    return _write_checked(data, diff, tolerance, model_path, out_path, "ONNX", len(faces), metadata)


def _model_and_crops(model_path, faces_bgr_uint8) -> tuple[SwapModel, dict, np.ndarray]:
    """The model in fp32 on the CPU, its header, and the crops to check it on, as (N,R,R,3)."""
    model, header = load_model(model_path, "cpu", "fp32")
    R = model.cfg.resolution
    faces = np.asarray(faces_bgr_uint8)
    if faces.ndim != 4 or faces.shape[1:] != (R, R, 3) or not len(faces):
        raise SwaplibError(f"{model_path}: the export is checked on real face crops (N,{R},{R},3); got {faces.shape}")
    return model, header, faces


def _write_checked(data: bytes, diff: float, tolerance: float, model_path, out_path, what: str, faces: int,
                   metadata: dict) -> dict:
    """Write the export when onnxruntime matched PyTorch within `tolerance`; nothing otherwise."""
    if not diff <= tolerance:  # also catches NaN
        raise SwaplibError(f"{model_path}: the {what} export differs from PyTorch by up to {diff:.3g} on {faces} "
                           f"face crops (tolerance {tolerance:g}); {out_path} not written")
    with atomic_path(out_path) as tmp:
        Path(tmp).write_bytes(data)
    return {"max_abs_diff": diff, "faces": faces, "metadata": metadata}


def export_dfm(model_path: str | Path, out_path: str | Path, faces_bgr_uint8: np.ndarray,
               tolerance: float = TOLERANCE) -> dict:
    """Export a model file as DFL's DFM (the module docstring says its interface), after checking it
    against PyTorch on `faces` (N,R,R,3) uint8 BGR, real aligned crops (an amp model at morph values 1
    and 0.5). Nothing is written when the check fails. Returns {"max_abs_diff", "faces", "metadata"}."""
    onnx, ort = _onnx()
    model, header, faces = _model_and_crops(model_path, faces_bgr_uint8)
    R = model.cfg.resolution
    inputs = [DFM_INPUT, DFM_MORPH] if model.MORPHS else [DFM_INPUT]
    example = (torch.rand(1, R, R, 3), torch.tensor([1.0]))[: len(inputs)]
    graph = onnx.load_from_string(_graph(_Dfm(model).eval(), example, inputs, list(DFM_OUTPUTS), DFM_OPSET))
    for output, channels in zip(graph.graph.output, (1, 3, 1)):  # the tracer leaves them symbolic: fixed here
        for dim, size in zip(output.type.tensor_type.shape.dim[1:], (R, R, channels)):
            dim.dim_value = size
    metadata = {**_metadata(header, model), "layout": "NHWC", "interface": "DFM"}
    metadata.pop("morph_factor", None)  # an input here
    onnx.helper.set_model_props(graph, metadata)
    onnx.checker.check_model(graph)
    data = graph.SerializeToString()

    x = torch.from_numpy(np.ascontiguousarray(faces)).float().div(255)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    diff = 0.0
    for morph in (1.0, 0.5) if model.MORPHS else (1.0,):
        feed = {DFM_INPUT: x.numpy(), **({DFM_MORPH: np.array([morph], np.float32)} if model.MORPHS else {})}
        got = session.run(list(DFM_OUTPUTS), feed)
        with torch.no_grad():
            nchw = x.permute(0, 3, 1, 2)
            celeb, celeb_mask = model.swap(nchw, morph)
            expected = [model.eval()(nchw, "dst")[1], celeb, celeb_mask]
        diff = max(diff, *(float(np.abs(g - e.permute(0, 2, 3, 1).numpy()).max()) for g, e in zip(got, expected)))
    return _write_checked(data, diff, tolerance, model_path, out_path, "DFM", len(faces), metadata)

