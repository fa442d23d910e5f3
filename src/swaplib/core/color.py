"""Colour transfer: give the swapped face the colours of the destination face it replaces.

`transfer(kind, source, target, mask)` recolours `source` (the predicted face) after `target`
(the destination face crop). Both are BGR, one image (H, W, 3) or a batch (N, H, W, 3), uint8
or float 0..1; the result has the shape and dtype of `source`. The modes are DeepFaceLab's:

    none    unchanged
    rct     Reinhard: match the mean and spread of each L*a*b* channel, inside the mask
    lct     linear: match the mean and covariance of the BGR colours (whole crop)
    mkl     Monge-Kantorovich linear map of the BGR distribution (whole crop)
    idt     iterative distribution transfer: match the full 3-D colour distribution (whole crop)
    sot     sliced optimal transport (DFL's merger offers it as sot-m; training's ct_mode as sot)
    mix     lightness by a linear map, colour (a*, b*) by sliced optimal transport

`-m` modes take their statistics inside the mask only, so hair and background do not leak in.
Every mode changes every pixel of `source`: the merge's mask decides what is shown. A face with
fewer than MIN_PIXELS mask pixels comes back unchanged (too few for stable statistics).
Random directions (idt, sot) come from a fixed seed: the same input gives the same output.

Training's colour augmentation (ct_mode) takes the same names and calls the same function.
"""

from __future__ import annotations

import cv2
import numpy as np

from swaplib.core.errors import SwaplibError

COLOR_TRANSFERS = ("none", "rct", "lct", "mkl", "mkl-m", "idt", "idt-m", "sot-m", "mix-m")  # the merger's
TRANSFERS = COLOR_TRANSFERS + ("sot",)  # what transfer() takes: training's ct_mode also has plain sot
_MASKED = {"rct", "mkl-m", "idt-m", "sot-m", "mix-m"}
MIN_PIXELS = 16
_LEVELS = np.linspace(0.0, 1.0, 257)  # quantiles that describe a 1-D distribution
_EPS = 1e-5


def check_color_transfer(kind: str) -> None:
    if kind not in TRANSFERS:
        raise SwaplibError(f"unknown colour transfer {kind!r}; choose one of {', '.join(TRANSFERS)}")


def transfer(kind: str, source: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None, *, seed: int = 0):
    """`source` recoloured after `target` by mode `kind` (see the module doc); mask: (…, H, W), > 0.5 inside."""
    check_color_transfer(kind)
    if kind == "none":
        return source
    src, single, dtype = _float_batch(source)
    tgt, _, _ = _float_batch(target)
    if src.shape != tgt.shape:
        raise SwaplibError(f"colour transfer: source {src.shape} and target {tgt.shape} differ in shape")
    inside = _inside(kind, mask, src.shape)
    out = src.copy()
    usable = inside.reshape(len(src), -1).sum(1) >= MIN_PIXELS
    if usable.any():
        rng = np.random.default_rng(seed)
        out[usable] = _MODES[kind.removesuffix("-m")](src[usable], tgt[usable], inside[usable], rng)
    return _restore(np.clip(out, 0.0, 1.0), single, dtype)


def hist_match(source, target, mask: np.ndarray | None = None, threshold: int = 255):
    """Per-channel histogram matching of `source` to `target`, statistics inside the mask.

    threshold 0..255 (DFL's hist-match threshold): a source pixel at quantile q takes the target's
    value at quantile q·threshold/255, so values below 255 pull the brightest tones down.
    """
    if not 0 <= threshold <= 255:
        raise SwaplibError(f"histogram-match threshold must be 0..255, got {threshold}")
    src, single, dtype = _float_batch(source)
    tgt, _, _ = _float_batch(target)
    inside = _inside("rct", mask, src.shape)
    out = src.copy()
    for i in range(len(src)):
        if inside[i].sum() < MIN_PIXELS:
            continue
        for c in range(3):
            samples_src = np.sort(src[i, ..., c][inside[i]])
            samples_tgt = np.sort(tgt[i, ..., c][inside[i]])
            values = src[i, ..., c]
            # The middle of a run of equal values, so ties do not shift the match up or down.
            rank = (np.searchsorted(samples_src, values, "left") + np.searchsorted(samples_src, values, "right")) / (
                2 * len(samples_src))
            positions = np.linspace(0.0, 1.0, len(samples_tgt))
            out[i, ..., c] = np.interp(rank * (threshold / 255.0), positions, samples_tgt)
    return _restore(out, single, dtype)


# ------------------------------------------------------------------------------ conversions


def _float_batch(image) -> tuple[np.ndarray, bool, np.dtype]:
    image = np.asarray(image)
    if image.ndim not in (3, 4) or image.shape[-1] != 3:
        raise SwaplibError(f"colour transfer needs BGR images (H,W,3) or (N,H,W,3), got shape {image.shape}")
    single = image.ndim == 3
    batch = image[None] if single else image
    scale = 255.0 if batch.dtype == np.uint8 else 1.0
    return batch.astype(np.float32) / np.float32(scale), single, image.dtype


def _restore(batch: np.ndarray, single: bool, dtype) -> np.ndarray:
    if dtype == np.uint8:
        batch = np.clip(batch * 255.0 + 0.5, 0, 255).astype(np.uint8)
    else:
        batch = batch.astype(dtype, copy=False)
    return batch[0] if single else batch


def _inside(kind: str, mask, shape) -> np.ndarray:
    """(N, H, W) bool: where statistics are taken (everywhere for the unmasked modes)."""
    if kind not in _MASKED or mask is None:
        return np.ones(shape[:3], bool)
    mask = np.asarray(mask)
    mask = mask.reshape((1, *mask.shape)) if mask.ndim == 2 else mask
    if mask.shape != shape[:3]:
        raise SwaplibError(f"colour transfer: mask shape {mask.shape} does not match images {shape[:3]}")
    return mask > 0.5


def _to_lab(batch: np.ndarray) -> np.ndarray:
    # cvtColor is per pixel, so a batch goes through as one tall image.
    n, h, w, _ = batch.shape
    return cv2.cvtColor(batch.reshape(n * h, w, 3), cv2.COLOR_BGR2Lab).reshape(batch.shape)


def _from_lab(lab: np.ndarray) -> np.ndarray:
    n, h, w, _ = lab.shape
    lab = np.clip(lab, [0.0, -127.0, -127.0], [100.0, 127.0, 127.0]).astype(np.float32)
    return cv2.cvtColor(lab.reshape(n * h, w, 3), cv2.COLOR_Lab2BGR).reshape(lab.shape)


# ------------------------------------------------------------------------------ statistics


def _moments(x: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image mean (N, C) and covariance (N, C, C) of the pixels inside."""
    w = inside.reshape(len(x), -1, 1).astype(np.float32)
    flat = x.reshape(len(x), -1, x.shape[-1])
    count = w.sum(1)
    mean = (flat * w).sum(1) / count
    centred = (flat - mean[:, None]) * w
    cov = np.einsum("npi,npj->nij", centred, flat - mean[:, None]) / count[..., None]
    return mean, cov + _EPS * np.eye(x.shape[-1], dtype=np.float32)


def _matrix_power(cov: np.ndarray, power: float) -> np.ndarray:
    """cov^power for symmetric positive (semi)definite matrices, batched."""
    values, vectors = np.linalg.eigh(cov)
    values = np.clip(values, _EPS, None) ** power
    return (vectors * values[:, None, :]) @ np.swapaxes(vectors, 1, 2)


def _apply_linear(x: np.ndarray, src_mean, matrix, tgt_mean) -> np.ndarray:
    flat = x.reshape(len(x), -1, x.shape[-1])
    out = np.einsum("npi,nji->npj", flat - src_mean[:, None], matrix) + tgt_mean[:, None]
    return out.reshape(x.shape).astype(np.float32)


# ------------------------------------------------------------------------------ the modes


def _rct(src, tgt, inside, rng):
    src_lab, tgt_lab = _to_lab(src), _to_lab(tgt)
    src_mean, src_cov = _moments(src_lab, inside)
    tgt_mean, tgt_cov = _moments(tgt_lab, inside)
    scale = np.sqrt(np.diagonal(tgt_cov, axis1=1, axis2=2) / np.diagonal(src_cov, axis1=1, axis2=2))
    return _from_lab((src_lab - src_mean[:, None, None]) * scale[:, None, None] + tgt_mean[:, None, None])


def _lct(src, tgt, inside, rng):
    src_mean, src_cov = _moments(src, inside)
    tgt_mean, tgt_cov = _moments(tgt, inside)
    # x' = Ct^½ Cs^-½ (x - ms) + mt: the PCA-basis linear map DFL's lct uses.
    return _apply_linear(src, src_mean, _matrix_power(tgt_cov, 0.5) @ _matrix_power(src_cov, -0.5), tgt_mean)


def _mkl(src, tgt, inside, rng):
    src_mean, src_cov = _moments(src, inside)
    tgt_mean, tgt_cov = _moments(tgt, inside)
    # The linear map of least displacement between the two Gaussians (Pitié & Kokaram 2007).
    root, inv_root = _matrix_power(src_cov, 0.5), _matrix_power(src_cov, -0.5)
    middle = _matrix_power(root @ tgt_cov @ root, 0.5)
    return _apply_linear(src, src_mean, inv_root @ middle @ inv_root, tgt_mean)


def _quantile_map(values: np.ndarray, src_samples: np.ndarray, tgt_samples: np.ndarray) -> np.ndarray:
    """Each column of values moved from the source samples' distribution to the target's (1-D OT)."""
    src_q = np.quantile(src_samples, _LEVELS, axis=0)
    tgt_q = np.quantile(tgt_samples, _LEVELS, axis=0)
    return np.stack([np.interp(values[:, j], src_q[:, j], tgt_q[:, j]) for j in range(values.shape[1])], 1)


def _random_rotation(rng, dims: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(dims, dims)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def _idt(src, tgt, inside, rng, rotations: int = 10):
    out = np.empty_like(src)
    for i in range(len(src)):
        x = src[i].reshape(-1, 3).copy()
        target = tgt[i][inside[i]]
        keep = inside[i].reshape(-1)
        for step in range(rotations):
            # Identity first (the plain per-channel match), then random bases (Pitié et al. 2005).
            basis = np.eye(3, dtype=np.float32) if step == 0 else _random_rotation(rng, 3)
            projected = x @ basis.T
            moved = _quantile_map(projected, projected[keep], target @ basis.T)
            x += (moved - projected) @ basis
        out[i] = x.reshape(src[i].shape)
    return out


def _sliced_transport(x: np.ndarray, keep: np.ndarray, target: np.ndarray, rng, shape,
                      steps: int = 10, directions: int = 12) -> np.ndarray:
    """Sliced optimal transport of the rows of x (pixels, channels) towards the target samples.

    The displacement is smoothed over the image (DFL regularises the same way), so neighbouring
    pixels of one colour move alike instead of speckling.
    """
    start = x.copy()
    channels = x.shape[1]
    for _ in range(steps):
        basis = rng.normal(size=(directions, channels)).astype(np.float32)
        basis /= np.linalg.norm(basis, axis=1, keepdims=True)
        projected = x @ basis.T
        moved = _quantile_map(projected, projected[keep], target @ basis.T)
        x = x + (moved - projected) @ basis / directions * channels
    sigma = max(shape) / 16
    shift = cv2.GaussianBlur((x - start).reshape(*shape, channels), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return start + shift.reshape(-1, channels)


def _sot(src, tgt, inside, rng):
    out = np.empty_like(src)
    for i in range(len(src)):
        x = _sliced_transport(src[i].reshape(-1, 3), inside[i].reshape(-1), tgt[i][inside[i]], rng, src.shape[1:3])
        out[i] = x.reshape(src[i].shape)
    return out


def _mix(src, tgt, inside, rng):
    src_lab, tgt_lab = _to_lab(src), _to_lab(tgt)
    out = np.empty_like(src_lab)
    out[..., :1] = _to_lab(_rct(src, tgt, inside, rng))[..., :1]  # lightness: mean and spread
    for i in range(len(src)):
        chroma = _sliced_transport(src_lab[i, ..., 1:].reshape(-1, 2), inside[i].reshape(-1),
                                   tgt_lab[i, ..., 1:][inside[i]], rng, src.shape[1:3])
        out[i, ..., 1:] = chroma.reshape(*src.shape[1:3], 2)
    return _from_lab(out)


_MODES = {"rct": _rct, "lct": _lct, "mkl": _mkl, "idt": _idt, "sot": _sot, "mix": _mix}
