"""Faces over time: tracks across frames and landmarks smoothed along each track.

Each frame's landmarks are fitted on their own, so they tremble by a pixel or two from frame to
frame, and so does every crop aligned on them. Following a face from frame to frame (its box
overlaps its last one, and its embedding, where measured, says it is the same person) and
smoothing its landmarks along the track steadies the crops.

The smoothing must not fight real motion: a talking head moves by tens of pixels between frames,
often in jerks (frame-rate conversion repeats and drops frames), and any filter on the landmarks
themselves lags behind such moves and makes the crops worse (measured: up to 4x the jitter).
So the face's own motion is measured on the pixels (phase correlation of the region around its
brows, eyes and nose between consecutive frames, sub-pixel), taken out of the landmarks, the
remaining tremble is filtered (One-Euro, run forward and backward so that it does not lag), and
the motion is put back.
`eye_jitter` measures the effect on the crops.
"""

from __future__ import annotations

import numpy as np

from swaplib.core.errors import SwaplibError
from swaplib.extract.detect.base import box_iou
from swaplib.extract.identity import SAME_PERSON


def assign_tracks(
    frames: np.ndarray,
    boxes: np.ndarray,
    embeddings: np.ndarray | None = None,
    *,
    min_iou: float = 0.3,
    max_gap: int = 5,
    max_distance: float = SAME_PERSON,
) -> np.ndarray:
    """Track id (0, 1, ... in order of first appearance) of each face, faces given in frame order.

    A face continues the track whose last box (at most max_gap frames back) it overlaps most,
    by at least min_iou, unless both have embeddings (NaN rows: not measured) farther apart than
    max_distance; otherwise it starts a new track.
    """
    frames = np.asarray(frames)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if embeddings is None:
        embeddings = np.full((len(frames), 1), np.nan)
    ids = np.full(len(frames), -1, np.int64)
    last_box, last_frame, last_embedding = [], [], []  # per track
    for frame in _unique_in_order(frames):
        members = np.flatnonzero(frames == frame)
        # Most recently seen first: of two equally overlapping tracks, the live one continues.
        live = sorted((t for t in range(len(last_frame)) if 0 < frame - last_frame[t] <= max_gap),
                      key=lambda t: -last_frame[t])
        overlap = (box_iou(boxes[members], np.array([last_box[t] for t in live])) if live
                   else np.zeros((len(members), 0)))
        for row, face in enumerate(members):
            for col, track in enumerate(live):
                if _distance(embeddings[face], last_embedding[track]) > max_distance:
                    overlap[row, col] = 0.0  # another person in the same place (a cut)
        for row, col in _greedy_pairs(overlap, min_iou):
            ids[members[row]] = live[col]
        for face in members:
            if ids[face] < 0:  # a new track
                ids[face] = len(last_frame)
                last_box.append(None)
                last_frame.append(None)
                last_embedding.append(np.full(embeddings.shape[1], np.nan))
            track = ids[face]
            last_box[track], last_frame[track] = boxes[face], frame
            if not np.isnan(embeddings[face]).any():
                last_embedding[track] = embeddings[face]
    return ids


def _unique_in_order(values: np.ndarray) -> list:
    return list(dict.fromkeys(values.tolist()))


def _greedy_pairs(overlap: np.ndarray, min_overlap: float) -> list[tuple[int, int]]:
    """(row, column) pairs, best overlap first, each row and column used once."""
    pairs, used_rows, used_cols = [], set(), set()
    order = np.dstack(np.unravel_index(np.argsort(-overlap, axis=None, kind="stable"), overlap.shape))[0]
    for i, j in order:
        if overlap[i, j] < min_overlap:
            break
        if i not in used_rows and j not in used_cols:
            pairs.append((int(i), int(j)))
            used_rows.add(i), used_cols.add(j)
    return pairs


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Embedding distance, 0 when either is unknown (then the boxes alone decide)."""
    if np.isnan(a).any() or np.isnan(b).any():
        return 0.0
    return float(np.linalg.norm(a - b))


MIN_RESPONSE = 0.05  # phase-correlation peak below which a measured shift is not trusted
# A face's motion goes into its landmarks, so a chance match must not pass: consecutive frames of a
# face give 0.8-1.0, unrelated pictures up to ~0.1.
MOTION_MIN_RESPONSE = 0.2


def image_shift(previous: np.ndarray, current: np.ndarray, min_response: float = MIN_RESPONSE) -> np.ndarray:
    """(dx, dy) shift of the picture from one grey patch to another of the same size; NaN when
    the match is too weak to trust (phase-correlation peak below min_response). Phase correlation
    finds it to a pixel, however large; ECC (an iterative least-squares match) then refines it to
    a few hundredths of a pixel."""
    import cv2

    previous = np.ascontiguousarray(previous, np.float32) - np.float32(previous.mean())
    current = np.ascontiguousarray(current, np.float32) - np.float32(current.mean())
    window = cv2.createHanningWindow(previous.shape[::-1], cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(previous, current, window)
    if response < min_response:
        return np.full(2, np.nan)
    warp = np.float32([[1, 0, dx], [0, 1, dy]])
    try:
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
        _, warp = cv2.findTransformECC(previous, current, warp, cv2.MOTION_TRANSLATION, criteria, None, 3)
    except cv2.error:  # did not converge (flat patch, big change): the coarse shift stands
        pass
    return warp[:, 2].astype(np.float64)


# Share of the face box, from its top, whose picture shift is the face's motion: brows, eyes and
# nose, which move with the head. The mouth and jaw move on their own in speech and would pull the
# shift with them (measured: smoothing then made a talking clip's crops 20% less steady, not 60% more).
MOTION_REGION = 0.6


def face_motion(previous: np.ndarray, current: np.ndarray, box) -> np.ndarray:
    """(dx, dy) shift of the upper face (MOTION_REGION of box x0 y0 x1 y1) from the previous grey
    frame to the current one; NaN when it cannot be measured (a cut, a hand over the face, a tiny
    box)."""
    height, width = current.shape[:2]
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    y1 = y0 + MOTION_REGION * (y1 - y0)
    pad_x, pad_y = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
    x0, y0 = int(max(x0 - pad_x, 0)), int(max(y0 - pad_y, 0))
    x1, y1 = int(min(x1 + pad_x, width)), int(min(y1 + pad_y, height))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return np.full(2, np.nan)
    return image_shift(previous[y0:y1, x0:x1], current[y0:y1, x0:x1], MOTION_MIN_RESPONSE)


def one_euro(values: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> np.ndarray:
    """The One-Euro filter (Casiez et al., 2012) of values (T, ...) sampled at fps, run forward.

    A low-pass filter whose cutoff rises with the speed of the signal: min_cutoff (Hz) when
    still, plus beta x |speed| (speed smoothed at d_cutoff Hz) when moving. So a still face is
    steadied hard and a moving one followed with little lag.
    """
    values = np.asarray(values, np.float64)
    out = np.empty_like(values)
    out[0] = values[0]
    speed = np.zeros_like(values[0])

    def blend(cutoff):  # weight of the new sample for a first-order low-pass at this cutoff
        rate = 2 * np.pi * cutoff / fps
        return rate / (rate + 1)

    for t in range(1, len(values)):
        speed += blend(d_cutoff) * ((values[t] - out[t - 1]) * fps - speed)
        weight = blend(min_cutoff + beta * np.abs(speed))
        out[t] = out[t - 1] + weight * (values[t] - out[t - 1])
    return out


def zero_lag_one_euro(values: np.ndarray, fps: float, min_cutoff: float, beta: float) -> np.ndarray:
    """The mean of the One-Euro filter run forward and backward in time: the two lags cancel."""
    forward = one_euro(values, fps, min_cutoff, beta)
    backward = one_euro(values[::-1], fps, min_cutoff, beta)[::-1]
    return (forward + backward) / 2


def smooth_landmarks(
    frames: np.ndarray,
    tracks: np.ndarray,
    landmarks: np.ndarray,
    motion: np.ndarray | None = None,
    *,
    fps: float = 25.0,
    min_cutoff: float = 1.0,
    beta: float = 10.0,
) -> np.ndarray:
    """Landmarks (N, 68, 2) smoothed along each track's runs of consecutive frames.

    motion (N, 2): each face's picture shift since the previous frame (face_motion; NaN: not
    measured, then the landmarks' own mean shift stands in); None filters the landmarks as they
    are. The filter is a zero-lag One-Euro (see one_euro) with speeds in inter-ocular distances
    per second, so the settings mean the same for a small face and a large one.
    """
    if fps <= 0 or min_cutoff <= 0 or beta < 0:
        raise SwaplibError(f"smoothing needs fps > 0, cutoff > 0 and beta >= 0; got {fps}, {min_cutoff}, {beta}")
    landmarks = np.asarray(landmarks, np.float64)
    motion = np.full((len(frames), 2), np.nan) if motion is None else np.asarray(motion, np.float64)
    out = landmarks.copy()
    for run in _track_runs(frames, tracks):
        out[run] = _smooth_run(landmarks[run], motion[run], fps, min_cutoff, beta)
    return out


def smooth_series(frames: np.ndarray, tracks: np.ndarray, values: np.ndarray, *, fps: float = 25.0,
                  min_cutoff: float = 1.0, beta: float = 10.0, eye_distance: float = 1.0) -> np.ndarray:
    """values (N, ...) of each face filtered (zero-lag One-Euro) along each track's runs of
    consecutive frames. eye_distance: the eye distance in the values' units, so that the settings
    mean what they mean for smooth_landmarks."""
    values = np.asarray(values, np.float64) / eye_distance
    out = values.copy()
    for run in _track_runs(frames, tracks):
        out[run] = zero_lag_one_euro(values[run], fps, min_cutoff, beta)
    return out * eye_distance


def _track_runs(frames: np.ndarray, tracks: np.ndarray):
    """Index arrays, in frame order, of each track's runs of 3+ consecutive frames: a gap (frames
    without the face) starts a new run, as the filter assumes even time steps."""
    frames, tracks = np.asarray(frames), np.asarray(tracks)
    for track in np.unique(tracks):
        members = np.flatnonzero(tracks == track)
        members = members[np.argsort(frames[members], kind="stable")]
        breaks = np.flatnonzero(np.diff(frames[members]) != 1) + 1
        yield from (run for run in np.split(members, breaks) if len(run) >= 3)


def _smooth_run(points: np.ndarray, motion: np.ndarray, fps: float, min_cutoff: float, beta: float) -> np.ndarray:
    """One track's landmarks (T, 68, 2) over consecutive frames: motion out, filter, motion back."""
    steps = motion[1:].copy()
    unknown = np.isnan(steps).any(axis=1)
    steps[unknown] = (points[1:] - points[:-1]).mean(axis=1)[unknown]
    offsets = np.vstack([np.zeros(2), np.cumsum(steps, axis=0)])[:, None, :]  # (T, 1, 2)
    eyes = np.linalg.norm(points[:, 36:42].mean(axis=1) - points[:, 42:48].mean(axis=1), axis=1)
    scale = max(float(np.median(eyes)), 1.0)
    steady = (points - offsets) / scale
    return zero_lag_one_euro(steady, fps, min_cutoff, beta) * scale + offsets


def eye_jitter(frames: np.ndarray, crops: list[np.ndarray], face_type: str) -> float:
    """Mean frame-to-frame movement (px) of the eye region in aligned crops of consecutive frames.

    Measured on the pixels (image_shift), not by a landmark detector: a detector run again on
    the crops shares the errors of the one that placed them and would call its own trembling steady.
    """
    from swaplib.extract.align import mean_face

    frames = np.asarray(frames)
    steps = np.flatnonzero(np.diff(frames) == 1)
    if not len(steps):
        raise SwaplibError("eye jitter needs faces in at least two consecutive frames")
    size = crops[0].shape[0]
    eyes = mean_face(size, face_type)[36:48]
    margin = np.array([0.15, 0.06]) * size
    (x0, y0), (x1, y1) = np.maximum(eyes.min(axis=0) - margin, 0), np.minimum(eyes.max(axis=0) + margin, size)
    x0, y0, x1, y1 = (int(round(v)) for v in (x0, y0, x1, y1))

    def region(crop):
        return to_grey(crop)[y0:y1, x0:x1]

    moves = [np.hypot(*image_shift(region(crops[i]), region(crops[i + 1]))) for i in steps]
    return float(np.nanmean(moves))


def to_grey(image: np.ndarray) -> np.ndarray:
    """float32 grey copy of a BGR (or grey) image, what the shift measurements work on."""
    import cv2

    return (image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)).astype(np.float32)
