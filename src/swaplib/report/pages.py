"""The report's own pages: a pair's swapped video in a player (or its swapped photos in a grid), its
per-face quality table, and what a model trained with (its file's header).

Each is one self-contained HTML file: the report shows a page in a frame and must open offline, so a
page loads nothing; the video (or each photo's thumbnail) travels inside its page as a data: URI. They
look like the quality card (the pair's verdict page): swaplib.core.html.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

from PIL import Image

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.core.html import END, head, read_json, rows, write_page
from swaplib.model.io import read_header

SYNTHETIC = ("This video is synthetic: a face swap made by swaplib, not a recording. It carries the marks of "
             "one (a visible label where video.label is set, metadata tags, a signed C2PA manifest, a provenance "
             "sidecar: python -m swaplib verify checks them).")
PHOTOS_SYNTHETIC = ("These photos are synthetic: face swaps made by swaplib, not photographs of real events. Each "
                    "carries the marks of one (a visible label where video.label is set, metadata, a signed C2PA "
                    "manifest; one provenance sidecar for the folder: python -m swaplib verify checks them).")
THUMBNAIL_PX = 480  # the longest side of a photo in the page: the full photos stay in their folder

# The player says whether this browser can play the video, in the page (a reader sees why, a headless
# browser's DOM shows it) and to the page around it (the report, where a check of it listens), and
# offers the video's own bytes as the download.
_PLAYER_SCRIPT = """
const video = document.getElementById('video'), source = video.querySelector('source');
const status = document.getElementById('status');
document.getElementById('download').href = source.src;
function say(text) {
  status.textContent = text;
  if (window.parent !== window) window.parent.postMessage(text, '*');  // to the report around the page
}
function playable() {
  say(`The video plays here: ${video.videoWidth}x${video.videoHeight} px, ${video.duration.toFixed(1)} s.`);
}
video.addEventListener('loadeddata', playable);
source.addEventListener('error', () => say('This browser cannot play the video here: download it below.'));
if (video.readyState >= 2) playable();  // its first frame is decoded
"""


def _file_name(record) -> str | None:
    """The file name of a provenance input record ({"path": ...}), or None."""
    return Path(record["path"]).name if isinstance(record, dict) and record.get("path") else None


def video_page(video, provenance_json, out_html, *, title: str) -> None:
    """The swapped video in a <video> player, said to be synthetic, with what it was made from (the
    provenance sidecar the video rule wrote beside it)."""
    video = Path(video)
    try:
        size = video.stat().st_size
    except OSError as exc:
        raise SwaplibError(f"{video}: cannot read the swapped video ({exc.strerror})") from None
    if not size:
        raise SwaplibError(f"{video}: the swapped video is empty (rerun the video rule)")
    provenance = read_json(provenance_json)
    facts = _made_from(provenance, "destination video",
                       {"frames": provenance.get("frame_count"), "fps": provenance.get("fps")})
    name = html.escape(video.name)
    before = (
        f"<p class='warning'><b>Synthetic.</b> {html.escape(SYNTHETIC)}</p>"
        "<video id='video' controls preload='auto' playsinline style='max-width:100%;max-height:70vh'>"
        "<source type='video/mp4' src='data:video/mp4;base64,"
    )
    after = (
        "'></video><p id='status'>Loading the video...</p>"
        f"<p><a id='download' download='{name}'>Download {name}</a> ({size / 1024:.0f} KiB)</p>"
        f"<h2>Made from</h2><table>{rows(facts)}</table><script>{_PLAYER_SCRIPT}</script>{END}"
    )
    with atomic_path(out_html) as tmp, open(tmp, "w", encoding="utf-8") as out, open(video, "rb") as source:
        out.write(head(title) + before)
        while chunk := source.read(3 << 20):  # whole 3-byte groups: the pieces join into one base64 text
            out.write(base64.b64encode(chunk).decode("ascii"))
        out.write(after)


def photos_page(folder, provenance_json, out_html, *, title: str) -> None:
    """A photo folder destination's swapped photos in a grid (thumbnails in the page), said to be
    synthetic, with what they were made from (the sidecar the photos rule wrote beside the folder)."""
    folder, provenance = Path(folder), read_json(provenance_json)
    files = provenance.get("files") or []
    if not files:
        raise SwaplibError(f"{provenance_json}: lists no photos (rerun the photos rule)")
    facts = _made_from(provenance, "destination photos", {"photos": len(files)})
    tiles = "".join(
        f"<figure style='display:inline-block;margin:4px;vertical-align:top'>"
        f"<img src='data:image/jpeg;base64,{_thumbnail(folder / entry['file'])}' alt='{html.escape(entry['file'])}'>"
        f"<figcaption>{html.escape(entry['file'])}</figcaption></figure>"
        for entry in files
    )
    body = (f"<p class='warning'><b>Synthetic.</b> {html.escape(PHOTOS_SYNTHETIC)}</p>"
            f"<p>{len(files)} photos, at most {THUMBNAIL_PX} px here; the full ones: {html.escape(folder.name)}/ "
            f"beside this pair's folder.</p><div>{tiles}</div><h2>Made from</h2><table>{rows(facts)}</table>")
    write_page(out_html, title, body)


def _thumbnail(photo: Path) -> str:
    """A swapped photo scaled down, as base64 JPEG text (its label scales with it)."""
    try:
        with Image.open(photo) as image:
            small = image.convert("RGB")
    except OSError as exc:
        raise SwaplibError(f"{photo}: cannot read the swapped photo ({exc})") from None
    small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    out = io.BytesIO()
    small.save(out, "JPEG", quality=85)
    return base64.b64encode(out.getvalue()).decode("ascii")


def _made_from(provenance: dict, destination: str, counts: dict) -> dict:
    """What a pair's result was made from, for its page: the sidecar's inputs, model, counts and marks."""
    return {
        "pair": provenance.get("pair"),
        "source video": _file_name(provenance.get("source")),
        destination: _file_name(provenance.get("destination")),
        "model": provenance.get("model"),
        **counts,
        "synthetic": True,  # everything swaplib writes is
        "visible label": provenance.get("visible_label"),
        "C2PA manifest": (provenance.get("content_credentials") or {}).get("state"),
    }


def table_page(table_csv, out_html, *, title: str) -> None:
    """A CSV as an HTML table, its cells as written (an empty cell: n/a)."""
    try:
        with open(table_csv, newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise SwaplibError(f"{table_csv}: cannot read the table ({exc})") from None
    if not lines:
        raise SwaplibError(f"{table_csv}: the table is empty, not even a header line (rerun the rule that wrote it)")
    header, *records = lines

    def cells(tag: str, row: list[str]) -> str:
        return "".join(f"<{tag}>{html.escape(cell) if cell else 'n/a'}</{tag}>" for cell in row)

    body_rows = "".join(f"<tr>{cells('td', row)}</tr>" for row in records)
    body = (f"<p>{len(records)} rows; the same as {html.escape(Path(table_csv).name)}.</p>"
            f"<table class='quality'><thead><tr>{cells('th', header)}</tr></thead><tbody>{body_rows}</tbody></table>")
    write_page(out_html, title, body)


# The header's record of a training, in reading order; the rest of the header follows under "Other".
_TRAINING = ("iterations", "stopped_by", "base", "face_type", "masks_trained", "losses", "best_loss")


def settings_page(model_file, out_html, *, title: str) -> None:
    """What a model trained with, from its file's header: the training's record, the architecture,
    and every setting as training resolved it (preset, config and defaults together)."""
    header = read_header(model_file)
    faces = header.get("faces") or {}
    training = {key: header.get(key) for key in _TRAINING}
    training["base"] = training["base"] or "none (trained from scratch)"
    training.update({f"{side} faces trained on": len(ids) for side, ids in faces.items()})
    shown = {*_TRAINING, "faces", "settings", "model_config"}
    sections = [
        ("Training", training),
        ("Architecture (model_config)", header.get("model_config") or {}),
        ("Settings it trained with (resolved)", header.get("settings") or {}),
        ("Other", {key: value for key, value in header.items() if key not in shown}),
    ]
    body = (f"<p>From the header of {html.escape(Path(model_file).name)}: what the training that wrote it "
            "used, whatever config.yaml says now.</p>")
    body += "".join(f"<h2>{html.escape(name)}</h2><table>{rows(items)}</table>" for name, items in sections)
    write_page(out_html, title, body)
