"""The pictures and the page of a pair's quality: the plot over the clip, the destination / swap strip,
and quality.html (the verdict first, in words, then the figures, the ceiling and the settings)."""

from __future__ import annotations

import html
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from swaplib.core.atomic import atomic_path
from swaplib.core.html import read_json, rows, text, write_page
from swaplib.core.images import frame_files, read_image, write_image
from swaplib.quality.figures import FIGURES
from swaplib.tables.faces import read_faces


def quality_plot(table: pd.DataFrame, path, same_person: float) -> None:
    """Identity distances, detail, landmark error and jitter over the clip, one panel each."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster node
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(9, 9), sharex=True)
    identity, detail, pose, motion = axes
    identity.plot(table["frame"], table["dist_source"], ".-", label="to source identity")
    identity.plot(table["frame"], table["dist_destination"], ".-", label="to destination identity")
    identity.axhline(same_person, color="grey", linestyle=":", label=f"same person (< {same_person})")
    identity.set_ylabel("embedding distance")
    identity.set_ylim(0, max(1.0, float(np.nanmax(table[["dist_source", "dist_destination"]].to_numpy(), initial=0))
                             * 1.1))
    detail.plot(table["frame"], table["sharpness"], ".-", color="tab:green", label="swap")
    detail.plot(table["frame"], table["sharpness_limit"], ".--", color="tab:olive",
                label="limit of the model's resolution")
    detail.axhline(1.0, color="grey", linestyle=":", label="as sharp as the destination")
    detail.set_ylabel("sharpness\n(swap / destination)")
    pose.plot(table["frame"], table["landmark_error"], ".-", color="tab:red")
    pose.set_ylabel("landmark error\n(/ inter-ocular)")
    motion.plot(table["frame"], table["jitter"], ".-", label="added jitter (merged - destination)")
    motion.plot(table["frame"], table["destination_motion"], ".-", label="destination motion")
    motion.set_ylabel("motion per frame\n(/ inter-ocular)")
    motion.set_xlabel("frame")
    for ax in (identity, detail, motion):
        ax.legend(fontsize=8, loc="best")
    for ax in axes:
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    fig.suptitle("Swap quality over the clip (one point per destination face)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format=Path(path).suffix[1:])
    plt.close(fig)


def _face_tile(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """A size x size view of the face in `box` with some margin (edges repeat beyond the frame)."""
    x0, y0, x1, y1 = box
    side = 1.6 * max(x1 - x0, y1 - y0, 1.0)
    scale = size / side
    shift = size / 2 - scale * np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    matrix = np.array([[scale, 0, shift[0]], [0, scale, shift[1]]])
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def _label(tile: np.ndarray, text: str) -> None:
    cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)


def comparison_strip(frames_dir, merged_dir, faces_table, path, count: int = 6, size: int = 160) -> None:
    """Destination faces (top row) over the same faces merged (bottom row), at `count` frames spread over the clip."""
    faces = read_faces(faces_table).sort_values(["frame", "index"]).drop_duplicates("frame")
    picks = faces.iloc[np.unique(np.linspace(0, len(faces) - 1, max(count, 1)).round().astype(int))]
    frames, merged = dict(frame_files(frames_dir)), dict(frame_files(merged_dir))
    columns = []
    boxes = picks[["box_x0", "box_y0", "box_x1", "box_y1"]].to_numpy(dtype=np.float64)
    for face, box in zip(picks.itertuples(), boxes):
        top, bottom = (_face_tile(read_image(paths[face.frame]), box, size) for paths in (frames, merged))
        _label(top, f"frame {face.frame}")
        columns.append(np.vstack([top, bottom]))
    strip = np.hstack(columns)
    _label(strip[size:], "swap (synthetic)")
    write_image(path, strip)


# --------------------------------------------------------------------------- quality.html


def _verdict_section(quality: dict) -> str:
    word = quality.get("verdict", "n/a")
    lines = [f"<p class='verdict'><b>Verdict: {html.escape(str(word))}.</b> "
             f"{html.escape(quality.get('verdict_text', ''))}</p>"]
    if quality.get("verdict_reason"):
        lines.append(f"<p class='reason'>Decided by: {html.escape(quality['verdict_reason'])}.</p>")
    if "convincing_text" in quality:  # a quality.json from before the test has none
        lines.append(f"<p class='convincing'>{html.escape(quality['convincing_text'])}</p>")
    identities = quality.get("identities", {})
    if quality.get("separable") is False:
        lines.append(f"<p class='warning'>The source and destination identities are {identities.get('distance')} "
                     "apart for dlib, closer than the stated margin above its same-person threshold "
                     f"({quality.get('thresholds', {})}): identity figures cannot tell the two people apart "
                     "here, so the verdict rests on sharpness and coverage.</p>")
    return "".join(lines)


def _figure_table(quality: dict) -> str:
    ceiling = quality.get("ceiling", {})
    lines = "".join(
        f"<tr><th>{name}</th><td>{html.escape(text(quality.get(name)))}</td>"
        f"<td>{html.escape(text(ceiling.get(name)))}</td><td>{html.escape(meaning)}</td></tr>"
        for name, meaning in FIGURES.items() if name != "verdict"
    )
    return ("<table class='quality'><tr><th>figure</th><th>swap</th><th>ceiling (the source's own faces)</th>"
            f"<th>meaning</th></tr>{lines}</table>")


def _credentials_rows(provenance: dict) -> dict:
    """The summary of the video's C2PA manifest that the video rule read back after signing (the
    source type by its IPTC name: the page holds no address, it opens offline)."""
    summary = provenance.get("content_credentials") or {"embedded": None}
    if not summary["embedded"]:
        return {"manifest": summary.get("why", "none recorded (a video made before swaplib signed its videos)")}
    types = ", ".join(t.rsplit("/", 1)[-1] for t in summary.get("digital_source_types", []))
    return {"manifest": summary.get("label"), "validation": summary.get("state"),
            "generator": summary.get("generator"), "digital source type (IPTC)": types,
            "signed by": summary.get("signer"), "signature": summary.get("signature")}


def write_card(quality_json, provenance_json, out_html, *, title: str) -> None:
    """A self-contained HTML page: the verdict, the quality figures beside their ceiling, the merge settings
    and the video's provenance, with its C2PA manifest's summary."""
    quality, provenance = read_json(quality_json), read_json(provenance_json)
    credentials = _credentials_rows(provenance)
    provenance = {k: v for k, v in provenance.items() if k != "content_credentials"}  # it has a table of its own
    counts = {k: quality.get(k) for k in ("frames", "frames_with_face", "frames_swapped", "faces", "faces_swapped",
                                          "jitter", "destination_motion", "model_resolution")}
    counts.update({f"identity {k}": v for k, v in quality.get("identities", {}).items()})
    sections = [
        ("Quality", _figure_table(quality)),
        ("Thresholds of the verdict", f"<table>{rows(quality.get('thresholds', {}))}</table>"),
        ("Gallery (nearest identity of each swapped face)", f"<table>{rows(quality.get('gallery', {}))}</table>"),
        ("Counts", f"<table>{rows(counts)}</table>"),
        ("Merge settings", f"<table>{rows(quality.get('merge', {}))}</table>"),
        ("Models used to measure", f"<table>{rows(quality.get('models', {}))}</table>"),
        ("Provenance of the video (synthetic)", f"<table>{rows(provenance)}</table>"),
        ("Content Credentials (C2PA manifest in the video; swaplib verify checks it)",
         f"<table>{rows(credentials)}</table>"),
    ]
    body = _verdict_section(quality) + "".join(f"<h2>{html.escape(name)}</h2>{content}" for name, content in sections)
    write_page(out_html, title, body)
