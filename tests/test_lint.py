"""The project's linters: `snakemake --lint`, `snakefmt --check` over the workflow and ruff over the
Python. Each is skipped only where the tool is not installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_support import REPO, make_workdir, snakemake, write_sheet


def tool(name: str) -> str:
    """The tool beside this Python (the project's venv), else on PATH; skip when it is missing."""
    found = Path(sys.executable).with_name(name)
    path = str(found) if found.is_file() else shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return path


def run(*command: str) -> str:
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(command)} failed ({proc.returncode}):\n{output}"
    return output


@pytest.mark.workflow
def test_snakemake_lint_is_clean(tmp_path, clip):
    workdir = make_workdir(tmp_path / "lint")
    write_sheet(workdir, [("a_to_b", clip("lp_d12_man_glasses_talking"), clip("lp_d20_young_man_talking"))])
    proc = snakemake(workdir, "--lint", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Congratulations" in output, output


def test_snakefmt_check_is_clean():
    run(tool("snakefmt"), "--check", "Snakefile", "workflow/")


def test_ruff_is_clean():
    run(tool("ruff"), "check", "src", "tests", "bench", "workflow/scripts")
