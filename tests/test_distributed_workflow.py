"""train.devices through real Snakemake on the CPU: with `devices: 2` the train rule starts two gloo ranks
(torchrun), the model trains and the pair merges; a change of devices reruns nothing, and raising the
iterations on one device resumes the two ranks' state."""

from __future__ import annotations

import json

import pytest

from swaplib.model.io import read_header
from workflow_support import make_workdir, planned_jobs, snakemake, write_config, write_sheet

pytestmark = pytest.mark.workflow

SOURCE = "lp_d12_man_glasses_talking"
DESTINATION = "lp_d20_young_man_talking"
PAIR = "p"
TRAIN = {"preset": "tiny", "iterations": 4, "batch_size": 4, "save_every": 2, "devices": 2}
SMALL = {"frames": {"limit": 6}, "extract": {"size": 64}, "sort": {"min_face_px": 32}, "train": TRAIN}
REPORT = f"results/pairs/{PAIR}/merge.json"


def test_a_model_trains_on_two_cpu_ranks_and_merges_and_resumes_on_one(tmp_path, clip):
    run = make_workdir(tmp_path / "ranks_run")
    write_sheet(run, [(PAIR, clip(SOURCE), clip(DESTINATION))])
    write_config(run, SMALL)
    snakemake(run, REPORT)
    model = run / f"results/models/{PAIR}/model.safetensors"
    assert read_header(model)["iterations"] == 4
    log = (run / f"logs/train/{PAIR}.log").read_text()
    assert "training on 2 ranks (2 cpu device(s) on each of 1 machine(s))" in log
    assert "data parallel: rank 0 of 2, 2 of each batch's 4 samples on cpu" in log
    assert json.loads((run / REPORT).read_text())["swapped"] > 0

    write_config(run, {**SMALL, "train": {**TRAIN, "devices": 1}}, name="one.yaml")
    assert planned_jobs(run, "--configfile", "one.yaml", "--", REPORT) == {}  # how it runs, not what it computes
    write_config(run, {**SMALL, "train": {**TRAIN, "devices": 1, "iterations": 6}}, name="more.yaml")
    snakemake(run, REPORT, "--configfile", "more.yaml")
    assert read_header(model)["iterations"] == 6
    log = (run / f"logs/train/{PAIR}.log").read_text()
    assert "resuming from iteration 4 of 6" in log and "data parallel" not in log
