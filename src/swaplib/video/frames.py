"""Frames out of a video (or a photo folder), and video.json, which says what they are.

A video is decoded by ffmpeg to numbered frame images (core.images names them), at its own rate
or resampled to another, from `start` to `end`; a photo folder's images become the frames as they
are. video.json records the frames (rate, count, size, ...), how they were made and from what.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import ffmpeg

from swaplib.core.atomic import atomic_dir, write_json
from swaplib.core.digest import hash_file
from swaplib.core.errors import SwaplibError
from swaplib.core.images import IMAGE_FORMATS, frame_files, frame_name
from swaplib.core.progress import Progress
from swaplib.video.ffmpeg import image_sequence, run_ffmpeg
from swaplib.video.photos import convert_photos, photo_files
from swaplib.video.probe import VideoInfo, parse_rate, probe

log = logging.getLogger(__name__)


def extract_frames(
    video: str | os.PathLike,
    frames_dir: str | os.PathLike,
    info_json: str | os.PathLike,
    *,
    limit: int = 0,
    format: str = "png",
    jpg_quality: int = 100,
    fps: float | str | None = 0,
    start: float = 0.0,
    end: float = 0.0,
    allow_truncated: bool = False,
    threads: int = 1,
) -> VideoInfo:
    """Decode `video` to frames_dir/000000.<format>, 000001.<format>, ... and describe them in info_json.

    The keywords are the `frames:` settings of config.yaml (threads: how many photos are converted
    at once). `video` may be a folder of photos instead: its images become the frames, in name
    order, upright, each at its own size (fps, start and end do not apply to photos).

    A video keeps its own frames (one image per decoded frame) unless `fps` (a number or "num/den";
    0 or None = the source's) asks for another rate or the source's rate varies: then frames are
    resampled to a constant rate (repeated or dropped by their time). start/end: the part of the
    video to take, in seconds (end 0 = to the end); without resampling start moves to the nearest
    frame. limit > 0 keeps only the first `limit` frames of that. jpg_quality: 1-100 (100 = best).
    Fewer frames decoded than the container promises (a truncated or damaged file) is an error
    naming both counts, or with allow_truncated a warning, and video.json records both.

    Writes frames_dir and info_json atomically; returns the VideoInfo of what was written.
    """
    _check_image_options(video, limit, format, jpg_quality)
    if Path(video).is_dir():
        if fps or start or end:
            log.info("%s: a folder of photos: fps, start and end do not apply", video)
        return _extract_photos(Path(video), frames_dir, info_json, limit, format, jpg_quality, threads)
    video = Path(video)
    source = probe(video)
    plan = _decode_plan(video, source, fps, start, end, limit)
    with atomic_dir(frames_dir) as tmp:
        expected = plan.frames or max(1, round((source.duration - plan.start) * float(plan.rate)))
        with Progress(expected, f"{video.name}: frames decoded", log=log) as progress:
            run_ffmpeg(_decode_command(video, tmp, plan, format, jpg_quality), f"{video}: decoding frames", progress)
        written = len(_written_frames(tmp))
        if written == 0:
            raise SwaplibError(f"{video}: ffmpeg wrote no frames")
        promised = _promised_frames(source, plan)
        truncated = written < promised - max(2, 0.02 * promised)  # a variable rate's count is approximate
        if truncated:
            problem = (f"{video}: truncated or damaged: its container promises {promised} frames here, but only "
                       f"{written} decode")
            if not allow_truncated:
                raise SwaplibError(f"{problem} (a swap of it would be shorter than its audio); repair or re-export "
                                   f"the file, or set frames.allow_truncated: true to use the frames that decode")
            log.warning("%s; going on with them (frames.allow_truncated)", problem)
        rate = plan.rate
        # The frames written come at a constant rate, whatever the source's.
        info = dataclasses.replace(source, fps=float(rate), fps_fraction=f"{rate.numerator}/{rate.denominator}",
                                   frame_count=written, duration=float(written / rate), variable_frame_rate=False)
        _write_info(info_json, info, kind="video", limit=limit, format=format, jpg_quality=jpg_quality,
                    start=plan.start, end=plan.start + info.duration, source_fps=source.fps,
                    variable_frame_rate=source.variable_frame_rate,
                    source_frame_count=source.frame_count, source_duration=source.duration,
                    truncated={"promised": promised, "decoded": written} if truncated else None,
                    source=_source_record(video))
    return info


def _extract_photos(folder: Path, frames_dir, info_json, limit: int, format: str, jpg_quality: int,
                    threads: int) -> VideoInfo:
    """Write the photos of `folder` as frames 000000.<format>, ... in name order, upright (their EXIF
    orientation applied), each at its own size. info_json records kind "photos" and the photos'
    names and sizes in frame order, so that a face can be traced back to its photo."""
    files = photo_files(folder)
    used = files[:limit] if limit else files
    if format == "png":
        options = [cv2.IMWRITE_PNG_COMPRESSION, 1]  # light zlib, as for decoded video frames
    else:
        options = [cv2.IMWRITE_JPEG_QUALITY, jpg_quality]

    with atomic_dir(frames_dir) as tmp:
        frames = [tmp / frame_name(number, format) for number in range(len(used))]
        with Progress(len(used), f"{folder.name}: photos read", unit="photo", log=log) as progress:
            photos = convert_photos(used, frames, options, threads, progress)
        info = VideoInfo(path=str(folder), fps=None, fps_fraction=None, frame_count=len(used),
                         width=photos[0]["width"], height=photos[0]["height"], rotation=0, has_audio=False,
                         duration=None)
        _write_info(info_json, info, kind="photos", limit=limit, format=format, jpg_quality=jpg_quality,
                    start=None, end=None, source_fps=None, source_frame_count=len(files), source_duration=None,
                    source=_source_record(folder, files), photos=photos)
    return info


def read_info(info_json: str | os.PathLike) -> dict:
    """Load the video.json written by extract_frames."""
    try:
        return json.loads(Path(info_json).read_text())
    except (OSError, ValueError) as exc:
        raise SwaplibError(f"{info_json}: cannot read video info ({exc})") from exc


def _check_image_options(video, limit: int, format: str, jpg_quality: int) -> None:
    if format not in IMAGE_FORMATS:
        raise SwaplibError(f"{video}: image format must be one of {IMAGE_FORMATS}, not {format!r}")
    if limit < 0:
        raise SwaplibError(f"{video}: frame limit must be >= 0, not {limit}")
    if not 1 <= jpg_quality <= 100:
        raise SwaplibError(f"{video}: jpg quality must be 1 to 100, not {jpg_quality}")


@dataclass(frozen=True)
class _DecodePlan:
    rate: Fraction  # of the frames written
    resample: bool  # to `rate` by the fps filter; else one image per source frame
    start: float  # source time of the first frame written, seconds
    seek: float  # -ss before the input (0 = none)
    frames: int  # at most this many frames (0 = to the end)


def _decode_plan(video: Path, source: VideoInfo, fps, start: float, end: float, limit: int) -> _DecodePlan:
    """Which frames to write: the rate, where to start and how many, checked against the video."""
    source_rate = Fraction(source.fps_fraction)
    rate = parse_rate(fps, video) if fps else source_rate
    resample = source.variable_frame_rate or rate != source_rate
    if start < 0 or end < 0:
        raise SwaplibError(f"{video}: start and end must be >= 0 seconds (start {start}, end {end})")
    if end and end <= start:
        raise SwaplibError(f"{video}: end {end} s must be after start {start} s (or 0: to the end)")
    if resample:  # the new frames' grid begins exactly at start (fps filter, start_time=0)
        first, seek = float(start), float(start)
        count = round((end - start) * rate) if end else 0
    else:  # whole source frames: start at the nearest one; seek half a frame early so ffmpeg keeps it
        k = round(start * source_rate)
        first, seek = float(k / source_rate), float(max(k - Fraction(1, 2), 0) / source_rate)
        count = round(end * source_rate) - k if end else 0
    if first >= source.duration:
        raise SwaplibError(f"{video}: start {start} s is not before the end of the video ({source.duration:.2f} s)")
    if end and count <= 0:
        raise SwaplibError(f"{video}: no frame between start {start} s and end {end} s at {rate} fps")
    count = min(count, limit) if count and limit else count or limit
    return _DecodePlan(rate=rate, resample=resample, start=first, seek=seek, frames=count)


def _promised_frames(source: VideoInfo, plan: _DecodePlan) -> int:
    """How many frames the plan should give, by what the container says of the video."""
    rate = plan.rate if plan.resample else Fraction(source.fps_fraction)
    if plan.resample:
        available = round((source.duration - plan.start) * rate)
    else:
        available = source.frame_count - round(plan.start * rate)
    return min(plan.frames, available) if plan.frames else available


def _decode_command(video: Path, out_dir: Path, plan: _DecodePlan, format: str, jpg_quality: int):
    """The ffmpeg-python graph that writes the planned frames of `video` into out_dir."""
    # ss on the input: a fast seek, and modern ffmpeg still decodes from there accurately.
    picture = ffmpeg.input(str(video), **({"ss": f"{plan.seek:.6f}"} if plan.seek else {}))["v:0"]
    if plan.resample:
        picture = picture.filter("fps", fps=f"{plan.rate.numerator}/{plan.rate.denominator}", start_time=0)
    # passthrough: one image per frame (from the fps filter, when resampling), none added or dropped.
    options = {"fps_mode": "passthrough", "start_number": 0}
    if plan.frames:
        options["frames:v"] = plan.frames
    # png: 8-bit RGB whatever the source depth, light zlib (9x faster than ffmpeg's default for
    # ~20% more disk: these are working files); jpg: ffmpeg's scale 2 (best) .. 31.
    if format == "png":
        options.update(pix_fmt="rgb24", compression_level=1)
    else:
        options["q:v"] = _ffmpeg_jpeg_scale(jpg_quality)
    return ffmpeg.output(picture, image_sequence(out_dir, format), **options)


def _ffmpeg_jpeg_scale(quality: int) -> int:
    """jpg quality as people know it (1-100, 100 best) -> ffmpeg's -q:v (31 worst .. 2 best)."""
    return round(31 - (quality - 1) * 29 / 99)


def _written_frames(folder: Path) -> list[Path]:
    try:
        return [path for _, path in frame_files(folder)]
    except SwaplibError:  # none at all
        return []


def _write_info(info_json, info: VideoInfo, *, format: str, jpg_quality: int, **extra) -> None:
    """video.json: the frames written (VideoInfo), how they were made, and from what."""
    write_json(info_json, {**info.to_dict(), **extra, "image_format": format,
                           "jpg_quality": jpg_quality if format == "jpg" else None})


def _source_record(path: Path, photos: list[Path] | None = None) -> dict:
    """What the frames were made from: path, bytes, newest modification time and sha256 of the
    content (a photo folder: over its photos' names and contents, in order)."""
    files = photos or [path]
    digest = hashlib.sha256()
    for file in files:
        if photos:  # name and length first, so renaming or splitting photos changes the hash too
            digest.update(f"{file.name}\0{file.stat().st_size}\0".encode())
        hash_file(file, digest)
    stats = [file.stat() for file in files]
    newest = dt.datetime.fromtimestamp(max(s.st_mtime for s in stats), dt.UTC)
    return {"path": str(path), "bytes": sum(s.st_size for s in stats),
            "mtime": newest.isoformat(timespec="seconds"), "sha256": digest.hexdigest()}
