"""Identity: dlib embeddings tell people apart, reference photos, and which faces are kept."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.detect.base import to_rgb_uint8
from swaplib.extract.identity import (
    NOT_LARGEST,
    OTHER_PERSON,
    SAME_PERSON,
    SECOND_MATCH,
    FaceEmbedder,
    distances,
    keep_faces,
    reference_embedding,
)


@pytest.fixture(scope="module")
def detector():
    return make_detector("dlib-hog")


@pytest.fixture(scope="module")
def embedder():
    return FaceEmbedder()


def embed_all(path, detector, embedder) -> np.ndarray:
    image = read_image(path)
    faces = detector.detect(image)
    return embedder.embed(to_rgb_uint8(image), np.stack([f.landmarks for f in faces]))


def test_embeddings_tell_the_two_men_apart(photo, detector, embedder):
    # fr_two_people shows the men of fr_biden (the larger face, first) and fr_obama.
    pair = embed_all(photo("fr_two_people"), detector, embedder)
    assert pair.shape == (2, 128) and pair.dtype == np.float32
    obama = reference_embedding(photo("fr_obama"), detector, embedder)
    biden = reference_embedding(photo("fr_biden"), make_detector("dlib-hog", upsample=1), embedder)
    to_obama, to_biden = distances(pair, obama), distances(pair, biden)
    assert to_obama[1] < SAME_PERSON < to_obama[0]
    assert to_biden[0] < SAME_PERSON < to_biden[1]
    # Other people are far from both.
    others = np.concatenate([embed_all(photo(p), detector, embedder)
                             for p in ("fr_alex_lacamoire", "lp_d9_woman_open_mouth")])
    assert (distances(others, obama) > SAME_PERSON).all() and (distances(others, biden) > SAME_PERSON).all()


def test_no_faces_no_embeddings(embedder):
    assert embedder.embed(np.zeros((64, 64, 3), np.uint8), np.zeros((0, 68, 2))).shape == (0, 128)


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("text", "ref.jpg: missing or not a readable image"),
        ("missing", "ref.jpg: missing or not a readable image"),
        ("blank", "ref.jpg: no face found in this reference photo"),
        ("two", "ref.jpg: 2 faces in this reference photo"),
    ],
)
def test_bad_reference_photo(tmp_path, photo, detector, embedder, kind, expected):
    ref = tmp_path / "ref.jpg"
    if kind == "text":
        ref.write_text("not an image")
    elif kind == "blank":
        cv2.imwrite(str(ref), np.full((300, 300, 3), 200, np.uint8))
    elif kind == "two":
        ref.write_bytes(photo("fr_two_people").read_bytes())
    with pytest.raises(SwaplibError, match=expected):
        reference_embedding(ref, detector, embedder)


# Three frames: 0 has faces a (large) and b; 1 has a only; 2 has c (large) and b.
FRAMES = np.array([0, 0, 1, 2, 2])
TRACKS = np.array([0, 1, 0, 2, 1])


def test_largest_and_all():
    kept, reasons = keep_faces(FRAMES, TRACKS, "largest")
    assert kept.tolist() == [True, False, True, True, False]
    assert reasons == ["", NOT_LARGEST, "", "", NOT_LARGEST]
    kept, reasons = keep_faces(FRAMES, TRACKS, "all")
    assert kept.all() and reasons == [""] * 5
    with pytest.raises(SwaplibError, match="unknown face selection 'biggest'"):
        keep_faces(FRAMES, TRACKS, "biggest")


def test_reference_keeps_that_person_and_fills_from_tracks():
    # b is the reference person; its face in frame 2 was not measured: its track decides.
    measured = np.array([0.9, 0.3, np.nan, 0.8, np.nan])
    kept, reasons = keep_faces(FRAMES, TRACKS, "largest", measured)
    assert kept.tolist() == [False, True, False, False, True]
    assert reasons == [OTHER_PERSON, "", OTHER_PERSON, OTHER_PERSON, ""]


def test_reference_keeps_one_face_per_frame_and_never_an_unmeasured_track():
    measured = np.array([0.5, 0.3, 0.4, np.nan, 0.55])
    kept, reasons = keep_faces(FRAMES, np.array([0, 1, 0, 3, 1]), "all", measured)
    assert kept.tolist() == [False, True, True, False, True]
    assert reasons[0] == SECOND_MATCH and reasons[3] == OTHER_PERSON
