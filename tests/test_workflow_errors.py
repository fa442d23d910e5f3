"""Bad input through real Snakemake: one clear message naming the file, nothing that looks complete."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from swaplib.video.ffmpeg import ffmpeg_exe
from workflow_support import REPO, make_workdir, snakemake, write_config, write_sheet

pytestmark = pytest.mark.workflow


@pytest.fixture
def workdir(tmp_path):
    return make_workdir(tmp_path / "wd")


def failing(workdir, *args) -> str:
    proc = snakemake(workdir, *args, check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def make_video(path, *lavfi_args):
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *lavfi_args, str(path)], check=True)
    return path


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "audio only"])
def test_bad_video_stops_before_any_job(workdir, clip, kind):
    bad = workdir / "bad.mp4"
    if kind == "text":
        bad.write_text("this is not a video\n")
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "audio only":
        make_video(bad, "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac")
    write_sheet(workdir, [("p", clip("lp_d12_man_glasses_talking"), bad)])
    write_config(workdir, {})
    output = failing(workdir, "--dry-run")
    assert str(bad) in output
    assert not (workdir / "results").exists()


def test_example_sheet_without_its_media_says_what_to_do(workdir):
    """A clone without the test media beside it: `make run` stops with one line naming the way out."""
    shutil.copy(REPO / "pairs.tsv", workdir / "pairs.tsv")  # it names ../shared/data/..., absent here
    lines = [line for line in failing(workdir, "--dry-run").splitlines() if line.startswith("swaplib: ")]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"swaplib: pairs.tsv: {workdir.parent / 'shared' / 'data'}")
    assert lines[0].endswith("edit pairs.tsv to name your own videos, or run `swaplib swap SOURCE DESTINATION` "
                             "for one pair")


def test_video_without_any_face_fails_in_faces_with_a_clear_message(workdir, clip):
    no_face = make_video(
        workdir / "test_pattern.mp4", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=0.4",
        "-c:v", "libx264", "-pix_fmt", "yuv420p",
    )
    write_sheet(workdir, [("p", clip("lp_d12_man_glasses_talking"), no_face)])
    write_config(workdir, {"frames": {"limit": 10}, "extract": {"size": 64}})
    output = failing(workdir, "results/videos/test_pattern/faces.parquet")
    assert "no face found in any of 10 frames" in output
    assert "test_pattern" in output
    assert not (workdir / "results/videos/test_pattern/faces.parquet").exists()
    assert not (workdir / "results/videos/test_pattern/faces").exists()


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"train": {"iterations": -5}}, "train.iterations: -5 is less than the minimum of 1"),
        ({"merge": {"mode": "blend"}}, "merge.mode: 'blend' is not one of"),
    ],
)
def test_bad_config_stops_before_any_job(workdir, clip, overrides, expected):
    write_sheet(workdir, [("p", clip("lp_d12_man_glasses_talking"), clip("lp_d20_young_man_talking"))])
    write_config(workdir, overrides)
    output = failing(workdir, "--dry-run")
    assert "config.yaml" in output and expected in output


def test_config_errors_name_the_file_they_came_from(workdir, clip):
    """A misspelt key in a --configfile is named under that file with the key it meant, a wrong --config
    value under --config, and config.yaml is not blamed for either."""
    write_sheet(workdir, [("p", clip("lp_d12_man_glasses_talking"), clip("lp_d20_young_man_talking"))])
    write_config(workdir, {})
    (workdir / "my.yaml").write_text("train:\n  itterations: 5000\nmerge:\n  mode: blend\n")
    output = failing(workdir, "--dry-run", "--configfile", "my.yaml", "--config", 'frames={"limit": -3}')
    mine = output[output.index("my.yaml: invalid configuration:"):]
    assert "train.itterations: not a setting (did you mean iterations?)" in mine.split("--config:")[0]
    assert "merge.mode: 'blend' is not one of" in mine.split("--config:")[0]
    given = output[output.index("--config: invalid configuration:"):]
    assert "frames.limit: '-3' is not of type 'integer'" in given and "put them in a --configfile" in given
    assert "config.yaml: invalid" not in output.replace("my.yaml", "")


def test_duplicate_pair_stops_before_any_job(workdir, clip):
    a, b = clip("lp_d12_man_glasses_talking"), clip("lp_d20_young_man_talking")
    sheet = write_sheet(workdir, [("p", a, b), ("p", b, a)])
    write_config(workdir, {})
    output = failing(workdir, "--dry-run")
    assert f"{sheet.name}: duplicate pair name(s): p" in output


def test_workflow_lints_clean(shared_data):  # the example sheet names the shared clips
    from workflow_support import REPO

    proc = snakemake(REPO, "--lint")
    assert "Lints for" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
