"""`snakemake --report` after a real run: it builds (HTML and ZIP), every entry is labelled with what it
shows and its pair, model and videos, each pair's section opens with its verdict, each swapped video
plays inside it, each quality CSV is also an HTML table, each model shows what it trained with, and
it renders offline in a real browser (headless Chromium), the video playing there."""

from __future__ import annotations

import base64
import csv
import importlib.util
import json
import os
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from swaplib.core.errors import SwaplibError
from swaplib.model.io import read_header
from swaplib.quality.figures import FIGURES
from swaplib.report.pages import photos_page, table_page, video_page
from test_quality import PAIR, SMALL, small_run  # one small real run for both modules
from workflow_support import REPO, snakemake

MODEL = PAIR  # the sheet names no model: the pair's own
PAIR_PAGES = ["player.html", "quality.csv", "quality.html", "quality.png", "quality_table.html", "strip.jpg"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, clip):
    run = small_run(tmp_path_factory, clip)
    made = snakemake(run, "--report", "report.html")
    assert "never awaited" not in made.stdout + made.stderr  # Snakemake's own warnings, kept off by the profile
    snakemake(run, "--report", "report.zip")
    return run


def embedded(report: Path) -> tuple[dict, dict]:
    """(results, categories): what the report's app shows, as the report stores it."""
    return embedded_in(report.read_text())


def embedded_in(text: str) -> tuple[dict, dict]:
    found = {name: re.search(rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>', text, re.S)
             for name in ("results", "categories")}
    assert all(found.values()), "the report's layout changed: no results/categories data found"
    return json.loads(found["results"].group(1)), json.loads(found["categories"].group(1))


def content(entry: dict) -> bytes:
    return base64.b64decode(entry["data_uri"].partition("base64,")[2])


def results_in(paths: list[str], results: dict) -> dict[str, dict]:
    return {results[path]["name"].rsplit("/", 1)[-1]: results[path] for path in paths}


def pair_section(categories: dict, pair: str = PAIR) -> tuple[str, list[str]]:
    pairs = categories["1. Pairs and verdicts"]
    [(name, paths)] = [(name, paths) for name, paths in pairs.items() if name.split(":")[0] == pair]
    return name, paths


def pair_entries(run: Path) -> dict[str, dict]:
    results, categories = embedded(run / "report.html")
    return results_in(pair_section(categories)[1], results)


def as_the_app_orders(entries: dict[str, dict]) -> list[str]:
    """Entry names in the order the report's app lists a section: by label values, the first label first."""
    return sorted(entries, key=lambda name: list(entries[name]["labels"].values()))


@pytest.mark.workflow
def test_report_holds_every_picture_with_its_caption(run):
    results, categories = embedded(run / "report.html")
    assert sorted(categories) == ["1. Pairs and verdicts", "2. Models", "3. Face sets"]  # the pairs first
    pair = pair_entries(run)
    assert sorted(pair) == PAIR_PAGES
    for name, entry in pair.items():
        assert PAIR in entry["caption"], name  # the caption names its pair
    images = [e for e in results.values() if e["mime_type"] in ("image/png", "image/jpeg")]
    assert len(images) >= 6  # contact sheets, preview, loss plot, strip, quality plot
    for entry in images:
        image = cv2.imdecode(np.frombuffer(content(entry), np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.size, entry["name"]
    for entry in results.values():
        assert entry["caption"].strip(), f"{entry['name']} has no caption"


@pytest.mark.workflow
def test_report_labels_every_entry_and_opens_each_pair_with_its_verdict(run):
    results, categories = embedded(run / "report.html")
    for path, entry in results.items():
        assert entry["labels"] and next(iter(entry["labels"])) == "shows", path  # what it shows comes first
    quality = json.loads((run / f"results/pairs/{PAIR}/quality.json").read_text())
    section, _ = pair_section(categories)
    assert section == f"{PAIR}: verdict {quality['verdict']}"
    pair = pair_entries(run)
    for entry in pair.values():
        assert entry["labels"] == {  # two columns: more squeeze the report's page
            "shows": entry["labels"]["shows"],
            "pair": f"{PAIR}: lp_d20_young_man_talking → lp_s18_woman_landscape_talking (model {MODEL})",
        }
    order = as_the_app_orders(pair)
    assert order[:2] == ["quality.html", "player.html"], order  # the verdict, then the video
    assert pair["quality.html"]["labels"]["shows"] == "1. verdict and quality figures"
    assert len({entry["labels"]["shows"] for entry in pair.values()}) == len(pair)  # one row each

    model = results_in(categories["2. Models"][MODEL], results)
    assert as_the_app_orders(model) == ["settings.html", "preview.jpg", "loss.png"]
    for entry in model.values():
        assert set(entry["labels"]) == {"shows", "model"}
        assert entry["labels"]["model"] == f"{MODEL}: lp_d20_young_man_talking → lp_s18_woman_landscape_talking"
    for video, paths in categories["3. Face sets"].items():
        for path in paths:
            assert results[path]["labels"] == {"shows": "contact sheet 001", "video": video}, path


PLAYER = re.compile(r"<video [^>]*\bcontrols\b[^>]*><source type='video/mp4' src='data:video/mp4;base64,([^']+)'>")


def played_video(page: str) -> bytes:
    """The bytes of the video a player page plays."""
    found = PLAYER.search(page)
    assert found, "no <video controls> with an mp4 source in the page"
    return base64.b64decode(found.group(1), validate=True)


@pytest.mark.workflow
def test_each_swapped_video_plays_inside_the_report(run):
    video = (run / f"results/pairs/{PAIR}.mp4").read_bytes()
    page = content(pair_entries(run)["player.html"]).decode()
    assert played_video(page) == video  # the whole video, inside the self-contained report
    assert "This video is synthetic" in page and "(synthetic)" in page
    assert "<th>destination video</th><td>lp_s18_woman_landscape_talking.mp4</td>" in page
    # The ZIP report: the same page among its files, listed by the report inside it.
    with zipfile.ZipFile(run / "report.zip") as archive:
        results, categories = embedded_in(archive.read("report/report.html").decode())
        player = results_in(pair_section(categories)[1], results)["player.html"]
        assert played_video(archive.read(f"report/{player['data_uri']}").decode()) == video


class Tables(HTMLParser):
    """The cells of every <table> of a page, row by row."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def tables_of(page: str) -> list[list[list[str]]]:
    parser = Tables()
    parser.feed(page)
    return parser.tables


@pytest.mark.workflow
def test_each_quality_csv_is_an_html_table_in_the_report(run):
    with open(run / f"results/pairs/{PAIR}/quality.csv", newline="") as f:
        rows = [[cell or "n/a" for cell in row] for row in csv.reader(f)]
    [table] = tables_of(content(pair_entries(run)["quality_table.html"]).decode())
    assert table == rows and len(rows) > 5 and "relative_sharpness" in rows[0]


@pytest.mark.workflow
def test_a_models_entry_shows_what_it_trained_with(run):
    results, categories = embedded(run / "report.html")
    page = content(results_in(categories["2. Models"][MODEL], results)["settings.html"]).decode()
    header = read_header(run / f"results/models/{MODEL}/model.safetensors")
    training, architecture, settings, _other = (dict(table) for table in tables_of(page))
    assert training["iterations"] == str(SMALL["train"]["iterations"]) and training["stopped_by"] == "iterations"
    assert training["base"] == "none (trained from scratch)"
    shown = lambda value: "n/a" if value is None else str(value)  # e.g. AMP's inter_dims on a df model
    assert architecture == {key: shown(value) for key, value in header["model_config"].items()}
    assert architecture["resolution"] == "64"  # the tiny preset's
    assert settings["batch_size"] == str(SMALL["train"]["batch_size"]) and settings["lr"] == str(SMALL["train"]["lr"])
    assert set(settings) == set(header["settings"])  # every setting as training resolved it


def test_pages_name_the_file_they_cannot_read(tmp_path):
    empty = tmp_path / "pair.mp4"
    empty.write_bytes(b"")
    with pytest.raises(SwaplibError, match=r"pair\.mp4: the swapped video is empty"):
        video_page(empty, tmp_path / "pair.provenance.json", tmp_path / "player.html", title="t")
    with pytest.raises(SwaplibError, match=r"missing\.mp4: cannot read the swapped video"):
        video_page(tmp_path / "missing.mp4", tmp_path / "p.json", tmp_path / "player.html", title="t")
    (tmp_path / "p.provenance.json").write_text('{"files": [{"file": "gone.jpg"}]}')
    with pytest.raises(SwaplibError, match=r"gone\.jpg: cannot read the swapped photo"):
        photos_page(tmp_path / "p.photos", tmp_path / "p.provenance.json", tmp_path / "player.html", title="t")
    (tmp_path / "quality.csv").write_text("")
    with pytest.raises(SwaplibError, match=r"quality\.csv: the table is empty"):
        table_page(tmp_path / "quality.csv", tmp_path / "table.html", title="t")
    assert not list(tmp_path.glob("*.html"))  # no page half-written


def report_screenshot():
    spec = importlib.util.spec_from_file_location("report_screenshot", REPO / "bench" / "report_screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.find_browser() is None:
        if os.environ.get("SWAPLIB_REQUIRE_BROWSER"):  # CI installs it: a skip there would hide a broken install
            raise AssertionError("no headless Chromium found, but SWAPLIB_REQUIRE_BROWSER is set (.ci/run)")
        pytest.skip("no headless Chromium here; apt-get install chromium to run this check")
    return module.screenshot


# Added to a copy of the report: the player page framed as the report frames it (an iframe of its
# entry's data), during the page's load (headless Chromium's virtual time waits for that, not for
# a video started later), listening to what it says; then the app driven to the pair's section and
# its second row (the video) shown, as a click does.
DRIVER = """<script>
window.addEventListener('message', event => document.body.setAttribute('data-player', String(event.data)));
const frame = document.createElement('iframe');
frame.src = results[PLAYER].data_uri;
document.body.appendChild(frame);
window.addEventListener('load', () => setTimeout(() => {
  app.setView({navbarMode: 'subcategory', category: '1. Pairs and verdicts', subcategory: SECTION});
  setTimeout(() => document.querySelectorAll('tbody tr')[1].querySelector('a').click(), 200);
}, 200));
</script>"""


@pytest.mark.workflow
def test_report_renders_offline_in_chromium_with_the_video_playing(run):
    screenshot = report_screenshot()
    text = (run / "report.html").read_text()
    results, categories = embedded_in(text)
    section, paths = pair_section(categories)
    pages = results_in(paths, results)
    player = next(path for path in paths if path.endswith("player.html"))
    head, end, tail = text.rpartition("</body>")
    driver = DRIVER.replace("PLAYER", json.dumps(player)).replace("SECTION", json.dumps(section))
    driven = run / "report_driven.html"
    driven.write_text(head + driver + end + tail)
    table = run / "quality_table_from_report.html"
    table.write_bytes(content(pages["quality_table.html"]))

    card = run / f"results/pairs/{PAIR}/quality.html"
    shots = {page: run / f"{page.name}.png" for page in (driven, table, card)}
    dom = screenshot(driven, shots[driven], ["Results", "1. verdict and quality figures"])
    assert re.search(r'data-player="The video plays here: \d+x\d+ px', dom), "the video did not play in the report"
    rows = [re.sub(r"<[^>]+>", " ", row).split()[1] for row in re.findall(r"<tr[^>]*>\s*<td.*?</tr>", dom, re.S)]
    assert rows[:2] == ["verdict", "swapped"], rows  # the section's rows as the app lists them
    shown = re.search(r'<iframe src="(data:text/html[^"]+)"', dom)
    assert shown and "filename=player.html" in shown.group(1)  # the app shows the player page
    table_dom = screenshot(table, shots[table], ["relative_sharpness"])
    assert table_dom.count("<tr>") > 5
    screenshot(card, shots[card], list(FIGURES))
    print("screenshots:", *shots.values())
    for shot in shots.values():
        image = cv2.imread(str(shot))
        assert image.shape[:2] == (1000, 1400) and image.std() > 5  # not a blank page



@pytest.mark.workflow
def test_the_report_opens_with_the_pairs_and_their_verdicts_first(run):
    screenshot = report_screenshot()
    dom = screenshot(run / "report.html", run / "report_front.png", ["Results", "1. Pairs and verdicts"])
    menu = [dom.index(name) for name in ("1. Pairs and verdicts", "2. Models", "3. Face sets")]
    assert menu == sorted(menu)  # the sidebar lists the results first, then the models, then the face sets
