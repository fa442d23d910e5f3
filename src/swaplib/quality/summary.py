"""The end of a workflow run in words: each pair's video, verdict and why (Snakemake's onsuccess).

Torch-free: the Snakefile imports it.
"""

from __future__ import annotations

import json
from pathlib import Path

from swaplib.core.columns import aligned


def run_summary(workdir: str | Path, pairs: list[str]) -> str:
    """What a finished workflow run made: each pair's video, verdict, whether it is convincing and the test
    that decided it, then where to look (the end of `make run`, Snakemake's onsuccess)."""
    workdir = Path(workdir)
    rows, notes = [], []
    for pair in pairs:
        folder = workdir / "results" / "pairs" / pair
        video = folder.with_suffix(".mp4")
        try:
            quality = json.loads((folder / "quality.json").read_text())
        except (OSError, ValueError):
            quality = {}
        rows.append([pair, str(video.relative_to(workdir)) if video.is_file() else "-",
                     quality.get("verdict", "not measured"), "yes" if quality.get("convincing") else "no",
                     quality.get("verdict_reason", "-")])
        if quality.get("convincing_text") and not quality.get("convincing"):
            notes.append(f"{pair}: {quality['convincing_text']}")
    lines = ["", "swaplib: the run made these (every video is marked synthetic):", ""]
    lines += aligned(["pair", "video", "verdict", "convincing", "decided by"], rows)
    lines += ["", *notes] if notes else []
    lines += ["", "Each pair's figures and strip: results/pairs/PAIR/quality.html; where each training stands: "
              "swaplib status; all of it in one page: snakemake --report report.html"]
    return "\n".join(lines)
