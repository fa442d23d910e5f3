"""`snakemake --report` after a real run: it builds, holds every picture with its caption and each pair's
quality figures, and renders offline in a real browser (headless Chromium)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from swaplib.quality.figures import FIGURES
from test_quality import PAIR, small_run  # one small real run for both modules
from workflow_support import REPO, snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def run(tmp_path_factory, clip):
    run = small_run(tmp_path_factory, clip)
    snakemake(run, "--report", "report.html")
    return run


def embedded(report) -> tuple[dict, dict]:
    """(results, categories): what the report's app shows, as the report stores it."""
    text = report.read_text()
    found = {name: re.search(rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>', text, re.S)
             for name in ("results", "categories")}
    assert all(found.values()), "the report's layout changed: no results/categories data found"
    return json.loads(found["results"].group(1)), json.loads(found["categories"].group(1))


def content(entry: dict) -> bytes:
    return base64.b64decode(entry["data_uri"].partition("base64,")[2])


def test_report_holds_every_picture_with_its_caption(run):
    results, categories = embedded(run / "report.html")
    assert {"Face sets", "Models", "Videos", "Pairs"} <= set(categories)
    pair = results_in(categories["Pairs"][PAIR], results)
    assert sorted(pair) == ["quality.csv", "quality.html", "quality.png", "strip.jpg"]
    for name, entry in pair.items():
        assert PAIR in entry["caption"], name  # the caption names its pair
    images = [e for e in results.values() if e["mime_type"] in ("image/png", "image/jpeg")]
    assert len(images) >= 6  # contact sheets, preview, loss plot, strip, quality plot
    for entry in images:
        image = cv2.imdecode(np.frombuffer(content(entry), np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.size, entry["name"]
        assert entry["caption"].strip(), f"{entry['name']} has no caption"
    assert any(e["mime_type"] == "video/mp4" for e in results.values())


def results_in(paths: list[str], results: dict) -> dict[str, dict]:
    return {results[path]["name"].rsplit("/", 1)[-1]: results[path] for path in paths}


def test_report_shows_each_pairs_quality_figures_settings_and_provenance(run):
    results, categories = embedded(run / "report.html")
    card = content(results_in(categories["Pairs"][PAIR], results)["quality.html"]).decode()
    quality = json.loads((run / f"results/pairs/{PAIR}/quality.json").read_text())
    # The verdict first, in words, then each figure beside its ceiling.
    assert card.index(f"Verdict: {quality['verdict']}.") < card.index("<table")
    for name in (name for name in FIGURES if name != "verdict"):
        assert re.search(rf"<th>{name}</th><td>{re.escape(str(quality[name]))}</td>", card), name
    assert "<th>mode</th><td>overlay</td>" in card  # the merge settings
    assert "<th>synthetic</th><td>True</td>" in card  # the video's provenance record
    assert "dlib_face_recognition_resnet_model_v1" in card


def test_report_renders_offline_in_chromium(run):
    shots = {}
    pages = (("report.html", ["Results", "Save as SVG"]), (f"results/pairs/{PAIR}/quality.html", list(FIGURES)))
    for page, expect in pages:
        shot = run / f"{page.replace('/', '_')}.png"
        proc = subprocess.run(
            [sys.executable, str(REPO / "bench" / "report_screenshot.py"), str(run / page), str(shot), *expect],
            capture_output=True, text=True, timeout=300,
        )
        if proc.returncode == 2:
            pytest.skip(f"no headless Chromium here ({proc.stderr.strip()}); "
                        "apt-get install chromium to run this check")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        shots[page] = shot
    print("screenshots:", *shots.values())
    for shot in shots.values():
        image = cv2.imread(str(shot))
        assert image.shape[:2] == (1000, 1400) and image.std() > 5  # not a blank page
