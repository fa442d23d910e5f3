"""Probe a video with PyAV: size, rotation, audio, frame count and rate, and whether the rate varies.

In-process and fast (stream metadata, one decoded frame, a demux of the first packets). The
ffmpeg wheel used for decoding ships no ffprobe, so this is the one way a video is measured.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from swaplib.core.errors import SwaplibError

# Demuxers that open a single still image as a one-frame "video".
_STILL_IMAGE_DEMUXERS = re.compile(r"(_pipe|^image2)$")
# Rates a variable-rate video is most likely meant to have; its typical rate snaps to one of these.
COMMON_RATES = tuple(Fraction(r) for r in ("24000/1001", "24", "25", "30000/1001", "30", "48", "50",
                                           "60000/1001", "60", "100", "120", "240"))
_VFR_WINDOW = 300  # packets whose timestamps tell whether the frame rate varies (demux only: cheap)
_REORDER_DEPTH = 16  # packets come in decode order: the window's last timestamps may have gaps


@dataclass(frozen=True)
class VideoInfo:
    path: str
    # e.g. 25.0; a variable-rate video: its typical rate, the one its frames are resampled to.
    # None for a photo folder (photos have no rate).
    fps: float | None
    fps_fraction: str | None  # exact rate "num/den", e.g. "25/1" or "30000/1001": use it when encoding
    frame_count: int  # frames present (counted from packets where the container omits it)
    width: int  # display size, after rotation (a photo folder: its first photo's)
    height: int
    rotation: int  # counter-clockwise degrees from the display matrix (ffmpeg's sign), 0 if none
    has_audio: bool
    duration: float | None  # seconds (None for a photo folder)
    variable_frame_rate: bool = False  # the time between frames varies (phones, screen recordings)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's properties quickly: stream metadata plus at most one decoded frame.

    Raises SwaplibError naming the file when it is missing, unreadable, not a video, or has no
    decodable frame.
    """
    path = Path(path)
    if not path.is_file():
        raise SwaplibError(f"{path}: video file not found")
    try:
        with av.open(str(path)) as container:
            return _probe_container(path, container)
    except SwaplibError:
        raise
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise SwaplibError(f"{path}: not a readable video ({exc})") from exc


def _probe_container(path: Path, container) -> VideoInfo:
    if _STILL_IMAGE_DEMUXERS.search(container.format.name):
        raise SwaplibError(f"{path}: not a video (a still image, format {container.format.name})")
    stream = _video_stream(path, container)
    rate = _frame_rate(path, stream)
    has_audio = bool(container.streams.audio)
    metadata_frames = stream.frames
    duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
    duration = duration or (container.duration or 0) / av.time_base

    first = next(container.decode(stream), None)  # proves the stream decodes
    if first is None:
        raise SwaplibError(f"{path}: video has no decodable frames")
    rotation = int(round(first.rotation or 0))
    width, height = first.width, first.height
    if rotation % 180 != 0:
        width, height = height, width

    # Containers such as Matroska store no frame count: then all packets are counted (demux only).
    times, packets = _scan_packets(path, stream.index, count_all=not metadata_frames)
    frame_count = metadata_frames or packets
    if frame_count <= 0:
        raise SwaplibError(f"{path}: video has no frames")
    whole = packets <= _VFR_WINDOW  # the window saw every packet
    spacing = np.diff(times if whole else times[:-_REORDER_DEPTH])
    variable = _irregular(spacing) or (not whole and _rates_disagree(stream))
    if variable and len(spacing) and np.median(spacing) > 0:
        rate = _typical_rate(spacing, stream.time_base)
    return VideoInfo(
        path=str(path),
        fps=float(rate),
        fps_fraction=f"{rate.numerator}/{rate.denominator}",
        frame_count=int(frame_count),
        width=int(width),
        height=int(height),
        rotation=rotation,
        has_audio=has_audio,
        duration=duration or frame_count / float(rate),
        variable_frame_rate=bool(variable),
    )


def _video_stream(path: Path, container):
    """The first real video stream (cover art attached to audio files does not count)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise SwaplibError(f"{path}: not a video (no video stream)")


def _frame_rate(path: Path, stream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    raise SwaplibError(f"{path}: video stream has no frame rate")


def _scan_packets(path: Path, stream_index: int, count_all: bool) -> tuple[list[int], int]:
    """Sorted timestamps of the first _VFR_WINDOW packets, and the number of packets read (all of
    them with count_all, else at most one past the window). Demux only, no decoding."""
    times, count = [], 0
    # A fresh open rather than a seek back: not every format can seek.
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams[stream_index]):
            if not packet.size:  # the demuxer ends with an empty flush packet, which is not a frame
                continue
            count += 1
            if count > _VFR_WINDOW:
                if not count_all:
                    break
            elif packet.pts is not None:
                times.append(packet.pts)
    return sorted(times), count


def _irregular(spacing: np.ndarray) -> bool:
    """Frame spacings (in time-base ticks) that vary by more than rounding: a variable frame rate.

    A tick of slack for time bases that cannot hold the rate exactly (29.97 fps in milliseconds
    is 33, 34, 33, ...), and 2 % for containers that jitter the timestamps a little.
    """
    if len(spacing) < 2:
        return False
    median = float(np.median(spacing))
    return float(np.abs(spacing - median).max()) > max(1.0, 0.02 * median)


def _rates_disagree(stream) -> bool:
    """The container's average rate (frames over duration) is not the stream's base rate: the rate
    varies somewhere past the packets looked at (mp4 and mov store the average exactly)."""
    average, base = stream.average_rate, stream.base_rate
    return bool(average and base and abs(float(average / base) - 1) > 0.01)


def _typical_rate(spacing: np.ndarray, time_base: Fraction) -> Fraction:
    """The rate of the most common frame spacing, snapped to a usual rate within 1.5 % (millisecond
    time bases cannot say 29.97 exactly): the constant rate a variable-rate video becomes."""
    rate = 1 / (Fraction(float(np.median(spacing))).limit_denominator(1000) * Fraction(time_base))
    nearest = min(COMMON_RATES, key=lambda common: abs(common - rate))
    return nearest if abs(nearest / rate - 1) < 0.015 else rate.limit_denominator(1001)


def parse_rate(value: float | str, what) -> Fraction:
    """A frame rate from 25, 29.97 or "30000/1001"; decimals of the NTSC rates mean those rates."""
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError) as exc:
        raise SwaplibError(f"{what}: bad frame rate {value!r} (expected e.g. 25, 29.97 or '30000/1001')") from exc
    if rate <= 0:
        raise SwaplibError(f"{what}: bad frame rate {value!r} (must be > 0)")
    nearest = min(COMMON_RATES, key=lambda common: abs(common - rate))
    return nearest if abs(nearest / rate - 1) < 1e-4 else rate

