"""Running one stage as a workflow job: logging to the rule's log file, clear errors.

The workflow scripts are thin adapters; they hand their work to `run_job`, which sends the
library's log lines to the job's `log:` file and to stderr (which Snakemake shows), and turns
a SwaplibError, a full disk or an interrupt into one readable line instead of a traceback.
Outputs are written atomically (swaplib.atomic), so a job that fails leaves none half-written.
"""

from __future__ import annotations

import errno
import logging
import sys
import traceback
from collections.abc import Callable

from swaplib.core.errors import SwaplibError
from swaplib.core.progress import console_filter

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: str | None) -> None:
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(console_filter)  # a progress bar on a terminal shows what its log lines say
    handlers: list[logging.Handler] = [console]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, handlers=handlers, force=True)


def run_job(snakemake, work: Callable[[], object]) -> None:
    """Run `work()` for a Snakemake job; exit non-zero with a clear message on failure."""
    setup_logging(snakemake.log[0] if snakemake.log else None)
    log = logging.getLogger(f"swaplib.job.{snakemake.rule}")
    try:
        work()
    except SwaplibError as exc:
        log.error("%s", exc)  # to the log file and the terminal, once, without a traceback
        sys.exit(1)
    except KeyboardInterrupt:
        log.error("interrupted; partial outputs are removed, saved training state is kept")
        sys.exit(130)
    except Exception as exc:
        if _disk_full(exc):
            log.error("the disk is full (%s); no output was left half-written: free some space and run again", exc)
            sys.exit(1)
        log.error("unexpected failure:\n%s", traceback.format_exc())
        raise


def _disk_full(exc: Exception) -> bool:
    """ENOSPC or a full quota, also when a library reports it only in words (torch.save, pyarrow)."""
    words = str(exc)
    return getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(
        text in words for text in ("No space left on device", "Disk quota exceeded"))
