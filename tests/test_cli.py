"""`python -m swaplib curate`: appends checked rows to a video's curation sheet, and marks faces to
outline in the video's labels folder."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from swaplib.cli import main
from swaplib.sort.curation import read_curation
from swaplib.xseg.review import read_marks

VIDEO = "lp_d12_man_glasses_talking"
IDS = {"000010_0", "000011_0", "000012_0", "000012_1", "000020_0"}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A workflow folder: a config naming the curation folder, and a face table to check ids against."""
    (tmp_path / "config.yaml").write_text("curation:\n  dir: review\n")
    table = tmp_path / "results" / "videos" / VIDEO / "faces.parquet"
    table.parent.mkdir(parents=True)
    pd.DataFrame({"face_id": sorted(IDS)}).assign(
        frame=lambda t: t["face_id"].str[:6].astype(int), index=lambda t: t["face_id"].str[-1].astype(int)
    ).reindex(columns=["face_id", "frame", "index", "file", "box_x0", "box_y0", "box_x1", "box_y1", "score",
                       "landmarks", "matrix", "face_type", "size", "frame_width", "frame_height"]).to_parquet(table)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_curate_creates_the_sheet_then_appends(workdir, capsys):
    args = ["curate", f"videos/{VIDEO}.mp4", "--exclude", "000010_0", "000012-000012", "--note", "eyes  closed"]
    assert main(args) == 0
    assert main(["curate", VIDEO, "--include", "000020_0", "--reference", "000011_0"]) == 0
    sheet = workdir / "review" / f"{VIDEO}.tsv"
    assert sheet.read_text().splitlines() == [
        "face\taction\tnote",
        "000010_0\texclude\teyes closed",
        "000012-000012\texclude\teyes closed",
        "000020_0\tinclude",
        "000011_0\treference",
    ]
    curation = read_curation(sheet, IDS)
    assert curation.actions == {"000010_0": "exclude", "000012_0": "exclude", "000012_1": "exclude",
                                "000020_0": "include"}
    assert curation.references == {"000011_0"}
    assert "reruns sort, train, merge and video" in capsys.readouterr().out


def test_curate_keeps_an_old_sheet_format(workdir):
    sheet = workdir / "review" / f"{VIDEO}.tsv"
    sheet.parent.mkdir()
    sheet.write_text("face_id\taction\n000010_0\texclude")  # old header, no final newline, no note column
    assert main(["curate", VIDEO, "--include", "000010_0"]) == 0
    assert sheet.read_text() == "face_id\taction\n000010_0\texclude\n000010_0\tinclude\n"
    assert main(["curate", VIDEO, "--exclude", "000011_0", "--note", "why"]) == 2  # nowhere to keep the note
    assert read_curation(sheet, IDS).actions == {"000010_0": "include"}


def test_curate_label_marks_faces_apart_from_the_curation_sheet(workdir, capsys):
    config = "curation:\n  dir: review\n  show_masks: true\nxseg:\n  labels_dir: outlines\n"
    (workdir / "config.yaml").write_text(config)
    assert main(["curate", VIDEO, "--label", "000010_0", "000012-000012", "--note", "hand  over mouth"]) == 0
    assert main(["curate", VIDEO, "--label", "000020_0", "--exclude", "000011_0"]) == 0
    marks = workdir / "outlines" / VIDEO / "to_label.tsv"
    assert marks.read_text().splitlines() == [
        "face\tnote", "000010_0\thand over mouth", "000012-000012\thand over mouth", "000020_0"]
    assert read_marks(marks, IDS) == {"000010_0": "hand over mouth", "000012_0": "hand over mouth",
                                      "000012_1": "hand over mouth", "000020_0": ""}
    # the curation sheet (sort's input) holds only the exclude: a mark reruns no sort
    assert read_curation(workdir / "review" / f"{VIDEO}.tsv", IDS).actions == {"000011_0": "exclude"}
    assert "nothing else reruns" in capsys.readouterr().out
    assert main(["curate", VIDEO, "--label", "999999_0"]) == 2
    assert "'999999_0' is not among the extracted faces" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--exclude", "999999_0"], "faces.parquet: face '999999_0' is not among the extracted faces"),
        (["--exclude", "12_a"], "'12_a' is neither a face id"),
        (["--exclude", "000030-000040"], "no face was extracted from frames 000030-000040"),
        ([], "nothing to add"),
    ],
)
def test_curate_refuses_bad_ids_and_writes_nothing(workdir, capsys, args, message):
    assert main(["curate", VIDEO, *args]) == 2
    assert message in capsys.readouterr().err
    assert not (workdir / "review").exists()


def test_module_entry_point_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "swaplib", "curate", "v", "--dir", str(tmp_path),
                           "--exclude", "000001_0"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "not checked" in proc.stdout  # no results/ here to check the id against
    assert (tmp_path / "v.tsv").read_text() == "face\taction\tnote\n000001_0\texclude\n"


def test_stop_asks_the_named_training_to_stop(tmp_path, capsys):
    state = tmp_path / "results" / "models" / "m1" / "state"
    state.mkdir(parents=True)
    assert main(["stop", "m1", "--results", str(tmp_path / "results")]) == 0
    assert (state / "STOP").exists() and "stops after the step in flight" in capsys.readouterr().out
    base = tmp_path / "results" / "pretrained" / "tiny" / "state"
    base.mkdir(parents=True)
    assert main(["stop", "tiny", "--results", str(tmp_path / "results")]) == 0 and (base / "STOP").exists()
    assert main(["stop", "nope", "--results", str(tmp_path / "results")]) == 2
    assert "no training state for 'nope'" in capsys.readouterr().err


def test_version(capsys):
    from swaplib import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"swaplib {__version__}"


def test_every_command_on_a_workflow_folder_takes_w_and_says_what_it_does(tmp_path, capsys):
    """The same -w/--workdir everywhere, and a paragraph of its own in --help (not the module's text)."""
    commands = {"swap": ["a", "b"], "stop": ["m"], "status": [], "export": ["m", "o.onnx"], "curate": ["v"],
                "verify": ["v.mp4"]}
    for command in commands:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        described = text.split("\n\n")[1]
        assert len(described) > 80 and "Command line:" not in text, (command, described)
        if command != "verify":  # it reads files, not a folder
            assert "-w DIR, --workdir DIR" in text, command
    # The folder given once with -w: stop finds the training there, status reads it.
    state = tmp_path / "results" / "models" / "m1" / "state"
    state.mkdir(parents=True)
    assert main(["stop", "m1", "-w", str(tmp_path)]) == 0 and (state / "STOP").exists()
    assert main(["status", "-w", str(tmp_path)]) == 0 and "m1" in capsys.readouterr().out


def test_curate_reads_the_config_of_the_folder_given(workdir, tmp_path_factory, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert main(["curate", VIDEO, "-w", str(workdir), "--exclude", "000010_0"]) == 0
    assert (workdir / "review" / f"{VIDEO}.tsv").is_file()  # curation.dir of that folder's config.yaml
    assert "not checked" not in capsys.readouterr().out  # the ids checked against that folder's results
