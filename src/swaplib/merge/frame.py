"""One destination frame merged: each face cut out, drawn by the model, masked, recoloured and pasted.

Per face: the destination face is cut out of the frame at the model's resolution with its
alignment transform (`frame_faces`), the model draws it as the source person (`predict_faces`,
batched over the faces of many frames), the blend mask is built (`masks`), the face is recoloured
(`swaplib.core.color`), pasted back with the chosen mode, and post-processed (`post`). A face that
cannot be swapped (bad transform, outside the frame, empty mask, model output not finite) is
left as it is, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
import torch

from swaplib.core.color import hist_match, transfer
from swaplib.extract.align import transform_points, warp_to_face, warp_to_frame
from swaplib.merge import masks
from swaplib.merge.enhance import FaceEnhancer, enhanced
from swaplib.merge.post import blur_sharpen, degrade_frame, motion_blur, reduce_colors, to_uint8
from swaplib.merge.settings import MergeSettings
from swaplib.model import autocast, swap_faces
from swaplib.tables.faces import landmarks_array, matrices_array
from swaplib.xseg.apply import masks_for


@dataclass
class Face:
    """One destination face with the model's prediction: everything merge_frame needs."""

    face_id: str
    matrix: np.ndarray  # (2, 3) frame -> crop at the model's resolution
    landmarks: np.ndarray  # (68, 2) in frame coordinates
    crop: np.ndarray  # (R, R, 3) uint8 destination face
    predicted: np.ndarray  # (R, R, 3) uint8 the model's face
    prd_mask: np.ndarray  # (R, R) float
    dst_mask: np.ndarray | None = None  # (R, R) float, when the mask kind needs it
    xseg_dst: np.ndarray | None = None  # (R, R) float, the segmentation model's on the crop, when needed
    xseg_prd: np.ndarray | None = None  # (R, R) float, the segmentation model's on the prediction, when needed
    motion: tuple[float, float] | None = None  # face movement, frame px per frame
    upscale: int = 1  # the crop's size over the model's resolution (super resolution: enhance.SCALE)


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
    mask: np.ndarray | None = None  # uint8 (h, w) of the image: where the swapped faces cover it (DFL's merged mask)


def merge_frame(frame: np.ndarray, faces: list[Face], settings: MergeSettings,
                enhancer: FaceEnhancer | None = None) -> FrameResult:
    """Merge `faces` into `frame`. In mode raw-predict the image is the first usable face's prediction.
    enhancer: the super resolution network, where settings.super_resolution_power asks for it."""
    failures, notes, layers = [], [], []
    for face in faces if settings.mode != "original" else []:
        try:
            _check_face(face)
            if settings.super_resolution_power:
                face = enhanced(face, frame, settings.super_resolution_power, enhancer)
            if settings.mode == "raw-predict":
                return FrameResult(face.predicted, 1, failures, notes, _crop_mask(face))
            layers.append(_face_layer(frame, face, settings, notes))
        except FaceFailed as reason:
            failures.append((face.face_id, str(reason)))
    if not layers:
        return FrameResult(frame, 0, failures, notes)
    out = degrade_frame(frame, settings)
    for layer in layers:  # only the faces' regions are touched
        y0, y1, x0, x1 = layer.box
        out[y0:y1, x0:x1] = _blend(out[y0:y1, x0:x1], layer.pixels, layer.alpha)
    if settings.color_degrade:
        out = out.astype(np.float32)
        out = to_uint8(out + (reduce_colors(out) - out) * (settings.color_degrade / 100))
    return FrameResult(out, len(layers), failures, notes, _frame_mask(frame.shape[:2], layers))


def _frame_mask(shape: tuple[int, int], layers: list[_Layer]) -> np.ndarray:
    """Where the faces cover the frame, 0..255: the largest alpha of any face at each pixel."""
    mask = np.zeros(shape, np.float32)
    for layer in layers:
        y0, y1, x0, x1 = layer.box
        np.maximum(mask[y0:y1, x0:x1], layer.alpha, out=mask[y0:y1, x0:x1])
    return to_uint8(mask * 255)


def _crop_mask(face: Face) -> np.ndarray:
    """The predicted face's own mask at the size of its prediction (raw-predict's picture)."""
    size = face.predicted.shape[1], face.predicted.shape[0]
    return to_uint8(cv2.resize(face.prd_mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) * 255)


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
    size = face.crop.shape[0]
    matrix = _scaled(face.matrix, s.face_scale, size)
    if s.mode == "raw-rgb":  # the whole predicted square, unmasked and unchanged
        box, roi_matrix = _frame_box(matrix, (0, 0, size, size), frame.shape)
        shape = (box[1] - box[0], box[3] - box[2])
        alpha = warp_to_frame(np.ones((size, size), np.float32), roi_matrix, shape)
        return _Layer(box, warp_to_frame(face.predicted, roi_matrix, shape), alpha)

    big, mask = _face_mask(face, s)
    ys, xs = np.nonzero(big)  # the mask is warped into the frame from SUBRES times the model's resolution
    scale = masks.SUBRES // face.upscale
    box, big_matrix = _frame_box(matrix * scale, (xs.min() - 1, ys.min() - 1, xs.max() + 2, ys.max() + 2),
                                 frame.shape)
    roi_matrix = big_matrix / scale
    y0, y1, x0, x1 = box
    region = frame[y0:y1, x0:x1]
    area = mask > 0
    predicted = face.predicted
    if not s.mode.startswith("seamless"):
        predicted = transfer(s.color_transfer, predicted, face.crop, area)
    if s.mode == "hist-match":
        # masked_hist_match: statistics inside the mask, else over the whole crop (as DeepFaceLab's)
        predicted = hist_match(predicted, face.crop, area if s.masked_hist_match else None, s.hist_match_threshold)

    alpha = np.clip(warp_to_frame(big, big_matrix, region.shape), 0, 1)
    alpha[alpha < masks.NOISE] = 0
    if not alpha.any():
        raise FaceFailed("face outside the frame (its mask does not reach into the frame)")
    pixels = warp_to_frame(predicted, roi_matrix, region.shape)
    if s.mode.startswith("seamless"):
        pixels = _seamless(pixels, region, alpha, face.face_id, notes)
    if s.needs_crop_pass:
        pixels = _crop_pass(face, s, region, pixels, alpha, roi_matrix, area)
    return _Layer(box, pixels, alpha)


def _face_mask(face: Face, s: MergeSettings) -> tuple[np.ndarray, np.ndarray]:
    """The blend mask eroded and blurred (DeepFaceLab's modifiers) at SUBRES times the model's
    resolution, and scaled to the crop, where the colour statistics are taken inside it."""
    size = face.crop.shape[0]
    hull = masks.hull_masks(transform_points(face.landmarks, face.matrix)[None], size) if s.mask == "dst" else None
    given = {name: None if mask is None else mask[None] for name, mask in
             (("dst", face.dst_mask), ("xseg_dst", face.xseg_dst), ("xseg_prd", face.xseg_prd))}
    mask = masks.build(s.mask, hull=hull, prd=face.prd_mask[None], **given)[0]
    big = masks.erode_and_blur(mask, erode=s.erode_mask_modifier, blur=s.blur_mask_modifier,
                               scale=masks.SUBRES // face.upscale)
    if not big.any():
        raise FaceFailed(f"empty mask ({s.mask!r} after erode_mask_modifier {s.erode_mask_modifier}, "
                         f"blur_mask_modifier {s.blur_mask_modifier})")
    return big, cv2.resize(big, (size, size), interpolation=cv2.INTER_LINEAR)


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
        crop = hist_match(crop, face.crop, None, s.hist_match_threshold)  # the whole crop, as DeepFaceLab's
    if s.motion_blur and face.motion is not None:
        crop = motion_blur(crop, roi_matrix[:, :2] @ np.asarray(face.motion), s.motion_blur)
    if s.sharpen != "none" and s.sharpen_amount:
        crop = blur_sharpen(crop, s.sharpen, s.sharpen_amount)
    return warp_to_frame(crop, roi_matrix, region.shape)


def frame_faces(image: np.ndarray, rows: pd.DataFrame, resolution: int, motion: dict | None = None) -> list[Face]:
    """The faces of one frame (its rows of the face table), cut out at the model's resolution."""
    scale = resolution / rows["size"].to_numpy(np.float64)
    matrices = matrices_array(rows) * scale[:, None, None]
    return [
        Face(face_id=face_id, matrix=matrix, landmarks=landmarks, crop=_crop(image, matrix, resolution),
             predicted=None, prd_mask=None, motion=(motion or {}).get(face_id))
        for face_id, matrix, landmarks in zip(rows["face_id"], matrices, landmarks_array(rows))
    ]


def predict_faces(model, faces: list[Face], *, dst_masks: bool, device, batch_size: int = 32, xseg=None,
                  xseg_prd: bool = False) -> None:
    """Fill in each face's prediction and masks; one model pass over all of them, in batches.
    xseg: the segmentation model, for the xseg-dst masks (and xseg-prd ones where `xseg_prd`)."""
    if not faces:
        return
    crops = np.stack([face.crop for face in faces])
    predicted, prd = swap_faces(model, crops, device=device, batch_size=batch_size)
    dst = _dst_decoder_masks(model, crops, device, batch_size) if dst_masks else None
    on_dst = masks_for(xseg, crops, batch_size) if xseg is not None else None
    on_prd = masks_for(xseg, predicted, batch_size) if xseg is not None and xseg_prd else None
    for i, face in enumerate(faces):
        face.predicted, face.prd_mask = predicted[i], prd[i]
        face.dst_mask = None if dst is None else dst[i]
        face.xseg_dst = None if on_dst is None else on_dst[i]
        face.xseg_prd = None if on_prd is None else on_prd[i]


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


def _crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    if not np.isfinite(matrix).all():
        return np.zeros((size, size, 3), np.uint8)  # merge_frame reports the bad transform
    return warp_to_face(image, matrix, size)
