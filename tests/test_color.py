"""Colour transfer on real faces: every mode moves the face's colours towards the target's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swaplib.core.color import MIN_PIXELS, TRANSFERS, hist_match, transfer
from swaplib.core.errors import SwaplibError
from swaplib.extract import align
from swaplib.extract.detect.backends import make_detector

SIZE = 96
MASKED = ("rct", "mkl-m", "idt-m", "sot-m", "mix-m")  # the modes that take statistics in the mask


@pytest.fixture(scope="module")
def faces(clip):
    """(source face, target face, hull mask): two different people, aligned whole_face crops."""
    detector = make_detector("dlib-hog", upsample=0)
    crops, hulls = [], []
    for stem in ("lp_d12_man_glasses_talking", "lp_s18_woman_landscape_talking"):
        ok, frame = cv2.VideoCapture(str(clip(stem))).read()
        assert ok
        landmarks = detector.detect(frame)[0].landmarks
        matrix = align.face_matrix(landmarks, SIZE, "whole_face")
        crops.append(align.warp_to_face(frame, matrix, SIZE))
        hulls.append(align.hull_mask(align.transform_points(landmarks, matrix), (SIZE, SIZE)))
    return crops[0], crops[1], hulls[0] * hulls[1]  # statistics where both faces are


def lab_mean(image: np.ndarray, inside: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2Lab)[inside].astype(np.float64).mean(0)


@pytest.mark.parametrize("kind", [k for k in TRANSFERS if k != "none"])
def test_each_mode_moves_the_face_colour_towards_the_target(faces, kind):
    """...measured where the mode takes its statistics: in the mask, or the whole crop (lct, mkl, idt, sot)."""
    source, target, mask = faces
    inside = mask > 0.5 if kind in MASKED else np.ones(mask.shape, bool)
    out = transfer(kind, source, target, mask)
    assert out.shape == source.shape and out.dtype == np.uint8
    before = np.linalg.norm(lab_mean(source, inside) - lab_mean(target, inside))
    after = np.linalg.norm(lab_mean(out, inside) - lab_mean(target, inside))
    assert before > 10, "the two test faces should differ in colour"
    assert after < 0.5 * before, f"{kind}: mean L*a*b* distance {before:.1f} -> {after:.1f}"


def test_none_returns_the_source_itself(faces):
    source, target, mask = faces
    assert transfer("none", source, target, mask) is source


@pytest.mark.parametrize("kind", MASKED)
def test_masked_modes_ignore_the_target_outside_the_mask(faces, kind):
    source, target, mask = faces
    other = target.copy()
    other[mask <= 0.5] = (0, 255, 0)  # a green background must not tint the face
    assert np.array_equal(transfer(kind, source, target, mask), transfer(kind, source, other, mask))


@pytest.mark.parametrize("kind", ["lct", "mkl", "idt", "sot"])
def test_unmasked_modes_use_the_whole_crop(faces, kind):
    source, target, mask = faces
    other = target.copy()
    other[mask <= 0.5] = (0, 255, 0)
    assert not np.array_equal(transfer(kind, source, target, mask), transfer(kind, source, other, mask))


def test_batches_floats_and_repeat_runs_agree(faces):
    source, target, mask = faces
    batch = transfer("mkl-m", np.stack([source, target]), np.stack([target, source]), np.stack([mask, mask]))
    assert np.array_equal(batch[0], transfer("mkl-m", source, target, mask))
    as_float = transfer("rct", source / 255.0, target / 255.0, mask)
    assert as_float.dtype == np.float64 and np.abs(as_float * 255 - transfer("rct", source, target, mask)).max() <= 1
    assert np.array_equal(transfer("sot-m", source, target, mask), transfer("sot-m", source, target, mask))


def test_a_face_with_too_few_mask_pixels_is_left_alone(faces):
    source, target, _ = faces
    tiny = np.zeros(source.shape[:2], np.float32)
    tiny.flat[: MIN_PIXELS - 1] = 1
    assert np.array_equal(transfer("rct", source, target, tiny), source)


def test_hist_match_takes_the_target_histogram_and_threshold_darkens(faces):
    source, target, mask = faces
    inside = mask > 0.5
    matched = hist_match(source, target, mask)
    levels = np.linspace(0.05, 0.95, 19)
    for c in range(3):  # the distance between the distributions (quantile by quantile) nearly vanishes
        def quantiles(image, c=c):
            return np.quantile(image[..., c][inside].astype(float), levels)

        before = np.abs(quantiles(source) - quantiles(target)).mean()
        assert np.abs(quantiles(matched) - quantiles(target)).mean() < max(1.5, 0.2 * before)
    assert hist_match(source, target, mask, threshold=200)[inside].mean() < matched[inside].mean() - 5


def test_bad_input_is_named(faces):
    source, target, mask = faces
    with pytest.raises(SwaplibError, match="unknown colour transfer 'hsv'"):
        transfer("hsv", source, target, mask)
    with pytest.raises(SwaplibError, match="differ in shape"):
        transfer("rct", source, target[:50], mask)
    with pytest.raises(SwaplibError, match="threshold must be 0..255"):
        hist_match(source, target, mask, threshold=300)
