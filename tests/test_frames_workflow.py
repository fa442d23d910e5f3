"""The frames stage through real Snakemake: a photo folder as a source, reference photo columns."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from workflow_support import make_workdir, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow


def job_inputs(dry_run: str, rule: str, output: str) -> list[str]:
    """The inputs a dry run lists for the `rule` job that writes `output`."""
    match = re.search(rf"rule {rule}:\n\s+input: (.*)\n\s+output: [^\n]*{re.escape(output)}", dry_run)
    assert match, f"no {rule} job for {output} in:\n{dry_run}"
    return match.group(1).split(", ")


def test_photo_folder_source_reruns_frames_when_a_photo_is_added(tmp_path, clip, photo):
    workdir = make_workdir(tmp_path / "wd")
    people = workdir / "people"
    people.mkdir()
    shutil.copy(photo("fr_alex_lacamoire"), people / "b.jpg")
    shutil.copy(photo("lp_d9_woman_open_mouth"), people / "a.jpg")
    shutil.copy(photo("lp_d30_woman_hand_on_face"), workdir / "her.jpg")
    destination = clip("lp_d20_young_man_talking")
    (workdir / "pairs.tsv").write_text("pair\tsource\tdestination\tdestination_reference\n"
                                       f"p\tpeople\t{destination}\ther.jpg\n")
    write_config(workdir, {"frames": {"limit": 3}})

    targets = ("results/videos/people/faces.parquet", f"results/videos/{destination.stem}/faces.parquet")
    dry = snakemake(workdir, "--dry-run", *targets)
    text = dry.stdout + dry.stderr
    # The folder's photos, not the folder, are the frames job's inputs; the sheet's reference
    # photo is an input of the destination's faces job.
    assert job_inputs(text, "frames", "results/videos/people/frames")[:2] == ["people/a.jpg", "people/b.jpg"]
    assert "her.jpg" in job_inputs(text, "faces", f"results/videos/{destination.stem}/faces")
    assert "her.jpg" not in job_inputs(text, "faces", "results/videos/people/faces")

    snakemake(workdir, "results/videos/people/video.json")
    info = json.loads((workdir / "results/videos/people/video.json").read_text())
    assert (info["kind"], info["frame_count"], [p["file"] for p in info["photos"]]) == ("photos", 2, ["a.jpg", "b.jpg"])
    assert planned_jobs(workdir, "--", "results/videos/people/video.json") == {}
    # Time settings do not apply to photos: changing them reruns nothing there.
    write_config(workdir, {"frames": {"limit": 3, "start": 1.0, "fps": 10}})
    assert planned_jobs(workdir, "--", "results/videos/people/video.json") == {}

    shutil.copy(photo("fr_obama"), people / "c.jpg")
    assert planned_jobs(workdir, "--", "results/videos/people/video.json") == {"frames": 1}
