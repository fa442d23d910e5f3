"""The training state folder: checkpoints written durably with a CRC, their rotation, and finding
a usable one (corrupt or incompatible files are moved aside, never deleted).

    checkpoint.pt         weights, optimizer, iteration, RNG, loss history, lr scale: every save_every
    checkpoint.prev.pt    the checkpoint before it
    backups/iter-N.pt     a copy every backup_every iterations; the newest backup_keep are kept
    best.pt               the checkpoint with the lowest mean loss over its last save_every steps
    checkpoint.incompatible-<time>.pt, *.corrupt-<time>.pt    files moved aside
    preview-latest.jpg, loss.csv, loss.png    rewritten at every save, to watch a long training
    STOP                  a stop request (`swaplib stop`): training ends after the step in flight

Every state file is written to a temporary name, fsync'ed, renamed, and the folder fsync'ed; it
carries a CRC of its tensors, so a truncated or corrupt file is detected on load. Files are loaded
with `weights_only=True`: tensors and plain data only, never arbitrary pickles.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import zlib
from pathlib import Path

import torch

from swaplib.core.atomic import atomic_path, fsync_dir
from swaplib.core.errors import SwaplibError
from swaplib.model.config import ModelConfig

CHECKPOINT = "checkpoint.pt"
PREV_CHECKPOINT = "checkpoint.prev.pt"
BEST = "best.pt"
BACKUPS = "backups"
STOP_REQUEST = "STOP"
CHECKPOINT_FORMAT = "swaplib-train-state/2"


def _tensors(obj, prefix=""):
    """Every tensor inside nested dicts/lists, with a stable path, in a stable order."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            yield from _tensors(obj[k], f"{prefix}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}/{i}")


def _checksum(obj) -> int:
    crc = 0
    for name, t in _tensors(obj):
        t = t.detach().contiguous().cpu()
        crc = zlib.crc32(f"{name}:{t.dtype}:{tuple(t.shape)}".encode(), crc)
        crc = zlib.crc32(t.view(-1).view(torch.uint8).numpy() if t.numel() else b"", crc)
    return crc


def save_state(path: Path, obj: dict) -> None:
    """torch.save `obj` (+ a CRC of its tensors) durably: temporary file, fsync, rename, fsync folder."""
    with atomic_path(path, durable=True) as tmp:
        torch.save({**obj, "checksum": _checksum(obj)}, tmp)


class OldStateFormat(ValueError):
    """A state file of another swaplib version: readable, but not resumable by this one."""


def load_state(path: Path) -> dict:
    """A state file written by save_state, verified; ValueError saying why when it is not usable."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"unreadable ({(str(e).splitlines() or [type(e).__name__])[0][:160]})") from None
    fmt = obj.get("format") if isinstance(obj, dict) else None
    if str(fmt).startswith("swaplib-train-state/") and fmt != CHECKPOINT_FORMAT:
        raise OldStateFormat(fmt)
    if fmt != CHECKPOINT_FORMAT:
        raise ValueError(f"not a swaplib training state (format {fmt!r})")
    for key in ("model_config", "model", "optimizer", "iteration", "rng", "history", "checksum"):
        if key not in obj:
            raise ValueError(f"no {key!r} in it")
    if _checksum({k: v for k, v in obj.items() if k != "checksum"}) != obj["checksum"]:
        raise ValueError("checksum mismatch: its contents are corrupt")
    return obj


def _link_or_copy(src: Path, dst: Path, copy: bool = False) -> None:
    """Put `src` at `dst` atomically: a hard link (cheap) or, with copy=True, an independent copy."""
    if not copy and dst.exists() and os.path.samefile(src, dst):
        return  # already so (and rename() would do nothing, leaving the temporary link behind)
    with atomic_path(dst, durable=copy) as tmp:
        tmp.unlink()  # the link or copy takes the temporary name itself
        if copy:
            shutil.copyfile(src, tmp)
        else:
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)


class StateFolder:
    """The training state folder: saving, backups, best-loss copy, and finding a usable state."""

    def __init__(self, folder: Path, log: logging.Logger):
        self.dir = Path(folder)
        self.log = log
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in list(self.dir.glob(".*.tmp*")) + list((self.dir / BACKUPS).glob(".*.tmp*")):
            stale.unlink(missing_ok=True)  # left by a killed save: never complete, never used

    @property
    def checkpoint(self) -> Path:
        return self.dir / CHECKPOINT

    def stop_requested(self) -> bool:
        return (self.dir / STOP_REQUEST).exists()

    def clear_stop(self) -> None:
        (self.dir / STOP_REQUEST).unlink(missing_ok=True)

    def save(self, state: dict, *, backup: bool, keep: int, best: bool) -> None:
        """checkpoint.pt ← state; the old one becomes checkpoint.prev.pt; then backup and best copies."""
        path = self.checkpoint
        if path.exists():
            _link_or_copy(path, self.dir / PREV_CHECKPOINT)
        save_state(path, state)
        if backup:
            (self.dir / BACKUPS).mkdir(exist_ok=True)
            _link_or_copy(path, self.dir / BACKUPS / f"iter-{state['iteration']:08d}.pt", copy=True)
            for old in self.backups()[keep:]:
                old.unlink(missing_ok=True)
        if best:
            _link_or_copy(path, self.dir / BEST)
        fsync_dir(self.dir)

    def backups(self) -> list[Path]:
        """Backup files, newest first."""
        return sorted((self.dir / BACKUPS).glob("iter-*.pt"), reverse=True)

    def _aside(self, path: Path, kind: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = path.with_name(f"{path.stem}.{kind}-{stamp}.pt")
        n = 1
        while aside.exists():
            aside, n = path.with_name(f"{path.stem}.{kind}-{stamp}-{n}.pt"), n + 1
        os.replace(path, aside)
        return aside

    def load(self) -> dict | None:
        """The newest usable state: checkpoint.pt, else (reporting why) checkpoint.prev.pt, the
        backups newest first, best.pt. None when there is no checkpoint.pt (a fresh start)."""
        if not self.checkpoint.exists():
            if (self.dir / PREV_CHECKPOINT).exists():
                self.log.warning("%s: no checkpoint; starting fresh (rename %s to %s to resume from the backup "
                                 "instead)", self.dir, PREV_CHECKPOINT, CHECKPOINT)
            return None
        problems = []
        for path in [self.checkpoint, self.dir / PREV_CHECKPOINT, *self.backups(), self.dir / BEST]:
            if not path.exists():
                continue
            try:
                state = load_state(path)
            except OldStateFormat as e:
                aside = self._aside(path, "incompatible")
                self.log.warning("%s was written by another swaplib version (%s): starting training fresh; it is kept "
                                 "as %s", path, e, aside.name)
                return None
            except ValueError as e:
                aside = self._aside(path, "corrupt")
                problems.append(f"{path.name}: {e}")
                self.log.warning("training state %s is truncated or corrupt (%s); moved aside to %s", path, e,
                                 aside.name)
                continue
            if problems:
                self.log.warning("resuming from the backup %s (iteration %d) instead of the corrupt checkpoint",
                                 path, state["iteration"])
                if path != self.checkpoint:  # make it the checkpoint again, so the next save has a prev
                    _link_or_copy(path, self.checkpoint)
            return state
        raise SwaplibError(f"{self.dir}: every training state file is truncated or corrupt ({'; '.join(problems)}); "
                           f"they were moved aside. Delete the folder to start training over.")

    def move_incompatible(self, state: dict, reason: str) -> None:
        """Move the checkpoint and its companions aside: they do not fit this model (`reason`, in words)."""
        aside = self._aside(self.checkpoint, "incompatible")
        prev = self.dir / PREV_CHECKPOINT
        if prev.exists():
            os.replace(prev, aside.with_name(aside.name.replace("incompatible", "prev.incompatible")))
        for name in (BEST,):
            if (self.dir / name).exists():
                os.replace(self.dir / name, aside.with_name(aside.name.replace("checkpoint.", "best.")))
        if self.backups():
            backups_aside = aside.name.replace("checkpoint.", "backups.").removesuffix(".pt")
            os.replace(self.dir / BACKUPS, aside.with_name(backups_aside))
        self.log.warning("%s: starting training fresh; the old checkpoint (iteration %d) is kept as %s", reason,
                         state["iteration"], aside)


def architecture_changes(old: dict, new: dict) -> str:
    """What differs between two ModelConfig dicts, in words (empty when nothing does)."""
    try:
        old = ModelConfig.from_dict(old).to_dict()  # a key added since then compares as its default
    except (SwaplibError, TypeError):
        pass
    keys = sorted(set(old) | set(new))
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k))
