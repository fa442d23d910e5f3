"""swaplib runs on the torch it finds, from the lowest release pyproject.toml allows: the tests of the
parts that compute with torch (models, training, export, merging) pass under that release.

They run in a venv of their own that holds the floor's torch and takes every other package from the
running venv (a .pth line), so only torch differs. CI builds it (SWAPLIB_REQUIRE_TORCH_FLOOR=1: pip
fetches that torch, a CUDA build that runs on the CPU, about 4.6 GB); elsewhere the test runs when
the venv is already there, and says how to build it when not."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from workflow_support import REPO

# The test files of the code that computes with torch (the workflow's tests run Snakemake, which is
# not torch's to break).
TORCH_TESTS = ("test_model*.py", "test_train*.py", "test_export.py", "test_xseg_train.py", "test_merge.py")


def torch_floor() -> str:
    """The lowest torch pyproject.toml allows, as written there (torch>=X.Y)."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    found = [m.group(1) for d in declared if (m := re.fullmatch(r"torch\s*>=\s*([\d.]+)(,.*)?", d.strip()))]
    assert len(found) == 1, f"pyproject.toml: no torch>=X.Y range among {declared}"
    return found[0]


def floor_python(floor: str) -> Path:
    """The floor venv's python: SWAPLIB_TORCH_FLOOR_VENV or ~/.cache/swaplib/torch-floor-X.Y, built
    when CI asks for it, with this venv's packages behind its own torch."""
    default = Path.home() / ".cache" / "swaplib" / f"torch-floor-{floor}"
    venv = Path(os.environ.get("SWAPLIB_TORCH_FLOOR_VENV") or default)
    python = venv / "bin" / "python"
    if not python.exists():
        if not os.environ.get("SWAPLIB_REQUIRE_TORCH_FLOOR"):
            pytest.skip(f"no venv with torch {floor} at {venv} (SWAPLIB_REQUIRE_TORCH_FLOOR=1 builds it, as CI does)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"torch=={floor}.*"], check=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # After its own site-packages: torch comes from the floor venv, everything else (swaplib too) from here.
    behind = sysconfig.get_paths()["purelib"]
    (Path(site) / "zz_swaplib_packages.pth").write_text(f"import site; site.addsitedir({behind!r})\n")
    return python


def test_the_torch_parts_pass_under_the_lowest_torch_allowed():
    floor = torch_floor()
    python = floor_python(floor)
    found = subprocess.run([str(python), "-c", "import torch, swaplib; print(torch.__version__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert re.match(rf"{re.escape(floor)}(\.\d+)?(\+\w+)?$", found), f"{python}: torch {found}, not the floor {floor}"
    files = sorted({str(p.relative_to(REPO)) for pattern in TORCH_TESTS for p in (REPO / "tests").glob(pattern)})
    assert "tests/test_train.py" in files and "tests/test_model.py" in files
    done = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *files], cwd=REPO,
                          capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, f"under torch {found}:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    assert re.search(r"\d+ passed", done.stdout.splitlines()[-1])
