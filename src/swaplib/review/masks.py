"""The review app's mask editor (the masks tab): which faces to outline, a face's crop with its mask
now, and the user's outlines saved as a LabelMe file where the XSeg stage reads them.

    GET  /api/masks/VIDEO                 the faces to outline: the XSeg stage's list (to_label/faces.tsv),
                                          the faces marked since, then the rest of the face set
    GET  /api/masks/VIDEO/FACE            its crop, its label file's shapes, its frame file's (read-only)
    GET  /api/masks/VIDEO/FACE/mask.png   its mask now: the XSeg stage's (masks/FACE.png), else the hull
    POST /api/masks/VIDEO/FACE            {"shapes": [...], "revision": ...} -> LABELS/VIDEO/FACE.json

A saved file is LabelMe's format in the crop's pixels, checked first by the XSeg stage's own reader
(swaplib.xseg.labels). The editor replaces the shapes only: every other key (LabelMe's, another
tool's) stays as it was, so a LabelMe file saved without edits is the same document. Frame files
(LABELS/VIDEO/FRAME.json) are shown, never written; a face's own file wins over its frame's.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import threading
from pathlib import Path

import cv2
import numpy as np
from flask import Flask, Response, jsonify, request

from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.review.folder import VIDEO_NAME, Folder
from swaplib.review.guard import Refused
from swaplib.tables.faces import matrices_array, read_faces
from swaplib.workfolder import labels_dir
from swaplib.xseg.labels import drawn_frame_to_crop, hull_labels, label_files, labelme_shapes, read_labelme
from swaplib.xseg.review import labelled_faces

LABELME_VERSION = "5.4.1"  # the LabelMe release whose files these follow
# What LabelMe writes for every shape beside its label and points, where a shape lacks it.
SHAPE_FIELDS = {"group_id": None, "shape_type": "polygon", "flags": {}}


class MaskEditor:
    """The masks tab's reading and writing in a workflow folder."""

    def __init__(self, folder: Folder):
        self.folder = folder
        self._writing = threading.Lock()  # a check of the file's revision and its write: one save at a time

    # ------------------------------------------------------------------ reading

    def faces_to_outline(self, video: str) -> list[dict]:
        """Every face of the video's face set, those to outline first: the to_label list's (marked,
        then suggested), the faces marked since it was made, then the kept ones by rank and the rest."""
        face_set = self.folder.faces(video)  # the faces tab's rows: checks the video
        by_id = {face["id"]: face for face in face_set}
        listed = [row for row in self._to_label(video) if row[0] in by_id]
        listed += [(face["id"], "marked", "") for face in face_set if face["label"]]
        listed += [(face["id"], "kept" if face["selected"] else f"left out: {face['reason']}", "")
                   for face in face_set]
        labelled = labelled_faces(self._faces(video), self.labels(video))
        out, seen = [], set()
        for face_id, why, note in listed:
            if face_id not in seen:
                seen.add(face_id)
                out.append({"id": face_id, "crop": by_id[face_id]["file"], "why": why, "note": note,
                            "labelled": face_id in labelled})
        return out

    def _to_label(self, video: str) -> list[tuple[str, str, str]]:
        """(face_id, why, note) of the XSeg stage's list of faces to outline, where it made one."""
        path = self.folder.results / "videos" / video / "to_label" / "faces.tsv"
        if not path.is_file():
            return []
        with path.open(newline="", encoding="utf-8") as rows:
            return [(row["face_id"], row["why"], row.get("note") or "") for row in csv.DictReader(rows, delimiter="\t")]

    def labels(self, video: str) -> Path:
        """The video's labels folder: xseg.labels_dir of the folder's config.yaml, as the workflow reads it."""
        return labels_dir(self.folder.root / "config.yaml") / video

    def _faces(self, video: str):
        table = self.folder.results / "videos" / video / "faces.parquet"
        if not VIDEO_NAME.match(video) or not table.is_file():
            raise SwaplibError(f"no face table for a video named {video!r} in {self.folder.results / 'videos'}")
        return read_faces(table)

    def _face(self, video: str, face_id: str):
        """The face's row of the face table, as a one-row table; refused when there is no such face."""
        faces = self._faces(video)
        row = faces[faces["face_id"] == face_id]
        if row.empty:
            raise SwaplibError(f"no face {face_id!r} among the extracted faces of {video} "
                               f"(results/videos/{video}/faces.parquet)")
        return row.reset_index(drop=True)

    def _files(self, video: str, face) -> dict[str, Path | None]:
        """The face's label files, as swaplib.xseg.labels finds them: its own JSON and PNG, and its
        frame's file (the last by name, which is the one that counts)."""
        files = {"json": None, "png": None, "frame": None}
        frame = int(face["frame"].iloc[0])
        for path in label_files(self.labels(video)):
            if path.stem == face["face_id"].iloc[0]:
                files["json" if path.suffix.lower() == ".json" else "png"] = path
            elif path.stem.isdigit() and int(path.stem) == frame:
                files["frame"] = path
        files["json"] = files["json"] or self.labels(video) / f"{face['face_id'].iloc[0]}.json"
        return files

    def face(self, video: str, face_id: str) -> dict:
        """What the editor shows of a face: its crop, where its mask comes from, its label file's
        shapes (as the file has them, every key kept) and its frame file's, mapped into the crop."""
        face = self._face(video, face_id)
        files = self._files(video, face)
        size = int(face["size"].iloc[0])
        label = files["json"]
        doc = _read_doc(label) if label.is_file() else {}
        masks = self.folder.results / "videos" / video / "masks"
        return {"face": face_id, "crop": self.shown(self._crop(video, face)), "width": size, "height": size,
                "mask": "xseg" if (masks / f"{face_id}.png").is_file() else "hull",
                "file": self.shown(label), "exists": label.is_file(), "revision": _revision(label),
                "shapes": doc.get("shapes", []),
                "image": [doc.get("imageWidth") or size, doc.get("imageHeight") or size],
                "png": self.shown(files["png"]) if files["png"] else None,
                "frame_file": self.shown(files["frame"]) if files["frame"] else None,
                "frame_shapes": _frame_shapes(files["frame"], face) if files["frame"] else []}

    def mask_png(self, video: str, face_id: str) -> tuple[bytes, str]:
        """The face's mask now, a grey PNG at the crop's size, and where it comes from: "xseg" (the
        stage's mask) or "hull" (the landmark hull, what the stage starts from)."""
        face = self._face(video, face_id)
        xseg = self.folder.results / "videos" / video / "masks" / f"{face_id}.png"
        if xseg.is_file():
            return xseg.read_bytes(), "xseg"
        hull = hull_labels(face, int(face["size"].iloc[0]))[0]
        return cv2.imencode(".png", np.round(hull * 255).astype(np.uint8))[1].tobytes(), "hull"

    def _crop(self, video: str, face) -> Path:
        return self.folder.results / "videos" / video / "faces" / face["file"].iloc[0]

    def shown(self, path: Path) -> str:
        """A path as the page shows it and fetches it: relative to the work folder where it lies inside."""
        return path.relative_to(self.folder.root).as_posix() if path.is_relative_to(self.folder.root) else str(path)

    # ------------------------------------------------------------------ writing

    def save(self, video: str, face_id: str, shapes: list, revision: str | None) -> dict:
        """Write the face's label file with `shapes` (LabelMe shapes in the file's image pixels: the
        crop's for a new file). `revision`: the file's as the editor read it (None: there was none),
        so that an edit made meanwhile (in LabelMe, another tab) is not overwritten."""
        face = self._face(video, face_id)
        files = self._files(video, face)
        path, shown = files["json"], self.shown(files["json"])
        if files["png"]:
            raise SwaplibError(f"{self.shown(files['png'])} is this face's mask already, and a PNG wins over "
                               f"{path.name}: remove it to outline the face here")
        size = int(face["size"].iloc[0])
        with self._writing:
            base = _read_doc(path) if path.is_file() else {}
            if _revision(path) != revision:
                raise Refused(409, f"{shown} changed since the editor read it (LabelMe, another tab?): "
                                   f"open the face again")
            image_path = Path(os.path.relpath(self._crop(video, face), path.parent)).as_posix()
            doc = labelme_document(base, shapes, image_path, size)
            labelme_shapes(doc, shown)  # what the XSeg stage refuses, refused before writing
            check_inside(doc, shown)
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return {"written": shown, "revision": _revision(path)}


def labelme_document(base: dict, shapes: list, image_path: str, size: int) -> dict:
    """`base` (a label file's document, {} for a new one) with `shapes`, and the fields LabelMe writes
    where it lacks them (a file LabelMe wrote has them all: its keys and values stay as they were)."""
    if not all(isinstance(shape, dict) for shape in shapes):
        raise SwaplibError("shapes must be LabelMe shapes: objects with a label and points")
    doc = dict(base)
    for key, value in (("version", LABELME_VERSION), ("flags", {}), ("shapes", []), ("imagePath", image_path),
                       ("imageData", None), ("imageHeight", size), ("imageWidth", size)):
        doc.setdefault(key, value)
    doc["shapes"] = [shape | {key: value for key, value in SHAPE_FIELDS.items() if key not in shape}
                     for shape in shapes]
    return doc


def check_inside(doc: dict, where: str) -> None:
    """Every point of every shape on the labelled image (0..imageWidth, 0..imageHeight): a point off
    it is one drawn in other coordinates (the frame's, another size). Points checked as numbers first."""
    width, height = doc["imageWidth"], doc["imageHeight"]
    for n, shape in enumerate(doc["shapes"], 1):
        for k, (x, y) in enumerate(shape["points"], 1):
            if not (0 <= x <= width and 0 <= y <= height):
                raise SwaplibError(f"{where}: shape {n} ({shape['label']}): point {k} ({x}, {y}) lies outside the "
                                   f"{width} x {height} px image")


def _read_doc(path: Path) -> dict:
    """A label file's document as it is, after the XSeg stage's checks (a malformed file: its name,
    line and what is wrong)."""
    read_labelme(path)
    return json.loads(path.read_text())


def _revision(path: Path) -> str | None:
    """A digest of the file's bytes (None where there is no file)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None


def _frame_shapes(path: Path, face) -> list[dict]:
    """The shapes of a frame's LabelMe file mapped into the face's crop pixels (a PNG mask: none)."""
    if path.suffix.lower() != ".json":
        return []
    shapes, drawn = read_labelme(path)
    frame_width = float(face["frame_width"].iloc[0])
    matrix = drawn_frame_to_crop(matrices_array(face)[0], frame_width, drawn[0] if drawn else frame_width)
    return [{"label": label, "points": np.round(points @ matrix[:, :2].T + matrix[:, 2], 2).tolist()}
            for label, points in shapes]


def add_mask_routes(app: Flask, folder: Folder) -> None:
    """The masks tab's routes on the review app (its guard and error handlers apply)."""
    editor = MaskEditor(folder)

    @app.get("/api/masks/<video>")
    def mask_faces(video: str):
        return jsonify(faces=editor.faces_to_outline(video), labels=editor.shown(editor.labels(video)))

    @app.get("/api/masks/<video>/<face_id>")
    def mask_face(video: str, face_id: str):
        return jsonify(editor.face(video, face_id))

    @app.get("/api/masks/<video>/<face_id>/mask.png")
    def mask_image(video: str, face_id: str):
        png, source = editor.mask_png(video, face_id)
        return Response(png, mimetype="image/png", headers={"X-Mask-Source": source, "Cache-Control": "no-store"})

    @app.post("/api/masks/<video>/<face_id>")
    def save_mask(video: str, face_id: str):
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("shapes"), list) \
                or not isinstance(body.get("revision"), (str, type(None))):
            raise Refused(400, 'the request\'s body must be a JSON object {"shapes": [LabelMe shapes], '
                               '"revision": the file\'s revision as read, or null}')
        return jsonify(editor.save(video, face_id, body["shapes"], body.get("revision")))
