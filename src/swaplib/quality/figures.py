"""The clip's figures from the per-face table, and the verdict they support.

A face is *verified* as a person when dlib's distance to that identity is below the same-person
threshold and below its distance to the other person of the pair. The verdict needs both identity
and detail: a blurred blob is often "nearer" to the source (id_retrieval) without being anybody.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from swaplib.core.errors import SwaplibError
from swaplib.extract.identity import SAME_PERSON
from swaplib.quality.measure import SOURCE, Identity, identity_columns

FIGURES = {
    "verdict": "who the swapped faces are, for the recogniser, and whether they are sharp (see `verdict_text`)",
    "convincing": "whether a viewer would take the swap for the source's real face: verdict source, detail like "
                  "the source's own faces' at that place (sharpness from convincing_sharpness to convincing_oversharp "
                  "times sharpness_source), and as near the source for the recogniser as they are (within "
                  "convincing_id_margin of id_distance_source_own; see `convincing_text`)",
    "id_match": "share of swapped faces that dlib verifies as the source person (distance to the source identity "
                "below same_person and below the distance to the destination identity)",
    "id_top1": "share of swapped faces whose nearest identity in the gallery (every video of the run, and the "
               "quality.gallery photos) is the source",
    "sharpness": "median detail of the swapped face over the destination face at the same place (variance of the "
                 "Laplacian in the face hull; a blur is far below 1, a sharp swap near 1)",
    "relative_sharpness": "median over faces of sharpness / sharpness_limit: the swap's detail against what the "
                          "model's resolution allows (1 = as sharp as a model of this resolution can be; the "
                          "verdict's sharpness test)",
    "sharpness_source": "median detail of the source's own faces aligned and pasted onto the destination faces, over "
                        "the destination's: what a true swap of this source shows there (below 1: the source was "
                        "filmed softer than the destination)",
    "id_distance_source_own": "mean embedding distance to the source identity of the source's own faces pasted onto "
                              "the destination faces: how near a true swap is",
    "sharpness_limit": "median sharpness of the destination face passed through the model's crop and back (its "
                       "resolution, the merge's alignment): the best sharpness a model of this resolution can score "
                       "on this destination (1 when the resolution is not known)",
    "id_retrieval": "weak two-way figure: share of merged faces merely nearer to the source than to the "
                    "destination (a blur far from both often scores high; read id_match instead)",
    "id_distance_source": "mean embedding distance of merged faces to the source identity",
    "id_distance_destination": "mean embedding distance of merged faces to the destination identity",
    "landmark_error": "mean landmark distance, merged vs destination, / inter-ocular distance (0 = pose and expression "
                      "kept)",
    "jitter_ratio": "added frame-to-frame landmark motion / the destination's own motion (0 = as steady as the "
                    "destination)",
    "coverage": "share of destination frames with a face that got swapped",
    "face_width": "median width of the destination's faces in the frame, px (the jaw line's ends)",
    "resolution_needed": "median over faces of the smallest model resolution whose crop, pasted back, keeps the "
                         "detail convincing asks for (null: none up to 512 px)",
}

VERDICTS = {
    "source": "The swap is the source person: dlib verifies most swapped faces as the source, and they are about "
              "as sharp as the model's resolution allows.",
    "destination": "The faces are still the destination person (nothing swapped, or the model gives back the "
                   "destination).",
    "nobody": "The swap is nobody: the faces are blurred, or far from every identity the recogniser knows. "
              "Train longer.",
    "mixed": "Mixed: neither the source nor the destination for most faces. Train longer or check the face sets.",
    "unmeasurable identity": "Identity cannot be measured: the recogniser hardly tells the source and destination "
                             "people apart, so only sharpness and pose are meaningful here.",
}


@dataclass(frozen=True)
class QualitySettings:
    """The quality section of config.yaml (see README, "Measured quality")."""

    identity_faces: int = 64  # faces of each face set averaged into its identity (0 = all)
    strip_frames: int = 6  # frames in the destination / swap strip
    gallery: str = ""  # folder of photos of other people, added to the identification gallery
    same_person: float = SAME_PERSON  # dlib distance below which two faces are the same person
    separable_margin: float = 0.1  # identities closer than same_person + this cannot be told apart
    verdict_id_match: float = 0.5  # id_match at or above which the swap is the source (with the sharpness)
    verdict_sharpness: float = 0.5  # relative_sharpness below which the swap is blurred (verdict nobody)
    convincing_sharpness: float = 0.5  # a convincing swap's detail: at least this share of sharpness_source ...
    convincing_oversharp: float = 2.0  # ... and at most this many times it (more: drawn edges, not a face) ...
    convincing_id_margin: float = 0.1  # ... and as near the source as its own faces pasted in, within this


THRESHOLDS = ("same_person", "separable_margin", "verdict_id_match", "verdict_sharpness", "convincing_sharpness",
              "convincing_oversharp", "convincing_id_margin")


def quality_settings(values: dict | None = None) -> QualitySettings:
    """Settings from the config's quality section (missing keys take the defaults); unknown keys are an error."""
    values = dict(values or {})
    unknown = sorted(set(values) - {f.name for f in fields(QualitySettings)})
    if unknown:
        raise SwaplibError(f"quality settings: unknown {unknown}")
    return QualitySettings(**values)


def _mean(values) -> float | None:
    values = pd.Series(values, dtype=float).dropna()
    return float(values.mean()) if len(values) else None


def _median(values) -> float | None:
    values = pd.Series(values, dtype=float).dropna()
    return float(values.median()) if len(values) else None


def identity_shares(table: pd.DataFrame, same_person: float) -> dict:
    """id_match, the destination's own match, id_top1, the share far from every identity, id_retrieval."""
    far = table[["dist_source", "dist_destination", "dist_nearest_other"]].min(axis=1, skipna=True) >= same_person
    return {
        "id_match": _mean((table["dist_source"] < same_person) & (table["dist_source"] < table["dist_destination"])),
        "id_match_destination": _mean((table["dist_destination"] < same_person)
                                      & (table["dist_destination"] < table["dist_source"])),
        "id_top1": _mean(table["nearest"] == SOURCE),
        "id_nobody": _mean(far),
        "id_retrieval": _mean(table["dist_source"] < table["dist_destination"]),
    }


def separable(apart: float, settings: QualitySettings) -> bool:
    """Whether the recogniser tells the pair's two people apart with room to spare."""
    return apart >= settings.same_person + settings.separable_margin


def verdict(figures: dict, is_separable: bool, settings: QualitySettings) -> tuple[str, str]:
    """One of VERDICTS, from the figures (see README for the order of the tests), and the test that
    decided it, in figures and thresholds."""
    # Against what the model's resolution allows: a 96 px model pasted onto a big face is soft by design.
    sharpness = figures.get("relative_sharpness")
    if not figures.get("faces_swapped"):
        return "destination", "no face was changed"
    if sharpness is not None and sharpness < settings.verdict_sharpness:
        return "nobody", f"relative_sharpness {sharpness:.2f} < verdict_sharpness {settings.verdict_sharpness}"
    if not is_separable:
        return "unmeasurable identity", "the source and destination identities are too close for the recogniser"
    share = settings.verdict_id_match
    for word, figure in (("source", "id_match"), ("destination", "id_match_destination"), ("nobody", "id_nobody")):
        value = figures.get(figure) or 0
        if value >= share:
            sharp = f", relative_sharpness {sharpness:.2f} >= {settings.verdict_sharpness}" if sharpness is not None \
                else ""
            return word, f"{figure} {value:.2f} >= verdict_id_match {share}{sharp}"
    return "mixed", (f"id_match {figures.get('id_match') or 0:.2f}, id_match_destination "
                     f"{figures.get('id_match_destination') or 0:.2f} and id_nobody {figures.get('id_nobody') or 0:.2f}"
                     f" all < verdict_id_match {share}")


def summarize(table: pd.DataFrame, n_frames: int, settings: QualitySettings) -> dict:
    """The clip's figures from the per-face table (None where a figure has nothing to measure)."""
    jitter, motion = _mean(table["jitter"]), _mean(table["destination_motion"])
    swapped_frames = int(table.loc[table["swapped"], "frame"].nunique())
    figures = {
        **identity_shares(table, settings.same_person),
        "sharpness": _median(table["sharpness"]),
        "relative_sharpness": _median(table["relative_sharpness"]),
        "sharpness_limit": _median(table["sharpness_limit"]),
        "id_distance_source": _mean(table["dist_source"]),
        "id_distance_destination": _mean(table["dist_destination"]),
        "landmark_error": _mean(table["landmark_error"]),
        # Undefined when the destination does not move at all (nothing to compare with).
        "jitter_ratio": jitter / motion if jitter is not None and motion else None,
        "jitter": jitter,
        "destination_motion": motion,
        "coverage": swapped_frames / n_frames if n_frames else None,
        "face_width": _median(table["face_width"]),
        "resolution_needed": _median(table["resolution_needed"]),
        "frames": int(n_frames),
        "frames_with_face": int(table["frame"].nunique()),
        "frames_swapped": swapped_frames,
        "faces": int(len(table)),
        "faces_swapped": int(table["swapped"].sum()),
    }
    return rounded(figures)


def ceiling(source: Identity, gallery: list[Identity], settings: QualitySettings,
            sharpness: float | None = None) -> dict:
    """The identity figures of the source's own faces (each against the mean of the others): what a perfect
    swap would score with these tools; its sharpness is `sharpness` (the source's own faces pasted in:
    sharpness_source; 1 where not measured) and its landmark error 0 by construction."""
    columns = identity_columns(source.embeddings, gallery, means={SOURCE: source.leave_one_out()})
    shares = identity_shares(pd.DataFrame(columns), settings.same_person)
    return rounded({"id_match": shares["id_match"], "id_top1": shares["id_top1"],
                    "id_retrieval": shares["id_retrieval"], "sharpness": 1.0 if sharpness is None else sharpness,
                    "id_distance_source": float(np.mean(columns["dist_source"])), "faces": len(source.embeddings)})


def detail_needed(sharpness_source: float | None, settings: QualitySettings) -> float:
    """The least sharpness (against the destination) a convincing swap shows: convincing_sharpness of what
    the source's own faces show there, the destination's own detail at most."""
    return settings.convincing_sharpness * min(1.0, sharpness_source if sharpness_source else 1.0)


def convincing(figures: dict, word: str, settings: QualitySettings) -> tuple[bool, str]:
    """Whether the swap would pass for the source's real face, and why in words: the verdict says who it
    is; a viewer also sees whether its detail is a real face's: not softer than the source's own faces
    would be there, and not far sharper (super resolution on a blur draws edges, not a face)."""
    sharpness, source = figures.get("sharpness"), figures.get("sharpness_source")
    low = detail_needed(source, settings)
    high = settings.convincing_oversharp * max(1.0, source or 1.0)
    own = f"; the source's own faces would show {source:.2f}" if source else ""
    if word != "source":
        return False, f"Not convincing: the verdict is {word}, not source."
    if sharpness is None:
        return False, "Not convincing: the swap's detail could not be measured."
    if sharpness < low:
        return False, (f"Not convincing yet: the source person for the recogniser, but softer than a real face here "
                       f"({sharpness:.2f} of the destination's detail{own}; a viewer needs {low:.2f}). "
                       f"{advice(figures)}")
    if sharpness > high:
        return False, (f"Not convincing: the source person for the recogniser, but over-sharpened ({sharpness:.2f} of "
                       f"the destination's detail{own}; more than {high:.2f} is drawn edges, as super resolution "
                       "draws on a blur). Lower merge.super_resolution_power, or train longer.")
    distance, true = figures.get("id_distance_source"), figures.get("id_distance_source_own")
    if distance is not None and true is not None and distance > true + settings.convincing_id_margin:
        return False, (f"Not convincing yet: the source person for the recogniser, but a likeness rather than the "
                       f"face: {distance:.2f} from the source identity where the source's own faces pasted here are "
                       f"{true:.2f} (within {settings.convincing_id_margin} passes). Train longer; super resolution "
                       "moves it away.")
    return True, (f"Convincing: the source person, with {sharpness:.2f} of the destination's detail{own} "
                  f"({low:.2f}..{high:.2f} passes). Look at the strip too: the figures judge detail, not likeness.")


def advice(figures: dict) -> str:
    """What the destination's face size calls for: the model resolution, or super resolution."""
    width, needed, have = figures.get("face_width"), figures.get("resolution_needed"), figures.get("model_resolution")
    size = f"The destination's faces are about {width:.0f} px wide in the frame" if width else "The destination's faces"
    if needed is None:
        return f"{size}: no model up to 512 px keeps enough of their detail; merge.super_resolution_power adds some."
    model = f" (this model: {have} px)" if have else ""
    return (f"{size}: a model of about {needed:.0f} px keeps enough of their detail{model}; a smaller one needs "
            "merge.super_resolution_power, and training long enough to draw a face worth sharpening.")


def text_of(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def judge(figures: dict, apart: float, settings: QualitySettings) -> dict:
    """The verdict, its sentence, whether it is convincing, and whether the pair is separable, to put
    first in quality.json."""
    is_separable = separable(apart, settings)
    word, reason = verdict(figures, is_separable, settings)
    is_convincing, why = convincing(figures, word, settings)
    return {"verdict": word, "verdict_text": VERDICTS[word], "verdict_reason": reason, "convincing": is_convincing,
            "convincing_text": why,
            "separable": is_separable,
            "thresholds": {name: value for name, value in asdict(settings).items() if name in THRESHOLDS}}


def rounded(values: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}
