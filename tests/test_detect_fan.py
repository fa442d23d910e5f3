"""The fan backend (face-alignment: S3FD + 2DFAN4): weights found, fetched or clearly missing,
and real-format weights (randomly initialised, saved under the real names) load and run.

The real weights cannot be downloaded on the test machines; random ones exercise the same
networks, file format and coordinate handling, but find nothing meaningful.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.detect.fan import FAN_WEIGHTS, S3FD_WEIGHTS, WEIGHTS_URL


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    pytest.importorskip("face_alignment", reason="face-alignment is not installed")
    from swaplib.extract.detect.fan import save_random_weights

    folder = tmp_path_factory.mktemp("checkpoints")
    save_random_weights(folder)
    return folder


def test_missing_weights_name_the_file_and_where_to_put_it(tmp_path):
    with pytest.raises(SwaplibError) as err:
        make_detector("fan", weights=str(tmp_path), download=False)
    message = str(err.value)
    assert str(tmp_path / S3FD_WEIGHTS) in message and "downloads are off" in message
    assert WEIGHTS_URL + S3FD_WEIGHTS in message and "put it at" in message and "extract.fan_weights" in message


def test_weights_that_cannot_be_fetched(tmp_path, monkeypatch):
    import torch

    def offline(url, dst, *args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # the default folder: $TORCH_HOME/hub/checkpoints
    expected = tmp_path / "torch" / "hub" / "checkpoints" / FAN_WEIGHTS
    with pytest.raises(SwaplibError, match="could not be downloaded") as err:
        make_detector("dlib-hog", landmarks="fan")  # FAN landmarks on dlib boxes need only 2DFAN4
    assert str(expected) in str(err.value) and "Temporary failure" in str(err.value)
    assert S3FD_WEIGHTS not in str(err.value)


def test_damaged_weights_name_the_file(tmp_path, random_weights):
    (tmp_path / S3FD_WEIGHTS).write_bytes(b"not a torch file")
    (tmp_path / FAN_WEIGHTS).write_bytes((random_weights / FAN_WEIGHTS).read_bytes()[:1000])  # truncated
    with pytest.raises(SwaplibError, match=f"{S3FD_WEIGHTS}: not readable S3FD weights"):
        make_detector("fan", weights=str(tmp_path), download=False)
    with pytest.raises(SwaplibError, match=f"{FAN_WEIGHTS}: not readable 2DFAN4 weights"):
        make_detector("dlib-hog", landmarks="fan", weights=str(tmp_path), download=False)
    # Each file must hold its own network.
    (tmp_path / FAN_WEIGHTS).write_bytes((random_weights / S3FD_WEIGHTS).read_bytes())
    with pytest.raises(SwaplibError, match="not readable 2DFAN4 weights"):
        make_detector("dlib-hog", landmarks="fan", weights=str(tmp_path), download=False)


def test_real_format_weights_load_and_run(random_weights, photo):
    # One S3FD pass and one 2DFAN4 pass (no mirror pass, one box): the slow parts, run once.
    detector = make_detector("fan", weights=str(random_weights), download=False, flip=False, max_faces=1)
    assert detector.name == "fan+fan"
    image = cv2.resize(cv2.imread(str(photo("fr_obama"))), (96, 120), interpolation=cv2.INTER_AREA)
    faces = detector.detect(image)
    assert len(faces) <= 1  # random S3FD weights see faces everywhere; the cap keeps one
    if not faces:
        pytest.fail("random S3FD weights found no box at all: the score path is broken")
    [face] = faces
    assert face.landmarks.shape == (68, 2) and face.landmarks.dtype == np.float32
    assert np.isfinite(face.landmarks).all() and 0.0 <= face.score <= 1.0
    # FAN's points are heatmap peaks inside the square it cut around the box (face-alignment's
    # crop: side 200 * (w + h) / 195, centred a little above the box centre): mapped back to frame
    # coordinates, they must fall inside that square, whatever the weights.
    x0, y0, x1, y1 = face.box
    side = 200 * ((x1 - x0) + (y1 - y0)) / 195
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2 - 0.12 * (y1 - y0)])
    assert np.all(np.abs(face.landmarks - centre) <= side / 2 + 1)
