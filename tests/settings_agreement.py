"""One check for every stage: config.yaml, its schema and the library name the same settings.

    assert_agreement("merge", MergeSettings)
    assert_agreement("frames", extract_frames, ignore=("threads",))
    assert_agreement("video.c2pa", C2paSettings)  # a section inside a section

passes when config.yaml's section, the schema's properties (all required) and the fields of a
settings dataclass (or the keyword arguments of the function a rule calls) have the same keys, and
the schema's `default:` and the library's default of each key are config.yaml's value (a settings
dataclass as a default stands for its fields); a settings dataclass must also accept the shipped
section as it is. `ignore`: the library's keywords that are
not settings (the job's inputs, threads, progress); `workflow`: the section's keys the workflow reads
itself (which files a run makes), no keyword of the library. Every disagreement is named in one message.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
_MISSING = "<none>"


def assert_agreement(section: str, target, ignore: tuple[str, ...] = (), workflow: tuple[str, ...] = ()) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    for key in section.split("."):
        config, schema = config[key], schema["properties"][key]
    assert set(workflow) <= set(config) & set(schema["properties"]), f"{section}: {workflow} not in config.yaml"
    config = {key: value for key, value in config.items() if key not in workflow}
    properties = {key: value for key, value in schema["properties"].items() if key not in workflow}
    library = {key: value for key, value in library_defaults(target).items() if key not in ignore}
    problems = [
        f"{where} has no {key!r}"
        for where, keys in (("config.yaml", config), ("the schema", properties), (_name(target), library))
        for key in sorted(set(config) | set(properties) | set(library))
        if key not in keys
    ]
    required = set(schema.get("required", ())) - set(workflow)
    if required != set(properties):
        problems.append(f"the schema requires {sorted(required)}, not every key of it {sorted(properties)}")
    for key in sorted(set(config) & set(properties) & set(library)):
        value = config[key]
        for where, default in (("the schema", properties[key].get("default", _MISSING)), (_name(target), library[key])):
            if not _same(default, value):
                problems.append(f"{section}.{key}: config.yaml says {value!r}, {where}'s default is {default!r}")
    assert not problems, f"{section}: config.yaml, its schema and {_name(target)} disagree:\n  " + "\n  ".join(problems)
    for part in target if isinstance(target, tuple) else (target,):
        if dataclasses.is_dataclass(part):  # the shipped section passes the settings object's own checks
            part(**{key: value for key, value in config.items() if key in library_defaults(part)})


def library_defaults(target) -> dict:
    """key -> default of a settings dataclass's fields, or of a function's keyword arguments
    (those after `*`, and those with a default); `_MISSING` where there is none. A tuple of
    dataclasses stands for the section they read together."""
    if isinstance(target, tuple):
        return {key: value for part in target for key, value in library_defaults(part).items()}
    if dataclasses.is_dataclass(target):
        return {field.name: _field_default(field) for field in dataclasses.fields(target)}
    parameters = inspect.signature(target).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        raise TypeError(f"{_name(target)} takes **kwargs: its settings cannot be read; check its settings object")
    return {p.name: _MISSING if p.default is p.empty else p.default for p in parameters
            if p.kind is p.KEYWORD_ONLY or (p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty)}


def _field_default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return _MISSING


def _same(a, b) -> bool:
    """Equal, and of one kind: 1 == 1.0 passes (YAML writes 0 for 0.0), True == 1 does not."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        a = dataclasses.asdict(a)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _name(target) -> str:
    if isinstance(target, tuple):
        return " with ".join(_name(part) for part in target)
    return getattr(target, "__qualname__", repr(target))
