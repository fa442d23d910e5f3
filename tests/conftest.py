"""Shared fixtures: where the real test media lives, and tiny derived inputs made at run time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The media sits beside the project root in every checkout and in CI; SWAPLIB_TEST_DATA overrides.
SHARED_DATA = Path(os.environ.get("SWAPLIB_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "clips").is_dir():
        pytest.skip(f"real test media not found at {SHARED_DATA} (set SWAPLIB_TEST_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def clip(shared_data):
    """clip('lp_d12_man_glasses_talking') -> path of that real clip."""

    def _clip(stem: str) -> Path:
        path = shared_data / "clips" / f"{stem}.mp4"
        assert path.is_file(), f"missing test clip {path}"
        return path

    return _clip


@pytest.fixture(scope="session")
def photo(shared_data):
    def _photo(stem: str) -> Path:
        path = shared_data / "photos" / f"{stem}.jpg"
        assert path.is_file(), f"missing test photo {path}"
        return path

    return _photo
