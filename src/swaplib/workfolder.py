"""What a workflow folder holds where, for the commands and the review app that work in it: the
curation, labels and manual faces folders its config.yaml names, and a training's STOP request."""

from __future__ import annotations

from pathlib import Path

import yaml

from swaplib.config.extract import EXTRACT
from swaplib.core.errors import SwaplibError
from swaplib.sort.settings import CurationSettings, curation_settings
from swaplib.train.state import STOP_REQUEST
from swaplib.xseg.review import REVIEW_KEYS

# results/ folders of trained models and of shared bases -> the rule (and log folder) that trains them
MODEL_ROOTS = {"models": "train", "pretrained": "pretrain"}


def _config_section(config_path: Path, name: str, what: str, hint: str = "") -> dict:
    """One section of the workflow's config.yaml, a file that exists ({} where the section is missing)."""
    try:
        section = (yaml.safe_load(config_path.read_text()) or {}).get(name) or {}
        if not isinstance(section, dict):
            raise TypeError(f"{name} is not a mapping")
        return section
    except (yaml.YAMLError, AttributeError, TypeError) as exc:
        raise SwaplibError(f"{config_path}: cannot read {what} ({exc}){hint}") from None


def curation_dir(config_path: Path) -> Path:
    """The workflow's curation folder: config.yaml's curation.dir (or its default), beside that config."""
    if not config_path.is_file():
        return Path(CurationSettings.dir)
    section = _config_section(config_path, "curation", "curation.dir", "; pass --dir")
    sheets = {key: value for key, value in section.items() if key not in REVIEW_KEYS}  # those: xseg.review's
    try:
        return config_path.parent / curation_settings(sheets).dir
    except SwaplibError as exc:
        raise SwaplibError(f"{config_path}: {exc}; pass --dir") from None


def manual_faces_dir(config_path: Path) -> Path:
    """The workflow's manual faces folder: config.yaml's extract.manual_faces (or its default), beside
    that config."""
    section = _config_section(config_path, "extract", "extract.manual_faces") if config_path.is_file() else {}
    return config_path.parent / (section.get("manual_faces") or EXTRACT["manual_faces"].default)


def labels_dir(config_path: Path) -> Path:
    """The workflow's labels folder: config.yaml's xseg.labels_dir (or "labels"), beside that config."""
    section = _config_section(config_path, "xseg", "xseg.labels_dir") if config_path.is_file() else {}
    return config_path.parent / (section.get("labels_dir") or "labels")


def state_folders(results: Path, model: str) -> list[Path]:
    """Where a model's (or a shared base's) training state would be, by its name."""
    return [results / root / model / "state" for root in MODEL_ROOTS]


def request_stop(results: Path, model: str) -> Path:
    """Ask a running training to stop after the step in flight: a STOP file in its state folder,
    which the loop checks every step. The file written."""
    folders = state_folders(results, model)
    state = next((folder for folder in folders if folder.is_dir()), None)
    if state is None:
        raise SwaplibError(f"no training state for '{model}' in {' or '.join(map(str, folders))}: is that the "
                           f"model's name (the sheet's model column, or the pair's name) and the run's folder?")
    (state / STOP_REQUEST).touch()
    return state / STOP_REQUEST
