"""One destination frame merged with given settings, again and again: DFL's interactive merger.

The model is loaded once and each frame's faces are drawn by it once (the expensive part); a change
of a merge setting then redoes only the merge of that frame, with the stage's own code (frame_faces,
predict_faces, merge_frame), so the frame shown is the frame the merge stage writes."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict

import numpy as np

from swaplib.core.errors import SwaplibError
from swaplib.core.images import frame_files, read_image
from swaplib.merge import masks
from swaplib.merge.enhance import FaceEnhancer
from swaplib.merge.frame import frame_faces, merge_frame, predict_faces
from swaplib.merge.settings import MergeSettings
from swaplib.merge.stage import _load_checked_model, _load_xseg, _motion, _use_morph_factor
from swaplib.model import resolve_device
from swaplib.tables.faces import read_faces

KEPT_FRAMES = 16  # frames whose drawn faces stay in memory (scrubbing back and forth)


class FramePreview:
    """A pair's merge, a frame at a time: its destination frames and faces, its model."""

    def __init__(self, frames_dir: str | os.PathLike, faces_table: str | os.PathLike, model_path: str | os.PathLike,
                 *, precision: str = "auto", xseg_model: str | os.PathLike | None = None, device: str = "auto"):
        self.frames = dict(frame_files(frames_dir))
        every = read_faces(faces_table, kept_only=False)
        faces = every[every["kept"]] if "kept" in every.columns else every
        self.by_frame = {number: rows for number, rows in faces.groupby("frame")}
        self.device = resolve_device(device)
        self.model, self.meta = _load_checked_model(model_path, faces, faces_table, set(), self.device, precision)
        self.model_path, self.xseg_model = model_path, xseg_model
        self.motion = _motion(faces)
        self._xseg = None
        self._enhancer: FaceEnhancer | None = None
        self._drawn: OrderedDict = OrderedDict()  # (frame, what the model drew) -> faces with their predictions
        self._lock = threading.Lock()  # one model pass at a time

    @property
    def numbers(self) -> list[int]:
        return sorted(self.frames)

    def draw(self, number: int, settings: MergeSettings) -> np.ndarray:
        """Frame `number` merged with `settings` (BGR uint8), as the merge stage writes it."""
        if number not in self.frames:
            raise SwaplibError(f"no frame {number}: the destination has frames {self.numbers[0]}..{self.numbers[-1]}")
        image = read_image(self.frames[number])
        rows = self.by_frame.get(number)
        if rows is None or settings.mode == "original":
            return image
        with self._lock:
            faces = self._faces(number, image, rows, settings)
            if settings.super_resolution_power and self._enhancer is None:
                self._enhancer = FaceEnhancer(settings.super_resolution_model)
            result = merge_frame(image, [dataclasses.replace(face) for face in faces], settings, self._enhancer)
        return result.image

    def _faces(self, number: int, image: np.ndarray, rows, settings: MergeSettings) -> list:
        """The frame's faces drawn by the model (and the masks the setting's mask kind needs), kept."""
        _use_morph_factor(self.model, settings.morph_factor)
        if masks.uses_learned(settings.mask) and self.meta.get("masks_trained") is not True:
            raise SwaplibError(f"{self.model_path}: mask {settings.mask!r} uses the model's learned mask, which this "
                               f"model did not train; choose mask dst or another")
        wants = (masks.uses_dst_decoder(settings.mask), masks.uses_xseg(settings.mask),
                 masks.uses_xseg_prd(settings.mask), settings.morph_factor)
        key = (number, wants)
        if key in self._drawn:
            self._drawn.move_to_end(key)
            return self._drawn[key]
        if wants[1] and self._xseg is None:
            self._xseg, _ = _load_xseg(self.xseg_model, {settings.mask}, self.device)
        faces = frame_faces(image, rows, self.model.cfg.resolution, self.motion)
        predict_faces(self.model, faces, dst_masks=wants[0], device=self.device, xseg=self._xseg if wants[1] else None,
                      xseg_prd=wants[2])
        self._drawn[key] = faces
        if len(self._drawn) > KEPT_FRAMES:
            self._drawn.popitem(last=False)
        return faces
