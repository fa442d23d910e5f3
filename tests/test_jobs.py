"""How a workflow job reports failure: one clear line in its log, no traceback, nothing half-written."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.core.jobs import run_job


def job(tmp_path: Path):
    """What run_job uses of Snakemake's `snakemake` object."""
    return types.SimpleNamespace(log=[str(tmp_path / "job.log")], rule="video")


def test_a_stage_error_is_one_line_without_a_traceback(tmp_path):
    def work():
        raise SwaplibError("clip.mp4: not a readable video")

    with pytest.raises(SystemExit) as stop:
        run_job(job(tmp_path), work)
    assert stop.value.code == 1
    log = (tmp_path / "job.log").read_text()
    assert log.count("clip.mp4: not a readable video") == 1 and "Traceback" not in log


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full to fill")
def test_a_full_disk_is_named_and_leaves_no_partial_output(tmp_path):
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    output = tmp_path / "results" / "faces.parquet"

    def work():
        with atomic_path(output) as tmp, open("/dev/full", "wb") as disk:
            tmp.write_bytes(b"half a table")
            disk.write(b"x" * 65536)
            disk.flush()

    with pytest.raises(SystemExit) as stop:
        run_job(job(tmp_path), work)
    assert stop.value.code == 1
    log = (tmp_path / "job.log").read_text()
    assert "the disk is full ([Errno 28] No space left on device)" in log and "Traceback" not in log
    assert list(output.parent.iterdir()) == []  # neither the output nor its temporary file


def test_other_failures_keep_their_traceback(tmp_path):
    with pytest.raises(ZeroDivisionError):
        run_job(job(tmp_path), lambda: 1 / 0)
    assert "Traceback" in (tmp_path / "job.log").read_text()


def test_a_full_disk_reported_in_words_by_a_library_is_recognised(tmp_path):
    def work():  # torch.save's own wording when its writes fail
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0: "
                           "No space left on device")

    with pytest.raises(SystemExit):
        run_job(job(tmp_path), work)
    assert "the disk is full ([enforce fail" in (tmp_path / "job.log").read_text()
