"""The curation sheet: a person's decisions about faces, as a small TSV that Snakemake tracks.

    face        action     note
    000012_0    exclude    eyes closed
    000040-000055 exclude  hand over the face
    000047_1    include
    000090_0    reference  this is the person to keep

`face` is a face id (FRAME_INDEX, as on the contact sheet) or an inclusive frame range
FIRST-LAST meaning every face of those frames. `exclude` leaves faces out, `include` keeps them
whatever the automatic filters say, `reference` marks faces of the wanted person for the
identity filter. A later row overrides an earlier one for the same face, so appending is
always enough. Lines starting with # and blank lines are ignored. The old column name
`face_id` is accepted for `face`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError

OVERRIDES = ("exclude", "include")
ACTIONS = (*OVERRIDES, "reference")
COLUMNS = ("face", "action", "note")
_ALIASES = {"face_id": "face"}
FACE_ID = re.compile(r"^(\d+)_(\d+)$")
FRAME_RANGE = re.compile(r"^(\d+)-(\d+)$")


@dataclass
class Curation:
    """A curation sheet resolved against the face table."""

    actions: dict[str, str] = field(default_factory=dict)  # face id -> exclude | include
    references: set[str] = field(default_factory=set)  # face ids of the wanted person
    notes: dict[str, str] = field(default_factory=dict)  # face id -> the note of its deciding row


@dataclass(frozen=True)
class Row:
    line: int
    face: str
    action: str
    note: str


def check_target(face: str) -> tuple[int, int] | None:
    """(first, last) frame for a frame range, None for a face id; ValueError for anything else."""
    if FACE_ID.match(face):
        return None
    if match := FRAME_RANGE.match(face):
        first, last = int(match.group(1)), int(match.group(2))
        if first > last:
            raise ValueError(f"frame range {face!r} runs backwards")
        return first, last
    raise ValueError(f"{face!r} is neither a face id (FRAME_INDEX, e.g. 000012_0) nor a frame range "
                     "(e.g. 000010-000020)")


def _split(text: str, n: int) -> list[str]:
    # Tabs are the format; a hand-typed sheet with spaces is read too (notes may hold spaces).
    parts = text.split("\t", n - 1) if "\t" in text else text.split(None, n - 1)
    return [p.strip() for p in parts]


def read_rows(path: str | Path) -> list[Row]:
    """The rows of a curation sheet, checked for form (columns, actions, face syntax)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SwaplibError(f"{path}: not a readable curation sheet ({exc})") from exc
    numbered = [(n, text) for n, text in enumerate(lines, 1) if text.strip() and not text.lstrip().startswith("#")]
    if not numbered:
        raise SwaplibError(f"{path}: empty curation sheet; the first line must be the header: {chr(9).join(COLUMNS)}")
    header_line, header_text = numbered[0]
    header = [_ALIASES.get(name.lower(), name.lower()) for name in _split(header_text, 99)]
    unknown = [name for name in header if name not in COLUMNS]
    missing = [name for name in ("face", "action") if name not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise SwaplibError(
            f"{path}:{header_line}: header {header_text.strip()!r} must name the columns "
            f"face, action and optionally note (lacks: {', '.join(missing) or '-'}; "
            f"unknown: {', '.join(unknown) or '-'})"
        )
    rows = []
    for line, text in numbered[1:]:
        values = dict(zip(header, _split(text, len(header))))
        face, action = values.get("face", ""), values.get("action", "")
        if not action:
            raise SwaplibError(f"{path}:{line}: {text.strip()!r} has no action "
                               f"(columns: {', '.join(header)}, tab-separated)")
        _check_entry(face, action, where=f"{path}:{line}")
        rows.append(Row(line, face, action, values.get("note", "")))
    return rows


def resolve(rows: list[Row], known_ids: set[str], path: str | Path) -> Curation:
    """Each row's faces looked up among the extracted ones; an unknown face stops with its line."""
    by_frame: dict[int, list[str]] = {}
    for face_id in known_ids:
        by_frame.setdefault(int(face_id.split("_")[0]), []).append(face_id)
    curation = Curation()
    for row in rows:
        place = f"{path}:{row.line}" if row.line else str(path)  # line 0: a row not in a file yet
        frames = check_target(row.face)
        if frames is None:
            if row.face not in known_ids:
                raise SwaplibError(
                    f"{place}: face {row.face!r} is not among the extracted faces "
                    "(was the video re-extracted with other settings? face ids are FRAME_INDEX, e.g. 000012_0)"
                )
            faces = [row.face]
        else:
            faces = sorted(f for frame in range(frames[0], frames[1] + 1) for f in by_frame.get(frame, []))
            if not faces:
                raise SwaplibError(f"{place}: no face was extracted from frames {row.face}")
        for face_id in faces:
            if row.action == "reference":
                curation.references.add(face_id)
            else:
                curation.actions[face_id] = row.action
                curation.notes[face_id] = row.note
    return curation


def _check_entry(face: str, action: str, where: str) -> None:
    """One curation entry: a known action and a face id or frame range; errors say `where`."""
    if action not in ACTIONS:
        raise SwaplibError(f"{where}: action {action!r} is not one of {', '.join(ACTIONS)}")
    try:
        check_target(face)
    except ValueError as exc:
        raise SwaplibError(f"{where}: {exc}") from None


def read_curation(path: str | Path, known_ids: set[str]) -> Curation:
    """Read a curation sheet and resolve it against the face ids of the face table."""
    return resolve(read_rows(path), set(known_ids), path)


def append_curation(path: str | Path, entries: list[tuple[str, str, str]]) -> None:
    """Append (face, action, note) rows to a curation sheet, creating it with a header.

    Checked first, so a typo never lands in the file; the file is replaced atomically."""
    path = Path(path)
    for face, action, _ in entries:
        _check_entry(face, action, where=str(path))
    if path.exists():
        read_rows(path)  # refuse to add to a sheet that is already broken
        text = path.read_text(encoding="utf-8")
        header = [_ALIASES.get(n.lower(), n.lower()) for n in _split(_first_line(text), 99)]
        if not text.endswith("\n"):
            text += "\n"
    else:
        header, text = list(COLUMNS), "\t".join(COLUMNS) + "\n"
    for face, action, note in entries:
        if note and "note" not in header:
            raise SwaplibError(f"{path}: the sheet has no note column; add 'note' to its header to keep notes")
        values = {"face": face, "action": action, "note": " ".join(note.split())}
        text += "\t".join(values[name] for name in header).rstrip("\t") + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _first_line(text: str) -> str:
    return next(t for t in text.splitlines() if t.strip() and not t.lstrip().startswith("#"))
