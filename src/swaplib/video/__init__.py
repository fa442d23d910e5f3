"""Video in and out: probe a video, decode it to numbered frames, encode frames back to mp4.

Probing uses PyAV (in-process, fast); decoding and encoding run the ffmpeg binary. A folder of
photos can stand in for a video: its images become the frames as they are. Every encoded video
is marked as synthetic: container tags, a provenance sidecar JSON and, when asked, a visible label
burnt into the frames.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from swaplib import __version__
from swaplib.core.atomic import atomic_dir, atomic_path, write_json
from swaplib.core.digest import hash_file
from swaplib.core.errors import SwaplibError
from swaplib.core.progress import Progress

log = logging.getLogger(__name__)

SYNTHETIC_TAG = "SYNTHETIC: face-swapped video made with swaplib; it does not show real events"

IMAGE_FORMATS = ("png", "jpg")
# Demuxers that open a single still image as a one-frame "video".
_STILL_IMAGE_DEMUXERS = re.compile(r"(_pipe|^image2)$")
_FRAME_NAME = re.compile(r"^(\d{6})\.(png|jpg)$")
_STDERR_TAIL_LINES = 15
# Images a photo folder may hold (matched case-insensitively); everything else in it is ignored.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
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


# ---------------------------------------------------------------------------------------------
# ffmpeg binary


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """A system ffmpeg on PATH if there is one, else the one shipped in the imageio-ffmpeg wheel."""
    system = shutil.which("ffmpeg")
    if system:
        return system
    import imageio_ffmpeg  # only needed when no system ffmpeg exists

    return imageio_ffmpeg.get_ffmpeg_exe()


def _run_ffmpeg(args: list[str], what: str, progress: Progress | None = None) -> str:
    """Run ffmpeg with `args` and return the tail of its error log (errors it recovered from).

    progress: counted on from the frame numbers ffmpeg reports. On failure raise naming `what`,
    with that tail.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    if progress is not None:
        cmd += ["-progress", "pipe:1", "-nostats"]
    # stderr goes to a file: a pipe nobody reads while stdout is followed could fill and stall ffmpeg.
    with tempfile.TemporaryFile("w+", errors="replace") as stderr:
        stdout = subprocess.PIPE if progress is not None else subprocess.DEVNULL
        with subprocess.Popen([*cmd, *args], stdout=stdout, stderr=stderr, text=True, errors="replace") as proc:
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
        raise SwaplibError(f"{what}: ffmpeg failed (exit {returncode}):\n{tail}")
    return tail


def _follow_progress(lines, progress: Progress) -> None:
    """Move `progress` on by the `frame=N` lines of ffmpeg's -progress output."""
    done = 0
    for line in lines:
        key, _, value = line.strip().partition("=")
        if key == "frame" and value.isdigit() and int(value) > done:
            progress.update(int(value) - done)
            done = int(value)


def _image_pattern(folder: Path, ext: str) -> str:
    """ffmpeg image-sequence pattern 000000.ext, ...; a literal '%' in the folder must be doubled."""
    return os.path.join(str(folder).replace("%", "%%"), f"%06d.{ext}")


# ---------------------------------------------------------------------------------------------
# probe


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


# ---------------------------------------------------------------------------------------------
# frames out


def extract_frames(
    video: str | os.PathLike,
    frames_dir: str | os.PathLike,
    info_json: str | os.PathLike,
    *,
    limit: int = 0,
    image_format: str = "png",
    jpg_quality: int = 100,
    fps: float | str | None = None,
    start: float = 0.0,
    end: float = 0.0,
    threads: int = 1,
) -> VideoInfo:
    """Decode `video` to frames_dir/000000.<fmt>, 000001.<fmt>, ... and describe them in info_json.

    `video` may be a folder of photos instead: its images become the frames, in name order (see
    extract_photos; fps, start and end do not apply to photos).

    A video keeps its own frames (one image per decoded frame) unless `fps` (a number or "num/den";
    None or 0 = the source's) asks for another rate or the source's rate varies: then frames are
    resampled to a constant rate (repeated or dropped by their time). start/end: the part of the
    video to take, in seconds (end 0 = to the end); without resampling start moves to the nearest
    frame. limit > 0 keeps only the first `limit` frames of that. jpg_quality: 1-100 (100 = best).

    Writes frames_dir and info_json atomically; returns the VideoInfo of what was written.
    """
    _check_image_options(video, limit, image_format, jpg_quality)
    if Path(video).is_dir():
        if fps or start or end:
            log.info("%s: a folder of photos: fps, start and end do not apply", video)
        return extract_photos(video, frames_dir, info_json, limit=limit, image_format=image_format,
                              jpg_quality=jpg_quality, threads=threads)
    video = Path(video)
    source = probe(video)
    plan = _decode_plan(video, source, fps, start, end, limit)
    with atomic_dir(frames_dir) as tmp:
        expected = plan.frames or max(1, round((source.duration - plan.start) * float(plan.rate)))
        with Progress(expected, f"{video.name}: frames decoded", log=log) as progress:
            _run_ffmpeg(_decode_args(video, tmp, plan, image_format, jpg_quality), f"{video}: decoding frames",
                        progress)
        written = len(_frame_files(tmp))
        if written == 0:
            raise SwaplibError(f"{video}: ffmpeg wrote no frames")
        rate = plan.rate
        # The frames written come at a constant rate, whatever the source's.
        info = dataclasses.replace(source, fps=float(rate), fps_fraction=f"{rate.numerator}/{rate.denominator}",
                                   frame_count=written, duration=float(written / rate), variable_frame_rate=False)
        _write_info(info_json, info, kind="video", limit=limit, image_format=image_format, jpg_quality=jpg_quality,
                    start=plan.start, end=plan.start + info.duration, source_fps=source.fps,
                    variable_frame_rate=source.variable_frame_rate,
                    source_frame_count=source.frame_count, source_duration=source.duration,
                    source=_source_record(video))
    return info


def _check_image_options(video, limit: int, image_format: str, jpg_quality: int) -> None:
    if image_format not in IMAGE_FORMATS:
        raise SwaplibError(f"{video}: image format must be one of {IMAGE_FORMATS}, not {image_format!r}")
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


def _decode_args(video: Path, out_dir: Path, plan: _DecodePlan, image_format: str, jpg_quality: int) -> list[str]:
    # -ss before -i: a fast seek, and modern ffmpeg still decodes from there accurately.
    args = ["-ss", f"{plan.seek:.6f}"] if plan.seek else []
    args += ["-i", str(video), "-map", "0:v:0", "-an", "-sn", "-dn"]
    if plan.resample:
        args += ["-vf", f"fps={plan.rate.numerator}/{plan.rate.denominator}:start_time=0"]
    # passthrough: one image per frame (from the fps filter, when resampling), none added or dropped.
    args += ["-fps_mode", "passthrough"]
    if plan.frames:
        args += ["-frames:v", str(plan.frames)]
    # png: 8-bit RGB whatever the source depth, light zlib (9x faster than ffmpeg's default for
    # ~20% more disk: these are working files); jpg: ffmpeg's scale 2 (best) .. 31.
    if image_format == "png":
        args += ["-pix_fmt", "rgb24", "-compression_level", "1"]
    else:
        args += ["-q:v", str(_ffmpeg_jpeg_scale(jpg_quality))]
    return args + ["-start_number", "0", _image_pattern(out_dir, image_format)]


def _ffmpeg_jpeg_scale(quality: int) -> int:
    """jpg quality as people know it (1-100, 100 best) -> ffmpeg's -q:v (31 worst .. 2 best)."""
    return round(31 - (quality - 1) * 29 / 99)


def _write_info(info_json, info: VideoInfo, *, image_format: str, jpg_quality: int, **extra) -> None:
    """video.json: the frames written (VideoInfo), how they were made, and from what."""
    write_json(info_json, {**info.to_dict(), **extra, "image_format": image_format,
                           "jpg_quality": jpg_quality if image_format == "jpg" else None})


# ---------------------------------------------------------------------------------------------
# photos as frames


def photo_files(folder: str | os.PathLike) -> list[Path]:
    """The images of a photo folder, sorted by name; subfolders and hidden files are not looked in."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SwaplibError(f"{folder}: photo folder not found")
    files = sorted((p for p in folder.iterdir()
                    if p.suffix.lower() in PHOTO_SUFFIXES and not p.name.startswith(".") and p.is_file()),
                   key=lambda p: p.name)
    if not files:
        raise SwaplibError(f"{folder}: no photos in the folder (looked for {', '.join(PHOTO_SUFFIXES)} files; "
                           "subfolders are not searched)")
    return files


def extract_photos(
    folder: str | os.PathLike,
    frames_dir: str | os.PathLike,
    info_json: str | os.PathLike,
    *,
    limit: int = 0,
    image_format: str = "png",
    jpg_quality: int = 100,
    threads: int = 1,
) -> VideoInfo:
    """Write the photos of `folder` as frames 000000.<fmt>, ... in name order, upright (their EXIF
    orientation applied), each at its own size. info_json records kind "photos" and the photos'
    names and sizes in frame order, so that a face can be traced back to its photo."""
    _check_image_options(folder, limit, image_format, jpg_quality)
    folder = Path(folder)
    files = photo_files(folder)
    used = files[:limit] if limit else files
    if image_format == "png":
        options = [cv2.IMWRITE_PNG_COMPRESSION, 1]  # light zlib, as for decoded video frames
    else:
        options = [cv2.IMWRITE_JPEG_QUALITY, jpg_quality]

    with atomic_dir(frames_dir) as tmp:
        frames = [tmp / f"{number:06d}.{image_format}" for number in range(len(used))]
        with Progress(len(used), f"{folder.name}: photos read", unit="photo", log=log) as progress:
            photos = _convert_photos(used, frames, options, threads, progress)
        info = VideoInfo(path=str(folder), fps=None, fps_fraction=None, frame_count=len(used),
                         width=photos[0]["width"], height=photos[0]["height"], rotation=0, has_audio=False,
                         duration=None)
        _write_info(info_json, info, kind="photos", limit=limit, image_format=image_format,
                    jpg_quality=jpg_quality, start=None, end=None, source_fps=None,
                    source_frame_count=len(files), source_duration=None,
                    source=_source_record(folder, files), photos=photos)
    return info


def _convert_photos(photos: list[Path], frames: list[Path], options: list[int], threads: int,
                    progress: Progress) -> list[dict]:
    """Read each photo upright and write it as its frame, in threads (OpenCV releases the GIL);
    the first unreadable photo stops the rest."""
    pool = ThreadPoolExecutor(max(1, threads))
    try:
        records = []
        for record in pool.map(_convert_photo, photos, frames, [options] * len(photos)):
            records.append(record)
            progress.update()
        return records
    finally:
        pool.shutdown(cancel_futures=True)


def _convert_photo(photo: Path, frame: Path, options: list[int]) -> dict:
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)  # IMREAD_COLOR applies the EXIF orientation
    if image is None:
        raise SwaplibError(f"{photo}: not a readable image")
    if not cv2.imwrite(str(frame), image, options):
        raise SwaplibError(f"{frame}: cannot write the frame of {photo}")
    return {"file": photo.name, "width": image.shape[1], "height": image.shape[0]}


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
    newest = dt.datetime.fromtimestamp(max(s.st_mtime for s in stats), dt.timezone.utc)
    return {"path": str(path), "bytes": sum(s.st_size for s in stats),
            "mtime": newest.isoformat(timespec="seconds"), "sha256": digest.hexdigest()}


def read_info(info_json: str | os.PathLike) -> dict:
    """Load the video.json written by extract_frames."""
    try:
        return json.loads(Path(info_json).read_text())
    except (OSError, ValueError) as exc:
        raise SwaplibError(f"{info_json}: cannot read video info ({exc})") from exc


def _frame_files(frames_dir: Path) -> list[Path]:
    return sorted(p for p in frames_dir.iterdir() if _FRAME_NAME.match(p.name))


# ---------------------------------------------------------------------------------------------
# frames in


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
LABEL_CORNERS = ("bottom-left", "bottom-right", "top-left", "top-right")
# Audio codecs the mp4 container takes as they are: these are copied, anything else becomes AAC.
MP4_AUDIO_CODECS = ("aac", "mp3", "alac", "ac3", "eac3")


def encode_video(
    frames_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    fps: str,
    audio_source: str | os.PathLike | None = None,
    audio_start: float = 0.0,
    crf: int = 18,
    preset: str = "medium",
    lossless: bool = False,
    label: str | None = None,
    label_corner: str = "bottom-left",
    provenance: dict | None = None,
    merge_report: str | os.PathLike | None = None,
    compare_dir: str | os.PathLike | None = None,
) -> None:
    """Encode frames_dir/000000.png|jpg ... to an H.264 mp4 at exactly `fps`, one frame per image.

    x264 at `crf` and `preset`, yuv420p; lossless: x264's RGB lossless mode (exactly the frames,
    larger, not every player plays it). Muxes the audio of `audio_source` (when it has any) from
    `audio_start` seconds on (where the frames were cut from it: video.json's `start`), cut to the
    video's length, copied as it is when mp4 takes its codec. compare_dir: frames put to the left
    of the swap (a side-by-side review video). Logs progress (and draws a bar on a terminal).

    The output is always marked synthetic: container tags (naming swaplib and the model), a
    `.provenance.json` sidecar (inputs with hashes, model and merge settings from `merge_report`,
    encoding), and a visible `label` burnt in at `label_corner` when one is given.
    """
    frames_dir, out_path = Path(frames_dir), Path(out_path)
    _check_choice(preset, X264_PRESETS, "x264 preset", out_path)
    _check_choice(label_corner, LABEL_CORNERS, "label corner", out_path)
    ext, count = _check_frames(frames_dir)
    rate = parse_rate(fps, out_path)
    if audio_start < 0:
        raise SwaplibError(f"{out_path}: audio start must be >= 0 seconds, not {audio_start}")
    width, height = _image_size(frames_dir / f"{0:06d}.{ext}")
    sequences = [_image_pattern(frames_dir, ext)]
    if compare_dir is not None:
        compare_ext, compare_width = _check_comparable(Path(compare_dir), frames_dir, count, height)
        sequences.insert(0, _image_pattern(Path(compare_dir), compare_ext))
        width += compare_width
    audio = _audio_plan(Path(audio_source)) if audio_source is not None else {"handling": "none"}
    merged = _read_merge_report(merge_report) if merge_report is not None else {}
    record = _provenance_record(out_path, count, fps, label, provenance, merged)
    record["encoding"] = {"codec": "libx264rgb" if lossless else "libx264", "preset": preset,
                          "crf": None if lossless else crf, "lossless": lossless,
                          "side_by_side": compare_dir is not None}
    record["audio"] = {"source": str(audio_source), **audio, "start": audio_start} if audio_source is not None else None
    sidecar = out_path.with_suffix(".provenance.json")

    with tempfile.TemporaryDirectory(prefix="swaplib-encode-") as scratch, atomic_path(out_path) as tmp:
        framerate = f"{rate.numerator}/{rate.denominator}"
        args = [arg for pattern in sequences for arg in ("-framerate", framerate, "-start_number", "0", "-i", pattern)]
        if audio["handling"] != "none":
            # Input-side -ss/-t cut only the audio, to the span of the frames; the video keeps every frame.
            args += ["-ss", f"{audio_start:.6f}"] if audio_start else []
            args += ["-t", f"{float(count / rate):.6f}", "-i", str(audio_source), "-map", f"{len(sequences)}:a:0"]
            args += ["-c:a", "copy"] if audio["handling"] == "copied" else ["-c:a", "aac", "-b:a", "192k"]
        graph = _filter_graph(len(sequences), width, height, label, label_corner, Path(scratch))
        args += ["-filter_complex", graph, "-map", "[v]", "-fps_mode", "passthrough", "-preset", preset]
        if lossless:  # RGB in, RGB out: no colour conversion, so no rounding either
            args += ["-c:v", "libx264rgb", "-qp", "0", "-pix_fmt", "rgb24"]
        else:
            args += ["-c:v", "libx264", "-crf", str(crf), "-pix_fmt", "yuv420p"]
        args += ["-movflags", "+faststart", "-map_metadata", "-1"]
        args += _synthetic_metadata_args(record.get("model"), record["model_file"])
        with Progress(count, f"{out_path.name}: frames encoded", log=log) as progress:
            ffmpeg_log = _run_ffmpeg([*args, str(tmp)], f"{out_path}: encoding {frames_dir}", progress)
        _check_encoded(tmp, out_path, frames_dir, count, rate, ffmpeg_log)
        # Written before the video is renamed into place: no finished video without its sidecar.
        write_json(sidecar, record)


def _check_choice(value: str, choices: tuple[str, ...], what: str, out_path: Path) -> None:
    if value not in choices:
        raise SwaplibError(f"{out_path}: unknown {what} {value!r}; choose one of {', '.join(choices)}")


def _check_comparable(compare_dir: Path, frames_dir: Path, count: int, height: int) -> tuple[str, int]:
    """Extension and width of the comparison frames; they must match the frames in number and height."""
    ext, compare_count = _check_frames(compare_dir)
    width, compare_height = _image_size(compare_dir / f"{0:06d}.{ext}")
    if compare_count != count or compare_height != height:
        raise SwaplibError(f"{compare_dir} ({compare_count} frames, {compare_height} px high) and {frames_dir} "
                           f"({count} frames, {height} px high) cannot be shown side by side")
    return ext, width


def _check_frames(frames_dir: Path) -> tuple[str, int]:
    """Extension and count of the frames; they must be one format, numbered 0..n-1 without gaps."""
    if not frames_dir.is_dir():
        raise SwaplibError(f"{frames_dir}: frames folder not found")
    files = _frame_files(frames_dir)
    if not files:
        raise SwaplibError(f"{frames_dir}: no frames (expected 000000.png or 000000.jpg, ...)")
    exts = {p.suffix[1:] for p in files}
    if len(exts) > 1:
        raise SwaplibError(f"{frames_dir}: frames mix formats {sorted(exts)}")
    numbers = [int(p.stem) for p in files]
    if numbers != list(range(len(files))):
        missing = sorted(set(range(numbers[-1] + 1)) - set(numbers))[:5]
        raise SwaplibError(f"{frames_dir}: frames must be numbered from 000000 without gaps (missing {missing})")
    return exts.pop(), len(files)


def _image_size(path: Path) -> tuple[int, int]:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise SwaplibError(f"{path}: not a readable image")
    return image.shape[1], image.shape[0]


def _audio_plan(path: Path) -> dict:
    """What happens to the audio of `path`: copied (mp4 takes its codec), re-encoded to AAC, or none."""
    if not path.is_file():
        raise SwaplibError(f"{path}: audio source not found")
    try:
        with av.open(str(path)) as container:
            stream = next(iter(container.streams.audio), None)
            codec = stream.codec_context.name if stream is not None else None
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise SwaplibError(f"{path}: audio source is not a readable media file ({exc})") from exc
    if codec is None:
        return {"codec": None, "handling": "none"}
    return {"codec": codec, "handling": "copied" if codec in MP4_AUDIO_CODECS else "re-encoded to aac"}


def _filter_graph(inputs: int, width: int, height: int, label: str | None, corner: str, scratch: Path) -> str:
    """The video filter graph: inputs side by side, odd sizes padded by 1px (yuv420p needs even
    ones), then the visible label; its output is [v]."""
    filters = ["hstack=inputs=2"] if inputs == 2 else []
    if width % 2 or height % 2:
        filters.append(f"pad={width + width % 2}:{height + height % 2}:0:0:black")
    if label:
        filters.append(_drawtext_filter(label, height, corner, scratch))
    return "".join(f"[{i}:v]" for i in range(inputs)) + (",".join(filters) or "null") + "[v]"


def _drawtext_filter(label: str, height: int, corner: str, scratch: Path) -> str:
    # The text goes through a file with expansion off, so no character in it needs escaping.
    text_file = scratch / "label.txt"
    text_file.write_text(label, encoding="utf-8")
    size = max(12, height // 28)
    options = {
        "fontfile": str(find_font()),
        "textfile": str(text_file),
        "expansion": "none",
        "fontsize": str(size),
        "fontcolor": "white",
        "box": "1",
        "boxcolor": "black@0.55",
        "boxborderw": str(max(4, size // 3)),
        "x": f"w-tw-{size}" if corner.endswith("right") else str(size),
        "y": str(size) if corner.startswith("top") else f"h-th-{size}",
    }
    return "drawtext=" + ":".join(f"{key}={_escape_filter_value(value)}" for key, value in options.items())


def _escape_filter_value(value: str) -> str:
    """Escape a filter option value for both levels ffmpeg parses (option list, then graph)."""
    option_level = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option_level)


_FONT_NAMES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "LiberationSans-Regular.ttf", "Arial.ttf")
_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/truetype/liberation",
    "/usr/local/share/fonts",
    "/Library/Fonts",
    "/System/Library/Fonts/Supplemental",
    "C:/Windows/Fonts",
)


@functools.lru_cache(maxsize=1)
def find_font() -> Path:
    """A TrueType font for the visible label: common system places, then matplotlib's own copy."""
    dirs = [Path(d) for d in _FONT_DIRS]
    try:
        import matplotlib  # ships DejaVuSans in mpl-data, so a font exists even without fontconfig

        dirs.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    except ImportError:
        pass
    for name in _FONT_NAMES:
        for folder in dirs:
            if (folder / name).is_file():
                return folder / name
    raise SwaplibError(
        f"no font found for the synthetic-video label (looked for {', '.join(_FONT_NAMES)} in "
        f"{', '.join(map(str, dirs))}); install fonts-dejavu or matplotlib"
    )


def _synthetic_metadata_args(model_name: str | None, model_file: dict | None) -> list[str]:
    made_with = [f"generator: swaplib {__version__}"]
    if model_name:
        made_with.append(f"model: {model_name}")
    if model_file and model_file.get("sha256"):
        made_with.append(f"model sha256: {model_file['sha256'][:16]}")
    tags = {
        "comment": SYNTHETIC_TAG,
        "title": "SYNTHETIC face-swapped video",
        "description": f"{SYNTHETIC_TAG} ({'; '.join(made_with)})",
    }
    return [arg for key, value in tags.items() for arg in ("-metadata", f"{key}={value}")]


def _check_encoded(tmp: Path, out_path: Path, frames_dir: Path, count: int, rate: Fraction, ffmpeg_log: str) -> None:
    """The encode must keep every frame and the exact rate; anything else is an error, not a result.

    ffmpeg skips an unreadable image and carries on (it would stop at an audio glitch too if told
    to stop at errors), so a short frame count is how a bad image shows.
    """
    info = probe(tmp)
    if info.frame_count != count:
        bad = [p.name for p in _frame_files(frames_dir) if cv2.imread(str(p)) is None][:5]
        raise SwaplibError(
            f"{out_path}: ffmpeg encoded {info.frame_count} frames from {count} images in {frames_dir} "
            f"(unreadable: {', '.join(bad) or 'none found'}):\n{ffmpeg_log}"
        )
    if Fraction(info.fps_fraction) != rate:
        raise SwaplibError(f"{out_path}: encoded at {info.fps_fraction} fps instead of {rate}")


def _read_merge_report(path) -> dict:
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SwaplibError(f"{path}: cannot read the merge report ({exc})") from exc
    if not isinstance(report, dict):
        raise SwaplibError(f"{path}: not a merge report (expected a JSON object)")
    return report


def _file_record(value):
    """A path that names a file → {"path", "sha256", "bytes"}; anything else as it is."""
    if not isinstance(value, (str, os.PathLike)) or not Path(value).is_file():
        return value
    return {"path": str(value), "sha256": hash_file(value).hexdigest(), "bytes": Path(value).stat().st_size}


def _provenance_record(out_path: Path, count: int, fps: str, label: str | None, provenance: dict | None,
                       merged: dict) -> dict:
    given = dict(provenance or {})
    for key in ("source", "destination"):  # the input videos, identified by their content
        if key in given:
            given[key] = _file_record(given[key])
    return {
        "generator": f"swaplib {__version__}",
        "swaplib_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "video": out_path.name,
        "frame_count": count,
        "fps": fps,
        "visible_label": label or None,
        "metadata_comment": SYNTHETIC_TAG,
        "model_file": merged.get("model"),
        "merge": {key: merged[key] for key in ("settings", "overrides", "frames", "swapped", "failed") if key in merged}
        or None,
        **given,
        "synthetic": True,  # last, so a caller's provenance cannot unset it
    }


def read_metadata_tags(path: str | os.PathLike) -> dict:
    """Container-level tags (title, comment, ...) of a media file."""
    try:
        with av.open(str(path)) as container:
            return dict(container.metadata)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise SwaplibError(f"{path}: cannot read metadata ({exc})") from exc
