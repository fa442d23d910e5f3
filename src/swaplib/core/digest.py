"""Content hashes of files, read in blocks: how records name their inputs (videos, photos, models)."""

from __future__ import annotations

import hashlib
import os


def hash_file(path: str | os.PathLike, digest=None):
    """Feed the file's bytes to `digest` (a new sha256 when None) and return it."""
    digest = hashlib.sha256() if digest is None else digest
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest
