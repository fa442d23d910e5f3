"""The agreement check itself: it names each key and default that config.yaml, the schema and the library differ on."""

from __future__ import annotations

import dataclasses

import pytest

from settings_agreement import assert_agreement


@dataclasses.dataclass
class FramesDrifted:
    limit: int = 0
    image_format: str = "png"  # config.yaml calls it `format`
    jpg_quality: int = 95  # config.yaml says 100
    fps: float = 0
    start: float = 0.0
    end: bool = False  # 0 in config.yaml: a number, not a flag


def test_a_drifted_settings_object_is_named_key_by_key():
    with pytest.raises(AssertionError) as error:
        assert_agreement("frames", FramesDrifted)
    message = str(error.value)
    assert "FramesDrifted has no 'format'" in message
    assert "config.yaml has no 'image_format'" in message and "the schema has no 'image_format'" in message
    assert "frames.jpg_quality: config.yaml says 100, FramesDrifted's default is 95" in message
    assert "frames.end: config.yaml says 0, FramesDrifted's default is False" in message
    assert "limit" not in message and "fps" not in message


def test_keyword_arguments_are_read_and_ignore_leaves_the_inputs_out():
    def extract(video, out, *, limit=0, format="png", jpg_quality=100, fps=0, start=0.0, end=0.0, allow_truncated=False,
                threads=1):
        pass

    assert_agreement("frames", extract, ignore=("threads",))
    with pytest.raises(AssertionError, match="config.yaml has no 'threads'"):
        assert_agreement("frames", extract)
