"""Running the real workflow in a scratch copy, for the workflow tests.

The workflow's files (Snakefile, config.yaml, workflow/, src/, profiles/) are copied into a
temporary folder, so a test may edit the config, a curation sheet or a library module without
touching the checkout. Jobs import the library from that copy too (PYTHONPATH), and Snakemake
runs with the copy's profiles/default, as `make run` does (its rerun triggers among others).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from swaplib.core.merging import deep_merge

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "src", "envs", "profiles")


# A whole run in about a minute on two cores: few frames, small crops, a tiny model, few steps.
FRAMES = 30
ITERATIONS = 30
SMALL = {
    "frames": {"limit": FRAMES},
    "extract": {"size": 64},
    "sort": {"min_face_px": 32},
    "train": {"preset": "tiny", "iterations": ITERATIONS, "batch_size": 4, "lr": 5.0e-4, "save_every": 10},
}


def make_workdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, path / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, path / name)
    return path


def write_sheet(workdir: Path, rows: list[tuple], name: str = "pairs.tsv") -> Path:
    """rows: (pair, source, destination[, model]) with absolute video paths."""
    lines = ["pair\tsource\tdestination\tmodel"]
    for row in rows:
        pair, source, destination, *model = row
        lines.append(f"{pair}\t{source}\t{destination}\t{model[0] if model else ''}")
    sheet = workdir / name
    sheet.write_text("\n".join(lines) + "\n")
    return sheet


def write_config(workdir: Path, overrides: dict, name: str = "config.yaml") -> Path:
    """Write `name` in workdir: the repository's config.yaml with `overrides` deep-merged."""
    config = deep_merge(yaml.safe_load((REPO / "config.yaml").read_text()), overrides)
    path = workdir / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"), PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def finished_small_run(workdir: Path, rows: list[tuple]) -> Path:
    """`workdir` made, the sheet `rows` written and the whole workflow run on them with SMALL."""
    make_workdir(workdir)
    write_sheet(workdir, rows)
    write_config(workdir, SMALL)
    snakemake(workdir)
    return workdir


def copy_run(workdir: Path, into: Path) -> Path:
    """A copy of a run that a test may change (results, metadata and modification times kept)."""
    copy = into / "run"
    shutil.copytree(workdir, copy, symlinks=True)
    return copy


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> number of jobs a dry run would run now (from Snakemake's job stats table)."""
    proc = snakemake(workdir, "--dry-run", "--quiet", "rules", *args)
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    jobs = {}
    table = text[text.index("Job stats:") :] if "Job stats:" in text else text
    for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M):
        if rule != "total":
            jobs[rule] = int(count)
    if not jobs:
        raise AssertionError(f"could not read the dry run's job stats:\n{text}")
    return jobs
