"""swaplib.video on the real clips: probe, frame extraction, encoding with the synthetic marks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from swaplib.video import encode, marks
from swaplib.video.encode import encode_video
from swaplib.video.ffmpeg import ffmpeg_exe
from swaplib.video.frames import _ffmpeg_jpeg_scale, extract_frames, read_info
from swaplib.video.marks import SYNTHETIC_TAG, find_font, read_metadata_tags
from swaplib.video.photos import photo_files
from swaplib.video.probe import probe
from swaplib.core.errors import SwaplibError

# name -> (width, height, frames, duration s, audio), as in the test data README.
CLIPS = {
    "lp_d12_man_glasses_talking": (512, 512, 183, 7.32, True),
    "lp_d20_young_man_talking": (480, 480, 175, 7.0, True),
    "lp_d3_woman_expressions": (512, 512, 200, 8.0, False),
    "lp_s18_woman_landscape_talking": (512, 288, 200, 8.0, True),
    "lp_d13_man_vertical_selfie": (288, 512, 200, 8.0, False),
    "fr_hamilton_stage_multi_HARD": (512, 288, 175, 7.0, True),
}
WITH_AUDIO, NO_AUDIO = "lp_d12_man_glasses_talking", "lp_d3_woman_expressions"
N = 12  # frames per test extraction: enough to check counts, small enough to stay fast


def ffmpeg(*args) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def decode_gray(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="gray") for f in container.decode(video=0)]).astype(np.float32)


def leftovers(folder: Path) -> list[str]:
    """Temporary names the atomic writers use (dot-prefixed)."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


@pytest.fixture(scope="module")
def frames(clip, tmp_path_factory):
    """frames(stem) -> folder with the first N png frames of that clip (extracted once per module)."""
    done: dict[str, Path] = {}

    def _frames(stem: str) -> Path:
        if stem not in done:
            root = tmp_path_factory.mktemp(stem)
            extract_frames(clip(stem), root / "frames", root / "video.json", limit=N)
            done[stem] = root / "frames"
        return done[stem]

    return _frames


# --------------------------------------------------------------------------------------- probe


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


def _make_bad_input(kind: str, folder: Path, real_clip: Path) -> Path:
    path = folder / f"bad_{kind}.mp4"
    if kind == "text":
        path.write_text("this is not a video\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(real_clip.read_bytes()[:2048])
    elif kind == "jpeg":
        cv2.imwrite(str(folder / "still.jpg"), np.full((32, 48, 3), 128, np.uint8))
        (folder / "still.jpg").rename(path)
    elif kind == "audio_only":
        path = folder / "audio_only.m4a"
        ffmpeg("-i", real_clip, "-vn", "-c:a", "copy", "-t", "0.5", path)
    elif kind == "no_frames":  # a well-formed mp4 holding no frame at all
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=25", "-frames:v", "0", "-c:v", "libx264", path)
    return path  # "missing": never created


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "truncated", "jpeg", "audio_only", "no_frames"])
def test_probe_rejects_non_videos(clip, tmp_path, kind):
    path = _make_bad_input(kind, tmp_path, clip(WITH_AUDIO))
    with pytest.raises(SwaplibError, match=str(path)):
        probe(path)


# ------------------------------------------------------------------------------------ extract


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
    bad = _make_bad_input("text", tmp_path, Path("unused"))
    with pytest.raises(SwaplibError, match=str(bad)):
        extract_frames(bad, tmp_path / "frames", tmp_path / "video.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name]


def test_extract_frames_rejects_unknown_format(clip, tmp_path):
    with pytest.raises(SwaplibError, match="image format"):
        extract_frames(clip(NO_AUDIO), tmp_path / "frames", tmp_path / "video.json", format="bmp")


# ------------------------------------------------------------------------------------- encode


@pytest.mark.parametrize("stem", [WITH_AUDIO, NO_AUDIO])
def test_encode_round_trip_with_audio_and_marks(clip, frames, tmp_path, stem):
    out = tmp_path / "pairs" / "p.mp4"
    encode_video(frames(stem), out, fps="25/1", audio_source=clip(stem), provenance={"pair": "p"})
    info = probe(out)
    assert (info.frame_count, info.fps_fraction, info.width, info.height) == (N, "25/1", 512, 512)
    assert info.has_audio is CLIPS[stem][4]
    if info.has_audio:  # cut to the video's length
        with av.open(str(out)) as container:
            audio = container.streams.audio[0]
            assert float(audio.duration * audio.time_base) == pytest.approx(N / 25, abs=0.05)
    assert read_metadata_tags(out)["comment"] == SYNTHETIC_TAG
    sidecar = json.loads(out.with_suffix(".provenance.json").read_text())
    assert sidecar["synthetic"] is True and sidecar["pair"] == "p"
    assert sidecar["generator"].startswith("swaplib ") and sidecar["created"]
    assert leftovers(out.parent) == []


def test_provenance_cannot_unset_synthetic(frames, tmp_path):
    out = tmp_path / "p.mp4"
    encode_video(frames(NO_AUDIO), out, fps="25/1", provenance={"synthetic": False})
    assert json.loads(out.with_suffix(".provenance.json").read_text())["synthetic"] is True


def test_encode_keeps_an_ntsc_rate_exactly(frames, tmp_path):
    out = tmp_path / "ntsc.mp4"
    encode_video(frames(NO_AUDIO), out, fps="30000/1001")
    info = probe(out)
    assert (info.fps_fraction, info.frame_count) == ("30000/1001", N)


def test_label_is_burnt_in_bottom_left_only(frames, tmp_path):
    plain, labelled = tmp_path / "plain.mp4", tmp_path / "labelled.mp4"
    encode_video(frames(NO_AUDIO), plain, fps="25/1", label="")
    encode_video(frames(NO_AUDIO), labelled, fps="25/1", label="SYNTHETIC (face-swapped)")
    diff = np.abs(decode_gray(plain) - decode_gray(labelled)).mean(axis=0)
    height, width = diff.shape
    rows, cols = np.nonzero(diff > 10)  # strong changes: the label and its box
    assert rows.min() > 0.8 * height and cols.min() < 0.1 * width and cols.max() < 0.75 * width
    assert diff[int(height * 0.85) :, : width // 2].mean() > 10
    # Elsewhere only x264's small ripple from a changed bit budget.
    assert diff[: int(height * 0.8)].mean() < 1.5


def test_encode_odd_size_and_awkward_paths(frames, monkeypatch, tmp_path):
    """Odd sizes are padded by 1px; '%', quotes, ':' and ',' in paths and label survive ffmpeg."""
    odd = tmp_path / "100% it's [odd],dir;x"
    odd.mkdir()
    for src in sorted(frames(NO_AUDIO).iterdir()):
        cv2.imwrite(str(odd / src.name), cv2.imread(str(src))[:287, :511])
    font_dir = tmp_path / "fonts: a'b,[c]"
    font_dir.mkdir()
    font = shutil.copy(find_font(), font_dir / "font.ttf")
    monkeypatch.setattr(marks, "find_font", lambda: Path(font))
    out = tmp_path / "odd.mp4"
    encode_video(odd, out, fps="25/1", label="it's 100% fake: a,b [c];d \\ %{pts}")
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (512, 288, N)


def decode_rgb(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.mark.parametrize("label", ["it's 100% fake: a\\b", "C:\\x = 'y' %{pts} [z];w,v"])
def test_label_is_drawn_character_for_character(frames, monkeypatch, tmp_path, label):
    """The label given as drawtext's text (escaped by ffmpeg-python) draws exactly what drawtext
    draws from a file holding the label (no escaping at all), with the font in an awkward folder."""
    font_dir = tmp_path / "fonts 100% it's: a,b [c]"
    font_dir.mkdir()
    font = shutil.copy(find_font(), font_dir / "font.ttf")
    monkeypatch.setattr(marks, "find_font", lambda: Path(font))
    options = {"fps": "25/1", "lossless": True, "preset": "ultrafast"}  # lossless: pixels compare exactly
    encode_video(frames(NO_AUDIO), tmp_path / "text.mp4", label=label, **options)
    encode_video(frames(NO_AUDIO), tmp_path / "plain.mp4", label="", **options)

    text_file = tmp_path / "label.txt"
    text_file.write_text(label, encoding="utf-8")

    def from_file(picture, label, height, corner):
        return picture.drawtext(textfile=str(text_file), expansion="none", **marks.label_style(height, corner))

    monkeypatch.setattr(encode, "draw_label", from_file)
    encode_video(frames(NO_AUDIO), tmp_path / "file.mp4", label=label, **options)
    drawn, reference = decode_rgb(tmp_path / "text.mp4"), decode_rgb(tmp_path / "file.mp4")
    assert np.array_equal(drawn, reference)
    assert not np.array_equal(drawn, decode_rgb(tmp_path / "plain.mp4"))  # a label was drawn


def test_encode_jpg_frames(clip, tmp_path):
    extract_frames(clip(NO_AUDIO), tmp_path / "frames", tmp_path / "video.json", limit=3, format="jpg")
    encode_video(tmp_path / "frames", tmp_path / "out.mp4", fps="25/1")
    assert probe(tmp_path / "out.mp4").frame_count == 3


def test_encode_failures_leave_no_output(frames, tmp_path):
    out = tmp_path / "out" / "p.mp4"
    (tmp_path / "empty").mkdir()
    with pytest.raises(SwaplibError, match="no frame images"):
        encode_video(tmp_path / "empty", out, fps="25/1")

    gappy = tmp_path / "gappy"
    shutil.copytree(frames(NO_AUDIO), gappy)
    (gappy / "000003.png").unlink()
    with pytest.raises(SwaplibError, match="without gaps"):
        encode_video(gappy, out, fps="25/1")

    broken = tmp_path / "broken"
    shutil.copytree(frames(NO_AUDIO), broken)
    (broken / "000005.png").write_bytes(b"not a png")
    with pytest.raises(SwaplibError, match="11 frames from 12 images") as error:
        encode_video(broken, out, fps="25/1")
    assert str(out) in str(error.value) and "000005.png" in str(error.value)  # ffmpeg's log

    with pytest.raises(SwaplibError, match="frame rate"):
        encode_video(frames(NO_AUDIO), out, fps="0/1")
    assert not out.exists() and not out.with_suffix(".provenance.json").exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_find_font_finds_a_truetype_file():
    assert find_font().suffix == ".ttf"


# ------------------------------------------------------------------------ encode options, marks


def audio_packets(path: Path, n: int = 8) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [bytes(p) for p, _ in zip((p for p in container.demux(stream) if p.size), range(n))]


def test_audio_is_copied_without_re_encoding(clip, frames, tmp_path):
    out = tmp_path / "p.mp4"
    encode_video(frames(WITH_AUDIO), out, fps="25/1", audio_source=clip(WITH_AUDIO))
    assert audio_packets(out) == audio_packets(clip(WITH_AUDIO))  # the very same AAC packets
    sidecar = json.loads(out.with_suffix(".provenance.json").read_text())
    assert sidecar["audio"] == {"source": str(clip(WITH_AUDIO)), "codec": "aac", "handling": "copied", "start": 0.0}


def test_audio_mp4_cannot_hold_is_re_encoded_to_aac(frames, tmp_path):
    wav = tmp_path / "voice.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "pcm_s16le", wav)
    out = tmp_path / "p.mp4"
    encode_video(frames(NO_AUDIO), out, fps="25/1", audio_source=wav)
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
    assert json.loads(out.with_suffix(".provenance.json").read_text())["audio"]["handling"] == "re-encoded to aac"


def test_lossless_keeps_every_pixel(frames, tmp_path):
    out = tmp_path / "lossless.mp4"
    encode_video(frames(NO_AUDIO), out, fps="25/1", lossless=True, preset="ultrafast", label="")
    with av.open(str(out)) as container:
        decoded = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    originals = [cv2.imread(str(p)) for p in sorted(frames(NO_AUDIO).iterdir())]
    assert len(decoded) == len(originals) == N
    assert all(np.array_equal(a, b) for a, b in zip(decoded, originals))
    assert json.loads(out.with_suffix(".provenance.json").read_text())["encoding"]["codec"] == "libx264rgb"


def test_label_goes_to_the_corner_asked_for(frames, tmp_path):
    plain, labelled = tmp_path / "plain.mp4", tmp_path / "labelled.mp4"
    encode_video(frames(NO_AUDIO), plain, fps="25/1", preset="ultrafast", label="")
    encode_video(frames(NO_AUDIO), labelled, fps="25/1", preset="ultrafast", label="SYNTHETIC",
                       label_corner="top-right")
    diff = np.abs(decode_gray(plain) - decode_gray(labelled)).mean(axis=0)
    rows, cols = np.nonzero(diff > 10)
    height, width = diff.shape
    assert rows.max() < 0.2 * height and cols.min() > 0.5 * width


def test_provenance_names_inputs_by_hash_and_the_model_and_its_settings(clip, frames, tmp_path):
    report = tmp_path / "merge.json"
    model = {"path": "results/models/m/model.pt", "sha256": "ab" * 32, "iterations": 7}
    report.write_text(json.dumps({"settings": {"mode": "overlay"}, "overrides": {"file": None, "rows": []},
                                  "frames": N, "swapped": N - 1, "failed": 1, "model": model}))
    out = tmp_path / "p.mp4"
    source, destination = clip("lp_d12_man_glasses_talking"), clip(NO_AUDIO)
    encode_video(frames(NO_AUDIO), out, fps="25/1", crf=20, preset="veryfast", merge_report=report,
                       provenance={"pair": "p", "source": str(source), "destination": str(destination), "model": "m"})
    sidecar = json.loads(out.with_suffix(".provenance.json").read_text())
    for key, path in (("source", source), ("destination", destination)):
        assert sidecar[key] == {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                "bytes": path.stat().st_size}
    assert sidecar["model"] == "m" and sidecar["model_file"] == model
    assert sidecar["merge"] == {"settings": {"mode": "overlay"}, "overrides": {"file": None, "rows": []},
                                "frames": N, "swapped": N - 1, "failed": 1}
    assert sidecar["encoding"] == {"codec": "libx264", "preset": "veryfast", "crf": 20, "lossless": False,
                                   "side_by_side": False}
    assert sidecar["synthetic"] is True and sidecar["swaplib_version"] and sidecar["created"]
    description = read_metadata_tags(out)["description"]
    assert SYNTHETIC_TAG in description and "swaplib" in description and "model: m" in description
    assert "abababab" in description


def test_side_by_side_review_puts_the_destination_left(frames, tmp_path):
    out = tmp_path / "review.mp4"
    encode_video(frames(NO_AUDIO), out, fps="25/1", preset="ultrafast", compare_dir=frames(NO_AUDIO))
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (1024, 512, N)
    with pytest.raises(SwaplibError, match="cannot be shown side by side"):
        encode_video(frames(NO_AUDIO), out, fps="25/1", compare_dir=frames("lp_s18_woman_landscape_talking"))


def test_unknown_preset_and_corner_are_named(frames, tmp_path):
    with pytest.raises(SwaplibError, match="unknown x264 preset 'quick'"):
        encode_video(frames(NO_AUDIO), tmp_path / "p.mp4", fps="25/1", preset="quick")
    with pytest.raises(SwaplibError, match="unknown label corner 'middle'"):
        encode_video(frames(NO_AUDIO), tmp_path / "p.mp4", fps="25/1", label_corner="middle")


# ----------------------------------------------------------------- rates, cuts, quality, source


def make_vfr(path: Path, source: Path, fast: int = 25, slow: int = 10, frames: int = 35) -> Path:
    """`fast` frames 1/25 s apart, then the rest 1/10 s apart: a variable frame rate."""
    spacing = f"if(lt(N,{fast}),N/25,{fast}/25+(N-{fast})/{slow})/TB"
    ffmpeg("-i", source, "-frames:v", str(frames), "-vf", f"setpts='{spacing}'", "-fps_mode", "vfr",
           "-c:v", "libx264", "-preset", "ultrafast", path)
    return path


def read_frames(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted(folder.iterdir())]


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


def test_decode_and_encode_log_progress(clip, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="swaplib.video")
    extract_frames(clip(NO_AUDIO), tmp_path / "frames", tmp_path / "video.json", limit=N)
    encode_video(tmp_path / "frames", tmp_path / "out.mp4", fps="25/1", preset="ultrafast")
    messages = [r.getMessage() for r in caplog.records]
    assert any("frames decoded 12/12 (100%)" in m for m in messages), messages
    assert any("out.mp4: frames encoded 12/12 (100%)" in m and "ETA" in m for m in messages), messages


# -------------------------------------------------------------------------- audio after a cut


def mono_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].rate
        return np.concatenate([f.to_ndarray().astype(np.float64).mean(axis=0) for f in container.decode(audio=0)]), rate


def audio_offset(source: Path, encoded: Path) -> tuple[float, float]:
    """Where in the source's audio the encoded video's audio begins (s), and how well it matches (0..1)."""
    from scipy import signal

    full, rate = mono_audio(source)
    part, _ = mono_audio(encoded)
    corr = signal.correlate(full, part, mode="valid", method="fft")
    energy = np.sqrt(signal.correlate(full**2, np.ones(len(part)), mode="valid", method="fft").clip(1e-12))
    match = corr / energy / np.linalg.norm(part)
    return match.argmax() / rate, float(match.max())


def test_audio_of_a_cut_destination_stays_in_sync(clip, tmp_path):
    source = clip(WITH_AUDIO)
    extract_frames(source, tmp_path / "frames", tmp_path / "video.json", start=2.0, limit=25)
    meta = read_info(tmp_path / "video.json")
    out = tmp_path / "cut.mp4"
    encode_video(tmp_path / "frames", out, fps=meta["fps_fraction"], audio_source=source,
                       audio_start=meta["start"], preset="ultrafast")
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        assert float(audio.duration * audio.time_base) == pytest.approx(1.0, abs=0.05)  # the video's length
    offset, match = audio_offset(source, out)
    assert offset == pytest.approx(2.0, abs=0.01) and match > 0.95
    assert json.loads(out.with_suffix(".provenance.json").read_text())["audio"]["start"] == 2.0
    # Without the start the audio would begin at 0 s: 2 s ahead of the pictures.
    early = tmp_path / "early.mp4"
    encode_video(tmp_path / "frames", early, fps=meta["fps_fraction"], audio_source=source, preset="ultrafast")
    assert audio_offset(source, early)[0] == pytest.approx(0.0, abs=0.01)
    with pytest.raises(SwaplibError, match="audio start must be >= 0"):
        encode_video(tmp_path / "frames", early, fps="25/1", audio_source=source, audio_start=-1)


# --------------------------------------------------------------------------- photos as frames


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
