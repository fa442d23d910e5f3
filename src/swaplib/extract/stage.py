"""The faces stage: every face found in a video's frames, its aligned crop and its geometry.

`extract_faces` turns a folder of frames into a folder of aligned crops plus one parquet row per
face (the face table, swaplib.tables.faces); later stages read it back with
`swaplib.tables.faces.read_faces`, which gives the kept faces unless asked for all. It runs in
three passes over the frames, each spread over `threads` worker processes: (1) detect, fit
landmarks, embed, and measure each face's motion since the previous frame; then, in this
process, follow faces into tracks; (2) embed the first face of any track still without an
embedding; then choose whom to keep and smooth the landmarks (and a head crop's yaw shift)
along the tracks; (3) align and write the crops of the kept faces. A folder of photos (rather
than a video's frames) skips the tracking and smoothing: every photo is a face of its own.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from swaplib.core.atomic import atomic_dir, atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.core.images import frame_files, read_image, write_image
from swaplib.core.progress import PROGRESS_MODES, Progress
from swaplib.extract import align
from swaplib.extract.detect.backends import make_detector
from swaplib.extract.detect.base import Detection, FaceDetector, to_rgb_uint8
from swaplib.extract.identity import FaceEmbedder, distances, keep_faces, reference_embedding
from swaplib.extract.manual import ManualFace, box_of, check_in_frame, merge_faces, read_manual_faces
from swaplib.extract.settings import DETECTOR_KEYS, ExtractSettings, extract_settings
from swaplib.extract.smoothing import assign_tracks, face_motion, smooth_landmarks, smooth_series, to_grey
from swaplib.tables.faces import EMBEDDING_SIZE, FACE_COLUMNS

logger = logging.getLogger(__name__)

# A head turns more slowly than its landmarks tremble: the head crop's yaw shift is steadied with a
# quarter of the landmarks' cutoff and beta (measured on lp_d20: eye jitter in head crops 0.195 px
# unsmoothed, 0.119 at the landmarks' settings, 0.074 at a quarter; 0.068 without any shift).
HEAD_SHIFT_SMOOTHING = 0.25



# ----------------------------------------------------------------------------- worker processes

@dataclass
class _Work:
    """What the worker processes need; set before they are forked, so models load only once."""

    detector: FaceDetector
    embedder: FaceEmbedder
    embed_every: int
    size: int
    motion: bool  # measure each face's shift since the previous frame (for smoothing)
    manual: dict[int, list[ManualFace]]  # the faces placed by hand, by frame
    manual_path: Path | None  # their file, for errors
    last_grey: tuple[Path, np.ndarray] | None = None  # this process's last frame, often the next one's previous


_WORK: _Work | None = None


@contextlib.contextmanager
def _frame_pool(work: _Work, threads: int) -> Iterator[Callable[[Callable, Iterable], Iterator]]:
    """A map over frames in `threads` forked processes, or in this one.

    Forked workers inherit the loaded dlib models (no reload, no pickling) and work on whole
    frames, so reading, detection and writing of different frames overlap. torch backends run
    here instead, on torch's own threads: a fork after torch has started its threads can hang.
    """
    global _WORK
    _WORK = work
    if threads <= 1 or work.detector.uses_torch:
        if work.detector.uses_torch:
            import torch

            torch.set_num_threads(max(threads, 1))
        yield lambda fn, items: map(fn, items)
        return
    import cv2

    # One frame per process: OpenCV's own threads would only compete. Set here, before the fork:
    # changing it inside a forked child waits forever for the parent's OpenCV threads.
    cv2_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with ProcessPoolExecutor(threads, mp_context=multiprocessing.get_context("fork")) as pool:
            yield lambda fn, items: pool.map(fn, items, chunksize=4)
    finally:
        cv2.setNumThreads(cv2_threads)


def _find_faces(task: tuple[int, int, Path, Path | None]) -> tuple:
    """Pass 1 on one frame: (frame h w, detections, embeddings or None when not measured here,
    each face's motion since the previous frame (F, 2), NaN where not measured)."""
    position, number, path, previous = task
    image = read_image(path)
    detections = _WORK.detector.detect(image)
    if number in _WORK.manual:
        detections = merge_faces(detections, _WORK.manual[number], _placed(image, _WORK.manual[number]))
    # Every face of a frame with several faces (to tell them apart), else every Nth frame's.
    measure = len(detections) > 1 or (detections and position % _WORK.embed_every == 0)
    embeddings = None
    if measure:
        embeddings = _WORK.embedder.embed(to_rgb_uint8(image), np.stack([d.landmarks for d in detections]))
    motion = np.full((len(detections), 2), np.nan)
    if _WORK.motion:
        grey = to_grey(image)
        if detections and previous is not None:
            cached = _WORK.last_grey is not None and _WORK.last_grey[0] == previous
            before = _WORK.last_grey[1] if cached else to_grey(read_image(previous))
            if before.shape != grey.shape:
                raise SwaplibError(f"{path}: {grey.shape[1]}x{grey.shape[0]} px after a frame of "
                                   f"{before.shape[1]}x{before.shape[0]}; the frames of a video share one size "
                                   "(a folder of photos? extract with photos=True)")
            motion = np.array([face_motion(before, grey, d.box) for d in detections])
        _WORK.last_grey = (path, grey)
    return image.shape[:2], detections, embeddings, motion


def _placed(image: np.ndarray, faces: list[ManualFace]) -> list[Detection]:
    """A frame's manual faces as detections (score NaN): their landmarks as placed, or fitted in their box."""
    for face in faces:
        check_in_frame(face, image.shape[:2], f"{_WORK.manual_path}: the face on frame {face.frame}")
    boxed = [face for face in faces if face.landmarks is None]
    fitted = iter(_WORK.detector.fit(image, np.array([face.box for face in boxed])) if boxed else [])
    placed = []
    for face in faces:
        points = face.landmarks if face.landmarks is not None else next(fitted)
        placed.append(Detection(box=face.box or box_of(points), score=float("nan"),
                                landmarks=np.asarray(points, np.float32)))
    return placed


def _embed_faces(task: tuple[Path, np.ndarray]) -> np.ndarray:
    """Pass 2: embeddings of the faces with these landmarks (F, 68, 2) in one frame."""
    path, landmarks = task
    return _WORK.embedder.embed(to_rgb_uint8(read_image(path)), landmarks)


def _write_crops(task: tuple[Path, Path, list[tuple[str, np.ndarray]]]) -> int:
    """Pass 3: the aligned crops of one frame's kept faces, written into out_dir."""
    path, out_dir, faces = task
    image = read_image(path)
    for name, matrix in faces:
        write_image(out_dir / name, align.warp_to_face(image, matrix, _WORK.size))
    return len(faces)


# ----------------------------------------------------------------------------- extraction

@dataclass
class _Found:
    """Every face found in pass 1, as flat per-face arrays in frame order (largest first)."""

    frames: np.ndarray  # (N,) frame numbers
    index: np.ndarray  # (N,) position in its frame
    boxes: np.ndarray  # (N, 4)
    scores: np.ndarray  # (N,)
    landmarks: np.ndarray  # (N, 68, 2)
    embeddings: np.ndarray  # (N, 128), NaN where not measured
    motion: np.ndarray  # (N, 2) picture shift since the previous frame, NaN where not measured
    frame_sizes: dict[int, tuple[int, int]]  # frame -> (h, w)

    @classmethod
    def collect(cls, numbers: list[int], results: Iterable) -> _Found:
        frames, index, boxes, scores, landmarks, embeddings, motion, sizes = [], [], [], [], [], [], [], {}
        for frame, (size, detections, measured, moved) in zip(numbers, results, strict=True):
            sizes[frame] = tuple(size)
            motion += list(moved)
            for i, detection in enumerate(detections):
                frames.append(frame), index.append(i), boxes.append(detection.box)
                scores.append(detection.score), landmarks.append(detection.landmarks)
                embeddings.append(measured[i] if measured is not None else np.full(EMBEDDING_SIZE, np.nan))
        return cls(
            frames=np.asarray(frames, np.int64), index=np.asarray(index, np.int64),
            boxes=np.asarray(boxes, np.float64).reshape(-1, 4), scores=np.asarray(scores, np.float64),
            landmarks=np.asarray(landmarks, np.float64).reshape(-1, 68, 2),
            embeddings=np.asarray(embeddings, np.float32).reshape(-1, EMBEDDING_SIZE),
            motion=np.asarray(motion, np.float64).reshape(-1, 2), frame_sizes=sizes,
        )


def _check_job(threads: int, progress: str) -> None:
    if threads < 1:
        raise SwaplibError(f"threads must be >= 1, got {threads}")
    if progress not in PROGRESS_MODES:
        raise SwaplibError(f"unknown progress mode {progress!r}; choose one of: {', '.join(PROGRESS_MODES)}")


def _detector(detector: str | FaceDetector, settings: ExtractSettings, section: dict) -> FaceDetector:
    """The detector: built from the settings when named, else the one given (whose own options hold)."""
    if isinstance(detector, str):
        return make_detector(settings.detector, **settings.detector_options)
    given = sorted(set(section) & set(DETECTOR_KEYS))
    if given:
        raise SwaplibError(f"{', '.join(given)}: options of a detector by name; this one is built already "
                           f"({detector.name})")
    return detector


def extract_faces(
    frames_dir: str | os.PathLike,
    faces_dir: str | os.PathLike,
    table_path: str | os.PathLike,
    *,
    detector: str | FaceDetector = "dlib-hog",
    reference: str | os.PathLike | None = None,
    manual: str | os.PathLike | None = None,
    fps: float | None = 25.0,
    photos: bool = False,
    threads: int = 1,
    progress: str = "auto",
    **section,
) -> pd.DataFrame:
    """Detect, choose and align the faces of every frame; crops to faces_dir, the table to table_path.

    section: the config's extract section, key for key (ExtractSettings; missing keys take its
    defaults). detector: its name (the section's `detector`, built with the section's landmarks,
    fan_weights, upsample, ...), or a detector built already (detect.backends.make_detector),
    which then brings its own options. reference: the reference photo of this video (the
    workflow's pick from the section's `references`). manual: the video's manual faces file
    (swaplib.extract.manual), merged in on their frames.
    select: "largest" keeps the largest face of each frame, "all" every face; with a reference
    photo, the face of that person (embedding within `tolerance`) instead. Faces not kept are
    rows with kept False and the reason in left_out, and get no crop. embed_every: embed every
    face of every Nth frame (plus frames with several faces and each track's first face; the
    other rows' embedding is null). smooth: steady the landmarks along each track, the face's
    motion measured on the pixels taken out first (zero-lag One-Euro filter with smooth_cutoff Hz
    and smooth_beta at the video's fps; see swaplib.smoothing).
    photos: the frames are independent photos, not a video: no tracks (every face is a track of
    its own, embedded in pass 1), no smoothing, and fps is not needed (None).
    progress: a log line every ~5 % of each pass, and a bar: "auto" (when stderr is a terminal),
    "on" or "off".
    Both outputs appear whole or not at all; the table is written last.
    """
    _check_job(threads, progress)
    named = {"detector": detector} if isinstance(detector, str) else {}
    settings = extract_settings({**section, **named})
    detector = _detector(detector, settings, section)
    size, face_type, select, tolerance = settings.size, settings.face_type, settings.select, settings.tolerance
    smooth, smooth_cutoff, smooth_beta = settings.smooth, settings.smooth_cutoff, settings.smooth_beta
    smooth = smooth and not photos  # photos are no sequence: nothing to steady along
    if smooth and not fps:
        raise SwaplibError(f"smoothing the landmarks needs the video's frame rate, got fps {fps!r}")
    frames = frame_files(frames_dir)
    name = detector.name
    logger.info("extracting %s faces (%d px, %s detector, %d threads) from %d %s of %s", face_type, size, name,
                threads, len(frames), "photos" if photos else "frames", frames_dir)
    embedder = FaceEmbedder()
    reference_vector = reference_embedding(reference, detector, embedder) if reference else None
    numbers, paths = [n for n, _ in frames], {n: p for n, p in frames}
    # A photo's faces would all be embedded as track starts anyway: do it while the image is loaded.
    placed = read_manual_faces(manual)
    missing = sorted(set(placed) - set(numbers))
    if missing:
        raise SwaplibError(f"{manual}: frame {missing[0]} is not a frame of {frames_dir}")
    work = _Work(detector=detector, embedder=embedder, embed_every=1 if photos else settings.embed_every, size=size,
                 motion=smooth, manual=placed, manual_path=Path(manual) if manual else None)
    # Each frame's previous one, when there is one (a frame-number gap is no motion to measure).
    tasks = [(i, number, path, paths.get(number - 1)) for i, (number, path) in enumerate(frames)]

    with _frame_pool(work, threads) as frame_map:
        results = frame_map(_find_faces, tasks)
        found = _Found.collect(numbers, _counted(results, len(frames), "frames searched", progress))
        if not len(found.frames):
            raise SwaplibError(f"no face found in any of {len(frames)} frames of {frames_dir}")
        if photos:  # unrelated pictures: every face stands alone
            tracks = np.arange(len(found.frames))
        else:
            tracks = assign_tracks(found.frames, found.boxes, found.embeddings)
        _embed_track_starts(found, tracks, paths, frame_map, progress)
        reference_distances = None if reference_vector is None else distances(found.embeddings, reference_vector)
        kept, reasons = keep_faces(found.frames, tracks, select, reference_distances, tolerance)
        if not kept.any():
            raise SwaplibError(f"{reference}: none of the {len(found.frames)} faces found in {frames_dir} "
                               f"is this reference person (distance > {tolerance})")
        landmarks = found.landmarks
        if smooth:
            # A person's points are no detector's tremble: kept as placed, and left out of their
            # neighbours' filter (which then runs as if that frame had had no face).
            found_here = ~np.isnan(found.scores)
            landmarks = landmarks.copy()
            landmarks[found_here] = smooth_landmarks(
                found.frames[found_here], tracks[found_here], landmarks[found_here], found.motion[found_here],
                fps=fps, min_cutoff=smooth_cutoff, beta=smooth_beta)
        shifts = [None] * len(landmarks)
        if face_type == "head" and smooth:  # its yaw shift rides on the trembling jaw points: steady it too
            shifts = smooth_series(found.frames, tracks, [align.head_shift(p) for p in landmarks], fps=fps,
                                   min_cutoff=smooth_cutoff * HEAD_SHIFT_SMOOTHING,
                                   beta=smooth_beta * HEAD_SHIFT_SMOOTHING, eye_distance=align.UNIT_EYE_DISTANCE)
        matrices = np.stack([align.face_matrix(points, size, face_type, shift)
                             for points, shift in zip(landmarks, shifts)])
        table = _table(found, tracks, kept, reasons, landmarks, matrices, face_type, size, settings.format)
        with atomic_dir(faces_dir) as tmp_dir:
            crops = _crop_tasks(table, matrices, paths, tmp_dir)
            written = sum(_counted(frame_map(_write_crops, crops), len(crops), "frames cropped", progress))
    with atomic_path(table_path) as tmp:
        table.to_parquet(tmp, index=False)
    logger.info("%d faces in %d of %d frames; %d kept (%d crops) -> %s, %s; left out: %s",
                len(table), table["frame"].nunique(), len(frames), int(kept.sum()), written, faces_dir, table_path,
                table.loc[~table["kept"], "left_out"].value_counts().to_dict() or "none")
    return table


def _counted(results: Iterable, total: int, what: str, mode: str) -> Iterator:
    """The results of one pass (one per frame), passed through and counted: a log line every ~5 %
    with rate and ETA, and a bar as `mode` says (see swaplib.progress)."""
    with Progress(total, what, unit="frame", log=logger, mode=mode) as progress:
        for result in results:
            progress.update()
            yield result


def _embed_track_starts(found: _Found, tracks: np.ndarray, paths: dict[int, Path], frame_map, progress: str) -> None:
    """Pass 2: embed the first face of every track that has no measured embedding yet."""
    measured = ~np.isnan(found.embeddings).any(axis=1)
    starts = [np.flatnonzero(tracks == t)[0] for t in np.unique(tracks) if not measured[tracks == t].any()]
    by_frame: dict[int, list[int]] = {}
    for face in starts:
        by_frame.setdefault(int(found.frames[face]), []).append(face)
    tasks = [(paths[frame], found.landmarks[faces]) for frame, faces in by_frame.items()]
    embedded = _counted(frame_map(_embed_faces, tasks), len(tasks), "frames embedded", progress)
    for faces, embeddings in zip(by_frame.values(), embedded, strict=True):
        found.embeddings[faces] = embeddings


def _table(found: _Found, tracks, kept, reasons, landmarks, matrices, face_type, size, image_format) -> pd.DataFrame:
    """The face table, with the contract's columns and dtypes."""
    face_ids = [f"{frame:06d}_{i}" for frame, i in zip(found.frames, found.index)]
    heights, widths = zip(*(found.frame_sizes[int(f)] for f in found.frames))
    measured = ~np.isnan(found.embeddings).any(axis=1)
    table = pd.DataFrame({
        "face_id": face_ids,
        "frame": found.frames,
        "index": found.index,
        "file": [f"{face_id}.{image_format}" if k else "" for face_id, k in zip(face_ids, kept)],
        "box_x0": found.boxes[:, 0], "box_y0": found.boxes[:, 1],
        "box_x1": found.boxes[:, 2], "box_y1": found.boxes[:, 3],
        "score": found.scores,
        "landmarks": list(landmarks.reshape(-1, 136)),
        "matrix": list(matrices.reshape(-1, 6)),
        "face_type": face_type,
        "size": size,
        "frame_width": np.asarray(widths, np.int64),
        "frame_height": np.asarray(heights, np.int64),
        "embedding": [e.astype(np.float64) if m else None for e, m in zip(found.embeddings, measured)],
        "track_id": np.asarray(tracks, np.int64),
        "kept": np.asarray(kept, bool),
        "left_out": reasons,
    }, columns=FACE_COLUMNS)
    return table.astype({"size": "int64", "frame": "int64", "index": "int64"})


def _crop_tasks(table: pd.DataFrame, matrices: np.ndarray, paths: dict[int, Path], out_dir: Path) -> list:
    """(frame path, out_dir, [(crop file, matrix), ...]) for each frame with a kept face."""
    tasks: dict[int, list] = {}
    for row, matrix in zip(table.itertuples(), matrices):
        if row.kept:
            tasks.setdefault(row.frame, []).append((row.file, matrix))
    return [(paths[frame], out_dir, faces) for frame, faces in tasks.items()]
