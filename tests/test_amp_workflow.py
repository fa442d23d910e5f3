"""An AMP model through real Snakemake: `train.preset: amp` (at tiny dims, two steps) trains with
AMP's own recipe and merges the test clips, `merge.morph_factor` reruns the merge alone and changes
the frames, a run made before merge.morph_factor existed reruns nothing at its default, and the
recipe's amp_version reruns its training (tests/test_reruns.py: and no other model's)."""

from __future__ import annotations

import json

import pytest
import yaml

from swaplib.model.io import read_header
from workflow_support import make_workdir, planned_jobs, snakemake, write_config, write_sheet

pytestmark = pytest.mark.workflow

SOURCE = "lp_d12_man_glasses_talking"
DESTINATION = "lp_d20_young_man_talking"
PAIR = "p"
SMALL = {
    "frames": {"limit": 6},
    "extract": {"size": 64},
    "sort": {"min_face_px": 32},
    "train": {"preset": "amp", "resolution": 64, "ae_dims": 16, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4,
              "inter_dims": 16, "iterations": 2, "batch_size": 2, "save_every": 2},
}
REPORT = f"results/pairs/{PAIR}/merge.json"


def merged(run) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / f"results/pairs/{PAIR}/merged").iterdir())}


def planned_jobs_before_merge_morph_factor(run) -> dict[str, int]:
    """What a run made before merge.morph_factor existed would plan: config and schema without it."""
    config_path, schema_path = run / "config.yaml", run / "workflow/schemas/config.schema.yaml"
    texts = {path: path.read_text() for path in (config_path, schema_path)}
    config, schema = yaml.safe_load(texts[config_path]), yaml.safe_load(texts[schema_path])
    del config["merge"]["morph_factor"]
    merge = schema["properties"]["merge"]
    merge["required"].remove("morph_factor")
    del merge["properties"]["morph_factor"]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    schema_path.write_text(yaml.safe_dump(schema, sort_keys=False))
    try:
        return planned_jobs(run, "--", REPORT)  # "--" ends --quiet's values
    finally:
        for path, text in texts.items():
            path.write_text(text)


def test_an_amp_model_merges_and_its_morph_factor_changes_the_swap(tmp_path, clip):
    run = make_workdir(tmp_path / "amp_run")
    write_sheet(run, [(PAIR, clip(SOURCE), clip(DESTINATION))])
    write_config(run, SMALL)
    snakemake(run, REPORT)
    header = read_header(run / f"results/models/{PAIR}/model.safetensors")
    assert header["model_config"] == {"resolution": 64, "archi": "amp", "ae_dims": 16, "e_dims": 8, "d_dims": 8,
                                      "d_mask_dims": 4, "inter_dims": 16, "morph_factor": 0.5}
    assert header["iterations"] == 2
    log = (run / f"logs/train/{PAIR}.log").read_text()
    assert "AMP's own recipe (recipe.json amp_version): DSSIM at both window sizes, the destination's background" in log
    full = json.loads((run / REPORT).read_text())
    assert full["swapped"] > 0 and full["settings"]["morph_factor"] == 1.0
    before = merged(run)
    assert planned_jobs_before_merge_morph_factor(run) == {}

    write_config(run, {**SMALL, "merge": {"morph_factor": 0.25}}, name="morph.yaml")
    assert planned_jobs(run, "--configfile", "morph.yaml", "--", REPORT) == {"merge": 1}  # training is kept
    snakemake(run, REPORT, "--configfile", "morph.yaml")
    report = json.loads((run / REPORT).read_text())
    assert report["settings"]["morph_factor"] == 0.25 and report["swapped"] == full["swapped"]
    after = merged(run)
    assert before.keys() == after.keys()
    assert sum(before[name] != after[name] for name in before) == full["swapped"]  # every swapped frame changed
    recipe = run / "src/swaplib/train/recipe.json"  # what AMP's own terms compute moved: its training reruns
    versions = json.loads(recipe.read_text())
    recipe.write_text(json.dumps({**versions, "amp_version": versions["amp_version"] + 1}))
    assert planned_jobs(run, "--", REPORT) == {"train": 1, "merge": 1}
