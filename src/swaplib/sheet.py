"""Validation of the workflow's config and pairs sheet, before any job runs.

Every message names the file, the key or row, and what is wrong, so a bad setting
stops the run at once instead of failing an hour later inside a job.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

from swaplib.core.errors import SwaplibError
from swaplib.video.results import PHOTOS_SUFFIX


def _load_schema(schema_path: str | Path) -> dict:
    return yaml.safe_load(Path(schema_path).read_text())


@dataclass(frozen=True)
class Problem:
    """One schema error: the key it is about (`path`), and its line."""

    path: tuple[str, ...]
    text: str


def _unexpected(error: jsonschema.ValidationError) -> list[str]:
    """The keys an additionalProperties error is about (jsonschema names them only in its message)."""
    allowed = set(error.schema.get("properties", {}))
    return sorted(key for key in error.instance if key not in allowed and not any(
        re.search(pattern, key) for pattern in error.schema.get("patternProperties", {})))


def _problems(error: jsonschema.ValidationError) -> list[Problem]:
    """Readable lines for one schema error: `train.iterations: -5 is less than the minimum of 1`; a key
    that is no setting is named with the nearest one (`train.itterations: not a setting (did you mean
    iterations?)`)."""
    path = tuple(str(part) for part in error.absolute_path)
    where = ".".join(path) or "(top level)"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return [Problem(path, f"{where}: {error.instance!r} is not one of: {allowed}")]
    if error.validator == "additionalProperties":
        out = []
        for key in _unexpected(error):
            near = difflib.get_close_matches(key, list(error.schema.get("properties", {})), n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]}?)" if near else " (a misspelt key?)"
            out.append(Problem((*path, key), f"{'.'.join((*path, key))}: not a setting{hint}"))
        return out
    if error.validator == "not" and "description" in error.schema:  # a forbidden key that says why
        return [Problem(path, f"{where}: {error.schema['description']}")]
    return [Problem(path, f"{where}: {error.message}")]


def schema_problems(instance: dict, schema_path: str | Path) -> list[Problem]:
    validator = jsonschema.Draft202012Validator(_load_schema(schema_path))
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [problem for error in errors for problem in _problems(error)]


def schema_errors(instance: dict, schema_path: str | Path) -> list[str]:
    return [problem.text for problem in schema_problems(instance, schema_path)]


def _sets(layer: dict, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(layer, dict) or key not in layer:
            return False
        layer = layer[key]
    return True


def config_layers(files: list[str | Path], command_line: dict) -> list[tuple[str, dict]]:
    """(name, mapping) of each config file, in order, then of --config's values: what validate_config
    names a problem after."""
    layers = []
    for path in map(Path, files):
        try:
            layers.append((str(path), yaml.safe_load(path.read_text()) or {}))
        except (OSError, yaml.YAMLError):
            continue  # Snakemake read it already and says what is wrong with it
    return layers + [("--config", command_line)]


def validate_config(config: dict, schema_path: str | Path, source: str = "config.yaml",
                    layers: list[tuple[str, dict]] | None = None) -> None:
    """Raise SwaplibError listing every bad key of `config`, each under the file it came from.

    layers: (name, mapping) of what was merged into `config`, in order (config.yaml, each --configfile,
    --config): a problem is named after the last layer that sets its key; `source` where none does
    (a required key missing, or no layers given)."""
    problems = schema_problems(config, schema_path)
    if not problems:
        return
    by_source: dict[str, list[str]] = {}
    for problem in problems:
        origin = next((name for name, layer in reversed(layers or []) if _sets(layer, problem.path)), source)
        by_source.setdefault(origin, []).append(problem.text)
    if any("is not of type" in line for line in by_source.get("--config", [])):
        by_source["--config"].append("(--config gives nested values as text: put them in a --configfile)")
    raise SwaplibError("\n".join(f"{name}: invalid configuration:\n  " + "\n  ".join(lines)
                                 for name, lines in by_source.items()))


# Optional columns, and the video column whose reference photo each one names.
REFERENCE_COLUMNS = {"source_reference": "source", "destination_reference": "destination"}
OPTIONAL_COLUMNS = ("model", *REFERENCE_COLUMNS)


@dataclass(frozen=True)
class Sheet:
    """The validated pairs sheet: one row per pair, and the videos and models they use."""

    # pair, source, destination (absolute paths), model, source_video, destination_video,
    # source_reference, destination_reference (absolute paths or "")
    pairs: pd.DataFrame
    videos: dict[str, Path]  # video name -> video file or photo folder
    references: dict[str, Path] = field(default_factory=dict)  # video name -> reference photo (sheet columns)
    path: Path | None = None  # the sheet file

    def model_pairs(self, model: str) -> pd.DataFrame:
        return self.pairs[self.pairs["model"] == model]


VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg"}


def video_name(path: str | Path) -> str:
    """A video's name in results/ and curation/: a video file's stem, a photo folder's name; a
    name that is neither (no such file, no video suffix) is taken as the name itself."""
    path = Path(path)
    if path.is_dir():
        return path.name
    return path.stem if path.is_file() or path.suffix.lower() in VIDEO_SUFFIXES else path.name


def _read_tsv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SwaplibError(f"{path}: pairs sheet not found")
    try:
        sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except pd.errors.EmptyDataError:
        raise SwaplibError(f"{path}: the sheet is empty: it needs a tab-separated header line (pair, source, "
                           "destination) and a row per pair") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SwaplibError(f"{path}: not a readable tab-separated sheet ({exc})") from exc
    sheet.columns = [c.strip() for c in sheet.columns]
    return sheet.apply(lambda col: col.str.strip())


def load_sheet(path: str | Path, schema_path: str | Path, *, check_videos: bool = True) -> Sheet:
    """Read and validate the sheet; relative paths (videos, photo folders, reference photos)
    resolve against the sheet's folder.

    A source or a destination may be a folder of photos (for a destination, the swapped photos are the
    result: video/stills.py). With `check_videos`, each video is probed (quick: its first frames) and
    each photo folder listed, so a missing, corrupt or empty input stops the run before any job.
    Reference photos must exist.
    """
    path = Path(path)
    sheet = _read_tsv(path)
    if sheet.empty:
        raise SwaplibError(f"{path}: the sheet has no pairs")
    for column in OPTIONAL_COLUMNS:
        if column not in sheet.columns:
            sheet[column] = ""

    problems = []
    for line, row in zip(range(2, len(sheet) + 2), sheet.to_dict("records")):
        record = {k: v for k, v in row.items() if not (k in OPTIONAL_COLUMNS and v == "")}
        for message in schema_errors(record, schema_path):
            problems.append(f"row {line}: {message}")
    if problems:
        raise SwaplibError(f"{path}: invalid sheet:\n  " + "\n  ".join(problems))

    duplicated = sheet["pair"][sheet["pair"].duplicated()].unique()
    if len(duplicated):
        raise SwaplibError(f"{path}: duplicate pair name(s): {', '.join(duplicated)}")
    reserved = [pair for pair in sheet["pair"] if pair.endswith(PHOTOS_SUFFIX)]
    if reserved:  # results/pairs/{pair}.photos is a photo folder destination's result
        raise SwaplibError(f"{path}: pair name(s) {', '.join(reserved)}: a name may not end in {PHOTOS_SUFFIX} "
                           f"(the swapped photos of a pair are results/pairs/PAIR{PHOTOS_SUFFIX}/)")

    sheet["model"] = sheet["model"].where(sheet["model"] != "", sheet["pair"])
    for column in ("source", "destination", *REFERENCE_COLUMNS):
        sheet[column] = [str((path.parent / p).resolve()) if p else "" for p in sheet[column]]
    for column in ("source", "destination"):
        sheet[f"{column}_video"] = [video_name(p) for p in sheet[column]]

    videos = _videos_by_stem(path, sheet)
    _check_models(path, sheet)
    references = _references(path, sheet)
    if check_videos:
        for video in videos.values():  # most often missing: the example sheet on a clone without its test media
            try:
                _check_video(video, f"{path}: {video}: no such video or photo folder; edit {path.name} to name your "
                                    f"own videos, or run `swaplib swap SOURCE DESTINATION` for one pair")
            except SwaplibError as exc:
                if str(exc).startswith(str(path)):
                    raise
                raise SwaplibError(f"{path}: {_rows_naming(sheet, video)}: {exc}; name a video (mp4, mov, mkv, "
                                   f"...) or a folder of photos there") from None
    return Sheet(pairs=sheet, videos=videos, references=references, path=path)


def _rows_naming(sheet: pd.DataFrame, video: Path) -> str:
    """'row 2 (source)' or 'rows 2 (source), 3 (destination)': where the sheet names `video`."""
    places = [f"{line} ({column})" for line, row in zip(range(2, len(sheet) + 2), sheet.to_dict("records"))
              for column in ("source", "destination") if Path(row[column]) == video]
    return f"row{'s' if len(places) > 1 else ''} {', '.join(places)}"


def _videos_by_stem(path: Path, sheet: pd.DataFrame) -> dict[str, Path]:
    """Videos are named by their stem in results/; two different files may not share one."""
    videos: dict[str, Path] = {}
    for line, row in zip(range(2, len(sheet) + 2), sheet.to_dict("records")):
        for column in ("source", "destination"):
            file = Path(row[column])
            stem = row[f"{column}_video"]
            if stem in videos and videos[stem] != file:
                raise SwaplibError(
                    f"{path}: row {line}: {column} {file} has the same name '{stem}' as "
                    f"{videos[stem]}; rename one (results are kept per video name)"
                )
            videos[stem] = file
        if row["source"] == row["destination"]:
            raise SwaplibError(f"{path}: row {line}: source and destination are the same video")
    return videos


def pretrain_videos(sheet: Sheet, sources: list[str], *, check_videos: bool = True,
                    source: str = "config.yaml") -> dict[str, Path]:
    """Video name -> file or photo folder of the shared base's face sources (paths relative to the
    working directory). A source may also be a video of the sheet; two different files may not
    share a name, with each other or with the sheet's videos."""
    videos: dict[str, Path] = {}
    for given in sources:
        path = Path(given).resolve()
        name = video_name(path)
        known = sheet.videos.get(name, videos.get(name))
        if known is not None and known != path:
            raise SwaplibError(f"{source} pretrain.sources: {path} has the same name '{name}' as {known}; rename "
                               f"one (results are kept per video name)")
        if check_videos and known is None:
            _check_video(path, f"{source} pretrain.sources: {path}: no such video or photo folder")
        videos[name] = path
    return videos


def _check_video(path: Path, missing: str) -> None:
    """Stop naming the file when a video or photo folder is missing (`missing`), not a video, without
    frames, or without photos (quick: a video's first frames are probed)."""
    from swaplib.video.photos import photo_files
    from swaplib.video.probe import probe

    if not path.exists():
        raise SwaplibError(missing)
    if path.is_dir():
        photo_files(path)
    else:
        probe(path)


def _references(path: Path, sheet: pd.DataFrame) -> dict[str, Path]:
    """Video name -> reference photo from the reference columns; rows may not disagree."""
    references: dict[str, tuple[Path, int]] = {}
    for line, row in zip(range(2, len(sheet) + 2), sheet.to_dict("records")):
        for column, video_column in REFERENCE_COLUMNS.items():
            if not row[column]:
                continue
            photo, video = Path(row[column]), row[f"{video_column}_video"]
            if not photo.is_file():
                raise SwaplibError(f"{path}: row {line}: {column} {photo}: reference photo not found")
            if video in references and references[video][0] != photo:
                named, first_line = references[video]
                raise SwaplibError(f"{path}: rows {first_line} and {line} name different reference photos for "
                                   f"'{video}': {named} and {photo}")
            references.setdefault(video, (photo, line))
    return {video: photo for video, (photo, _) in references.items()}


def video_references(sheet: Sheet, configured: dict[str, str], source: str = "config.yaml") -> dict[str, str]:
    """Video name -> reference photo, from the sheet's columns and the config's extract.references
    together; where both name one for a video they must name the same photo."""
    references = {video: str(photo) for video, photo in sheet.references.items()}
    for video, photo in configured.items():
        named = sheet.references.get(video)
        if named is not None and Path(photo).resolve() != named.resolve():
            raise SwaplibError(f"video '{video}': the sheet {sheet.path} names the reference photo {named}, "
                               f"{source} extract.references names {photo}; name one")
        references.setdefault(video, photo)
    return references


def _check_models(path: Path, sheet: pd.DataFrame) -> None:
    """Pairs that share a model must share its source identity (destinations may differ)."""
    for model, rows in sheet.groupby("model"):
        sources = rows["source"].unique()
        if len(sources) > 1:
            raise SwaplibError(
                f"{path}: model '{model}' is named by pairs with different sources "
                f"({', '.join(sources)}); a model learns one source identity"
            )
