"""How many CPU threads train fastest now: measured during training, not guessed from the core count.

On a CPU that other work shares (another job of the run, another program), torch's threads wait on
each other across busy cores: measured on 2 AMD EPYC cores with a process busy on one of them, the
tiny preset took 1,082 ms a step on 2 threads and 660 on 1; alone, 2 threads took 396 ms and 1
thread 659 (bench/shared_cpu.py). OpenMP's wait policy (OMP_WAIT_POLICY) moved the 2-thread figure
both ways depending on the model and the neighbour, and never below 1 thread's when a core was
busy, so it is left as torch sets it; the thread count is what this tuner measures and chooses.

Every `every` steps the loop times a few real steps at each candidate count (all threads, halves
of it, 1) and trains on with the fastest until the next check. The steps measured are training
steps like any other: nothing is thrown away, and the weights are those of the same steps (only
the summation order of a few kernels may differ with the thread count, as between any two machines).
"""

from __future__ import annotations

import logging

import numpy as np
import torch


class ThreadTuner:
    """Chooses torch's thread count among 1..`most` by the step times measured at each."""

    def __init__(self, most: int, log: logging.Logger, every: int = 500, trial: int = 5, warmup: int = 10):
        self.candidates = sorted({most, *(2**k for k in range(most.bit_length()) if 2**k < most)}, reverse=True)
        self.best, self.log = most, log
        self.every, self.trial, self.warmup = every, trial, warmup
        self.steps = 0  # steps seen by this run
        self.queue: list[int] = []  # candidates still to time in the check under way
        self.current: int | None = None  # the candidate being timed
        self.samples: list[float] = []
        self.times: dict[int, float] = {}

    @property
    def active(self) -> bool:
        return len(self.candidates) > 1

    def before_step(self) -> None:
        if not self.active:
            return
        if self.current is None and not self.queue and self.steps % self.every == self.warmup:
            self.queue, self.times = list(self.candidates), {}
        if self.current is None and self.queue:
            self.current, self.samples = self.queue.pop(0), []
            torch.set_num_threads(self.current)

    def after_step(self, seconds: float) -> None:
        self.steps += 1
        if self.current is None:
            return
        self.samples.append(seconds)
        if len(self.samples) <= self.trial:  # the first step after a change warms the new threads up
            return
        self.times[self.current] = float(np.median(self.samples[1:]))
        self.current = None
        if not self.queue:
            self._choose()

    def _choose(self) -> None:
        best = min(self.times, key=self.times.get)
        if best != self.best:
            figures = ", ".join(f"{n} thread{'s' if n > 1 else ''} {1000 * t:.0f} ms" for n, t in self.times.items())
            self.log.info("training on %d of %d threads from step %d: the fastest now (a step took %s)", best,
                          self.candidates[0], self.steps, figures)
        self.best = best
        torch.set_num_threads(best)
