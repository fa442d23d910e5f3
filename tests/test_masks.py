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


def test_full_and_the_xseg_kinds_combine_as_dfl_does():
    prd, dst = square(32, 8, 24, 0.5), square(32, 12, 30, 0.8)
    xprd, xdst = square(32, 2, 20, 0.9), square(32, 10, 32)
    assert np.array_equal(masks.build("full", prd=prd), np.ones((1, 32, 32), np.float32))
    assert masks.build("full", size=8).shape == (1, 8, 8)
    assert np.array_equal(masks.build("xseg-dst", xseg_dst=xdst), xdst)
    assert np.array_equal(masks.build("xseg-prd", xseg_prd=xprd), xprd)
    both = masks.build("xseg-prd*xseg-dst", xseg_prd=xprd, xseg_dst=xdst)
    assert both[0, 15, 15] == pytest.approx(0.9) and both[0, 5, 5] == 0 and both[0, 25, 25] == 0
    four = masks.build("learned-prd*learned-dst*xseg-prd*xseg-dst", prd=prd, dst=dst, xseg_prd=xprd, xseg_dst=xdst)
    assert four[0, 15, 15] == pytest.approx(0.5 * 0.8 * 0.9) and four[0, 21, 21] == 0 and four[0, 9, 9] == 0
    with pytest.raises(SwaplibError, match="xseg-dst"):
        masks.build("xseg-prd*xseg-dst", xseg_prd=xprd)


def test_mask_noise_is_cut_and_missing_parts_are_named():
    faint = square(16, 2, 14, 0.5 / 255)
    assert not masks.build("learned-prd", prd=faint).any()
    with pytest.raises(SwaplibError, match="learned-dst"):
        masks.build("learned-prd*learned-dst", prd=faint)
    with pytest.raises(SwaplibError, match="unknown merge mask 'hull'.*dst, learned-prd"):
        masks.check_mask("hull")


def test_which_kinds_need_the_learned_masks():
    kinds = {k: (masks.uses_learned(k), masks.uses_dst_decoder(k), masks.uses_xseg(k), masks.uses_xseg_prd(k))
             for k in masks.MASKS}
    assert kinds == {
        "full": (False, False, False, False),
        "dst": (False, False, False, False),
        "learned-prd": (True, False, False, False),
        "learned-dst": (True, True, False, False),
        "learned-prd*learned-dst": (True, True, False, False),
        "learned-prd+learned-dst": (True, True, False, False),
        "xseg-prd": (False, False, True, True),
        "xseg-dst": (False, False, True, False),
        "xseg-prd*xseg-dst": (False, False, True, True),
        "learned-prd*learned-dst*xseg-prd*xseg-dst": (True, True, True, True),
    }


def test_hull_masks_cover_the_template_face():
    size = 64
    hull = masks.hull_masks(np.stack([mean_face(size, "whole_face")] * 2), size)
    assert hull.shape == (2, size, size) and hull.dtype == np.float32
    centre = mean_face(size, "whole_face").mean(0).round().astype(int)
    assert hull[0, centre[1], centre[0]] == 1 and hull[0, 0, 0] == 0
