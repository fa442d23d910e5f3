"""`swaplib review`: the real server over a small real run, driven by headless Chromium (Selenium
with Debian's chromium-driver), and every refusal of the server (token, Host, paths, bodies) with
nothing written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from swaplib.core.errors import SwaplibError
from swaplib.review.app import Server
from swaplib.review.guard import TOKEN_HEADER
from swaplib.sort.curation import read_rows
from test_quality import PAIR, SMALL, small_run  # one small real run, shared with the quality and report tests
from workflow_support import copy_run, planned_jobs, write_config

pytestmark = pytest.mark.workflow
WAIT_S = 120


@pytest.fixture(scope="module")
def finished(tmp_path_factory, clip):
    return small_run(tmp_path_factory, clip)


@pytest.fixture
def server(finished, tmp_path):
    served = Server(copy_run(finished, tmp_path)).start()
    yield served
    served.stop()


def ask(server: Server, path: str, *, token: str | None = "", host: str | None = None, method: str = "GET",
        body: bytes | None = None, header_token: bool = False) -> tuple[int, dict]:
    """(status, JSON body) of one request; token "" = the server's own, None = none."""
    token = server.token if token == "" else token
    url = f"http://127.0.0.1:{server.port}/{path}"
    if token is not None and not header_token:
        url += ("&" if "?" in url else "?") + f"token={token}"
    request = urllib.request.Request(url, data=body, method=method)
    if header_token and token is not None:
        request.add_header(TOKEN_HEADER, token)
    if host:
        request.add_header("Host", host)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def video_of(server: Server) -> str:
    status, body = ask(server, "api/videos")
    assert status == 200 and body["videos"], body
    return body["videos"][0]["name"]


def test_the_server_refuses_what_it_must_and_writes_nothing(server):
    root = server.folder.root
    video = video_of(server)
    files = lambda: {p.relative_to(root) for p in root.rglob("*") if ".snakemake" not in p.parts}
    before = files()
    assert ask(server, "api/videos", token=None) == (403, {"error": "no token: open the address swaplib review "
                                                                    "printed (it ends with ?token=...)"})
    assert ask(server, "api/videos", token="guess")[0] == 403
    status, body = ask(server, "api/videos", host="example.com")
    assert status == 403 and "foreign Host header" in body["error"]
    assert ask(server, "api/videos", host=f"evil.example:{server.port}")[0] == 403  # a rebound name, the right port
    for path in ("files/../config.yaml", "files/..%2F..%2Fetc%2Fpasswd", "files/results/../../x"):
        status, body = ask(server, path)
        assert status in (400, 404) and "error" in body, (path, status, body)
    outside = root.parent / "outside.txt"
    outside.write_text("not the work folder's")
    (root / "link").symlink_to(outside)
    status, body = ask(server, "files/link")
    assert status == 400 and "leads outside the work folder" in body["error"]
    curation = f"api/videos/{video}/curation"
    good = json.dumps({"faces": ["000001_0"], "action": "exclude"}).encode()
    assert ask(server, curation, method="POST", body=good)[0] == 403  # the token in the URL: not enough to write
    for bad in (b"not json", b"[1, 2]", json.dumps({"faces": [], "action": "exclude"}).encode(),
                json.dumps({"faces": ["000001_0"], "action": "delete"}).encode(),
                json.dumps({"faces": ["999999_0"], "action": "exclude"}).encode(),
                json.dumps({"faces": ["../x"], "action": "exclude"}).encode()):
        status, body = ask(server, curation, method="POST", body=bad, header_token=True)
        assert status == 400 and body["error"], (bad, status, body)
    status, body = ask(server, "api/videos/..%2Fx/faces")
    assert status in (400, 404)
    assert ask(server, "api/models/nobody/stop", method="POST", body=b"{}", header_token=True)[0] == 400
    overrides = f"api/pairs/{PAIR}/overrides"
    for bad in ({"first": 0, "last": 99999, "changes": {"color_transfer": "none"}},
                {"first": 0, "last": 1, "changes": {"precision": "fp32"}},
                {"first": 0, "last": 1, "changes": {"erode_mask_modifier": 9999}},
                {"first": 0, "last": 1, "changes": {}}, {"first": "0", "last": 1, "changes": {"mode": "overlay"}}):
        status, body = ask(server, overrides, method="POST", body=json.dumps(bad).encode(), header_token=True)
        assert status == 400 and body["error"], (bad, status, body)
    assert ask(server, "api/pairs/nobody/render", method="POST", body=b"{}", header_token=True)[0] == 400
    assert files() - {Path("link")} == before  # nothing written

    status, body = ask(server, curation, method="POST", body=good, header_token=True)
    assert status == 200 and body["written"] == f"curation/{video}.tsv"
    assert [(r.face, r.action) for r in read_rows(root / body["written"])] == [("000001_0", "exclude")]


def test_two_tabs_writing_at_once_lose_no_row(server):
    import concurrent.futures

    video = video_of(server)
    faces = [f"{i:06d}_0" for i in range(8)]
    write = lambda face: ask(server, f"api/videos/{video}/curation", method="POST", header_token=True,
                             body=json.dumps({"faces": [face], "action": "exclude"}).encode())
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert {status for status, _ in pool.map(write, faces)} == {200}
    sheet = server.folder.curation_sheet(video)
    assert sorted(r.face for r in read_rows(sheet)) == faces


# ------------------------------------------------------------------------------------ in Chromium


@pytest.fixture
def browser():
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        if os.environ.get("SWAPLIB_REQUIRE_BROWSER"):  # CI installs them: a skip there would hide a broken install
            raise AssertionError("no chromium and chromium-driver here, but SWAPLIB_REQUIRE_BROWSER is set (.ci/run)")
        pytest.skip("no chromium and chromium-driver here; apt-get install chromium chromium-driver to run this")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def wait_for(what, timeout: float = WAIT_S, every: float = 0.2):
    """`what()`'s first true value, polled; AssertionError after `timeout` seconds."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = what()
        except (NoSuchElementException, StaleElementReferenceException):  # the page redrew in between
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"waited {timeout} s in vain")


def test_excluding_two_faces_in_the_page_writes_the_sheet_and_the_dry_run_says_what_reruns(server, browser):
    from selenium.webdriver.common.by import By

    root = server.folder.root
    browser.get(server.url)
    tiles = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#grid .face"))
    chosen = [tile.get_attribute("data-face") for tile in tiles[:2]]
    assert all(tile.find_element(By.TAG_NAME, "img").get_attribute("naturalWidth") != "0" for tile in tiles[:2])
    for face in chosen:  # each click redraws the grid: find the tile anew
        browser.find_element(By.CSS_SELECTOR, f'[data-face="{face}"]').click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#grid .face.chosen")) == 2
    browser.find_element(By.CSS_SELECTOR, "[data-action=exclude]").click()
    message = wait_for(lambda: "written to" in (text := browser.find_element(By.ID, "message").text) and text)
    video = browser.find_element(By.ID, "video").get_attribute("value")
    sheet = root / "curation" / f"{video}.tsv"
    assert f"curation/{video}.tsv" in message
    assert [(r.face, r.action) for r in read_rows(sheet)] == [(face, "exclude") for face in chosen]
    # the page redraws from the workflow's files: the two faces now say so
    wait_for(lambda: all("exclude" in browser.find_element(By.CSS_SELECTOR, f'[data-face="{face}"]').text
                         for face in chosen))

    browser.find_element(By.ID, "dry-run").click()
    shown = wait_for(lambda: browser.find_element(By.ID, "dry-run-result").get_attribute("data-jobs"))
    expected = planned_jobs(root)
    assert json.loads(shown) == expected
    assert {"faceset", "train", "merge", "video"} <= set(expected) and "faces" not in expected  # from sort on


def test_a_training_stops_from_the_page(finished, tmp_path, browser):
    from selenium.webdriver.common.by import By

    root = copy_run(finished, tmp_path)
    write_config(root, {**SMALL, "train": {**SMALL["train"], "iterations": 1_000_000, "save_every": 5}})
    model = root / "results" / "models" / PAIR / "model.safetensors"
    env = dict(os.environ, PYTHONPATH=str(root / "src"), PYTHONUNBUFFERED="1")
    training = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", str(model.relative_to(root))],
                                cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server = Server(root).start()
    try:
        browser.get(server.url)
        browser.find_element(By.ID, "tab-training").click()

        def stop_button():
            for block in browser.find_elements(By.CSS_SELECTOR, f'.model[data-model="{PAIR}"]'):
                button = block.find_element(By.CLASS_NAME, "stop")
                if button.is_enabled():
                    return button
            return None

        wait_for(stop_button, every=1.0).click()  # enabled once the training has saved past where it was
        assert browser.find_element(By.ID, "running").is_displayed()  # the page knows a run holds the folder
        output, _ = training.communicate(timeout=WAIT_S)
        assert training.returncode == 0, output
        wait_for(lambda: "stopped (stop request)" in browser.find_element(
            By.CSS_SELECTOR, f'.model[data-model="{PAIR}"] .state').text, every=1.0)
    finally:
        server.stop()
        if training.poll() is None:
            training.kill()
    from swaplib.model.io import read_header

    header = read_header(model)
    assert header["stopped_by"] == "stop request" and SMALL["train"]["iterations"] < header["iterations"] < 1_000_000


# ------------------------------------------------------------------------------------ the merger


def assert_same_frame(drawn, written, frame: int) -> None:
    """The page's frame is the merge stage's: the same code on the same inputs. The model sees the
    face alone on the page and in batches of up to 32 in the stage, and the CPU's kernels for another
    batch size may round a float differently: a pixel may differ by 1 level, a few of them at most."""
    import numpy as np

    assert drawn.shape == written.shape
    differ = np.abs(drawn.astype(int) - written.astype(int))
    assert differ.max() <= 1 and (differ > 0).any(-1).mean() < 0.001, \
        f"frame {frame}: {int((differ > 0).any(-1).sum())} pixels differ, by up to {differ.max()}"


def test_the_merge_page_draws_the_frame_the_merge_stage_wrote(server):
    import cv2
    import numpy as np

    status, body = ask(server, "api/merge")
    assert status == 200 and {d["name"] for d in body["declarations"]} >= {"mode", "mask", "color_transfer",
                                                                           "erode_mask_modifier", "precision"}
    pair = next(p for p in body["pairs"] if p["pair"] == PAIR)
    merged = sorted((server.folder.root / "results" / "pairs" / PAIR / "merged").glob("*.png"))
    for path in merged[:: max(1, len(merged) // 4)]:
        frame = int(path.stem)
        url = f"http://127.0.0.1:{server.port}/api/pairs/{PAIR}/frames/{frame}.png?token={server.token}"
        with urllib.request.urlopen(url) as response:
            drawn = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
            assert float(response.headers["X-Draw-Seconds"]) >= 0
        assert_same_frame(drawn, cv2.imread(str(path)), frame)
    assert pair["first"] == int(merged[0].stem) and pair["last"] == int(merged[-1].stem)
    for changes, why in (({"precision": "fp32"}, "not settings a frame may change: precision"),
                         ({"erode_mask_modifier": 9999}, "must be within -400..400, got 9999")):
        status, body = ask(server, f"api/pairs/{PAIR}/frames/1.png?changes={urllib.parse.quote(json.dumps(changes))}")
        assert status == 400 and why in body["error"]
    assert ask(server, f"api/pairs/{PAIR}/frames/1.png?changes=not-json")[0] == 400
    assert ask(server, "api/pairs/nobody/frames/1.png")[0] == 400


def test_a_change_from_a_frame_on_is_saved_drawn_and_rendered_with_merge_and_video_only(server, browser):
    import cv2
    import numpy as np
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    root = server.folder.root
    pair = next(p for p in ask(server, "api/merge")[1]["pairs"] if p["pair"] == PAIR)
    frame = (pair["first"] + pair["last"]) // 2 + 1  # a range from here on leaves the frames before it as they are
    browser.get(server.url)
    browser.find_element(By.ID, "tab-merge").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#merge-settings label[data-setting=color_transfer]"))
    browser.execute_script(f"const s = document.getElementById('frame'); s.value = {frame}; "
                           "s.dispatchEvent(new Event('input'));")
    wait_for(lambda: browser.find_element(By.ID, "merged-frame").get_attribute("data-frame") == str(frame))
    Select(browser.find_element(By.CSS_SELECTOR, "label[data-setting=color_transfer] select")).select_by_value("none")
    wait_for(lambda: "color_transfer" in (browser.find_element(By.ID, "merged-frame").get_attribute("data-changes")
                                          or ""))
    assert "ms" in browser.find_element(By.ID, "draw-time").text
    Select(browser.find_element(By.ID, "scope")).select_by_value("from")
    browser.find_element(By.ID, "apply").click()
    wait_for(lambda: "Saved to" in browser.find_element(By.ID, "message").text)
    sheet = root / "merge" / f"{PAIR}.tsv"
    last = max(int(p.stem) for p in (root / "results" / "pairs" / PAIR / "merged").glob("*.png"))
    assert sheet.read_text().splitlines() == ["first_frame\tlast_frame\tsetting\tvalue",
                                              f"{frame}\t{last}\tcolor_transfer\tnone"]
    assert {"merge", "video"} <= set(planned_jobs(root)) and "train" not in planned_jobs(root)

    before = cv2.imread(str(root / "results" / "pairs" / PAIR / "merged" / f"{frame - 1:06d}.png"))
    browser.find_element(By.ID, "render").click()
    wait_for(lambda: browser.find_element(By.ID, "render-log").get_attribute("data-state") not in (None, "", "running"),
             every=1.0)
    assert browser.find_element(By.ID, "render-log").get_attribute("data-state") == "done"
    assert json.loads(browser.find_element(By.ID, "render-log").get_attribute("data-rules")) == ["merge", "video"]
    assert browser.find_element(By.ID, "rendered").is_displayed()
    merged = root / "results" / "pairs" / PAIR / "merged"
    assert np.array_equal(cv2.imread(str(merged / f"{frame - 1:06d}.png")), before)  # before the range: as it was
    url = f"http://127.0.0.1:{server.port}/api/pairs/{PAIR}/frames/{frame}.png?token={server.token}"
    with urllib.request.urlopen(url) as response:  # the sheet now says none from this frame on
        drawn = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
    assert_same_frame(drawn, cv2.imread(str(merged / f"{frame:06d}.png")), frame)


def test_train_on_raises_a_checkout_s_budget_in_its_config_and_trains_on(finished, tmp_path):
    """A checkout's folder (`make run`): "train on" sets train.iterations in its config.yaml (that line
    alone) and runs the model's training only, resuming where it stood."""
    import yaml

    from swaplib.model.io import read_header
    from swaplib.review.folder import Folder

    root = copy_run(finished, tmp_path)
    config = root / "config.yaml"
    config.write_text(config.read_text().replace("train:\n", "train: # the recipe\n", 1))  # a comment to keep
    folder = Folder(root)
    model = root / "results" / "models" / PAIR / "model.safetensors"
    before, lines = read_header(model)["iterations"], config.read_text().splitlines()
    budget = yaml.safe_load(config.read_text())["train"]["iterations"]
    assert folder.train_on(PAIR, 4)["state"] == "running"
    job = wait_for(lambda: folder.job()["state"] != "running" and folder.job(), every=1.0)
    assert job["state"] == "done" and job["rules"] == ["train"], job
    assert read_header(model)["iterations"] == before + 4
    after = config.read_text().splitlines()
    changed = [(old, new) for old, new in zip(lines, after) if old != new]
    assert len(after) == len(lines) and changed == [(f"  iterations: {budget}", f"  iterations: {before + 4}")]
    assert yaml.safe_load(config.read_text())["train"]["iterations"] == before + 4


def test_train_on_raises_a_swap_folder_s_budget_and_trains_on(finished, tmp_path):
    """A `swaplib swap` folder (its settings in swap.yaml): "train on" raises train.iterations there, as
    `swaplib swap --iterations` does, and runs the model's training only, resuming where it stood."""
    import yaml

    from swaplib.model.io import read_header
    from swaplib.review.folder import Folder

    root = copy_run(finished, tmp_path / "swap")
    (root / "Snakefile").unlink()  # the installation's workflow runs it, with its config.yaml and swap.yaml
    (root / "swap.yaml").write_text(yaml.safe_dump({**SMALL, "pairs": "pairs.tsv"}, sort_keys=False))
    folder = Folder(root)
    model = root / "results" / "models" / PAIR / "model.safetensors"
    before = read_header(model)["iterations"]
    for bad in (0, -3, 2.5, True, "5"):
        with pytest.raises(SwaplibError, match="at least 1"):
            folder.train_on(PAIR, bad)
    assert folder.train_on(PAIR, 5)["state"] == "running"
    with pytest.raises(SwaplibError, match="already running"):
        folder.train_on(PAIR, 5)
    job = wait_for(lambda: folder.job()["state"] != "running" and folder.job(), every=1.0)
    assert job["state"] == "done" and job["rules"] == ["train"], job
    assert read_header(model)["iterations"] == before + 5
    assert yaml.safe_load((root / "swap.yaml").read_text())["train"]["iterations"] == before + 5
