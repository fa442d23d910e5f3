"""The frames extraction doubts (swaplib.extract.doubts) on a real clip's extraction: each doubt is
found where the test puts it, and nowhere on the clean frames."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from swaplib.extract.doubts import DoubtLimits, frames_to_check, write_frames_to_check
from swaplib.extract.stage import extract_faces
from swaplib.tables.faces import landmarks_array, matrices_array, read_faces

FRAMES = 12
BLANK = 10  # a frame the test greys out: the face is missed there


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, write_frames):
    folder = tmp_path_factory.mktemp("doubts")
    blank = lambda i, frame: np.full_like(frame, 128) if i == BLANK else frame
    frames = write_frames("lp_d20_young_man_talking", folder / "frames", FRAMES, blank)
    extract_faces(frames, folder / "faces", folder / "faces.parquet", size=64, face_type="full")
    return folder


def edited(table: pd.DataFrame, frame: int, landmarks=None, matrix=None, score=None) -> pd.DataFrame:
    table = table.copy()
    row = table.index[table["frame"] == frame][0]
    if landmarks is not None:
        table.at[row, "landmarks"] = np.asarray(landmarks, np.float64).reshape(136)
    if matrix is not None:
        table.at[row, "matrix"] = np.asarray(matrix, np.float64).reshape(6)
    if score is not None:
        table.at[row, "score"] = score
    return table


def test_a_clean_extraction_doubts_only_the_missed_frame(extracted):
    table = read_faces(extracted / "faces.parquet", kept_only=False)
    assert BLANK not in set(table["frame"])
    doubts = write_frames_to_check(extracted / "faces.parquet", extracted / "frames", extracted / "to_check.tsv")
    assert doubts[["frame", "doubt"]].values.tolist() == [[BLANK, "no face"]]
    written = pd.read_csv(extracted / "to_check.tsv", sep="\t", keep_default_na=False)
    assert written[["frame", "doubt"]].values.tolist() == [[BLANK, "no face"]]


def test_each_doubt_is_found_where_it_is_put(extracted):
    table = read_faces(extracted / "faces.parquet", kept_only=False)
    points = landmarks_array(table)[table["frame"].to_numpy() == 2][0]
    eyes = np.linalg.norm(points[36:42].mean(axis=0) - points[42:48].mean(axis=0))
    table = edited(table, 2, landmarks=points + [0.4 * eyes, 0])  # a misfit: 0.4 eye distances off
    matrix = matrices_array(table)[table["frame"].to_numpy() == 5][0]
    turn = np.vstack([cv2.getRotationMatrix2D((32, 32), 15, 1.0), [0, 0, 1]])
    table = edited(table, 5, matrix=turn[:2] @ np.vstack([matrix, [0, 0, 1]]))  # the crop turned 15 degrees
    table = edited(table, 7, score=0.1 * table["score"].median())
    doubts = frames_to_check(table, list(range(FRAMES)))
    assert doubts[["frame", "doubt"]].values.tolist() == [
        [2, "landmark jump"], [5, "alignment"], [7, "low score"], [BLANK, "no face"]]
    jump = doubts.loc[doubts["doubt"] == "landmark jump"].iloc[0]
    assert jump["value"] == pytest.approx(0.4, abs=0.05) and jump["limit"] == DoubtLimits().jump
    assert doubts.loc[doubts["doubt"] == "alignment", "value"].iloc[0] == pytest.approx(15, abs=0.5)


def test_photos_have_no_neighbours_to_doubt_by(extracted):
    table = read_faces(extracted / "faces.parquet", kept_only=False)
    points = landmarks_array(table)[table["frame"].to_numpy() == 2][0]
    doubts = frames_to_check(edited(table, 2, landmarks=points + 30), list(range(FRAMES)), photos=True)
    assert doubts.empty
