"""Contact sheets for review: every face of a set as a thumbnail, on pages of a fixed size.

Selected faces come first, in training order, each labelled with its face id and the score that
placed it; then the faces left out, greyed, grouped by reason and labelled with it. The ids are
what the curation sheet (or `python -m swaplib curate`) takes. The pages are drawn from the
written face set and its crops, so that drawing them is a step of its own: a change here
changes no face set and retrains nothing. With masks (curation.show_masks: the XSeg masks), each
thumbnail shows what its mask leaves out tinted red and the mask's edge in green, so that a hand
kept as face or a cheek cut away shows at a glance.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from swaplib.core.atomic import atomic_dir
from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image, shrink, write_image
from swaplib.tables.faceset import ORDER_KEY, REASONS, read_faceset

THUMB_PX = 80
TILES_PER_ROW = 16
LABEL_PX = 28  # two text lines under each thumbnail
HEADER_PX = 44  # two text lines on top of each page
FONT = cv2.FONT_HERSHEY_PLAIN
WHITE, RED, GREY = (255, 255, 255), (80, 80, 255), (170, 170, 170)
NOT_FACE_TINT, MASK_EDGE = np.array((40, 40, 230), np.float32), (80, 230, 80)  # BGR
TINT_STRENGTH = 0.55  # of the red where the mask is 0: the face beneath stays recognisable


def short_number(value: float) -> str:
    if value is None or not np.isfinite(value):
        return ""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 1 else f"{value:.3f}"


def _text(image: np.ndarray, text: str, x: int, y: int, colour, scale: float = 0.8) -> None:
    """Draw text, shrunk to fit the image's width (a long reason on a narrow tile)."""
    width = cv2.getTextSize(text, FONT, scale, 1)[0][0]
    scale *= min(1.0, (image.shape[1] - x - 1) / max(width, 1))
    cv2.putText(image, text, (x, y), FONT, scale, colour, 1, cv2.LINE_AA)


def face_tile(thumb: np.ndarray, face_id: str, note: str, left_out: bool) -> np.ndarray:
    size = thumb.shape[0]
    if left_out:  # grey and faded, so the selected set stands out
        grey = cv2.cvtColor(cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        thumb = cv2.addWeighted(grey, 0.5, np.full_like(grey, 128), 0.5, 0)
    tile = np.zeros((size + LABEL_PX, size, 3), np.uint8)
    tile[:size] = thumb
    _text(tile, face_id, 2, size + 12, GREY if left_out else WHITE)
    _text(tile, note, 2, size + 25, RED if left_out else WHITE)
    return tile


def overlay_mask(thumb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The thumbnail with what `mask` (uint8 or 0..1, any size) calls not face tinted red and its
    edge (at one half) drawn green."""
    size = thumb.shape[0]
    mask = mask.astype(np.float32) / (255.0 if mask.dtype == np.uint8 else 1.0)
    mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA) if mask.shape[0] != size else mask
    alpha = (TINT_STRENGTH * (1.0 - np.clip(mask, 0, 1)))[..., None]
    out = np.round(thumb * (1.0 - alpha) + NOT_FACE_TINT * alpha).astype(np.uint8)
    contours, _ = cv2.findContours((mask >= 0.5).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, MASK_EDGE, 1, cv2.LINE_AA)
    return out


def grey_mask(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise SwaplibError(f"{path}: missing or not a readable mask image")
    return mask


def lay_out(tiles: list[np.ndarray], *, title: str, summary: str, faces_per_page: int) -> list[np.ndarray]:
    """Pages of TILES_PER_ROW tiles a row under a two-line header (the title, with its page
    number, and a summary); every tile has the same size."""
    height, width = tiles[0].shape[:2] if tiles else (THUMB_PX + LABEL_PX, THUMB_PX)
    n_pages = max(1, math.ceil(len(tiles) / faces_per_page))
    pages = []
    for page in range(n_pages):
        chunk = tiles[page * faces_per_page : (page + 1) * faces_per_page]
        rows = max(1, math.ceil(len(chunk) / TILES_PER_ROW))
        sheet = np.full((HEADER_PX + rows * height, TILES_PER_ROW * width, 3), 24, np.uint8)
        _text(sheet, f"{title}  (page {page + 1}/{n_pages})", 4, 17, WHITE, 1.0)
        _text(sheet, summary, 4, 36, GREY, 1.0)
        for i, tile in enumerate(chunk):
            r, c = divmod(i, TILES_PER_ROW)
            y = HEADER_PX + r * height
            sheet[y : y + height, c * width : (c + 1) * width] = tile
        pages.append(sheet)
    return pages


def review_order(faceset: pd.DataFrame) -> np.ndarray:
    """Positions in sheet order: the selected set by rank, then left-out faces by reason, frame."""
    selected = np.flatnonzero(faceset["selected"].to_numpy())
    selected = selected[np.argsort(faceset["rank"].to_numpy()[selected], kind="stable")]
    priority = {reason: i for i, reason in enumerate(REASONS)}
    left = faceset.assign(_p=faceset["reason"].map(lambda r: priority.get(r, len(REASONS)))).reset_index(drop=True)
    left = left[~left["selected"]].sort_values(["_p", "frame", "index"], kind="stable")
    return np.concatenate([selected, left.index.to_numpy()]).astype(np.int64)


def contact_sheets(faceset: pd.DataFrame, thumbs: np.ndarray, *, title: str, faces_per_page: int) -> list[np.ndarray]:
    """The pages (BGR images) of a face set's contact sheet."""
    left_out = faceset.loc[~faceset["selected"], "reason"].value_counts()
    summary = f"selected {int(faceset['selected'].sum())} of {len(faceset)}" + (
        "; left out (grey): " + ", ".join(f"{n} {reason}" for reason, n in left_out.items()) if len(left_out) else ""
    )
    tiles = []
    for position in review_order(faceset):
        row = faceset.iloc[position]
        label = short_number(row["order_score"]) if row["selected"] else row["reason"]
        tiles.append(face_tile(thumbs[position], row["face_id"], label, not row["selected"]))
    return lay_out(tiles, title=title, summary=summary, faces_per_page=faces_per_page)


def write_sheets(folder: str | Path, pages: list[np.ndarray]) -> None:
    """page-001.png, page-002.png, ... in `folder`, which appears whole or not at all."""
    with atomic_dir(folder) as tmp:
        for number, page in enumerate(pages, 1):
            write_image(tmp / f"page-{number:03d}.png", page)


def write_faceset_sheets(
    faceset_path: str | Path,
    faces_dir: str | Path,
    sheets_dir: str | Path,
    *,
    faces_per_page: int,
    title: str | None = None,
    masks_dir: str | Path | None = None,
    threads: int = 1,
) -> int:
    """The contact sheet pages of a written face set (faceset.parquet and its crops) into
    `sheets_dir`; returns the number of pages. title: the pages' heading (default: the video's
    name and the set's order). masks_dir: {face_id}.png masks to overlay (a face without one shows
    as it is)."""
    if isinstance(faces_per_page, bool) or not isinstance(faces_per_page, int) or faces_per_page < 1:
        raise SwaplibError(f"faces_per_page must be a whole number of at least 1, got {faces_per_page!r}")
    faceset = read_faceset(faceset_path).reset_index(drop=True)
    if title is None:
        order = (pq.read_schema(faceset_path).metadata or {}).get(ORDER_KEY)
        title = Path(faceset_path).parent.name + (f": order {order.decode()}" if order else "")
    files = [Path(faces_dir) / name for name in faceset["file"]]

    def thumb(i: int) -> np.ndarray:
        image = shrink(read_image(files[i]), THUMB_PX)
        mask = Path(masks_dir) / f"{faceset['face_id'].iloc[i]}.png" if masks_dir else None
        return overlay_mask(image, grey_mask(mask)) if mask and mask.is_file() else image

    with ThreadPoolExecutor(max(1, threads)) as pool:
        thumbs = list(pool.map(thumb, range(len(files))))
    thumbs = np.stack(thumbs) if thumbs else np.zeros((0, THUMB_PX, THUMB_PX, 3), np.uint8)
    if masks_dir:
        title += "; red: what each face's mask leaves out"
    pages = contact_sheets(faceset, thumbs, title=title, faces_per_page=faces_per_page)
    write_sheets(sheets_dir, pages)
    return len(pages)
