"""XSeg from a user's outlines: a synthetic microphone over a real clip, outlined with LabelMe on 4
frames of 30; the trained mask leaves it out on the other 26 frames, and a merge with mask xseg-dst
keeps the destination's microphone in front of the swapped face where mask dst paints over it.

No synthetic occluders in this training (xseg.occlusion 0), so what leaves the microphone out can
only be the outlines. One training of 300 steps at 64 px (about 40 s on one thread of a 2-core Xeon)
serves both tests."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from swaplib.extract.align import hull_mask
from swaplib.extract.stage import extract_faces
from swaplib.merge.stage import merge_video
from swaplib.model import build_model, save_model
from swaplib.tables.faces import landmarks_array, matrices_array, read_faces
from swaplib.train.settings import model_config
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


@pytest.fixture(scope="module")
def trained(microphone_clip, tmp_path_factory):
    sources, _ = microphone_clip
    root = tmp_path_factory.mktemp("xseg_microphone_model")
    settings = XSegSettings(resolution=R, width=8, batch_size=8, iterations=300, occlusion=0.0, save_every=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small model: one thread is as fast, and steadier on a shared CPU
    try:
        train_xseg(load_sources(sources, R), settings, state_dir=root / "state", model_path=root / "model.safetensors",
                   preview_path=root / "preview.jpg", plot_path=root / "loss.png")
    finally:
        torch.set_num_threads(threads)
    return root / "model.safetensors"


def test_the_mask_follows_the_outlined_microphone_on_other_frames(microphone_clip, trained, capsys):
    sources, polygons = microphone_clip
    model, _ = load_xseg(trained)
    table = read_faces(sources[0]["table"])
    video = load_video(sources[0]["table"], sources[0]["faces"], None, R, "occluded")  # the hulls
    soft = predict(model, video.images)
    masks = soft > 0.5
    on_microphone, on_face, soft_mic = [], [], []  # soft: the mask's mean value there, before the 0.5 cut
    for i, (frame, matrix, size) in enumerate(zip(table["frame"], matrices_array(table), table["size"])):
        if int(frame) in LABELLED:
            continue
        to_crop = to_resolution(matrix, size, R)
        mic = fill(polygons[int(frame)] @ to_crop[:, :2].T + to_crop[:, 2], (R, R))
        hull = video.masks[i] > 0.5
        assert (mic & hull).sum() > 50  # the microphone lies inside the hull: the hull calls it face
        on_microphone.append(masks[i][mic & hull].mean())
        soft_mic.append(soft[i][mic & hull].mean())
        on_face.append(masks[i][hull & ~mic].mean())
    shares = {"frames": len(on_microphone), "microphone_in_hull_called_face": float(np.mean(on_microphone)),
              "worst_frame": float(np.max(on_microphone)), "soft": float(np.mean(soft_mic)),
              "visible_face_kept": float(np.mean(on_face))}
    with capsys.disabled():
        print(f"\nxseg from 4 outlined frames, on the {shares['frames']} others: {shares}")
    assert shares["frames"] == FRAMES - len(LABELLED)
    assert shares["microphone_in_hull_called_face"] < 0.25
    assert shares["visible_face_kept"] > 0.85


def test_merge_mask_xseg_dst_keeps_the_microphone_in_front_of_the_swapped_face(microphone_clip, trained, tmp_path,
                                                                               torch_one_thread, capsys):
    """A tiny swap model (untrained: its grey face differs from everything) merged into the occluded
    frames with mask dst and with xseg-dst, the same erode and blur. On the frames nobody outlined:
    of the microphone's pixels inside the hull, the share the swapped face covers (more than half
    of the change mask dst makes there) and how much of dst's change is left (summed); of the
    visible face, the share covered."""
    sources, polygons = microphone_clip
    root = sources[0]["table"].parent
    torch.manual_seed(0)
    model = tmp_path / "swap.safetensors"
    save_model(model, build_model(model_config("tiny")), iterations=0, masks_trained=True)
    table = read_faces(sources[0]["table"])
    landmarks = dict(zip(table["frame"].astype(int), landmarks_array(table)))
    for kind in ("dst", "xseg-dst"):
        merge_video(root / "frames", root / "faces.parquet", model, tmp_path / kind, mask=kind, xseg_model=trained,
                    erode_mask_modifier=0, blur_mask_modifier=10, color_transfer="none")
    covered_mic, left, covered_face = [], [], []
    for frame in sorted(set(range(FRAMES)) - set(LABELLED)):
        name = f"{frame:06d}.png"
        before, dst, xseg = (cv2.imread(str(d / name)).astype(int) for d in (root / "frames", tmp_path / "dst",
                                                                              tmp_path / "xseg-dst"))
        by_dst, by_xseg = np.abs(dst - before).max(2), np.abs(xseg - before).max(2)
        hull = hull_mask(landmarks[frame], before.shape[:2]) > 0
        mic = fill(polygons[frame], before.shape[:2]) & hull
        face = cv2.erode((hull & ~fill(polygons[frame], before.shape[:2])).astype(np.uint8), np.ones((15, 15))) > 0
        assert (by_dst[mic] > 12).mean() > 0.9  # mask dst paints the swapped face over the microphone
        covered_mic.append((by_xseg[mic] > 0.5 * by_dst[mic]).mean())
        left.append(by_xseg[mic].sum() / by_dst[mic].sum())
        covered_face.append((by_xseg[face] > 0.5 * by_dst[face]).mean())
    shares = {"microphone_covered": float(np.mean(covered_mic)), "change_left": float(np.mean(left)),
              "face_covered": float(np.mean(covered_face))}
    with capsys.disabled():
        print(f"\nmerge xseg-dst against dst on the {FRAMES - len(LABELLED)} frames nobody outlined: {shares}")
    assert shares["microphone_covered"] < 0.25  # XSeg keeps the microphone in front
    assert shares["change_left"] < 0.4
    assert shares["face_covered"] > 0.85
