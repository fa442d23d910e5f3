"""Stopping training cleanly: SIGINT/SIGTERM end the run after the step in flight."""

from __future__ import annotations

import signal
import threading


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by SIGINT/SIGTERM; the checkpoint was saved first. Rerun to resume."""


class StopOnSignal:
    """While training: SIGINT/SIGTERM ask the loop to stop after the current step (it then saves and
    raises TrainingInterrupted). A second Ctrl-C stops at once. Old handlers come back on exit.
    Python allows handlers only in the main thread; elsewhere only a KeyboardInterrupt is caught."""

    def __init__(self):
        self.signum = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def check(self, iteration: int) -> None:
        if self.signum is not None:
            name = signal.Signals(self.signum).name
            raise TrainingInterrupted(f"training stopped by {name} at iteration {iteration}")
