"""Head pose from 68 landmarks: known poses come back, and a mirrored real face turns the other way."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.pose import head_pose, rotate_model


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, 0, 0), (-45, 10, 0), (0, -20, 15), (60, 25, -10)])
def test_known_poses_come_back(angles):
    rng = np.random.default_rng(0)
    points = rotate_model(*angles) * 180 + (320, 240) + rng.normal(0, 0.3, (68, 2))  # a ~200 px face, 0.3 px noise
    assert np.allclose(np.ravel(head_pose(points[None])), angles, atol=1.5)


def test_pose_ignores_where_the_face_is_and_how_big():
    base = rotate_model(20, -10, 5)
    faces = np.stack([base * 100 + 50, base * 400 + (900, 20)])
    yaw, pitch, roll = head_pose(faces)
    assert np.allclose(yaw, 20, atol=1e-6) and np.allclose(pitch, -10, atol=1e-6) and np.allclose(roll, 5, atol=1e-6)


def test_a_mirrored_real_face_has_the_opposite_yaw(clip):
    """Frames where the woman turns her head either way; the mirrored frame turns the other way."""
    detector = make_detector("dlib", upsample=0)
    capture = cv2.VideoCapture(str(clip("lp_d3_woman_expressions")))
    frames = {}
    for number in range(141):
        ok, frame = capture.read()
        assert ok
        if number in (20, 140):  # turned about 20 degrees each way
            frames[number] = frame
    for frame in frames.values():
        original = detector.detect(frame)[0].landmarks
        mirrored = detector.detect(cv2.flip(frame, 1))[0].landmarks
        yaw, pitch, roll = head_pose(np.stack([original, mirrored]))
        assert abs(yaw[0]) > 10, "pick frames with a turned head"
        assert np.sign(yaw[0]) == -np.sign(yaw[1]) and abs(yaw[0] + yaw[1]) < 5
        assert abs(pitch[0] - pitch[1]) < 5 and abs(roll[0] + roll[1]) < 5


def test_bad_shapes_are_refused():
    with pytest.raises(SwaplibError, match=r"\(N, 68, 2\) landmarks, got shape \(68, 2\)"):
        head_pose(np.zeros((68, 2)))
    assert all(len(a) == 0 for a in head_pose(np.zeros((0, 68, 2))))
