"""Manual faces (swaplib.extract.manual) merged in by extraction on a real clip: a box where the
detector missed the face adds it, moved landmarks move that face's crop only, and a malformed file
is refused naming the file and what is wrong, with nothing written."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image
from swaplib.extract.align import transform_points
from swaplib.extract.manual import ManualFace, read_manual_faces, write_manual_faces
from swaplib.extract.stage import extract_faces
from swaplib.tables.faces import landmarks_array, matrices_array

FRAMES, MISSED = 8, 3
SETTINGS = {"size": 64, "face_type": "full"}


@pytest.fixture(scope="module")
def frames(tmp_path_factory, write_frames):
    # Frame 3 blurred past what dlib's HOG finds: the face a person would place by hand.
    blur = lambda i, frame: cv2.GaussianBlur(frame, (0, 0), 15) if i == MISSED else frame
    return write_frames("lp_d20_young_man_talking", tmp_path_factory.mktemp("manual") / "frames", FRAMES, blur)


@pytest.fixture(scope="module")
def plain(frames, tmp_path_factory):
    out = tmp_path_factory.mktemp("plain")
    return extract_faces(frames, out / "faces", out / "faces.parquet", **SETTINGS), out


def test_a_box_where_the_face_was_missed_adds_it(frames, plain, tmp_path):
    table, _ = plain
    assert MISSED not in set(table["frame"]) and len(table) == FRAMES - 1
    row = table[table["frame"] == MISSED - 1].iloc[0]
    box = (row.box_x0, row.box_y0, row.box_x1, row.box_y1)  # where the face was a frame before
    manual = write_manual_faces(tmp_path / "manual.json", [ManualFace(MISSED, box, None)])
    merged = extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet", manual=manual, **SETTINGS)
    added = merged[merged["frame"] == MISSED]
    assert len(added) == 1 and added["kept"].all() and np.isnan(added["score"]).all()
    assert (tmp_path / "faces" / added["file"].iloc[0]).is_file()
    # The landmarker fitted inside the box: the face lies where its neighbours' faces do.
    neighbours = landmarks_array(merged[merged["frame"].isin([MISSED - 1, MISSED + 1])]).mean(axis=0)
    eyes = np.linalg.norm(neighbours[36:42].mean(axis=0) - neighbours[42:48].mean(axis=0))
    assert np.linalg.norm(landmarks_array(added)[0] - neighbours, axis=1).mean() < 0.3 * eyes
    others = merged[merged["frame"] != MISSED].reset_index(drop=True)
    assert others["track_id"].nunique() == 1 and added["track_id"].iloc[0] == others["track_id"].iloc[0]
    # Every other face as before: the swapped video changes on that frame only.
    np.testing.assert_array_equal(landmarks_array(others), landmarks_array(table.reset_index(drop=True)))


def test_moved_landmarks_move_that_face_s_crop_only(frames, plain, tmp_path):
    table, out = plain
    points = landmarks_array(table[table["frame"] == 5])[0]
    moved = points + [6.0, -4.0]
    manual = write_manual_faces(tmp_path / "manual.json", [ManualFace(5, None, moved)])
    merged = extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet", manual=manual, **SETTINGS)
    assert len(merged) == len(table)  # replaced, not added
    placed = merged[merged["frame"] == 5]
    np.testing.assert_allclose(landmarks_array(placed)[0], moved, atol=0.01)  # as placed: not smoothed
    changed = [f for f in table["file"] if not np.array_equal(read_image(out / "faces" / f),
                                                             read_image(tmp_path / "faces" / f))]
    assert "000005_0.png" in changed
    # The crop follows the points: the moved points land where the found ones did.
    before, after = matrices_array(table[table["frame"] == 5])[0], matrices_array(placed)[0]
    np.testing.assert_allclose(transform_points(moved, after), transform_points(points, before), atol=1e-3)


@pytest.mark.parametrize("text, match", [
    ('{"faces": [\n  {"frame": 1, "box": [1, 2, 3]\n', r"manual\.json: line 3: not JSON"),
    ('{"faces": [{"frame": 1}]}', r"manual\.json: face 1: give a box .* or 68 landmarks"),
    ('{"faces": [{"frame": 1, "box": [10, 10, 5, 40]}]}', r"manual\.json: face 1: box must be .*x1 > x0"),
    ('{"faces": [{"frame": 1, "landmarks": [[1, 2]]}]}', r"manual\.json: face 1: landmarks must be 68"),
    ('{"faces": [{"frame": -2, "box": [1, 2, 3, 4]}]}', r"manual\.json: face 1: frame must be a frame number"),
    ('{"faces": [{"frame": 1, "box": [1, 2, 3, 4], "score": 1}]}', r"manual\.json: face 1: unknown keys score"),
    ('[1, 2]', r'manual\.json: a manual faces file is \{"faces"'),
])
def test_a_malformed_file_is_refused_naming_it(tmp_path, text, match):
    path = tmp_path / "manual.json"
    path.write_text(text)
    with pytest.raises(SwaplibError, match=match):
        read_manual_faces(path)


@pytest.mark.parametrize("face, match", [
    ({"frame": 99, "box": [10, 10, 60, 60]}, r"manual\.json: frame 99 is not a frame of"),
    ({"frame": 2, "box": [400, 400, 900, 900]}, r"manual\.json: the face on frame 2: outside frame 2 \(480x480 px\)"),
])
def test_a_face_off_the_video_is_refused_and_nothing_is_written(frames, tmp_path, face, match):
    path = tmp_path / "manual.json"
    path.write_text(json.dumps({"faces": [face]}))
    with pytest.raises(SwaplibError, match=match):
        extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet", manual=path, **SETTINGS)
    assert not (tmp_path / "faces").exists() and not (tmp_path / "faces.parquet").exists()
