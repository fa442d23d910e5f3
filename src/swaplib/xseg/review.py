"""The faces to outline next, as a folder to open in LabelMe: the ones a person marked "needs a
label" and the ones whose XSeg masks look least right.

    labels/{video}/to_label.tsv      the marks: face (a face id or frame range) <tab> note
                                     (python -m swaplib curate VIDEO --label 000012_0 --note "hand")
    results/videos/{video}/to_label/
        faces.tsv                    a row per face to outline: face_id, why (marked | suggested),
                                     note, and its mask's figures (below)
        mask_figures.tsv             every face's mask figures: face_id, mask_share, hull_agreement, unsure
        page-001.png, ...            their contact sheet, every crop with its mask laid over it
        crops/{face_id}.png|jpg      the aligned crops at full size: outline one in LabelMe and save
                                     its JSON as labels/{video}/{face_id}.json (crop coordinates)

The marks are a file of their own, not rows of the curation sheet, because the curation sheet is
sort's input: marking a face for an outline must rerun no sort and no training.

A face's mask figures, at FIGURES_PX: mask_share (the mask's mean over the crop), hull_agreement
(intersection over union of the mask and the landmark hull, both cut at one half) and unsure (the
share of the mask-or-hull area the mask leaves between 0.25 and 0.75). A mask that leaves out an
occluder agrees less with the hull, and one that does not know is unsure: suggestions are the
faces without a label file with the highest (1 - hull_agreement) + unsure.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from swaplib.core.atomic import atomic_dir, atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image, shrink, write_image
from swaplib.core.settings import is_whole
from swaplib.sort.contact_sheet import THUMB_PX, face_tile, grey_mask, lay_out, overlay_mask, short_number
from swaplib.sort.curation import Row, check_target, resolve
from swaplib.tables.faces import read_faces
from swaplib.xseg.labels import hull_labels, label_files

log = logging.getLogger(__name__)

MARKS_FILE = "to_label.tsv"
MARKS_HEADER = ("face", "note")
FIGURES_PX = 64
UNSURE = (0.25, 0.75)
FIGURE_COLUMNS = ["face_id", "mask_share", "hull_agreement", "unsure"]
COLUMNS = ["face_id", "why", "note", *FIGURE_COLUMNS[1:]]


@dataclass(frozen=True)
class ReviewSettings:
    """The curation section's review of masks (beside sort.settings.CurationSettings, which says
    where the sheets live; these two need xseg)."""

    show_masks: bool = False  # the contact sheets overlay each face's XSeg mask
    suggest_labels: int = 16  # faces to_label/ suggests outlining, beside the marked ones

    def __post_init__(self):
        if not isinstance(self.show_masks, bool):
            raise SwaplibError(f"curation show_masks must be true or false, got {self.show_masks!r}")
        if not is_whole(self.suggest_labels) or self.suggest_labels < 0:
            raise SwaplibError(
                f"curation suggest_labels must be a whole number of at least 0, got {self.suggest_labels!r}")


REVIEW_KEYS = tuple(field.name for field in fields(ReviewSettings))


# --------------------------------------------------------------------------- the marks


def read_marks(path: str | Path, known_ids: set[str]) -> dict[str, str]:
    """face_id -> note for every face a marks file names, in file order; a malformed line or an
    unknown face stops with the file, the line and the reason."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SwaplibError(f"{path}: not a readable list of faces to label ({exc})") from exc
    numbered = [(n, text) for n, text in enumerate(lines, 1) if text.strip() and not text.lstrip().startswith("#")]
    if not numbered or [c.strip().lower() for c in numbered[0][1].split("\t")][:1] != ["face"]:
        raise SwaplibError(f"{path}: the first line must be the header: {chr(9).join(MARKS_HEADER)}")
    rows = []
    for line, text in numbered[1:]:
        face, _, note = text.strip().partition("\t") if "\t" in text else text.strip().partition(" ")
        try:
            check_target(face.strip())
        except ValueError as exc:
            raise SwaplibError(f"{path}:{line}: {exc}") from None
        rows.append(Row(line, face.strip(), "label", note.strip()))
    marked = resolve(rows, set(known_ids), path)
    return {face_id: marked.notes[face_id] for face_id in marked.actions}


def append_marks(path: str | Path, faces: list[str], note: str = "") -> None:
    """Add faces (ids or frame ranges) to a marks file, creating it with its header; checked first,
    and the file is replaced whole."""
    path = Path(path)
    for face in faces:
        try:
            check_target(face)
        except ValueError as exc:
            raise SwaplibError(f"{path}: {exc}") from None
    text = path.read_text(encoding="utf-8") if path.exists() else "\t".join(MARKS_HEADER) + "\n"
    if not text.endswith("\n"):
        text += "\n"
    text += "".join(f"{face}\t{' '.join(note.split())}".rstrip("\t") + "\n" for face in faces)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- mask figures


def mask_figures(masks: np.ndarray, hulls: np.ndarray) -> pd.DataFrame:
    """mask_share, hull_agreement and unsure of (N, R, R) masks against their hulls (both 0..1)."""
    face, hull = masks >= 0.5, hulls >= 0.5
    union = (face | hull).sum((1, 2))
    agreement = np.where(union > 0, (face & hull).sum((1, 2)) / np.maximum(union, 1), 1.0)
    between = (masks > UNSURE[0]) & (masks < UNSURE[1])
    unsure = np.where(union > 0, (between & (face | hull)).sum((1, 2)) / np.maximum(union, 1), 0.0)
    return pd.DataFrame({"mask_share": masks.mean((1, 2)), "hull_agreement": agreement, "unsure": unsure})


def labelled_faces(faces: pd.DataFrame, labels_dir: str | Path | None) -> set[str]:
    """The face ids a label file covers (named by the face id or by its frame)."""
    stems = {path.stem for path in label_files(labels_dir)}
    frames = {int(stem) for stem in stems if stem.isdigit()}
    return {face_id for face_id, frame in zip(faces["face_id"], faces["frame"])
            if face_id in stems or int(frame) in frames}


def faces_to_label(figures: pd.DataFrame, marks: dict[str, str], labelled: set[str], suggest: int) -> pd.DataFrame:
    """The marked faces (in the marks' order), then up to `suggest` unlabelled ones by how wrong
    their masks look; one row of COLUMNS each, with `position` in the face table. figures: every
    face's mask_figures with its face_id and position."""
    marked = figures.set_index("face_id").loc[list(marks)].reset_index().assign(why="marked")
    marked["note"] = [marks[face_id] for face_id in marked["face_id"]]
    others = figures[~figures["face_id"].isin(set(marks) | labelled)]
    badness = (1.0 - others["hull_agreement"]) + others["unsure"]
    suggested = others.loc[badness.sort_values(ascending=False, kind="stable").index[:max(0, suggest)]]
    suggested = suggested.assign(why="suggested", note="")
    return pd.concat([marked, suggested], ignore_index=True)[[*COLUMNS, "position"]]


# --------------------------------------------------------------------------- the folder


def write_label_review(table: str | Path, faces_dir: str | Path, masks_dir: str | Path, out_dir: str | Path, *,
                       marks: str | Path | None = None, labels_dir: str | Path | None = None,
                       suggest_labels: int = 16, faces_per_page: int = 256, title: str = "") -> pd.DataFrame:
    """The review folder (module docstring) of a video's faces: its face table, crops folder and
    XSeg masks; marks: its marks file, if any; labels_dir: its label files (labelled faces are not
    suggested again). Returns the faces.tsv table."""
    faces = read_faces(table).reset_index(drop=True)
    masks_dir = Path(masks_dir)
    masks = np.zeros((len(faces), FIGURES_PX, FIGURES_PX), np.float32)
    for i, face_id in enumerate(faces["face_id"]):
        mask = grey_mask(masks_dir / f"{face_id}.png")
        masks[i] = cv2.resize(mask, (FIGURES_PX, FIGURES_PX), interpolation=cv2.INTER_AREA) / 255.0
    marked = read_marks(marks, set(faces["face_id"])) if marks and Path(marks).is_file() else {}
    figures = mask_figures(masks, hull_labels(faces, FIGURES_PX)).assign(
        face_id=faces["face_id"].to_numpy(), position=np.arange(len(faces)))
    rows = faces_to_label(figures, marked, labelled_faces(faces, labels_dir), suggest_labels)
    tiles = []
    for row in rows.itertuples():
        crop = read_image(Path(faces_dir) / faces["file"].iloc[row.position])
        thumb = overlay_mask(shrink(crop, THUMB_PX), grey_mask(masks_dir / f"{row.face_id}.png"))
        label = row.note or f"{row.why}: hull {short_number(row.hull_agreement)}"
        tiles.append(face_tile(thumb, row.face_id, label, False))
    summary = (f"{(rows['why'] == 'marked').sum()} marked, {(rows['why'] == 'suggested').sum()} suggested "
               "(mask least like the hull, or least sure); red: what the mask leaves out")
    pages = lay_out(tiles, title=title or f"{Path(table).parent.name}: faces to outline", summary=summary,
                    faces_per_page=faces_per_page)
    with atomic_dir(out_dir) as tmp:
        (tmp / "crops").mkdir()
        for row in rows.itertuples():
            crop = Path(faces_dir) / faces["file"].iloc[row.position]
            shutil.copyfile(crop, tmp / "crops" / f"{row.face_id}{crop.suffix}")
        rows[COLUMNS].to_csv(tmp / "faces.tsv", sep="\t", index=False, float_format="%.4f")
        figures[FIGURE_COLUMNS].to_csv(tmp / "mask_figures.tsv", sep="\t", index=False, float_format="%.4f")
        for number, page in enumerate(pages, 1):
            write_image(tmp / f"page-{number:03d}.png", page)
    log.info("%s: %d faces to outline (%d marked)", out_dir, len(rows), len(marked))
    return rows[COLUMNS]
