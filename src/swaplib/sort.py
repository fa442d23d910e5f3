"""Score every face, filter and curate, and order the training set (the face set).

The face set table keeps every extracted face: its scores, whether it was selected, its
rank in the training order, and for a face left out the reason (too small, blurry,
curation, over the cap). Curation is a reviewable TSV, never a deletion of files.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .align import hull_mask, transform_points
from .atomic import atomic_path, read_image, write_image
from .errors import SwaplibError
from .faces import landmarks_array, matrices_array, read_faces

log = logging.getLogger(__name__)

CURATION_ACTIONS = ("exclude", "include")
SCORE_COLUMNS = ["blur", "face_px", "brightness"]
FACESET_COLUMNS = ["selected", "rank", "reason", "curation"]


def score_faces(faces: pd.DataFrame, faces_dir: str | Path) -> pd.DataFrame:
    """Per-face scores: sharpness (variance of the Laplacian inside the face), size, brightness."""
    faces_dir = Path(faces_dir)
    crop_landmarks = [transform_points(lm, m) for lm, m in zip(landmarks_array(faces), matrices_array(faces))]
    blur, brightness = [], []
    for file, landmarks in zip(faces["file"], crop_landmarks):
        gray = cv2.cvtColor(read_image(faces_dir / file), cv2.COLOR_BGR2GRAY)
        inside = hull_mask(landmarks, gray.shape) > 0.5
        if not inside.any():  # degenerate landmarks: score the whole crop
            inside[:] = True
        blur.append(float(cv2.Laplacian(gray, cv2.CV_64F)[inside].var()))
        brightness.append(float(gray[inside].mean()))
    box_w = faces["box_x1"] - faces["box_x0"]
    box_h = faces["box_y1"] - faces["box_y0"]
    return pd.DataFrame(
        {"blur": blur, "face_px": np.sqrt(np.clip(box_w * box_h, 0, None)), "brightness": brightness},
        index=faces.index,
    )


def read_curation(path: str | Path, known_ids: set[str]) -> dict[str, str]:
    """Read a curation TSV (columns face_id, action[, note]) into {face_id: action}."""
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SwaplibError(f"{path}: not a readable curation sheet ({exc})") from exc
    missing = {"face_id", "action"} - set(table.columns)
    if missing:
        raise SwaplibError(f"{path}: curation sheet lacks column(s) {', '.join(sorted(missing))}")
    actions = {}
    for line, (face_id, action) in enumerate(zip(table["face_id"].str.strip(), table["action"].str.strip()), 2):
        if action not in CURATION_ACTIONS:
            raise SwaplibError(f"{path}: row {line}: action {action!r} is not one of {', '.join(CURATION_ACTIONS)}")
        if face_id not in known_ids:
            raise SwaplibError(
                f"{path}: row {line}: face {face_id!r} is not among the extracted faces "
                "(was the video re-extracted with other settings? face ids are FRAME_INDEX, e.g. 000012_0)"
            )
        actions[face_id] = action
    return actions


def select_faces(
    scores: pd.DataFrame,
    face_ids: pd.Series,
    *,
    min_face_px: float,
    blur_keep: float,
    max_faces: int,
    curation: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Decide, for every face, selected or not (with the reason) and its training rank."""
    curation = curation or {}
    decided = face_ids.map(lambda face_id: curation.get(face_id, ""))
    reason = pd.Series("", index=scores.index, dtype=object)
    reason[scores["face_px"] < min_face_px] = "too small"

    # The blur cut is relative: absolute sharpness depends on the video, its resolution and codec.
    candidates = scores.index[reason == ""]
    n_keep = int(np.ceil(len(candidates) * blur_keep))
    sharpest = scores.loc[candidates, "blur"].sort_values(ascending=False, kind="stable")
    reason[sharpest.index[n_keep:]] = "blurry"

    reason[decided == "exclude"] = "curation"
    reason[decided == "include"] = ""  # a person's word beats the filters
    order = scores.index[reason == ""]
    order = scores.loc[order].sort_values("blur", ascending=False, kind="stable").index
    if max_faces and len(order) > max_faces:
        # Keep the sharpest, but never drop a face a person asked to include.
        forced = order[decided[order] == "include"]
        rest = order[decided[order] != "include"]
        keep = forced.append(rest[: max(0, max_faces - len(forced))])
        reason[order.difference(keep)] = "over max_faces"
        order = order[order.isin(keep)]

    rank = pd.Series(-1, index=scores.index, dtype="int64")
    rank[order] = np.arange(len(order))
    return pd.DataFrame({"selected": rank >= 0, "rank": rank, "reason": reason, "curation": decided})


def contact_sheet(faces: pd.DataFrame, faces_dir: str | Path, *, thumb: int = 64, columns: int = 16, limit: int = 256) -> np.ndarray:
    """A grid of the selected faces in training order, then the left-out ones framed in red."""
    faces_dir = Path(faces_dir)
    chosen = faces[faces["selected"]].sort_values("rank")
    left_out = faces[~faces["selected"]]
    tiles = []
    for frame_red, rows in ((False, chosen), (True, left_out)):
        for row in rows.head(limit).itertuples():
            tile = cv2.resize(read_image(faces_dir / row.file), (thumb, thumb), interpolation=cv2.INTER_AREA)
            if frame_red:
                cv2.rectangle(tile, (0, 0), (thumb - 1, thumb - 1), (0, 0, 255), 2)
            cv2.putText(tile, row.face_id, (2, thumb - 4), cv2.FONT_HERSHEY_PLAIN, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
    rows_needed = max(1, -(-len(tiles) // columns))
    sheet = np.zeros((rows_needed * thumb, columns * thumb, 3), np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * thumb : (r + 1) * thumb, c * thumb : (c + 1) * thumb] = tile
    return sheet


def build_faceset(
    table_path: str | Path,
    faces_dir: str | Path,
    faceset_path: str | Path,
    sheet_path: str | Path,
    *,
    curation_path: str | Path | None = None,
    min_face_px: float = 48,
    blur_keep: float = 0.9,
    max_faces: int = 0,
) -> pd.DataFrame:
    """Score, select and order the faces of one video; write faceset.parquet and its contact sheet."""
    faces = read_faces(table_path)
    curation = read_curation(curation_path, set(faces["face_id"])) if curation_path else {}
    scores = score_faces(faces, faces_dir)
    decision = select_faces(
        scores, faces["face_id"], min_face_px=min_face_px, blur_keep=blur_keep, max_faces=max_faces, curation=curation
    )
    faceset = pd.concat([faces, scores, decision], axis=1)
    counts = faceset["reason"].value_counts().to_dict()
    n_selected = int(faceset["selected"].sum())
    log.info("%d of %d faces selected; left out: %s", n_selected, len(faceset), {k: v for k, v in counts.items() if k})
    if n_selected == 0:
        raise SwaplibError(
            f"{table_path}: no face left for training after sorting "
            f"(left out: {', '.join(f'{v} {k}' for k, v in counts.items() if k)}); "
            "lower sort.min_face_px, raise sort.blur_keep or review the curation sheet"
        )
    with atomic_path(faceset_path) as tmp:
        faceset.to_parquet(tmp, index=False)
    write_image(sheet_path, contact_sheet(faceset, faces_dir))
    return faceset


def read_faceset(path: str | Path) -> pd.DataFrame:
    """The face set table, or a SwaplibError naming the file."""
    try:
        faceset = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for missing or corrupt files
        raise SwaplibError(f"{path}: missing or unreadable face set table ({exc})") from exc
    missing = set(SCORE_COLUMNS + FACESET_COLUMNS) - set(faceset.columns)
    if missing:
        raise SwaplibError(f"{path}: not a face set table (lacks {', '.join(sorted(missing))})")
    return faceset


def selected_faces(faceset_path: str | Path) -> pd.DataFrame:
    """The selected faces of a face set, in training order."""
    faceset = read_faceset(faceset_path)
    return faceset[faceset["selected"]].sort_values("rank").reset_index(drop=True)
