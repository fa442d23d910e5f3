"""`swaplib status [WORKDIR]`: models and pairs of a workflow folder, from the files the workflow leaves."""

from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest

from swaplib.cli import main
from swaplib.model import build_model, save_model
from swaplib.status import collect, model_status
from swaplib.train import train, train_settings
from swaplib.train.settings import model_config

LOG_LINE = ("2025-01-01 10:00:00,000 INFO swaplib: iteration {it}/2000 ({pct}%)  src 0.0213  dst 0.0198  {rate} "
            "samples/s  4.10 it/s  ETA {eta}")


def loss_csv(path, last: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{it},{0.5 / it!r},{0.4 / it!r}" for it in range(1, last + 1)]
    path.write_text("iteration,src_loss,dst_loss\n" + "\n".join(rows) + "\n")


def model_header(path, **record) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(path, build_model(model_config("tiny", resolution=64, ae_dims=8, e_dims=4, d_dims=4, d_mask_dims=2)),
               **record)


@pytest.fixture
def workdir(tmp_path):
    """A workflow folder mid-run: one model training, one stopped, one trained further after it was done,
    a shared base done, and three pairs at three stages."""
    results = tmp_path / "results"
    training = results / "models" / "anna"
    loss_csv(training / "state" / "loss.csv", 120)
    (training / "state" / "preview-latest.jpg").write_bytes(b"jpeg")
    log = tmp_path / "logs" / "train" / "anna.log"
    log.parent.mkdir(parents=True)
    log.write_text("\n".join([LOG_LINE.format(it=100, pct=5, rate="20.0", eta="9m00s"), "some other line",
                              LOG_LINE.format(it=120, pct=6, rate="23.4", eta="7m40s")]) + "\n")

    stopped = results / "models" / "ben"
    loss_csv(stopped / "state" / "loss.csv", 500)
    model_header(stopped / "model.safetensors", iterations=500, stopped_by="max_minutes",
                 losses={"src": 0.1, "dst": 0.2})
    (stopped / "preview.jpg").write_bytes(b"jpeg")

    resumed = results / "models" / "cleo"  # done at 100, then train.iterations raised: training on
    loss_csv(resumed / "state" / "loss.csv", 150)
    model_header(resumed / "model.safetensors", iterations=100, stopped_by="iterations")
    (resumed / "state" / "STOP").touch()

    model_header(results / "pretrained" / "base" / "model.safetensors", iterations=300, stopped_by="iterations",
                 losses={"src": 0.05, "dst": 0.06})

    pairs = results / "pairs"
    (pairs / "anna_to_ben").mkdir(parents=True)
    (pairs / "anna_to_ben" / "quality.json").write_text(json.dumps({"verdict": "source", "id_match": 0.8}))
    (pairs / "anna_to_ben.mp4").write_bytes(b"mp4")
    (pairs / "ben_to_cleo").mkdir()
    (pairs / "ben_to_cleo" / "merge.json").write_text("{}")
    (pairs / "ben_to_cleo.mp4").write_bytes(b"mp4")
    (pairs / "cleo_to_anna" / "merged").mkdir(parents=True)
    (pairs / "cleo_to_anna" / "merge.json").write_text("{}")
    return tmp_path


def test_models_and_pairs(workdir):
    models, pairs = collect(workdir)
    by_name = {m.name: m for m in models}
    assert list(by_name) == ["anna", "ben", "cleo", "base (base)"]
    anna = by_name["anna"]
    assert (anna.iteration, anna.target, anna.state) == (120, 2000, "training")
    assert anna.losses == pytest.approx((0.5 / 120, 0.4 / 120))
    assert (anna.samples_per_s, anna.time_left) == (23.4, "7m40s")
    assert anna.preview == workdir / "results" / "models" / "anna" / "state" / "preview-latest.jpg"
    ben = by_name["ben"]
    assert (ben.iteration, ben.state, ben.time_left) == (500, "stopped (max_minutes)", None)
    assert ben.preview == workdir / "results" / "models" / "ben" / "preview.jpg"
    assert (by_name["cleo"].iteration, by_name["cleo"].state) == (150, "stop requested")
    base = by_name["base (base)"]
    assert (base.iteration, base.state, base.losses, base.preview) == (300, "done", (0.05, 0.06), None)
    assert [(p.name, p.stage, p.verdict) for p in pairs] == [
        ("anna_to_ben", "quality done", "source"), ("ben_to_cleo", "video", None), ("cleo_to_anna", "merged", None)]


def test_the_command_prints_a_table(workdir, capsys):
    assert main(["status", str(workdir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "iteration", "state", "src", "loss", "dst", "loss", "samples/s", "left",
                                "preview"]
    anna = next(line for line in lines if line.startswith("anna "))
    assert anna.split()[:8] == ["anna", "120/2000", "training", "0.0042", "0.0033", "23.4", "7m40s",
                                str(workdir / "results" / "models" / "anna" / "state" / "preview-latest.jpg")]
    assert next(line for line in lines if line.startswith("anna_to_ben")).split() == [
        "anna_to_ben", "quality", "done", "source"]


def test_an_empty_or_missing_folder(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 0
    assert "no models or pairs yet" in capsys.readouterr().out
    assert main(["status", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err


def test_status_reads_the_progress_line_a_real_training_logs(tmp_path):
    # the log line comes from the train loop itself, so a change of its wording cannot leave status blind
    rng = np.random.default_rng(0)
    faces = {}
    for side in ("src", "dst"):
        (tmp_path / side).mkdir()
        faces[side] = [tmp_path / side / f"{i}.png" for i in range(4)]
        for path in faces[side]:
            cv2.imwrite(str(path), rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    folder = tmp_path / "results" / "models" / "anna"
    log_file = tmp_path / "logs" / "train" / "anna.log"
    log_file.parent.mkdir(parents=True)
    log = logging.getLogger("test_status.train")
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        train(faces["src"], faces["dst"], model_config("tiny", resolution=32, ae_dims=8, e_dims=4, d_dims=4,
                                                           d_mask_dims=2),
              train_settings("tiny", iterations=3, batch_size=2, save_every=0, workers=1, progress="off"),
              state_dir=folder / "state", model_path=folder / "model.safetensors", preview_path=folder / "p.jpg",
              history_path=folder / "loss.csv", plot_path=folder / "loss.png", log=log)
    finally:
        log.removeHandler(handler)
        handler.close()
    status = model_status(tmp_path, "models", folder)
    assert (status.iteration, status.target, status.state) == (3, 3, "done")
    assert status.samples_per_s is not None and status.samples_per_s > 0


def test_a_finished_model_shows_its_final_losses_and_preview(tmp_path):
    """Stopped at 772 with its last periodic save at 500: the model file's own figures, not the save's."""
    folder = tmp_path / "results" / "models" / "dana"
    loss_csv(folder / "state" / "loss.csv", 500)
    (folder / "state" / "preview-latest.jpg").write_bytes(b"jpeg of step 500")
    model_header(folder / "model.safetensors", iterations=772, stopped_by="max_minutes",
                 losses={"src": 0.07, "dst": 0.08})
    (folder / "preview.jpg").write_bytes(b"jpeg of step 772")
    dana = model_status(tmp_path, "models", folder)
    assert (dana.iteration, dana.state, dana.losses) == (772, "stopped (max_minutes)", (0.07, 0.08))
    assert dana.preview == folder / "preview.jpg"
