"""A stage's settings object from its config section: the section's keys are the object's fields."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from swaplib.core.errors import SwaplibError


def from_section(settings_type, values: Mapping, section: str):
    """`settings_type(**values)`, where a key the settings do not have is an error naming it."""
    known = {field.name for field in dataclasses.fields(settings_type)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SwaplibError(f"unknown {section} setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return settings_type(**values)


def is_number(value) -> bool:
    """An int or float, not a bool (YAML's true is no number of faces)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_whole(value) -> bool:
    return is_number(value) and int(value) == value
