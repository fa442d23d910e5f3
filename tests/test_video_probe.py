"""swaplib.video.probe on the real clips and on videos made to be awkward (rotated, variable rate, not videos)."""

from __future__ import annotations

import av
import cv2
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.video.frames import extract_frames
from swaplib.video.probe import probe
from video_support import (
    CLIPS,
    NO_AUDIO,
    WITH_AUDIO,
    ffmpeg,
    make_bad_input,
)


@pytest.mark.parametrize("stem", CLIPS)
def test_probe_real_clips(clip, stem):
    width, height, count, duration, audio = CLIPS[stem]
    info = probe(clip(stem))
    assert (info.fps, info.fps_fraction) == (25.0, "25/1")
    assert (info.width, info.height, info.frame_count) == (width, height, count)
    assert info.has_audio is audio
    assert info.rotation == 0 and info.variable_frame_rate is False
    assert info.duration == pytest.approx(duration, abs=0.02)
    assert info.to_dict()["frame_count"] == count


def test_probe_rotation_gives_display_size(clip, tmp_path):
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", clip("lp_s18_woman_landscape_talking"), "-c", "copy", "-t", "0.4", rotated)
    info = probe(rotated)
    assert (info.rotation, info.width, info.height) == (90, 288, 512)
    # ffmpeg applies the rotation when decoding, so frames come out at the display size too.
    extract_frames(rotated, tmp_path / "frames", tmp_path / "video.json", limit=2)
    assert cv2.imread(str(tmp_path / "frames" / "000000.png")).shape[:2] == (512, 288)


def test_probe_counts_packets_when_container_has_no_frame_count(clip, tmp_path):
    mkv = tmp_path / "remux.mkv"  # Matroska stores no frame count
    ffmpeg("-i", clip(WITH_AUDIO), "-c", "copy", mkv)
    with av.open(str(mkv)) as container:
        assert container.streams.video[0].frames == 0
    assert probe(mkv).frame_count == CLIPS[WITH_AUDIO][2]


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "truncated", "jpeg", "audio_only", "no_frames"])
def test_probe_rejects_non_videos(clip, tmp_path, kind):
    path = make_bad_input(kind, tmp_path, clip(WITH_AUDIO))
    with pytest.raises(SwaplibError, match=str(path)):
        probe(path)


def test_variable_rate_past_the_first_packets_is_found(tmp_path):
    """320 regular frames, then 20 at a fifth of the rate: the container's average rate gives it away."""
    path = tmp_path / "late_vfr.mp4"
    spacing = "if(lt(N,320),N/25,320/25+(N-320)/5)/TB"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=25", "-frames:v", "340", "-vf", f"setpts='{spacing}'",
           "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", path)
    info = probe(path)
    assert info.variable_frame_rate is True and info.fps_fraction == "25/1"


def test_constant_rate_clips_are_not_variable(clip, tmp_path):
    assert probe(clip(WITH_AUDIO)).variable_frame_rate is False
    ntsc = tmp_path / "ntsc.mkv"  # 29.97 fps in Matroska's milliseconds: spacing 33, 34, 33, ...
    ffmpeg("-i", clip(NO_AUDIO), "-t", "1", "-r", "30000/1001", "-c:v", "libx264", "-preset", "ultrafast", ntsc)
    info = probe(ntsc)
    assert (info.variable_frame_rate, info.fps_fraction) == (False, "30000/1001")
