"""config.yaml's and the schema's sections written from the declarations (the rest of each file is
left as it is): `python -m swaplib.config` writes them, `--check` says which differ."""

from __future__ import annotations

from pathlib import Path

import yaml

from swaplib.config.declare import Section, yaml_value
from swaplib.config.extract import EXTRACT
from swaplib.config.frames import FRAMES
from swaplib.config.merge import MERGE
from swaplib.config.pretrain import PRETRAIN
from swaplib.config.quality import QUALITY
from swaplib.config.sort import CURATION, SORT
from swaplib.config.train import TRAIN
from swaplib.config.video import VIDEO
from swaplib.config.xseg import XSEG

# Every section of config.yaml, in its order (`pairs:` is the sheet's path, no section).
DECLARED = (FRAMES, EXTRACT, SORT, CURATION, XSEG, TRAIN, PRETRAIN, MERGE, VIDEO, QUALITY)
CONFIG = Path("config.yaml")
SCHEMA = Path("workflow/schemas/config.schema.yaml")


def _replace_block(text: str, start: str, section: str, lines: list[str], file: Path) -> str:
    """`text` with the block that starts at the line `start` (up to the next line as little indented,
    or a blank line before one) replaced by `lines`."""
    old = text.splitlines()
    heads = [i for i, line in enumerate(old) if line.split("#")[0].rstrip() == start]  # a comment may follow
    if not heads:
        raise ValueError(f"{file}: no line {start!r} for the {section} section to go in")
    first = heads[0]
    indent = len(start) - len(start.lstrip())
    last = first + 1
    while last < len(old) and (not old[last].strip() or len(old[last]) - len(old[last].lstrip()) > indent):
        last += 1
    while last > first + 1 and not old[last - 1].strip():  # blank lines stay between sections
        last -= 1
    return "\n".join(old[:first] + lines + old[last:]) + "\n"


def schema_lines(section: Section) -> list[str]:
    """The section's schema as the schema file holds it: under `properties:`, two spaces in."""
    dumped = yaml.safe_dump({section.name: section.schema()}, sort_keys=False, default_flow_style=None,
                            allow_unicode=True, width=118)
    return ["  " + line if line else line for line in dumped.splitlines()]


def rendered(root: Path) -> dict[Path, str]:
    """config.yaml and the schema as the declarations make them (their other sections as they are)."""
    files = {}
    config, schema = (root / CONFIG).read_text(), (root / SCHEMA).read_text()
    for section in DECLARED:
        config = _replace_block(config, f"{section.name}:", section.name, section.yaml_lines(), CONFIG)
        schema = _replace_block(schema, f"  {section.name}:", section.name, schema_lines(section), SCHEMA)
    files[root / CONFIG], files[root / SCHEMA] = config, schema
    return files


def write(root: Path, check: bool = False) -> list[Path]:
    """Write (or with `check`, only compare) the files; the ones that differed from the declarations."""
    differ = []
    for path, text in rendered(root).items():
        if path.read_text() != text:
            differ.append(path)
            if not check:
                path.write_text(text)
    return differ


def set_values(path: Path, section: str, values: dict) -> str:
    """config.yaml's text with `values` set in `section`, every other line (comments, order, the
    column the comments start at) as it was; a key the section lacks is added at its end."""
    lines = path.read_text().splitlines()
    heads = [i for i, line in enumerate(lines) if line.split("#")[0].rstrip() == f"{section}:"]
    if not heads:
        raise ValueError(f"{path}: no {section}: section to set {', '.join(values)} in")
    end = heads[0] + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "#"))):
        end += 1
    for key, value in values.items():
        entry = f"  {key}: {yaml_value(value)}"
        at = next((i for i in range(heads[0] + 1, end) if lines[i].split(":")[0] == f"  {key}"), None)
        if at is None:
            lines.insert(end, entry)
            end += 1
            continue
        comment = lines[at].find(" #", len(f"  {key}:"))
        lines[at] = entry if comment < 0 else entry.ljust(comment) + lines[at][comment:]
    return "\n".join(lines) + "\n"
