"""What the review app reads from a workflow folder and the few files it writes there.

It reads the face sets (results/videos/VIDEO/faceset.parquet), the curation sheets, where each
training stands (swaplib.status) and a dry run of the workflow; it writes rows of a curation sheet
or of a video's label marks, and a training's STOP request: files the workflow already reads."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import yaml

from swaplib.config.files import set_values
from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.one_pair import SETTINGS, save_train_settings, snakemake_command, workflow_root
from swaplib.sheet import validate_config
from swaplib.sort.curation import ACTIONS, Row, append_curation, read_curation, read_rows, resolve
from swaplib.status import collect
from swaplib.tables.faces import read_faces
from swaplib.tables.faceset import read_faceset
from swaplib.workfolder import curation_dir, labels_dir, request_stop
from swaplib.xseg.review import MARKS_FILE, append_marks, read_marks

LABEL = "label"  # the action that marks a face for an outline (the label marks, not the curation sheet)
# The scores a face's tile shows, in the face set's columns.
SCORES = ("blur", "yaw", "pitch", "face_px", "identity")
VIDEO_NAME = re.compile(r"^[\w.\- ]+$")
STEPS = re.compile(r"(\d+) of (\d+) steps \((\d+)%\) done")  # Snakemake's progress line


class Folder:
    """A workflow folder: the checkout itself (`make run`) or a `swaplib swap` work folder."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise SwaplibError(f"{root}: no such folder to review")
        self.results = self.root / "results"
        self._writing = threading.Lock()  # two tabs appending to one sheet: one after the other, no row lost
        self._job: dict = {"state": "idle"}  # the one workflow run the app started, if any

    # ------------------------------------------------------------------ faces

    def videos(self) -> list[dict]:
        """Each video with a face set: its name and how many faces it has and keeps."""
        out = []
        for table in sorted((self.results / "videos").glob("*/faceset.parquet")):
            faceset = read_faceset(table)
            out.append({"name": table.parent.name, "faces": len(faceset), "selected": int(faceset["selected"].sum())})
        return out

    def _video_folder(self, video: str) -> Path:
        folder = self.results / "videos" / video
        if not VIDEO_NAME.match(video) or not (folder / "faceset.parquet").is_file():
            raise SwaplibError(f"no face set for a video named {video!r} in {self.results / 'videos'}")
        return folder

    def faces(self, video: str) -> list[dict]:
        """The video's faces in its sort order (the kept ones by rank, then the left-out ones by
        frame), each with its crop, its scores, why it was left out and its curation."""
        folder = self._video_folder(video)
        faceset = read_faceset(folder / "faceset.parquet")
        order = ["not_selected", "rank", "frame", "index"]
        faceset = faceset.assign(not_selected=~faceset["selected"]).sort_values(order)
        known = set(faceset["face_id"])
        marks = self._marks(video, known)
        sheet = self.curation_sheet(video)
        decided = read_curation(sheet, known) if sheet.is_file() else None  # the sheet now: the next run's input
        rows = []
        for face in faceset.itertuples():
            scores = {name: finite_number(getattr(face, name, None)) for name in SCORES}
            rows.append({"id": face.face_id, "file": f"results/videos/{video}/faces/{face.file}",
                         "selected": bool(face.selected), "rank": int(face.rank), "reason": face.reason or "",
                         "curation": face.curation or "", "note": face.curation_note or "",
                         "decided": _decision(decided, face.face_id),
                         "label": face.face_id in marks, "scores": scores})
        return rows

    def curation_sheet(self, video: str) -> Path:
        return curation_dir(self.root / "config.yaml") / f"{video}.tsv"

    def marks_file(self, video: str) -> Path:
        return labels_dir(self.root / "config.yaml") / video / MARKS_FILE

    def _marks(self, video: str, known_ids: set[str]) -> set[str]:
        path = self.marks_file(video)
        return set(read_marks(path, known_ids)) if path.is_file() else set()

    def decisions(self, video: str) -> list[dict]:
        """The rows of the video's curation sheet, in order (a later row wins for a face)."""
        sheet = self.curation_sheet(video)
        return [asdict(row) for row in read_rows(sheet)] if sheet.is_file() else []

    def curate(self, video: str, faces: list[str], action: str, note: str = "") -> Path:
        """Rows for `faces` (ids or frame ranges) in the video's curation sheet (exclude, include,
        reference) or label marks (label), checked against its extracted faces first. The file written."""
        folder = self._video_folder(video)
        if action not in (*ACTIONS, LABEL):
            raise SwaplibError(f"action {action!r} is not one of {', '.join((*ACTIONS, LABEL))}")
        if not faces or not all(isinstance(face, str) for face in faces):
            raise SwaplibError("faces must be a non-empty list of face ids or frame ranges")
        table = folder / "faces.parquet"
        try:
            resolve([Row(0, face, action, note) for face in faces], set(read_faces(table)["face_id"]), table)
        except ValueError as exc:
            raise SwaplibError(str(exc)) from None
        with self._writing:
            if action == LABEL:
                path = self.marks_file(video)
                append_marks(path, faces, note)
            else:
                path = self.curation_sheet(video)
                path.parent.mkdir(parents=True, exist_ok=True)
                append_curation(path, [(face, action, note) for face in faces])
        return path

    # ------------------------------------------------------------------ the workflow

    def running(self) -> bool:
        """Whether a Snakemake run holds this folder (its lock files exist while it runs)."""
        locks = self.root / ".snakemake" / "locks"
        return locks.is_dir() and any(locks.iterdir())

    def snakemake(self) -> list[str]:
        """Snakemake's command for this folder: a checkout runs its own Snakefile, a `swaplib swap`
        folder the installation's with its swap.yaml."""
        if (self.root / "Snakefile").is_file():
            return [sys.executable, "-m", "snakemake", "--cores", "1"]
        return snakemake_command(workflow_root(), self.root, None, "1", settings=self.root / SETTINGS)

    def environment(self) -> dict:
        """The environment Snakemake runs in: the jobs import the library of the folder's workflow."""
        library = self.root / "src" if (self.root / "Snakefile").is_file() else workflow_root() / "src"
        return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(library), os.environ.get("PYTHONPATH")])))

    def dry_run(self) -> dict:
        """What a run would redo now, and why: Snakemake's dry run, its jobs counted per rule."""
        if self.running():
            return {"running": True, "jobs": {}, "text": "a workflow is running in this folder: its own log says "
                                                         "what it does; ask again when it has finished"}
        proc = subprocess.run([*self.snakemake(), "--dry-run", "--quiet", "rules"], cwd=self.root,
                              env=self.environment(), capture_output=True, text=True, timeout=300)
        text = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise SwaplibError(f"the dry run failed (exit status {proc.returncode}):\n{text.strip()[-2000:]}")
        table = text[text.index("Job stats:"):] if "Job stats:" in text else ""
        jobs = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M) if rule != "total"}
        return {"running": False, "jobs": jobs, "text": text.strip()[-4000:]}

    # ------------------------------------------------------------------ training

    def models(self) -> dict:
        """Each model's training and each pair's stage and verdict (swaplib status's figures)."""
        models, pairs = collect(self.root)
        shown = []
        for model in models:
            entry = asdict(model)
            entry["preview"] = str(model.preview.relative_to(self.root)) if model.preview else None
            folder = self.results / ("pretrained" if model.name.endswith(" (base)") else "models")
            name = model.name.removesuffix(" (base)")
            plot = next((p for p in (folder / name / "state" / "loss.png", folder / name / "loss.png") if p.is_file()),
                        None)
            entry["plot"] = str(plot.relative_to(self.root)) if plot else None
            entry["id"] = name
            shown.append(entry)
        return {"models": shown, "pairs": [asdict(pair) for pair in pairs], "running": self.running()}

    def train_on(self, model: str, more: int, minutes: float | None = None) -> dict:
        """Raise a model's budget to `more` iterations past where it stands (and its minutes, if given)
        where the folder keeps it, then train it on: a `swaplib swap` folder's swap.yaml (as
        `swaplib swap --iterations` does), or a checkout's config.yaml (that line alone, its comment kept)."""
        if isinstance(more, bool) or not isinstance(more, int) or more < 1:
            raise SwaplibError(f"more iterations must be a whole number of at least 1, got {more!r}")
        status = next((m for m in self.models()["models"] if m["id"] == model), None)
        if status is None:
            raise SwaplibError(f"no model named {model!r} in this folder")
        if self.running() or self._job.get("state") == "running":
            raise SwaplibError("a workflow is already running in this folder: ask again when it has finished")
        train = {key: value for key, value in (("iterations", (status["iteration"] or 0) + more),
                                               ("max_minutes", minutes)) if value is not None}
        if (self.root / SETTINGS).is_file():
            save_train_settings(self.root, train, workflow_root())
        else:
            self._raise_in_config(train)
        return self.start(f"results/models/{model}/model.safetensors", f"training {model} to {train['iterations']}")

    def _raise_in_config(self, train: dict) -> None:
        config = self.root / "config.yaml"
        try:
            text = set_values(config, "train", train)
        except (OSError, ValueError) as exc:
            raise SwaplibError(f"{config}: cannot set train.iterations there ({exc})") from None
        validate_config(yaml.safe_load(text), workflow_root() / "workflow" / "schemas" / "config.schema.yaml",
                        source=str(config))
        with self._writing, atomic_path(config) as tmp:
            tmp.write_text(text)

    # ------------------------------------------------------------------ running the workflow

    def start(self, target: str, what: str) -> dict:
        """Run the workflow for `target` in the background (one run at a time, none beside another)."""
        with self._writing:
            if self.running() or self._job.get("state") == "running":
                raise SwaplibError("a workflow is already running in this folder: ask again when it has finished")
            process = subprocess.Popen([*self.snakemake(), target], cwd=self.root, env=self.environment(),
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self._job = {"state": "running", "what": what, "target": target, "log": [], "done": 0, "total": None}
            threading.Thread(target=self._follow, args=(process,), daemon=True).start()
        return self.job()

    def _follow(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self._job["log"] = (self._job["log"] + [line.rstrip()])[-200:]
            if match := STEPS.search(line):
                self._job["done"], self._job["total"] = int(match[1]), int(match[2])
        process.wait()
        self._job["rules"] = sorted(set(re.findall(r"^(?:local)?rule (\w+):", "\n".join(self._job["log"]), flags=re.M)))
        self._job["state"] = "done" if process.returncode == 0 else f"failed (exit status {process.returncode})"

    def job(self) -> dict:
        """The app's workflow run: what, its state, steps done of all, the rules it ran, its last lines."""
        status = dict(self._job)
        status["log"] = status.get("log", [])[-20:]
        return status

    def stop(self, model: str) -> Path:
        if not VIDEO_NAME.match(model):
            raise SwaplibError(f"{model!r} is not a model's name")
        return request_stop(self.results, model)


def _decision(curation, face_id: str) -> str:
    """What the curation sheet says of a face now: exclude, include, reference, or "" (nothing)."""
    if curation is None:
        return ""
    return curation.actions.get(face_id) or ("reference" if face_id in curation.references else "")


def finite_number(value) -> float | None:
    """A figure for the page: a finite number rounded to 3 places, else None (NaN, text, missing)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number, 3) if math.isfinite(number) else None
