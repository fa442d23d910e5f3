"""The machine a benchmark ran on, named the same way by every bench script."""

from __future__ import annotations

import platform
import subprocess


def cpu_name() -> str:
    """lscpu's model name (the platform's processor string where lscpu is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or platform.machine()
