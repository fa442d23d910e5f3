"""Selection: which faces train, in which order, and for every face left out, why.

Rules apply in this order and a face keeps the first reason that leaves it out: curation
(a person said exclude), too small / too large, pose, identity, the order's own (DFL's oneface:
several faces), blurry (an absolute floor, then the blurriest share), duplicate, and last the cap
(over max_faces: the first N of the order when it chooses, as DFL's final does, else of our
"best" order, spread over yaw and pitch). A curation `include` overrides every automatic rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from swaplib.sort.curation import Curation
from swaplib.sort.orders import ORDERS, Order, spread
from swaplib.sort.scores import Features
from swaplib.sort.settings import SortSettings

DECISION_COLUMNS = ["selected", "rank", "reason", "curation", "curation_note", "order_score"]


def _change(features: Features, a: int, b: int) -> float:
    """How much face b differs from face a: the larger of the landmark motion (RMS, share of the
    crop) and the mean pixel change of their grey miniatures (share of full scale)."""
    motion = float(np.sqrt(np.mean(np.sum((features.aligned[a] - features.aligned[b]) ** 2, axis=1))))
    return max(motion, float(np.mean(np.abs(features.tiny[a] - features.tiny[b]))))


def near_duplicates(faces: pd.DataFrame, blur: np.ndarray, features: Features, candidates: np.ndarray,
                    threshold: float) -> np.ndarray:
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


def filter_reasons(faces: pd.DataFrame, scores: pd.DataFrame, features: Features, rules: SortSettings,
                   excluded: np.ndarray) -> np.ndarray:
    """The reason each face is left out ("" = kept), before curation includes and the cap."""
    reason = np.where(excluded, "curation", "").astype(object)

    def leave_out(mask: np.ndarray, why: str) -> None:
        reason[(reason == "") & mask] = why

    leave_out(scores["face_px"].to_numpy() < rules.min_face_px, "too small")
    if rules.max_face_px:
        leave_out(scores["face_px"].to_numpy() > rules.max_face_px, "too large")
    turned = (scores["yaw"].abs() > rules.max_yaw).to_numpy() | (scores["pitch"].abs() > rules.max_pitch).to_numpy()
    leave_out(turned, "pose")
    leave_out((scores["identity"] > rules.max_identity).to_numpy(), "identity")  # NaN (no embedding) passes
    own = ORDERS[rules.order].leaves_out
    if own:
        leave_out(own.faces(scores), own.reason)

    blur = scores["blur"].to_numpy(dtype=np.float64)
    leave_out(blur < rules.min_blur, "blurry")
    # The relative cut: absolute sharpness depends on the video, its resolution and codec.
    candidates = np.flatnonzero(reason == "")
    n_keep = int(np.ceil(len(candidates) * rules.blur_keep))
    sharpest_first = candidates[np.argsort(-blur[candidates], kind="stable")]
    reason[sharpest_first[n_keep:]] = "blurry"

    leave_out(near_duplicates(faces, blur, features, reason == "", rules.duplicate), "duplicate")
    return reason


def _capped(scores: pd.DataFrame, kept: np.ndarray, forced: np.ndarray, max_faces: int | None) -> np.ndarray:
    """The kept faces under the cap: what a person asked for, then the first of our best order
    (spread over poses)."""
    if not max_faces or len(kept) <= max_faces:
        return kept
    rest = kept[~forced[kept]]
    best = rest[spread(scores.iloc[rest], "blur")]
    return np.sort(np.concatenate([kept[forced[kept]], best[: max(0, max_faces - forced[kept].sum())]]))


def _chosen(order: Order, table: pd.DataFrame, features: Features, kept: np.ndarray, forced: np.ndarray,
            max_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """The faces an order that chooses (DFL's final) keeps, in its order, and their scores: what a
    person asked for stays where the order puts it, the others fill the cap in the order's sequence."""
    positions, values = order.choose(table.iloc[kept], features.take(kept), max_faces)
    ranked = kept[positions]
    chosen = forced[ranked] | (np.cumsum(~forced[ranked]) <= max_faces - forced[kept].sum())
    return ranked[chosen], values[chosen]


def select_faces(
    faces: pd.DataFrame,
    scores: pd.DataFrame,
    features: Features,
    rules: SortSettings,
    *,
    curation: Curation | None = None,
) -> pd.DataFrame:
    """The decision per face (DECISION_COLUMNS): selected, training rank (in rules.order), reason, curation."""
    curation = curation or Curation()
    ids = faces["face_id"]
    decided = ids.map(lambda face_id: curation.actions.get(face_id, "")).to_numpy(dtype=object)
    forced = decided == "include"
    reason = filter_reasons(faces, scores, features, rules, decided == "exclude")
    reason[forced] = ""  # a person's word beats the filters

    kept = np.flatnonzero(reason == "")
    order = ORDERS[rules.order]
    table = pd.concat([faces[["face_id", "frame", "index"]], scores], axis=1)
    if order.choose and rules.max_faces:
        ordered, values = _chosen(order, table, features, kept, forced, rules.max_faces)
    else:
        kept = _capped(scores, kept, forced, rules.max_faces)
        positions, values = order.sort(table.iloc[kept], features.take(kept))
        ordered = kept[positions]
    reason[np.setdiff1d(np.flatnonzero(reason == ""), ordered)] = "over max_faces"
    rank = np.full(len(faces), -1, np.int64)
    rank[ordered] = np.arange(len(ordered))
    order_score = np.full(len(faces), np.nan)
    order_score[ordered] = values
    return pd.DataFrame(
        {
            "selected": rank >= 0,
            "rank": rank,
            "reason": reason.astype(str),
            "curation": decided.astype(str),
            "curation_note": ids.map(lambda face_id: curation.notes.get(face_id, "")).to_numpy(str),
            "order_score": order_score,
        },
        index=faces.index,
    )
