"""The sort stage: the face set of a video, every face scored, the training set selected and ordered,
the reason recorded for every face left out.

faceset.parquet (swaplib.tables.faceset) keeps all columns of faces.parquet, the scores
(scores.SCORE_COLUMNS and the colour histogram `hist`), and the decision: `selected`, `rank`
(training order, -1 when left out), `reason` ("" when selected), `curation` (the sheet's
exclude/include for the face), `curation_note`, `order_score` (the value that placed it in
`sort.order`). Curation is a reviewable TSV (see curation.py), never a deletion of files. The
contact sheets to review it are drawn from the written face set (sort.contact_sheet), by a step of their own.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.sort.curation import Curation, read_curation
from swaplib.sort.identity import face_embeddings, identity_distance
from swaplib.sort.orders import ORDERS
from swaplib.sort.scores import crop_landmarks, score_faces
from swaplib.sort.select import select_faces
from swaplib.sort.settings import SortSettings, sort_settings
from swaplib.tables.faces import read_faces
from swaplib.tables.faceset import ORDER_KEY

log = logging.getLogger(__name__)


def build_faceset(
    table_path: str | Path,
    faces_dir: str | Path,
    faceset_path: str | Path,
    *,
    curation_path: str | Path | None = None,
    threads: int = 1,
    **section,
) -> pd.DataFrame:
    """Score, select and order the faces of one video; write faceset.parquet.

    section: the config's sort section, key for key (SortSettings: order, identity, min_face_px,
    blur_keep, max_yaw, max_faces, ...; missing keys take its defaults)."""
    started = time.monotonic()
    settings = sort_settings(section)
    detected = read_faces(table_path, kept_only=False)  # one_face counts every face found in a frame
    faces = read_faces(table_path).reset_index(drop=True)  # those extraction kept (with a crop)
    curation = read_curation(curation_path, set(faces["face_id"])) if curation_path else Curation()
    scores, features = score_faces(faces, faces_dir, threads=threads, faces_per_frame=detected.groupby("frame").size(),
                                   keep_crops=ORDERS[settings.order].needs_crops)
    _identity(faces, faces_dir, scores, curation, curation_path, settings)
    decision = select_faces(faces, scores, features, settings, curation=curation)

    hist = pd.DataFrame({"hist": list(features.hist)}, index=faces.index)
    faceset = pd.concat([faces, scores, hist, decision], axis=1)
    counts = {k: v for k, v in faceset["reason"].value_counts().items() if k}
    n_selected = int(faceset["selected"].sum())
    log.info("%d of %d faces selected (order %s) in %.1f s; left out: %s",
             n_selected, len(faceset), settings.order, time.monotonic() - started, counts or "none")
    if n_selected == 0:
        raise SwaplibError(
            f"{table_path}: no face left for training after sorting "
            f"(left out: {', '.join(f'{v} {k}' for k, v in counts.items())}); "
            "loosen the sort settings (min_face_px, blur_keep, max_yaw, ...) or review the curation sheet"
        )
    _write(faceset, faceset_path, order=f"{settings.order} ({ORDERS[settings.order].about})")
    return faceset


def _write(faceset: pd.DataFrame, path: str | Path, *, order: str) -> None:
    """faceset.parquet, atomically; `order` (in words) kept in the file's metadata for the sheets."""
    table = pa.Table.from_pandas(faceset, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), ORDER_KEY: order.encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _identity(faces, faces_dir, scores, curation: Curation, curation_path, settings: SortSettings) -> None:
    """Fill scores["identity"] when there are embeddings to use."""
    wanted = bool(curation.references) or settings.order == "identity"
    if curation.references and settings.identity == "none":
        raise SwaplibError(f"{curation_path}: names reference faces, but sort.identity is 'none'")
    embeddings = face_embeddings(faces, faces_dir, crop_landmarks(faces), mode=settings.identity, wanted=wanted)
    if embeddings is not None:
        references = faces["face_id"].isin(curation.references).to_numpy()
        scores["identity"] = identity_distance(embeddings, references)
