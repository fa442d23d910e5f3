"""The end of a workflow run in words: each pair's video (or swapped photos), verdict and why
(Snakemake's onsuccess).

Torch-free: the Snakefile imports it.
"""

from __future__ import annotations

import json
from pathlib import Path

from swaplib.core.columns import aligned
from swaplib.video.results import made_result


def run_summary(workdir: str | Path, pairs: list[str]) -> str:
    """What a finished workflow run made: each pair's video (a photo folder destination's: the folder of
    swapped photos), verdict, whether it is convincing and the test that decided it, then where to look
    (the end of `make run`, Snakemake's onsuccess)."""
    workdir = Path(workdir)
    rows, notes = [], []
    for pair in pairs:
        folder = workdir / "results" / "pairs" / pair
        result = made_result(folder.parent, pair)
        try:
            quality = json.loads((folder / "quality.json").read_text())
        except (OSError, ValueError):
            quality = {}
        rows.append([pair, _shown(result, workdir),
                     quality.get("verdict", "not measured"), "yes" if quality.get("convincing") else "no",
                     quality.get("verdict_reason", "-")])
        if quality.get("convincing_text") and not quality.get("convincing"):
            notes.append(f"{pair}: {quality['convincing_text']}")
    lines = ["", "swaplib: the run made these (every video and photo is marked synthetic):", ""]
    lines += aligned(["pair", "result", "verdict", "convincing", "decided by"], rows)
    lines += ["", *notes] if notes else []
    lines += ["", "Each pair's figures and strip: results/pairs/PAIR/quality.html; where each training stands: "
              "swaplib status; all of it in one page: snakemake --report report.html"]
    return "\n".join(lines)


def _shown(result: Path | None, workdir: Path) -> str:
    """A pair's result as the table shows it: relative to the run, a folder with its slash; - for none yet."""
    if result is None:
        return "-"
    return f"{result.relative_to(workdir)}{'/' if result.is_dir() else ''}"
