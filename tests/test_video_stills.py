"""Swapped photos (swaplib.video.stills, .photo_metadata): one photo per destination photo, named and
formatted after it, each with the visible label, the metadata, a signed C2PA manifest naming its
original, and one sidecar for the folder; bad input stops naming the file."""

from __future__ import annotations

import errno
import hashlib
import json
import re
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

from swaplib.cli import main
from swaplib.core.errors import SwaplibError
from swaplib.video.credentials import TRAINED_ALGORITHMIC_MEDIA, read_manifest
from swaplib.video.frames import extract_frames, read_info
from swaplib.video.marks import PHOTO_TAG
from swaplib.video.photo_metadata import IMAGE_DESCRIPTION, SOFTWARE, read_marks
from swaplib.video.photos import photo_files
from swaplib.video.signing import KEY_FILE, local_key_folder
from swaplib.video.stills import photo_names, write_photos

MODEL = {"sha256": "f" * 64, "weights_sha256": "a" * 64, "settings": {"iterations": 10}, "iterations": 10,
         "face_type": "whole_face"}
# The destination folder: a JPEG with a colour profile, a PNG, and a BMP (which carries no mark: PNG out).
ORIGINALS = {"fr_obama": "obama.jpg", "lp_d9_woman_open_mouth": "woman.png", "fr_alex_lacamoire": "alex.bmp"}
WRITTEN = ["alex.png", "obama.jpg", "woman.png"]  # in name order, as the frames stage takes them


@pytest.fixture(scope="module")
def destination(photo, clip, tmp_path_factory):
    """A photo folder destination as the workflow has it when the photos rule runs: the photos, their
    frames and video.json (the frames stage's own), and a merge report. The frames stand in for the
    merged frames: what the writer does with them does not depend on a face having been swapped."""
    root = tmp_path_factory.mktemp("stills")
    folder = root / "dst"
    folder.mkdir()
    for stem, name in ORIGINALS.items():
        if name.endswith(".jpg"):
            shutil.copy(photo(stem), folder / name)
        else:
            Image.open(photo(stem)).save(folder / name)  # by its suffix: png, bmp
    extract_frames(folder, root / "merged", root / "video.json")
    (root / "merge.json").write_text(json.dumps({"model": MODEL, "settings": {"mode": "overlay"}, "frames": 3}))
    return root


def write(root, out_name="p.photos", **options):
    info = read_info(root / "video.json")
    provenance = {"pair": "p", "model": "m", "destination": str(root / "dst"), "source": str(root / "dst")}
    return write_photos(root / "merged", root / "pairs" / out_name, photos=info["photos"],
                        originals=photo_files(root / "dst"), provenance=provenance,
                        merge_report=root / "merge.json", **options)


@pytest.fixture(scope="module")
def written(destination):
    record = write(destination, threads=2)
    return destination / "pairs" / "p.photos", record


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_photo_per_destination_photo_in_its_format(written, destination):
    folder, record = written
    assert sorted(p.name for p in folder.iterdir()) == WRITTEN
    formats = {name: Image.open(folder / name).format for name in WRITTEN}
    assert formats == {"alex.png": "PNG", "obama.jpg": "JPEG", "woman.png": "PNG"}
    for entry, frame in zip(record["files"], sorted((destination / "merged").iterdir())):
        assert Image.open(folder / entry["file"]).size == Image.open(frame).size == (entry["width"], entry["height"])


def test_each_photo_carries_the_label_in_its_corner_only(written, destination):
    folder, _ = written
    for name, frame in zip(WRITTEN, sorted((destination / "merged").iterdir())):
        diff = np.abs(cv2.imread(str(folder / name)).astype(int) - cv2.imread(str(frame)).astype(int)).mean(axis=2)
        h, w = diff.shape
        corner, rest = diff[-h // 8:, : w // 2], diff[: -h // 8]
        assert corner.mean() > 10 * max(rest.mean(), 0.05), name  # bottom-left, as on a video
        if name.endswith(".png"):
            assert rest.max() == 0, name  # lossless: every other pixel is the merged frame's


def test_each_photo_says_synthetic_in_its_metadata(written, photo):
    folder, _ = written
    for name in WRITTEN:
        marks = read_marks(folder / name)
        assert marks["description"].startswith(PHOTO_TAG) and "model: m" in marks["description"], name
        assert marks["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA, name
        assert marks["software"].startswith("swaplib"), name
        if name.endswith(".png"):
            assert marks["png_description"] == marks["description"], name
    # The original's EXIF is not carried (only the statement); its colour profile is.
    obama = Image.open(folder / "obama.jpg")
    assert set(obama.getexif()) == {IMAGE_DESCRIPTION, SOFTWARE}
    assert obama.info["icc_profile"] == Image.open(photo("fr_obama")).info["icc_profile"]


def test_each_photo_carries_a_valid_manifest_naming_its_original(written, destination):
    folder, record = written
    for entry in record["files"]:
        manifest = read_manifest(folder / entry["file"])
        assert manifest["present"] and not manifest["altered"] and manifest["failures"] == []
        assert manifest["digital_source_types"] == [TRAINED_ALGORITHMIC_MEDIA]
        assert manifest["label"] == entry["content_credentials"]["label"]
        original = destination / "dst" / entry["original"]["file"]
        ingredients = {i["title"]: i["instance_id"] for i in manifest["ingredients"]}
        assert ingredients["destination photo"] == f"sha256:{sha256(original)}"
        own = manifest["swaplib"]
        assert own["frame_count"] == 1 and own["statement"] == PHOTO_TAG and own["model"]["id"] == "a" * 64
        assert own["inputs"]["destination"] == {"kind": "photo", "format": entry["original"]["format"],
                                                "sha256": sha256(original), "bytes": original.stat().st_size}


def test_one_sidecar_for_the_folder_names_the_inputs_and_every_photo(written, destination):
    folder, record = written
    sidecar = json.loads((folder.parent / "p.provenance.json").read_text())
    assert sidecar == json.loads(json.dumps(record)) and sidecar["synthetic"] is True
    assert sidecar["photos"] == "p.photos" and sidecar["frame_count"] == 3 and sidecar["fps"] is None
    assert sidecar["destination"]["kind"] == "photo folder" and sidecar["destination"]["photos"] == 3
    assert sidecar["model_file"]["sha256"] == "f" * 64 and sidecar["merge"]["settings"] == {"mode": "overlay"}
    assert [(f["file"], f["original"]["file"]) for f in sidecar["files"]] == [
        ("alex.png", "alex.bmp"), ("obama.jpg", "obama.jpg"), ("woman.png", "woman.png")]
    assert [f["original"]["format"] for f in sidecar["files"]] == ["image/bmp", "image/jpeg", "image/png"]
    assert sidecar["content_credentials"]["state"] == "Valid"
    assert sidecar["content_credentials"]["digital_source_types"] == [TRAINED_ALGORITHMIC_MEDIA]


def test_verify_reads_a_swapped_photo_s_marks_and_its_folder_s_sidecar(written, capsys):
    folder, _ = written
    assert main(["verify", str(folder / "obama.jpg"), str(folder / "woman.png")]) == 0
    said = capsys.readouterr().out
    assert said.count("marked SYNTHETIC, unchanged since it was signed") == 2
    assert said.count(f"metadata: synthetic ({PHOTO_TAG})") == 2 and said.count("names this manifest") == 2
    data = bytearray((folder / "obama.jpg").read_bytes())
    data[-len(data) // 3] ^= 0x01  # a bit of the picture's coded data: still a JPEG, not the one signed
    altered = folder.parent / "altered.jpg"
    altered.write_bytes(data)
    assert main(["verify", str(altered)]) == 1
    assert "ALTERED after it was signed" in capsys.readouterr().out


def test_without_label_or_c2pa_the_other_marks_stay(destination):
    record = write(destination, "bare.photos", label="", c2pa={"enabled": False, "cert": "", "key": ""})
    folder = destination / "pairs" / "bare.photos"
    assert record["content_credentials"] == {"embedded": False, "why": "video.c2pa.enabled is false"}
    assert record["visible_label"] is None
    for entry, frame in zip(record["files"], sorted((destination / "merged").iterdir())):
        assert not read_manifest(folder / entry["file"])["present"]
        assert read_marks(folder / entry["file"])["description"].startswith(PHOTO_TAG)
        if entry["file"].endswith(".png"):  # no label: the merged frame's pixels, every one
            assert np.array_equal(cv2.imread(str(folder / entry["file"])), cv2.imread(str(frame)))


def test_the_user_s_certificate_signs_the_photos(destination, tmp_path):
    issued = local_key_folder(tmp_path / "ca")
    record = write(destination, "signed.photos",
                   c2pa={"enabled": True, "cert": str(issued / "cert.pem"), "key": str(issued / KEY_FILE)})
    assert record["content_credentials"]["signature"].startswith("signed with the certificate")


def test_a_missing_certificate_stops_before_any_photo_naming_it(destination, tmp_path):
    cert = tmp_path / "gone.pem"
    with pytest.raises(SwaplibError, match=f"video.c2pa.cert: {cert}: file not found"):
        write(destination, "nocert.photos", c2pa={"enabled": True, "cert": str(cert), "key": str(cert)})
    assert not (destination / "pairs" / "nocert.photos").exists()
    assert not (destination / "pairs" / "nocert.provenance.json").exists()


def test_a_full_disk_names_the_photo_and_leaves_nothing(destination, monkeypatch):
    def full(self, fp, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    with pytest.raises(SwaplibError, match=r"alex\.png: cannot write the swapped photo .*the disk is full"):
        write(destination, "full.photos")
    assert not (destination / "pairs" / "full.photos").exists()
    assert not [p for p in (destination / "pairs").iterdir() if p.name.startswith(".full.photos")]


def test_a_merged_frame_of_another_size_or_count_is_named(destination, tmp_path):
    merged = tmp_path / "merged"
    shutil.copytree(destination / "merged", merged)
    info = read_info(destination / "video.json")
    kwargs = {"originals": photo_files(destination / "dst"), "merge_report": destination / "merge.json"}
    with pytest.raises(SwaplibError, match="3 merged frames, not the destination's 2 photos"):
        write_photos(merged, tmp_path / "a.photos", photos=info["photos"][:2], **kwargs)
    frame = sorted(merged.iterdir())[1]
    cv2.imwrite(str(frame), cv2.imread(str(frame))[:-2])
    with pytest.raises(SwaplibError, match=rf"{re.escape(str(frame))} is \d+x\d+ but .*obama\.jpg is"):
        write_photos(merged, tmp_path / "b.photos", photos=info["photos"], **kwargs)


def test_photo_names_keep_the_original_s_unless_its_format_carries_no_mark():
    assert photo_names(["a.JPG", "b.jpeg", "c.png", "d.webp"]) == ["a.JPG", "b.jpeg", "c.png", "d.webp"]
    assert photo_names(["x.bmp", "y.BMP"]) == ["x.png", "y.png"]
    assert photo_names(["x.bmp", "x.png"]) == ["x.bmp.png", "x.png"]  # never onto another photo's name
