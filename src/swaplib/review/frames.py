"""The review app's frames tab: the frames extraction doubts, each drawn with its faces' boxes and
landmarks (DFL's aligned_debug), and the faces a person places by hand there.

    GET  /api/frames/VIDEO           the doubts (to_check.tsv, or worked out from the face table) and
                                     the frames with manual faces
    GET  /api/frames/VIDEO/FRAME     the frame's image, its faces (box, 68 landmarks, kept, score) and
                                     its manual faces
    POST /api/frames/VIDEO/FRAME     {"faces": [{"box": [...]} | {"landmarks": [...]}, ...]}: the
                                     frame's manual faces from now on ([] takes them away)

Manual faces go to MANUAL/VIDEO.json (swaplib.extract.manual, MANUAL = config.yaml's
extract.manual_faces), an input of that video's faces job: the next run extracts that video again,
and what follows from it, and nothing else.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import pandas as pd
from flask import Flask, jsonify, request

from swaplib.core.errors import SwaplibError
from swaplib.core.images import frame_files, read_image
from swaplib.extract.doubts import frames_to_check
from swaplib.extract.manual import (
    REPLACES_IOU,
    check_in_frame,
    face_from_json,
    read_manual_faces,
    write_manual_faces,
)
from swaplib.review.folder import VIDEO_NAME, Folder, finite_number
from swaplib.review.guard import Refused
from swaplib.tables.faces import landmarks_array, read_faces
from swaplib.workfolder import manual_faces_dir

_writing = threading.Lock()  # two tabs saving one video's file: one after the other


@functools.lru_cache(maxsize=4)
def _read_table(path: str, stamp: tuple[int, int]) -> pd.DataFrame:
    return read_faces(path, kept_only=False)


def face_table(path: Path) -> pd.DataFrame:
    """A video's whole face table (left-out faces too), read again only when the file changed (the
    workflow extracted again): paging through frames asks for it once a frame. Not to be modified."""
    stat = path.stat()
    return _read_table(str(path), (stat.st_mtime_ns, stat.st_size))


class VideoFrames:
    """One video's frames, faces and manual faces in a workflow folder."""

    def __init__(self, folder: Folder, video: str):
        self.folder, self.video = folder, video
        self.path = folder.results / "videos" / video
        if not VIDEO_NAME.match(video) or not (self.path / "faces.parquet").is_file():
            raise Refused(404, f"no face table for a video named {video!r} in {folder.results / 'videos'}")
        self.manual_file = manual_faces_dir(folder.root / "config.yaml") / f"{video}.json"

    def frames(self) -> dict[int, Path]:
        return dict(frame_files(self.path / "frames"))

    def doubts(self) -> list[dict]:
        written = self.path / "to_check.tsv"
        if written.is_file():
            doubts = pd.read_csv(written, sep="\t", keep_default_na=False, dtype={"face_id": str})
        else:  # a run from before the list: the same list, worked out here
            doubts = frames_to_check(read_faces(self.path / "faces.parquet", kept_only=False), list(self.frames()))
        return [{"frame": int(row.frame), "face_id": row.face_id, "doubt": row.doubt, "value": finite_number(row.value),
                 "limit": finite_number(row.limit)} for row in doubts.itertuples()]

    def manual(self) -> dict:
        return read_manual_faces(self.manual_file) if self.manual_file.is_file() else {}

    def frame(self, number: int) -> dict:
        path = self.frames().get(number)
        if path is None:
            raise Refused(404, f"{self.video} has no frame {number}")
        table = face_table(self.path / "faces.parquet")
        here = table[table["frame"] == number]
        points = landmarks_array(here) if len(here) else np.zeros((0, 68, 2))
        faces = [{"face_id": row.face_id, "box": [row.box_x0, row.box_y0, row.box_x1, row.box_y1],
                  "landmarks": np.round(lm, 2).tolist(), "kept": bool(row.kept), "score": finite_number(row.score),
                  "left_out": row.left_out or ""} for row, lm in zip(here.itertuples(), points)]
        return {"image": str(path.relative_to(self.folder.root)), "faces": faces,
                "manual": [face.as_json() for face in self.manual().get(number, [])],
                "replaces_iou": REPLACES_IOU}  # the page hides the found faces that a manual one replaces

    def place(self, number: int, entries) -> Path:
        """The frame's manual faces replaced by `entries` (JSON, checked first: nothing is written
        when one is wrong)."""
        path = self.frames().get(number)
        if path is None:
            raise Refused(404, f"{self.video} has no frame {number}")
        if not isinstance(entries, list):
            raise Refused(400, "faces must be a list of {\"box\": [x0, y0, x1, y1]} or {\"landmarks\": [68 x [x, y]]}")
        shape = read_image(path).shape[:2]
        placed = []
        for i, entry in enumerate(entries, 1):
            if not isinstance(entry, dict):
                raise Refused(400, f"face {i}: an object with a box or landmarks, got {entry!r}")
            face = face_from_json({**entry, "frame": number}, f"face {i}")
            check_in_frame(face, shape, f"face {i}")
            placed.append(face)
        with _writing:
            others = [face for frame, faces in self.manual().items() if frame != number for face in faces]
            return write_manual_faces(self.manual_file, others + placed)


def add_frame_routes(app: Flask, folder: Folder) -> None:
    @app.get("/api/frames/<video>")
    def doubts(video: str):
        frames = VideoFrames(folder, video)
        return jsonify(doubts=frames.doubts(), manual=sorted(frames.manual()),
                       manual_file=str(frames.manual_file.relative_to(folder.root)))

    @app.get("/api/frames/<video>/<int:number>")
    def frame(video: str, number: int):
        return jsonify(VideoFrames(folder, video).frame(number))

    @app.post("/api/frames/<video>/<int:number>")
    def place(video: str, number: int):
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise Refused(400, "the request's body must be a JSON object")
        try:
            written = VideoFrames(folder, video).place(number, body.get("faces"))
        except SwaplibError as error:
            raise Refused(400, str(error)) from None
        return jsonify(written=str(written.relative_to(folder.root)))
