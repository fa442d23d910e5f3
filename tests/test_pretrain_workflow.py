"""The shared base through real Snakemake: trained once for the pairs that use it, each model starts
from it, a new pair trains only its own model, and a change of the base's settings retrains the base
and the models on it and nothing else."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from workflow_support import (
    ITERATIONS,
    SMALL,
    copy_run,
    deep_merge,
    make_workdir,
    planned_jobs,
    snakemake,
    write_config,
    write_sheet,
)

pytestmark = pytest.mark.workflow

BASE = "results/pretrained/tiny/model.safetensors"
BASE_ITERATIONS = 40
MODELS_AND_BELOW = {"train": 2, "model_page": 2, "merge": 2, "video": 2, "quality": 2, "quality_card": 2,
                    "pair_pages": 2}
BASE_AND_BELOW = {"pretrain": 1, **MODELS_AND_BELOW, "model_page": 3}  # the base's settings page too


def _config(sources: list[str], **pretrain) -> dict:
    return deep_merge(SMALL, {"train": {"from_base": True},
                              "pretrain": {"sources": sources, "iterations": BASE_ITERATIONS, **pretrain}})


@pytest.fixture(scope="module")
def based_run(tmp_path_factory, clip):
    a, b = clip("lp_d12_man_glasses_talking"), clip("lp_d20_young_man_talking")
    workdir = make_workdir(tmp_path_factory.mktemp("pretrain"))
    write_sheet(workdir, [("glasses_to_outdoors", a, b), ("outdoors_to_glasses", b, a)])
    write_config(workdir, _config([str(a), str(b)]))
    snakemake(workdir)
    assert planned_jobs(workdir) == {}
    return workdir


def _losses(path) -> np.ndarray:
    history = np.loadtxt(path, delimiter=",", skiprows=1)
    return history[:, 1] + history[:, 2]


def _log(run, rule, name) -> str:
    return (run / "logs" / rule / f"{name}.log").read_text()


def test_the_base_trains_once_and_every_model_starts_from_it(based_run):
    assert [p.name for p in (based_run / "benchmarks/pretrain").iterdir()] == ["tiny.tsv"]  # one base job
    base_first = _losses(based_run / "results/pretrained/tiny/loss.csv")[:5].mean()  # a fresh model's first steps
    for model in ("glasses_to_outdoors", "outdoors_to_glasses"):
        assert f"starting from the shared base {BASE} ({BASE_ITERATIONS} iterations)" in _log(based_run, "train", model)
        assert _losses(based_run / f"results/models/{model}/loss.csv")[:5].mean() < 0.8 * base_first
    assert "training from scratch" in _log(based_run, "pretrain", "tiny")


def test_a_new_pair_trains_only_its_own_model(based_run, tmp_path, clip):
    run = copy_run(based_run, tmp_path)
    a, b = clip("lp_d12_man_glasses_talking"), clip("lp_d20_young_man_talking")
    write_sheet(run, [("glasses_to_outdoors", a, b), ("outdoors_to_glasses", b, a),
                      ("glasses_to_expressions", a, clip("lp_d3_woman_expressions"))])
    plan = planned_jobs(run)
    assert "pretrain" not in plan and plan["train"] == 1 and plan["merge"] == 1


def test_settings_of_the_models_alone_leave_the_base(based_run, tmp_path):
    run = copy_run(based_run, tmp_path)
    for name, train in (("longer", {"iterations": ITERATIONS + 10}), ("nowarp", {"random_warp": False}),
                        ("budget", {"max_minutes": 45})):  # not the default (30)
        (run / f"{name}.yaml").write_text(yaml.safe_dump({"train": train}))
        assert planned_jobs(run, "--configfile", f"{name}.yaml") == {"all": 1, **MODELS_AND_BELOW}, name


def test_a_changed_base_retrains_it_and_the_models_on_it_and_nothing_else(based_run, tmp_path):
    run = copy_run(based_run, tmp_path)
    (run / "more.yaml").write_text(yaml.safe_dump({"pretrain": {"iterations": BASE_ITERATIONS + 10}}))
    assert planned_jobs(run, "--configfile", "more.yaml") == {"all": 1, **BASE_AND_BELOW}
    (run / "lr.yaml").write_text(yaml.safe_dump({"train": {"lr": 1e-3}}))  # the base's recipe too
    assert planned_jobs(run, "--configfile", "lr.yaml") == {"all": 1, **BASE_AND_BELOW}

    snakemake(run, "--configfile", "more.yaml")
    assert "resuming from iteration 40" in _log(run, "pretrain", "tiny")  # the base goes on from its state
    for model in ("glasses_to_outdoors", "outdoors_to_glasses"):
        log = _log(run, "train", model)
        assert "was trained again" in log and "starting training fresh" in log and "is kept as" in log
        assert list((run / f"results/models/{model}/state").glob("checkpoint.incompatible-*.pt"))


def test_from_base_without_sources_stops_the_run_before_any_job(based_run, tmp_path):
    run = copy_run(based_run, tmp_path)
    (run / "nobase.yaml").write_text(yaml.safe_dump({"pretrain": {"sources": []}}))
    proc = snakemake(run, "--dry-run", "--configfile", "nobase.yaml", check=False)
    assert proc.returncode != 0 and "train.from_base is set, but pretrain.sources names no" in proc.stdout + proc.stderr
