"""Training speed on a CPU shared with other work: threads and OpenMP's wait policy, with and without a
busy neighbour.

A user's machine is shared, and so is a workflow run (Snakemake runs extraction beside training).
OpenMP's threads wait for work by spinning (OMP_WAIT_POLICY=ACTIVE, GNU OpenMP's default for a
while before they sleep): on a core that another process wants, the spinning and that process
slow each other down. Each row runs bench/train.py in a fresh process (the wait policy is read when
OpenMP starts) for one model at one precision, on 1 and 2 threads, with the policy unset (what torch
does by default), PASSIVE and ACTIVE, alone and beside a busy neighbour (a process spinning on one
core at normal priority, started before and stopped after).

    .venv/bin/python bench/shared_cpu.py                       # tiny bs8 and Quick96 bs4, fp32
    .venv/bin/python bench/shared_cpu.py --only Quick96 --precision bf16

The figure is ms per iteration (median of the steady iterations): lower is better. Compare within
one sitting only.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = {"tiny": ("tiny", 8), "Quick96": ("Quick96", 4)}  # bench/train.py --only name, the batch to read
POLICIES = ("unset", "PASSIVE", "ACTIVE")


def neighbour() -> subprocess.Popen:
    """A process that keeps one core busy at normal priority (what extraction beside training does)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def ms_per_iteration(name: str, batch: int, threads: int, policy: str, precision: str, iterations: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if policy != "unset":
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, str(HERE / "train.py"), "--only", name, "--threads", str(threads),
                          "--precision", precision, "--iterations", str(iterations)],
                         env=env, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        match = re.match(rf"{re.escape(name)}\s+{batch}\s+\S+\s+(\d+)", line)
        if match:
            return float(match.group(1))
    raise RuntimeError(f"no row for {name} batch {batch} in:\n{out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="tiny or Quick96 (default: both)")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--iterations", type=int, default=12)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from machine import cpu_features, cpu_name

    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores, {'/'.join(cpu_features())}; load average "
          f"{os.getloadavg()[0]:.1f} at start; precision {args.precision}; ms per iteration")
    print(f"{'model':<10}{'batch':>6}{'threads':>8}{'neighbour':>10}" + "".join(f"{p:>9}" for p in POLICIES))
    for name, (label, batch) in CASES.items():
        if args.only and args.only.lower() not in name.lower():
            continue
        for busy in (False, True):
            other = neighbour() if busy else None
            try:
                for threads in (1, 2):
                    times = [ms_per_iteration(label, batch, threads, policy, args.precision, args.iterations)
                             for policy in POLICIES]
                    print(f"{name:<10}{batch:>6}{threads:>8}{'busy' if busy else 'none':>10}"
                          + "".join(f"{t:>9.0f}" for t in times), flush=True)
            finally:
                if other:
                    other.kill()


if __name__ == "__main__":
    main()
