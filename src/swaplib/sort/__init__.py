"""The face set of a video: every face scored, the training set selected and ordered, the
reason recorded for every face left out, and contact sheets to review it.

faceset.parquet keeps all columns of faces.parquet, the scores (scores.SCORE_COLUMNS and the
colour histogram `hist`), and the decision: `selected`, `rank` (training order, -1 when left
out), `reason` ("" when selected), `curation` (the sheet's exclude/include for the face),
`curation_note`, `order_score` (the value that placed it in `sort.order`). Curation is a
reviewable TSV (see curation.py), never a deletion of files.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.sort.curation import Curation, append_curation, read_curation
from swaplib.sort.identity import face_embeddings, identity_distance
from swaplib.sort.orders import ORDERS
from swaplib.sort.scores import SCORE_COLUMNS, crop_landmarks, score_faces
from swaplib.sort.select import REASONS, Rules, select_faces
from swaplib.sort.sheet import contact_sheets, write_sheets
from swaplib.tables.faces import read_faces
from swaplib.tables.faceset import read_faceset, selected_faces

__all__ = [
    "ORDERS", "REASONS", "SCORE_COLUMNS", "Curation", "Rules", "append_curation", "build_faceset",
    "read_curation", "read_faceset", "score_faces", "select_faces", "selected_faces",
]

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
    sheets_dir: str | Path,
    *,
    curation_path: str | Path | None = None,
    order: str = "best",
    identity: str = "auto",
    faces_per_page: int = 256,
    threads: int = 1,
    **rules,
) -> pd.DataFrame:
    """Score, select and order the faces of one video; write faceset.parquet and the contact sheets.

    `rules` are the Rules fields (min_face_px, blur_keep, max_yaw, max_faces, ...)."""
    started = time.monotonic()
    rules = Rules.of(rules)
    if order not in ORDERS:
        raise SwaplibError(f"unknown sort order {order!r}; choose one of: {', '.join(ORDERS)}")
    if order == "identity" and identity == "none":
        raise SwaplibError("sort order 'identity' needs identity embeddings, and sort.identity is 'none'")
    if faces_per_page < 1:
        raise SwaplibError(f"faces_per_page must be at least 1, got {faces_per_page}")
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
    title = f"{Path(table_path).parent.name}: order {order} ({ORDERS[order].about})"
    write_sheets(sheets_dir, contact_sheets(faceset, features.thumbs, title=title, faces_per_page=faces_per_page))
    return faceset
