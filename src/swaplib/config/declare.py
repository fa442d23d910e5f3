"""A setting and a section declared once, and what is made from them: config.yaml's lines, the
schema's section, the checks of a value, and the workflow's tables of rerun triggers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonschema

NOTHING = object()  # no such value: a setting not added off, a library setting with no default of its own
COMMENT_COLUMN = 28  # where config.yaml's comments start


@dataclass(frozen=True)
class Setting:
    """One key of a config section.

    default: config.yaml's value (None: the preset's, with `preset`). library: the library's own
    default where it differs (NOTHING: none, the value must be given, e.g. a preset's). schema: what
    values it takes, as a JSON-schema fragment without default and description. role: "output" (a
    rerun trigger) or "run" (how a job runs: saving, speed, display; changes no output). added_off:
    the value at which a setting added after runs were made does what the code did before it
    existed (left out of the rerun trigger there). only_with: the setting it shapes and is left out
    with while that one is off. base: part of a shared base's settings. before: a comment line
    config.yaml prints above it. in_config: False for a library setting the workflow gives itself.
    per_frame: whether a frame range may change it (the merge's overrides sheet). role "location":
    it says where a rule's input files are (the files are the inputs; the setting reruns nothing).
    A meaning's line breaks continue its comment on the lines below.
    """

    name: str
    default: Any
    schema: dict
    meaning: str = ""
    library: Any = NOTHING
    preset: bool = False
    architecture: bool = False
    role: str = "output"
    added_off: Any = NOTHING
    only_with: str | None = None
    base: bool = True
    before: str = ""
    in_config: bool = True
    per_frame: bool = True

    @property
    def library_default(self) -> Any:
        """The library's default: NOTHING for a preset's setting, else `library` or the config's."""
        if self.preset:
            return NOTHING
        return self.default if self.library is NOTHING else self.library

    def schema_entry(self) -> dict:
        entry = dict(self.schema)
        if self.meaning:
            entry["description"] = " ".join(self.meaning.split("\n"))
        entry["default"] = self.default
        return entry

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` for this setting, in words naming it; None when it is fine."""
        if not jsonschema.Draft202012Validator(self.schema).is_valid(value):
            return f"{self.name} {_why(self.schema, value, self.meaning)}"
        return None


@dataclass(frozen=True)
class Section:
    """A config section: its settings in config.yaml's order, and the comment lines above them."""

    name: str
    settings: tuple[Setting, ...]
    header: tuple[str, ...] = ()
    comment: str = ""  # on the section's own line
    description: str = ""
    extra_schema: dict = field(default_factory=dict)  # e.g. patternProperties for renamed keys

    def __getitem__(self, name: str) -> Setting:
        return next(s for s in self.settings if s.name == name)

    @property
    def config(self) -> tuple[Setting, ...]:
        return tuple(s for s in self.settings if s.in_config)

    # the workflow's tables (common.smk): which keys rerun what
    def untracked(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.config if s.role == "run")

    def locations(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.config if s.role == "location")

    def added_off(self) -> dict:
        return {s.name: s.added_off for s in self.config if s.added_off is not NOTHING}

    def only_with(self) -> dict:
        return {s.name: s.only_with for s in self.config if s.only_with}

    def architecture(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.settings if s.architecture)

    def not_of_base(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.config if not s.base)

    def defaults(self) -> dict:
        """config.yaml's section as values."""
        return {s.name: s.default for s in self.config}

    # the files made from it
    def schema(self) -> dict:
        """The section's JSON schema (every key required, no other key allowed)."""
        out = {"type": "object", "additionalProperties": False}
        if self.description:
            out["description"] = self.description
        out["required"] = [s.name for s in self.config]
        out["properties"] = {s.name: s.schema_entry() for s in self.config}
        out.update(self.extra_schema)
        return out

    def yaml_lines(self) -> list[str]:
        """config.yaml's section: the key, its default, its meaning as a comment, aligned."""
        head = f"{self.name}:"
        lines = [f"{head.ljust(COMMENT_COLUMN - 1)} # {self.comment}" if self.comment else head]
        lines += [f"  # {line}" for line in self.header]
        for s in self.config:
            if s.before:
                lines.append(f"  # {s.before}")
            entry = f"  {s.name}: {yaml_value(s.default)}"
            first, *more = s.meaning.split("\n") if s.meaning else [""]
            lines.append(f"{entry.ljust(COMMENT_COLUMN - 1)} # {first}" if first else entry)
            lines += [f"{' ' * COMMENT_COLUMN}# {line}" for line in more]
        return lines


def _why(schema: dict, value: Any, meaning: str = "") -> str:
    """A refused value's reason, as a person would say it, for the common shapes of a fragment."""
    kinds = schema.get("type", ())
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if value is None and "null" not in kinds and None not in schema.get("enum", (None,)):
        return "must be given (null is not a value here)"
    if "enum" in schema:
        return f"{value!r} is not one of {', '.join(str(v) for v in schema['enum'] if v is not None)}"
    if "boolean" in kinds and not isinstance(value, bool):
        return f"must be true or false, got {value!r}"
    if {"integer", "number"} & set(kinds):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, got {value!r}"
        if "integer" in kinds and value != int(value):
            return f"must be a whole number, got {value!r}"
        low, high = schema.get("minimum", schema.get("exclusiveMinimum")), schema.get(
            "maximum", schema.get("exclusiveMaximum"))
        if low is not None and high is not None:
            return f"must be within {low}..{high}" + (" (ends excluded)" if "exclusiveMinimum" in schema or
                                                      "exclusiveMaximum" in schema else "") + f", got {value!r}"
        if low is not None:
            return f"must be {'above' if 'exclusiveMinimum' in schema else 'at least'} {low}, got {value!r}"
        if high is not None:
            return f"must be {'below' if 'exclusiveMaximum' in schema else 'at most'} {high}, got {value!r}"
    if "string" in kinds and not isinstance(value, str):
        return f"must be a text, got {value!r}"
    return f"{value!r} is not a value it takes" + (f" ({meaning})" if meaning else "")


def yaml_value(value: Any) -> str:
    """A default as config.yaml writes it: null, true/false, numbers as Python writes them, words
    bare unless YAML would read them as something else."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str) and value.lower() in ("on", "off", "yes", "no", "true", "false", "null", ""):
        return f'"{value}"'
    return str(value)
