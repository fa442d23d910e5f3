"""XSeg from a user's outlines: a synthetic microphone over a real clip, outlined with LabelMe on 4
frames of 30; the trained mask leaves it out on the other 26 frames.

No synthetic occluders in this training (xseg.occlusion 0), so what leaves the microphone out can
only be the outlines. One training of 300 steps at 64 px (about 40 s on one thread of a 2-core Xeon)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from swaplib.extract.stage import extract_faces
from swaplib.tables.faces import landmarks_array, matrices_array, read_faces
from swaplib.xseg.apply import load_xseg, predict
from swaplib.xseg.data import XSegData, batch, load_sources, load_video
from swaplib.xseg.labels import to_resolution
from swaplib.xseg.settings import XSegSettings
from swaplib.xseg.train import train_xseg

FRAMES, STEP = 30, 3  # every 3rd frame of the first 90
LABELLED = (0, 10, 20, 29)  # the frames the user outlines
R = 64


def microphone(landmarks: np.ndarray, t: float) -> np.ndarray:
    """A microphone in frame px: a capsule from below the chin up over the mouth, its head sliding from
    the left mouth corner (t=0) to the right one (t=1) along the clip."""
    top = landmarks[48] * (1 - t) + landmarks[54] * t + (landmarks[57] - landmarks[51]) * 0.3
    bottom = landmarks[8] + (landmarks[8] - landmarks[27]) * 0.6
    width = np.linalg.norm(landmarks[16] - landmarks[0]) * 0.16
    along = (top - bottom) / np.linalg.norm(top - bottom)
    across = np.array([-along[1], along[0]])
    head = [top + width * (np.cos(a) * across + np.sin(a) * along) for a in np.linspace(0, np.pi, 9)]
    return np.array([*head, bottom - 0.6 * width * across, bottom + 0.6 * width * across], np.float32)


def fill(points: np.ndarray, shape) -> np.ndarray:
    return cv2.fillPoly(np.zeros(shape, np.uint8), [np.round(points * 16).astype(np.int32)], 1, shift=4) > 0


def extract(frames_dir, root):
    extract_faces(frames_dir, root / "faces", root / "faces.parquet", size=128, face_type="whole_face", smooth=False)
    return read_faces(root / "faces.parquet")


@pytest.fixture(scope="module")
def microphone_clip(tmp_path_factory, clip):
    """The occluded clip (faces, table, labels of LABELLED frames, each frame's microphone polygon) and a
    second, clean clip whose faces learn from their hulls."""
    root = tmp_path_factory.mktemp("xseg_microphone")
    capture = cv2.VideoCapture(str(clip("lp_d20_young_man_talking")))
    frames = []
    for number in range(FRAMES * STEP):
        ok, frame = capture.read()
        assert ok
        if number % STEP == 0:
            frames.append(frame)
    clean = root / "clean"
    (clean / "frames").mkdir(parents=True)
    for k, frame in enumerate(frames):
        cv2.imwrite(str(clean / "frames" / f"{k:06d}.png"), frame)
    faces = extract(clean / "frames", clean)
    assert sorted(faces["frame"]) == list(range(FRAMES))
    landmarks = dict(zip(faces["frame"], landmarks_array(faces)))

    occluded = root / "occluded"
    (occluded / "frames").mkdir(parents=True)
    polygons = {}
    for k, frame in enumerate(frames):
        polygons[k] = microphone(landmarks[k], k / (FRAMES - 1))
        grille = np.full_like(frame, (40, 40, 45))
        grille[::4] = (150, 150, 160)
        inside = fill(polygons[k], frame.shape[:2])
        frame = frame.copy()
        frame[inside] = grille[inside]
        cv2.imwrite(str(occluded / "frames" / f"{k:06d}.png"), frame)
    faces = extract(occluded / "frames", occluded)
    assert sorted(faces["frame"]) == list(range(FRAMES)), "the detector lost the face behind the microphone"
    height, width = frames[0].shape[:2]
    for k in LABELLED:  # LabelMe files on the frames, the microphone as one polygon of class "microphone"
        path = occluded / "labels" / f"{k:06d}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"version": "5.4.1", "imageWidth": width, "imageHeight": height, "shapes": [
            {"label": "microphone", "points": polygons[k].tolist(), "shape_type": "polygon"}]}))

    other = root / "other"
    (other / "frames").mkdir(parents=True)
    capture = cv2.VideoCapture(str(clip("lp_d12_man_glasses_talking")))
    for number in range(80):
        ok, frame = capture.read()
        assert ok
        if number % 10 == 0:
            cv2.imwrite(str(other / "frames" / f"{number:06d}.png"), frame)
    extract(other / "frames", other)
    sources = [{"name": "occluded", "table": occluded / "faces.parquet", "faces": occluded / "faces",
                "labels": occluded / "labels"},
               {"name": "other", "table": other / "faces.parquet", "faces": other / "faces"}]
    return sources, polygons


def test_a_labelled_video_learns_from_its_labelled_faces_only(microphone_clip):
    sources, _ = microphone_clip
    data = load_sources(sources, R)
    occluded = [i for i in data.ids if i.startswith("occluded/")]
    assert len(occluded) == len(LABELLED) and data.labelled.sum() == len(LABELLED)
    assert len(data) - len(occluded) == len(load_video(sources[1]["table"], sources[1]["faces"], None, R, "other"))


def test_labelled_share_draws_that_share_from_the_labelled_faces():
    n = 40
    data = XSegData(np.zeros((n, 16, 16, 3), np.uint8), np.zeros((n, 16, 16), np.float32),
                    [str(i) for i in range(n)], np.arange(n) < 2)
    data.images[:2] = 255  # the labelled faces are the white ones
    whites = [batch(data, i, 0, 64, 0.0, share)[0].mean(axis=(1, 2, 3)) > 0.5
              for share in (0.0, 1.0) for i in range(3)]
    assert np.mean(whites[:3]) < 0.2  # uniform: about 2 in 40
    assert np.mean(whites[3:]) == 1.0


def test_the_mask_follows_the_outlined_microphone_on_other_frames(microphone_clip, tmp_path, torch_one_thread,
                                                                  capsys):
    sources, polygons = microphone_clip
    settings = XSegSettings(resolution=R, width=8, batch_size=8, iterations=300, occlusion=0.0, save_every=0)
    train_xseg(load_sources(sources, R), settings, state_dir=tmp_path / "state",
               model_path=tmp_path / "model.safetensors", preview_path=tmp_path / "preview.jpg",
               plot_path=tmp_path / "loss.png")
    model, _ = load_xseg(tmp_path / "model.safetensors")
    table = read_faces(sources[0]["table"])
    video = load_video(sources[0]["table"], sources[0]["faces"], None, R, "occluded")  # the hulls
    masks = predict(model, video.images) > 0.5
    on_microphone, on_face = [], []
    for i, (frame, matrix, size) in enumerate(zip(table["frame"], matrices_array(table), table["size"])):
        if int(frame) in LABELLED:
            continue
        to_crop = to_resolution(matrix, size, R)
        mic = fill(polygons[int(frame)] @ to_crop[:, :2].T + to_crop[:, 2], (R, R))
        hull = video.masks[i] > 0.5
        assert (mic & hull).sum() > 50  # the microphone lies inside the hull: the hull calls it face
        on_microphone.append(masks[i][mic & hull].mean())
        on_face.append(masks[i][hull & ~mic].mean())
    shares = {"frames": len(on_microphone), "microphone_in_hull_called_face": float(np.mean(on_microphone)),
              "worst_frame": float(np.max(on_microphone)), "visible_face_kept": float(np.mean(on_face))}
    with capsys.disabled():
        print(f"\nxseg from 4 outlined frames, on the {shares['frames']} others: {shares}")
    assert shares["frames"] == FRAMES - len(LABELLED)
    assert shares["microphone_in_hull_called_face"] < 0.25
    assert shares["visible_face_kept"] > 0.85
