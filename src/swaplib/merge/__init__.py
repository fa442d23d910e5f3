"""Merge: put the swapped face into every destination frame (DeepFaceLab's merger, as settings).

Per face: the destination face is cut out of the frame at the model's resolution with its
alignment transform, the model draws it as the source person (batched over the faces of many
frames), the blend mask is built (`masks`), the face is recoloured (`color`), pasted back with
the chosen mode, and post-processed. Frames are read, merged and written by a pool of threads
while the model works on the next batch.

Faithful frames: every destination frame is written under its own name. A frame without a face
is passed through byte for byte. A face that cannot be swapped (bad transform, outside the
frame, empty mask, model output not finite) is left as it is and listed with the reason in the
merge report, never replaced silently.

Settings can change for frame ranges: an overrides sheet (TSV: first_frame, last_frame,
setting, value; later rows win) replaces DFL's interactive per-frame tweaking.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from swaplib.core.atomic import atomic_dir, write_json
from swaplib.core.color import COLOR_TRANSFERS, hist_match, transfer
from swaplib.core.digest import hash_file
from swaplib.core.errors import SwaplibError
from swaplib.core.images import frame_files, read_image
from swaplib.core.progress import Progress
from swaplib.extract.align import transform_points, warp_to_face, warp_to_frame
from swaplib.merge import masks
from swaplib.model import autocast, load_model, precision_name, resolve_device, swap_faces
from swaplib.tables.faces import landmarks_array, matrices_array, read_faces

log = logging.getLogger(__name__)

MODES = ("original", "overlay", "hist-match", "seamless", "seamless-hist-match", "raw-rgb", "raw-predict")
SHARPEN = ("none", "box", "gaussian")
OVERRIDE_COLUMNS = ("first_frame", "last_frame", "setting", "value")


# ---------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class MergeSettings:
    """Every merge setting (config.yaml `merge:`, README "Merge settings"); validated on creation."""

    mode: str = "overlay"
    mask: str = "dst"
    color_transfer: str = "rct"
    erode: float = 0.0  # share of the face size; negative grows the mask
    blur: float = 0.1  # share of the face size
    motion_blur: int = 0  # 0..100 % of the face's movement per frame
    face_scale: int = 0  # -50..50 % bigger / smaller
    sharpen: str = "none"
    sharpen_amount: int = 0  # -100..100, DFL's blur/sharpen amount (negative blurs)
    hist_match_threshold: int = 255
    denoise: int = 0  # 0..500, 100 = one 5x5 median pass over the destination frame
    bicubic_degrade: int = 0  # 0..100
    color_degrade: int = 0  # 0..100

    def __post_init__(self):
        problems = [p for f in dataclasses.fields(self) if (p := _check(f.name, getattr(self, f.name)))]
        if problems:
            raise SwaplibError("invalid merge settings: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def needs_crop_pass(self) -> bool:
        """Whether the pasted face goes back to the crop for DFL's second pass (post-processing)."""
        seamless = self.mode.startswith("seamless")
        return (seamless and self.color_transfer != "none") or self.mode == "seamless-hist-match" or bool(
            self.motion_blur or (self.sharpen != "none" and self.sharpen_amount)
        )


_CHOICES = {"mode": MODES, "mask": masks.MASKS, "color_transfer": COLOR_TRANSFERS, "sharpen": SHARPEN}
_RANGES = {
    "erode": (-0.5, 0.5), "blur": (0, 1), "motion_blur": (0, 100), "face_scale": (-50, 50),
    "sharpen_amount": (-100, 100), "hist_match_threshold": (0, 255), "denoise": (0, 500),
    "bicubic_degrade": (0, 100), "color_degrade": (0, 100),
}
_INTEGERS = {f.name for f in dataclasses.fields(MergeSettings) if f.type == "int"}


def _check(name: str, value) -> str | None:
    if name in _CHOICES:
        return None if value in _CHOICES[name] else f"{name} {value!r} is not one of {', '.join(_CHOICES[name])}"
    low, high = _RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name} must be a number, got {value!r}"
    if name in _INTEGERS and value != int(value):
        return f"{name} must be a whole number, got {value!r}"
    return None if low <= value <= high else f"{name} must be within {low}..{high}, got {value!r}"


def merge_settings(values: dict) -> MergeSettings:
    """MergeSettings from a mapping (the config's merge section); unknown keys are errors."""
    known = {f.name for f in dataclasses.fields(MergeSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SwaplibError(f"unknown merge setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return MergeSettings(**values)


@dataclass(frozen=True)
class Override:
    first: int
    last: int
    setting: str
    value: object
    line: int


def read_overrides(path: str | os.PathLike, base: MergeSettings) -> list[Override]:
    """The frame-range overrides sheet, every row checked against `base`; errors name file and line.

    Tab-separated with the header first_frame, last_frame, setting, value; frame numbers are the
    frame files' (000012.png is 12), both ends included; blank lines and # comments are skipped.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SwaplibError(f"{path}: not a readable overrides sheet ({exc})") from None
    rows = [(number, line.rstrip("\r").split("\t")) for number, line in enumerate(lines, start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows or tuple(cell.strip() for cell in rows[0][1]) != OVERRIDE_COLUMNS:
        raise SwaplibError(f"{path}: an overrides sheet starts with the tab-separated header "
                           f"{' '.join(OVERRIDE_COLUMNS)}")
    return [_override(cells, base, f"{path}: line {number}", number) for number, cells in rows[1:]]


def _override(cells: list[str], base: MergeSettings, where: str, number: int) -> Override:
    if len(cells) != len(OVERRIDE_COLUMNS):
        raise SwaplibError(f"{where}: needs {len(OVERRIDE_COLUMNS)} tab-separated cells, found {len(cells)}")
    first, last, setting, text = (cell.strip() for cell in cells)
    try:
        first, last = int(first), int(last)
    except ValueError:
        raise SwaplibError(f"{where}: first_frame and last_frame must be frame numbers, "
                           f"got {first!r}, {last!r}") from None
    if not 0 <= first <= last:
        raise SwaplibError(f"{where}: frame range {first}..{last} is empty or negative")
    value = _parse_value(setting, text, where)
    if setting == "mode" and "raw-predict" in (value, base.mode):
        raise SwaplibError(f"{where}: mode raw-predict writes face crops, not frames; it cannot be mixed with "
                           f"other modes by frame range")
    try:
        dataclasses.replace(base, **{setting: value})
    except SwaplibError as exc:
        raise SwaplibError(f"{where}: {exc}") from None
    return Override(first, last, setting, value, number)


def _parse_value(setting: str, text: str, where: str):
    fields = {f.name: f.type for f in dataclasses.fields(MergeSettings)}
    if setting not in fields:
        raise SwaplibError(f"{where}: unknown setting {setting!r}; known: {', '.join(fields)}")
    if fields[setting] == "str":
        return text
    try:
        return float(text) if fields[setting] == "float" else int(text)
    except ValueError:
        raise SwaplibError(f"{where}: {setting} needs a {fields[setting]} value, got {text!r}") from None


def settings_for(frame: int, base: MergeSettings, overrides: list[Override]) -> MergeSettings:
    changes = {rule.setting: rule.value for rule in overrides if rule.first <= frame <= rule.last}
    return dataclasses.replace(base, **changes) if changes else base


# ---------------------------------------------------------------------------------- one frame


@dataclass
class Face:
    """One destination face with the model's prediction: everything merge_frame needs."""

    face_id: str
    matrix: np.ndarray  # (2, 3) frame -> crop at the model's resolution
    landmarks: np.ndarray  # (68, 2) in frame coordinates
    face_px: float  # the face's size in the crop: unit of erode and blur
    crop: np.ndarray  # (R, R, 3) uint8 destination face
    predicted: np.ndarray  # (R, R, 3) uint8 the model's face
    prd_mask: np.ndarray  # (R, R) float
    dst_mask: np.ndarray | None = None  # (R, R) float, when the mask kind needs it
    motion: tuple[float, float] | None = None  # face movement, frame px per frame


class FaceFailed(Exception):
    """This face cannot be swapped; the message is the reason recorded in the merge report."""


@dataclass
class _Layer:
    """A merged face, ready to composite: its frame region, pixels and alpha."""

    box: tuple[int, int, int, int]  # y0, y1, x0, x1
    pixels: np.ndarray  # uint8 (h, w, 3)
    alpha: np.ndarray  # float32 (h, w), 0..1


@dataclass
class FrameResult:
    image: np.ndarray  # the merged frame; the destination frame itself when nothing was swapped
    swapped: int  # faces swapped
    failures: list  # (face_id, reason) of faces left as they were
    notes: list  # (face_id, note), e.g. a seamless clone that fell back to overlay


def merge_frame(frame: np.ndarray, faces: list[Face], settings: MergeSettings) -> FrameResult:
    """Merge `faces` into `frame`. In mode raw-predict the image is the first usable face's prediction."""
    failures, notes, layers = [], [], []
    for face in faces:
        try:
            if settings.mode == "raw-predict":
                _check_face(face)
                return FrameResult(face.predicted, 1, failures, notes)
            if settings.mode != "original":
                layers.append(_face_layer(frame, face, settings, notes))
        except FaceFailed as reason:
            failures.append((face.face_id, str(reason)))
    if not layers:
        return FrameResult(frame, 0, failures, notes)
    out = _degrade_frame(frame, settings)
    for layer in layers:  # only the faces' regions are touched
        y0, y1, x0, x1 = layer.box
        out[y0:y1, x0:x1] = _blend(out[y0:y1, x0:x1], layer.pixels, layer.alpha)
    if settings.color_degrade:
        out = out.astype(np.float32)
        out = _to_uint8(out + (_reduce_colors(out) - out) * (settings.color_degrade / 100))
    return FrameResult(out, len(layers), failures, notes)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def _blend(under: np.ndarray, over: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """under·(1-alpha) + over·alpha for uint8 images (one C pass: several times numpy's speed)."""
    return cv2.blendLinear(np.ascontiguousarray(under), over, 1.0 - alpha, alpha)


def _check_face(face: Face) -> None:
    matrix = np.asarray(face.matrix, np.float64)
    if not np.isfinite(matrix).all() or abs(np.linalg.det(matrix[:, :2])) < 1e-9:
        raise FaceFailed("bad transform: the alignment matrix is degenerate or not finite")
    if not (np.isfinite(face.predicted).all() and np.isfinite(face.prd_mask).all()):
        raise FaceFailed("the model's output is not finite")


def _face_layer(frame: np.ndarray, face: Face, s: MergeSettings, notes: list) -> _Layer:
    _check_face(face)
    size = face.crop.shape[0]
    matrix = _scaled(face.matrix, s.face_scale, size)
    if s.mode == "raw-rgb":  # the whole predicted square, unmasked and unchanged
        box, roi_matrix = _frame_box(matrix, (0, 0, size, size), frame.shape)
        shape = (box[1] - box[0], box[3] - box[2])
        alpha = warp_to_frame(np.ones((size, size), np.float32), roi_matrix, shape)
        return _Layer(box, warp_to_frame(face.predicted, roi_matrix, shape), alpha)

    mask = _face_mask(face, s)
    ys, xs = np.nonzero(mask)
    box, roi_matrix = _frame_box(matrix, (xs.min() - 1, ys.min() - 1, xs.max() + 2, ys.max() + 2), frame.shape)
    y0, y1, x0, x1 = box
    region = frame[y0:y1, x0:x1]
    area = mask > 0
    predicted = face.predicted
    if not s.mode.startswith("seamless"):
        predicted = transfer(s.color_transfer, predicted, face.crop, area)
    if s.mode == "hist-match":
        predicted = hist_match(predicted, face.crop, area, s.hist_match_threshold)

    alpha = np.clip(warp_to_frame(mask, roi_matrix, region.shape), 0, 1)
    alpha[alpha < masks.NOISE] = 0
    if not alpha.any():
        raise FaceFailed("face outside the frame (its mask does not reach into the frame)")
    pixels = warp_to_frame(predicted, roi_matrix, region.shape)
    if s.mode.startswith("seamless"):
        pixels = _seamless(pixels, region, alpha, face.face_id, notes)
    if s.needs_crop_pass:
        pixels = _crop_pass(face, s, region, pixels, alpha, roi_matrix, area)
    return _Layer(box, pixels, alpha)


def _face_mask(face: Face, s: MergeSettings) -> np.ndarray:
    size = face.crop.shape[0]
    hull = masks.hull_masks(transform_points(face.landmarks, face.matrix)[None], size) if s.mask == "dst" else None
    dst = None if face.dst_mask is None else face.dst_mask[None]
    mask = masks.build(s.mask, hull=hull, prd=face.prd_mask[None], dst=dst)[0]
    mask = masks.feather(mask, erode=s.erode, blur=s.blur, face_px=face.face_px)
    if not mask.any():
        raise FaceFailed(f"empty mask ({s.mask!r} after erode {s.erode}, blur {s.blur})")
    return mask


def _scaled(matrix: np.ndarray, face_scale: int, size: int) -> np.ndarray:
    """The frame -> crop matrix that draws the face `face_scale` % bigger (smaller if < 0)."""
    if not face_scale:
        return matrix
    k = 1.0 / (1.0 + face_scale / 100)  # crop coordinates shrink about the centre
    centre = size / 2
    out = matrix * k
    out[:, 2] += centre * (1 - k)
    return out


def _frame_box(matrix: np.ndarray, crop_box, shape) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """The frame region (y0, y1, x0, x1) under a crop box (x0, y0, x1, y1), clipped to the frame,
    and the matrix from that region to the crop: work is done on the region only."""
    cx0, cy0, cx1, cy1 = crop_box
    corners = np.array([[cx0, cy0], [cx1, cy0], [cx0, cy1], [cx1, cy1]], np.float64)
    points = transform_points(corners, cv2.invertAffineTransform(matrix))
    height, width = shape[:2]
    x0, y0 = np.clip(np.floor(points.min(0)).astype(int) - 2, 0, [width, height])
    x1, y1 = np.clip(np.ceil(points.max(0)).astype(int) + 2, 0, [width, height])
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise FaceFailed("face outside the frame")
    shifted = matrix.copy()
    shifted[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)
    return (int(y0), int(y1), int(x0), int(x1)), shifted


def _seamless(pixels: np.ndarray, region: np.ndarray, alpha: np.ndarray, face_id: str, notes: list) -> np.ndarray:
    """Poisson blending (OpenCV seamlessClone) of the face into the region, inside the mask."""
    binary = ((alpha > 0.1) * 255).astype(np.uint8)
    binary[[0, -1], :] = 0  # seamlessClone needs the mask strictly inside the image
    binary[:, [0, -1]] = 0
    x, y, w, h = cv2.boundingRect(binary)
    if w < 4 or h < 4:
        return pixels
    try:
        return cv2.seamlessClone(pixels, np.ascontiguousarray(region), binary, (x + w // 2, y + h // 2),
                                 cv2.NORMAL_CLONE)
    except cv2.error as exc:
        notes.append((face_id, f"seamless clone failed, overlay used ({str(exc).strip().splitlines()[-1]})"))
        return pixels


def _crop_pass(face: Face, s: MergeSettings, region, pixels, alpha, roi_matrix, area) -> np.ndarray:
    """DFL's second pass: the pasted face back in the crop for colour, motion blur and sharpening."""
    size = face.crop.shape[0]
    crop = warp_to_face(_blend(region, pixels, alpha), roi_matrix, size)
    if s.mode.startswith("seamless"):
        crop = transfer(s.color_transfer, crop, face.crop, area)
    if s.mode == "seamless-hist-match":
        crop = hist_match(crop, face.crop, area, s.hist_match_threshold)
    if s.motion_blur and face.motion is not None:
        crop = _motion_blur(crop, roi_matrix[:, :2] @ np.asarray(face.motion), s.motion_blur)
    if s.sharpen != "none" and s.sharpen_amount:
        crop = _blur_sharpen(crop, s.sharpen, s.sharpen_amount)
    return warp_to_frame(crop, roi_matrix, region.shape)


# ---------------------------------------------------------------------------------- post-processing


def _motion_blur(image: np.ndarray, movement: np.ndarray, power: int) -> np.ndarray:
    """Blur along the face's movement (crop px per frame), `power` % of its length."""
    length = int(np.hypot(*movement) * power / 100)
    if length < 1:
        return image
    size = int(np.clip(length + 1, 2, 50))
    kernel = np.zeros((size, size), np.float32)
    kernel[(size - 1) // 2, :] = 1
    angle = np.degrees(np.arctan2(-movement[1], movement[0]))
    rotation = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (size, size))
    return cv2.filter2D(image, -1, kernel / kernel.sum())


def _blur_sharpen(image: np.ndarray, mode: str, amount: int) -> np.ndarray:
    """DFL's blur/sharpen: amount > 0 sharpens (box or gaussian, 3x3), < 0 blurs (median passes)."""
    if amount > 0:
        if mode == "box":
            identity = np.zeros((3, 3), np.float32)
            identity[1, 1] = 1
            return cv2.filter2D(image, -1, identity + (identity - np.full((3, 3), 1 / 9, np.float32)) * amount)
        blurred = cv2.GaussianBlur(image, (3, 3), 0)
        return cv2.addWeighted(image, 1 + 0.5 * amount, blurred, -0.5 * amount, 0)
    return _median_passes(image, -amount / 10)


def _median_passes(image: np.ndarray, passes: float) -> np.ndarray:
    """`passes` 5x5 median filters; a fractional last pass is blended in partly."""
    out = image
    while passes > 0:
        filtered = cv2.medianBlur(out, 5)
        weight = min(passes, 1.0)
        out = filtered if weight == 1 else cv2.addWeighted(out, 1 - weight, filtered, weight, 0)
        passes -= 1
    return out


def _degrade_frame(frame: np.ndarray, s: MergeSettings) -> np.ndarray:
    """A copy of the destination frame to paste the faces on, degraded when asked.

    Denoise and bicubic degrade soften the whole destination frame so that it matches a softer
    swapped face (as in DFL); they change pixels outside the face, and are off by default.
    """
    if s.denoise:
        frame = _median_passes(frame, s.denoise / 100)
    if s.bicubic_degrade:
        height, width = frame.shape[:2]
        keep = 1.0 - s.bicubic_degrade / 101
        small = cv2.resize(frame, (max(1, int(width * keep)), max(1, int(height * keep))),
                           interpolation=cv2.INTER_CUBIC)
        frame = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return frame.copy()


def _reduce_colors(image: np.ndarray) -> np.ndarray:
    """The image with an adaptive 256-colour palette (DFL's colour degrade)."""
    from PIL import Image  # Pillow comes with matplotlib; only this option needs it

    rgb = _to_uint8(image[..., ::-1])
    reduced = np.asarray(Image.fromarray(rgb).quantize(256).convert("RGB"))
    return reduced[..., ::-1].astype(np.float32)


# ---------------------------------------------------------------------------------- the model


def frame_faces(image: np.ndarray, rows: pd.DataFrame, resolution: int, motion: dict | None = None) -> list[Face]:
    """The faces of one frame (its rows of the face table), cut out at the model's resolution."""
    scale = resolution / rows["size"].to_numpy(np.float64)
    matrices = matrices_array(rows) * scale[:, None, None]
    return [
        Face(face_id=face_id, matrix=matrix, landmarks=landmarks, face_px=masks.face_size(face_type, resolution),
             crop=_crop(image, matrix, resolution), predicted=None, prd_mask=None, motion=(motion or {}).get(face_id))
        for face_id, face_type, matrix, landmarks in zip(rows["face_id"], rows["face_type"], matrices,
                                                         landmarks_array(rows))
    ]


def predict_faces(model, faces: list[Face], *, dst_masks: bool, device, batch_size: int = 32) -> None:
    """Fill in each face's prediction and masks; one model pass over all of them, in batches."""
    if not faces:
        return
    crops = np.stack([face.crop for face in faces])
    predicted, prd = swap_faces(model, crops, device=device, batch_size=batch_size)
    dst = _dst_decoder_masks(model, crops, device, batch_size) if dst_masks else None
    for i, face in enumerate(faces):
        face.predicted, face.prd_mask = predicted[i], prd[i]
        face.dst_mask = None if dst is None else dst[i]


@torch.no_grad()
def _dst_decoder_masks(model, crops: np.ndarray, device, batch_size: int) -> np.ndarray:
    """The destination decoder's masks of the crops (DFL's learned-dst)."""
    device = torch.device(device)
    out = np.empty(crops.shape[:3], np.float32)
    for i in range(0, len(crops), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(crops[i : i + batch_size])).to(device)
        with autocast(device, model.amp):
            _, mask = model(x.permute(0, 3, 1, 2).float().div_(255), "dst")
        out[i : i + batch_size] = mask[:, 0].float().clamp(0, 1).cpu().numpy()
    return out


def _load_checked_model(model_path, faces: pd.DataFrame, table_path, used: set[MergeSettings], device,
                        precision: str):
    model, meta = load_model(model_path, device=device, precision=precision)
    model_face_type = meta.get("face_type")
    face_types = sorted(faces["face_type"].unique())
    if len(face_types) > 1:
        raise SwaplibError(f"{table_path}: faces of several face types ({', '.join(face_types)}); extract again")
    if model_face_type and face_types and face_types[0] != model_face_type:
        raise SwaplibError(f"{model_path}: the model was trained on {model_face_type} faces but {table_path} has "
                           f"{face_types[0]} faces; extract the destination with face type {model_face_type} "
                           f"or retrain")
    learned = sorted({s.mask for s in used if masks.uses_learned(s.mask)})
    if learned and meta.get("masks_trained") is not True:
        raise SwaplibError(f"{model_path}: merge mask {learned[0]!r} uses the model's learned mask, but this model's "
                           f"mask decoder was not trained (masks_trained: {meta.get('masks_trained')}); use mask "
                           f"'dst' or train the model with masks")
    return model, meta


def _model_record(model_path, meta: dict) -> dict:
    keep = ("model_config", "iterations", "settings", "masks_trained", "face_type")
    return {"path": str(model_path), "sha256": hash_file(model_path).hexdigest(),
            **{k: meta[k] for k in keep if k in meta}}


# ---------------------------------------------------------------------------------- a whole video


@dataclass
class _Job:
    """One destination frame to merge."""

    path: Path
    number: int
    settings: MergeSettings
    rows: pd.DataFrame | None  # its faces, None if it has none
    not_kept: list  # (face_id, reason) of faces extraction found here but did not keep, if it kept none
    image: np.ndarray | None = None
    faces: list[Face] | None = None


def merge_video(
    frames_dir: str | os.PathLike,
    faces_table: str | os.PathLike,
    model_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    report: str | os.PathLike | None = None,
    overrides: str | os.PathLike | None = None,
    threads: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 32,
    **settings,
) -> dict:
    """Write every frame of `frames_dir` to `out_dir` (same names), swapped where a face was found.

    settings: MergeSettings fields (mode, mask, color_transfer, ...). overrides: optional frame
    range sheet. report: where to write the merge report (JSON), which is also returned.
    threads: the job's CPU threads (torch's and the frame pool's); None: torch's as they are.
    precision: the model's (swaplib.model.amp_dtype): auto is bf16 on GPUs and AMX CPUs.
    """
    started = time.perf_counter()
    base = merge_settings(settings)
    rules = read_overrides(overrides, base) if overrides else []
    frames = frame_files(frames_dir)
    every = read_faces(faces_table, kept_only=False)
    _check_table_frames(every, {number for number, _ in frames}, faces_table, frames_dir)
    faces = every[every["kept"]] if "kept" in every.columns else every
    by_frame = {number: rows for number, rows in faces.groupby("frame")}
    not_kept = _not_kept(every)
    jobs = [_Job(path, number, settings_for(number, base, rules), by_frame.get(number), not_kept.get(number, []))
            for number, path in frames]

    device = resolve_device(device)
    model, meta = _load_checked_model(model_path, faces, faces_table, {job.settings for job in jobs}, device,
                                      precision)
    merger = _VideoMerger(model, device, faces, faces_table, batch_size,
                          dst_masks=any(masks.uses_dst_decoder(job.settings.mask) for job in jobs))
    with atomic_dir(out_dir) as tmp, _torch_threads(threads, model.amp):
        merging, cpu = time.perf_counter(), time.process_time()
        records = merger.run(jobs, Path(tmp), threads or torch.get_num_threads())
        seconds = {"total": time.perf_counter() - started, "merging": time.perf_counter() - merging,
                   "merging_cpu": time.process_time() - cpu}  # all threads; less affected by a busy machine
        summary = _report(records, base, rules, overrides, _model_record(model_path, meta), device, model.amp,
                          seconds)
        if report is not None:
            write_json(report, summary)
    log.info("%d frames: %d swapped, %d without a face, %d failed (%.1f frames/s)", summary["frames"],
             summary["swapped"], summary["without_face"], summary["failed"], summary["frames_per_second"])
    return summary


@contextlib.contextmanager
def _torch_threads(threads: int | None, amp):
    """The model's threads, beside the frame pool that keeps all `threads` busy reading, blending and
    writing. In bf16 (AMX) the model is the lighter part: half the threads, as more oversubscribe the
    cores (on 2 cores: Quick96 at 1280x720 41.6 frames/s on 1 thread, 35.1 on 2). In fp32 it is the
    heavier part and gets them all (about 21 frames/s on 2 threads, 16 on 1)."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads if amp is None else max(1, threads // 2))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _check_table_frames(faces: pd.DataFrame, numbers: set[int], table_path, frames_dir) -> None:
    stray = sorted(set(faces["frame"].unique()) - numbers)
    if stray:
        raise SwaplibError(f"{table_path}: lists faces in frames {stray[:5]} that are not in {frames_dir}; "
                           f"extract the faces again")


class _VideoMerger:
    """The read → model → merge → write pipeline over a thread pool (model in the calling thread)."""

    def __init__(self, model, device, faces: pd.DataFrame, table_path, batch_size: int, dst_masks: bool):
        self.model, self.device, self.table_path = model, device, table_path
        self.batch_size, self.dst_masks = batch_size, dst_masks
        self.resolution = model.cfg.resolution
        self.motion = _motion(faces)

    def run(self, jobs: list[_Job], out: Path, threads: int) -> list[dict]:
        chunks = _chunks(jobs, self.batch_size)
        records: list[dict] = []
        with ThreadPoolExecutor(max(1, threads)) as pool, Progress(len(jobs), "frames merged", log=log) as progress:
            reading = [pool.submit(self._read, job) for job in chunks[0]] if chunks else []
            writing: deque = deque()
            for k, chunk in enumerate(chunks):
                ready = [future.result() for future in reading]
                if k + 1 < len(chunks):  # read ahead while the model works
                    reading = [pool.submit(self._read, job) for job in chunks[k + 1]]
                self._predict(ready)
                writing.append([pool.submit(self._finish, job, out) for job in ready])
                if len(writing) > 1:  # keep at most two chunks of frames in memory
                    records += [future.result() for future in writing.popleft()]
                progress.update(len(chunk))
            for futures in writing:
                records += [future.result() for future in futures]
        return records

    def _swaps(self, job: _Job) -> bool:
        return job.rows is not None and job.settings.mode != "original"

    def _read(self, job: _Job) -> _Job:
        if not self._swaps(job):
            return job
        image = read_image(job.path)
        expected = (int(job.rows["frame_height"].iloc[0]), int(job.rows["frame_width"].iloc[0]))
        if image.shape[:2] != expected:
            raise SwaplibError(f"{self.table_path}: faces were found in {expected[1]}x{expected[0]} frames but "
                               f"{job.path} is {image.shape[1]}x{image.shape[0]}; extract the faces again")
        job.image, job.faces = image, frame_faces(image, job.rows, self.resolution, self.motion)
        return job

    def _predict(self, jobs: list[_Job]) -> None:
        faces = [face for job in jobs if job.faces for face in job.faces]
        predict_faces(self.model, faces, dst_masks=self.dst_masks, device=self.device, batch_size=self.batch_size)

    def _finish(self, job: _Job, out: Path) -> dict:
        target = out / job.path.name
        raw = job.settings.mode == "raw-predict"
        if self._swaps(job):
            result = merge_frame(job.image, job.faces, job.settings)
        else:  # a face found but not kept (another person, too small, ...) is a frame left unswapped
            result = FrameResult(None, 0, [(face_id, f"no face kept ({why})") for face_id, why in job.not_kept], [])
        if raw and not result.swapped:  # a black crop keeps every output the same size
            _write(target, np.zeros((self.resolution, self.resolution, 3), np.uint8))
        elif result.swapped:
            _write(target, result.image)
        else:  # nothing swapped: the destination's own bytes
            _pass_through(job.path, target)
        for face_id, reason in result.failures:
            log.warning("%s: face %s not swapped: %s", job.path.name, face_id, reason)
        job.image = job.faces = None  # free the frame as soon as it is written
        return {
            "frame": job.path.name,
            "faces": 0 if job.rows is None else len(job.rows),
            "swapped": result.swapped,
            "failures": [{"face_id": f, "reason": r} for f, r in result.failures],
            "notes": [{"face_id": f, "note": n} for f, n in result.notes],
        }


def _not_kept(every: pd.DataFrame) -> dict[int, list[tuple[str, str]]]:
    """Frame → (face_id, reason) of its faces, for frames where extraction found faces but kept none."""
    if "kept" not in every.columns:
        return {}
    kept_frames = set(every.loc[every["kept"], "frame"])
    left = every[~every["frame"].isin(kept_frames)]
    reasons = left["left_out"] if "left_out" in left.columns else pd.Series("", index=left.index)
    out: dict[int, list] = {}
    for frame, face_id, why in zip(left["frame"], left["face_id"], reasons):
        out.setdefault(int(frame), []).append((face_id, why or "left out by extraction"))
    return out


def _crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    if not np.isfinite(matrix).all():
        return np.zeros((size, size, 3), np.uint8)  # merge_frame reports the bad transform
    return warp_to_face(image, matrix, size)


def _chunks(jobs: list[_Job], batch_size: int) -> list[list[_Job]]:
    """Consecutive frames grouped so that each group has about `batch_size` faces for the model."""
    chunks, current, count = [], [], 0
    for job in jobs:
        current.append(job)
        count += 0 if job.rows is None else len(job.rows)
        if count >= batch_size or len(current) >= 2 * batch_size:
            chunks.append(current)
            current, count = [], 0
    return chunks + ([current] if current else [])


def _motion(faces: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Face id → movement of the face centre per frame (frame px), for frames with one face (as DFL)."""
    single = faces.groupby("frame").filter(lambda rows: len(rows) == 1)
    centres = {int(f): landmarks_array(rows)[0].mean(0) for f, rows in single.groupby("frame")}
    motion = {}
    for face_id, frame in zip(single["face_id"], single["frame"]):
        before, after = centres.get(int(frame) - 1), centres.get(int(frame) + 1)
        here = centres[int(frame)]
        if before is not None and after is not None:
            motion[face_id] = tuple((after - before) / 2)
        elif before is not None or after is not None:
            motion[face_id] = tuple(here - before if after is None else after - here)
    return {k: (float(v[0]), float(v[1])) for k, v in motion.items()}


def _write(path: Path, image: np.ndarray) -> None:
    # Working files: light png compression with the "up" filter (2x faster than OpenCV's default,
    # same size); jpg near-lossless.
    params = ([cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
              if path.suffix == ".png" else [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not cv2.imwrite(str(path), image, params):
        raise SwaplibError(f"{path}: could not write the merged frame (disk full?)")


def _pass_through(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # an unchanged frame: share the bytes
    except OSError:
        shutil.copyfile(src, dst)


def _report(records: list[dict], base: MergeSettings, rules, overrides, model: dict, device, amp,
            seconds: dict) -> dict:
    with_face = [r for r in records if r["faces"] or r["failures"]]  # failures: found but not kept
    return {
        "frames": len(records),
        "with_face": len(with_face),
        "without_face": len(records) - len(with_face),
        "swapped": sum(1 for r in with_face if r["swapped"]),
        "failed": sum(1 for r in with_face if not r["swapped"] and r["failures"]),  # kept as the destination
        "faces": sum(r["faces"] for r in records),
        "faces_swapped": sum(r["swapped"] for r in records),
        "faces_failed": sum(len(r["failures"]) for r in records),
        "failures": [{"frame": r["frame"], **f} for r in records for f in r["failures"]],
        "notes": [{"frame": r["frame"], **n} for r in records for n in r["notes"]],
        "settings": base.to_dict(),
        "overrides": {"file": str(overrides) if overrides else None,
                      "rows": [dataclasses.asdict(rule) for rule in rules]},
        "model": model,
        "device": str(device),
        "precision": precision_name(amp),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        # Of the frame loop (read, model, merge, write), without loading the model.
        "frames_per_second": round(len(records) / seconds["merging"], 3) if seconds["merging"] > 0 else None,
    }
