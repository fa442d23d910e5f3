"""Command line: `swaplib COMMAND ...` (or `python -m swaplib COMMAND ...`).

    swaplib swap SOURCE.mp4 DESTINATION.mp4   # one pair through the workflow, in a work folder of its own
    swaplib status              # where each model's training and each pair's stages stand
    swaplib stop MODEL          # end that training after the step in flight; the run goes on to merge
    swaplib review              # the faces and trainings of a run, in the browser (127.0.0.1, with a token)
    swaplib export MODEL OUT.onnx
    swaplib curate VIDEO --exclude 000012_0 000040-000055 --note "eyes closed"
    swaplib verify results/pairs/PAIR.mp4
    swaplib --version

`curate` appends rows to the video's curation sheet (curation/VIDEO.tsv, created with its
header), so nobody has to type TSV; `--label` marks faces that need an outline in
labels/VIDEO/to_label.tsv, which only the list of faces to outline reads. The ids are checked
against the video's face table when the workflow has extracted it, so a typo stops here and not
in the next run.

`verify` reads a video's marks: the C2PA manifest (validated), swaplib's container tag and the
provenance sidecar, and says whether the video is marked synthetic, by what, from which inputs, and
whether it was altered after signing, for each video given (`swaplib verify results/pairs/*.mp4`); a
swapped photo's the same way, its metadata in place of the tag and its folder's sidecar
(`swaplib verify results/pairs/PAIR.photos/*`). Exit code 0: all marked and not altered; 1: one altered
or unmarked; 2: one not readable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from swaplib import __version__
from swaplib.core.errors import SwaplibError
from swaplib.sheet import video_name
from swaplib.sort.curation import Row, append_curation, resolve
from swaplib.tables.faces import read_faces
from swaplib.video.credentials import TRAINED_ALGORITHMIC_MEDIA, read_manifest
from swaplib.video.marks import PHOTO_TAG, SYNTHETIC_TAG, read_metadata_tags
from swaplib.video.photo_metadata import read_marks
from swaplib.video.stills import MEDIA_BY_SUFFIX
from swaplib.workfolder import curation_dir, labels_dir, request_stop
from swaplib.xseg.review import MARKS_FILE, append_marks


def _config(args: argparse.Namespace) -> Path:
    return Path(args.config) if args.config else Path(args.workdir) / "config.yaml"


def curate(args: argparse.Namespace) -> tuple[str, int]:
    video = video_name(args.video)
    entries = [(face, action, args.note) for action in ("exclude", "include", "reference")
               for face in getattr(args, action)]
    if not entries and not args.label:
        raise SwaplibError("nothing to add: give faces with --exclude, --include, --reference or --label")
    table = _results(args) / "videos" / video / "faces.parquet"
    rows = [Row(0, face, action, note) for face, action, note in entries]
    rows += [Row(0, face, "label", args.note) for face in args.label]
    if table.is_file():  # check the ids now, against what the workflow extracted
        try:
            resolve(rows, set(read_faces(table)["face_id"]), table)
        except ValueError as exc:  # not a face id or frame range at all
            raise SwaplibError(str(exc)) from None
    checked = "" if table.is_file() else f" (not checked: {table} does not exist yet)"
    said = []
    if entries:
        folder = Path(args.dir) if args.dir else curation_dir(_config(args))
        sheet = folder / f"{video}.tsv"
        append_curation(sheet, entries)
        counts = ", ".join(f"{sum(a == action for _, a, _ in entries)} {action}"
                           for action in ("exclude", "include", "reference") if any(a == action for _, a, _ in entries))
        said.append(f"{sheet}: added {counts}{checked}.\n"
                    f"Run the workflow again: it reruns sort, train, merge and video for the models that use {video}.")
    if args.label:
        marks = labels_dir(_config(args)) / video / MARKS_FILE
        append_marks(marks, args.label, args.note)
        said.append(f"{marks}: added {len(args.label)} to outline{checked}.\n"
                    f"Run the workflow again: results/videos/{video}/to_label/ lists them with their crops for LabelMe "
                    "(with xseg.enabled); nothing else reruns.")
    return "\n".join(said), 0


def verify(args: argparse.Namespace) -> tuple[str, int]:
    """Each video's marks, one block each; the exit status is the worst of them (2: not readable)."""
    blocks, worst = [], 0
    for video in map(Path, args.videos):
        try:
            text, code = verify_one(video)
        except SwaplibError as exc:
            text, code = f"{video}: cannot be read ({exc})", 2
        blocks.append(text)
        worst = max(worst, code)
    return "\n\n".join(blocks), worst


def verify_one(video: Path) -> tuple[str, int]:
    if not video.is_file():
        raise SwaplibError("file not found")
    manifest = read_manifest(video)
    photo = video.suffix.lower() in MEDIA_BY_SUFFIX  # a swapped photo: in its folder, one sidecar beside it
    if photo:
        tagged, mark = (read_marks(video)["description"] or "").startswith(PHOTO_TAG), "metadata"
        sidecar_path = video.parent.with_suffix(".provenance.json")
    else:
        tagged, mark = read_metadata_tags(video).get("comment") == SYNTHETIC_TAG, "container tag"
        sidecar_path = video.with_suffix(".provenance.json")
    try:
        sidecar = json.loads(sidecar_path.read_text())
    except (OSError, ValueError):
        sidecar = None
    marked = (manifest["present"] and TRAINED_ALGORITHMIC_MEDIA in manifest.get("digital_source_types", [])) \
        or tagged or bool(sidecar and sidecar.get("synthetic"))
    altered = manifest["present"] and manifest["altered"]
    if altered:
        verdict = "ALTERED after it was signed (its C2PA manifest no longer matches the file)"
    elif not marked:
        verdict = f"NOT MARKED synthetic by swaplib (no C2PA manifest, {mark} or provenance sidecar)"
    elif manifest["present"] and manifest["credential_problems"]:
        verdict = ("marked SYNTHETIC, unchanged since it was signed, but its signing credentials do not validate "
                   "(see the failures below)")
    elif manifest["present"]:
        verdict = "marked SYNTHETIC, unchanged since it was signed"
    else:
        verdict = f"marked SYNTHETIC by swaplib's {mark} or sidecar; no C2PA manifest (video.c2pa.enabled: false?)"
    statement = PHOTO_TAG if photo else SYNTHETIC_TAG
    lines = [f"{video}: {verdict}", *_manifest_lines(manifest),
             f"  {mark}: {'synthetic (' + statement + ')' if tagged else 'none of swaplib'}"]
    if sidecar is None:
        lines.append(f"  provenance sidecar: none readable at {sidecar_path}")
    else:
        entry = sidecar
        if photo:  # a folder's sidecar records each photo's manifest under its file name
            entry = next((f for f in sidecar.get("files") or [] if f.get("file") == video.name), sidecar)
        recorded = (entry.get("content_credentials") or {}).get("label")
        same = "" if not manifest["present"] else (
            ", names this manifest" if recorded == manifest.get("label") else ", names another manifest")
        lines.append(f"  provenance sidecar: {sidecar_path.name} (synthetic: {sidecar.get('synthetic')}{same})")
    return "\n".join(lines), 1 if altered or not marked else 0


def _manifest_lines(manifest: dict) -> list[str]:
    if not manifest["present"]:
        return ["  C2PA manifest: none"]
    lines = [f"  C2PA manifest: {manifest.get('label')} (validation: {manifest.get('state')})"]
    lines += [f"    failure: {failure}" for failure in manifest["failures"]]
    if manifest.get("state") == "unreadable":
        return lines
    own = manifest.get("swaplib") or {}
    trust = "a trusted certificate" if manifest["trusted_signer"] else "no trusted certificate"
    lines += [f"    made by: {manifest.get('generator')} (actions: {', '.join(manifest.get('actions', []))})",
              f"    digital source type: {', '.join(manifest.get('digital_source_types', [])) or 'none'}",
              f"    signed by: {manifest.get('signer')} ({trust}; {own.get('signature', 'no note')})"]
    for ingredient in manifest.get("ingredients", []):
        lines.append(f"    input: {ingredient.get('title')}, {ingredient.get('instance_id')}")
    model = own.get("model") or {}
    if model.get("id") or model.get("file_sha256"):
        lines.append(f"    model: id (weights sha256) {model.get('id')}, file sha256 {model.get('file_sha256')}, "
                     f"training settings sha256 {model.get('training_settings_sha256')}")
    return lines


def stop(args: argparse.Namespace) -> tuple[str, int]:
    """Ask a running training to stop: a STOP file in its state folder, which the loop checks every step."""
    request = request_stop(_results(args), args.model)
    return (f"{request}: the training of '{args.model}' stops after the step in flight, saves, and writes "
            f"its model at the iteration reached; the run then goes on to merge. Raise train.iterations to go on "
            f"training later."), 0


def review(args: argparse.Namespace) -> tuple[str, int]:
    from swaplib.review.app import serve  # flask: only here

    serve(Path(args.folder or args.workdir), port=args.port, open_browser=not args.no_browser)
    return "review stopped", 0


def show_status(args: argparse.Namespace) -> tuple[str, int]:
    from swaplib.status import report  # imports torch (the model header's reader): only for this command

    return report(args.folder or args.workdir), 0


def export(args: argparse.Namespace) -> tuple[str, int]:
    from swaplib.model.export import TOLERANCE, check_crops, export_dfm, export_onnx, face_crops  # torch: here only
    from swaplib.model.io import read_header
    from swaplib.status import model_file

    results = _results(args)
    path = model_file(results, args.model)
    header = read_header(path)
    crops = face_crops(check_crops(header, results / "videos", args.faces), header["model_config"]["resolution"])
    checked = ("onnxruntime matches PyTorch on {faces} real face crops within {max_abs_diff:.2g} "
               "(tolerance {tolerance:g})")
    if args.dfm or Path(args.out).suffix.lower() == ".dfm":
        done = export_dfm(path, args.out, crops)
        R = done["metadata"]["resolution"]
        morph = " and 'morph_value:0' (1,)" if header["model_config"]["archi"] == "amp" else ""
        said = (f"{args.out}: {path} as DFL's DFM, for DeepFaceLive (input 'in_face:0' (N,{R},{R},3) float 0..1 BGR"
                f"{morph}; outputs 'out_face_mask:0', 'out_celeb_face:0', 'out_celeb_face_mask:0', NHWC)")
    else:
        done = export_onnx(path, args.out, crops)
        R = done["metadata"]["resolution"]
        said = (f"{args.out}: {path} as ONNX (input 'face' (N,3,{R},{R}) float 0..1 BGR; outputs 'swapped' and "
                f"'mask')")
    return f"{said}; " + checked.format(**done, tolerance=TOLERANCE), 0

def swap(args: argparse.Namespace) -> tuple[str, int]:
    """One pair through the workflow, in a work folder of its own (swaplib.one_pair)."""
    from swaplib import one_pair

    return one_pair.swap(Path(args.source), Path(args.destination), Path(args.workdir) if args.workdir else None,
                         train={"preset": args.preset, "iterations": args.iterations},
                         configfile=Path(args.configfile) if args.configfile else None, cores=args.cores,
                         dry_run=args.dry_run)


def _workdir(command: argparse.ArgumentParser, *also: str, default: str | None = ".",
             fallback: str = "the current one") -> None:
    """The option every command on a workflow folder takes: -w/--workdir (and `also`, older names)."""
    command.add_argument("-w", "--workdir", *also, default=default, metavar="DIR",
                         help="the workflow's folder: where `make run` or `swaplib swap` works, with results/ and "
                              f"logs/ (default: {fallback})")


def _results(args: argparse.Namespace) -> Path:
    """The results folder: --results where given (an older option), else WORKDIR/results."""
    return Path(args.results) if args.results else Path(args.workdir) / "results"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="swaplib", description="swaplib command line tools: run one pair, see where "
                                  "a run stands, stop a training, curate faces, export a model, check a video's marks")
    top.add_argument("--version", action="version", version=f"swaplib {__version__}")
    commands = top.add_subparsers(dest="command", required=True)
    one = commands.add_parser("swap", help="swap one pair: write its sheet in a work folder and run the workflow there",
                              description="Run the workflow on one pair in a work folder (sheet and settings in it). "
                              "Call it again with other settings to rerun what they affect; more --iterations "
                              "continue the training. --dry-run says what would run, and why, and changes nothing.")
    one.add_argument("source", help="video (or folder of photos) whose face is put in")
    one.add_argument("destination", help="video (or folder of photos) that receives the face")
    _workdir(one, "-o", "--out", default=None, fallback="swap-SOURCE-to-DESTINATION, by the file stems")
    one.add_argument("--preset", help="train.preset: tiny, quick96 or saehd (kept in DIR/swap.yaml for later calls)")
    one.add_argument("--iterations", type=int, help="train.iterations, total steps (kept like --preset)")
    one.add_argument("--configfile", help="a YAML file of settings over config.yaml (as snakemake --configfile)")
    one.add_argument("--cores", default="all", help="cores for the jobs (default: %(default)s)")
    one.add_argument("-n", "--dry-run", action="store_true", help="say what would run and why; run and save nothing")
    one.set_defaults(run=swap)
    halt = commands.add_parser("stop", help="end a running training now and merge what it has (as DFL's Enter)",
                               description="Ask a running training to stop after the step in flight (a STOP file "
                               "in its state folder): it saves, writes its model at the iteration reached, and the "
                               "run goes on to merge and encode. Raise train.iterations later to train on.")
    halt.add_argument("model", help="a model (results/models/NAME) or a shared base (results/pretrained/NAME)")
    _workdir(halt)
    halt.add_argument("--results", help=argparse.SUPPRESS)
    halt.set_defaults(run=stop)
    stat = commands.add_parser("status", help="where each model's training and each pair's stages stand",
                               description="Where a workflow folder stands, read from the files the run leaves: "
                               "each model's iteration, state, losses, samples/s, time left and preview, and each "
                               "pair's stage and verdict. Nothing is loaded or changed.")
    stat.add_argument("folder", nargs="?", help="the workflow's folder (the same as -w)")
    _workdir(stat)
    stat.set_defaults(run=show_status)
    rev = commands.add_parser("review", help="the run's human steps in a browser: faces to keep or leave out, "
                              "trainings to watch and stop",
                              description="A local web app over a workflow folder, on 127.0.0.1 with a token in its "
                              "address: each video's face set in its sort order to exclude, include, mark as reference "
                              "or as needing a label (rows of the curation sheet and label marks, which the next run "
                              "reads), what a rerun would redo, and each training's progress, preview and stop button.")
    rev.add_argument("folder", nargs="?", help="the workflow's folder (the same as -w)")
    _workdir(rev)
    rev.add_argument("--port", type=int, default=0, help="the port to answer on (default: a free one)")
    rev.add_argument("--no-browser", action="store_true", help="print the address only; open no browser")
    rev.set_defaults(run=review)
    exp = commands.add_parser("export", help="a trained model's swap network as ONNX, or as DFL's DFM for DeepFaceLive",
                              description="Write a trained model's swap network as ONNX and check it with "
                              "onnxruntime on real face crops against the model itself (within a stated "
                              "tolerance): the file runs outside swaplib.")
    exp.add_argument("model", help="a model file (model.safetensors) or a model's name (results/models/NAME)")
    exp.add_argument("out", help="the file to write: OUT.onnx (swaplib's interface) or OUT.dfm (DFL's DFM)")
    exp.add_argument("--dfm", action="store_true", help="DFL's DFM interface, which DeepFaceLive loads (also for any "
                     "OUT ending in .dfm)")
    exp.add_argument("--faces", help="a folder of aligned face crops to check the export on (default: the "
                     "destination faces the model trained on, in the results folder)")
    _workdir(exp)
    exp.add_argument("--results", help=argparse.SUPPRESS)
    exp.set_defaults(run=export)
    cur = commands.add_parser("curate", help="add faces to a video's curation sheet (exclude, include, reference) "
                              "or mark faces to outline (label)",
                              description="Add faces to a video's curation sheet (curation/VIDEO.tsv, made with its "
                              "header): exclude, include or mark as the reference person; or mark faces that need "
                              "an outline (labels/VIDEO/to_label.tsv). Ids are checked against the video's face "
                              "table once the workflow has extracted it. The next run reruns exactly what they "
                              "change.")
    cur.add_argument("video", help="video name (its file stem, as in results/videos/NAME) or the video file")
    ids = "face ids (FRAME_INDEX, e.g. 000012_0, as on the contact sheet) or frame ranges (000010-000020)"
    cur.add_argument("--exclude", nargs="+", default=[], metavar="FACE", help=f"leave out these {ids}")
    cur.add_argument("--include", nargs="+", default=[], metavar="FACE", help="keep these whatever the filters say")
    cur.add_argument("--reference", nargs="+", default=[], metavar="FACE",
                     help="faces of the wanted person, for the identity filter")
    cur.add_argument("--label", nargs="+", default=[], metavar="FACE",
                     help=f"faces that need an outline (labels/VIDEO/{MARKS_FILE}): listed in "
                     "results/videos/VIDEO/to_label/")
    cur.add_argument("--note", default="", help="why (kept in the sheet's note column)")
    _workdir(cur)
    cur.add_argument("--configfile", "--config", dest="config",
                     help="the workflow's config, for curation.dir and xseg.labels_dir (default: DIR/config.yaml)")
    cur.add_argument("--dir", help="curation folder (default: curation.dir of the config)")
    cur.add_argument("--results", help=argparse.SUPPRESS)
    cur.set_defaults(run=curate)
    ver = commands.add_parser("verify", help="say whether videos (or swapped photos) are marked synthetic, and "
                              "whether they were altered",
                              description="Read each video's marks: its C2PA manifest (validated), swaplib's "
                              "container tag and its provenance sidecar; say whether it is marked synthetic, by "
                              "what, from which inputs, and whether it was altered after signing. A swapped photo "
                              "(jpg, png, webp): its metadata in place of the tag, its folder's sidecar. Exit "
                              "status: 0 all marked and unchanged, 1 one altered or unmarked, 2 one unreadable.")
    ver.add_argument("videos", nargs="+", metavar="VIDEO",
                     help="video files (each one's .provenance.json sidecar is read beside it) or swapped photos "
                     "(PAIR.photos/NAME: PAIR.provenance.json beside the folder)")
    ver.set_defaults(run=verify)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        text, code = args.run(args)
    except SwaplibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    return code
