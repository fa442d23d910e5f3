"""The extraction settings: config.yaml `extract:`, key for key, checked on creation.

`null` means "automatic" where a value does: fan_weights (torch hub's checkpoints folder) and
min_score (the detector's own threshold). `references` is the workflow's map of video to
reference photo; the stage gets the one photo of its video as `reference`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from swaplib.core.errors import SwaplibError
from swaplib.core.images import IMAGE_FORMATS
from swaplib.core.settings import from_section, is_number, is_whole
from swaplib.extract.align import check_face_type
from swaplib.extract.detect.backends import ALIASES, DETECTORS, LANDMARKERS
from swaplib.extract.detect.base import SEARCH_OPTIONS
from swaplib.extract.identity import SAME_PERSON, SELECT_MODES

MIN_SIZE_PX = 16  # smallest face crop


@dataclass(frozen=True)
class ExtractSettings:
    """How faces are found, chosen, steadied and cut out (docs/extraction.md)."""

    detector: str = "dlib-hog"  # a detect.backends.DETECTORS name (or an alias)
    landmarks: str = "auto"  # auto (the detector's own) or a LANDMARKERS name
    fan_weights: str | None = None  # folder of the fan weight files (None: $TORCH_HOME/hub/checkpoints)
    upsample: int = 0  # search the frame doubled this many times (finds faces half as small each)
    multiscale: bool = True  # search a frame with no face again at twice the scale
    rotate: bool = False  # ... and turned by 90, 270 and 180 degrees
    second_pass: bool = False  # fit the landmarks again on the face turned upright
    min_size: float = 0  # leave out faces whose box side is below this, px
    min_score: float | None = None  # detector confidence threshold (None: the detector's default)
    size: int = 256  # aligned face crop, px
    face_type: str = "whole_face"
    select: str = "largest"  # largest (per frame) or all
    references: dict = field(default_factory=dict)  # video name -> reference photo (the workflow's)
    manual_faces: str = "manual_faces"  # folder of {video}.json (the workflow's; extract_faces takes `manual`)
    tolerance: float = SAME_PERSON  # embedding distance under which a face is the reference person
    embed_every: int = 5  # embed every face of every Nth frame
    smooth: bool = True  # steady the landmarks along each face's track
    smooth_cutoff: float = 1.0  # Hz (One-Euro filter)
    smooth_beta: float = 10.0
    format: str = "png"  # crop image format

    def __post_init__(self):
        problems = [problem for problem in self._problems() if problem]
        if problems:
            raise SwaplibError("invalid extract settings: " + "; ".join(problems))

    def _problems(self):
        names = DETECTORS + tuple(ALIASES)
        yield None if self.detector in names else f"detector {self.detector!r} is not one of {', '.join(names)}"
        yield None if self.landmarks in ("auto", *LANDMARKERS) else (
            f"landmarks {self.landmarks!r} is not one of auto, {', '.join(LANDMARKERS)}")
        yield None if self.fan_weights is None or isinstance(self.fan_weights, str) else (
            f"fan_weights must be a folder or null, got {self.fan_weights!r}")
        yield None if is_whole(self.upsample) and 0 <= self.upsample <= 3 else (
            f"upsample must be a whole number 0..3, got {self.upsample!r}")
        yield None if is_number(self.min_size) and self.min_size >= 0 else (
            f"min_size must be >= 0, got {self.min_size!r}")
        yield None if self.min_score is None or is_number(self.min_score) else (
            f"min_score must be a number or null, got {self.min_score!r}")
        yield None if is_whole(self.size) and self.size >= MIN_SIZE_PX else (
            f"size must be a whole number of at least {MIN_SIZE_PX} px, got {self.size!r}")
        try:
            check_face_type(self.face_type)
        except SwaplibError as exc:
            yield str(exc)
        yield None if self.select in SELECT_MODES else f"select {self.select!r} is not one of {', '.join(SELECT_MODES)}"
        yield None if isinstance(self.references, dict) else f"references must be a mapping, got {self.references!r}"
        yield None if is_number(self.tolerance) and self.tolerance > 0 else (
            f"tolerance must be > 0, got {self.tolerance!r}")
        yield None if is_whole(self.embed_every) and self.embed_every >= 1 else (
            f"embed_every must be a whole number >= 1 (1 = every face), got {self.embed_every!r}")
        yield None if is_number(self.smooth_cutoff) and self.smooth_cutoff > 0 else (
            f"smooth_cutoff must be > 0 Hz, got {self.smooth_cutoff!r}")
        yield None if is_number(self.smooth_beta) and self.smooth_beta >= 0 else (
            f"smooth_beta must be >= 0, got {self.smooth_beta!r}")
        yield None if self.format in IMAGE_FORMATS else (
            f"unknown face image format {self.format!r}; choose one of: {', '.join(IMAGE_FORMATS)}")

    @property
    def detector_options(self) -> dict:
        """The keyword arguments of detect.backends.make_detector that these settings give: the
        landmarker, the fan parts' weights and the search policy's options."""
        return {"landmarks": self.landmarks, "weights": self.fan_weights,
                **{name: getattr(self, name) for name in POLICY_KEYS}}


# The settings that build a detector by name (a detector built already brings its own).
POLICY_KEYS = tuple(name for name in SEARCH_OPTIONS if name in {f.name for f in fields(ExtractSettings)})
DETECTOR_KEYS = ("landmarks", "fan_weights", *POLICY_KEYS)


def extract_settings(values: dict) -> ExtractSettings:
    """ExtractSettings from a mapping (the config's extract section); unknown keys are errors."""
    return from_section(ExtractSettings, values, "extract")
