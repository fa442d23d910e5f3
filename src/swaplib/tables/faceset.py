"""The face set table (faceset.parquet): what the sort stage hands to training, merge and quality.

It keeps every column of faces.parquet, the scores, and the decision: `selected`, `rank` (training
order, -1 when left out), `reason` ("" when selected) and `curation`. The file's metadata names
the order the ranks follow (`faceset_order`), for the contact sheets' title.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError

FACESET_COLUMNS = ["selected", "rank", "reason", "curation"]
# Why a face was left out (the `reason` column), in the order the selection applies its rules.
REASONS = ("curation", "too small", "too large", "pose", "identity", "blurry", "duplicate", "over max_faces")
ORDER_KEY = b"swaplib.sort.order"


def write_faceset(faceset: pd.DataFrame, path: str | Path, *, order: str) -> None:
    """faceset.parquet, atomically; `order` (a few words) is kept in the file's metadata."""
    table = pa.Table.from_pandas(faceset, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), ORDER_KEY: order.encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def faceset_order(path: str | Path) -> str | None:
    """The order a face set's ranks follow, as written by write_faceset (None if not recorded)."""
    try:
        value = (pq.read_schema(path).metadata or {}).get(ORDER_KEY)
    except Exception as exc:  # pyarrow raises several types for missing or corrupt files
        raise SwaplibError(f"{path}: missing or unreadable face set table ({exc})") from exc
    return None if value is None else value.decode()


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

