"""The sort stage: score every face of a video, select and order the training set, write faceset.parquet.

The contact sheets that show it for review are drawn from that table by sheet.py, a step of its own.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.sort.curation import Curation, read_curation
from swaplib.sort.identity import face_embeddings, identity_distance
from swaplib.sort.orders import ORDERS
from swaplib.sort.scores import crop_landmarks, score_faces
from swaplib.sort.select import Rules, select_faces
from swaplib.tables.faces import read_faces

log = logging.getLogger(__name__)


def _identity(faces, faces_dir, scores, curation: Curation, curation_path, *, mode: str, order: str) -> None:
    """Fill scores["identity"] when there are embeddings to use."""
    wanted = bool(curation.references) or order == "identity"
    if curation.references and mode == "none":
        raise SwaplibError(f"{curation_path}: names reference faces, but sort.identity is 'none'")
    embeddings = face_embeddings(faces, faces_dir, crop_landmarks(faces), mode=mode, wanted=wanted)
    if embeddings is not None:
        references = faces["face_id"].isin(curation.references).to_numpy()
        scores["identity"] = identity_distance(embeddings, references)


def build_faceset(
    table_path: str | Path,
    faces_dir: str | Path,
    faceset_path: str | Path,
    *,
    curation_path: str | Path | None = None,
    order: str = "best",
    identity: str = "auto",
    threads: int = 1,
    **rules,
) -> pd.DataFrame:
    """Score, select and order the faces of one video; write faceset.parquet.

    `rules` are the Rules fields (min_face_px, blur_keep, max_yaw, max_faces, ...)."""
    started = time.monotonic()
    rules = Rules.of(rules)
    if order not in ORDERS:
        raise SwaplibError(f"unknown sort order {order!r}; choose one of: {', '.join(ORDERS)}")
    if order == "identity" and identity == "none":
        raise SwaplibError("sort order 'identity' needs identity embeddings, and sort.identity is 'none'")
    detected = read_faces(table_path, kept_only=False)  # one-face counts every face found in a frame
    faces = read_faces(table_path).reset_index(drop=True)  # those extraction kept (with a crop)
    curation = read_curation(curation_path, set(faces["face_id"])) if curation_path else Curation()
    scores, features = score_faces(faces, faces_dir, threads=threads, faces_per_frame=detected.groupby("frame").size())
    _identity(faces, faces_dir, scores, curation, curation_path, mode=identity, order=order)
    decision = select_faces(faces, scores, features, rules, order=order, curation=curation)

    hist = pd.DataFrame({"hist": list(features.hist)}, index=faces.index)
    faceset = pd.concat([faces, scores, hist, decision], axis=1)
    counts = {k: v for k, v in faceset["reason"].value_counts().items() if k}
    n_selected = int(faceset["selected"].sum())
    log.info("%d of %d faces selected (order %s) in %.1f s; left out: %s",
             n_selected, len(faceset), order, time.monotonic() - started, counts or "none")
    if n_selected == 0:
        raise SwaplibError(
            f"{table_path}: no face left for training after sorting "
            f"(left out: {', '.join(f'{v} {k}' for k, v in counts.items())}); "
            "loosen the sort settings (min_face_px, blur_keep, max_yaw, ...) or review the curation sheet"
        )
    with atomic_path(faceset_path) as tmp:
        faceset.to_parquet(tmp, index=False)
    return faceset
