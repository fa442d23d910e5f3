"""Where a pair's result is: its swapped video `results/pairs/{pair}.mp4`, or, where its destination is
a photo folder, the folder of swapped photos `results/pairs/{pair}.photos/` (video.stills). The
workflow plans with it, the run's summary and `swaplib swap` name what a run made with it."""

from __future__ import annotations

import os
from pathlib import Path

PHOTOS_SUFFIX = ".photos"


def result_name(pair: str, photos: bool) -> str:
    """The file (or, for `photos`, folder) name of a pair's result in results/pairs/."""
    return f"{pair}{PHOTOS_SUFFIX if photos else '.mp4'}"


def made_result(pairs_dir: str | os.PathLike, pair: str) -> Path | None:
    """The result a run made for `pair` in pairs_dir: its video, else its folder of photos; None where
    there is neither yet."""
    for photos in (False, True):
        path = Path(pairs_dir) / result_name(pair, photos)
        if path.exists():
            return path
    return None
