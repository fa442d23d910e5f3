"""`swaplib swap SOURCE DESTINATION`: one pair through the real workflow, in a work folder of its own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from swaplib import one_pair as swap
from swaplib.cli import main
from swaplib.core.errors import SwaplibError
from workflow_support import ITERATIONS, REPO, SMALL

SOURCE = "lp_d12_man_glasses_talking"
DESTINATION = "lp_d20_young_man_talking"
PAIR = f"{SOURCE}_to_{DESTINATION}"


@pytest.fixture
def videos(tmp_path) -> tuple[Path, Path]:
    """Two files with video names (prepare only checks that they exist)."""
    for name in ("my clip.mp4", "other.mov"):
        (tmp_path / name).touch()
    return tmp_path / "my clip.mp4", tmp_path / "other.mov"


def test_prepare_writes_the_sheet_and_keeps_earlier_settings(tmp_path, videos):
    workdir = tmp_path / "out"
    assert swap.prepare(workdir, *videos, train={"preset": "quick96", "iterations": 10}) == "my_clip_to_other"
    swap.prepare(workdir, *videos, train={"preset": None, "iterations": 20})
    assert (workdir / "pairs.tsv").read_text().splitlines() == [
        "pair\tsource\tdestination", f"my_clip_to_other\t{videos[0]}\t{videos[1]}"]
    assert yaml.safe_load((workdir / "swap.yaml").read_text()) == {
        "pairs": "pairs.tsv", "train": {"preset": "quick96", "iterations": 20}}


def test_prepare_refuses_a_missing_video(tmp_path, videos):
    with pytest.raises(SwaplibError, match="gone.mp4: no such video or photo folder"):
        swap.prepare(tmp_path / "out", videos[0], tmp_path / "gone.mp4", train={})
    assert not (tmp_path / "out").exists()


def test_a_bad_setting_is_refused_before_anything_is_saved(tmp_path, videos, capsys):
    workdir = tmp_path / "out"
    swap.prepare(workdir, *videos, train={"preset": "tiny", "iterations": 10}, root=REPO)
    before = (workdir / "swap.yaml").read_text()
    with pytest.raises(SwaplibError, match=r"this command's options: invalid configuration:\n  train.preset: 'foo' "
                                           r"is not one of: quick96, saehd, tiny, amp"):
        swap.prepare(workdir, *videos, train={"preset": "foo", "iterations": None}, root=REPO)
    assert (workdir / "swap.yaml").read_text() == before  # nothing saved: the next call is not stuck
    # A bad value already in swap.yaml (written by hand) is named after that file.
    (workdir / "swap.yaml").write_text("train:\n  iterations: -1\n")
    with pytest.raises(SwaplibError, match=rf"{re.escape(str(workdir / 'swap.yaml'))}: invalid configuration:\n  "
                                           r"train.iterations: -1 is less than the minimum of 1"):
        swap.prepare(workdir, *videos, train={"preset": None}, root=REPO)
    # Through the command: one line naming it, exit status 2, and nothing made for a new folder.
    assert main(["swap", *map(str, videos), "-o", str(tmp_path / "new"), "--preset", "foo"]) == 2
    assert "train.preset: 'foo' is not one of" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_command_runs_this_checkout_with_the_settings_last(tmp_path):
    own = tmp_path / "mine.yaml"
    command = swap.snakemake_command(REPO, tmp_path / "out", own, "2")
    start = command.index("--configfile")
    assert command[command.index("--snakefile") + 1] == str(REPO / "Snakefile")
    assert command[command.index("--directory") + 1] == str(tmp_path / "out")
    # Later files win: the workflow's defaults, then the user's file, then what swap was told.
    assert command[start + 1:start + 4] == [str(REPO / "config.yaml"), str(own), str(tmp_path / "out" / "swap.yaml")]
    assert command[command.index("--workflow-profile") + 1] == str(REPO / "profiles" / "default")


def test_the_outcome_names_the_video_or_a_photo_destination_s_folder(tmp_path):
    quality = tmp_path / "results" / "pairs" / "p" / "quality.json"
    quality.parent.mkdir(parents=True)
    quality.write_text(json.dumps({"verdict": "source", "verdict_text": "the source person"}))
    assert swap.outcome(tmp_path, "p").startswith(f"{tmp_path / 'results' / 'pairs' / 'p.mp4'}\nverdict: source")
    assert swap.outcome(tmp_path, "p", photos=True).startswith(f"{tmp_path / 'results' / 'pairs' / 'p.photos'}\n")


def test_without_a_checkout_it_says_how_to_install(tmp_path, videos, monkeypatch, capsys):
    monkeypatch.setattr(swap, "CHECKOUT", tmp_path)
    assert main(["swap", *map(str, videos), "-o", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path} has no Snakefile, config.yaml, profiles/default" in error and "pip install -e ." in error
    assert not (tmp_path / "out").exists()


@pytest.mark.workflow
def test_swap_makes_the_video_and_more_iterations_continue(tmp_path, clip, capfd):
    settings = tmp_path / "small.yaml"
    settings.write_text(yaml.safe_dump(SMALL))
    workdir = tmp_path / "work"
    call = ["swap", str(clip(SOURCE)), str(clip(DESTINATION)), "-o", str(workdir), "--configfile", str(settings),
            "--cores", "2"]

    assert main([*call, "--iterations", str(ITERATIONS)]) == 0
    printed = capfd.readouterr().out
    video = workdir / "results" / "pairs" / f"{PAIR}.mp4"
    assert video.stat().st_size > 0
    verdict = json.loads((workdir / "results" / "pairs" / PAIR / "quality.json").read_text())["verdict"]
    assert f"{video}\nverdict: {verdict} (" in printed

    # A dry run of more iterations says what would run, and saves nothing.
    saved = (workdir / "swap.yaml").read_text()
    assert main([*call, "--iterations", str(ITERATIONS + 10), "--dry-run"]) == 0
    dry = capfd.readouterr()
    planned = set(re.findall(r"^(?:local)?rule (\w+):", dry.out + dry.err, flags=re.M))
    assert {"train", "merge", "quality"} <= planned and "nothing was run or saved" in dry.out
    assert (workdir / "swap.yaml").read_text() == saved
    assert json.loads((workdir / "results" / "pairs" / PAIR / "quality.json").read_text())["verdict"] == verdict

    assert main([*call, "--iterations", str(ITERATIONS + 10)]) == 0
    second = capfd.readouterr()
    assert f"resuming from iteration {ITERATIONS}" in (workdir / "logs" / "train" / f"{PAIR}.log").read_text()
    ran = set(re.findall(r"^(?:local)?rule (\w+):", second.out + second.err, flags=re.M))
    assert ran == {"train", "model_page", "merge", "video", "quality", "quality_card", "pair_pages", "all"}, ran
    assert f"{video}\nverdict: " in second.out
