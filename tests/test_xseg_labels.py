"""XSeg labels: LabelMe polygons and PNG masks on frames and on crops land on the right crop pixels,
classes add and subtract, and a malformed file stops with its name, the line and the reason."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.extract.align import invert, transform_points
from swaplib.extract.stage import extract_faces
from swaplib.tables.faces import matrices_array, read_faces
from swaplib.xseg.labels import face_labels, hull_labels, user_labels

CROP = 128  # the extracted crop's px; the labels are drawn at the model's R (below), scaled from it


@pytest.fixture(scope="module")
def photo_face(tmp_path_factory, photo):
    """The face of a real photo: its table row and crops folder (frame 0)."""
    root = tmp_path_factory.mktemp("xseg_photo")
    (root / "frames").mkdir()
    cv2.imwrite(str(root / "frames" / "000000.png"), cv2.imread(str(photo("lp_d30_woman_hand_on_face"))))
    extract_faces(root / "frames", root / "faces", root / "faces.parquet", size=CROP, face_type="whole_face",
                  photos=True, fps=None)
    faces = read_faces(root / "faces.parquet")
    assert len(faces) == 1
    return root, faces


def write_labelme(path, shapes, size):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "5.4.1", "imageWidth": size[0], "imageHeight": size[1],
                                "shapes": [{"label": label, "points": np.asarray(points).tolist(),
                                            "shape_type": kind} for label, points, kind in shapes]}))


def centroid(mask):
    ys, xs = np.nonzero(mask > 0.5)
    return np.array([xs.mean(), ys.mean()])


@pytest.mark.parametrize("resolution", [128, 64])
def test_frame_and_crop_polygons_land_on_the_same_crop_pixels(photo_face, tmp_path, resolution):
    _, faces = photo_face
    row = faces.iloc[0]
    matrix = matrices_array(faces)[0]
    # a face outline and a square occluder on the crop, in crop pixels ...
    face_poly = np.array([[30, 25], [100, 22], [108, 90], [64, 118], [22, 88]], float)
    square = np.array([[50, 50], [70, 70]], float)
    write_labelme(tmp_path / "crop" / f"{row['face_id']}.json",
                  [("face", face_poly, "polygon"), ("hand", square, "rectangle")], (CROP, CROP))
    # ... and the same outlines on the frame, through the inverse of the face's alignment
    to_frame = invert(matrix)
    square_corners = np.array([[50, 50], [70, 50], [70, 70], [50, 70]], float)
    write_labelme(tmp_path / "frame" / f"{int(row['frame']):06d}.json",
                  [("face", transform_points(face_poly, to_frame), "polygon"),
                   ("hand", transform_points(square_corners, to_frame), "polygon")],
                  (int(row["frame_width"]), int(row["frame_height"])))
    hull = hull_labels(faces, resolution)
    on_crop = user_labels(tmp_path / "crop", faces, hull, resolution)[row["face_id"]]
    on_frame = user_labels(tmp_path / "frame", faces, hull, resolution)[row["face_id"]]
    k = resolution / CROP
    # the square is a hole where it was drawn: its centre (60, 60) crop px, scaled to the resolution
    outline = cv2.fillPoly(np.zeros_like(on_crop), [np.round((face_poly + 0.5) * k - 0.5).astype(np.int32)], 1)
    hole = (on_crop < 0.5) & (cv2.erode(outline, np.ones((3, 3), np.uint8)) > 0)
    centre = (np.array([60.0, 60.0]) + 0.5) * k - 0.5
    assert np.abs(centroid(on_frame) - centroid(on_crop)).max() < 1.0
    assert np.abs(centroid(hole) - centre).max() < 1.0
    assert abs(hole.sum() - (20 * k) ** 2) <= 4 * 20 * k  # its area, within a pixel's border
    # the round trip (crop -> frame -> crop) moves no pixel by more than one: the masks differ only on edges
    differ = on_crop != on_frame
    edges = cv2.dilate(cv2.Canny((on_crop * 255).astype(np.uint8), 50, 150), np.ones((3, 3), np.uint8)) > 0
    assert (differ & ~edges).sum() == 0
    assert differ.sum() <= 0.05 * (on_crop > 0.5).sum()


def test_other_classes_subtract_from_the_hull_when_no_face_is_drawn(photo_face, tmp_path):
    _, faces = photo_face
    face_id = faces["face_id"].iloc[0]
    write_labelme(tmp_path / f"{face_id}.json", [("occlusion", [[0, 0], [64, 0], [64, 128], [0, 128]], "polygon")],
                  (CROP, CROP))
    masks, labelled = face_labels(faces, 64, tmp_path)
    hull = hull_labels(faces, 64)[0]
    assert labelled.tolist() == [True]
    assert masks[0][:, :31].max() == 0  # the left half (to crop x 64) is gone
    assert np.array_equal(masks[0][:, 33:], hull[:, 33:])  # the rest is the hull


def test_a_png_mask_on_the_crop_is_the_mask(photo_face, tmp_path):
    _, faces = photo_face
    face_id = faces["face_id"].iloc[0]
    png = np.zeros((CROP, CROP), np.uint8)
    png[32:96, 16:64] = 255
    cv2.imwrite(str(tmp_path / f"{face_id}.png"), png)
    masks, labelled = face_labels(faces, 64, tmp_path)
    assert labelled.tolist() == [True]
    assert abs(masks[0].sum() - 32 * 24) <= 2 * (32 + 24)
    assert masks[0][30, 20] > 0.9 and masks[0][30, 40] < 0.1


def test_a_crop_file_wins_over_its_frame_file_and_strays_are_skipped(photo_face, tmp_path, caplog):
    _, faces = photo_face
    face_id = faces["face_id"].iloc[0]
    write_labelme(tmp_path / "000000.json", [("face", [[0, 0], [900, 0], [900, 900]], "polygon")], (600, 900))
    write_labelme(tmp_path / f"{face_id}.json", [("face", [[0, 0], [10, 0], [10, 10], [0, 10]], "polygon")],
                  (CROP, CROP))
    write_labelme(tmp_path / "000077.json", [("face", [[0, 0], [10, 0], [10, 10]], "polygon")], (600, 900))
    masks, _ = face_labels(faces, 64, tmp_path)
    assert 20 <= masks[0].sum() <= 40  # the crop file's 5 x 5 px square, not the frame's triangle
    assert "000077.json: no kept face has this id or frame" in caplog.text


BAD_FILES = {
    "not JSON": ("{shapes: [", "not a readable LabelMe JSON file: Expecting property name enclosed in double "
                               "quotes at line 1, column 2"),
    "no shapes": ('{"imagePath": "x.png"}', "not a LabelMe file (no 'shapes' list)"),
    "two points": ('{"shapes": [{"label": "hand", "points": [[1, 2], [3, 4]]}]}',
                   "shape 1 (hand): a polygon needs at least 3 points, it has 2"),
    "no label": ('{"shapes": [{"points": [[1, 2], [3, 4], [5, 6]]}]}', "shape 1 has no label"),
    "a line": ('{"shapes": [{"label": "face", "points": [[1, 2], [3, 4]], "shape_type": "line"}]}',
               "shape 1 (face): shape_type 'line' is not an area"),
    "text points": ('{"shapes": [{"label": "face", "points": [["a", 2], [3, 4], [5, 6]]}]}',
                    "points are not"),
    "numbers as text": ('{"shapes": [{"label": "face", "points": [["1", 2], [3, 4], [5, 6]]}]}',
                        "shape 1 (face): points are not a list of [x, y] numbers"),
    "no points": ('{"shapes": [{"label": "hand"}]}', "shape 1 (hand): has no points"),
    "bad size": ('{"imageWidth": -3, "imageHeight": 10, "shapes": []}', "imageWidth/imageHeight must be positive"),
    "its line": ('{\n "shapes": [\n  {"label": "face", "points": [[0, 0], [9, 0], [9, 9]]},\n'
                 '  {"label": "hand", "points": [[1, 2]]}\n ]\n}',
                 "shape 2 (hand): a polygon needs at least 3 points, it has 1 (line 4)"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_malformed_file_stops_with_its_name_and_the_reason(photo_face, tmp_path, case):
    _, faces = photo_face
    text, reason = BAD_FILES[case]
    path = tmp_path / f"{faces['face_id'].iloc[0]}.json"
    path.write_text(text)
    with pytest.raises(SwaplibError) as error:
        face_labels(faces, 64, tmp_path)
    assert str(path) in str(error.value) and reason in str(error.value)


def test_an_unreadable_png_mask_stops_with_its_name(photo_face, tmp_path):
    _, faces = photo_face
    path = tmp_path / "000000.png"
    path.write_bytes(b"not a png")
    with pytest.raises(SwaplibError, match=f"{path}: not a readable PNG mask"):
        face_labels(faces, 64, tmp_path)
