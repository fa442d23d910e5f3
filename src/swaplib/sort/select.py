"""Selection: which faces train, in which order, and for every face left out, why.

Rules apply in this order and a face keeps the first reason that leaves it out: curation
(a person said exclude), too small / too large, pose, identity, blurry (an absolute floor,
then the blurriest share), duplicate, and last the cap (over max_faces: the first N of DFL's
"best" order, spread over yaw and pitch). A curation `include` overrides every automatic rule.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from swaplib.core.errors import SwaplibError
from swaplib.sort.curation import Curation
from swaplib.sort.orders import ORDERS, spread
from swaplib.sort.scores import Features

REASONS = ("curation", "too small", "too large", "pose", "identity", "blurry", "duplicate", "over max_faces")
DECISION_COLUMNS = ["selected", "rank", "reason", "curation", "curation_note", "order_score"]


@dataclass(frozen=True)
class Rules:
    """The automatic selection settings, defaults as in config.yaml `sort:` (0 = no limit,
    except for the angles, where 90 or more keeps every pose)."""

    min_face_px: float = 48  # box side in the frame, px
    max_face_px: float = 0
    min_blur: float = 0  # absolute sharpness floor (variance of the Laplacian; depends on the video)
    blur_keep: float = 0.9  # then keep this share of the remaining faces, sharpest first
    max_yaw: float = 75  # degrees; beyond, 68-point landmarks (and so the crops) are unreliable
    max_pitch: float = 60
    max_identity: float = 0.6  # embedding distance above which a face is another person (dlib: 0.6)
    duplicate: float = 0.003  # a face changing less than this (share of the crop) from its run's first is a duplicate
    max_faces: int = 0

    def __post_init__(self):
        limits = {f.name: getattr(self, f.name) >= 0 for f in fields(self)}
        limits["blur_keep"] = 0 < self.blur_keep <= 1
        limits["max_yaw"] = 0 < self.max_yaw <= 180
        limits["max_pitch"] = 0 < self.max_pitch <= 180
        limits["max_faces"] = self.max_faces >= 0 and int(self.max_faces) == self.max_faces
        bad = [name for name, ok in limits.items() if not ok]
        if bad:
            raise SwaplibError("sort settings out of range: " + ", ".join(f"{n}={getattr(self, n)!r}" for n in bad))

    @classmethod
    def of(cls, settings: dict) -> Rules:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise SwaplibError(f"unknown sort setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**settings)


def _change(features: Features, a: int, b: int) -> float:
    """How much face b differs from face a: the larger of the landmark motion (RMS, share of the
    crop) and the mean pixel change of their grey miniatures (share of full scale)."""
    motion = float(np.sqrt(np.mean(np.sum((features.aligned[a] - features.aligned[b]) ** 2, axis=1))))
    return max(motion, float(np.mean(np.abs(features.tiny[a] - features.tiny[b]))))


def near_duplicates(faces: pd.DataFrame, blur: np.ndarray, features: Features, candidates: np.ndarray, threshold: float) -> np.ndarray:
    """Bool per face: a near-copy of a sharper face in the same run of consecutive frames.

    Per track (one person across frames; without tracks, per face index in the frame), in frame
    order, a run grows while each face differs from the run's first face by less than
    `threshold`; the sharpest face of a run stays."""
    duplicate = np.zeros(len(faces), bool)
    if threshold <= 0:
        return duplicate

    def close(run: list[int]) -> None:
        keep = max(run, key=lambda p: blur[p])
        duplicate[[p for p in run if p != keep]] = True

    person = faces["track_id"] if "track_id" in faces.columns else faces["index"]
    table = pd.DataFrame({"frame": faces["frame"].to_numpy(), "person": person.to_numpy()})[candidates]
    for _, track in table.sort_values(["person", "frame"], kind="stable").groupby("person", sort=False):
        positions = track.index.to_numpy()
        run = [positions[0]]
        for p in positions[1:]:
            if _change(features, run[0], p) < threshold:
                run.append(p)
            else:
                close(run)
                run = [p]
        close(run)
    return duplicate


def filter_reasons(faces: pd.DataFrame, scores: pd.DataFrame, features: Features, rules: Rules, excluded: np.ndarray) -> np.ndarray:
    """The reason each face is left out ("" = kept), before curation includes and the cap."""
    reason = np.where(excluded, "curation", "").astype(object)

    def leave_out(mask: np.ndarray, why: str) -> None:
        reason[(reason == "") & mask] = why

    leave_out(scores["face_px"].to_numpy() < rules.min_face_px, "too small")
    if rules.max_face_px:
        leave_out(scores["face_px"].to_numpy() > rules.max_face_px, "too large")
    leave_out((scores["yaw"].abs() > rules.max_yaw).to_numpy() | (scores["pitch"].abs() > rules.max_pitch).to_numpy(), "pose")
    leave_out((scores["identity"] > rules.max_identity).to_numpy(), "identity")  # NaN (no embedding) passes

    blur = scores["blur"].to_numpy(dtype=np.float64)
    leave_out(blur < rules.min_blur, "blurry")
    # The relative cut: absolute sharpness depends on the video, its resolution and codec.
    candidates = np.flatnonzero(reason == "")
    n_keep = int(np.ceil(len(candidates) * rules.blur_keep))
    sharpest_first = candidates[np.argsort(-blur[candidates], kind="stable")]
    reason[sharpest_first[n_keep:]] = "blurry"

    leave_out(near_duplicates(faces, blur, features, reason == "", rules.duplicate), "duplicate")
    return reason


def select_faces(
    faces: pd.DataFrame,
    scores: pd.DataFrame,
    features: Features,
    rules: Rules,
    *,
    order: str = "best",
    curation: Curation | None = None,
) -> pd.DataFrame:
    """The decision per face (DECISION_COLUMNS): selected, training rank, reason, curation."""
    if order not in ORDERS:
        raise SwaplibError(f"unknown sort order {order!r}; choose one of: {', '.join(ORDERS)}")
    curation = curation or Curation()
    ids = faces["face_id"]
    decided = ids.map(lambda face_id: curation.actions.get(face_id, "")).to_numpy(dtype=object)
    forced = decided == "include"
    reason = filter_reasons(faces, scores, features, rules, decided == "exclude")
    reason[forced] = ""  # a person's word beats the filters

    kept = np.flatnonzero(reason == "")
    if rules.max_faces and len(kept) > rules.max_faces:
        # Keep what a person asked for, then the first of DFL's best order (spread over poses).
        rest = kept[~forced[kept]]
        best = rest[spread(scores.iloc[rest], "blur")]
        chosen = np.concatenate([kept[forced[kept]], best[: max(0, rules.max_faces - forced[kept].sum())]])
        reason[np.setdiff1d(kept, chosen)] = "over max_faces"
        kept = np.sort(chosen)

    table = pd.concat([faces[["face_id", "frame", "index"]], scores], axis=1).iloc[kept]
    positions, values = ORDERS[order].sort(table, features.take(kept))
    rank = np.full(len(faces), -1, np.int64)
    rank[kept[positions]] = np.arange(len(kept))
    order_score = np.full(len(faces), np.nan)
    order_score[kept[positions]] = values
    return pd.DataFrame(
        {
            "selected": rank >= 0,
            "rank": rank,
            "reason": reason.astype(str),
            "curation": decided.astype(str),
            "curation_note": ids.map(lambda face_id: curation.notes.get(face_id, "")).to_numpy(dtype=object).astype(str),
            "order_score": order_score,
        },
        index=faces.index,
    )
