"""What the segmentation model learns from: one mask per kept face, from later sources winning.

1. the landmark hull (every face has one: swaplib.extract.align.hull_mask in the crop);
2. the user's outlines in `labels/{video}/`, drawn with LabelMe (JSON polygons) or as PNG masks:

       {face_id}.json / .png   on the aligned crop (e.g. 000012_0.json): that face only
       {frame}.json / .png     on the frame (e.g. 000012.json or 12.json): every kept face of that frame,
                               mapped into each crop with its alignment matrix

   A face's crop file wins over its frame's file. In a LabelMe file, shapes are drawn in file order:
   a polygon (or rectangle) of class `face` adds, of any other class (`occlusion`, `hand`, `hair`,
   ...) subtracts. A file with no `face` shape starts from the hull (outline just the hand, and the
   rest stays the hull); one with a `face` shape starts empty. A PNG mask is the mask itself
   (white = face). A file that cannot be read as this stops with its name and the reason.

Masks are float32 (R, R) 0..1 at the model's resolution R; crop pixels scale from the crop's own
size (the face table's `size`) with pixel centres kept (as cv2.resize does).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from swaplib.core.errors import SwaplibError
from swaplib.extract.align import hull_mask
from swaplib.sort.scores import crop_landmarks
from swaplib.tables.faces import matrices_array

log = logging.getLogger(__name__)

FACE_CLASS = "face"  # LabelMe label that adds; every other label subtracts
LABEL_SUFFIXES = (".json", ".png")
_FRAME_STEM = re.compile(r"^\d+$")
_SUBPIXEL = 4  # cv2.fillPoly shift bits: polygons are drawn at 1/16 px


def label_files(folder: str | Path | None) -> list[Path]:
    """The label files of a video's folder (none when it does not exist), sorted."""
    folder = Path(folder) if folder else None
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in LABEL_SUFFIXES and not p.name.startswith("."))


def to_resolution(matrix: np.ndarray, crop_px: float, resolution: int) -> np.ndarray:
    """A (2, 3) affine into crop pixels at crop_px, followed by the scaling to `resolution` px
    (pixel centres kept: x' = (x + 0.5) k - 0.5)."""
    k = resolution / float(crop_px)
    scaled = np.asarray(matrix, dtype=np.float64) * k
    scaled[:, 2] += 0.5 * k - 0.5
    return scaled


def drawn_frame_to_crop(matrix: np.ndarray, frame_width: float, drawn_width: float) -> np.ndarray:
    """A face's (2, 3) frame -> crop affine for points on its frame drawn `drawn_width` px wide (a
    frame label file's image, maybe at another size than the frame)."""
    scaled = np.array(matrix, dtype=np.float64)
    scaled[:, :2] *= frame_width / float(drawn_width)
    return scaled


def scale_points(points: np.ndarray, crop_px: float, resolution: int) -> np.ndarray:
    k = resolution / float(crop_px)
    return (np.asarray(points, dtype=np.float64) + 0.5) * k - 0.5


def hull_labels(faces: pd.DataFrame, resolution: int) -> np.ndarray:
    """(N, R, R) float32: each face's landmark hull in its crop, at the model's resolution."""
    points = crop_landmarks(faces)
    sizes = faces["size"].to_numpy(dtype=np.float64)
    masks = [hull_mask(scale_points(p, s, resolution), (resolution, resolution)) for p, s in zip(points, sizes)]
    return np.stack(masks) if masks else np.zeros((0, resolution, resolution), np.float32)


# --------------------------------------------------------------------------- LabelMe


def read_labelme(path: Path) -> tuple[list[tuple[str, np.ndarray]], tuple[int, int] | None]:
    """[(class, (K, 2) polygon points in the labelled image's pixels)], (width, height) of that image
    when the file says. SwaplibError naming the file, the line and what is wrong with it."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SwaplibError(f"{path}: not a readable LabelMe JSON file ({e})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise SwaplibError(f"{path}: not a readable LabelMe JSON file: {e.msg} at line {e.lineno}, "
                           f"column {e.colno}") from None
    return labelme_shapes(doc, path, _shape_lines(text))


def labelme_shapes(doc, where: str | Path,
                   lines: list[int] | None = None) -> tuple[list[tuple[str, np.ndarray]], tuple[int, int] | None]:
    """read_labelme's result from a parsed LabelMe document; `where` names it in errors, and
    `lines` (the line each shape starts on, where known) points into its file."""
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        raise SwaplibError(f"{where}: not a LabelMe file (no 'shapes' list)")
    size = None
    if doc.get("imageWidth") is not None or doc.get("imageHeight") is not None:
        w, h = doc.get("imageWidth"), doc.get("imageHeight")
        if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
            raise SwaplibError(f"{where}: imageWidth/imageHeight must be positive integers, got {w!r}/{h!r}")
        size = (w, h)
    shapes = []
    for n, shape in enumerate(doc["shapes"], 1):
        line = f" (line {lines[n - 1]})" if lines and n <= len(lines) else ""
        if not isinstance(shape, dict) or not isinstance(shape.get("label"), str) or not shape["label"].strip():
            raise SwaplibError(f"{where}: shape {n} has no label (face, occlusion, hand, ...){line}")
        fail = lambda why, n=n, label=shape["label"], line=line: SwaplibError(
            f"{where}: shape {n} ({label}): {why}{line}")
        if shape.get("points") is None:
            raise fail("has no points")
        points = _points(shape["points"])
        if points is None:
            raise fail("points are not a list of [x, y] numbers")
        kind = shape.get("shape_type") or "polygon"
        if kind == "rectangle":
            if len(points) != 2:
                raise fail(f"a rectangle has 2 points, not {len(points)}")
            (x0, y0), (x1, y1) = points
            points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        elif kind != "polygon":
            raise fail(f"shape_type {kind!r} is not an area; draw polygons or rectangles")
        if len(points) < 3:
            raise fail(f"a polygon needs at least 3 points, it has {len(points)}")
        shapes.append((shape["label"].strip().lower(), points))
    return shapes, size


def _points(given) -> np.ndarray | None:
    """(K, 2) float64 of a list of [x, y] numbers (JSON numbers only: not text, not true/false);
    None where `given` is not one."""
    if not isinstance(given, list) or not all(
            isinstance(point, list) and len(point) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point) for point in given):
        return None
    points = np.array(given, dtype=np.float64).reshape(-1, 2)
    return points if np.isfinite(points).all() else None


def _shape_lines(text: str) -> list[int]:
    """The line each element of the document's "shapes" list starts on (text: valid JSON), found by
    walking the top-level object with the JSON decoder itself. [] where the document is no object."""
    decoder, blank = json.JSONDecoder(), re.compile(r"[ \t\n\r]*")
    skip = lambda i: blank.match(text, i).end()
    starts: list[int] = []
    i = skip(0)
    if not text.startswith("{", i):
        return []
    i = skip(i + 1)
    while text[i] != "}":
        key, i = decoder.raw_decode(text, i)
        i = skip(skip(i) + 1)  # past the colon
        if key == "shapes" and text[i] == "[":  # a repeated key: the last one counts, as json.loads does
            starts, i = [], skip(i + 1)
            while text[i] != "]":
                starts.append(text.count("\n", 0, i) + 1)
                _, i = decoder.raw_decode(text, i)
                i = skip(i)
                i = skip(i + 1) if text[i] == "," else i
            i += 1
        else:
            _, i = decoder.raw_decode(text, i)
        i = skip(i)
        i = skip(i + 1) if text[i] == "," else i
    return starts


def draw_shapes(base: np.ndarray, shapes: list[tuple[str, np.ndarray]], to_mask) -> np.ndarray:
    """`base` with each shape filled in order: 1 for the face class, 0 for any other. to_mask maps
    a shape's points into the mask's pixels."""
    mask = base.copy()
    for label, points in shapes:
        pts = np.round(to_mask(points) * (1 << _SUBPIXEL)).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1.0 if label == FACE_CLASS else 0.0, lineType=cv2.LINE_8, shift=_SUBPIXEL)
    return mask


def _read_png_mask(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise SwaplibError(f"{path}: not a readable PNG mask")
    return mask.astype(np.float32) / 255.0


# --------------------------------------------------------------------------- per face


def user_labels(folder: str | Path | None, faces: pd.DataFrame, hull: np.ndarray,
                resolution: int) -> dict[str, np.ndarray]:
    """face_id -> the mask the user's files in `folder` give it (faces without a file are left out).

    faces: the kept faces (face table rows); hull: their hull_labels, the start of files that only
    subtract."""
    files = label_files(folder)
    if not files:
        return {}
    index = {face_id: i for i, face_id in enumerate(faces["face_id"])}
    by_frame: dict[int, list[int]] = {}
    for i, frame in enumerate(faces["frame"]):
        by_frame.setdefault(int(frame), []).append(i)
    matrices, sizes = matrices_array(faces), faces["size"].to_numpy(dtype=np.float64)
    frame_sizes = faces[["frame_width", "frame_height"]].to_numpy(dtype=np.float64)
    found: dict[str, tuple[bool, np.ndarray]] = {}  # face_id -> (from a crop file, mask)
    for path in files:
        stem = path.stem
        if stem in index:
            targets, on_crop = [index[stem]], True
        elif _FRAME_STEM.match(stem) and int(stem) in by_frame:
            targets, on_crop = by_frame[int(stem)], False
        else:
            log.warning("%s: no kept face has this id or frame (names: {face_id} or {frame}); not used", path)
            continue
        shapes, labelled = read_labelme(path) if path.suffix.lower() == ".json" else (None, None)
        png = _read_png_mask(path) if shapes is None else None
        for i in targets:
            face_id = faces["face_id"].iloc[i]
            if face_id in found and found[face_id][0] and not on_crop:
                continue  # the face's own crop file wins over its frame's
            if on_crop:  # crop pixels at the size the file was drawn on (the crop's own by default)
                drawn_w = labelled[0] if labelled else (png.shape[1] if png is not None else sizes[i])
                matrix = to_resolution(np.array([[1.0, 0, 0], [0, 1.0, 0]]), drawn_w, resolution)
            else:  # frame pixels (of a frame drawn at another size: scaled to the frame's)
                drawn_w = labelled[0] if labelled else (png.shape[1] if png is not None else frame_sizes[i, 0])
                matrix = to_resolution(drawn_frame_to_crop(matrices[i], frame_sizes[i, 0], drawn_w), sizes[i],
                                       resolution)
            if shapes is not None:
                has_face = any(label == FACE_CLASS for label, _ in shapes)
                base = np.zeros_like(hull[i]) if has_face else hull[i]
                mask = draw_shapes(base, shapes, lambda p, m=matrix: p @ m[:, :2].T + m[:, 2])
            else:
                mask = cv2.warpAffine(png, matrix, (resolution, resolution), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            found[face_id] = (on_crop, mask.astype(np.float32))
    return {face_id: mask for face_id, (_, mask) in found.items()}


def face_labels(faces: pd.DataFrame, resolution: int,
                folder: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(N, R, R) float32 masks of the kept faces (the hull, replaced by the user's file where there
    is one) and (N,) bool: which came from a user's file."""
    masks = hull_labels(faces, resolution)
    given = user_labels(folder, faces, masks, resolution)
    from_user = np.array([face_id in given for face_id in faces["face_id"]], dtype=bool)
    for i, face_id in enumerate(faces["face_id"]):
        if face_id in given:
            masks[i] = given[face_id]
    return masks, from_user
