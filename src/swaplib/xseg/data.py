"""The segmentation training data: every kept face's crop and label mask in memory, and batches.

Batch i is a function of (seed, i) alone: the same faces, flips, warps and occluders whenever it is
drawn, so a resumed training sees what an uninterrupted one would.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image, shrink
from swaplib.tables.faces import read_faces
from swaplib.xseg.labels import face_labels
from swaplib.xseg.occlude import occlude

log = logging.getLogger(__name__)


@dataclass
class XSegData:
    images: np.ndarray  # (N, R, R, 3) uint8 BGR crops
    masks: np.ndarray  # (N, R, R) float32 0..1 labels
    ids: list[str]  # "{video}/{face_id}"
    labelled: np.ndarray  # (N,) bool: the label came from a user's file

    def __len__(self) -> int:
        return len(self.ids)


def read_crops(faces_dir: str | Path, files, resolution: int) -> np.ndarray:
    """(N, R, R, 3) uint8: the crops named in `files`, scaled to the model's resolution."""
    crops = [shrink(read_image(Path(faces_dir) / name), resolution) for name in files]
    return np.stack(crops) if crops else np.zeros((0, resolution, resolution, 3), np.uint8)


def load_video(table: str | Path, faces_dir: str | Path, labels_dir: str | Path | None, resolution: int,
               name: str) -> XSegData:
    """A video's kept faces (faces.parquet and the crops folder) with their labels."""
    faces = read_faces(table)
    masks, labelled = face_labels(faces, resolution, labels_dir)
    images = read_crops(faces_dir, faces["file"], resolution)
    return XSegData(images, masks, [f"{name}/{face_id}" for face_id in faces["face_id"]], labelled)


def labelled_only(part: XSegData, name: str) -> XSegData:
    """A video the user labelled learns from its labelled faces alone: its other faces' hulls would
    teach the occluder the user outlined (a microphone, a hand that stays) as face on every other
    frame, outvoting the few outlines."""
    keep = np.flatnonzero(part.labelled)
    if not len(keep) or len(keep) == len(part):
        return part
    log.info("xseg data: %s: %d labelled faces; its %d unlabelled faces are left out (their hulls would "
             "contradict the outlines)", name, len(keep), len(part) - len(keep))
    return XSegData(part.images[keep], part.masks[keep], [part.ids[i] for i in keep], part.labelled[keep])


def load_sources(sources: list[dict], resolution: int) -> XSegData:
    """All videos' faces together. sources: {"name", "table", "faces", "labels" (a folder or None)}."""
    parts = [labelled_only(load_video(s["table"], s["faces"], s.get("labels"), resolution, s["name"]), s["name"])
             for s in sources]
    if not parts or not sum(len(p) for p in parts):
        raise SwaplibError("xseg: no kept faces to learn from in " + (", ".join(s["name"] for s in sources) or
                           "no video"))
    data = XSegData(np.concatenate([p.images for p in parts]), np.concatenate([p.masks for p in parts]),
                    [i for p in parts for i in p.ids], np.concatenate([p.labelled for p in parts]))
    log.info("xseg data: %d faces from %d video(s), %d with the user's labels", len(data), len(parts),
             int(data.labelled.sum()))
    return data


def _warp(rng, size: int) -> np.ndarray:
    """A random similarity: rotate ±12°, scale ±10 %, shift ±6 %, about the centre."""
    matrix = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), rng.uniform(-12, 12), rng.uniform(0.9, 1.1))
    matrix[:, 2] += rng.uniform(-0.06, 0.06, 2) * size
    return matrix


def sample(data: XSegData, i: int, rng: np.random.Generator, occlusion: float) -> tuple[np.ndarray, np.ndarray]:
    """Face i augmented: (image (R, R, 3) float32 0..1, mask (R, R) float32)."""
    size = data.images.shape[1]
    image = data.images[i].astype(np.float32) / 255
    mask = data.masks[i]
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    matrix = _warp(rng, size)
    image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    mask = cv2.warpAffine(np.ascontiguousarray(mask), matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if rng.random() < occlusion:
        donor = data.images[int(rng.integers(len(data)))].astype(np.float32) / 255 if len(data) > 1 else None
        image, mask = occlude(image, mask, rng, donor)
    # light and camera: contrast, brightness, per-channel colour, now and then a blur
    image = (image - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.15, 0.15)
    image = image * rng.uniform(0.9, 1.1, 3)
    if rng.random() < 0.2:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
    return np.clip(image, 0, 1).astype(np.float32), mask


def batch(data: XSegData, i: int, seed: int, size: int, occlusion: float,
          labelled_share: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Batch i: (images (B, 3, R, R) float32, masks (B, 1, R, R) float32), from (seed, i) alone.

    labelled_share: where some faces carry the user's labels, each sample is one of them with this
    probability (a few dozen outlines among thousands of hulls would otherwise be rarely seen)."""
    rng = np.random.default_rng([seed, i])
    picks = rng.integers(len(data), size=size)
    labelled = np.flatnonzero(data.labelled)
    if labelled_share and len(labelled):
        chosen = rng.random(size) < labelled_share
        picks[chosen] = labelled[rng.integers(len(labelled), size=int(chosen.sum()))]
    pairs = [sample(data, int(k), rng, occlusion) for k in picks]
    images = np.stack([p[0] for p in pairs]).transpose(0, 3, 1, 2)
    masks = np.stack([p[1] for p in pairs])[:, None]
    return np.ascontiguousarray(images), np.ascontiguousarray(masks)
