"""swaplib.video.encode and .marks: frames back into a video, with its audio and the synthetic marks."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import av
import cv2
import ffmpeg as ffmpeg_graph
import numpy as np
import pytest

from settings_agreement import assert_agreement
from swaplib.core.errors import SwaplibError
from swaplib.video import encode, marks
from swaplib.video.encode import encode_video
from swaplib.video.ffmpeg import run_ffmpeg
from swaplib.video.frames import extract_frames, read_info
from swaplib.video.marks import SYNTHETIC_TAG, find_font, read_metadata_tags
from swaplib.video.probe import probe
from swaplib.video.signing import C2paSettings
from video_support import (
    CLIPS,
    NO_AUDIO,
    WITH_AUDIO,
    N,
    decode_gray,
    ffmpeg,
    leftovers,
)


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
        assert sidecar[key] == {"path": str(path), "kind": "video",
                                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size}
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


def test_decode_and_encode_log_progress(clip, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="swaplib.video")
    extract_frames(clip(NO_AUDIO), tmp_path / "frames", tmp_path / "video.json", limit=N)
    encode_video(tmp_path / "frames", tmp_path / "out.mp4", fps="25/1", preset="ultrafast")
    messages = [r.getMessage() for r in caplog.records]
    assert any("frames decoded 12/12 (100%)" in m for m in messages), messages
    assert any("out.mp4: frames encoded 12/12 (100%)" in m and "ETA" in m for m in messages), messages


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


def test_video_settings_agree_with_config_and_schema():
    # The rest are the job's inputs: the frames' rate and where they start, the audio, the records.
    inputs = ("fps", "audio_source", "audio_start", "provenance", "merge_report", "compare_dir")
    assert_agreement("video", encode_video, ignore=inputs, workflow=("mask_output",))
    assert_agreement("video.c2pa", C2paSettings)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full, a device that is always full")
def test_a_full_disk_is_said_in_words():
    stream = ffmpeg_graph.input("testsrc=size=64x64:rate=5", f="lavfi").output("/dev/full", f="rawvideo",
                                                                                 **{"frames:v": 20})
    with pytest.raises(SwaplibError, match=r"(?s)writing test frames: ffmpeg failed .*\nthe disk is full: free space"):
        run_ffmpeg(stream, "writing test frames")
