"""Per-stage wall time and peak memory of a finished run, from Snakemake's benchmark files.

    .venv/bin/python bench/stage_times.py [RUN_DIR]

Every rule writes benchmarks/{rule}/{wildcards}.tsv (Snakemake's `benchmark:` directive);
this prints one row per job and a total per stage, in pipeline order.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import pandas as pd

STAGES = ["frames", "faces", "faceset", "train", "merge", "video", "quality", "quality_card"]


def read_benchmarks(run_dir: Path) -> pd.DataFrame:
    rows = []
    for stage in STAGES:
        for tsv in sorted((run_dir / "benchmarks" / stage).glob("*.tsv")):
            bench = pd.read_csv(tsv, sep="\t").iloc[-1]
            rows.append({"stage": stage, "job": tsv.stem, "seconds": bench["s"], "max_rss_mb": bench["max_rss"]})
    return pd.DataFrame(rows, columns=["stage", "job", "seconds", "max_rss_mb"])


def print_table(table: pd.DataFrame) -> None:
    """One row per job, then the total per stage, with the machine they ran on."""
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    totals = table.groupby("stage", sort=False).agg(
        jobs=("job", "size"), seconds=("seconds", "sum"), max_rss_mb=("max_rss_mb", "max")
    )
    print("\nper stage:")
    print(totals.to_string(float_format=lambda x: f"{x:.1f}"))
    print(f"\nsum of job times: {table['seconds'].sum():.0f} s")


def main() -> None:
    run_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    table = read_benchmarks(run_dir)
    if table.empty:
        sys.exit(f"{run_dir}/benchmarks: no benchmark files (run the workflow first)")
    print_table(table)


if __name__ == "__main__":
    main()
