"""Which backend a detector name means: make_detector, DETECTORS, LANDMARKERS."""

from __future__ import annotations

from swaplib.core.errors import SwaplibError
from swaplib.extract.detect.base import Detector
from swaplib.extract.detect.dlib_backends import DlibLandmarker, HogFinder, MmodFinder

DETECTORS = ("dlib-hog", "dlib-cnn", "fan")
LANDMARKERS = ("dlib", "fan")
ALIASES = {"dlib": "dlib-hog"}


def make_detector(
    name: str = "dlib-hog",
    landmarks: str = "auto",
    *,
    weights: str | None = None,
    device: str = "auto",
    download: bool = True,
    flip: bool = True,
    **options,
) -> Detector:
    """The detector `name` with the landmarker `landmarks` ("auto": the detector's own).

    weights, device, download, flip: where the fan parts read their weight files ("" or None:
    $TORCH_HOME/hub/checkpoints), where they run, whether missing files are fetched, and whether
    FAN also reads the mirrored face (better, twice the time); unused by the dlib parts.
    options: the search policy's (detect.base.SearchPolicy: upsample, min_score, rotate, ...).
    """
    name = ALIASES.get(name, name)
    if name not in DETECTORS:
        raise SwaplibError(f"unknown face detector {name!r}; choose one of: {', '.join(DETECTORS + tuple(ALIASES))}")
    if landmarks == "auto":
        landmarks = "fan" if name == "fan" else "dlib"
    if landmarks not in LANDMARKERS:
        raise SwaplibError(f"unknown landmarker {landmarks!r}; choose one of: auto, {', '.join(LANDMARKERS)}")

    s3fd = fan = None
    if "fan" in (name, landmarks):
        from swaplib.extract.detect.fan import fan_parts

        s3fd, fan = fan_parts(detector=name == "fan", landmarks=landmarks == "fan", weights=weights,
                              device=device, download=download, flip=flip)
    finder = s3fd if name == "fan" else {"dlib-hog": HogFinder, "dlib-cnn": MmodFinder}[name]()
    landmarker = fan if landmarks == "fan" else DlibLandmarker()
    return Detector(finder, landmarker, **options)
