"""The frames extraction doubts, to check by eye (DFL's aligned_debug, as a list).

Four doubts, each measured on the face table alone (no image is read again):

    no face          a frame without a kept face between two frames with one (the face was missed)
    landmark jump    a kept face whose landmarks leave the line of its track's neighbours (one frame
                     away on both sides) by more than `jump` eye distances: a misfit, not a movement
    low score        a kept face the detector was less sure of than `low_score` x the video's median
    alignment        a kept face whose crop turns or scales away from both neighbours' mean by more
                     than `turn` degrees or `scale` (a share of the crop's scale)

A photo folder has no neighbours: only `low score` applies there.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from swaplib.core.atomic import atomic_path
from swaplib.core.images import frame_files
from swaplib.tables.faces import landmarks_array, matrices_array, read_faces

log = logging.getLogger(__name__)

COLUMNS = ["frame", "face_id", "doubt", "value", "limit"]
DOUBTS = ("no face", "landmark jump", "low score", "alignment")


@dataclass(frozen=True)
class DoubtLimits:
    jump: float = 0.15  # eye distances of a landmark's mean departure from its neighbours' line
    low_score: float = 0.25  # share of the video's median detector score
    turn: float = 8.0  # degrees the crop turns away from its neighbours' mean
    scale: float = 0.1  # share the crop's scale differs from its neighbours' mean


def frames_to_check(table: pd.DataFrame, frames: list[int] | None = None, photos: bool = False,
                    limits: DoubtLimits = DoubtLimits()) -> pd.DataFrame:
    """The doubts of a face table (every face, kept or not: swaplib.tables.faces.read_faces with
    kept_only=False), one row per doubt, by frame. frames: every frame number of the video (the
    frames with no face at all are not in the table)."""
    kept = table[table["kept"]].sort_values(["frame", "index"]).reset_index(drop=True)
    rows = _low_scores(kept, limits)
    if not photos:
        rows += _missing(kept, frames)
        rows += _misfits(kept, limits)
    doubts = pd.DataFrame(rows, columns=COLUMNS)
    order = {name: i for i, name in enumerate(DOUBTS)}
    return doubts.sort_values(["frame", "doubt"], key=lambda c: c.map(order) if c.name == "doubt" else c,
                              kind="stable").reset_index(drop=True)


def write_frames_to_check(table_path: str | os.PathLike, frames_dir: str | os.PathLike, out: str | os.PathLike,
                          photos: bool = False) -> pd.DataFrame:
    """The doubts of a video's face table, written as a TSV (out): frame, face_id, doubt, value, limit."""
    frames = [number for number, _ in frame_files(frames_dir)]
    doubts = frames_to_check(read_faces(table_path, kept_only=False), frames, photos=photos)
    with atomic_path(out) as tmp:
        doubts.to_csv(tmp, sep="\t", index=False, float_format="%.4g")
    log.info("%d frames to check in %s: %s", doubts["frame"].nunique(), table_path,
             doubts["doubt"].value_counts().to_dict() or "none")
    return doubts


def _low_scores(kept: pd.DataFrame, limits: DoubtLimits) -> list[list]:
    scores = kept["score"].to_numpy(float)
    if not len(scores) or not np.isfinite(scores).any():
        return []
    # Relative to the video: every backend scores on its own scale (dlib HOG's margin, S3FD's probability).
    limit = limits.low_score * float(np.nanmedian(scores))
    low = kept[scores < limit]
    return [[int(r.frame), r.face_id, "low score", float(r.score), limit] for r in low.itertuples()]


def _missing(kept: pd.DataFrame, frames: list[int] | None) -> list[list]:
    with_face = np.unique(kept["frame"].to_numpy(int))
    if len(with_face) < 2:
        return []
    every = np.arange(with_face[0], with_face[-1] + 1) if frames is None else np.asarray(sorted(frames), int)
    inside = every[(every > with_face[0]) & (every < with_face[-1])]
    return [[int(frame), "", "no face", float("nan"), float("nan")] for frame in np.setdiff1d(inside, with_face)]


def _misfits(kept: pd.DataFrame, limits: DoubtLimits) -> list[list]:
    """Landmark jumps and alignment outliers: each face against its track's faces one frame before
    and after (a face at a track's end or gap has no such pair, and is not judged). One bad face
    also moves its neighbours' lines by half as much: only the largest departure of a run counts."""
    rows = []
    for _, track in kept.groupby("track_id", sort=False):
        track = track.sort_values("frame")
        frames = track["frame"].to_numpy(int)
        points, matrices = landmarks_array(track), matrices_array(track)
        turns = np.degrees(np.arctan2(matrices[:, 1, 0], matrices[:, 0, 0]))
        scales = np.hypot(matrices[:, 0, 0], matrices[:, 1, 0])
        jumps, turned, scaled = (np.zeros(len(track)) for _ in range(3))
        for i in np.flatnonzero((frames[1:-1] - frames[:-2] == 1) & (frames[2:] - frames[1:-1] == 1)) + 1:
            line = (points[i - 1] + points[i + 1]) / 2
            eyes = np.linalg.norm(line[36:42].mean(axis=0) - line[42:48].mean(axis=0))
            jumps[i] = np.linalg.norm(points[i] - line, axis=1).mean() / max(eyes, 1.0)
            turned[i] = abs(_angle_difference(turns[i], (turns[i - 1] + turns[i + 1]) / 2))
            scaled[i] = abs(scales[i] / ((scales[i - 1] + scales[i + 1]) / 2) - 1)
        for i in range(len(track)):
            face, frame = track["face_id"].iloc[i], int(frames[i])
            if _peak(jumps, i, limits.jump):
                rows.append([frame, face, "landmark jump", float(jumps[i]), limits.jump])
            if _peak(turned, i, limits.turn):
                rows.append([frame, face, "alignment", float(turned[i]), limits.turn])
            elif _peak(scaled, i, limits.scale):
                rows.append([frame, face, "alignment", float(scaled[i]), limits.scale])
    return rows


def _peak(values: np.ndarray, i: int, limit: float) -> bool:
    """Whether values[i] is over the limit and the largest of it and its two neighbours."""
    return values[i] > limit and values[i] >= values[max(i - 1, 0): i + 2].max()


def _angle_difference(a: float, b: float) -> float:
    return (a - b + 180) % 360 - 180
