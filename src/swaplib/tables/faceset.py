"""The face set table (faceset.parquet): what the sort stage hands to training, merge and quality.

It keeps every column of faces.parquet, the scores, and the decision: `selected`, `rank` (training
order, -1 when left out), `reason` ("" when selected) and `curation`. The file's metadata names
the order the ranks follow (under ORDER_KEY), for the contact sheets' title.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from swaplib.core.errors import SwaplibError

FACESET_COLUMNS = ["selected", "rank", "reason", "curation"]
# Why a face was left out (the `reason` column), in the order the selection applies its rules.
REASONS = ("curation", "too small", "too large", "pose", "identity", "several faces", "blurry", "duplicate",
           "over max_faces")
ORDER_KEY = b"swaplib.sort.order"  # parquet metadata: the order the ranks follow, in words


def read_faceset(path: str | Path) -> pd.DataFrame:
    """The face set table, or a SwaplibError naming the file."""
    try:
        faceset = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for missing or corrupt files
        raise SwaplibError(f"{path}: missing or unreadable face set table ({exc})") from exc
    missing = set(FACESET_COLUMNS + ["blur"]) - set(faceset.columns)
    if missing:
        raise SwaplibError(f"{path}: not a face set table (lacks {', '.join(sorted(missing))})")
    return faceset


def selected_faces(faceset_path: str | Path) -> pd.DataFrame:
    """The selected faces of a face set, in training order: exactly what training reads."""
    faceset = read_faceset(faceset_path)
    return faceset[faceset["selected"]].sort_values("rank").reset_index(drop=True)

