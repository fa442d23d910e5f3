"""The identity filter on the hard multi-person clip: with a reference face, other people go."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.stage import extract_faces
from swaplib.sort.identity import fill_by_track, identity_distance
from swaplib.sort.stage import build_faceset

FRAMES = (110, 120, 130, 140, 165)  # the performer in close-up


@pytest.fixture(scope="module")
def two_people(tmp_path_factory, clip, photo):
    """Frames of the hard clip with a second, real person beside the performer.

    dlib's frontal detector misses the clip's own bystanders (a profile, a 20 px pianist), so
    a real face from the photos is set into the stage's empty corner of each frame."""
    root = tmp_path_factory.mktemp("identity")
    frames = root / "frames"
    frames.mkdir()
    detector = make_detector("dlib", upsample=1)
    portrait = cv2.imread(str(photo("fr_alex_lacamoire")))
    x0, y0, x1, y1 = detector.detect(portrait)[0].box
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * 1.8
    other = cv2.resize(portrait[int(cy - side / 2) : int(cy + side / 2), int(cx - side / 2) : int(cx + side / 2)],
                       (110, 110))
    capture = cv2.VideoCapture(str(clip("fr_hamilton_stage_multi_HARD")))
    for number in range(max(FRAMES) + 1):
        ok, frame = capture.read()
        assert ok
        if number in FRAMES:
            frame[160:270, 390:500] = other
            cv2.imwrite(str(frames / f"{number:06d}.png"), frame)
    extract_faces(frames, root / "faces", root / "faces.parquet", detector=detector, size=96, face_type="whole_face",
                  select="all")
    faces = pd.read_parquet(root / "faces.parquet")
    performer = faces["box_x1"] < 380
    assert performer.sum() == len(FRAMES) and (~performer).sum() == len(FRAMES), "both people found in every frame"
    return root, faces[performer]["face_id"].tolist()


def build(root, **options):
    return build_faceset(root / "faces.parquet", root / "faces", root / "faceset.parquet",
                         min_face_px=0, blur_keep=1.0, duplicate=0, **options)


def test_a_reference_face_drops_the_other_person(two_people, tmp_path):
    root, performer = two_people
    sheet = tmp_path / "curation.tsv"
    sheet.write_text(f"face\taction\tnote\n{performer[2]}\treference\tthe performer\n")
    faceset = build(root, curation_path=sheet)
    assert not faceset["one_face"].any()  # two people in every frame
    is_performer = faceset["face_id"].isin(performer)
    assert (faceset.loc[is_performer, "identity"] < 0.6).all()
    assert (faceset.loc[~is_performer, "identity"] > 0.6).all()
    assert faceset.loc[is_performer, "selected"].all()
    assert (faceset.loc[~is_performer, "reason"] == "identity").all()

    # The identity order puts the reference person first.
    faceset = build(root, curation_path=sheet, order="identity")
    chosen = faceset[faceset["selected"]].sort_values("rank")
    assert chosen["face_id"].iloc[0] == performer[2] and chosen["order_score"].is_monotonic_increasing


def test_without_embeddings_or_with_identity_off_nobody_is_dropped(two_people, tmp_path):
    root, _ = two_people
    faceset = build(root, identity="none")
    assert faceset["identity"].isna().all() and faceset["selected"].all()
    sheet = tmp_path / "curation.tsv"
    sheet.write_text(f"face\taction\n{faceset['face_id'].iloc[0]}\treference\n")
    with pytest.raises(SwaplibError, match=r"curation.tsv: names reference faces, but sort.identity is 'none'"):
        build(root, identity="none", curation_path=sheet)


def test_faces_without_an_embedding_take_their_tracks():
    embeddings = np.array([[0.0, 1.0], [np.nan, np.nan], [2.0, 3.0], [np.nan, np.nan], [np.nan, np.nan]])
    filled = fill_by_track(embeddings, np.array([0, 0, 0, 1, 2]))
    assert np.allclose(filled[:3], [[0, 1], [1, 2], [2, 3]]) and np.isnan(filled[3:]).all()
    distance = identity_distance(filled, np.array([True, False, False, False, False]))
    assert np.allclose(distance[:3], [0, np.sqrt(2), np.sqrt(8)]) and np.isnan(distance[3:]).all()
