"""Scale-out settings: the SLURM profile (dry run with the real executor plugin) sends train and merge
to a GPU, the local profile loads, and the conda environment holds what the package needs."""

from __future__ import annotations

import re
import shutil
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement

from workflow_support import REPO, make_workdir, snakemake, write_sheet

PAIR = "glasses_to_outdoors"
GPU_RULES = {"train", "merge"}
# jobs of seconds: not worth a cluster job
LIGHT_RULES = {"faces_to_check", "label_review", "model_page", "pair_pages", "quality_card", "sheets"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, clip):
    workdir = make_workdir(tmp_path_factory.mktemp("profiles"))
    write_sheet(workdir, [(PAIR, clip("lp_d12_man_glasses_talking"), clip("lp_d20_young_man_talking"))])
    return workdir


def planned_resources(output: str) -> dict[str, list[dict[str, str]]]:
    """rule -> the resources of each job a dry run printed ("rule X:" ... "resources: a=1, b=gpu:1")."""
    plans: dict[str, list[dict[str, str]]] = {}
    for rule, block in re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", output, flags=re.M | re.S):
        found = re.search(r"^\s+resources: (.*)$", block, flags=re.M)
        resources = dict(item.split("=", 1) for item in found.group(1).split(", ")) if found else {}
        plans.setdefault(rule, []).append(resources)
    return plans


@pytest.fixture(scope="module")
def slurm_plan(workdir) -> str:
    """What a dry run with the SLURM profile and the real executor plugin prints."""
    proc = snakemake(workdir, "--dry-run", "--workflow-profile", str(REPO / "profiles" / "slurm"), check=False)
    output = proc.stdout + proc.stderr
    assert "No module named 'snakemake_executor_plugin_slurm'" not in output, "pip install -e '.[test]'"
    assert proc.returncode == 0, output
    return output


@pytest.mark.workflow
def test_slurm_profile_sends_train_and_merge_to_a_gpu(slurm_plan):
    plans = planned_resources(slurm_plan)
    assert GPU_RULES | {"frames", "faces", "faceset", "video", "quality"} <= set(plans)
    for rule, jobs in plans.items():
        for resources in jobs:
            if rule == "all":
                continue
            gpu = rule in GPU_RULES
            assert resources.get("slurm_partition") == ("gpu" if gpu else "cpu"), (rule, resources)
            assert (resources.get("gres") == "gpu:1") == gpu, (rule, resources)
            assert int(resources["runtime"]) >= (1440 if rule == "train" else 60), (rule, resources)


@pytest.mark.workflow
def test_light_rules_run_locally_on_slurm(workdir, slurm_plan):
    """The Snakefile's localrules, as Snakemake compiles them (a dry run never says which jobs would run
    locally), name rules of the workflow: Snakemake only warns about a name that is none."""
    proc = snakemake(workdir, "--print-compilation")
    named = re.search(r"^workflow\.localrules\(([^)]*)\)", proc.stdout, flags=re.M)
    assert named, "no localrules in the Snakefile"
    assert set(re.findall(r"'(\w+)'", named.group(1))) == LIGHT_RULES
    assert LIGHT_RULES - {"label_review"} <= set(planned_resources(slurm_plan))  # that one only with xseg on
    assert "localrules directive specifies rules that are not present" not in slurm_plan


@pytest.mark.workflow
def test_slurm_profile_retries_training_only(tmp_path):
    """A training killed at the time limit runs again (and resumes); another rule's failure stays failed.
    Snakemake's own retry logic with the profile's settings, on stand-in rules that fail their first try."""
    first_try_fails = 'if [ -e {output}.tried ]; then touch {output}; else touch {output}.tried; exit 1; fi'
    (tmp_path / "Snakefile").write_text("".join(
        f'rule {rule}:\n    output: "{rule}.done"\n    shell: "{first_try_fails}"\n\n'
        for rule in ("train", "pretrain", "faces")))
    proc = snakemake(tmp_path, "--workflow-profile", str(REPO / "profiles" / "slurm"), "--executor", "local",
                     "train.done", "pretrain.done", "faces.done", check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr  # faces failed, and was not tried again
    assert {path.name for path in tmp_path.glob("*.done")} == {"train.done", "pretrain.done"}, proc.stderr


@pytest.mark.workflow
def test_local_profile_plans_the_gpu_rules_with_their_gpu(workdir):
    proc = snakemake(workdir, "--dry-run", "--workflow-profile", str(REPO / "profiles" / "default"))
    plans = planned_resources(proc.stdout)
    for rule in GPU_RULES:
        assert all(resources.get("gpu") == "1" for resources in plans[rule]), plans[rule]


def pip_requirements(env: dict) -> list[str]:
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)


@pytest.mark.parametrize("env_file", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_conda_environment_holds_the_package_dependencies(env_file):
    env = yaml.safe_load(env_file.read_text())
    assert "conda-forge" in env["channels"]
    assert "python=3.11" in env["dependencies"]  # the version the jobs' compiled wheels are tested with
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    package = project["dependencies"] + project["optional-dependencies"]["export"]  # so the env can export too
    wanted = [d for d in package if not d.startswith(("snakemake", "torch"))]  # snakemake runs the jobs from outside
    listed = pip_requirements(env)
    assert sorted(r for r in listed if not r.startswith("torch")) == sorted(wanted), "keep envs/ in step with pyproject"
    # torch: the Makefile's exact release (installs that repeat), within the package's range.
    [pinned] = [r for r in listed if r.startswith("torch")]
    [allowed] = [d for d in package if d.startswith("torch")]
    assert f"TORCH := {pinned}\n" in (REPO / "Makefile").read_text()
    assert pinned.startswith("torch==") and Requirement(allowed).specifier.contains(pinned.removeprefix("torch=="))
    # Snakemake builds a copy of the file under .snakemake/conda/: a relative local path would break.
    assert not [r for r in pip_requirements(env) if r.startswith(("-e", ".", "/"))]


@pytest.mark.workflow
def test_conda_environment_builds(workdir):
    if not (shutil.which("conda") or shutil.which("mamba")):
        pytest.skip("no conda here: the environment file is only linted (test above)")
    snakemake(workdir, "--software-deployment-method", "conda", "--conda-create-envs-only", timeout=3600)


@pytest.mark.parametrize("profile", ["default", "slurm"])
def test_profiles_rerun_code_by_its_hash_not_the_script_mtime(profile):
    """Snakemake's `code` trigger compares a script's mtime with the outputs (a fresh clone would
    rerun every job, training too); the rules pass a hash of their code as a param instead."""
    settings = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())
    assert {"mtime", "params", "input"} <= set(settings["rerun-triggers"]) and "code" not in settings["rerun-triggers"]
