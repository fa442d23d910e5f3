"""swaplib: face swapping, stage by stage (frames, faces, sort, train, merge, video)."""

import os
from importlib.metadata import PackageNotFoundError, version

# OpenMP's threads wait for work asleep, not spinning: on a CPU shared with other work (another job
# of the run, another program) spinning threads and that work slow each other down. Measured on 2
# AMD EPYC cores beside a busy process, the tiny preset on 2 threads: 1,082 ms a step spinning, 762
# asleep; alone 396 against 404 (bench/shared_cpu.py). OpenMP reads it when it starts, so before
# torch is imported; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# From the installed package's metadata, so that a release changes no stage's code hash.
try:
    __version__ = version("swaplib")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
