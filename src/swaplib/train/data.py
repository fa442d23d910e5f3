"""The training data: face sets with their masks, DFL's augmentation, and batches made off the main thread.

    face_set_data / combined_data   a face set on disk (faceset.parquet + crops) → FaceSetFiles: crop
                                    paths, face masks (the landmark hull, or the segmentation model's
                                    from masks/{face_id}.png) and eyes-and-mouth masks at the model's
                                    resolution, a yaw estimate, face ids
    load_face_data                  FaceSetFiles (or plain crop paths) → FaceData, all in memory (uint8)
    Batches                         batch i of a run: random faces, colour transfer of src towards dst
                                    (ct_mode, by swaplib.color), flip, random hue/saturation/value
                                    (src input only), random warp (input only), random affine (input
                                    and targets), the targets' background blurred next to the mask
    BatchLoader                     makes the next batches in background threads while the model trains

Batch i is a pure function of (seed, i, attempt): a resumed run draws exactly the batches an
uninterrupted run would, whichever thread made them and however far ahead.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from swaplib.config.train import CT_MODES, HSV_POWER_MAX
from swaplib.core.color import transfer
from swaplib.core.errors import SwaplibError
from swaplib.core.images import read_image
from swaplib.extract.align import hull_mask, transform_points
from swaplib.tables.faces import landmarks_array, matrices_array
from swaplib.tables.faceset import selected_faces

# ct_mode: DFL's names (whole-crop statistics, as DFL's training), and swaplib.color's masked variants.
# DFL's sot is color's sot-m without a mask.


# --------------------------------------------------------------------------- face sets on disk


@dataclass
class FaceSetFiles:
    """One identity's training faces as files, with what the trainer needs beside the pixels."""

    paths: list[Path]
    masks: np.ndarray | None = None  # (N,R,R) float32 0..1 face masks at the model's resolution
    em_masks: np.ndarray | None = None  # (N,R,R) float32 0..1 eyes-and-mouth masks
    yaw: np.ndarray | None = None  # (N,) yaw, degrees, for uniform yaw sampling
    ids: list[str] | None = None  # face ids (for model.pt's record of what it was trained on)
    face_type: str | None = None  # DFL face type of the crops (whole_face, full, ...)


def yaw_estimate(landmarks: np.ndarray) -> np.ndarray:
    """(N,68,2) → (N,) rough yaw in degrees, from where the nose tip sits between the jaw's ends
    (used when the face set has no yaw column)."""
    left, right, nose = landmarks[:, 0], landmarks[:, 16], landmarks[:, 30]
    axis = right - left
    t = ((nose - left) * axis).sum(1) / np.maximum((axis * axis).sum(1), 1e-6)
    return np.degrees(np.arcsin(np.clip(2 * t - 1, -1, 1))).astype(np.float32)


def eyes_mouth_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """float32 (size, size): the eyes' and the mouth's hulls, grown and softened (DFL's eyes_mouth_prio)."""
    mask = np.zeros((size, size), np.float32)
    for part in (landmarks[36:42], landmarks[42:48], landmarks[48:60]):
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(part).astype(np.int32)), 1.0)
    grow = max(1, size // 32)
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    return np.clip(cv2.GaussianBlur(mask, (0, 0), grow), 0, 1)


def face_set_data(faceset_path: str | Path, faces_dir: str | Path, resolution: int,
                  masks_dir: str | Path | None = None) -> FaceSetFiles:
    """The selected faces of a face set in training order, with masks at `resolution`: the landmark
    hulls, or the segmentation model's masks in masks_dir ({face_id}.png, as xseg_masks writes them)."""
    faces = selected_faces(faceset_path)
    if faces.empty:
        raise SwaplibError(f"{faceset_path}: the face set selects no face to train on")
    faces_dir = Path(faces_dir)
    scale = resolution / faces["size"].to_numpy(dtype=np.float64)
    matrices = matrices_array(faces) * scale[:, None, None]
    frame_landmarks = landmarks_array(faces)
    crop_landmarks = [transform_points(lm, m) for lm, m in zip(frame_landmarks, matrices)]
    if masks_dir is None:
        masks = np.stack([hull_mask(lm, (resolution, resolution)) for lm in crop_landmarks]).astype(np.float32)
    else:
        masks = _mask_array([Path(masks_dir) / f"{i}.png" for i in faces["face_id"]], len(faces), resolution,
                            str(faceset_path), "XSeg masks").astype(np.float32) / 255
    em = np.stack([eyes_mouth_mask(lm, resolution) for lm in crop_landmarks])
    yaw = faces["yaw"].to_numpy(np.float32) if "yaw" in faces.columns else yaw_estimate(frame_landmarks)
    ids = [str(i) for i in faces["face_id"]] if "face_id" in faces.columns else [str(f) for f in faces["file"]]
    types = sorted(set(faces["face_type"])) if "face_type" in faces.columns else []
    if len(types) > 1:
        raise SwaplibError(f"{faceset_path}: faces of several face types ({', '.join(types)}): train on one")
    return FaceSetFiles([faces_dir / name for name in faces["file"]], masks, em, yaw, ids, types[0] if types else None)


def combined_data(sets: list[tuple[str | Path, str | Path]], resolution: int,
                  masks_dirs: list[str | Path] | None = None) -> FaceSetFiles:
    """Several (faceset, faces_dir) of one identity side, concatenated (ids prefixed by the video);
    masks_dirs: each set's segmentation masks (None: the landmark hulls)."""
    if masks_dirs is not None and len(masks_dirs) != len(sets):
        raise SwaplibError(f"{len(masks_dirs)} masks folders for {len(sets)} face sets")
    dirs = masks_dirs if masks_dirs is not None else [None] * len(sets)
    parts = [(Path(faceset).parent.name, face_set_data(faceset, faces_dir, resolution, masks_dir))
             for (faceset, faces_dir), masks_dir in zip(sets, dirs)]
    types = sorted({part.face_type for _, part in parts if part.face_type})
    if len(types) > 1:
        raise SwaplibError(f"face sets of different face types ({', '.join(types)}) cannot train one model; "
                           f"extract them with one face type")
    return FaceSetFiles(
        paths=[p for _, part in parts for p in part.paths],
        masks=np.concatenate([part.masks for _, part in parts]),
        em_masks=np.concatenate([part.em_masks for _, part in parts]),
        yaw=np.concatenate([part.yaw for _, part in parts]),
        ids=[f"{video}/{i}" for video, part in parts for i in part.ids],
        face_type=types[0] if types else None,
    )


# --------------------------------------------------------------------------- face sets in memory


@dataclass
class FaceData:
    """One identity's faces in memory: uint8 BGR (N,R,R,3), masks uint8 0..255 (N,R,R) or None."""

    name: str
    faces: np.ndarray
    masks: np.ndarray | None = None
    em_masks: np.ndarray | None = None
    yaw: np.ndarray | None = None
    ids: list[str] = field(default_factory=list)
    face_type: str | None = None

    def __len__(self) -> int:
        return len(self.faces)

    @staticmethod
    def join(name: str, a: FaceData, b: FaceData) -> FaceData:
        """Both sets as one (pretraining trains both decoders on all faces)."""
        cat = lambda x, y: None if x is None or y is None else np.concatenate([x, y])
        return FaceData(name, np.concatenate([a.faces, b.faces]), cat(a.masks, b.masks), cat(a.em_masks, b.em_masks),
                        cat(a.yaw, b.yaw), [f"{a.name}:{i}" for i in a.ids] + [f"{b.name}:{i}" for i in b.ids],
                        a.face_type)


def _square(image: np.ndarray, resolution: int, path, name: str) -> np.ndarray:
    h, w = image.shape[:2]
    if h != w:
        raise SwaplibError(f"{name} face set: {path}: face crop is {w}x{h}, expected a square aligned face")
    if h == resolution:
        return image
    interp = cv2.INTER_AREA if h > resolution else cv2.INTER_CUBIC
    return cv2.resize(image, (resolution, resolution), interpolation=interp)


def load_faces(paths: list[Path], resolution: int, name: str = "faces", workers: int = 0) -> np.ndarray:
    """Read aligned face crops into one uint8 (N,R,R,3) BGR array, resized to `resolution`."""
    paths = list(paths)
    if not paths:
        raise SwaplibError(f"{name} face set is empty: nothing to train on")

    def read(path):
        try:
            return _square(read_image(path), resolution, path, name)
        except SwaplibError as e:
            raise SwaplibError(f"{name} face set: {e}" if not str(e).startswith(name) else str(e)) from None

    faces = np.empty((len(paths), resolution, resolution, 3), np.uint8)
    with ThreadPoolExecutor(workers or default_workers()) as pool:  # cv2 decodes without the GIL
        for i, face in enumerate(pool.map(read, paths)):
            faces[i] = face
    return faces


def _mask_array(masks, n: int, resolution: int, name: str, what: str = "masks") -> np.ndarray | None:
    """None, an array (N,H,W) of 0..1, or a list of arrays / grayscale image paths → uint8 (N,R,R) 0..255."""
    if masks is None:
        return None
    items = list(masks)
    if len(items) != n:
        raise SwaplibError(f"{name} {what}: {len(items)} masks for {n} faces")
    out = np.empty((n, resolution, resolution), np.uint8)
    for i, m in enumerate(items):
        if isinstance(m, (str, os.PathLike)):
            image = cv2.imread(str(m), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise SwaplibError(f"{name} {what}: {m}: missing or not a readable image")
            m = image.astype(np.float32) / 255.0
        m = np.asarray(m, np.float32)
        if m.ndim == 3:
            m = m[..., 0]
        if m.shape != (resolution, resolution):
            m = cv2.resize(m, (resolution, resolution), interpolation=cv2.INTER_LINEAR)
        out[i] = np.round(np.clip(m, 0.0, 1.0) * 255)
    return out


def load_face_data(source, resolution: int, name: str, masks=None, workers: int = 0) -> FaceData:
    """FaceSetFiles, or a list of crop paths (with optional `masks`), → FaceData at `resolution`.
    FaceData (already in memory) is taken as it is."""
    if isinstance(source, FaceData):
        if source.faces.shape[1:] != (resolution, resolution, 3):
            raise SwaplibError(f"{name} faces are {source.faces.shape[1:]}, the model needs "
                               f"({resolution}, {resolution}, 3)")
        return source
    if isinstance(source, FaceSetFiles):
        files = source
        if masks is not None:
            files = FaceSetFiles(files.paths, masks, files.em_masks, files.yaw, files.ids, files.face_type)
    else:
        files = FaceSetFiles(list(source), masks)
    faces = load_faces(files.paths, resolution, name, workers)
    n = len(faces)
    yaw = None if files.yaw is None else np.asarray(files.yaw, np.float32)
    if yaw is not None and len(yaw) != n:
        raise SwaplibError(f"{name} yaw: {len(yaw)} values for {n} faces")
    ids = list(files.ids) if files.ids is not None else [Path(p).stem for p in files.paths]
    return FaceData(name, faces, _mask_array(files.masks, n, resolution, name),
                    _mask_array(files.em_masks, n, resolution, name, "eyes-and-mouth masks"), yaw, ids, files.face_type)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


# --------------------------------------------------------------------------- augmentation


def warp_offsets(rng: np.random.Generator, R: int) -> np.ndarray:
    """DFL-style random warp, drawn: the jitter (2, cells+1, cells+1) of the inner points of a coarse
    grid over an R px image (edges pinned)."""
    cells = int(rng.choice([2, 4, 8]))
    cell = R // cells
    offsets = np.zeros((2, cells + 1, cells + 1), np.float32)
    offsets[:, 1:-1, 1:-1] = rng.normal(0.0, 0.24 * cell, (2, cells - 1, cells - 1))
    return offsets


def warp(image: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The image resampled through the smooth offset field interpolated from warp_offsets' grid."""
    R = image.shape[0]
    cell = R // (offsets.shape[1] - 1)
    # Resize the (cells+1)² grid to R+cell px and crop half a cell each side: grid point i lands on px i·cell.
    half = cell // 2
    dx, dy = (cv2.resize(o, (R + cell, R + cell), interpolation=cv2.INTER_CUBIC)[half : half + R, half : half + R]
              for o in offsets)
    grid = np.arange(R, dtype=np.float32)
    return cv2.remap(image, grid[None, :] + dx, grid[:, None] + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def hsv_draw(power: float, rng: np.random.Generator) -> tuple:
    """DFL's random_hsv_power, drawn: a hue turn of a whole number of degrees up to ±180·power, and
    moves of saturation and value each up to ±power/2."""
    turn = max(1, int(180 * power))
    return rng.integers(-turn, turn + 1), (rng.random(2) - 0.5) * power


def hsv_shift(image: np.ndarray, shift: tuple) -> np.ndarray:
    """A float BGR image (0..1) with hsv_draw's shift (then clipped)."""
    turn, moves = shift
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)  # float images: hue in degrees, 0..360
    hsv[..., 0] = (hsv[..., 0] + turn) % 360
    hsv[..., 1:] = np.clip(hsv[..., 1:] + moves, 0, 1)
    return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR), 0, 1)


def blur_out_mask(image: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """DFL's blur_out_mask: the image outside `mask` replaced by a gaussian blur (of `sigma` px) of the
    outside alone, so no face colour bleeds out; inside the mask the image is unchanged. The
    background next to the face loses its detail, so a swap's edge meets a smooth surround."""
    size = max(3, int(4 * sigma)) | 1
    blur = lambda x: cv2.GaussianBlur(x, (size, size), sigma)
    outside = 1 - mask
    background = blur(image * outside[..., None]) / np.maximum(blur(outside), 1e-6)[..., None]
    return image * mask[..., None] + background * outside[..., None]


def random_affine(rng: np.random.Generator, R: int) -> np.ndarray:
    """DFL's random transform: rotation ±10°, scale ±15 %, shift ±5 % of the size."""
    angle = rng.uniform(-10, 10)
    scale = 1 + rng.uniform(-0.15, 0.15)
    tx, ty = rng.uniform(-0.05, 0.05, 2) * R
    M = cv2.getRotationMatrix2D((R / 2, R / 2), angle, scale)
    M[:, 2] += (tx, ty)
    return M


@dataclass(frozen=True)
class Augmentation:
    random_flip: bool = True
    random_warp: bool = True  # the input only: the network learns to undo it
    random_transform: bool = True  # input and targets alike
    ct_mode: str = "none"  # colour transfer of src samples towards random dst faces (CT_MODES; swaplib.color)
    uniform_yaw: bool = False  # draw faces evenly over their yaw, so rare profiles are seen as often
    random_hsv_power: float = 0.0  # hue/saturation/value shift of the src input (0..HSV_POWER_MAX; 0 = off)
    blur_out_mask: bool = False  # the targets' background blurred next to the face mask (needs masks)

    def __post_init__(self):
        if self.ct_mode not in CT_MODES:
            raise SwaplibError(f"unknown ct_mode {self.ct_mode!r}; choose one of {', '.join(CT_MODES)}")
        if not 0 <= self.random_hsv_power <= HSV_POWER_MAX:
            raise SwaplibError(f"random_hsv_power must be 0..{HSV_POWER_MAX}, not {self.random_hsv_power!r}")


@dataclass
class Draw:
    """One sample's augmentation, drawn before any pixel is touched (None: not applied)."""

    flip: bool
    hsv: tuple | None  # hsv_draw's
    warp: np.ndarray | None  # warp_offsets'
    affine: np.ndarray | None  # random_affine's


class Batches:
    """The batches of a run. batch(i, attempt) → dict of float32 arrays, images NHWC 0..1:

        src_in, src_target, dst_in, dst_target        (B,R,R,3)  input (warped) and target
        src_mask, dst_mask                            (B,R,R) face masks (when the sets have masks)
        src_loss_mask, dst_loss_mask                  (B,R,R) the masks blurred and widened (DFL's
                                                      masked-training weight; when masks are given)
        src_em, dst_em                                (B,R,R) eyes-and-mouth masks (when given)

    Faces are drawn epoch by epoch in a seeded random order (every face once per epoch), or, with
    uniform_yaw, weighted so that each yaw bin is drawn equally often. `share` (a rank's samples, see
    distributed.py) makes those samples of each batch alone, exactly as the whole batch has them:
    every sample's randomness is drawn first, in sample order, and only the share is then made.
    """

    YAW_BINS = 32

    def __init__(self, src: FaceData, dst: FaceData, batch_size: int, seed: int, aug: Augmentation, with_masks: bool,
                 with_eyes_mouth: bool = True, share: slice = slice(None)):
        self.src, self.dst, self.batch_size, self.seed, self.aug = src, dst, batch_size, seed, aug
        self.share = share
        self.with_masks = with_masks and src.masks is not None and dst.masks is not None
        self.with_em = with_eyes_mouth and src.em_masks is not None and dst.em_masks is not None
        self.resolution = src.faces.shape[1]
        sides = (("src", src), ("dst", dst))
        self._yaw_p = {side: self._yaw_weights(data) for side, data in sides} if aug.uniform_yaw else {}

    def _yaw_weights(self, data: FaceData) -> np.ndarray | None:
        if data.yaw is None:
            return None
        lo, hi = float(data.yaw.min()), float(data.yaw.max())
        bins = np.clip(((data.yaw - lo) / max(hi - lo, 1e-6) * self.YAW_BINS).astype(int), 0, self.YAW_BINS - 1)
        counts = np.bincount(bins, minlength=self.YAW_BINS)
        p = 1.0 / counts[bins]
        return p / p.sum()

    def indices(self, side: str, iteration: int, attempt: int = 0) -> np.ndarray:
        """Which faces of side "src" or "dst" batch `iteration` draws (the whole batch's)."""
        n = len(self.src if side == "src" else self.dst)
        B = self.batch_size
        p = self._yaw_p.get(side)
        if p is not None:
            return np.random.default_rng([self.seed, 2, iteration, attempt, side == "dst"]).choice(n, B, p=p)
        positions = np.arange(iteration * B, (iteration + 1) * B)
        out = np.empty(B, np.int64)
        for epoch in np.unique(positions // n):
            order = np.random.default_rng([self.seed, 1, int(epoch), side == "dst"]).permutation(n)
            here = positions // n == epoch
            out[here] = order[positions[here] % n]
        return out

    def batch(self, iteration: int, attempt: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, 0, iteration, attempt])
        # the colour shift draws from its own stream: with it on, the faces, flips and warps stay the same
        hsv = np.random.default_rng([self.seed, 3, iteration, attempt]) if self.aug.random_hsv_power else None
        out, share = {}, self.share
        for side, data in (("src", self.src), ("dst", self.dst)):
            idx = self.indices(side, iteration, attempt)
            # colour transfer works on the whole batch (some modes draw their random directions across it),
            # then the share is taken; without it only the share's faces are read
            whole = side == "src" and self.aug.ct_mode != "none"
            faces = data.faces[idx if whole else idx[share]].astype(np.float32) * np.float32(1 / 255)
            if whole:  # towards random dst faces, before any distortion
                refs = rng.integers(0, len(self.dst), len(idx))
                kind = "sot-m" if self.aug.ct_mode == "sot" else self.aug.ct_mode
                both = None if data.masks is None else (data.masks[idx] > 127) & (self.dst.masks[refs] > 127)
                faces = transfer(kind, faces, self.dst.faces[refs], both, seed=int(rng.integers(2**31)))[share]
            draws = [self._draw(rng, hsv if side == "src" else None) for _ in idx][share]
            samples = [self._sample(data, int(i), face, d) for i, face, d in zip(idx[share], faces, draws)]
            for k, key in enumerate(("in", "target", "mask", "loss_mask", "em")):
                if samples[0][k] is not None:
                    out[f"{side}_{key}"] = np.stack([s[k] for s in samples])
        return out

    def _draw(self, rng: np.random.Generator, hsv: np.random.Generator | None) -> Draw:
        """One sample's augmentation; `hsv`: the colour shift's random stream (src faces, with random_hsv_power)."""
        a = self.aug
        flip = bool(a.random_flip and rng.random() < 0.5)
        shift = None if hsv is None else hsv_draw(a.random_hsv_power, hsv)
        offsets = warp_offsets(rng, self.resolution) if a.random_warp else None
        return Draw(flip, shift, offsets, random_affine(rng, self.resolution) if a.random_transform else None)

    def _sample(self, data: FaceData, i: int, face: np.ndarray, d: Draw):
        """Face i (float, maybe recoloured) → (input, target, mask, loss mask, eyes-and-mouth mask);
        the masks may be None."""
        a = self.aug
        R = self.resolution
        masks = [m[i].astype(np.float32) * (1 / 255) if m is not None and use else None
                 for m, use in ((data.masks, self.with_masks), (data.em_masks, self.with_em))]
        if d.flip:
            face = np.ascontiguousarray(face[:, ::-1])
            masks = [None if m is None else np.ascontiguousarray(m[:, ::-1]) for m in masks]
        shown = face if d.hsv is None else hsv_shift(face, d.hsv)  # the input only
        warped = shown if d.warp is None else warp(shown, d.warp)
        if d.affine is not None:
            move = lambda im, border: cv2.warpAffine(np.ascontiguousarray(im), d.affine, (R, R),
                                                     flags=cv2.INTER_LINEAR, borderMode=border)
            face, warped = move(face, cv2.BORDER_REPLICATE), move(warped, cv2.BORDER_REPLICATE)
            masks = [None if m is None else move(m, cv2.BORDER_CONSTANT) for m in masks]
        mask, em = masks
        if a.blur_out_mask and mask is not None:  # the targets only, as DFL
            face = blur_out_mask(face, mask, R / 128)
        loss_mask = None
        if mask is not None:  # DFL: blur by R/32, then everything above half counts fully
            loss_mask = np.clip(cv2.GaussianBlur(mask, (0, 0), max(1, R // 32)), 0, 0.5) * 2
        return np.ascontiguousarray(warped), np.ascontiguousarray(face), mask, loss_mask, em


def _yield_to_compute() -> None:
    """Batch threads run at a lower priority than the training step's compute threads: they use the
    time those leave, and never stall them (Linux: threads have their own nice value)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5))
    except (AttributeError, OSError):
        pass


class BatchLoader:
    """Batches made ahead in `workers` background threads (OpenCV and NumPy release the GIL), so
    the training loop only waits when augmentation is slower than a training step.

    get(i, attempt) returns batch i; it expects consecutive calls i, i+1, ... and starts over
    (dropping what it made ahead) when asked for anything else, e.g. after a rollback."""

    def __init__(self, batches: Batches, workers: int = 0, prefetch: int = 0):
        self.batches = batches
        self.workers = workers or default_workers()
        self.prefetch = prefetch or 2 * self.workers
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="swaplib-batches",
                                       initializer=_yield_to_compute)
        self.pending: deque = deque()  # ((iteration, attempt), future)
        self._cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)  # parallel across samples, not inside each small image operation

    def get(self, iteration: int, attempt: int = 0) -> dict[str, np.ndarray]:
        if not self.pending or self.pending[0][0] != (iteration, attempt):
            self._drop()
            self.pending.append(((iteration, attempt), self.pool.submit(self.batches.batch, iteration, attempt)))
        key, future = self.pending.popleft()
        last = self.pending[-1][0][0] if self.pending else iteration
        while len(self.pending) < self.prefetch:
            last += 1
            self.pending.append(((last, attempt), self.pool.submit(self.batches.batch, last, attempt)))
        return future.result()

    def _drop(self):
        while self.pending:
            self.pending.popleft()[1].cancel()

    def close(self):
        self._drop()
        self.pool.shutdown(wait=True, cancel_futures=True)
        cv2.setNumThreads(self._cv_threads)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
