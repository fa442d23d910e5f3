"""Self-contained HTML pages (the quality card, the report's pages): one look, key/value tables, and
the page written whole. A page loads nothing, since the report shows it offline, in a frame."""

from __future__ import annotations

import html
import json
from pathlib import Path

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError

CSS = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.4em}"
    "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:0.9em}"
    "th{background:#f3f3f3}.verdict{font-size:1.2em;padding:6px;background:#eef}.warning{color:#a40}"
)
END = "</body></html>\n"


def text(value) -> str:
    """A value as a cell shows it: None as n/a, a dict or list as JSON."""
    if value is None:
        return "n/a"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def rows(items: dict) -> str:
    """Table rows of a dict: each key a header cell, its value the cell beside it."""
    return "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(text(v))}</td></tr>" for k, v in items.items())


def read_json(path) -> dict:
    """A JSON record that a page shows; SwaplibError naming the file when it cannot be read."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SwaplibError(f"{path}: cannot read JSON ({exc})") from None


def head(title: str) -> str:
    """A page's start, up to and with its heading (the page ends with END)."""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>"
    )


def write_page(path, title: str, body: str) -> None:
    """Write a whole page (atomically: a reader never sees half of it)."""
    with atomic_path(path) as tmp:
        tmp.write_text(head(title) + body + END, encoding="utf-8")
