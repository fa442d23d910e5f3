"""The thread tuner: training on a CPU takes the thread count that measures fastest now, re-checked as
it goes, and leaves a one-thread run (or a GPU run) alone."""

from __future__ import annotations

import logging

import pytest
import torch

from swaplib.train.threads import ThreadTuner


@pytest.fixture(autouse=True)
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def run(tuner: ThreadTuner, steps: int, seconds_at) -> list[int]:
    """`steps` steps whose time depends on the thread count (seconds_at[n]); the counts used."""
    used = []
    for _ in range(steps):
        tuner.before_step()
        used.append(torch.get_num_threads())
        tuner.after_step(seconds_at[torch.get_num_threads()])
    return used


def test_a_busy_neighbour_makes_it_train_on_fewer_threads_and_it_comes_back(caplog):
    torch.set_num_threads(2)
    tuner = ThreadTuner(2, logging.getLogger("test"), every=100, trial=4, warmup=10)
    with caplog.at_level(logging.INFO):
        used = run(tuner, 100, {2: 1.08, 1: 0.66})  # a process busy on one of the two cores
    assert used[:10] == [2] * 10 and set(used[10:20]) == {1, 2}  # the check at step 10: 5 steps each
    assert used[20:] == [1] * 80
    assert "training on 1 of 2 threads from step 20: the fastest now (a step took 2 threads 1080 ms, 1 thread " \
           "660 ms)" in caplog.text
    used = run(tuner, 100, {2: 0.40, 1: 0.66})  # the neighbour is gone: the next check goes back to 2
    assert used[-80:] == [2] * 80


def test_one_thread_is_left_alone():
    torch.set_num_threads(1)
    tuner = ThreadTuner(1, logging.getLogger("test"), every=10, warmup=0)
    assert not tuner.active and run(tuner, 30, {1: 0.5}) == [1] * 30


def test_candidates_halve_down_to_one():
    assert ThreadTuner(16, logging.getLogger("test")).candidates == [16, 8, 4, 2, 1]
    assert ThreadTuner(6, logging.getLogger("test")).candidates == [6, 4, 2, 1]
