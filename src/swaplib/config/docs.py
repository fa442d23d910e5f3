"""The settings tables of the stage pages in docs/, written from the declarations.

A page asks for a section's table with the line `<!-- settings: NAME -->`; everything up to the
line `<!-- /settings -->` is the table, rewritten by `python -m swaplib.config` (and compared by
its --check), so a setting added to a declaration appears in its page without another edit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from swaplib.config.declare import Section
from swaplib.config.files import DECLARED

DOCS = Path("docs")
OPEN = re.compile(r"^<!-- settings: (?P<name>[a-z_]+) -->$")
CLOSE = "<!-- /settings -->"


def _value(value: Any) -> str:
    return "`" + (json.dumps(value) if isinstance(value, (str, type(None), bool, list, dict)) else str(value)) + "`"


def values_text(schema: dict) -> str:
    """What values a schema fragment takes, in a few words: the choices, a range, or the type."""
    if "enum" in schema:
        return ", ".join(str(v) for v in schema["enum"] if v is not None)
    kinds = schema.get("type", "")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    low, high = schema.get("minimum", schema.get("exclusiveMinimum")), schema.get("maximum")
    if low is not None or high is not None:
        left = "" if low is None else f"{low}{' (excluded)' if 'exclusiveMinimum' in schema else ''}"
        return f"{left}..{'' if high is None else high}"
    if "anyOf" in schema or "oneOf" in schema:
        options = (values_text(option) for option in schema.get("anyOf", schema.get("oneOf")))
        return " or ".join(text for text in options if text)
    named = [k for k in kinds if k != "null"]
    return " or ".join({"integer": "whole number", "boolean": "true/false"}.get(k, k) for k in named)


def rows(section: Section, prefix: str = "") -> list[str]:
    """One row per setting of `section` (a section inside it, such as video's c2pa, row by row)."""
    inner = {part.name: part for part in getattr(section, "inner", ())}
    key = f"{prefix}{section.name}."
    out = []
    for s in section.config:
        if s.name in inner:
            out += rows(inner[s.name], key)
            continue
        reruns = {"run": "nothing", "location": "what reads the files it names"}.get(s.role, "its stage and after")
        meaning = " ".join(s.meaning.split("\n")).replace("|", "\\|")
        out.append(f"| `{key}{s.name}` | {_value(s.default)} | "
                   f"{values_text(s.schema).replace('|', chr(92) + '|')} | {meaning} | {reruns} |")
    return out


def table(section: Section) -> list[str]:
    """The section's settings as a Markdown table: key, default, values, meaning, whether a change reruns."""
    return ["| key | default | values | meaning | a change reruns |", "|---|---|---|---|---|", *rows(section)]


def _rewrite(text: str, page: Path) -> str:
    sections = {section.name: section for section in DECLARED}
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        out.append(lines[i])
        opened = OPEN.match(lines[i])
        i += 1
        if not opened:
            continue
        if opened["name"] not in sections:
            raise ValueError(f"{page}: no declared section {opened['name']!r} for its settings table; "
                             f"declared: {', '.join(sections)}")
        end = next((j for j in range(i, len(lines)) if lines[j] == CLOSE), None)
        if end is None:
            raise ValueError(f"{page}: {lines[i - 1]} has no {CLOSE} line after it")
        out += table(sections[opened["name"]]) + [CLOSE]
        i = end + 1
    return "\n".join(out) + "\n"


def rendered(root: Path) -> dict[Path, str]:
    """Every page of docs/ that asks for a settings table, as the declarations make it."""
    return {page: _rewrite(page.read_text(), page.relative_to(root))
            for page in sorted((root / DOCS).glob("*.md")) if CLOSE in page.read_text()}


def write(root: Path, check: bool = False) -> list[Path]:
    """Write (or with `check`, only compare) the pages' tables; the pages that differed."""
    pages = {path: text for path, text in rendered(root).items() if path.read_text() != text}
    if not check:
        for path, text in pages.items():
            path.write_text(text)
    return list(pages)
