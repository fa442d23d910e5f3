"""The merge stage: every destination frame of a video merged, over threads, with merge.json.

Faithful frames: every destination frame is written under its own name. A frame without a face
is passed through byte for byte. A face that cannot be swapped is left as it is and listed with
the reason in the merge report (merge.json), never replaced silently. Frames are read, merged
and written by a pool of threads while the model works on the next batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import PIL.Image
import torch

from swaplib.core.atomic import atomic_dir, write_json
from swaplib.core.digest import hash_file
from swaplib.core.errors import SwaplibError
from swaplib.core.images import frame_files, read_image
from swaplib.core.progress import Progress
from swaplib.merge import masks
from swaplib.merge.enhance import SCALE, FaceEnhancer
from swaplib.merge.frame import Face, FrameResult, frame_faces, merge_frame, predict_faces
from swaplib.merge.settings import MergeSettings, merge_settings, read_overrides, settings_for
from swaplib.model import load_model, precision_name, resolve_device
from swaplib.tables.faces import landmarks_array, read_faces
from swaplib.xseg.apply import load_xseg

log = logging.getLogger(__name__)


def _load_checked_model(model_path, faces: pd.DataFrame, table_path, used: set[MergeSettings], device,
                        precision: str):
    model, meta = load_model(model_path, device=device, precision=precision)
    model_face_type = meta.get("face_type")
    face_types = sorted(faces["face_type"].unique())
    if len(face_types) > 1:
        raise SwaplibError(f"{table_path}: faces of several face types ({', '.join(face_types)}); extract again")
    if model_face_type and face_types and face_types[0] != model_face_type:
        raise SwaplibError(f"{model_path}: the model was trained on {model_face_type} faces but {table_path} has "
                           f"{face_types[0]} faces; extract the destination with face type {model_face_type} "
                           f"or retrain")
    learned = sorted({s.mask for s in used if masks.uses_learned(s.mask)})
    if learned and meta.get("masks_trained") is not True:
        raise SwaplibError(f"{model_path}: merge mask {learned[0]!r} uses the model's learned mask, but this model's "
                           f"mask decoder was not trained (masks_trained: {meta.get('masks_trained')}); use mask "
                           f"'dst' or train the model with masks")
    return model, meta


def _use_morph_factor(model, morph_factor: float) -> None:
    """merge.morph_factor for a model that has a morph (amp); the others swap the source identity whole."""
    if model.MORPHS:
        model.use_morph_factor(morph_factor)
    elif morph_factor != 1:
        log.info("merge.morph_factor %g is for amp models only: this %s model swaps the source identity whole",
                 morph_factor, model.cfg.archi)


def _load_xseg(path, kinds: set[str], device):
    """The segmentation model and its record for the report, where a mask kind uses it; else (None, None)."""
    used = sorted(kind for kind in kinds if masks.uses_xseg(kind))
    if not used:
        return None, None
    if path is None:
        raise SwaplibError(f"merge mask {used[0]!r} uses the XSeg masks, but no segmentation model was given; "
                           f"set xseg.enabled: true (README \"Masks\") or choose another mask")
    model, header = load_xseg(path, device)
    return model, {"path": str(path), "sha256": hash_file(path).hexdigest(), "iterations": header.get("iterations"),
                   "model_config": header.get("model_config")}


def _model_record(model_path, meta: dict) -> dict:
    # weights_sha256: the model's id, which the video's C2PA manifest names
    keep = ("model_config", "iterations", "settings", "masks_trained", "face_type", "weights_sha256")
    return {"path": str(model_path), "sha256": hash_file(model_path).hexdigest(),
            **{k: meta[k] for k in keep if k in meta}}


@dataclass
class _Job:
    """One destination frame to merge."""

    path: Path
    number: int
    settings: MergeSettings
    rows: pd.DataFrame | None  # its faces, None if it has none
    not_kept: list  # (face_id, reason) of faces extraction found here but did not keep, if it kept none
    image: np.ndarray | None = None
    faces: list[Face] | None = None


def merge_video(
    frames_dir: str | os.PathLike,
    faces_table: str | os.PathLike,
    model_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    report: str | os.PathLike | None = None,
    overrides: str | os.PathLike | None = None,
    xseg_model: str | os.PathLike | None = None,
    threads: int | None = None,
    device: str = "auto",
    batch_size: int = 32,
    masks_dir: str | os.PathLike | None = None,
    **section,
) -> dict:
    """Write every frame of `frames_dir` to `out_dir` (same names), swapped where a face was found.
    masks_dir: also each frame's merge mask there (grey PNG of the same name: white where a swapped
    face covers the frame, black where nothing was swapped), DFL's merged_mask for compositing.

    section: the config's merge section, key for key (MergeSettings: mode, mask, color_transfer,
    precision, ...; missing keys take its defaults). overrides: optional frame range sheet.
    report: where to write the merge report (JSON), which is also returned.
    xseg_model: the segmentation model file (swaplib.xseg), for the xseg-* masks.
    threads: the job's CPU threads (torch's and the frame pool's); None: torch's as they are.
    """
    started = time.perf_counter()
    base = merge_settings(section)
    rules = read_overrides(overrides, base) if overrides else []
    frames = frame_files(frames_dir)
    every = read_faces(faces_table, kept_only=False)
    _check_table_frames(every, {number for number, _ in frames}, faces_table, frames_dir)
    faces = every[every["kept"]] if "kept" in every.columns else every
    by_frame = {number: rows for number, rows in faces.groupby("frame")}
    not_kept = _not_kept(every)
    jobs = [_Job(path, number, settings_for(number, base, rules), by_frame.get(number), not_kept.get(number, []))
            for number, path in frames]

    device = resolve_device(device)
    model, meta = _load_checked_model(model_path, faces, faces_table, {job.settings for job in jobs}, device,
                                      base.precision)
    _use_morph_factor(model, base.morph_factor)
    kinds = {job.settings.mask for job in jobs}
    xseg, xseg_record = _load_xseg(xseg_model, kinds, device)
    enhancer = FaceEnhancer(base.super_resolution_model) if any(
        job.settings.super_resolution_power for job in jobs) else None
    merger = _VideoMerger(model, device, faces, faces_table, batch_size,
                          dst_masks=any(masks.uses_dst_decoder(kind) for kind in kinds), xseg=xseg,
                          xseg_prd=any(masks.uses_xseg_prd(kind) for kind in kinds), enhancer=enhancer)
    with atomic_dir(out_dir) as tmp, _optional_dir(masks_dir) as masks_tmp, _torch_threads(threads, model.amp):
        merging, cpu = time.perf_counter(), time.process_time()
        records = merger.run(jobs, Path(tmp), threads or torch.get_num_threads(), masks_tmp)
        seconds = {"total": time.perf_counter() - started, "merging": time.perf_counter() - merging,
                   "merging_cpu": time.process_time() - cpu}  # all threads; less affected by a busy machine
        summary = _report(records, base, rules, overrides, _model_record(model_path, meta), device, model.amp,
                          seconds)
        if xseg_record:
            summary["xseg_model"] = xseg_record
        if report is not None:
            write_json(report, summary)
    log.info("%d frames: %d swapped, %d without a face, %d failed (%.1f frames/s)", summary["frames"],
             summary["swapped"], summary["without_face"], summary["failed"], summary["frames_per_second"])
    return summary


@contextlib.contextmanager
def _optional_dir(path: str | os.PathLike | None) -> Iterator[Path | None]:
    """atomic_dir(path), or None where no path is given."""
    if path is None:
        yield None
        return
    with atomic_dir(path) as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def _torch_threads(threads: int | None, amp):
    """The model's threads, beside the frame pool that keeps all `threads` busy reading, blending and
    writing. In bf16 (AMX) the model is the lighter part: half the threads, as more oversubscribe the
    cores (on 2 cores: Quick96 at 1280x720 41.6 frames/s on 1 thread, 35.1 on 2). In fp32 it is the
    heavier part and gets them all (about 21 frames/s on 2 threads, 16 on 1)."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads if amp is None else max(1, threads // 2))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _check_table_frames(faces: pd.DataFrame, numbers: set[int], table_path, frames_dir) -> None:
    stray = sorted(set(faces["frame"].unique()) - numbers)
    if stray:
        raise SwaplibError(f"{table_path}: lists faces in frames {stray[:5]} that are not in {frames_dir}; "
                           f"extract the faces again")


class _VideoMerger:
    """The read → model → merge → write pipeline over a thread pool (model in the calling thread)."""

    def __init__(self, model, device, faces: pd.DataFrame, table_path, batch_size: int, dst_masks: bool, xseg=None,
                 xseg_prd: bool = False, enhancer: FaceEnhancer | None = None):
        self.model, self.device, self.table_path, self.enhancer = model, device, table_path, enhancer
        self.batch_size, self.dst_masks = batch_size, dst_masks
        self.xseg, self.xseg_prd = xseg, xseg_prd
        self.resolution = model.cfg.resolution
        self.motion = _motion(faces)

    def run(self, jobs: list[_Job], out: Path, threads: int, mask_dir: Path | None = None) -> list[dict]:
        chunks = _chunks(jobs, self.batch_size)
        records: list[dict] = []
        with ThreadPoolExecutor(max(1, threads)) as pool, Progress(len(jobs), "frames merged", log=log) as progress:
            reading = [pool.submit(self._read, job) for job in chunks[0]] if chunks else []
            writing: deque = deque()
            for k, chunk in enumerate(chunks):
                ready = [future.result() for future in reading]
                if k + 1 < len(chunks):  # read ahead while the model works
                    reading = [pool.submit(self._read, job) for job in chunks[k + 1]]
                self._predict(ready)
                writing.append([pool.submit(self._finish, job, out, mask_dir) for job in ready])
                if len(writing) > 1:  # keep at most two chunks of frames in memory
                    records += [future.result() for future in writing.popleft()]
                progress.update(len(chunk))
            for futures in writing:
                records += [future.result() for future in futures]
        return records

    def _swaps(self, job: _Job) -> bool:
        return job.rows is not None and job.settings.mode != "original"

    def _read(self, job: _Job) -> _Job:
        if not self._swaps(job):
            return job
        image = read_image(job.path)
        expected = (int(job.rows["frame_height"].iloc[0]), int(job.rows["frame_width"].iloc[0]))
        if image.shape[:2] != expected:
            raise SwaplibError(f"{self.table_path}: faces were found in {expected[1]}x{expected[0]} frames but "
                               f"{job.path} is {image.shape[1]}x{image.shape[0]}; extract the faces again")
        job.image, job.faces = image, frame_faces(image, job.rows, self.resolution, self.motion)
        return job

    def _predict(self, jobs: list[_Job]) -> None:
        faces = [face for job in jobs if job.faces for face in job.faces]
        predict_faces(self.model, faces, dst_masks=self.dst_masks, device=self.device, batch_size=self.batch_size,
                      xseg=self.xseg, xseg_prd=self.xseg_prd)

    def _finish(self, job: _Job, out: Path, mask_dir: Path | None) -> dict:
        target = out / job.path.name
        raw = job.settings.mode == "raw-predict"
        if self._swaps(job):
            result = merge_frame(job.image, job.faces, job.settings, self.enhancer)
        else:  # a face found but not kept (another person, too small, ...) is a frame left unswapped
            result = FrameResult(None, 0, [(face_id, f"no face kept ({why})") for face_id, why in job.not_kept], [])
        if raw and not result.swapped:  # a black crop keeps every output the same size
            size = self.resolution * (SCALE if job.settings.super_resolution_power else 1)
            _write(target, np.zeros((size, size, 3), np.uint8))
        elif result.swapped:
            _write(target, result.image)
        else:  # nothing swapped: the destination's own bytes
            _pass_through(job.path, target)
        if mask_dir is not None:
            _write(mask_dir / f"{job.path.stem}.png", result.mask if result.swapped else _nothing(target))
        for face_id, reason in result.failures:
            log.warning("%s: face %s not swapped: %s", job.path.name, face_id, reason)
        job.image = job.faces = None  # free the frame as soon as it is written
        return {
            "frame": job.path.name,
            "faces": 0 if job.rows is None else len(job.rows),
            "swapped": result.swapped,
            "failures": [{"face_id": f, "reason": r} for f, r in result.failures],
            "notes": [{"face_id": f, "note": n} for f, n in result.notes],
        }


def _not_kept(every: pd.DataFrame) -> dict[int, list[tuple[str, str]]]:
    """Frame → (face_id, reason) of its faces, for frames where extraction found faces but kept none."""
    if "kept" not in every.columns:
        return {}
    kept_frames = set(every.loc[every["kept"], "frame"])
    left = every[~every["frame"].isin(kept_frames)]
    reasons = left["left_out"] if "left_out" in left.columns else pd.Series("", index=left.index)
    out: dict[int, list] = {}
    for frame, face_id, why in zip(left["frame"], left["face_id"], reasons):
        out.setdefault(int(frame), []).append((face_id, why or "left out by extraction"))
    return out


def _chunks(jobs: list[_Job], batch_size: int) -> list[list[_Job]]:
    """Consecutive frames grouped so that each group has about `batch_size` faces for the model."""
    chunks, current, count = [], [], 0
    for job in jobs:
        current.append(job)
        count += 0 if job.rows is None else len(job.rows)
        if count >= batch_size or len(current) >= 2 * batch_size:
            chunks.append(current)
            current, count = [], 0
    return chunks + ([current] if current else [])


def _motion(faces: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Face id → movement of the face centre per frame (frame px), for frames with one face (as DFL)."""
    single = faces.groupby("frame").filter(lambda rows: len(rows) == 1)
    centres = {int(f): landmarks_array(rows)[0].mean(0) for f, rows in single.groupby("frame")}
    motion = {}
    for face_id, frame in zip(single["face_id"], single["frame"]):
        before, after = centres.get(int(frame) - 1), centres.get(int(frame) + 1)
        here = centres[int(frame)]
        if before is not None and after is not None:
            motion[face_id] = tuple((after - before) / 2)
        elif before is not None or after is not None:
            motion[face_id] = tuple(here - before if after is None else after - here)
    return {k: (float(v[0]), float(v[1])) for k, v in motion.items()}


def _write(path: Path, image: np.ndarray) -> None:
    # Working files: light png compression with the "up" filter (2x faster than OpenCV's default,
    # same size); jpg near-lossless.
    params = ([cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
              if path.suffix == ".png" else [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not cv2.imwrite(str(path), image, params):
        raise SwaplibError(f"{path}: could not write the merged frame (disk full?)")


def _nothing(written: Path) -> np.ndarray:
    """The mask of a frame where nothing was swapped: black, the size of what was written for it (read
    from the image's header alone: its pixels are not needed)."""
    with PIL.Image.open(written) as image:
        width, height = image.size
    return np.zeros((height, width), np.uint8)


def _pass_through(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # an unchanged frame: share the bytes
    except OSError:
        shutil.copyfile(src, dst)


def _report(records: list[dict], base: MergeSettings, rules, overrides, model: dict, device, amp,
            seconds: dict) -> dict:
    with_face = [r for r in records if r["faces"] or r["failures"]]  # failures: found but not kept
    return {
        "frames": len(records),
        "with_face": len(with_face),
        "without_face": len(records) - len(with_face),
        "swapped": sum(1 for r in with_face if r["swapped"]),
        "failed": sum(1 for r in with_face if not r["swapped"] and r["failures"]),  # kept as the destination
        "faces": sum(r["faces"] for r in records),
        "faces_swapped": sum(r["swapped"] for r in records),
        "faces_failed": sum(len(r["failures"]) for r in records),
        "failures": [{"frame": r["frame"], **f} for r in records for f in r["failures"]],
        "notes": [{"frame": r["frame"], **n} for r in records for n in r["notes"]],
        "settings": base.to_dict(),
        "overrides": {"file": str(overrides) if overrides else None,
                      "rows": [dataclasses.asdict(rule) for rule in rules]},
        "model": model,
        "device": str(device),
        "precision": precision_name(amp),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        # Of the frame loop (read, model, merge, write), without loading the model.
        "frames_per_second": round(len(records) / seconds["merging"], 3) if seconds["merging"] > 0 else None,
    }
