"""The progress every long stage reports: log lines with rate and ETA, a bar on a terminal."""

from __future__ import annotations

import logging

import pytest

from swaplib.core.progress import Progress, duration, show_bar

LOG = "swaplib.test.progress"


def messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG]


def test_a_log_line_every_twentieth_with_rate_and_eta(caplog):
    with caplog.at_level(logging.INFO, logger=LOG), Progress(100, "frames merged", log=logging.getLogger(LOG),
                                                             mode="off") as progress:
        for _ in range(100):
            progress.update()
    lines = messages(caplog)
    assert len(lines) == 20
    assert lines[0].startswith("frames merged 5/100 (5%)") and " frame/s  ETA " in lines[0]
    assert lines[-1].startswith("frames merged 100/100 (100%)") and lines[-1].endswith("ETA 0m00s")


def test_a_resumed_count_with_details_and_a_step_back(caplog):
    log = logging.getLogger(LOG)
    with caplog.at_level(logging.INFO, logger=LOG), Progress(30, "iteration", unit="it", log=log, mode="off",
                                                             start=20) as progress:
        progress.advance_to(25, "src 0.1000  dst 0.2000")
        progress.advance_to(22)  # rolled back to the last save
        assert progress.done == 22
        progress.advance_to(30)
    lines = messages(caplog)
    assert lines[0].startswith("iteration 25/30 (83%)  src 0.1000  dst 0.2000  ")
    assert lines[-1].startswith("iteration 30/30 (100%)") and " it/s  ETA 0m00s" in lines[-1]


def test_the_bar_goes_to_stderr_when_asked_for(capsys):
    with Progress(3, "frames cropped", mode="on") as progress:
        progress.update(3)
    assert "frames cropped" in capsys.readouterr().err
    assert show_bar("off") is False and show_bar("on") is True
    assert show_bar("auto") is False  # pytest's stderr is no terminal
    with pytest.raises(ValueError, match="progress must be one of"):
        show_bar("always")


def test_durations_read_as_minutes_or_hours():
    assert (duration(0), duration(61.4), duration(3 * 3600 + 5 * 60)) == ("0m00s", "1m01s", "3h05m")


def test_the_console_leaves_out_progress_lines_that_a_bar_shows(capsys):
    """A job's console handler (swaplib.jobs) drops the progress lines while a bar shows them;
    without a bar (a log file, a cluster job) they are the only progress there is."""
    import io

    from swaplib.core.progress import console_filter

    log = logging.getLogger(LOG + ".console")
    console = logging.StreamHandler(io.StringIO())
    console.addFilter(console_filter)
    log.addHandler(console)
    log.setLevel(logging.INFO)
    try:
        for mode in ("on", "off"):
            with Progress(2, f"frames ({mode})", log=log, mode=mode) as progress:
                progress.update(2)
        log.info("a line of its own")
    finally:
        log.removeHandler(console)
    lines = console.stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("frames (off) 2/2 (100%)") and lines[1] == "a line of its own"
    assert "frames (on)" in capsys.readouterr().err  # the bar
