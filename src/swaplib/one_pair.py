"""`swaplib swap SOURCE DESTINATION`: one pair through this installation's workflow, without a sheet.

The work folder gets a one-row sheet (pairs.tsv) and the command's own settings (swap.yaml), and
Snakemake runs the workflow there as `make run` does in a checkout: config.yaml's relative paths
(the sheet, curation/, merge/) mean the work folder, and a second call reruns only what its changes
affect; more iterations continue the training from its saved state.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.core.merging import deep_merge
from swaplib.sheet import config_layers, validate_config, video_name
from swaplib.video.results import result_name

# src/swaplib/one_pair.py in a checkout installed with `pip install -e .`: the workflow is beside src/.
CHECKOUT = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = ("Snakefile", "config.yaml", "profiles/default")
SETTINGS = "swap.yaml"


def workflow_root(checkout: Path | None = None) -> Path:
    """The checkout whose workflow this swaplib belongs to; an error where there is none (a wheel)."""
    checkout = CHECKOUT if checkout is None else checkout
    missing = [name for name in WORKFLOW_FILES if not (checkout / name).exists()]
    if missing:
        raise SwaplibError(f"swaplib swap runs the workflow of a swaplib checkout, but {checkout} has no "
                           f"{', '.join(missing)}: install swaplib from a clone with `pip install -e .` "
                           f"(as `make` does) and run this from its environment")
    return checkout


def default_workdir(source: Path, destination: Path) -> Path:
    return Path(f"swap-{video_name(source)}-to-{video_name(destination)}")


def pair_name(source: Path, destination: Path) -> str:
    """The pair's name from the two stems, as the sheet allows it (letters, digits, _ . -)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{video_name(source)}_to_{video_name(destination)}")
    return name.lstrip("_.-")


def prepare(workdir: Path, source: Path, destination: Path, train: dict, root: Path | None = None,
            configfile: Path | None = None, into: Path | None = None) -> str:
    """Write the work folder's sheet and settings; return the pair's name.

    `train` holds the settings given on this call (None = not given); those of earlier calls stay in
    swap.yaml, so calling again with the same folder and nothing new reruns nothing. With `root` (the
    workflow's checkout), the settings are checked first, as the workflow will merge them, and nothing
    is written when they are not valid: a bad value never sticks in swap.yaml. `into`: another folder
    to write the sheet and settings to (a dry run's), the work folder's own left as they are."""
    for path in (source, destination):
        if not path.exists():
            raise SwaplibError(f"{path}: no such video or photo folder")
    saved, given = _saved(workdir), {key: value for key, value in train.items() if value is not None}
    into = into or workdir
    sheet = "pairs.tsv" if into == workdir else str((into / "pairs.tsv").resolve())
    settings = {**_with_train(saved, given), "pairs": sheet}
    if root is not None:
        _check(root, configfile, workdir / SETTINGS, saved, given)
    into.mkdir(parents=True, exist_ok=True)
    pair = pair_name(source, destination)
    _write_text(into / "pairs.tsv",
                f"pair\tsource\tdestination\n{pair}\t{source.resolve()}\t{destination.resolve()}\n")
    _write_text(into / SETTINGS, yaml.safe_dump(settings, sort_keys=False))
    return pair


def save_train_settings(workdir: Path, train: dict, root: Path, configfile: Path | None = None) -> None:
    """`train` (None = not given) over the training settings in the work folder's swap.yaml, checked
    first as prepare() checks them; the sheet stays as it is."""
    saved, given = _saved(workdir), {key: value for key, value in train.items() if value is not None}
    _check(root, configfile, workdir / SETTINGS, saved, given)
    _write_text(workdir / SETTINGS, yaml.safe_dump(_with_train(saved, given), sort_keys=False))


def _saved(workdir: Path) -> dict:
    """The settings earlier calls kept in the work folder's swap.yaml ({} before the first)."""
    settings_file = workdir / SETTINGS
    return (yaml.safe_load(settings_file.read_text()) or {}) if settings_file.is_file() else {}


def _with_train(saved: dict, given: dict) -> dict:
    return {**saved, "train": {**saved.get("train", {}), **given}}


def _check(root: Path, configfile: Path | None, settings_file: Path, saved: dict, given: dict) -> None:
    """The config the workflow will see (config.yaml, the user's file, swap.yaml, this call's options)
    validated, each problem named after where it came from."""
    files = [root / "config.yaml", *([configfile] if configfile else [])]
    layers = config_layers(files, {})[:-1] + [(str(settings_file), saved),
                                                ("this command's options", {"train": given})]
    merged: dict = {}
    for _, layer in layers:
        merged = deep_merge(merged, layer)
    validate_config({**merged, "pairs": "pairs.tsv"}, root / "workflow" / "schemas" / "config.schema.yaml",
                    layers=layers)


def _write_text(path: Path, text: str) -> None:
    """Whole or not at all: a later call reads swap.yaml back as the settings of the earlier ones."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def snakemake_command(root: Path, workdir: Path, configfile: Path | None, cores: str,
                      settings: Path | None = None) -> list[str]:
    """Snakemake's command line for the work folder. Later config files win: the installation's
    config.yaml, then the user's, then swap.yaml (what this command was told; `settings` where it is
    not the work folder's own)."""
    settings = (settings or workdir / SETTINGS).resolve()
    configs = [root / "config.yaml", *([configfile.resolve()] if configfile else []), settings]
    return [sys.executable, "-m", "snakemake", "--snakefile", str(root / "Snakefile"),
            "--directory", str(workdir.resolve()), "--configfile", *map(str, configs),
            "--workflow-profile", str(root / "profiles" / "default"), "--cores", cores]


def outcome(workdir: Path, pair: str, photos: bool = False) -> str:
    """The result video (`photos`: the folder of swapped photos) and its verdict (results/pairs/PAIR/quality.json)."""
    video = workdir / "results" / "pairs" / result_name(pair, photos)
    quality_file = workdir / "results" / "pairs" / pair / "quality.json"
    try:
        quality = json.loads(quality_file.read_text())
    except (OSError, ValueError) as exc:
        raise SwaplibError(f"{quality_file}: cannot read the verdict ({exc})") from None
    convincing = f"\n{quality['convincing_text']}" if "convincing_text" in quality else ""
    return (f"{video}\nverdict: {quality.get('verdict')} ({quality.get('verdict_text', '')}; the figures: "
            f"{quality_file.with_name('quality.html')}){convincing}")


def swap(source: Path, destination: Path, workdir: Path | None = None, *, train: dict,
         configfile: Path | None = None, cores: str = "all", dry_run: bool = False) -> tuple[str, int]:
    root = workflow_root()
    if configfile is not None and not configfile.is_file():
        raise SwaplibError(f"{configfile}: config file not found")
    workdir = workdir or default_workdir(source, destination)
    # The jobs import the library of this workflow's checkout, whatever else is on the path.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root / "src"), os.environ.get("PYTHONPATH")])))
    if dry_run:  # the sheet and settings of this call in a folder of their own: the work folder's stay as they are
        with tempfile.TemporaryDirectory(prefix="swaplib-dry-run-") as staged:
            prepare(workdir, source, destination, train, root=root, configfile=configfile, into=Path(staged))
            command = snakemake_command(root, workdir, configfile, cores, settings=Path(staged) / SETTINGS)
            code = subprocess.run([*command, "--dry-run"], env=env).returncode
        return (f"dry run (exit status {code}): the jobs above are what `swaplib swap` with these options would run "
                f"in {workdir}, and why; nothing was run or saved"), code
    pair = prepare(workdir, source, destination, train, root=root, configfile=configfile)
    code = subprocess.run(snakemake_command(root, workdir, configfile, cores), env=env).returncode
    if code != 0:
        return (f"the workflow stopped (snakemake exit status {code}): see above, and the job logs in "
                f"{workdir / 'logs'}"), 1
    return outcome(workdir, pair, photos=destination.is_dir()), 0
