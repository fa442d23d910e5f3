"""Alignment: the template's geometry, the similarity fit, warps both ways, the hull mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.extract.align import (
    ALIGN_POINTS,
    FACE_TYPES,
    face_matrix,
    head_shift,
    hull_mask,
    invert,
    mean_face,
    transform_points,
    warp_to_face,
    warp_to_frame,
)
from swaplib.extract.pose import rotate_model

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    linear = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([linear, np.array(shift)[:, None]])


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return points[36:42].mean(axis=0), points[42:48].mean(axis=0)


@pytest.mark.parametrize("face_type", FACE_TYPES)
def test_template_is_level_symmetric_and_inside(face_type):
    size = 256
    template = mean_face(size, face_type)
    assert template.shape == (68, 2)
    np.testing.assert_array_equal(template, mean_face(size, face_type))  # deterministic
    left, right = eye_centres(template)
    assert abs(left[1] - right[1]) < 1e-9
    assert left[0] < right[0]
    # Left-right symmetric about the crop's vertical midline.
    assert abs((left[0] + right[0]) / 2 - size / 2) < 1e-6
    # Brows, eyes, nose and mouth are in every crop; the jaw too from "full" on.
    inner = template if FACE_TYPES.index(face_type) >= FACE_TYPES.index("full") else template[17:]
    assert np.all((inner >= 0) & (inner <= size))
    np.testing.assert_allclose(mean_face(128, face_type), template / 2)


def test_face_types_ordered_by_margin():
    def face_height(face_type: str) -> float:
        template = mean_face(256, face_type)
        return template[8, 1] - template[17:27, 1].min()  # chin to top of the brows

    heights = [face_height(t) for t in FACE_TYPES]
    assert all(a > b for a, b in zip(heights, heights[1:])), heights
    # The forehead types leave more room above the brows than below the chin.
    for face_type in ("whole_face", "head"):
        template = mean_face(256, face_type)
        assert template[17:27, 1].min() > 256 - template[8, 1]


def test_unknown_face_type():
    with pytest.raises(SwaplibError, match="unknown face type 'tiny'.*whole_face"):
        mean_face(64, "tiny")


@pytest.mark.parametrize("face_type", FACE_TYPES)
def test_template_maps_onto_itself(face_type):
    matrix = face_matrix(mean_face(200, face_type), 200, face_type)
    assert matrix.shape == (2, 3) and matrix.dtype == np.float64
    np.testing.assert_allclose(matrix, IDENTITY, atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_recovers_a_known_similarity(seed):
    rng = np.random.default_rng(seed)
    size, face_type = 256, FACE_TYPES[seed % len(FACE_TYPES)]
    crop_to_frame = similarity(rng.uniform(-60, 60), rng.uniform(0.3, 4.0), tuple(rng.uniform(-500, 500, 2)))
    template = mean_face(size, face_type)
    landmarks = transform_points(template, crop_to_frame)
    matrix = face_matrix(landmarks, size, face_type)
    np.testing.assert_allclose(matrix, invert(crop_to_frame), atol=1e-6)
    np.testing.assert_allclose(transform_points(landmarks, matrix), template, atol=1e-6)


def test_mirrored_face_is_not_reflected():
    landmarks = mean_face(256) * [-1, 1]  # a mirror image: the fit must stay a rotation
    linear = face_matrix(landmarks, 256)[:, :2]
    assert np.linalg.det(linear) > 0


def test_bad_landmarks():
    with pytest.raises(SwaplibError, match="68"):
        face_matrix(np.zeros((5, 2)), 128)
    with pytest.raises(SwaplibError, match="coincide"):
        face_matrix(np.zeros((68, 2)), 128)


def test_invert():
    matrix = similarity(25, 1.7, (30, -12))
    inverse = invert(matrix)
    points = np.random.default_rng(1).uniform(-100, 100, (10, 2))
    np.testing.assert_allclose(transform_points(transform_points(points, matrix), inverse), points, atol=1e-9)
    np.testing.assert_allclose(invert(inverse), matrix, atol=1e-12)


def smooth_frame(height: int, width: int) -> np.ndarray:
    """Smooth random colour texture: interpolation error stays small, misplacement does not."""
    noise = np.random.default_rng(2).uniform(0, 255, (height // 8, width // 8, 3)).astype(np.float32)
    return cv2.resize(cv2.GaussianBlur(noise, (0, 0), 1.0), (width, height), interpolation=cv2.INTER_CUBIC).clip(
        0, 255
    ).astype(np.uint8)


def test_warp_round_trip_reproduces_the_face_region():
    frame = smooth_frame(360, 480)
    size = 256
    # A face of ~150 px, tilted, placed in the frame.
    landmarks = transform_points(mean_face(size, "full"), similarity(15, 0.6, (180, 90)))
    matrix = face_matrix(landmarks, size, "full")
    crop = warp_to_face(frame, matrix, size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    back = warp_to_frame(crop, matrix, frame.shape)
    assert back.shape == frame.shape

    inside = cv2.erode(hull_mask(landmarks, frame.shape[:2]), np.ones((5, 5), np.uint8)) > 0
    error = np.abs(back.astype(float) - frame.astype(float))[inside].mean()
    assert error < 3.0
    # Pixels away from the crop's footprint (beyond the interpolation kernel) are left black.
    footprint = warp_to_frame(np.ones((size, size), np.float32), matrix, frame.shape) > 0
    near = cv2.dilate(footprint.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert np.all(back[~near] == 0)
    assert footprint.mean() < 0.6


def test_float_mask_round_trip_stays_in_range():
    size = 128
    landmarks = transform_points(mean_face(size), similarity(-10, 1.5, (40, 60)))
    matrix = face_matrix(landmarks, size)
    mask = hull_mask(mean_face(size), (size, size))
    in_frame = warp_to_frame(mask, matrix, (400, 400, 3))
    assert in_frame.shape == (400, 400) and in_frame.dtype == np.float32
    assert in_frame.min() >= 0.0 and in_frame.max() <= 1.0
    # The mask lands on the face in the frame: compare with the hull drawn there directly.
    direct = hull_mask(landmarks, (400, 400))
    overlap = (np.minimum(in_frame, direct)).sum() / np.maximum(in_frame, direct).sum()
    assert overlap > 0.95


def test_hull_mask_covers_landmarks_and_forehead():
    landmarks = mean_face(256, "whole_face")
    mask = hull_mask(landmarks, (256, 256))
    assert mask.shape == (256, 256) and mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, 1.0}
    x, y = np.round(landmarks).astype(int).T
    assert np.all(mask[y, x] == 1.0)
    # The forehead above the brows is inside the mask, the top of the crop is not.
    brow_top = int(landmarks[17:27, 1].min())
    assert mask[brow_top - 10, 128] == 1.0
    assert mask[5, 128] == 0.0
    assert hull_mask(landmarks, (256, 256), forehead=0.0)[brow_top - 10, 128] == 0.0


def blob_frame(points: np.ndarray, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """float32 image with a small Gaussian spot centred exactly at each (sub-pixel) point."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    image = np.zeros(shape, np.float64)
    for x, y in points:
        image += np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return image.astype(np.float32)


def spot_centres(image: np.ndarray, near: np.ndarray, radius: int) -> np.ndarray:
    """Intensity centroid of the image around each expected point (finds where a spot really is)."""
    centres = []
    for x, y in near:
        x0, y0 = int(round(x)) - radius, int(round(y)) - radius
        patch = image[y0 : y0 + 2 * radius + 1, x0 : x0 + 2 * radius + 1].astype(np.float64)
        ys, xs = np.mgrid[0 : patch.shape[0], 0 : patch.shape[1]]
        centres.append(((xs * patch).sum() / patch.sum() + x0, (ys * patch).sum() / patch.sum() + y0))
    return np.array(centres)


@pytest.mark.parametrize("face_type", ["full", "whole_face"])
def test_pixels_round_trip_within_half_a_pixel(face_type):
    # Spots drawn at the eye and mouth corners of a tilted face land, in the crop, where the
    # matrix says, and back in the frame where they started: no half-pixel convention slips.
    size = 256
    landmarks = transform_points(mean_face(size, "full"), similarity(12, 0.9, (60, 40)))
    matrix = face_matrix(landmarks, size, face_type)
    marks = landmarks[[36, 45, 48, 54]]
    frame = blob_frame(marks, (400, 400), sigma=2.5)
    crop = warp_to_face(frame, matrix, size)
    in_crop = transform_points(marks, matrix)
    assert np.abs(spot_centres(crop, in_crop, 7) - in_crop).max() < 0.5
    back = warp_to_frame(crop, matrix, frame.shape)
    assert np.abs(spot_centres(back, marks, 7) - marks).max() < 0.5
    # The stored geometry itself: landmarks -> crop -> frame.
    assert np.abs(transform_points(transform_points(landmarks, matrix), invert(matrix)) - landmarks).max() < 1e-6


def crop_corners_in_frame(landmarks: np.ndarray, face_type: str, size: int = 256) -> np.ndarray:
    corners = np.array([(0, 0), (size, 0), (size, size), (0, size)], np.float64)
    return transform_points(corners, invert(face_matrix(landmarks, size, face_type)))


def crop_inside(landmarks: np.ndarray, inner: str, outer: str) -> float:
    """Least distance (frame px) of the inner crop's corners inside the outer crop's square; < 0 outside."""
    outer_square = crop_corners_in_frame(landmarks, outer).astype(np.float32)
    return min(cv2.pointPolygonTest(outer_square, tuple(map(float, corner)), True)
               for corner in crop_corners_in_frame(landmarks, inner))


def detect_one(image: np.ndarray) -> np.ndarray:
    from swaplib.extract.detect.backends import make_detector

    [face] = make_detector("dlib-hog").detect(image)
    return face.landmarks


def test_face_type_crops_nest_on_a_real_face(photo):
    # head ⊃ whole_face ⊃ full ⊃ mid_full ⊃ half, on the landmarks of a real, slightly tilted face.
    landmarks = detect_one(cv2.imread(str(photo("lp_d30_woman_hand_on_face"))))
    for inner, outer in zip(FACE_TYPES, FACE_TYPES[1:]):
        assert crop_inside(landmarks, inner, outer) > 0, (inner, outer)


def test_coverage_follows_deepfacelab():
    # DFL: side = 1 + 2*sqrt(2)*padding in its unit frame, so the sides relative to "half" are
    # fixed by its paddings whatever the unit; and the forehead types move up.
    paddings = {"half": 0.0, "mid_full": 0.0675, "full": 0.2109375, "whole_face": 0.40, "head": 0.70}

    def side(face_type: str) -> float:  # crop side in template-face units (inter-ocular distance)
        template = mean_face(1000, face_type)
        left, right = eye_centres(template)
        return 1000 / np.linalg.norm(right - left)

    for face_type, padding in paddings.items():
        assert side(face_type) / side("half") == pytest.approx(1 + 2 * np.sqrt(2) * padding, rel=2e-3)
    eyes_at = {t: eye_centres(mean_face(1000, t))[0][1] / 1000 for t in FACE_TYPES}
    assert eyes_at["whole_face"] > eyes_at["full"] and eyes_at["head"] > eyes_at["whole_face"]


# ----------------------------------------------------------------------------- head follows yaw
# A turned face's head reaches out behind it, so the head crop moves sideways with the yaw (as
# DFL's does); the face then sits off the crop's centre, towards where it looks.


def head_offset(landmarks: np.ndarray, face_type: str = "head", size: int = 256) -> float:
    """How far (px, + = right) the face sits in its crop from the frontal template's place.

    The similarity fit takes the centroid of the fitted points exactly onto the template's, so
    this is the window's own move, free of the fit's residuals."""
    in_crop = transform_points(landmarks, face_matrix(landmarks, size, face_type))
    return float(in_crop[ALIGN_POINTS, 0].mean() - mean_face(size, face_type)[ALIGN_POINTS, 0].mean())


def posed(yaw: float, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """The 3D model's landmarks in that pose, as a ~200 px face somewhere in a frame."""
    return rotate_model(yaw, pitch, roll) * 200 + (320, 240)


def mirror(landmarks: np.ndarray) -> np.ndarray:
    """The landmarks of the mirror image: x flipped, left and right points swapped.

    The template is exactly left-right symmetric, so each point's partner is the one at its
    mirrored place there."""
    template = mean_face(1)
    flipped = template * [-1, 1] + [1, 0]
    partner = np.linalg.norm(template[:, None] - flipped[None], axis=2).argmin(axis=1)
    assert sorted(partner) == list(range(68)) and np.all(partner[partner] == np.arange(68))
    return (landmarks * [-1, 1])[partner]


@pytest.mark.parametrize("pitch, roll", [(0, 0), (15, 0), (0, 25)])
def test_frontal_model_face_gets_no_head_shift(pitch, roll):
    assert abs(head_offset(posed(0, pitch, roll))) < 1e-6


@pytest.mark.parametrize("stem", ["fr_alex_lacamoire", "fr_obama"])
def test_frontal_real_face_gets_no_head_shift(photo, stem):
    # Real landmarks are never exactly symmetric; the damping keeps that noise out of the crop.
    assert abs(head_offset(detect_one(cv2.imread(str(photo(stem)))))) < 0.25


@pytest.mark.parametrize("pitch, roll", [(0, 0), (10, -20)])
def test_turned_faces_shift_the_head_crop_opposite_ways(pitch, roll):
    offsets = []
    for yaw in (10, 20, 30, 45):
        face = posed(yaw, pitch, roll)  # turned towards the image's right
        offset = head_offset(face)
        assert offset > 0  # the window moves left, behind the head, so the face sits right of centre
        assert head_offset(mirror(face)) == pytest.approx(-offset, abs=1e-6)
        for face_type in ("half", "full", "whole_face"):  # only head moves
            assert abs(head_offset(face, face_type)) < 1e-6
        offsets.append(offset)
    assert np.all(np.diff(offsets) > 0)  # further turned, further moved
    assert 12 < offsets[2] < 24  # ~17 px at 256 for 30 degrees


def test_turned_real_face_and_its_mirror_image(photo):
    image = cv2.imread(str(photo("lp_d30_woman_hand_on_face")))  # turned ~16 degrees to the image's left
    offset, mirrored = head_offset(detect_one(image)), head_offset(detect_one(cv2.flip(image, 1)))
    assert offset < -3 and mirrored > 3
    assert 0.6 < -offset / mirrored < 1.6  # the detector is not mirror-exact


def test_head_shift_is_bounded():
    # However far the face turns, or however wrong its outline, head still holds whole_face.
    eyes = {t: np.subtract(*eye_centres(mean_face(256, t))[::-1]) for t in ("head", "whole_face")}
    margin = (256 - 256 * eyes["head"][0] / eyes["whole_face"][0]) / 2  # px beside whole_face in head
    broken = posed(20)
    broken[:17] += (600, 0)  # the outline far off to one side
    faces = [posed(yaw) for yaw in range(-90, 91, 5)] + [broken, mirror(broken)]
    offsets = [head_offset(face) for face in faces]
    assert max(map(abs, offsets)) == pytest.approx(margin, abs=1e-6)  # reached, never passed
    for face in faces:
        assert crop_inside(face, "whole_face", "head") > -1e-3  # on the edge at most (float32 test)


def test_a_given_head_shift_replaces_the_faces_own():
    """Extraction passes the shift smoothed along the track; only head uses it."""
    face = posed(30)  # turned towards the image's right
    own = head_shift(face)
    assert own < 0  # the window moves left (unit-face units), behind the head
    np.testing.assert_allclose(face_matrix(face, 256, "head", own), face_matrix(face, 256, "head"))
    frontal = face_matrix(face, 256, "head", 0.0)
    moved = transform_points(face, face_matrix(face, 256, "head"))[27:30, 0] - transform_points(face, frontal)[27:30, 0]
    assert np.allclose(moved, moved[0]) and moved[0] > 0  # so the whole face slides right in the crop
    np.testing.assert_allclose(face_matrix(face, 256, "full", own), face_matrix(face, 256, "full"))
