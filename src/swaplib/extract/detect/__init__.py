"""Face detection backends: each finds faces in a frame and gives 68 iBUG landmarks per face.

`make_detector(name, landmarks=...)` builds one from the workflow's settings:

| detector   | boxes                                   | default landmarks |
|------------|-----------------------------------------|-------------------|
| `dlib-hog` | dlib HOG (fast, offline; alias `dlib`)  | dlib              |
| `dlib-cnn` | dlib MMOD CNN (offline, ~1 s per frame) | dlib              |
| `fan`      | S3FD (face-alignment, downloads weights)| fan (2DFAN4)      |

Any detector can be combined with either landmarker (`landmarks="dlib"` or `"fan"`).
"""

from __future__ import annotations

from swaplib.core.errors import SwaplibError
from swaplib.extract.detect.base import (
    Detection,
    Detector,
    box_iou,
    dlib_model_path,
    sort_by_area,
    to_rgb_uint8,
)
from swaplib.extract.detect.dlib_backends import DlibDetector, DlibLandmarker, HogFinder, MmodFinder

__all__ = [
    "Detection", "Detector", "DlibDetector", "DETECTORS", "LANDMARKERS", "box_iou", "dlib_model_path",
    "make_detector", "sort_by_area", "to_rgb_uint8",
]

DETECTORS = ("dlib-hog", "dlib-cnn", "fan")
LANDMARKERS = ("dlib", "fan")
_ALIASES = {"dlib": "dlib-hog"}


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
    FAN also reads the mirrored face (better, twice the time); unused by the dlib parts. options: upsample, min_score, min_size, multiscale, max_side,
    max_faces (see Detector).
    """
    name = _ALIASES.get(name, name)
    if name not in DETECTORS:
        raise SwaplibError(f"unknown face detector {name!r}; choose one of: {', '.join(DETECTORS + tuple(_ALIASES))}")
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
    try:
        return Detector(finder, landmarker, **options)
    except TypeError as err:
        raise SwaplibError(f"face detector {name!r}: bad options {options}: {err}") from None
