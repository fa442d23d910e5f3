"""Blend masks: the DFL mask kinds and the hull masks (erode and blur: tests/test_merge.py, against DFL's formulas)."""

from __future__ import annotations

import numpy as np
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.extract.align import mean_face
from swaplib.merge import masks


def square(size: int, a: int, b: int, value: float = 1.0) -> np.ndarray:
    mask = np.zeros((1, size, size), np.float32)
    mask[0, a:b, a:b] = value
    return mask


def test_mask_kinds_combine_as_dfl_does():
    hull, prd, dst = square(32, 4, 28), square(32, 8, 24, 0.5), square(32, 12, 30, 0.8)
    assert np.array_equal(masks.build("dst", hull=hull), hull)
    assert np.array_equal(masks.build("learned-prd", prd=prd), prd)
    assert np.array_equal(masks.build("learned-dst", dst=dst), dst)
    both = masks.build("learned-prd*learned-dst", prd=prd, dst=dst)
    assert both[0, 14, 14] == pytest.approx(0.4) and both[0, 9, 9] == 0 and both[0, 26, 26] == 0
    either = masks.build("learned-prd+learned-dst", prd=prd, dst=dst)
    assert either[0, 14, 14] == 1.0 and either[0, 9, 9] == 0.5 and either[0, 26, 26] == pytest.approx(0.8)


def test_mask_noise_is_cut_and_missing_parts_are_named():
    faint = square(16, 2, 14, 0.5 / 255)
    assert not masks.build("learned-prd", prd=faint).any()
    with pytest.raises(SwaplibError, match="learned-dst"):
        masks.build("learned-prd*learned-dst", prd=faint)
    with pytest.raises(SwaplibError, match="unknown merge mask 'hull'.*dst, learned-prd"):
        masks.check_mask("hull")


def test_which_kinds_need_the_learned_masks():
    assert [masks.uses_learned(k) for k in masks.MASKS] == [False, True, True, True, True]
    assert [masks.uses_dst_decoder(k) for k in masks.MASKS] == [False, False, True, True, True]


def test_hull_masks_cover_the_template_face():
    size = 64
    hull = masks.hull_masks(np.stack([mean_face(size, "whole_face")] * 2), size)
    assert hull.shape == (2, size, size) and hull.dtype == np.float32
    centre = mean_face(size, "whole_face").mean(0).round().astype(int)
    assert hull[0, centre[1], centre[0]] == 1 and hull[0, 0, 0] == 0
