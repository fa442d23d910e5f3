"""The face table: extraction from real frames, its columns and geometry, and its failure modes."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from settings_agreement import assert_agreement
from swaplib.core.errors import SwaplibError
from swaplib.core.images import IMAGE_FORMATS
from swaplib.extract.align import FACE_TYPES, mean_face, transform_points
from swaplib.extract.detect.backends import ALIASES, DETECTORS, LANDMARKERS, make_detector
from swaplib.extract.identity import NOT_LARGEST, OTHER_PERSON, SELECT_MODES
from swaplib.extract.settings import ExtractSettings
from swaplib.extract.stage import extract_faces
from swaplib.tables.faces import FACE_COLUMNS, embeddings_array, landmarks_array, matrices_array, read_faces

SIZE = 160
FRAME_STEP = 23  # 8 frames spread over the clip


@pytest.fixture(scope="module")
def detector():
    return make_detector("dlib-hog")


def write_clip_frames(clip_path: Path, out_dir: Path, step: int, count: int) -> list[int]:
    """Every `step`-th frame of the clip as NNNNNN.png (the frame's own number)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(clip_path))
    written, number = [], 0
    while len(written) < count:
        ok, frame = capture.read()
        if not ok:
            break
        if number % step == 0:
            assert cv2.imwrite(str(out_dir / f"{number:06d}.png"), frame)
            written.append(number)
        number += 1
    capture.release()
    return written


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, clip, detector):
    root = tmp_path_factory.mktemp("extract")
    numbers = write_clip_frames(clip("lp_d12_man_glasses_talking"), root / "frames", FRAME_STEP, 8)
    table = extract_faces(root / "frames", root / "faces", root / "faces.parquet",
                          detector=detector, size=SIZE, face_type="full")
    return root, numbers, table


def test_table_columns_and_types(extracted):
    root, numbers, table = extracted
    assert list(table.columns) == FACE_COLUMNS
    assert sorted(table["frame"]) == numbers  # one face in every frame
    for column in ("frame", "index", "size", "frame_width", "frame_height"):
        assert table[column].dtype == np.int64, column
    for column in ("box_x0", "box_y0", "box_x1", "box_y1", "score"):
        assert table[column].dtype == np.float64, column
    assert table["kept"].dtype == bool and table["kept"].all() and (table["left_out"] == "").all()
    row = table.iloc[1]
    assert row["face_id"] == f"{row['frame']:06d}_0" and row["file"] == f"{row['face_id']}.png"
    assert (row["face_type"], row["size"], row["frame_width"], row["frame_height"]) == ("full", SIZE, 512, 512)
    assert len(row["landmarks"]) == 136 and len(row["matrix"]) == 6
    # Frames 23 apart are no track: every face starts one, and each start gets an embedding.
    assert table["track_id"].tolist() == list(range(len(table)))
    embeddings = embeddings_array(table)
    assert embeddings.shape == (len(table), 128) and np.isfinite(embeddings).all()
    assert (np.linalg.norm(embeddings - embeddings[0], axis=1) < 0.6).all()  # one person throughout


def test_table_on_disk_matches(extracted):
    root, _, table = extracted
    on_disk = read_faces(root / "faces.parquet")
    scalars = ["face_id", "frame", "index", "file", "box_x0", "score", "face_type", "size", "frame_width"]
    pd.testing.assert_frame_equal(on_disk[scalars], table[scalars])
    np.testing.assert_array_equal(landmarks_array(on_disk), landmarks_array(table))
    np.testing.assert_array_equal(matrices_array(on_disk), matrices_array(table))
    np.testing.assert_array_equal(embeddings_array(on_disk), embeddings_array(table))


def test_crops_exist_at_size(extracted):
    root, _, table = extracted
    assert sorted(p.name for p in (root / "faces").iterdir()) == sorted(table["file"])
    for name in table["file"]:
        assert cv2.imread(str(root / "faces" / name)).shape == (SIZE, SIZE, 3)


def test_landmarks_land_on_the_template(extracted):
    _, _, table = extracted
    landmarks, matrices = landmarks_array(table), matrices_array(table)
    assert landmarks.shape == (len(table), 68, 2) and landmarks.dtype == np.float32
    assert matrices.shape == (len(table), 2, 3) and matrices.dtype == np.float64
    template = mean_face(SIZE, "full")
    for lm, matrix in zip(landmarks, matrices):
        in_crop = transform_points(lm, matrix)
        assert np.linalg.norm(in_crop - template, axis=1).mean() < 0.04 * SIZE
        left_eye, right_eye = in_crop[36:42].mean(axis=0), in_crop[42:48].mean(axis=0)
        assert abs(left_eye[1] - right_eye[1]) < 0.03 * SIZE  # eyes level


def test_crop_shows_an_upright_centred_face(extracted):
    # Independent of the stored geometry: detect the face again in a saved crop.
    root, _, table = extracted
    crop = cv2.imread(str(root / "faces" / table["file"].iloc[0]))
    [face] = make_detector("dlib-hog", upsample=1).detect(crop)
    left_eye, right_eye = face.landmarks[36:42].mean(axis=0), face.landmarks[42:48].mean(axis=0)
    assert abs(left_eye[1] - right_eye[1]) < 0.03 * SIZE
    assert abs(face.landmarks[:, 0].mean() - SIZE / 2) < 0.06 * SIZE


def two_people_frames(tmp_path, photo) -> Path:
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "000007.jpg"), cv2.imread(str(photo("fr_two_people"))))
    (frames / "notes.txt").write_text("not a frame name: ignored")
    return frames


def test_largest_face_kept_the_other_recorded(tmp_path, photo, detector):
    frames = two_people_frames(tmp_path, photo)
    table = extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet",
                          detector=detector, size=64, face_type="half", format="jpg")
    assert list(table["face_id"]) == ["000007_0", "000007_1"]
    assert table["kept"].tolist() == [True, False] and table["left_out"].tolist() == ["", NOT_LARGEST]
    assert table["file"].tolist() == ["000007_0.jpg", ""]  # left-out faces get no crop
    area = (table["box_x1"] - table["box_x0"]) * (table["box_y1"] - table["box_y0"])
    assert area[0] > area[1]
    assert [p.name for p in (tmp_path / "faces").iterdir()] == ["000007_0.jpg"]
    # Later stages see the kept faces; the whole table stays readable.
    assert read_faces(tmp_path / "faces.parquet")["face_id"].tolist() == ["000007_0"]
    assert len(read_faces(tmp_path / "faces.parquet", kept_only=False)) == 2
    every = extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet",
                          detector=detector, size=64, face_type="half", select="all")
    assert every["kept"].all() and sorted(p.name for p in (tmp_path / "faces").iterdir()) == [
        "000007_0.png", "000007_1.png"]  # replaced whole


def test_reference_photo_keeps_the_right_person(tmp_path, photo, detector):
    # fr_two_people: the larger face is the man of fr_biden, the other the man of fr_obama.
    frames = two_people_frames(tmp_path, photo)
    table = extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet", detector=detector,
                          size=64, face_type="full", reference=photo("fr_obama"))
    assert table["kept"].tolist() == [False, True]
    assert table["left_out"].tolist() == [OTHER_PERSON, ""]
    kept = table[table["kept"]].iloc[0]
    assert kept["face_id"] == "000007_1" and kept["file"] == "000007_1.png"
    assert kept["box_x0"] < table.iloc[0]["box_x0"]  # the man on the left
    assert [p.name for p in (tmp_path / "faces").iterdir()] == ["000007_1.png"]


@pytest.mark.parametrize("kind", ["unreadable", "no face", "two faces", "someone else"])
def test_bad_reference_stops_before_any_output(tmp_path, photo, detector, kind):
    frames = two_people_frames(tmp_path, photo)
    reference = tmp_path / "ref.jpg"
    if kind == "unreadable":
        reference.write_bytes(photo("fr_obama").read_bytes()[:2000])  # a truncated JPEG
    elif kind == "no face":
        cv2.imwrite(str(reference), np.full((200, 200, 3), 60, np.uint8))
    elif kind == "two faces":
        reference.write_bytes(photo("fr_two_people").read_bytes())
    else:
        reference.write_bytes(photo("lp_d9_woman_open_mouth").read_bytes())
    expected = {"unreadable": "not a readable image", "no face": "no face found in this reference photo",
                "two faces": "2 faces in this reference photo", "someone else": "is this reference person"}[kind]
    with pytest.raises(SwaplibError, match=expected) as err:
        extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet", detector=detector, size=64,
                      face_type="full", reference=reference)
    assert "ref.jpg" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "ref.jpg"]  # no outputs, no temporaries


def test_no_face_anywhere_writes_nothing(tmp_path, detector):
    frames = tmp_path / "blank_frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:06d}.png"), np.full((120, 160, 3), 90, np.uint8))
    with pytest.raises(SwaplibError, match=r"no face found in any of 3 frames of .*blank_frames"):
        extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet",
                      detector=detector, size=64, face_type="full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank_frames"]  # no outputs, no temporaries


def test_folder_without_frames(tmp_path, detector):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SwaplibError, match="empty"):
        extract_faces(tmp_path / "empty", tmp_path / "faces", tmp_path / "t.parquet",
                      detector=detector, size=64, face_type="full")
    with pytest.raises(SwaplibError, match="missing_dir"):
        extract_faces(tmp_path / "missing_dir", tmp_path / "faces", tmp_path / "t.parquet",
                      detector=detector, size=64, face_type="full")


def test_duplicate_frame_number(tmp_path, detector):
    for name in ("000005.png", "000005.jpg"):
        cv2.imwrite(str(tmp_path / name), np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(SwaplibError, match="frame 5 is there twice"):
        extract_faces(tmp_path, tmp_path / "faces", tmp_path / "t.parquet", detector=detector, size=64,
                      face_type="full")


def test_bad_settings(tmp_path, detector):
    with pytest.raises(SwaplibError, match="face type"):
        extract_faces(tmp_path, tmp_path / "f", tmp_path / "t.parquet", detector=detector, size=64, face_type="big")
    with pytest.raises(SwaplibError, match="unknown face image format 'gif'"):
        extract_faces(tmp_path, tmp_path / "f", tmp_path / "t.parquet", detector=detector, size=64,
                      face_type="full", format="gif")
    with pytest.raises(SwaplibError, match="select 'biggest' is not one of largest, all"):
        extract_faces(tmp_path, tmp_path / "f", tmp_path / "t.parquet", detector=detector, size=64,
                      face_type="full", select="biggest")
    with pytest.raises(SwaplibError, match="unknown progress mode 'yes'.*auto"):
        extract_faces(tmp_path, tmp_path / "f", tmp_path / "t.parquet", detector=detector, size=64,
                      face_type="full", progress="yes")
    with pytest.raises(SwaplibError, match="smoothing .* needs the video's frame rate, got fps None"):
        extract_faces(tmp_path, tmp_path / "f", tmp_path / "t.parquet", detector=detector, size=64,
                      face_type="full", fps=None)


def test_corrupt_frame_names_the_file_and_writes_nothing(tmp_path, photo, detector):
    frames = two_people_frames(tmp_path, photo)
    (frames / "000008.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(SwaplibError, match=r"000008\.png: missing or not a readable image"):
        extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet", detector=detector, size=64,
                      face_type="full", threads=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_progress_is_logged(tmp_path, photo, detector, caplog, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "000000.jpg"), cv2.imread(str(photo("lp_d9_woman_open_mouth"))))
    with caplog.at_level(logging.INFO, logger="swaplib.extract.stage"):
        extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet", detector=detector, size=64,
                      face_type="full", progress="on")
    # Each pass logs its count with rate and ETA; this frame's face was embedded in pass 1 already.
    for what in ("frames searched", "frames cropped"):
        assert re.search(what + r" 1/1 \(100%\)  [\d.]+ frame/s  ETA 0m00s", caplog.text), what
    assert "frames embedded" not in caplog.text and "1 kept (1 crops)" in caplog.text
    assert "frames searched" in capsys.readouterr().err  # the bar, forced on away from a terminal


def test_photos_are_faces_of_their_own(tmp_path, photo, detector):
    # A folder of photos (one person each, of different sizes) in place of a video's frames.
    stems = ["lp_d9_woman_open_mouth", "lp_d30_woman_hand_on_face", "fr_alex_lacamoire", "fr_obama"]
    images = [cv2.imread(str(photo(stem))) for stem in stems]
    images.insert(1, cv2.flip(images[0], 1))  # the same woman mirrored: a video's tracker links the two
    frames = tmp_path / "frames"
    frames.mkdir()
    for number, image in enumerate(images):
        cv2.imwrite(str(frames / f"{number:06d}.png"), image)

    def extract(**options):
        return extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet", detector=detector, size=64,
                             face_type="whole_face", **options)

    table = extract(photos=True, fps=None)  # smoothing on, as by default: photos are not smoothed
    assert table["frame"].tolist() == list(range(len(images))) and table["kept"].all()
    assert table["track_id"].tolist() == list(range(len(images)))
    raw = np.stack([detector.detect(image)[0].landmarks for image in images])
    np.testing.assert_array_equal(landmarks_array(table), raw.astype(np.float32))
    assert np.isfinite(embeddings_array(table)).all()  # no track to lend one: every face is embedded
    # The same folder read as a video: tracked (the woman and her mirror image are one track), and
    # with smoothing, stopped with a clear message at the first change of size.
    assert extract(smooth=False)["track_id"].iloc[1] == 0
    with pytest.raises(SwaplibError, match=r"000002\.png: 600x900 px after a frame of 720x720.*photos=True"):
        extract()


def test_read_faces_errors(tmp_path):
    with pytest.raises(SwaplibError, match="nothere.parquet"):
        read_faces(tmp_path / "nothere.parquet")
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SwaplibError, match="corrupt.parquet"):
        read_faces(corrupt)
    partial = tmp_path / "partial.parquet"
    pd.DataFrame({"face_id": ["000000_0"]}).to_parquet(partial)
    with pytest.raises(SwaplibError, match=r"partial.parquet.*lacks columns.*landmarks"):
        read_faces(partial)


def test_arrays_of_an_empty_table():
    empty = pd.DataFrame(columns=FACE_COLUMNS)
    assert landmarks_array(empty).shape == (0, 68, 2)
    assert matrices_array(empty).shape == (0, 2, 3)
    assert embeddings_array(empty).shape == (0, 128)


def test_a_table_without_the_identity_columns_is_all_kept(tmp_path, extracted):
    root, _, table = extracted
    old = tmp_path / "old.parquet"
    table.drop(columns=["embedding", "track_id", "kept", "left_out"]).to_parquet(old)
    assert len(read_faces(old)) == len(table)


def test_a_detector_by_name_takes_the_sections_options(extracted, tmp_path):
    """The config's extract section whole: the detector named and built with its options, as the
    workflow passes it; a detector built already brings its own options."""
    root, numbers, table = extracted
    section = {**yaml.safe_load((REPO / "config.yaml").read_text())["extract"], "size": SIZE, "face_type": "full"}
    by_name = extract_faces(root / "frames", tmp_path / "faces", tmp_path / "faces.parquet", **section)
    assert list(by_name["face_id"]) == list(table["face_id"])
    assert np.allclose(landmarks_array(by_name), landmarks_array(table))
    with pytest.raises(SwaplibError, match=r"upsample: options of a detector by name; this one is built already"):
        extract_faces(root / "frames", tmp_path / "f", tmp_path / "t.parquet", detector=make_detector("dlib-hog"),
                      upsample=1)
    with pytest.raises(SwaplibError, match=r"unknown extract setting\(s\) detecter"):
        extract_faces(root / "frames", tmp_path / "f", tmp_path / "t.parquet", detecter="fan")
    assert not (tmp_path / "f").exists() and not (tmp_path / "t.parquet").exists()


def test_config_schema_and_settings_agree():
    """config.yaml's extract section, the schema and ExtractSettings name the same keys with the
    same defaults; the schema's choices are the library's."""
    assert_agreement("extract", ExtractSettings)
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]["extract"]
    choices = {key: set(schema["properties"][key]["enum"]) for key in ("detector", "landmarks", "face_type",
                                                                       "select", "format")}
    assert choices == {"detector": set(DETECTORS) | set(ALIASES), "landmarks": {"auto", *LANDMARKERS},
                       "face_type": set(FACE_TYPES), "select": set(SELECT_MODES), "format": set(IMAGE_FORMATS)}
