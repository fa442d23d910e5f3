"""Video in and out: probe a video, decode it to numbered frames, encode frames back to mp4.

Probing uses PyAV (in-process, fast); decoding and encoding run the ffmpeg binary.
Every encoded video is marked as synthetic: container tags, a provenance sidecar JSON and,
when asked, a visible label burnt into the frames.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2

from . import __version__
from .atomic import atomic_dir, atomic_path, write_json
from .errors import SwaplibError

SYNTHETIC_TAG = "SYNTHETIC: face-swapped video made with swaplib; it does not show real events"

IMAGE_FORMATS = ("png", "jpg")
# Demuxers that open a single still image as a one-frame "video".
_STILL_IMAGE_DEMUXERS = re.compile(r"(_pipe|^image2)$")
_FRAME_NAME = re.compile(r"^(\d{6})\.(png|jpg)$")
_STDERR_TAIL_LINES = 15


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float  # e.g. 25.0
    fps_fraction: str  # exact rate "num/den", e.g. "25/1" or "30000/1001": use it when encoding
    frame_count: int  # frames present (counted from packets where the container omits it)
    width: int  # display size, after rotation
    height: int
    rotation: int  # counter-clockwise degrees from the display matrix (ffmpeg's sign), 0 if none
    has_audio: bool
    duration: float  # seconds

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


def _run_ffmpeg(args: list[str], what: str) -> str:
    """Run ffmpeg with `args` and return the tail of its error log (errors it recovered from).

    On failure raise naming `what`, with that tail.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
    tail = "\n".join(proc.stderr.strip().splitlines()[-_STDERR_TAIL_LINES:])
    if proc.returncode != 0:
        raise SwaplibError(f"{what}: ffmpeg failed (exit {proc.returncode}):\n{tail}")
    return tail


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

    first = next(container.decode(stream), None)  # proves the stream decodes
    if first is None:
        raise SwaplibError(f"{path}: video has no decodable frames")
    rotation = int(round(first.rotation or 0))
    width, height = first.width, first.height
    if rotation % 180 != 0:
        width, height = height, width

    # Containers such as Matroska store no frame count: count packets (demux only, no decode).
    frame_count = metadata_frames or _count_packets(path, stream.index)
    if frame_count <= 0:
        raise SwaplibError(f"{path}: video has no frames")
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


def _count_packets(path: Path, stream_index: int) -> int:
    # A fresh open rather than a seek back: not every format can seek.
    with av.open(str(path)) as container:
        stream = container.streams[stream_index]
        # The demuxer ends with an empty flush packet, which is not a frame.
        return sum(1 for packet in container.demux(stream) if packet.size)


# ---------------------------------------------------------------------------------------------
# frames out


def extract_frames(
    video: str | os.PathLike,
    frames_dir: str | os.PathLike,
    info_json: str | os.PathLike,
    *,
    limit: int = 0,
    image_format: str = "png",
) -> VideoInfo:
    """Decode `video` to frames_dir/000000.<fmt>, 000001.<fmt>, ... at its native frame rate.

    limit > 0 keeps only the first `limit` frames. Writes frames_dir and info_json atomically;
    returns the VideoInfo of what was written (frame_count = frames written).
    """
    if image_format not in IMAGE_FORMATS:
        raise SwaplibError(f"{video}: image format must be one of {IMAGE_FORMATS}, not {image_format!r}")
    if limit < 0:
        raise SwaplibError(f"{video}: frame limit must be >= 0, not {limit}")
    source = probe(video)
    with atomic_dir(frames_dir) as tmp:
        _run_ffmpeg(_decode_args(Path(video), tmp, limit, image_format), f"{video}: decoding frames")
        written = len(_frame_files(tmp))
        if written == 0:
            raise SwaplibError(f"{video}: ffmpeg wrote no frames")
        info = _written_info(source, written)
        extra = {"source_frame_count": source.frame_count, "source_duration": source.duration}
        write_json(info_json, {**info.to_dict(), **extra, "limit": limit, "image_format": image_format})
    return info


def _decode_args(video: Path, out_dir: Path, limit: int, image_format: str) -> list[str]:
    # passthrough: one image per decoded frame, never duplicated or dropped to fit a rate.
    args = ["-i", str(video), "-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough"]
    if limit:
        args += ["-frames:v", str(limit)]
    # png: 8-bit RGB whatever the source depth, light zlib (9x faster than ffmpeg's default for
    # ~20% more disk: these are working files); jpg: near-lossless quality.
    args += ["-pix_fmt", "rgb24", "-compression_level", "1"] if image_format == "png" else ["-q:v", "2"]
    return args + ["-start_number", "0", _image_pattern(out_dir, image_format)]


def _written_info(source: VideoInfo, written: int) -> VideoInfo:
    """The source's info, with count and duration describing the frames actually written."""
    if written == source.frame_count:
        return source
    return dataclasses.replace(source, frame_count=written, duration=written / source.fps)


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
    larger, not every player plays it). Muxes the audio of `audio_source` (when it has any), cut
    to the video's length, copied as it is when mp4 takes its codec. compare_dir: frames put to
    the left of the swap (a side-by-side review video).

    The output is always marked synthetic: container tags (naming swaplib and the model), a
    `.provenance.json` sidecar (inputs with hashes, model and merge settings from `merge_report`,
    encoding), and a visible `label` burnt in at `label_corner` when one is given.
    """
    frames_dir, out_path = Path(frames_dir), Path(out_path)
    _check_choice(preset, X264_PRESETS, "x264 preset", out_path)
    _check_choice(label_corner, LABEL_CORNERS, "label corner", out_path)
    ext, count = _check_frames(frames_dir)
    rate = _parse_fps(fps, out_path)
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
    record["audio"] = {"source": str(audio_source), **audio} if audio_source is not None else None
    sidecar = out_path.with_suffix(".provenance.json")

    with tempfile.TemporaryDirectory(prefix="swaplib-encode-") as scratch, atomic_path(out_path) as tmp:
        args = [arg for pattern in sequences for arg in ("-framerate", str(fps), "-start_number", "0", "-i", pattern)]
        if audio["handling"] != "none":
            # Input-side -t cuts only the audio; the video keeps every frame.
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
        log = _run_ffmpeg([*args, str(tmp)], f"{out_path}: encoding {frames_dir}")
        _check_encoded(tmp, out_path, frames_dir, count, rate, log)
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


def _parse_fps(fps: str, out_path: Path) -> Fraction:
    try:
        rate = Fraction(str(fps))
    except (ValueError, ZeroDivisionError) as exc:
        raise SwaplibError(f"{out_path}: bad frame rate {fps!r} (expected e.g. '25/1')") from exc
    if rate <= 0:
        raise SwaplibError(f"{out_path}: bad frame rate {fps!r} (must be > 0)")
    return rate


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
    digest = hashlib.sha256()
    with open(value, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(value), "sha256": digest.hexdigest(), "bytes": Path(value).stat().st_size}


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
