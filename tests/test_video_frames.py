"""swaplib.video.frames and .photos: videos and photo folders into frames, and video.json."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from settings_agreement import assert_agreement
from swaplib.core.codehash import closure, module_name
from swaplib.core.errors import SwaplibError
from swaplib.video.frames import _ffmpeg_jpeg_scale, extract_frames, read_info
from swaplib.video.marks import _file_record, input_record
from swaplib.video.photos import photo_files
from swaplib.video.probe import probe
from video_support import (
    NO_AUDIO,
    N,
    leftovers,
    make_bad_input,
    make_vfr,
    read_frames,
)


def test_extract_frames_png_with_limit(clip, tmp_path):
    out = tmp_path / "videos" / "s18"
    info = extract_frames(clip("lp_s18_woman_landscape_talking"), out / "frames", out / "video.json", limit=N)
    names = sorted(p.name for p in (out / "frames").iterdir())
    assert names == [f"{i:06d}.png" for i in range(N)]
    for name in (names[0], names[-1]):
        assert cv2.imread(str(out / "frames" / name)).shape == (288, 512, 3)
    meta = read_info(out / "video.json")
    assert meta == json.loads((out / "video.json").read_text())
    assert meta["frame_count"] == info.frame_count == N
    assert (meta["source_frame_count"], meta["limit"], meta["image_format"]) == (200, N, "png")
    assert (meta["fps"], meta["fps_fraction"], meta["width"], meta["height"]) == (25.0, "25/1", 512, 288)
    assert meta["has_audio"] is True and meta["rotation"] == 0
    assert meta["duration"] == pytest.approx(N / 25)
    assert leftovers(out) == []


def test_extract_frames_jpg(clip, tmp_path):
    extract_frames(clip(NO_AUDIO), tmp_path / "frames", tmp_path / "video.json", limit=3, format="jpg")
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["000000.jpg", "000001.jpg", "000002.jpg"]
    assert cv2.imread(str(tmp_path / "frames" / "000002.jpg")).shape == (512, 512, 3)
    assert read_info(tmp_path / "video.json")["image_format"] == "jpg"


def test_extract_frames_replaces_an_older_extraction(clip, tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "000099.png").write_bytes(b"stale")
    extract_frames(clip(NO_AUDIO), tmp_path / "frames", tmp_path / "video.json", limit=2)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["000000.png", "000001.png"]


def test_extract_frames_failure_leaves_nothing(tmp_path):
    bad = make_bad_input("text", tmp_path, Path("unused"))
    with pytest.raises(SwaplibError, match=str(bad)):
        extract_frames(bad, tmp_path / "frames", tmp_path / "video.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name]


def test_extract_frames_rejects_unknown_format(clip, tmp_path):
    with pytest.raises(SwaplibError, match="image format"):
        extract_frames(clip(NO_AUDIO), tmp_path / "frames", tmp_path / "video.json", format="bmp")


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_variable_frame_rate_becomes_constant_keeping_every_frame(clip, tmp_path, container):
    vfr = make_vfr(tmp_path / f"vfr.{container}", clip(NO_AUDIO))
    info = probe(vfr)
    assert info.variable_frame_rate is True and info.frame_count == 35
    assert info.fps_fraction == "25/1"  # the most common spacing: frames are resampled to it
    written = extract_frames(vfr, tmp_path / "frames", tmp_path / "video.json")
    meta = read_info(tmp_path / "video.json")
    assert written.frame_count == meta["frame_count"] == round(info.duration * 25) == 49
    assert (meta["fps_fraction"], meta["variable_frame_rate"], meta["source_frame_count"]) == ("25/1", True, 35)
    # Every source frame is there, in order; the slow part's frames are repeated to fill 1/25 s steps.
    frames = read_frames(tmp_path / "frames")
    runs = [frames[0]] + [b for a, b in zip(frames, frames[1:]) if not np.array_equal(a, b)]
    with av.open(str(vfr)) as container_:
        source = [f.to_ndarray(format="bgr24") for f in container_.decode(video=0)]
    assert len(runs) == len(source) and all(np.array_equal(a, b) for a, b in zip(runs, source))


@pytest.mark.parametrize(
    "fps, start, end, count, fraction",
    [(10, 2.0, 4.0, 20, "10/1"), ("30000/1001", 1.0, 2.0, 30, "30000/1001"), (29.97, 1.0, 2.0, 30, "30000/1001")],
)
def test_output_fps_resamples_to_duration_times_rate(clip, tmp_path, fps, start, end, count, fraction):
    info = extract_frames(clip(NO_AUDIO), tmp_path / "frames", tmp_path / "video.json", fps=fps, start=start,
                                end=end)
    meta = read_info(tmp_path / "video.json")
    assert info.frame_count == meta["frame_count"] == len(list((tmp_path / "frames").iterdir())) == count
    assert (meta["fps_fraction"], meta["source_fps"], meta["start"]) == (fraction, 25.0, start)
    assert meta["end"] == pytest.approx(start + count / float(Fraction(fraction)))


def test_start_and_end_cut_whole_frames(clip, tmp_path):
    whole = tmp_path / "whole"
    extract_frames(clip(NO_AUDIO), whole / "frames", whole / "video.json", limit=27)
    # 1.01 s is nearest to frame 25 (1.00 s): without resampling a cut starts at a source frame.
    extract_frames(clip(NO_AUDIO), tmp_path / "frames", tmp_path / "video.json", start=1.01, end=2.0)
    meta = read_info(tmp_path / "video.json")
    assert (meta["frame_count"], meta["start"], meta["end"], meta["fps_fraction"]) == (25, 1.0, 2.0, "25/1")
    cut = read_frames(tmp_path / "frames")
    assert len(cut) == 25
    assert np.array_equal(cut[0], cv2.imread(str(whole / "frames" / "000025.png")))
    assert np.array_equal(cut[1], cv2.imread(str(whole / "frames" / "000026.png")))
    # start alone runs to the end; limit counts from start
    extract_frames(clip(NO_AUDIO), tmp_path / "f2", tmp_path / "v2.json", start=7.0)
    assert read_info(tmp_path / "v2.json")["frame_count"] == 25
    extract_frames(clip(NO_AUDIO), tmp_path / "f3", tmp_path / "v3.json", start=7.0, limit=4)
    assert read_info(tmp_path / "v3.json")["frame_count"] == 4


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"start": 8.0}, "not before the end of the video"),
        ({"start": 3.0, "end": 2.0}, "end 2.0 s must be after start 3.0 s"),
        ({"start": -1.0}, "must be >= 0"),
        ({"start": 1.0, "end": 1.01}, "no frame between"),
        ({"fps": "abc"}, "bad frame rate 'abc'"),
        ({"jpg_quality": 0}, "jpg quality must be 1 to 100"),
    ],
)
def test_bad_cut_or_rate_is_named_and_leaves_nothing(clip, tmp_path, options, expected):
    with pytest.raises(SwaplibError, match=expected) as error:
        extract_frames(clip(NO_AUDIO), tmp_path / "out" / "frames", tmp_path / "out" / "video.json", **options)
    assert str(clip(NO_AUDIO)) in str(error.value)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_jpg_quality_is_ffmpegs_scale_and_recorded(clip, tmp_path):
    assert (_ffmpeg_jpeg_scale(100), _ffmpeg_jpeg_scale(1)) == (2, 31)
    sizes = {}
    for quality in (100, 20):
        out = tmp_path / str(quality)
        extract_frames(clip(NO_AUDIO), out / "frames", out / "video.json", limit=2, format="jpg",
                             jpg_quality=quality)
        assert read_info(out / "video.json")["jpg_quality"] == quality
        sizes[quality] = (out / "frames" / "000000.jpg").stat().st_size
    assert sizes[20] < sizes[100] / 3
    extract_frames(clip(NO_AUDIO), tmp_path / "png", tmp_path / "png.json", limit=1)
    assert read_info(tmp_path / "png.json")["jpg_quality"] is None  # png: lossless, no quality


def test_video_json_names_the_source_by_size_time_and_hash(clip, tmp_path):
    source = clip(NO_AUDIO)
    extract_frames(source, tmp_path / "frames", tmp_path / "video.json", limit=1)
    meta = read_info(tmp_path / "video.json")
    assert meta["kind"] == "video" and meta["variable_frame_rate"] is False
    assert meta["source"]["path"] == str(source) and meta["source"]["bytes"] == source.stat().st_size
    assert meta["source"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    mtime = dt.datetime.fromisoformat(meta["source"]["mtime"]).timestamp()
    assert mtime == pytest.approx(source.stat().st_mtime, abs=1)


def exif_rotated_jpeg(source: Path, path: Path) -> np.ndarray:
    """Save `source` as a JPEG whose EXIF says "turn 90° clockwise to show"; return it shown upright."""
    pil = pytest.importorskip("PIL.Image", reason="Pillow is needed to write an EXIF orientation tag")
    image = pil.open(source)
    exif = pil.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise
    image.save(path, exif=exif, quality=95)
    stored = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    return cv2.rotate(stored, cv2.ROTATE_90_CLOCKWISE)


@pytest.fixture
def photo_folder(photo, tmp_path):
    """people/: a_turned.JPG (EXIF-rotated), b_portrait.jpg, c_small.png, plus things that are not photos."""
    folder = tmp_path / "people"
    (folder / "more").mkdir(parents=True)
    upright = exif_rotated_jpeg(photo("lp_d30_woman_hand_on_face"), folder / "a_turned.JPG")
    shutil.copy(photo("fr_alex_lacamoire"), folder / "b_portrait.jpg")
    small = cv2.resize(cv2.imread(str(photo("lp_d9_woman_open_mouth"))), (180, 120))
    cv2.imwrite(str(folder / "c_small.png"), small)
    shutil.copy(photo("fr_obama"), folder / "more" / "ignored.jpg")  # subfolders are not searched
    (folder / "notes.txt").write_text("not a photo")
    (folder / "._a_turned.JPG").write_bytes(b"macOS resource fork")  # hidden: ignored
    return folder, [upright, cv2.imread(str(folder / "b_portrait.jpg")), small]


def test_photo_folder_becomes_frames_in_name_order_upright(photo_folder, tmp_path):
    folder, expected = photo_folder
    assert [p.name for p in photo_files(folder)] == ["a_turned.JPG", "b_portrait.jpg", "c_small.png"]
    info = extract_frames(folder, tmp_path / "frames", tmp_path / "video.json", fps=10, start=1.0)
    frames = read_frames(tmp_path / "frames")
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert frames[0].shape == (600, 900, 3)  # 600x900 stored, shown turned: 900x600
    assert all(np.array_equal(a, b) for a, b in zip(frames, expected))  # each at its own size
    meta = read_info(tmp_path / "video.json")
    assert info.frame_count == meta["frame_count"] == 3
    assert (meta["kind"], meta["fps"], meta["has_audio"], meta["start"]) == ("photos", None, False, None)
    assert meta["photos"] == [{"file": "a_turned.JPG", "width": 900, "height": 600},
                              {"file": "b_portrait.jpg", "width": 874, "height": 1200},
                              {"file": "c_small.png", "width": 180, "height": 120}]
    files = photo_files(folder)
    assert meta["source"]["bytes"] == sum(p.stat().st_size for p in files)
    # the hash covers every photo: changing one changes it
    cv2.imwrite(str(folder / "c_small.png"), expected[2][::-1])
    extract_frames(folder, tmp_path / "again", tmp_path / "again.json", limit=2, format="jpg")
    again = read_info(tmp_path / "again.json")
    assert again["source"]["sha256"] != meta["source"]["sha256"]
    assert (again["frame_count"], again["source_frame_count"]) == (2, 3)
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == ["000000.jpg", "000001.jpg"]


def test_unreadable_photo_or_empty_folder_is_named_and_leaves_nothing(photo_folder, tmp_path):
    folder, _ = photo_folder
    (folder / "b_broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    with pytest.raises(SwaplibError, match=re.escape(f"{folder / 'b_broken.png'}: not a readable image")):
        extract_frames(folder, out / "frames", out / "video.json")
    assert not out.exists() or list(out.iterdir()) == []
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "x.jpg").write_bytes(b"")
    with pytest.raises(SwaplibError, match=re.escape(f"{empty}: no photos in the folder")):
        extract_frames(empty, out / "frames", out / "video.json")
    assert not out.exists() or list(out.iterdir()) == []


def test_frames_settings_agree_with_config_and_schema():
    assert_agreement("frames", extract_frames, ignore=("threads",))


def test_the_frames_code_leaves_encoding_and_the_marks_out():
    """The frames rule hashes video.frames: a change to the encoder or the label must not redo frames."""
    frames_code = {module_name(path) for path in closure("video.frames")}
    assert {"video.frames", "video.photos", "video.probe", "video.ffmpeg"} <= frames_code
    assert not frames_code & {"video.encode", "video.marks"}
    assert "video.marks" in {module_name(path) for path in closure("video.encode")}


@pytest.fixture(scope="module")
def half_video(clip, tmp_path_factory):
    """A 50-frame mp4 with its index first (faststart) cut to half its bytes: the container still
    promises 50 frames, about half of them decode."""
    from video_support import ffmpeg

    folder = tmp_path_factory.mktemp("truncated")
    whole = folder / "whole.mp4"
    ffmpeg("-i", clip("lp_d12_man_glasses_talking"), "-frames:v", "50", "-an", "-c:v", "libx264", "-preset",
           "ultrafast", "-movflags", "+faststart", whole)
    half = folder / "half.mp4"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return half


def test_a_truncated_video_is_an_error_naming_both_counts(half_video, tmp_path):
    assert probe(half_video).frame_count == 50
    with pytest.raises(SwaplibError, match=r"half.mp4: truncated or damaged: its container promises 50 frames "
                                           r"here, but only \d+ decode.*frames.allow_truncated: true"):
        extract_frames(half_video, tmp_path / "frames", tmp_path / "video.json")
    assert not (tmp_path / "frames").exists() and not (tmp_path / "video.json").exists()


def test_allow_truncated_goes_on_with_a_warning_and_records_both_counts(half_video, tmp_path, caplog):
    info = extract_frames(half_video, tmp_path / "frames", tmp_path / "video.json", allow_truncated=True)
    assert 5 < info.frame_count < 45
    assert "truncated or damaged" in caplog.text and "going on with them" in caplog.text
    assert read_info(tmp_path / "video.json")["truncated"] == {"promised": 50, "decoded": info.frame_count}
    # An untouched video records none, and a limit below what it has is no truncation.
    full = extract_frames(half_video.with_name("whole.mp4"), tmp_path / "f2", tmp_path / "v2.json", limit=20)
    assert full.frame_count == 20 and read_info(tmp_path / "v2.json")["truncated"] is None


def test_a_swap_s_provenance_names_its_inputs_by_the_frames_stage_s_hash(photo_folder, clip, tmp_path):
    # one definition of an input's identity: the sidecar's record from video.json is what hashing the path gives
    folder, _ = photo_folder
    for name, path in (("photos", folder), ("video", clip(NO_AUDIO))):
        extract_frames(path, tmp_path / name, tmp_path / f"{name}.json", limit=1)
        recorded = input_record(read_info(tmp_path / f"{name}.json"))
        assert recorded == _file_record(str(path)) and recorded["path"] == str(path)
    assert recorded["kind"] == "video" and "photos" not in recorded
    photos = input_record(read_info(tmp_path / "photos.json"))
    assert photos["kind"] == "photo folder" and photos["photos"] == len(photo_files(folder)) == 3
