"""Command line: `swaplib COMMAND ...` (or `python -m swaplib COMMAND ...`).

    swaplib curate VIDEO --exclude 000012_0 000040-000055 --note "eyes closed"
    swaplib stop MODEL          # end that training after the step in flight; the run goes on to merge
    swaplib --version

`curate` appends rows to the video's curation sheet (curation/VIDEO.tsv, created with its
header), so nobody has to type TSV. The ids are checked against the video's face table when
the workflow has extracted it, so a typo stops here and not in the next run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from swaplib import __version__
from swaplib.core.errors import SwaplibError
from swaplib.sheet import video_name
from swaplib.sort.curation import Row, append_curation, resolve
from swaplib.sort.settings import CurationSettings, curation_settings
from swaplib.tables.faces import read_faces


def curation_dir(config_path: Path) -> Path:
    """The workflow's curation folder: config.yaml's curation.dir (or its default), beside that config."""
    if not config_path.is_file():
        return Path(CurationSettings.dir)
    try:
        config = yaml.safe_load(config_path.read_text()) or {}
        section = config.get("curation") or {}
        return config_path.parent / curation_settings(section).dir
    except (yaml.YAMLError, AttributeError, TypeError) as exc:
        raise SwaplibError(f"{config_path}: cannot read curation.dir ({exc}); pass --dir") from None
    except SwaplibError as exc:
        raise SwaplibError(f"{config_path}: {exc}; pass --dir") from None


def curate(args: argparse.Namespace) -> str:
    video = video_name(args.video)
    folder = Path(args.dir) if args.dir else curation_dir(Path(args.config))
    sheet = folder / f"{video}.tsv"
    entries = [(face, action, args.note) for action in ("exclude", "include", "reference")
               for face in getattr(args, action)]
    if not entries:
        raise SwaplibError("nothing to add: give faces with --exclude, --include or --reference")
    table = Path(args.results) / "videos" / video / "faces.parquet"
    if table.is_file():  # check the ids now, against what the workflow extracted
        try:
            rows = [Row(0, face, action, note) for face, action, note in entries]
            resolve(rows, set(read_faces(table)["face_id"]), table)
        except ValueError as exc:  # not a face id or frame range at all
            raise SwaplibError(str(exc)) from None
    append_curation(sheet, entries)
    counts = ", ".join(f"{sum(a == action for _, a, _ in entries)} {action}"
                       for action in ("exclude", "include", "reference") if any(a == action for _, a, _ in entries))
    checked = "" if table.is_file() else f" (not checked: {table} does not exist yet)"
    return (f"{sheet}: added {counts}{checked}.\n"
            f"Run the workflow again: it reruns sort, train, merge and video for the models that use {video}.")


def stop(args: argparse.Namespace) -> str:
    """Ask a running training to stop: a STOP file in its state folder, which the loop checks every step."""
    results = Path(args.results)
    folders = [results / "models" / args.model / "state", results / "pretrained" / args.model / "state"]
    state = next((folder for folder in folders if folder.is_dir()), None)
    if state is None:
        raise SwaplibError(f"no training state for '{args.model}' in {folders[0]} or {folders[1]}: is that the "
                           f"model's name (the sheet's model column, or the pair's name) and the run's folder?")
    (state / "STOP").touch()
    return (f"{state / 'STOP'}: the training of '{args.model}' stops after the step in flight, saves, and writes "
            f"its model at the iteration reached; the run then goes on to merge. Raise train.iterations to go on "
            f"training later.")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="swaplib", description="swaplib command line tools")
    top.add_argument("--version", action="version", version=f"swaplib {__version__}")
    commands = top.add_subparsers(dest="command", required=True)
    halt = commands.add_parser("stop", help="end a running training now and merge what it has (as DFL's Enter)")
    halt.add_argument("model", help="a model (results/models/NAME) or a shared base (results/pretrained/NAME)")
    halt.add_argument("--results", default="results", help="the workflow's results folder (default: %(default)s)")
    halt.set_defaults(run=stop)
    cur = commands.add_parser("curate", help="add faces to a video's curation sheet (exclude, include, reference)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cur.add_argument("video", help="video name (its file stem, as in results/videos/NAME) or the video file")
    ids = "face ids (FRAME_INDEX, e.g. 000012_0, as on the contact sheet) or frame ranges (000010-000020)"
    cur.add_argument("--exclude", nargs="+", default=[], metavar="FACE", help=f"leave out these {ids}")
    cur.add_argument("--include", nargs="+", default=[], metavar="FACE", help="keep these whatever the filters say")
    cur.add_argument("--reference", nargs="+", default=[], metavar="FACE",
                     help="faces of the wanted person, for the identity filter")
    cur.add_argument("--note", default="", help="why (kept in the sheet's note column)")
    cur.add_argument("--dir", help="curation folder (default: curation.dir of --config)")
    cur.add_argument("--config", default="config.yaml", help="the workflow's config (default: %(default)s)")
    cur.add_argument("--results", default="results",
                     help="the workflow's results folder, to check ids (default: %(default)s)")
    cur.set_defaults(run=curate)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        print(args.run(args))
    except SwaplibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
