"""The review app's frames tab over a small real run: the frames to check, a landmark dragged and a
box drawn in headless Chromium, saved as the manual faces file that extraction reads, a dry run that
redoes that video's extraction and what follows from it only, and every refusal with nothing written."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import test_review
from swaplib.extract.manual import REPLACES_IOU, read_manual_faces
from swaplib.review.app import Server
from swaplib.review.frames import face_table
from test_review import ask, wait_for
from workflow_support import planned_jobs

pytestmark = pytest.mark.workflow
# test_review's fixtures: headless Chromium, the small run, and the app served over a copy of it.
browser, finished, server = test_review.browser, test_review.finished, test_review.server


def videos_of(server: Server) -> list[str]:
    status, body = ask(server, "api/videos")
    assert status == 200, body
    return [video["name"] for video in body["videos"]]


def test_the_frames_to_check_and_a_frame_s_faces(server):
    video = videos_of(server)[0]
    status, body = ask(server, f"api/frames/{video}")
    assert status == 200 and body["manual"] == [] and body["manual_file"] == f"manual_faces/{video}.json"
    table = (server.folder.results / "videos" / video / "to_check.tsv").read_text().splitlines()
    assert len(body["doubts"]) == len(table) - 1  # the workflow's list, row for row
    status, frame = ask(server, f"api/frames/{video}/0")
    assert status == 200 and frame["image"] == f"results/videos/{video}/frames/000000.png"
    [face] = [face for face in frame["faces"] if face["kept"]]
    assert len(face["landmarks"]) == 68 and face["score"] is not None
    assert frame["replaces_iou"] == REPLACES_IOU  # the page hides what a manual face replaces by extraction's rule


def test_the_face_table_is_read_again_only_when_the_file_changed(server):
    path = server.folder.results / "videos" / videos_of(server)[0] / "faces.parquet"
    first, stat = face_table(path), path.stat()
    assert face_table(path) is first  # paging through frames reads the table once
    try:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # as if extracted again
        again = face_table(path)
        assert again is not first and again.equals(first)
    finally:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize("body, status, words", [
    (b"[1]", 400, "must be a JSON object"),
    (json.dumps({"faces": "box"}).encode(), 400, "faces must be a list"),
    (json.dumps({"faces": [{"box": [1, 2, 3]}]}).encode(), 400, "face 1: box must be [x0, y0, x1, y1]"),
    (json.dumps({"faces": [{"box": [10, 10, 5000, 40]}]}).encode(), 400, "face 1: outside frame 0"),
    (json.dumps({"faces": [{"landmarks": [[1, 2]] * 60}]}).encode(), 400, "face 1: landmarks must be 68"),
])
def test_a_malformed_placement_is_refused_and_nothing_is_written(server, body, status, words):
    video = videos_of(server)[0]
    got, answer = ask(server, f"api/frames/{video}/0", method="POST", body=body, header_token=True)
    assert got == status and words in answer["error"]
    assert not (server.folder.root / "manual_faces").exists()


def test_unknown_videos_and_frames_are_404(server):
    video = videos_of(server)[0]
    assert ask(server, "api/frames/nobody")[0] == 404
    assert ask(server, f"api/frames/{video}/99999")[0] == 404
    body = json.dumps({"faces": []}).encode()
    assert ask(server, f"api/frames/{video}/99999", method="POST", body=body, header_token=True)[0] == 404
    assert ask(server, f"api/frames/{video}/0", method="POST", body=body, token="guess", header_token=True)[0] == 403
    assert not (server.folder.root / "manual_faces").exists()


def test_a_dragged_landmark_and_a_drawn_box_are_saved_and_redo_that_video_only(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    root = server.folder.root
    video, other = videos_of(server)
    _, frame = ask(server, f"api/frames/{video}/2")
    [found] = [face for face in frame["faces"] if face["kept"]]
    browser.get(server.url)
    browser.find_element(By.ID, "tab-frames").click()
    wait_for(lambda: browser.find_element(By.ID, "frames-video").get_attribute("value") == video)
    number = browser.find_element(By.ID, "frames-number")
    number.clear()
    number.send_keys("2")
    browser.find_element(By.ID, "frames-open").click()
    wait_for(lambda: browser.find_element(By.ID, "frames-info").text.startswith("frame 2:"))
    canvas = browser.find_element(By.ID, "frames-canvas")
    width, height = int(canvas.get_attribute("width")), int(canvas.get_attribute("height"))
    zoom = 512 / max(frame_size(root, video))  # the page draws a frame 512 px on its long side
    assert width == round(frame_size(root, video)[0] * zoom)

    def at(x, y):  # a frame point as Selenium's offset from the canvas's centre
        return round(x * zoom - width / 2), round(y * zoom - height / 2)

    chin = found["landmarks"][8]
    ActionChains(browser).move_to_element_with_offset(canvas, *at(*chin)).click_and_hold() \
        .move_by_offset(0, 12).release().perform()
    browser.find_element(By.ID, "frames-save").click()
    wait_for(lambda: "Saved manual_faces/" in browser.find_element(By.ID, "message").text)
    wait_for(lambda: browser.find_element(By.ID, "frames-info").text.startswith("frame 2:")
             and "1 placed by hand" in browser.find_element(By.ID, "frames-info").text)  # drawn again, saved
    [placed] = read_manual_faces(root / "manual_faces" / f"{video}.json")[2]
    assert placed.box is None
    moved = np.asarray(placed.landmarks) - np.asarray(found["landmarks"])
    assert np.abs(moved[8, 1] - 12 / zoom) < 2 / zoom and np.abs(np.delete(moved, 8, axis=0)).max() < 0.01

    # A box drawn on another frame: the landmarker will fit inside it.
    number = browser.find_element(By.ID, "frames-number")
    number.clear()
    number.send_keys("5")
    browser.find_element(By.ID, "frames-open").click()
    wait_for(lambda: browser.find_element(By.ID, "frames-info").text.startswith("frame 5:"))
    _, fifth = ask(server, f"api/frames/{video}/5")
    x0, y0, x1, y1 = next(face for face in fifth["faces"] if face["kept"])["box"]
    browser.find_element(By.ID, "frames-box").click()
    ActionChains(browser).move_to_element_with_offset(canvas, *at(x0, y0)).click_and_hold() \
        .move_to_element_with_offset(canvas, *at(x1, y1)).release().perform()
    browser.find_element(By.ID, "frames-save").click()
    wait_for(lambda: "frame 5" in browser.find_element(By.ID, "frames-info").text
             and "1 placed by hand" in browser.find_element(By.ID, "frames-info").text)
    placed = read_manual_faces(root / "manual_faces" / f"{video}.json")
    assert sorted(placed) == [2, 5] and placed[5][0].landmarks is None
    assert np.allclose(placed[5][0].box, (x0, y0, x1, y1), atol=2 / zoom)

    jobs = planned_jobs(root)
    # One of the two videos' extraction (the other's stays), and what follows from it.
    assert jobs.get("faces") == 1 and jobs.get("faces_to_check") == 1 and other != video
    assert "frames" not in jobs and {"faceset", "merge", "video"} <= set(jobs)


def frame_size(root, video) -> tuple[int, int]:
    from swaplib.core.images import read_image

    height, width = read_image(root / "results" / "videos" / video / "frames" / "000000.png").shape[:2]
    return width, height
