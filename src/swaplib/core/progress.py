"""Progress of a long stage: a log line every ~5 % (done/total, rate, ETA) and, on a terminal, a bar.

The log lines land in the rule's log (what a user tails on a cluster); the tqdm bar goes to stderr,
which is the terminal when Snakemake runs the job locally and interactively. While a bar is shown,
other console log lines print above it (not through it), and its own progress lines stay out of
the console (see `console_filter`, which swaplib.jobs puts on the job's console handler).

    with Progress(len(frames), "frames merged", unit="frame", log=log) as progress:
        for ...:
            progress.update()              # or update(n, detail="src 0.0213 dst 0.0198")
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time

PROGRESS_MODES = ("auto", "on", "off")
_LOG_STEPS = 20  # a log line every 1/20 of the work ...
_LOG_SECONDS = 30.0  # ... or after this long without one, whichever comes first
_ON_BAR = "swaplib_progress_on_bar"  # set on a progress log record whose figures a bar shows too


def console_filter(record: logging.LogRecord) -> bool:
    """For console log handlers: leave out the progress lines that a progress bar already shows."""
    return not getattr(record, _ON_BAR, False)


def duration(seconds: float) -> str:
    """1h05m, 4m07s: short enough for a log line."""
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def show_bar(mode: str) -> bool:
    """Whether a bar is drawn: `on`, or `auto` with stderr on a terminal."""
    if mode not in PROGRESS_MODES:
        raise ValueError(f"progress must be one of {PROGRESS_MODES}, not {mode!r}")
    return mode == "on" or (mode == "auto" and sys.stderr.isatty())


class Progress:
    """Counts the units of work done out of `total` (starting at `start`, e.g. a resumed training)."""

    def __init__(self, total: int, what: str, *, unit: str = "frame", log: logging.Logger | None = None,
                 mode: str = "auto", start: int = 0):
        self.total, self.what, self.unit = int(total), what, unit
        self.log = log or logging.getLogger("swaplib")
        self.done = self.start = int(start)
        self.t0 = self.t_logged = time.perf_counter()
        self.every = max(1, (self.total - self.start) // _LOG_STEPS)
        self.next_log = self.start + self.every
        self.bar = None
        self._console = contextlib.ExitStack()
        if show_bar(mode) and self.total > self.start:
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._console.enter_context(logging_redirect_tqdm())
            self.bar = tqdm(total=self.total, initial=self.start, desc=what, unit=unit, dynamic_ncols=True,
                            mininterval=0.5, leave=False)

    def rate(self) -> float:
        """Units per second since the start."""
        return (self.done - self.start) / max(time.perf_counter() - self.t0, 1e-9)

    def eta(self) -> float:
        return (self.total - self.done) / max(self.rate(), 1e-9)

    def update(self, n: int = 1, detail: str = "") -> None:
        self.advance_to(self.done + n, detail)

    def advance_to(self, done: int, detail: str = "") -> None:
        """Set the count (it may go back: a training rolled back to its last save)."""
        if self.bar is not None:
            self.bar.update(done - self.done)
        self.done = done
        if self.bar is not None:
            if detail:
                self.bar.set_postfix_str(detail, refresh=False)
        now = time.perf_counter()
        if self.done >= self.next_log or self.done >= self.total or now - self.t_logged >= _LOG_SECONDS:
            self.next_log = self.done + self.every
            self.t_logged = now
            self.log.info("%s %d/%d (%.0f%%)%s  %.2f %s/s  ETA %s", self.what, self.done, self.total,
                          100 * self.done / max(self.total, 1), f"  {detail}" if detail else "", self.rate(),
                          self.unit, duration(self.eta()), extra={_ON_BAR: self.bar is not None})

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self._console.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
