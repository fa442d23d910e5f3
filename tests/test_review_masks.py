"""The review app's masks tab (swaplib.review.masks) over a small real run, in headless Chromium: a
polygon drawn with the mouse and saved is the LabelMe file the XSeg stage reads, and the dry run then
reruns the XSeg stages; a LabelMe file made outside opens and goes back unchanged; bad files and
requests are refused with the file and the reason, nothing written."""

from __future__ import annotations

import json
import urllib.request

import cv2
import numpy as np
import pytest

import test_review
from swaplib.review.app import Server
from swaplib.review.folder import Folder
from swaplib.tables.faces import read_faces
from swaplib.xseg.labels import face_labels, hull_labels
from test_quality import SMALL
from test_review import ask, wait_for
from workflow_support import copy_run, snakemake, write_config

pytestmark = pytest.mark.workflow
# test_review's fixtures: headless Chromium, the small run, and the app served over a copy of it.
browser, finished, server = test_review.browser, test_review.finished, test_review.server
XSEG = {"enabled": True, "resolution": 32, "width": 4, "iterations": 4, "batch_size": 4, "save_every": 2}
LABELME_FIELDS = ["version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"]


@pytest.fixture(scope="module")
def with_xseg(finished, tmp_path_factory):
    """The small run with XSeg on: its model, every face's mask and the faces to outline."""
    run = copy_run(finished, tmp_path_factory.mktemp("masks_xseg"))
    write_config(run, {**SMALL, "xseg": XSEG})
    videos = sorted(p.name for p in (run / "results" / "videos").iterdir())
    snakemake(run, *[f"results/videos/{video}/{what}" for video in videos for what in ("masks", "to_label")])
    return run


def a_face(root, video: str | None = None):
    """(video, the face table, a face's position in it) of the run: its first kept face."""
    video = video or sorted(p.name for p in (root / "results" / "videos").iterdir())[0]
    faces = read_faces(root / "results" / "videos" / video / "faces.parquet")
    return video, faces, 0


def open_masks_tab(browser, server: Server, video: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(server.url)
    browser.find_element(By.ID, "tab-masks").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#mask-faces li"))
    Select(browser.find_element(By.ID, "mask-video")).select_by_value(video)
    return wait_for(lambda: (items := browser.find_elements(By.CSS_SELECTOR, "#mask-faces li"))
                    and items[0].get_attribute("data-face") and items)


def open_face(browser, face_id: str):
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, f'#mask-faces li[data-face="{face_id}"]').click()
    return wait_for(lambda: (canvas := browser.find_element(By.ID, "mask-canvas"))
                    .get_attribute("data-face") == face_id and canvas)


def click_polygon(browser, canvas, points, crop_px: int) -> None:
    """Click `points` (crop px) on the canvas, then the first one again to close the polygon."""
    from selenium.webdriver.common.action_chains import ActionChains

    width, height = canvas.size["width"], canvas.size["height"]
    actions = ActionChains(browser)
    for x, y in [*points, points[0]]:  # offsets from the canvas's centre
        actions.move_to_element_with_offset(canvas, round(x * width / crop_px - width / 2),
                                            round(y * height / crop_px - height / 2)).click()
    actions.perform()


def saved(browser) -> str:
    from selenium.webdriver.common.by import By

    return wait_for(lambda: "saved to" in (text := browser.find_element(By.ID, "message").text) and text)


def test_a_polygon_drawn_in_the_page_is_the_label_the_xseg_stage_reads_and_reruns_it(with_xseg, tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    root = copy_run(with_xseg, tmp_path)
    server = Server(root).start()
    try:
        assert server.folder.dry_run()["jobs"] == {}
        video, faces, _ = a_face(root)
        items = open_masks_tab(browser, server, video)
        # the XSeg stage's list of faces to outline comes first
        listed = [line.split("\t")[0] for line in
                  (root / "results" / "videos" / video / "to_label" / "faces.tsv").read_text().splitlines()[1:]]
        assert listed and [item.get_attribute("data-face") for item in items[:len(listed)]] == listed
        assert {item.get_attribute("data-why") for item in items[:len(listed)]} == {"suggested"}
        face_id = listed[0]
        i = list(faces["face_id"]).index(face_id)
        crop_px = int(faces["size"].iloc[i])
        canvas = open_face(browser, face_id)
        assert canvas.get_attribute("data-mask") == "xseg"

        square = [(20, 20), (44, 20), (44, 44), (20, 44)]  # crop px, about the crop's middle
        Select(browser.find_element(By.ID, "mask-class")).select_by_value("occlusion")
        click_polygon(browser, canvas, square, crop_px)
        Select(browser.find_element(By.ID, "mask-class")).select_by_value("face")
        click_polygon(browser, canvas, [(2, 2), (12, 2), (2, 12)], crop_px)
        shapes = browser.find_elements(By.CSS_SELECTOR, "#mask-shapes li")
        assert [shape.get_attribute("data-label") for shape in shapes] == ["occlusion", "face"]
        shapes[1].find_element(By.CLASS_NAME, "delete").click()  # the face triangle: deleted again
        browser.find_element(By.ID, "mask-save").click()
        assert f"labels/{video}/{face_id}.json" in saved(browser)
        wait_for(lambda: "labelled" in browser.find_element(
            By.CSS_SELECTOR, f'#mask-faces li[data-face="{face_id}"]').get_attribute("class"))
    finally:
        server.stop()

    label = root / "labels" / video / f"{face_id}.json"
    doc = json.loads(label.read_text())
    assert list(doc) == LABELME_FIELDS
    assert (doc["imageWidth"], doc["imageHeight"], doc["imageData"]) == (crop_px, crop_px, None)
    assert (label.parent / doc["imagePath"]).resolve() == (root / "results" / "videos" / video / "faces" /
                                                           faces["file"].iloc[i]).resolve()
    [shape] = doc["shapes"]
    assert {key: shape[key] for key in ("label", "group_id", "shape_type", "flags")} == {
        "label": "occlusion", "group_id": None, "shape_type": "polygon", "flags": {}}
    assert np.abs(np.array(shape["points"]) - square).max() < 0.2  # where it was clicked, in crop px

    # what the XSeg stage learns for the face: its hull less the square
    masks, labelled = face_labels(faces, crop_px, label.parent)
    hull = hull_labels(faces, crop_px)[i]
    assert labelled.tolist() == [face_id == other for other in faces["face_id"]]
    assert hull[32, 32] == 1 and masks[i][32, 32] == 0
    around = np.ones_like(hull, bool)
    around[18:47, 18:47] = False
    assert np.array_equal(masks[i][around], hull[around])
    # ... and a rerun trains the XSeg model on it and remakes what comes of it, nothing else
    jobs = Folder(root).dry_run()["jobs"]
    assert {rule: n for rule, n in jobs.items() if rule != "all"} == {"xseg_train": 1, "xseg_masks": 2,
                                                                      "label_review": 2}


def test_a_labelme_file_made_outside_opens_and_goes_back_unchanged(finished, tmp_path, browser):
    from selenium.webdriver.common.by import By

    root = copy_run(finished, tmp_path)
    video, faces, i = a_face(root)
    face_id, frame = faces["face_id"].iloc[i], int(faces["frame"].iloc[i])
    labels = root / "labels" / video
    labels.mkdir(parents=True)
    made = {  # as LabelMe 5.x writes it, on the crop shown at twice its size, and keys the editor does not know
        "version": "5.2.1", "flags": {"checked": True},
        "shapes": [
            {"label": "face", "points": [[4.5, 3.25], [120.0, 8.0], [119.75, 122.5], [6.0, 120.0]], "group_id": None,
             "description": "", "shape_type": "polygon", "flags": {}, "mask": None},
            {"label": "hand", "points": [[20.0, 60.0], [60.0, 100.0]], "group_id": 1, "description": "left hand",
             "shape_type": "rectangle", "flags": {"moving": False}, "mask": None, "other_tool": {"score": 0.5}}],
        "imagePath": f"{face_id}_x2.png", "imageData": None, "imageHeight": 128, "imageWidth": 128,
        "lineColor": [0, 255, 0, 128]}
    label = labels / f"{face_id}.json"
    label.write_text(json.dumps(made, indent=2))
    frame_file = labels / f"{frame:06d}.json"  # the frame's outline: shown, never written
    frame_file.write_text(json.dumps({"shapes": [{"label": "hair", "points": [[0, 0], [40, 0], [0, 40]]}]}))
    frame_bytes, frame_time = frame_file.read_bytes(), frame_file.stat().st_mtime_ns
    server = Server(root).start()
    try:
        open_masks_tab(browser, server, video)
        canvas = open_face(browser, face_id)
        assert canvas.get_attribute("data-mask") == "hull"  # XSeg is off in this run
        assert [s.get_attribute("data-label") for s in browser.find_elements(By.CSS_SELECTOR, "#mask-shapes li")] \
            == ["face", "hand"]
        assert frame_file.name in browser.find_element(By.ID, "mask-info").text
        browser.find_element(By.ID, "mask-save").click()
        saved(browser)
    finally:
        server.stop()
    assert json.loads(label.read_text()) == made
    assert frame_file.read_bytes() == frame_bytes and frame_file.stat().st_mtime_ns == frame_time


def test_the_mask_shown_without_xseg_is_the_hull(server):
    video, faces, i = a_face(server.folder.root)
    face_id = faces["face_id"].iloc[i]
    url = f"http://127.0.0.1:{server.port}/api/masks/{video}/{face_id}/mask.png?token={server.token}"
    with urllib.request.urlopen(url) as response:
        assert response.headers["X-Mask-Source"] == "hull"
        mask = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_GRAYSCALE)
    crop_px = int(faces["size"].iloc[i])
    assert np.array_equal(mask, np.round(hull_labels(faces, crop_px)[i] * 255).astype(np.uint8))
    status, body = ask(server, f"api/masks/{video}")
    assert status == 200 and len(body["faces"]) == len(faces) and body["labels"] == f"labels/{video}"
    assert all(face["why"] == "kept" or face["why"].startswith("left out: ") for face in body["faces"])


def test_bad_files_and_requests_are_refused_with_the_file_and_the_reason_writing_nothing(server):
    root = server.folder.root
    video, faces, i = a_face(root)
    face_id, other_id = faces["face_id"].iloc[i], faces["face_id"].iloc[i + 1]
    url, shown = f"api/masks/{video}/{face_id}", f"labels/{video}/{face_id}.json"
    labels = root / "labels" / video
    labels.mkdir(parents=True)
    broken = labels / f"{other_id}.json"
    broken.write_text('{\n  "shapes": [\n    {"label": "hand", "points": [[1, 2], [3, 4], [5, 6]]}\n  ],\n}\n')

    def post(path: str, body) -> tuple[int, dict]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return ask(server, path, method="POST", body=data, header_token=True)

    files = lambda: {p.relative_to(root): p.read_bytes() for p in root.rglob("*")
                     if p.is_file() and ".snakemake" not in p.parts}
    before = files()
    triangle, crop_px = [[10, 10], [30, 10], [30, 30]], int(faces["size"].iloc[i])
    assert ask(server, url, method="POST", body=json.dumps({"shapes": []}).encode())[0] == 403  # the token in the URL
    for body in (b"not json", b"[1, 2]", {"shapes": "face"}, {"revision": 3, "shapes": []}, {"faces": []}):
        status, answer = post(url, body)
        assert status == 400 and "the request's body must be a JSON object" in answer["error"], (body, answer)
    for shapes, reason in [
        ([1], "shapes must be LabelMe shapes"),
        ([{"label": "hand", "points": triangle[:2]}], f"{shown}: shape 1 (hand): a polygon needs at least 3 points, "
                                                     "it has 2"),
        ([{"label": "face", "points": triangle}, {"label": "hand", "points": [[10, 10], [300, 10], [30, 30]]}],
         f"{shown}: shape 2 (hand): point 2 (300, 10) lies outside the {crop_px} x {crop_px} px image"),
        ([{"label": "hand", "points": [[-1, 10], [30, 10], [30, 30]]}], "point 1 (-1, 10) lies outside"),
        ([{"label": "hand", "points": [["10", 10], [30, 10], [30, 30]]}],
         f"{shown}: shape 1 (hand): points are not a list of [x, y] numbers"),
        ([{"label": "hand"}], f"{shown}: shape 1 (hand): has no points"),
        ([{"label": "", "points": triangle}], f"{shown}: shape 1 has no label"),
    ]:
        status, answer = post(url, {"shapes": shapes, "revision": None})
        assert status == 400 and reason in answer["error"], (shapes, answer)
    for path, reason in [(f"api/masks/{video}/999999_0", f"no face '999999_0' among the extracted faces of {video}"),
                         ("api/masks/nobody/000000_0", "no face table for a video named 'nobody'"),
                         (f"api/masks/{video}/{face_id}.json", f"no face '{face_id}.json'")]:
        assert ask(server, path)[0] == 400
        status, answer = post(path, {"shapes": [{"label": "hand", "points": triangle}], "revision": None})
        assert status == 400 and reason in answer["error"], (path, answer)
    assert post(f"api/masks/{video}/..%2F..%2Fconfig", {"shapes": [], "revision": None})[0] in (400, 404)
    # a malformed file: opening it and saving over it are refused with its name and line
    malformed = f"labels/{video}/{other_id}.json: not a readable LabelMe JSON file: Expecting property name " \
                "enclosed in double quotes at line 5"
    for status, answer in (ask(server, f"api/masks/{video}/{other_id}"),
                           post(f"api/masks/{video}/{other_id}", {"shapes": [], "revision": None})):
        assert status == 400 and malformed in answer["error"], answer
    assert files() == before  # nothing written

    status, answer = post(url, {"shapes": [{"label": "hand", "points": triangle}], "revision": None})
    assert status == 200 and answer["written"] == shown
    # saved over since the editor read it (by LabelMe, another tab): refused
    status, answer = post(url, {"shapes": [], "revision": None})
    assert status == 409 and f"{shown} changed since the editor read it" in answer["error"]
    status, opened = ask(server, url)
    assert status == 200 and opened["exists"] and opened["shapes"][0]["points"] == triangle
    assert post(url, {"shapes": [], "revision": opened["revision"]})[0] == 200
    # a PNG mask of the face wins over its JSON file: saving one would change nothing, so it is refused
    cv2.imwrite(str(labels / f"{face_id}.png"), np.zeros((crop_px, crop_px), np.uint8))
    status, answer = post(url, {"shapes": [], "revision": ask(server, url)[1]["revision"]})
    assert status == 400 and f"labels/{video}/{face_id}.png is this face's mask already" in answer["error"]
