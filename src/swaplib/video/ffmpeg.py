"""The ffmpeg binary: where it is, and running a command built with ffmpeg-python.

Commands are graphs of ffmpeg-python (`ffmpeg.input(...)`, `.filter(...)`, `ffmpeg.output(...)`),
compiled to an argument list here and run with progress, a readable error and a hint when the
disk is full.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile

from swaplib.core.errors import SwaplibError
from swaplib.core.images import FRAME_DIGITS
from swaplib.core.progress import Progress

_STDERR_TAIL_LINES = 15
_DISK_FULL = ("No space left on device", "Disk quota exceeded")


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """A system ffmpeg on PATH if there is one, else the one shipped in the imageio-ffmpeg wheel."""
    system = shutil.which("ffmpeg")
    if system:
        return system
    import imageio_ffmpeg  # only needed when no system ffmpeg exists

    return imageio_ffmpeg.get_ffmpeg_exe()


def image_sequence(folder: str | os.PathLike, ext: str) -> str:
    """ffmpeg's pattern for the frame files of core.images (000000.ext, ...); a literal '%' in the
    folder is doubled, since the image muxer and demuxer read '%' as the start of a number."""
    return os.path.join(str(folder).replace("%", "%%"), f"%0{FRAME_DIGITS}d.{ext}")


def _compile(stream, progress: bool = False) -> list[str]:
    """The argument list of an ffmpeg-python output `stream`: quiet, overwriting, never reading stdin,
    and with progress: `frame=N` lines on stdout."""
    args = ["-hide_banner", "-nostdin", "-loglevel", "error"]
    if progress:
        args += ["-progress", "pipe:1", "-nostats"]
    return stream.global_args(*args).overwrite_output().compile(cmd=ffmpeg_exe())


def run_ffmpeg(stream, what: str, progress: Progress | None = None) -> str:
    """Run the ffmpeg-python output `stream`; return the tail of ffmpeg's error log (errors it
    recovered from).

    progress: counted on from the frame numbers ffmpeg reports. On failure raise naming `what`,
    with that tail.
    """
    cmd = _compile(stream, progress=progress is not None)
    # stderr goes to a file: a pipe nobody reads while stdout is followed could fill and stall ffmpeg.
    with tempfile.TemporaryFile("w+", errors="replace") as stderr:
        stdout = subprocess.PIPE if progress is not None else subprocess.DEVNULL
        with subprocess.Popen(cmd, stdout=stdout, stderr=stderr, text=True, errors="replace") as proc:
            try:
                if progress is not None:
                    _follow_progress(proc.stdout, progress)
                returncode = proc.wait()
            except BaseException:
                proc.kill()
                raise
        stderr.seek(0)
        tail = "\n".join(stderr.read().strip().splitlines()[-_STDERR_TAIL_LINES:])
    if returncode != 0:
        hint = "\nthe disk is full: free space and run again" if any(m in tail for m in _DISK_FULL) else ""
        raise SwaplibError(f"{what}: ffmpeg failed (exit {returncode}):\n{tail}{hint}")
    return tail


def _follow_progress(lines, progress: Progress) -> None:
    """Move `progress` on by the `frame=N` lines of ffmpeg's -progress output."""
    done = 0
    for line in lines:
        key, _, value = line.strip().partition("=")
        if key == "frame" and value.isdigit() and int(value) > done:
            progress.update(int(value) - done)
            done = int(value)
