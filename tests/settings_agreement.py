"""One source for each setting: a stage's settings object, config.yaml and the schema must agree.

For a config section, `assert_agreement` checks that config.yaml, the schema (its properties,
required keys and `default:` values) and the library's settings dataclass name the same keys
with the same defaults, and that the library accepts the shipped config as it is.
"""

from __future__ import annotations

import dataclasses
from functools import cache

import yaml

from conftest import REPO


@cache
def _yaml(path: str) -> dict:
    return yaml.safe_load((REPO / path).read_text())


def library_defaults(settings_type) -> dict:
    """Field name -> default of a settings dataclass (every field must have one)."""
    out = {}
    for field in dataclasses.fields(settings_type):
        if field.default is not dataclasses.MISSING:
            out[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            out[field.name] = field.default_factory()
        else:
            raise AssertionError(f"{settings_type.__name__}.{field.name} has no default")
    return out


def assert_agreement(section: str, settings_type) -> None:
    config = _yaml("config.yaml")[section]
    schema = _yaml("workflow/schemas/config.schema.yaml")["properties"][section]
    library = library_defaults(settings_type)
    properties = schema["properties"]
    assert set(config) == set(library), f"config.yaml {section}: vs {settings_type.__name__}"
    assert set(properties) == set(library), f"schema {section}: vs {settings_type.__name__}"
    assert set(schema["required"]) == set(library), f"schema {section}: required vs {settings_type.__name__}"
    missing = sorted(key for key, spec in properties.items() if "default" not in spec)
    assert not missing, f"schema {section}: no default for {missing}"
    assert {key: spec["default"] for key, spec in properties.items()} == library, f"schema {section}: defaults"
    assert config == library, f"config.yaml {section}: defaults differ from {settings_type.__name__}"
    settings_type(**config)  # the shipped config passes the library's own checks
