"""The faces rule through real Snakemake: a reference photo named in the config keeps one person,
replacing the photo reruns extraction, and a missing photo stops the run naming it."""

from __future__ import annotations

import cv2
import pandas as pd
import pytest

from workflow_support import make_workdir, snakemake, write_config, write_sheet

pytestmark = pytest.mark.workflow

VIDEO = "lp_d20_young_man_talking"
TARGET = f"results/videos/{VIDEO}/faces.parquet"


def would_run(workdir) -> str:
    """The dry run's plan for the faces table ("" when it is up to date)."""
    proc = snakemake(workdir, TARGET, "--dry-run")
    text = proc.stdout + proc.stderr
    return "" if "Nothing to be done" in text else text


def test_reference_photo_from_the_config(tmp_path, clip, photo):
    workdir = make_workdir(tmp_path / "wd")
    write_sheet(workdir, [("p", clip("lp_d12_man_glasses_talking"), clip(VIDEO))])
    small = {"frames": {"limit": 6}, "extract": {"size": 64, "references": {VIDEO: "refs/man.jpg"}}}
    write_config(workdir, small)

    missing = snakemake(workdir, TARGET, check=False)
    assert missing.returncode != 0 and "refs/man.jpg" in missing.stdout + missing.stderr
    assert not (workdir / TARGET).exists()

    # The person of the clip, photographed in its first frame.
    (workdir / "refs").mkdir()
    ok, frame = cv2.VideoCapture(str(clip(VIDEO))).read()
    assert ok and cv2.imwrite(str(workdir / "refs" / "man.jpg"), frame)
    snakemake(workdir, TARGET)
    table = pd.read_parquet(workdir / TARGET)
    assert table["frame"].nunique() == 6 and table.groupby("frame")["kept"].sum().eq(1).all()
    assert would_run(workdir) == ""

    # Someone else's photo: extraction reruns, and stops saying that nobody is that person.
    (workdir / "refs" / "man.jpg").write_bytes(photo("lp_d9_woman_open_mouth").read_bytes())
    plan = would_run(workdir)
    assert "rule faces:" in plan and "rule frames:" not in plan
    other = snakemake(workdir, TARGET, check=False)
    assert other.returncode != 0 and "man.jpg: none of the" in other.stdout + other.stderr
    assert not (workdir / TARGET).exists()
