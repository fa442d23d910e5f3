"""Plain-text tables for the terminal: columns padded to their widest cell."""

from __future__ import annotations


def aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    """The header and rows as lines, each column as wide as its widest cell, two spaces apart."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
