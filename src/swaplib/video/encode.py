"""Frames back to a video: H.264 mp4 at an exact rate, with the destination's audio, marked synthetic.

Also the review video: the destination's frames to the left of the swap. The marks (label, tags,
provenance sidecar) are made in video.marks, the signed C2PA manifest in video.credentials; this
module builds the ffmpeg-python graph and checks what ffmpeg wrote.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import ffmpeg

from swaplib.core.atomic import atomic_path, write_json
from swaplib.core.errors import SwaplibError
from swaplib.core.images import frame_files, frame_name
from swaplib.core.progress import Progress
from swaplib.video.credentials import sign_in_place
from swaplib.video.ffmpeg import image_sequence, run_ffmpeg
from swaplib.video.marks import (
    check_label_corner,
    draw_label,
    provenance_record,
    read_merge_report,
    synthetic_tags,
)
from swaplib.video.probe import parse_rate, probe
from swaplib.video.signing import C2paSettings, enabled_key

log = logging.getLogger(__name__)

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# Audio codecs the mp4 container takes as they are: these are copied, anything else becomes AAC.
MP4_AUDIO_CODECS = ("aac", "mp3", "alac", "ac3", "eac3")
DEFAULT_C2PA = C2paSettings()


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
    label: str | None = "SYNTHETIC",
    label_corner: str = "bottom-left",
    c2pa: C2paSettings | dict = DEFAULT_C2PA,
    provenance: dict | None = None,
    merge_report: str | os.PathLike | None = None,
    compare_dir: str | os.PathLike | None = None,
) -> None:
    """Encode frames_dir/000000.png|jpg ... to an H.264 mp4 at exactly `fps`, one frame per image.

    crf, preset, lossless, label, label_corner and c2pa are the `video:` settings of config.yaml. x264 at
    `crf` and `preset`, yuv420p; lossless: x264's RGB lossless mode (exactly the frames, larger, not
    every player plays it). Muxes the audio of `audio_source` (when it has any) from `audio_start`
    seconds on (where the frames were cut from it: video.json's `start`), cut to the video's
    length, copied as it is when mp4 takes its codec. compare_dir: frames put to the left of the
    swap (a side-by-side review video). Logs progress (and draws a bar on a terminal).

    The output is always marked synthetic: container tags (naming swaplib and the model), a
    `.provenance.json` sidecar (inputs with hashes, model and merge settings from `merge_report`,
    encoding), and a visible `label` burnt in at `label_corner` unless it is empty or None; and,
    unless c2pa's `enabled` is false, a signed C2PA manifest embedded in the mp4 (video.credentials),
    with the user's certificate when c2pa names one, else swaplib's local key (video.signing).
    """
    frames_dir, out_path = Path(frames_dir), Path(out_path)
    _check_choice(preset, X264_PRESETS, "x264 preset", out_path)
    check_label_corner(label_corner, out_path)
    key = enabled_key(c2pa)  # a bad certificate stops the job before it encodes
    ext, count = _check_frames(frames_dir)
    rate = parse_rate(fps, out_path)
    if audio_start < 0:
        raise SwaplibError(f"{out_path}: audio start must be >= 0 seconds, not {audio_start}")
    width, height = _image_size(frames_dir / frame_name(0, ext))
    sequences = [(frames_dir, ext)]
    if compare_dir is not None:
        compare_ext, compare_width = _check_comparable(Path(compare_dir), frames_dir, count, height)
        sequences.insert(0, (Path(compare_dir), compare_ext))
        width += compare_width
    audio = _audio_plan(Path(audio_source)) if audio_source is not None else {"handling": "none"}
    merged = read_merge_report(merge_report) if merge_report is not None else {}
    record = provenance_record(out_path, count, fps, label, provenance, merged)
    record["encoding"] = {"codec": "libx264rgb" if lossless else "libx264", "preset": preset,
                          "crf": None if lossless else crf, "lossless": lossless,
                          "side_by_side": compare_dir is not None}
    record["audio"] = {"source": str(audio_source), **audio, "start": audio_start} if audio_source is not None else None
    sidecar = out_path.with_suffix(".provenance.json")

    with atomic_path(out_path) as tmp:
        framerate = f"{rate.numerator}/{rate.denominator}"
        pictures = [ffmpeg.input(image_sequence(folder, ext), framerate=framerate, start_number=0)["v"]
                    for folder, ext in sequences]
        picture = _picture(pictures, width, height, label, label_corner)
        streams, options = [picture], {"fps_mode": "passthrough", "preset": preset}
        if audio["handling"] != "none":
            # The cut is on the audio input only, to the span of the frames; the video keeps every frame.
            cut = {"ss": f"{audio_start:.6f}"} if audio_start else {}
            streams.append(ffmpeg.input(str(audio_source), t=f"{float(count / rate):.6f}", **cut)["a:0"])
            options.update({"c:a": "copy"} if audio["handling"] == "copied" else {"c:a": "aac", "b:a": "192k"})
        if lossless:  # RGB in, RGB out: no colour conversion, so no rounding either
            options.update({"c:v": "libx264rgb", "qp": 0, "pix_fmt": "rgb24"})
        else:
            options.update({"c:v": "libx264", "crf": crf, "pix_fmt": "yuv420p"})
        options.update(movflags="+faststart", map_metadata=-1, **synthetic_tags(record.get("model"),
                                                                                 record["model_file"]))
        with Progress(count, f"{out_path.name}: frames encoded", log=log) as progress:
            ffmpeg_log = run_ffmpeg(ffmpeg.output(*streams, str(tmp), **options),
                                    f"{out_path}: encoding {frames_dir}", progress)
        _check_encoded(tmp, out_path, frames_dir, count, rate, ffmpeg_log)
        record["content_credentials"] = sign_in_place(tmp, record, key)
        # Written before the video is renamed into place: no finished video without its sidecar.
        write_json(sidecar, record)


def _picture(pictures: list, width: int, height: int, label: str | None, corner: str):
    """The video stream encoded: the inputs side by side, odd sizes padded by 1px (yuv420p needs
    even ones), then the visible label."""
    picture = ffmpeg.filter(pictures, "hstack", inputs=2) if len(pictures) == 2 else pictures[0]
    if width % 2 or height % 2:
        picture = picture.filter("pad", w=width + width % 2, h=height + height % 2, x=0, y=0, color="black")
    return draw_label(picture, label, height, corner) if label else picture


def _check_choice(value: str, choices: tuple[str, ...], what: str, out_path: Path) -> None:
    if value not in choices:
        raise SwaplibError(f"{out_path}: unknown {what} {value!r}; choose one of {', '.join(choices)}")


def _check_comparable(compare_dir: Path, frames_dir: Path, count: int, height: int) -> tuple[str, int]:
    """Extension and width of the comparison frames; they must match the frames in number and height."""
    ext, compare_count = _check_frames(compare_dir)
    width, compare_height = _image_size(compare_dir / frame_name(0, ext))
    if compare_count != count or compare_height != height:
        raise SwaplibError(f"{compare_dir} ({compare_count} frames, {compare_height} px high) and {frames_dir} "
                           f"({count} frames, {height} px high) cannot be shown side by side")
    return ext, width


def _check_frames(frames_dir: Path) -> tuple[str, int]:
    """Extension and count of the frames; they must be one format, numbered 0..n-1 without gaps."""
    files = frame_files(frames_dir)  # raises naming the folder when it is missing or holds no frame
    exts = {path.suffix[1:] for _, path in files}
    if len(exts) > 1:
        raise SwaplibError(f"{frames_dir}: frames mix formats {sorted(exts)}")
    ext = exts.pop()
    # ffmpeg reads the sequence 000000.ext, 000001.ext, ... and stops at the first name missing.
    if [path.name for _, path in files] != [frame_name(number, ext) for number in range(len(files))]:
        missing = sorted(set(range(files[-1][0] + 1)) - {number for number, _ in files})[:5]
        raise SwaplibError(f"{frames_dir}: frames must be numbered from 000000 without gaps (missing {missing})")
    return ext, len(files)


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


def _check_encoded(tmp: Path, out_path: Path, frames_dir: Path, count: int, rate: Fraction, ffmpeg_log: str) -> None:
    """The encode must keep every frame and the exact rate; anything else is an error, not a result.

    ffmpeg skips an unreadable image and carries on (it would stop at an audio glitch too if told
    to stop at errors), so a short frame count is how a bad image shows.
    """
    info = probe(tmp)
    if info.frame_count != count:
        bad = [p.name for _, p in frame_files(frames_dir) if cv2.imread(str(p)) is None][:5]
        raise SwaplibError(
            f"{out_path}: ffmpeg encoded {info.frame_count} frames from {count} images in {frames_dir} "
            f"(unreadable: {', '.join(bad) or 'none found'}):\n{ffmpeg_log}"
        )
    if Fraction(info.fps_fraction) != rate:
        raise SwaplibError(f"{out_path}: encoded at {info.fps_fraction} fps instead of {rate}")

