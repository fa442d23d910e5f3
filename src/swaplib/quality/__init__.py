"""Swap quality, measured on the merged frames against the destination frames.

Every face the merge was given (the kept faces of the destination's face table) is measured in
the destination frame and at the same place in the merged frame, with the same tools:

- landmarks: dlib's 68-point shape predictor, started from the face table's detector box, in
  both frames (so an untouched face measures exactly as the destination, whichever landmarker
  and smoothing the faces stage used);
- identity: dlib's face-embedding ResNet (swaplib.identity) on the merged face, compared with
  the mean embedding of the source face set and of the destination face set.

The identities are embedded from the full-resolution frames with the landmarks stored in the face
tables: nothing is detected twice, and they do not depend on `extract.size`.

Figures (see README, "Quality, report and scale-out"):
  id_retrieval    share of the destination's faces, as merged, nearer to the source identity
                  (read it with the mean distances: a face far from both is nobody's)
  landmark_error  mean landmark distance, merged vs destination, over the inter-ocular distance
  jitter_ratio    frame-to-frame motion of the merged landmarks after removing the destination's
                  own motion, over the destination's motion
  coverage        share of destination frames with a face that the merge changed
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from swaplib import __version__
from swaplib.core.atomic import atomic_path, write_json
from swaplib.core.errors import SwaplibError
from swaplib.core.images import frame_files, read_image, write_image
from swaplib.core.progress import Progress
from swaplib.extract.align import hull_mask
from swaplib.extract.detect.base import box_iou, to_rgb_uint8
from swaplib.extract.detect.dlib_backends import SHAPE_PREDICTOR, DlibLandmarker
from swaplib.extract.identity import (
    CHIP_PADDING,
    CHIP_SIZE,
    EMBEDDING_MODEL,
    SAME_PERSON,
    FaceEmbedder,
    distances,
)
from swaplib.tables.faces import landmarks_array, read_faces
from swaplib.tables.faceset import selected_faces

log = logging.getLogger(__name__)

CHANGED = 1.0  # mean |merged - destination| (0..255) inside a face's hull above which it was swapped
MATCH_IOU = 0.3  # boxes in consecutive frames overlapping this much are the same face

MODELS = {
    "landmarks": f"dlib {SHAPE_PREDICTOR} (68 iBUG points), started from the face table's box",
    "embedding": f"dlib {EMBEDDING_MODEL} (128-D, {CHIP_SIZE} px chips, padding {CHIP_PADDING})",
}

FIGURES = {
    "id_retrieval": "share of merged faces nearer to the source identity than to the destination's (1 = every face; "
                    "read with the distances: a face far from both identities is nobody's)",
    "id_distance_source": f"mean embedding distance of merged faces to the source identity (< {SAME_PERSON}: same person)",
    "id_distance_destination": "mean embedding distance of merged faces to the destination identity",
    "landmark_error": "mean landmark distance, merged vs destination, / inter-ocular distance (0 = pose and expression kept)",
    "jitter_ratio": "added frame-to-frame landmark motion / the destination's own motion (0 = as steady as the destination)",
    "coverage": "share of destination frames with a face that got swapped",
}


def _boxes(faces: pd.DataFrame) -> np.ndarray:
    return faces[["box_x0", "box_y0", "box_x1", "box_y1"]].to_numpy(dtype=np.float64)


def _frame_paths(frames_dir) -> dict[int, Path]:
    return dict(frame_files(frames_dir))


def identity(faceset_path, frames_dir, embedder: FaceEmbedder, max_faces: int = 64) -> tuple[np.ndarray, int]:
    """Mean embedding of a face set's selected faces (at most max_faces, spread over the clip; 0 = all)."""
    faces = selected_faces(faceset_path).sort_values(["frame", "index"])
    if faces.empty:
        raise SwaplibError(f"{faceset_path}: the face set selects no face, so it has no identity to measure against")
    if 0 < max_faces < len(faces):
        faces = faces.iloc[np.linspace(0, len(faces) - 1, max_faces).round().astype(int)]
    paths = _frame_paths(frames_dir)
    embeddings = []
    for frame, rows in faces.groupby("frame"):
        if frame not in paths:
            raise SwaplibError(f"{frames_dir}: frame {frame} of face set {faceset_path} is missing")
        embeddings.append(embedder.embed(to_rgb_uint8(read_image(paths[frame])), landmarks_array(rows)))
    return np.concatenate(embeddings).mean(axis=0), len(faces)


# --------------------------------------------------------------------------- per face


def inter_ocular(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the outer eye corners (points 36 and 45; 300-W's normalisation), per face."""
    return np.linalg.norm(landmarks[..., 45, :] - landmarks[..., 36, :], axis=-1)


def _point_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean distance between corresponding landmarks, per face."""
    return np.linalg.norm(a - b, axis=-1).mean(axis=-1)


def _read_pair(destination_path: Path, merged_path: Path) -> tuple[np.ndarray, np.ndarray]:
    destination, merged = read_image(destination_path), read_image(merged_path)
    if destination.shape != merged.shape:
        raise SwaplibError(f"{merged_path}: size {merged.shape[1::-1]} differs from {destination_path}")
    return destination, merged


def measure_faces(frames_dir, faces_table, merged_dir, identities: tuple[np.ndarray, np.ndarray],
                  embedder: FaceEmbedder) -> pd.DataFrame:
    """One row per destination face: was it swapped, its identity distances, landmark error and jitter."""
    frames, merged = _frame_paths(frames_dir), _frame_paths(merged_dir)
    if set(frames) != set(merged):
        odd = sorted(set(frames) ^ set(merged))[:5]
        raise SwaplibError(f"{merged_dir}: merged frames do not match the destination frames in {frames_dir} "
                           f"(frames {odd} are in only one of them)")
    faces = read_faces(faces_table).sort_values(["frame", "index"]).reset_index(drop=True)
    if faces.empty:
        raise SwaplibError(f"{faces_table}: no face to measure (the faces stage kept none)")
    unknown = sorted(set(faces["frame"]) - set(frames))[:5]
    if unknown:
        raise SwaplibError(f"{faces_table}: faces of frames {unknown} that {frames_dir} does not have")
    landmarker = DlibLandmarker()
    boxes = _boxes(faces)
    before, after, change, vectors = [], [], [], []
    with Progress(faces["frame"].nunique(), "frames measured", log=log) as progress:
        for frame, rows in faces.groupby("frame", sort=False):
            destination, swapped = _read_pair(frames[frame], merged[frame])
            dst_rgb, new_rgb = to_rgb_uint8(destination), to_rgb_uint8(swapped)
            frame_boxes = boxes[rows.index]
            dst_lm = landmarker.fit(dst_rgb, frame_boxes).astype(np.float64)
            new_lm = landmarker.fit(new_rgb, frame_boxes).astype(np.float64)
            diff = cv2.absdiff(destination, swapped).mean(axis=2)
            for points in dst_lm:
                hull = hull_mask(points, diff.shape) > 0.5
                change.append(float(diff[hull].mean()) if hull.any() else 0.0)
            before.append(dst_lm)
            after.append(new_lm)
            vectors.append(embedder.embed(new_rgb, new_lm))
            progress.update()
    dst_lm, new_lm, vectors = np.concatenate(before), np.concatenate(after), np.concatenate(vectors)
    iod = np.maximum(inter_ocular(dst_lm), 1.0)
    table = pd.DataFrame({
        "frame": faces["frame"], "index": faces["index"], "face_id": faces["face_id"],
        "change": change,
        "dist_source": distances(vectors, identities[0]),
        "dist_destination": distances(vectors, identities[1]),
        "landmark_error": _point_distance(new_lm, dst_lm) / iod,
    })
    table["swapped"] = table["change"] > CHANGED
    table["nearer_source"] = table["dist_source"] < table["dist_destination"]
    return table.assign(**_jitter(faces["frame"].to_numpy(), boxes, dst_lm, new_lm, iod))


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


def _mean(values) -> float | None:
    values = pd.Series(values, dtype=float).dropna()
    return float(values.mean()) if len(values) else None


def summarize(table: pd.DataFrame, n_frames: int) -> dict:
    """The clip's figures from the per-face table (None where a figure has nothing to measure)."""
    jitter, motion = _mean(table["jitter"]), _mean(table["destination_motion"])
    swapped_frames = int(table.loc[table["swapped"], "frame"].nunique())
    figures = {
        "id_retrieval": _mean(table["nearer_source"]),
        "id_distance_source": _mean(table["dist_source"]),
        "id_distance_destination": _mean(table["dist_destination"]),
        "landmark_error": _mean(table["landmark_error"]),
        # Undefined when the destination does not move at all (nothing to compare with).
        "jitter_ratio": jitter / motion if jitter is not None and motion else None,
        "jitter": jitter,
        "destination_motion": motion,
        "coverage": swapped_frames / n_frames if n_frames else None,
        "frames": int(n_frames),
        "frames_with_face": int(table["frame"].nunique()),
        "frames_swapped": swapped_frames,
        "faces": int(len(table)),
        "faces_swapped": int(table["swapped"].sum()),
    }
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}


# --------------------------------------------------------------------------- pictures


def quality_plot(table: pd.DataFrame, path) -> None:
    """Identity distances, landmark error and jitter over the clip, one panel each."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster node
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    top, middle, bottom = axes
    top.plot(table["frame"], table["dist_source"], ".-", label="to source identity")
    top.plot(table["frame"], table["dist_destination"], ".-", label="to destination identity")
    top.axhline(SAME_PERSON, color="grey", linestyle=":", label=f"same person (< {SAME_PERSON})")
    top.set_ylabel("embedding distance")
    middle.plot(table["frame"], table["landmark_error"], ".-", color="tab:red")
    middle.set_ylabel("landmark error\n(/ inter-ocular)")
    bottom.plot(table["frame"], table["jitter"], ".-", label="added jitter (merged - destination)")
    bottom.plot(table["frame"], table["destination_motion"], ".-", label="destination motion")
    bottom.set_ylabel("motion per frame\n(/ inter-ocular)")
    bottom.set_xlabel("frame")
    top.set_ylim(0, max(1.0, float(np.nanmax(table[["dist_source", "dist_destination"]].to_numpy(), initial=0)) * 1.1))
    for ax in (top, bottom):
        ax.legend(fontsize=8, loc="best")
    for ax in axes:
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    fig.suptitle("Swap quality over the clip (one point per destination face)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format=Path(path).suffix[1:])
    plt.close(fig)


def _face_tile(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """A size x size view of the face in `box` with some margin (edges repeat beyond the frame)."""
    x0, y0, x1, y1 = box
    side = 1.6 * max(x1 - x0, y1 - y0, 1.0)
    scale = size / side
    shift = size / 2 - scale * np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    matrix = np.array([[scale, 0, shift[0]], [0, scale, shift[1]]])
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def _label(tile: np.ndarray, text: str) -> None:
    cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)


def comparison_strip(frames_dir, merged_dir, faces_table, path, count: int = 6, size: int = 160) -> None:
    """Destination faces (top row) over the same faces merged (bottom row), at `count` frames spread over the clip."""
    faces = read_faces(faces_table).sort_values(["frame", "index"]).drop_duplicates("frame")
    picks = faces.iloc[np.unique(np.linspace(0, len(faces) - 1, max(count, 1)).round().astype(int))]
    frames, merged = _frame_paths(frames_dir), _frame_paths(merged_dir)
    columns = []
    for face, box in zip(picks.itertuples(), _boxes(picks)):
        top, bottom = (_face_tile(read_image(paths[face.frame]), box, size) for paths in (frames, merged))
        _label(top, f"frame {face.frame}")
        columns.append(np.vstack([top, bottom]))
    strip = np.hstack(columns)
    _label(strip[size:], "swap (synthetic)")
    write_image(path, strip)


# --------------------------------------------------------------------------- the workflow's quality stage


def measure_pair(
    *,
    destination_frames,
    destination_faces,
    destination_faceset,
    source_frames,
    source_faceset,
    merged,
    quality_json,
    table_path,
    plot_path,
    strip_path,
    identity_faces: int = 64,
    strip_frames: int = 6,
    settings: dict | None = None,
    detector: str = "dlib",
) -> dict:
    """Measure one pair's merged frames; write quality.json, the per-face table, the plot and the strip."""
    embedder = FaceEmbedder()
    source_id, n_source = identity(source_faceset, source_frames, embedder, identity_faces)
    destination_id, n_destination = identity(destination_faceset, destination_frames, embedder, identity_faces)
    apart = float(np.linalg.norm(source_id - destination_id))
    log.info("identities: %d source faces, %d destination faces, %.3f apart", n_source, n_destination, apart)
    table = measure_faces(destination_frames, destination_faces, merged, (source_id, destination_id), embedder)
    figures = summarize(table, len(frame_files(destination_frames)))
    log.info("quality: %s", {k: figures[k] for k in FIGURES})
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5f")
    quality_plot(table, plot_path)
    comparison_strip(destination_frames, merged, destination_faces, strip_path, count=strip_frames)
    result = {
        **figures,
        "identities": {"source_faces": n_source, "destination_faces": n_destination, "distance": round(apart, 4)},
        "models": {"detector": f"{detector} (the faces stage's boxes, not run again)", **MODELS},
        "merge": settings or {},
        "generator": f"swaplib {__version__}",
    }
    write_json(quality_json, result)
    return result


# --------------------------------------------------------------------------- the report's page per pair


def _rows(items: dict) -> str:
    return "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_text(v))}</td></tr>" for k, v in items.items())


def _text(value) -> str:
    if value is None:
        return "n/a"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _read_json(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SwaplibError(f"{path}: cannot read JSON ({exc})") from None


def write_card(quality_json, provenance_json, out_html, *, title: str) -> None:
    """A self-contained HTML page: the quality figures, the merge settings and the video's provenance."""
    quality, provenance = _read_json(quality_json), _read_json(provenance_json)
    figures = "".join(
        f"<tr><th>{name}</th><td>{html.escape(_text(quality.get(name)))}</td><td>{html.escape(meaning)}</td></tr>"
        for name, meaning in FIGURES.items()
    )
    counts = {k: quality.get(k) for k in ("frames", "frames_with_face", "frames_swapped", "faces", "faces_swapped",
                                          "jitter", "destination_motion")}
    counts.update({f"identity {k}": v for k, v in quality.get("identities", {}).items()})
    sections = [
        ("Quality", f"<table class='quality'><tr><th>figure</th><th>value</th><th>meaning</th></tr>{figures}</table>"),
        ("Counts", f"<table>{_rows(counts)}</table>"),
        ("Merge settings", f"<table>{_rows(quality.get('merge', {}))}</table>"),
        ("Models used to measure", f"<table>{_rows(quality.get('models', {}))}</table>"),
        ("Provenance of the video (synthetic)", f"<table>{_rows(provenance)}</table>"),
    ]
    body = "".join(f"<h2>{html.escape(name)}</h2>{content}" for name, content in sections)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )
    with atomic_path(out_html) as tmp:
        tmp.write_text(page, encoding="utf-8")


# Inline: the page is shown offline inside the report, so it may load nothing.
_CSS = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.4em}"
    "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:0.9em}"
    "th{background:#f3f3f3}"
)
