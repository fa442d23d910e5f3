"""Tracks across frames, Savitzky-Golay smoothing, and the jitter it removes on a real clip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image
from swaplib.extract.align import mean_face
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.smoothing import (
    assign_tracks,
    eye_jitter,
    face_motion,
    one_euro,
    smooth_landmarks,
    smooth_series,
    zero_lag_one_euro,
)
from swaplib.extract.stage import extract_faces


def box(x, y, side=50):
    return (x, y, x + side, y + side)


def test_tracks_follow_overlapping_boxes_across_a_short_gap():
    # Two faces moving right; B is missing in frame 2 (gap of one frame), then a third appears far away.
    frames = np.array([0, 0, 1, 1, 2, 3, 3, 3])
    boxes = np.array([box(0, 0), box(200, 0), box(5, 0), box(205, 0), box(10, 0), box(15, 0), box(212, 0),
                      box(400, 300)])
    assert assign_tracks(frames, boxes).tolist() == [0, 1, 0, 1, 0, 0, 1, 2]


def test_a_long_gap_starts_a_new_track():
    frames = np.array([0, 1, 9])
    boxes = np.array([box(0, 0), box(2, 0), box(4, 0)])
    assert assign_tracks(frames, boxes, max_gap=5).tolist() == [0, 0, 1]
    assert assign_tracks(frames, boxes, max_gap=10).tolist() == [0, 0, 0]


def test_embeddings_split_two_people_at_one_place():
    # A scene cut: another person's face appears where the first one was.
    frames = np.array([0, 1, 2, 3])
    boxes = np.array([box(0, 0)] * 4)
    a, b = np.zeros(128), np.full(128, 0.1)  # 1.13 apart: two people
    unknown = np.full(128, np.nan)
    embeddings = np.stack([a, unknown, b, unknown])
    assert assign_tracks(frames, boxes, embeddings).tolist() == [0, 0, 1, 1]
    assert assign_tracks(frames, boxes).tolist() == [0, 0, 0, 0]  # boxes alone cannot tell


def test_one_euro_steadies_stillness_and_follows_motion():
    rng = np.random.default_rng(0)
    # In inter-ocular distances (what smooth_landmarks feeds it): a tremble of 1% of the face...
    still = rng.normal(0, 0.01, (200, 4))
    assert zero_lag_one_euro(still, 25, 1.0, 10).std() < 0.5 * still.std()
    # ...and a face crossing the frame at a fifth of its size per frame.
    ramp = np.linspace(0, 20, 100)[:, None] + rng.normal(0, 0.01, (100, 1))
    lag = np.abs(zero_lag_one_euro(ramp, 25, 1.0, 10) - ramp)[10:-10]
    assert lag.mean() < 0.02  # forward and backward lags cancel
    assert np.abs(one_euro(ramp, 25, 1.0, 0.0) - ramp)[10:-10].mean() > 0.5  # a plain low-pass lags


def face_track(count: int, shift_per_frame: float, noise: float, seed: int = 0) -> np.ndarray:
    """(count, 68, 2) landmarks of a face sliding right, trembling by `noise` px."""
    base = mean_face(200, "full") + 100
    move = np.arange(count)[:, None, None] * np.array([shift_per_frame, 0.0])
    return base + move + np.random.default_rng(seed).normal(0, noise, (count, 68, 2))


def test_motion_is_taken_out_before_filtering():
    # A face moving in jerks (as after a frame-rate conversion): still, then 30 px at once.
    count = 40
    jerks = np.zeros((count, 2))
    jerks[::4, 0] = 30.0
    truth = mean_face(200, "full")[None] + np.cumsum(jerks, axis=0)[:, None, :]
    noisy = truth + np.random.default_rng(1).normal(0, 1.0, truth.shape)
    frames, tracks = np.arange(count), np.zeros(count, int)
    with_motion = smooth_landmarks(frames, tracks, noisy, jerks)
    without = smooth_landmarks(frames, tracks, noisy)
    error = lambda points: np.abs(points - truth).mean()  # noqa: E731
    assert error(with_motion) < 0.5 * error(noisy)  # the tremble is gone...
    assert error(without) > error(with_motion)  # ...which a filter blind to the jerks cannot do


def test_smoothing_stays_within_runs():
    # A track with a gap: the jump across it must not be blurred into the frames beside it.
    frames = np.r_[0:10, 20:30]
    landmarks = np.repeat(mean_face(100, "full")[None], 20, axis=0)
    landmarks[10:] += 100.0
    out = smooth_landmarks(frames, np.zeros(20, int), landmarks)
    np.testing.assert_allclose(out, landmarks, atol=1e-6)
    with pytest.raises(SwaplibError, match="cutoff > 0"):
        smooth_landmarks(frames, np.zeros(20, int), landmarks, min_cutoff=0)


def test_face_motion_measures_a_shift_on_the_pixels():
    rng = np.random.default_rng(2)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (200, 240)).astype(np.float32), (0, 0), 2)
    for shift in ([3.25, -1.5], [0.4, 0.2], [-17.0, 9.5]):  # sub-pixel and large
        moved = cv2.warpAffine(texture, np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), (240, 200),
                               flags=cv2.INTER_CUBIC)
        np.testing.assert_allclose(face_motion(texture, moved, (60, 50, 160, 150)), shift, atol=0.1)
    assert np.isnan(face_motion(texture, rng.uniform(0, 255, (200, 240)).astype(np.float32), (60, 50, 160, 150))).all()


def test_eye_jitter_counts_consecutive_frames_only():
    rng = np.random.default_rng(3)
    crop = cv2.GaussianBlur(rng.uniform(0, 255, (128, 128)).astype(np.float32), (0, 0), 1.5)
    shifted = cv2.warpAffine(crop, np.float32([[1, 0, 2.0], [0, 1, 0]]), (128, 128), flags=cv2.INTER_CUBIC,
                             borderMode=cv2.BORDER_REFLECT)
    crops = [crop, shifted, shifted, crop]
    assert eye_jitter(np.array([0, 1, 2, 3]), crops, "whole_face") == pytest.approx(4 / 3, abs=0.1)
    assert eye_jitter(np.array([0, 1, 2, 7]), crops, "whole_face") == pytest.approx(1.0, abs=0.1)
    with pytest.raises(SwaplibError, match="two consecutive"):
        eye_jitter(np.array([0, 2]), crops[:2], "whole_face")


# d20 talks: its mouth and jaw must not drag the measured motion (see smoothing.MOTION_REGION).
@pytest.mark.parametrize("stem", ["lp_d13_man_vertical_selfie", "lp_d20_young_man_talking"])
def test_smoothing_steadies_the_crops_of_a_real_clip(tmp_path, write_frames, stem):
    frames = write_frames(stem, tmp_path / "frames", 30)
    detector = make_detector("dlib-hog")
    jitter = {}
    for smooth in (False, True):
        out = tmp_path / f"smooth_{smooth}"
        table = extract_faces(frames, out / "faces", out / "faces.parquet", detector=detector, size=128,
                              face_type="whole_face", smooth=smooth, threads=2)
        assert table["kept"].all() and table["track_id"].nunique() == 1  # one person, one track
        crops = [read_image(out / "faces" / name) for name in table["file"]]
        jitter[smooth] = eye_jitter(table["frame"].to_numpy(), crops, "whole_face")
    assert jitter[True] < 0.8 * jitter[False], jitter


def test_smooth_series_steadies_each_run_of_each_track_alone():
    rng = np.random.default_rng(5)
    frames = np.r_[0:40, 50:90, 0:40]  # track 0 with a gap at 40-49, then track 1
    tracks = np.r_[np.zeros(80, int), np.ones(40, int)]
    truth = np.r_[np.full(40, 0.2), np.full(40, -0.3), np.full(40, 0.5)]
    noisy = truth + rng.normal(0, 0.01, len(truth))
    steady = smooth_series(frames, tracks, noisy, fps=25, min_cutoff=0.25, beta=2.5, eye_distance=0.55)
    assert np.abs(np.diff(steady[:40])).mean() < 0.3 * np.abs(np.diff(noisy[:40])).mean()
    np.testing.assert_allclose(steady, truth, atol=0.02)  # no run leaks into another


def test_the_head_crops_yaw_shift_is_steadied_along_the_track(tmp_path, write_frames, monkeypatch):
    """The head window's yaw shift rides on the jaw points, the least steady ones: smoothed along the
    track it trembles less than taken frame by frame (lp_d20 talks, turned a little)."""
    from swaplib.extract import stage as faces_module

    frames = write_frames("lp_d20_young_man_talking", tmp_path / "frames", 40)
    detector = make_detector("dlib-hog")
    jitter = {}
    for steadied in (False, True):
        if not steadied:  # each frame's own shift
            monkeypatch.setattr(faces_module, "smooth_series", lambda frames, tracks, values, **_: values)
        else:
            monkeypatch.undo()
        out = tmp_path / f"head_{steadied}"
        table = extract_faces(frames, out / "faces", out / "faces.parquet", detector=detector, size=128,
                              face_type="head", threads=2)
        crops = [read_image(out / "faces" / name) for name in table["file"]]
        jitter[steadied] = eye_jitter(table["frame"].to_numpy(), crops, "head")
    assert jitter[True] < 0.8 * jitter[False], jitter
