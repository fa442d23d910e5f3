"""Shared fixtures: where the real test media lives, and tiny derived inputs made at run time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The media sits beside the project root in every checkout and in CI; SWAPLIB_TEST_DATA overrides.
SHARED_DATA = Path(os.environ.get("SWAPLIB_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def swaplib_home(tmp_path_factory) -> Path:
    """swaplib's per-installation folder (the local C2PA signing key) in a temporary folder, for every
    test and the Snakemake runs they start: a test run never writes to the user's ~/.config."""
    home = tmp_path_factory.mktemp("swaplib_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SWAPLIB_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "clips").is_dir():
        pytest.skip(f"real test media not found at {SHARED_DATA} (set SWAPLIB_TEST_DATA)")
    return SHARED_DATA


def _media_finder(folder: Path, suffix: str):
    def find(stem: str) -> Path:
        path = folder / f"{stem}{suffix}"
        assert path.is_file(), f"missing test media {path}"
        return path

    return find


@pytest.fixture(scope="session")
def clip(shared_data):
    """clip('lp_d12_man_glasses_talking') -> path of that real clip."""
    return _media_finder(shared_data / "clips", ".mp4")


@pytest.fixture(scope="session")
def photo(shared_data):
    return _media_finder(shared_data / "photos", ".jpg")


@pytest.fixture(scope="session")
def write_frames(clip):
    """write_frames(stem, folder, n, edit=None): the first n frames of a clip as NNNNNN.png files.

    edit(i, frame) -> frame lets a test blur or blank some frames.
    """
    import cv2

    def _write(stem: str, folder: Path, n: int, edit=None) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        capture = cv2.VideoCapture(str(clip(stem)))
        for i in range(n):
            ok, frame = capture.read()
            assert ok, f"{stem} has fewer than {n} frames"
            cv2.imwrite(str(folder / f"{i:06d}.png"), edit(i, frame) if edit else frame)
        return folder

    return _write


@pytest.fixture
def torch_one_thread():
    """Tiny models: one compute thread is as fast, and far faster on a CPU shared with other jobs."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
