"""The quality stage's entry points: measure one pair (quality.json, the per-face table, the plot and
the strip) and draw its page."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from swaplib import __version__
from swaplib.core.atomic import atomic_path, write_json
from swaplib.core.images import frame_files
from swaplib.extract.identity import FaceEmbedder
from swaplib.model.io import read_header
from swaplib.quality.card import comparison_strip, quality_plot, write_card
from swaplib.quality.figures import FIGURES, ceiling, detail_needed, judge, quality_settings, summarize
from swaplib.quality.measure import (
    DESTINATION,
    MODELS,
    SOURCE,
    faceset_identity,
    measure_faces,
    pasted_source,
    photo_identities,
)

log = logging.getLogger(__name__)

__all__ = ["measure_pair", "write_card"]


def _same(a, b) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def measure_pair(
    *,
    destination_frames,
    destination_faces,
    destination_faceset,
    source_frames,
    source_faceset,
    merged,
    quality_json,
    table_path,
    plot_path,
    strip_path,
    settings: dict | None = None,
    merge: dict | None = None,
    others: dict | None = None,
    destination_faceset_frames=None,
    detector: str = "dlib",
    model=None,
    photos: bool = False,
) -> dict:
    """Measure one pair's merged frames; write quality.json, the per-face table, the plot and the strip.

    settings: the config's quality section. merge: the merge settings, recorded beside the figures.
    others: {name: (faceset, frames folder)} every other video of the run, for the identification gallery
    (the pair's own videos among them are skipped). destination_faceset_frames: the frames of the destination
    face set where they are not the measured ones (a measure on a subset of the frames). model: the
    model.safetensors that made the merge; its resolution bounds the sharpness it can reach (None: not known).
    photos: the destination is a photo folder (each frame a photo of its own): no jitter is measured.
    """
    s = quality_settings(settings)
    resolution = int(read_header(model)["model_config"]["resolution"]) if model is not None else None
    embedder = FaceEmbedder()
    source = faceset_identity(SOURCE, source_faceset, source_frames, embedder, s.identity_faces)
    destination = faceset_identity(DESTINATION, destination_faceset, destination_faceset_frames or destination_frames,
                                   embedder, s.identity_faces)
    gallery = [source, destination] + [
        faceset_identity(name, faceset, frames, embedder, s.identity_faces)
        for name, (faceset, frames) in (others or {}).items()
        if not (_same(faceset, source_faceset) or _same(faceset, destination_faceset))
    ]
    if s.gallery:
        gallery += photo_identities(s.gallery, embedder)
    apart = float(np.linalg.norm(source.mean - destination.mean))
    log.info("identities: %d source faces, %d destination faces, %.3f apart; gallery of %d", len(source.embeddings),
             len(destination.embeddings), apart, len(gallery))
    true = pasted_source(destination_frames, destination_faces, source_frames, source_faceset, embedder, source)
    table = measure_faces(destination_frames, destination_faces, merged, gallery, embedder, resolution,
                          detail_needed(true and true.sharpness, s), photos=photos)
    figures = {**summarize(table, len(frame_files(destination_frames)), s), "model_resolution": resolution,
               "sharpness_source": true and round(true.sharpness, 4),
               "id_distance_source_own": true and round(true.id_distance, 4)}
    verdict = judge(figures, apart, s)
    log.info("quality: %s; %s; %s", verdict["verdict"], verdict["convincing_text"],
             {k: figures.get(k) for k in FIGURES if k != "verdict"})
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5f")
    quality_plot(table, plot_path, s.same_person)
    comparison_strip(destination_frames, merged, destination_faces, strip_path, count=s.strip_frames)
    result = {
        **verdict,
        **figures,
        "ceiling": ceiling(source, gallery, s, figures["sharpness_source"]),
        "identities": {"source_faces": len(source.embeddings), "destination_faces": len(destination.embeddings),
                       "distance": round(apart, 4)},
        "gallery": {person.name: int((table["nearest"] == person.name).sum()) for person in gallery},
        "models": {"detector": f"{detector} (the faces stage's boxes, not run again)", **MODELS},
        "merge": merge or {},
        "generator": f"swaplib {__version__}",
    }
    write_json(quality_json, result)
    return result
