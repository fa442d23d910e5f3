"""Reviewing masks: contact sheets overlay each face's mask, and the faces to outline next (the ones
a person marked, then the ones whose masks look least right) land in a folder for LabelMe, with
figures that tell a mask that left an occluder out or does not know from one that follows the hull."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.extract.stage import extract_faces
from swaplib.sort.contact_sheet import overlay_mask, write_faceset_sheets
from swaplib.sort.stage import build_faceset
from swaplib.tables.faces import read_faces
from swaplib.xseg.labels import hull_labels, user_labels
from swaplib.xseg.review import mask_figures, read_marks, write_label_review

CROP = 96


@pytest.fixture(scope="module")
def faces_with_masks(tmp_path_factory, write_frames):
    """Real faces of 8 frames with masks: the hull for most, a hull with a square cut out (an
    occluder the mask leaves out) for two, and one left at one half in its lower part (unsure)."""
    root = tmp_path_factory.mktemp("review")
    write_frames("lp_d20_young_man_talking", root / "frames", 8)
    extract_faces(root / "frames", root / "faces", root / "faces.parquet", size=CROP, face_type="whole_face", fps=25)
    faces = read_faces(root / "faces.parquet")
    assert len(faces) == 8
    hulls = hull_labels(faces, CROP)
    (root / "masks").mkdir()
    cut, soft = {faces["face_id"][1], faces["face_id"][4]}, faces["face_id"][6]
    for face_id, hull in zip(faces["face_id"], hulls):
        mask = hull.copy()
        if face_id in cut:
            mask[30:70, 25:70] = 0
        if face_id == soft:
            mask[48:] = np.minimum(mask[48:], 0.5)
        cv2.imwrite(str(root / "masks" / f"{face_id}.png"), np.round(mask * 255).astype(np.uint8))
    return root, faces, sorted(cut), soft


def test_mask_figures_tell_a_cut_mask_and_an_unsure_one_from_the_hull():
    hull = np.zeros((1, 32, 32), np.float32)
    hull[0, 4:28, 4:28] = 1
    cut, unsure = hull.copy(), hull.copy()
    cut[0, 4:16, 4:28] = 0
    unsure[0, 4:16, 4:28] = 0.5
    figures = mask_figures(np.concatenate([hull, cut, unsure]), np.concatenate([hull] * 3))
    assert figures["hull_agreement"].tolist() == pytest.approx([1.0, 0.5, 1.0])  # 0.5 counts as face
    assert figures["unsure"].tolist() == pytest.approx([0.0, 0.0, 0.5])
    assert figures["mask_share"].tolist() == pytest.approx([576 / 1024, 288 / 1024, 432 / 1024])


def test_the_folder_lists_marked_faces_then_the_worst_masks_not_yet_labelled(faces_with_masks, tmp_path):
    root, faces, cut, soft = faces_with_masks
    ids = list(faces["face_id"])
    marks = tmp_path / "labels" / "to_label.tsv"
    marks.parent.mkdir()
    marks.write_text(f"face\tnote\n# a comment\n{ids[3]}\thand on the chin\n")
    (tmp_path / "labels" / f"{cut[1]}.json").write_text(json.dumps({"shapes": []}))  # already outlined
    rows = write_label_review(root / "faces.parquet", root / "faces", root / "masks", tmp_path / "to_label",
                              marks=marks, labels_dir=tmp_path / "labels", suggest_labels=2, faces_per_page=16)
    # the mark first, then the two worst masks that no label file covers: the cut one, the unsure one
    assert rows["face_id"].tolist() == [ids[3], cut[0], soft]
    assert rows["why"].tolist() == ["marked", "suggested", "suggested"]
    assert rows["note"].tolist() == ["hand on the chin", "", ""]
    figures = rows.set_index("face_id")
    assert figures.loc[ids[3], "hull_agreement"] > 0.97 and figures.loc[ids[3], "unsure"] < 0.05  # the hull itself
    assert figures.loc[cut[0], "hull_agreement"] < 0.8
    assert figures.loc[soft, "unsure"] > 0.2
    out = tmp_path / "to_label"
    table = pd.read_csv(out / "faces.tsv", sep="\t", keep_default_na=False)
    assert table["face_id"].tolist() == rows["face_id"].tolist()
    assert list(table.columns) == ["face_id", "why", "note", "mask_share", "hull_agreement", "unsure"]
    for face_id in rows["face_id"]:  # the crops as they are, named for LabelMe's JSON to be a crop label
        crop = faces.set_index("face_id").loc[face_id, "file"]
        assert (out / "crops" / f"{face_id}.png").read_bytes() == (root / "faces" / crop).read_bytes()
    assert [p.name for p in sorted(out.glob("page-*.png"))] == ["page-001.png"]
    every = pd.read_csv(out / "mask_figures.tsv", sep="\t").set_index("face_id")  # every face's mask columns
    assert sorted(every.index) == sorted(ids) and list(every.columns) == ["mask_share", "hull_agreement", "unsure"]
    assert (every.drop([*cut, soft])["hull_agreement"] > 0.97).all()
    assert every.loc[cut[1], "hull_agreement"] < 0.8  # outlined already, so not suggested: still measured


def test_an_outline_saved_from_the_folder_is_a_crop_label(faces_with_masks, tmp_path):
    """LabelMe on to_label/crops/, saving into labels/{video}/, writes {face_id}.json in crop
    pixels: exactly what the labels reader takes for that face."""
    root, faces, cut, _ = faces_with_masks
    write_label_review(root / "faces.parquet", root / "faces", root / "masks", tmp_path / "to_label",
                       suggest_labels=1, faces_per_page=16)
    crop = next((tmp_path / "to_label" / "crops").iterdir())
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / f"{crop.stem}.json").write_text(json.dumps({
        "imagePath": f"../to_label/crops/{crop.name}", "imageWidth": CROP, "imageHeight": CROP,
        "shapes": [{"label": "hand", "points": [[20, 30], [70, 30], [70, 70], [20, 70]], "shape_type": "polygon"}]}))
    hull = hull_labels(faces, CROP)
    given = user_labels(labels, faces, hull, CROP)
    assert set(given) == {crop.stem} and crop.stem in cut  # the worst mask: one of the two cut ones
    assert given[crop.stem][50, 45] == 0 and hull[list(faces["face_id"]).index(crop.stem)][50, 45] == 1


def test_marks_that_are_wrong_stop_with_the_file_and_line(faces_with_masks, tmp_path):
    _, faces, _, _ = faces_with_masks
    ids = set(faces["face_id"])
    marks = tmp_path / "to_label.tsv"
    for text, message in [
        ("000001_0\n", "the first line must be the header"),
        ("face\tnote\n12_a\tx\n", r"to_label.tsv:2: '12_a' is neither a face id"),
        ("face\tnote\n999999_0\n", r"to_label.tsv:2: face '999999_0' is not among the extracted faces"),
    ]:
        marks.write_text(text)
        with pytest.raises(SwaplibError, match=message):
            read_marks(marks, ids)


def test_the_overlay_tints_what_the_mask_leaves_out():
    thumb = np.full((40, 40, 3), 128, np.uint8)
    mask = np.zeros((80, 80), np.uint8)  # another size than the thumbnail: scaled to it
    mask[:, :40] = 255
    out = overlay_mask(thumb, mask).astype(int)
    assert (out[5:35, 2:17] == 128).all()  # face: as it was
    red, blue = out[5:35, 24:38, 2], out[5:35, 24:38, 0]
    assert (red > 160).all() and (blue < 90).all()  # not face: red
    assert (out[5:35, 19:21, 1] > 140).any()  # the edge: green


def test_contact_sheets_with_masks_differ_only_where_a_mask_leaves_out(faces_with_masks, tmp_path):
    root, faces, cut, _ = faces_with_masks
    build_faceset(root / "faces.parquet", root / "faces", tmp_path / "faceset.parquet")
    plain, masked = tmp_path / "plain", tmp_path / "masked"
    write_faceset_sheets(tmp_path / "faceset.parquet", root / "faces", plain, faces_per_page=16, title="t")
    write_faceset_sheets(tmp_path / "faceset.parquet", root / "faces", masked, faces_per_page=16, title="t",
                         masks_dir=root / "masks")
    a, b = (cv2.imread(str(folder / "page-001.png")).astype(int) for folder in (plain, masked))
    assert a.shape == b.shape
    changed = np.abs(a - b).sum(2)[44:] > 30  # below the header (whose title says red)
    assert 0.05 < changed.mean() < 0.8
