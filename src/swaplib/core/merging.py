"""Config mappings laid over one another, as Snakemake lays --configfile files over config.yaml.

A module of its own: core/settings.py is in the code hash of every stage, and a helper added there
would rerun every user's extraction."""

from __future__ import annotations


def deep_merge(base: dict, overrides: dict) -> dict:
    """`overrides` over `base`, mappings merged key by key (as Snakemake merges --configfile files)."""
    merged = dict(base)
    for key, value in overrides.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = deep_merge(base[key], value) if both else value
    return merged
