"""What each face looks like to the measuring tools: landmarks, identity embedding and detail, in the
destination frame and at the same place in the merged frame.

- landmarks: dlib's 68-point shape predictor, started from the face table's detector box, in both
  frames (so an untouched face measures exactly as the destination, whichever landmarker and
  smoothing the faces stage used);
- identity: dlib's face-embedding ResNet (swaplib.extract.identity) on the merged face, compared
  with every identity of the gallery (the mean embedding of each face set, and gallery photos);
- detail: the variance of the Laplacian inside the face's hull, merged over destination; and its limit,
  the same ratio for the destination face passed through the model's R-px crop (the merge's own
  alignment) and back: what a model of that resolution can give back at best.

The identities are embedded from the full-resolution frames with the landmarks stored in the face
tables: nothing is detected twice, and they do not depend on `extract.size`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from swaplib.core.errors import SwaplibError
from swaplib.core.images import frame_files, read_image
from swaplib.core.progress import Progress
from swaplib.extract.align import face_matrix, hull_mask, warp_to_face, warp_to_frame
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.detect.base import box_iou, to_rgb_uint8
from swaplib.extract.detect.dlib_backends import SHAPE_PREDICTOR, DlibLandmarker
from swaplib.extract.identity import (
    CHIP_PADDING,
    CHIP_SIZE,
    EMBEDDING_MODEL,
    FaceEmbedder,
    distances,
    reference_embedding,
)
from swaplib.merge.frame import Face, frame_faces
from swaplib.tables.faces import landmarks_array, read_faces
from swaplib.tables.faceset import selected_faces

log = logging.getLogger(__name__)

CHANGED = 1.0  # mean |merged - destination| (0..255) inside a face's hull above which it was swapped
MATCH_IOU = 0.3  # boxes in consecutive frames overlapping this much are the same face
SOURCE, DESTINATION = "source", "destination"  # the pair's two identities in every gallery
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")

MODELS = {
    "landmarks": f"dlib {SHAPE_PREDICTOR} (68 iBUG points), started from the face table's box",
    "embedding": f"dlib {EMBEDDING_MODEL} (128-D, {CHIP_SIZE} px chips, padding {CHIP_PADDING})",
    "sharpness": "variance of the Laplacian of the grey image inside the face hull, merged / destination",
    "sharpness_limit": "the same, for the destination face cut out at the model's resolution with the merge's "
                       "alignment and warped back, as the merge does (Lanczos down, cubic up)",
}


@dataclass
class Identity:
    """A person as the recogniser sees them: the mean embedding, and the faces it was made of."""

    name: str
    mean: np.ndarray  # (128,)
    embeddings: np.ndarray  # (N, 128); one row for a photo

    def leave_one_out(self) -> np.ndarray:
        """(N, 128): for each face, the mean of the others (so a face is not measured against itself)."""
        n = len(self.embeddings)
        if n < 2:
            return np.repeat(self.mean[None], n, axis=0)
        return (n * self.mean[None] - self.embeddings) / (n - 1)


def _boxes(faces: pd.DataFrame) -> np.ndarray:
    return faces[["box_x0", "box_y0", "box_x1", "box_y1"]].to_numpy(dtype=np.float64)


def faceset_identity(name: str, faceset_path, frames_dir, embedder: FaceEmbedder, max_faces: int = 64) -> Identity:
    """The identity of a face set's selected faces (at most max_faces, spread over the clip; 0 = all)."""
    faces = selected_faces(faceset_path).sort_values(["frame", "index"])
    if faces.empty:
        raise SwaplibError(f"{faceset_path}: the face set selects no face, so it has no identity to measure against")
    if 0 < max_faces < len(faces):
        faces = faces.iloc[np.linspace(0, len(faces) - 1, max_faces).round().astype(int)]
    paths = dict(frame_files(frames_dir))
    embeddings = []
    for frame, rows in faces.groupby("frame"):
        if frame not in paths:
            raise SwaplibError(f"{frames_dir}: frame {frame} of face set {faceset_path} is missing")
        embeddings.append(embedder.embed(to_rgb_uint8(read_image(paths[frame])), landmarks_array(rows)))
    embeddings = np.concatenate(embeddings)
    return Identity(name, embeddings.mean(axis=0), embeddings)


def photo_identities(folder, embedder: FaceEmbedder) -> list[Identity]:
    """One identity per photo of a gallery folder (named by its file name; one face per photo)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SwaplibError(f"{folder}: the quality gallery is not a folder of photos")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise SwaplibError(f"{folder}: the quality gallery holds no photo ({', '.join(PHOTO_SUFFIXES)})")
    detector = make_detector("dlib", upsample=1)
    found = [reference_embedding(photo, detector, embedder) for photo in photos]  # names the photo on a bad one
    return [Identity(photo.stem, vector, vector[None]) for photo, vector in zip(photos, found)]


def inter_ocular(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the outer eye corners (points 36 and 45; 300-W's normalisation), per face."""
    return np.linalg.norm(landmarks[..., 45, :] - landmarks[..., 36, :], axis=-1)


def _point_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean distance between corresponding landmarks, per face."""
    return np.linalg.norm(a - b, axis=-1).mean(axis=-1)


def _detail(image: np.ndarray, inner: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image inside `inner` (a mask of the image's size)."""
    return float(_laplacian(image)[inner].var()) if inner.any() else float("nan")


def _ratio(detail: float, reference: float) -> float:
    return detail / max(reference, 1e-6)


def _region(inner: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding box of `inner` with a 1 px margin (clipped to the frame): the Laplacian there has the
    values of the whole frame's inside `inner` (its kernel is 3x3), at the cost of the face only."""
    ys, xs = np.nonzero(inner)
    if not len(ys):
        return None
    height, width = inner.shape
    return slice(max(ys.min() - 1, 0), min(ys.max() + 2, height)), slice(max(xs.min() - 1, 0), min(xs.max() + 2, width))


def _through_crop(region: np.ndarray, face: Face, top_left: tuple[int, int]) -> np.ndarray:
    """The frame region as the model's crop of the face can give it back: the crop warped back into the
    region, the region itself where the crop does not reach (the merge leaves it there too)."""
    matrix = face.matrix.copy()
    matrix[:, 2] += face.matrix[:, :2] @ np.asarray(top_left, np.float64)  # region -> crop
    back = warp_to_frame(face.crop, matrix, region.shape)
    reach = warp_to_frame(np.ones(face.crop.shape[:2], np.float32), matrix, region.shape) > 0.999
    return np.where(reach[..., None], back, region)


def _inner(hull: np.ndarray, iod: float) -> np.ndarray:
    """The hull less a band along its edge (a quarter of the inter-ocular distance): the merge's seam
    there is an edge of its own, which would count as detail."""
    side = max(3, int(round(iod / 4)) | 1)
    return cv2.erode(hull.astype(np.uint8), np.ones((side, side), np.uint8)).astype(bool)


def _laplacian(image: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32), cv2.CV_32F)


def _read_pair(destination_path: Path, merged_path: Path) -> tuple[np.ndarray, np.ndarray]:
    destination, merged = read_image(destination_path), read_image(merged_path)
    if destination.shape != merged.shape:
        raise SwaplibError(f"{merged_path}: size {merged.shape[1::-1]} differs from {destination_path}")
    return destination, merged


def _check_frames(frames: dict, merged: dict, faces: pd.DataFrame, frames_dir, merged_dir, faces_table) -> None:
    if set(frames) != set(merged):
        odd = sorted(set(frames) ^ set(merged))[:5]
        raise SwaplibError(f"{merged_dir}: merged frames do not match the destination frames in {frames_dir} "
                           f"(frames {odd} are in only one of them)")
    if faces.empty:
        raise SwaplibError(f"{faces_table}: no face to measure (the faces stage kept none)")
    unknown = sorted(set(faces["frame"]) - set(frames))[:5]
    if unknown:
        raise SwaplibError(f"{faces_table}: faces of frames {unknown} that {frames_dir} does not have")


def _resolution_needed(destination: np.ndarray, row: pd.DataFrame, inner: np.ndarray, needed: float) -> float:
    """The smallest of LADDER's model resolutions whose crop of this face, pasted back, keeps `needed` of
    the destination's detail inside `inner` (nan: none does)."""
    region = _region(inner)
    if region is None:
        return float("nan")
    top_left = (region[1].start, region[0].start)
    part, inner = destination[region], inner[region]
    reference = _detail(part, inner)
    for resolution in LADDER:
        crop = frame_faces(destination, row, resolution)[0]
        if not np.isfinite(crop.matrix).all():
            return float("nan")
        if _ratio(_detail(_through_crop(part, crop, top_left), inner), reference) >= needed:
            return float(resolution)
    return float("nan")


LADDER = (64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512)  # model resolutions resolution_needed tries


def _sharpness(destination: np.ndarray, swapped: np.ndarray, inner: np.ndarray,
               crop: Face | None) -> tuple[float, float]:
    """(sharpness, sharpness_limit) of one face: the detail inside `inner` of the merged frame, and of the
    destination through the model's crop (None: resolution not known, limit 1), over the destination's."""
    region = _region(inner)
    if region is None:
        return float("nan"), float("nan")
    destination, swapped, inner = destination[region], swapped[region], inner[region]
    reference = _detail(destination, inner)
    if crop is None:
        limit = 1.0
    elif np.isfinite(crop.matrix).all():
        limit = _ratio(_detail(_through_crop(destination, crop, (region[1].start, region[0].start)), inner), reference)
    else:
        limit = float("nan")  # a transform the merge cannot use either
    return _ratio(_detail(swapped, inner), reference), limit


PASTE_SIZE = 1024  # the source face's crop on its way to the destination: larger than any face here


@dataclass(frozen=True)
class TrueSwap:
    """What a true swap of this source shows on the destination: its detail over the destination's,
    and how far the recogniser finds it from the source (see pasted_source)."""

    sharpness: float
    id_distance: float


def pasted_source(frames_dir, faces_table, source_frames, source_faceset, embedder: FaceEmbedder,
                  source: Identity, max_faces: int = 64) -> TrueSwap | None:
    """A true swap, as near as real frames give one: the source's own faces (of its face set, spread over
    the clip), each aligned onto a destination face by their landmarks and pasted inside its hull, then
    measured as the swap is: the median of their detail over the destination's, and the mean distance of
    their embeddings to the source identity. A source filmed softer than the destination shows less
    detail (on the example selfie pair 0.15): no model trained on it is sharper without super
    resolution. None where there is nothing to paste."""
    destination = read_faces(faces_table).sort_values(["frame", "index"]).reset_index(drop=True)
    donors = selected_faces(source_faceset).sort_values(["frame", "index"]).reset_index(drop=True)
    if destination.empty or donors.empty:
        return None
    picks = destination.iloc[np.unique(np.linspace(0, len(destination) - 1, max_faces).round().astype(int))]
    frames, source_paths = dict(frame_files(frames_dir)), dict(frame_files(source_frames))
    landmarker, boxes = DlibLandmarker(), _boxes(picks)
    ratios, distances = [], []
    for k, ((_, row), points) in enumerate(zip(picks.iterrows(), landmarks_array(picks).astype(np.float64))):
        donor = donors.iloc[[k * len(donors) // len(picks)]]
        frame = read_image(frames[row["frame"]])
        face = warp_to_face(read_image(source_paths[int(donor["frame"].iloc[0])]),
                            face_matrix(landmarks_array(donor)[0], PASTE_SIZE), PASTE_SIZE)
        hull = hull_mask(points, frame.shape[:2])
        pasted = (warp_to_frame(face, face_matrix(points, PASTE_SIZE), frame.shape) * hull[..., None]
                  + frame * (1 - hull[..., None])).astype(np.uint8)
        inner = _inner(hull > 0.5, float(inter_ocular(points)))
        ratios.append(_ratio(_detail(pasted, inner), _detail(frame, inner)))
        rgb = to_rgb_uint8(pasted)
        fitted = landmarker.fit(rgb, boxes[[k]]).astype(np.float64)
        distances.append(float(np.linalg.norm(embedder.embed(rgb, fitted)[0] - source.mean)))
    return TrueSwap(float(np.nanmedian(ratios)), float(np.mean(distances)))


def measure_faces(frames_dir, faces_table, merged_dir, gallery: list[Identity], embedder: FaceEmbedder,
                  resolution: int | None = None, detail_needed: float = 0.5, photos: bool = False) -> pd.DataFrame:
    """One row per destination face: was it swapped, its distance to each identity of the gallery (which
    holds `source` and `destination`), the nearest one, its detail ratio and the ratio a model of
    `resolution` px can reach at best (None: not known, 1), its width and the model resolution that keeps
    `detail_needed` of its detail, landmark error and jitter (`photos`: frames that are separate photos,
    with no motion between them, so no jitter either: empty)."""
    frame_paths, merged = dict(frame_files(frames_dir)), dict(frame_files(merged_dir))
    faces = read_faces(faces_table).sort_values(["frame", "index"]).reset_index(drop=True)
    _check_frames(frame_paths, merged, faces, frames_dir, merged_dir, faces_table)
    landmarker = DlibLandmarker()
    boxes = _boxes(faces)
    before, after, change, sharpness, limit, needed, vectors = [], [], [], [], [], [], []
    with Progress(faces["frame"].nunique(), "frames measured", log=log) as progress:
        for frame, rows in faces.groupby("frame", sort=False):
            destination, swapped = _read_pair(frame_paths[frame], merged[frame])
            new_rgb = to_rgb_uint8(swapped)
            frame_boxes = boxes[rows.index]
            dst_lm = landmarker.fit(to_rgb_uint8(destination), frame_boxes).astype(np.float64)
            new_lm = landmarker.fit(new_rgb, frame_boxes).astype(np.float64)
            diff = cv2.absdiff(destination, swapped).mean(axis=2)
            # Cut with the merge's own matrices, one crop per row, in the order of the fitted landmarks.
            crops = frame_faces(destination, rows, resolution) if resolution else [None] * len(rows)
            for k, (points, crop) in enumerate(zip(dst_lm, crops, strict=True)):
                hull = hull_mask(points, diff.shape) > 0.5
                change.append(float(diff[hull].mean()) if hull.any() else 0.0)
                inner = _inner(hull, inter_ocular(points))
                detail, best = _sharpness(destination, swapped, inner, crop)
                sharpness.append(detail)
                limit.append(best)
                needed.append(_resolution_needed(destination, rows.iloc[[k]], inner, detail_needed))
            before.append(dst_lm)
            after.append(new_lm)
            vectors.append(embedder.embed(new_rgb, new_lm))
            progress.update()
    dst_lm, new_lm, vectors = np.concatenate(before), np.concatenate(after), np.concatenate(vectors)
    iod = np.maximum(inter_ocular(dst_lm), 1.0)
    table = pd.DataFrame({
        "frame": faces["frame"], "index": faces["index"], "face_id": faces["face_id"],
        "change": change, "sharpness": sharpness, "sharpness_limit": limit,
        "relative_sharpness": np.asarray(sharpness) / np.maximum(limit, 1e-6),
        "face_width": np.linalg.norm(dst_lm[:, 16] - dst_lm[:, 0], axis=-1), "resolution_needed": needed,
        **identity_columns(vectors, gallery),
        "landmark_error": _point_distance(new_lm, dst_lm) / iod,
    })
    table["swapped"] = table["change"] > CHANGED
    if photos:
        return table.assign(jitter=np.nan, destination_motion=np.nan)
    return table.assign(**_jitter(faces["frame"].to_numpy(), boxes, dst_lm, new_lm, iod))


def identity_columns(vectors: np.ndarray, gallery: list[Identity], means: dict | None = None) -> dict:
    """dist_source, dist_destination, dist_nearest_other and nearest (the gallery's name) per face.

    means: {name: (N, 128)} a per-face mean in place of an identity's mean (the ceiling's leave-one-out)."""
    means = means or {}
    table = {person.name: np.linalg.norm(vectors - means[person.name], axis=1) if person.name in means
             else distances(vectors, person.mean) for person in gallery}
    names = list(table)
    stacked = np.stack([table[name] for name in names], axis=1)
    others = [i for i, name in enumerate(names) if name not in (SOURCE, DESTINATION)]
    return {
        "dist_source": table[SOURCE], "dist_destination": table[DESTINATION],
        "dist_nearest_other": stacked[:, others].min(axis=1) if others else np.full(len(vectors), np.nan),
        "nearest": [names[i] for i in stacked.argmin(axis=1)],
    }


def _jitter(frames: np.ndarray, boxes: np.ndarray, dst_lm: np.ndarray, new_lm: np.ndarray, iod: np.ndarray) -> dict:
    """Per face, against the same face in the previous frame (best box overlap), over the inter-ocular
    distance: `jitter`, the motion of (merged - destination) landmarks, and `destination_motion`."""
    previous = np.full(len(frames), -1)
    for i, frame in enumerate(frames):
        candidates = np.flatnonzero(frames == frame - 1)
        if len(candidates):
            overlap = box_iou(boxes[i], boxes[candidates])[0]
            if overlap.max() >= MATCH_IOU:
                previous[i] = candidates[overlap.argmax()]
    has = previous >= 0
    jitter, motion = np.full(len(frames), np.nan), np.full(len(frames), np.nan)
    offset = new_lm - dst_lm
    jitter[has] = _point_distance(offset[has], offset[previous[has]]) / iod[has]
    motion[has] = _point_distance(dst_lm[has], dst_lm[previous[has]]) / iod[has]
    return {"jitter": jitter, "destination_motion": motion}
