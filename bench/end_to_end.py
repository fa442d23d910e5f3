"""End to end: the example sheet (pairs.tsv) through the whole workflow, timed per stage, with its quality.

    .venv/bin/python bench/end_to_end.py [WORKDIR] [--cores N] [--configfile my.yaml]

Runs this checkout's Snakefile in WORKDIR (default /tmp/swaplib-end-to-end; an earlier run there
is resumed, so delete it for a fresh timing) on pairs.tsv with its video paths made absolute, at
config.yaml's settings (deep-merged with --configfile). Then prints the wall time, the per-stage
times and peak memory (bench/stage_times.py) and every pair's quality figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from stage_times import print_table, read_benchmarks

REPO = Path(__file__).resolve().parents[1]
FIGURES = ["verdict", "id_match", "id_top1", "sharpness", "relative_sharpness", "sharpness_limit", "id_retrieval",
           "landmark_error", "jitter_ratio", "coverage"]


def prepare(workdir: Path) -> None:
    """WORKDIR/config.yaml and WORKDIR/pairs.tsv (video paths absolute: they were relative to the checkout)."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "config.yaml", workdir / "config.yaml")
    sheet = pd.read_csv(REPO / "pairs.tsv", sep="\t", dtype=str, keep_default_na=False)
    for column in ("source", "destination"):
        sheet[column] = [str((REPO / path).resolve()) for path in sheet[column]]
    sheet.to_csv(workdir / "pairs.tsv", sep="\t", index=False)


def quality_table(workdir: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((workdir / "results" / "pairs").glob("*/quality.json")):
        quality = json.loads(path.read_text())
        rows.append({"pair": path.parent.name, **{name: quality.get(name) for name in FIGURES}})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workdir", nargs="?", type=Path, default=Path("/tmp/swaplib-end-to-end"))
    parser.add_argument("--cores", default="all")
    parser.add_argument("--configfile", type=Path)
    args = parser.parse_args()
    prepare(args.workdir)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(args.workdir),
           "--cores", str(args.cores)]
    if args.configfile:
        cmd += ["--configfile", str(args.configfile.resolve())]
    started = time.monotonic()
    if subprocess.run(cmd).returncode:
        sys.exit(f"the run in {args.workdir} failed: see Snakemake's output above")
    print(f"\nwall time of the run: {time.monotonic() - started:.0f} s\n")
    print_table(read_benchmarks(args.workdir))
    print("\nquality per pair:")
    print(quality_table(args.workdir).to_string(index=False))


if __name__ == "__main__":
    main()
