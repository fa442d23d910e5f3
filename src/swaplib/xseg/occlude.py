"""Synthetic occluders: what covers a face is not face.

occlude() pastes one occluder over an aligned crop and removes it from the crop's mask. Kinds:

    hand    a skin-coloured palm with fingers (ellipses), in the face's own skin tone or another,
            shaded: the hard case, since a hand has the face's colour
    shape   a random polygon or ellipse in a flat colour, a gradient or a noise texture
            (microphones, cups, hair, glasses rims, ...)
    patch   a random polygon cut from another crop (another face's hair, background, clothes)
    bar     a long thin band across the face (a microphone stand, a pen, a rim)

Every occluder is placed so that it overlaps the face (its centre is a point of the mask or
near its edge). Everything random is drawn from the generator given, so a batch is a function
of its seed.
"""

from __future__ import annotations

import cv2
import numpy as np

KINDS = ("hand", "shape", "patch", "bar")
_KIND_WEIGHTS = (0.4, 0.25, 0.2, 0.15)


def _random_polygon(rng: np.random.Generator, centre: np.ndarray, radius: float) -> np.ndarray:
    """A star-shaped polygon of 5-12 corners around centre (K, 2)."""
    k = int(rng.integers(5, 13))
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    radii = radius * rng.uniform(0.4, 1.0, k)
    return centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * radii[:, None]


def _fill(shape: np.ndarray, points_list: list[np.ndarray]) -> np.ndarray:
    alpha = np.zeros(shape, np.float32)
    cv2.fillPoly(alpha, [np.round(p * 16).astype(np.int32) for p in points_list], 1.0, cv2.LINE_AA, shift=4)
    return alpha


def _ellipse(centre, axes, angle: float, n: int = 24) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    local = np.stack([axes[0] * np.cos(t), axes[1] * np.sin(t)], axis=1)
    c, s = np.cos(angle), np.sin(angle)
    return np.asarray(centre) + local @ np.array([[c, s], [-s, c]])


def _hand(rng, size: int, centre: np.ndarray) -> np.ndarray:
    """Alpha of a palm and 3-5 fingers, at a random angle."""
    angle = rng.uniform(0, 2 * np.pi)
    palm = size * rng.uniform(0.12, 0.22)
    direction = np.array([np.cos(angle), np.sin(angle)])
    across = np.array([-direction[1], direction[0]])
    parts = [_ellipse(centre, (palm, palm * rng.uniform(0.8, 1.1)), angle)]
    fingers = int(rng.integers(3, 6))
    for f in range(fingers):
        offset = (f - (fingers - 1) / 2) * palm * 0.45
        length = palm * rng.uniform(0.8, 1.5)
        base = centre + direction * palm * 0.8 + across * offset
        tip_angle = angle + rng.uniform(-0.25, 0.25)
        tip_dir = np.array([np.cos(tip_angle), np.sin(tip_angle)])
        parts.append(_ellipse(base + tip_dir * length / 2, (length / 2 + palm * 0.1, palm * 0.2), tip_angle))
    return _fill((size, size), parts)


def _skin(rng, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A skin colour (BGR 0..1): mostly the face's own mean colour, varied; else another skin tone."""
    inside = mask > 0.5
    if inside.any() and rng.random() < 0.7:
        colour = image[inside].mean(axis=0) * rng.uniform(0.8, 1.2, 3)
    else:
        tone = rng.uniform(0.2, 0.95)
        colour = np.array([0.55 * tone + 0.1, 0.7 * tone + 0.1, tone])  # B < G < R, as skin is
    return np.clip(colour, 0, 1)


def _texture(rng, size: int, colour: np.ndarray) -> np.ndarray:
    """(size, size, 3) colour with a random shading gradient and blurred noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    gx, gy = rng.uniform(-0.4, 0.4, 2)
    shade = 1 + gx * (xx - 0.5) + gy * (yy - 0.5)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), rng.uniform(0.5, 3))
    noise *= rng.uniform(0, 0.15) / max(float(noise.std()), 1e-6)
    return np.clip(colour[None, None, :] * shade[..., None] + noise[..., None], 0, 1).astype(np.float32)


def _place(rng, mask: np.ndarray) -> np.ndarray:
    """A centre for an occluder: a point of the face, or (a third of the time) one near its edge."""
    size = mask.shape[0]
    ys, xs = np.nonzero(mask > 0.5)
    if len(xs) == 0:
        return rng.uniform(0.25, 0.75, 2) * size
    i = int(rng.integers(len(xs)))
    centre = np.array([xs[i], ys[i]], np.float64)
    if rng.random() < 0.33:  # from the edge inwards: hands and hair come from outside the face
        middle = np.array([xs.mean(), ys.mean()])
        centre = middle + (centre - middle) * rng.uniform(1.0, 1.5)
    return centre


def occlude(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
            donor: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(image with an occluder pasted in, mask without it). image: (R, R, 3) float32 0..1; mask:
    (R, R) float32 0..1; donor: another crop (R, R, 3) float32 for patches (none: no patches)."""
    size = image.shape[0]
    kinds = KINDS if donor is not None else KINDS[:2] + KINDS[3:]
    weights = np.array([w for k, w in zip(KINDS, _KIND_WEIGHTS) if k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    centre = _place(rng, mask)
    if kind == "hand":
        alpha = _hand(rng, size, centre)
        fill = _texture(rng, size, _skin(rng, image, mask))
    elif kind == "bar":
        angle = rng.uniform(0, np.pi)
        alpha = _fill((size, size), [_ellipse(centre, (size * rng.uniform(0.4, 0.9), size * rng.uniform(0.02, 0.07)),
                                              angle, n=8)])
        fill = _texture(rng, size, rng.uniform(0, 1, 3))
    else:
        radius = size * rng.uniform(0.1, 0.3)
        if rng.random() < 0.5:
            outline = _random_polygon(rng, centre, radius)
        else:
            outline = _ellipse(centre, (radius, radius * rng.uniform(0.3, 1.0)), rng.uniform(0, np.pi))
        alpha = _fill((size, size), [outline])
        if kind == "patch":
            shift = rng.integers(-size // 3, size // 3 + 1, 2)
            fill = np.roll(donor, tuple(shift), axis=(0, 1))
        else:
            fill = _texture(rng, size, rng.uniform(0, 1, 3))
    soft = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.3, 1.2))[..., None]  # edges as a camera sees them
    pasted = image * (1 - soft) + fill * soft
    return pasted.astype(np.float32), (mask * (1 - (alpha > 0.5))).astype(np.float32)
