"""The signed C2PA manifest of a swapped video (swaplib.video.credentials, .signing) and `swaplib verify`."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import av
import c2pa
import numpy as np
import pytest

from swaplib.cli import main
from swaplib.core.errors import SwaplibError
from swaplib.video.credentials import TRAINED_ALGORITHMIC_MEDIA, UNTRUSTED, is_credential_code
from swaplib.video.encode import encode_video
from swaplib.video.frames import extract_frames
from swaplib.video.marks import SYNTHETIC_TAG, read_metadata_tags
from swaplib.video.signing import CERT_NOTE, KEY_FILE, LOCAL_NOTE, local_key_folder, signing_home
from video_support import WITH_AUDIO, N

MODEL = {"path": "/models/m/model.safetensors", "sha256": "f" * 64, "weights_sha256": "a" * 64,
         "settings": {"iterations": 10, "batch_size": 4}, "iterations": 10, "face_type": "whole_face"}


@pytest.fixture(scope="module")
def swap(clip, photo, tmp_path_factory):
    """A swapped test video as the video rule makes it: frames of a real clip, its audio, a merge report
    naming a model, and a source identity given as a photo folder."""
    root = tmp_path_factory.mktemp("swap")
    extract_frames(clip(WITH_AUDIO), root / "frames", root / "video.json", limit=N)
    photos = root / "identity_photos"
    photos.mkdir()
    for stem in ("lp_d8_curly_glasses", "lp_d9_woman_open_mouth"):
        (photos / f"{stem}.jpg").write_bytes(photo(stem).read_bytes())
    report = root / "merge.json"
    report.write_text(json.dumps({"model": MODEL, "settings": {"mode": "overlay"}, "frames": N,
                                  "overrides": {"file": str(root / "overrides" / "p.tsv"), "rows": []}}))
    out = root / "pairs" / "p.mp4"
    encode_video(root / "frames", out, fps="25/1", audio_source=clip(WITH_AUDIO), preset="ultrafast",
                 provenance={"pair": "p", "source": str(photos), "destination": str(clip(WITH_AUDIO)), "model": "m"},
                 merge_report=report)
    return out


def store(path: Path) -> dict:
    with c2pa.Reader(str(path)) as reader:
        return json.loads(reader.json())


def active(manifests: dict) -> dict:
    return manifests["manifests"][manifests["active_manifest"]]


def test_a_swapped_video_carries_a_valid_manifest_naming_the_model_and_inputs(swap, clip):
    manifests = store(swap)
    manifest = active(manifests)
    assert manifests["validation_state"] == "Valid"
    assert [s["code"] for s in manifests.get("validation_status", [])] == [UNTRUSTED]  # the local key: no CA
    actions = next(a["data"]["actions"] for a in manifest["assertions"] if a["label"] == "c2pa.actions.v2")
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.edited"]
    assert {a["digitalSourceType"] for a in actions} == {TRAINED_ALGORITHMIC_MEDIA}
    assert manifest["claim_generator_info"][0]["name"] == "swaplib"
    destination = hashlib.sha256(clip(WITH_AUDIO).read_bytes()).hexdigest()
    ingredients = {i["title"]: i["instance_id"] for i in manifest["ingredients"]}
    assert ingredients["destination video"] == f"sha256:{destination}"
    own = next(a["data"] for a in manifest["assertions"] if a["label"] == "org.swaplib.provenance")
    assert own["synthetic"] is True and own["inputs"]["source"]["kind"] == "photo folder"
    settings = json.dumps(MODEL["settings"], sort_keys=True, separators=(",", ":")).encode()
    assert own["model"] == {"id": "a" * 64, "file_sha256": "f" * 64, "iterations": 10, "face_type": "whole_face",
                            "training_settings_sha256": hashlib.sha256(settings).hexdigest()}
    assert own["merge"]["settings"] == {"mode": "overlay"} and own["signature"] == LOCAL_NOTE
    # The other marks are there too, and the sidecar names this manifest.
    assert read_metadata_tags(swap)["comment"] == SYNTHETIC_TAG
    sidecar = json.loads(swap.with_suffix(".provenance.json").read_text())
    assert sidecar["content_credentials"]["label"] == manifests["active_manifest"]


def test_the_manifest_names_no_path_of_the_machine(swap, clip):
    text = json.dumps(store(swap))
    photos = swap.parent.parent / "identity_photos"
    for path in (clip(WITH_AUDIO), photos, swap.parent.parent, Path.home(), signing_home(), *photos.iterdir()):
        assert str(path) not in text
    for name in (clip(WITH_AUDIO).name, *(p.name for p in photos.iterdir()), "model.safetensors", "p.tsv"):
        assert name not in text


def test_verify_says_marked_and_then_altered_after_a_byte_of_the_frames_changes(swap, tmp_path, capsys):
    assert main(["verify", str(swap)]) == 0
    said = capsys.readouterr().out
    assert "marked SYNTHETIC, unchanged since it was signed" in said and TRAINED_ALGORITHMIC_MEDIA in said
    assert "names this manifest" in said
    with av.open(str(swap)) as container:  # a byte in the middle of the first picture
        picture = next(p for p in container.demux(video=0) if p.size > 100)
        where = picture.pos + picture.size // 2
    data = bytearray(swap.read_bytes())
    data[where] ^= 0x01
    altered = tmp_path / "p.mp4"
    altered.write_bytes(data)
    assert main(["verify", str(altered)]) == 1
    said = capsys.readouterr().out
    assert "ALTERED after it was signed" in said and "assertion.bmffHash.mismatch" in said
    # Many at once (results/pairs/*.mp4): a block each, in order, and the worst status.
    assert main(["verify", str(swap), str(altered), str(tmp_path / "gone.mp4")]) == 2
    blocks = capsys.readouterr().out.split("\n\n")
    assert [b.split(":")[0] for b in blocks] == [str(swap), str(altered), str(tmp_path / "gone.mp4")]
    assert "unchanged since it was signed" in blocks[0] and "ALTERED" in blocks[1]
    assert blocks[2].strip() == f"{tmp_path / 'gone.mp4'}: cannot be read (file not found)"
    assert main(["verify", str(swap), str(altered)]) == 1


def test_verify_says_a_video_without_marks_is_unmarked(clip, capsys):
    assert main(["verify", str(clip(WITH_AUDIO))]) == 1
    assert "NOT MARKED synthetic" in capsys.readouterr().out


def _corner_change(video: Path, frame: Path) -> tuple[float, float]:
    """Mean change of the first frame, encoded against extracted, in the label's corner and the opposite one."""
    import cv2

    with av.open(str(video)) as container:
        encoded = next(container.decode(video=0)).to_ndarray(format="bgr24").astype(np.float32)
    original = cv2.imread(str(frame)).astype(np.float32)
    diff = np.abs(encoded - original).mean(axis=2)
    h, w = diff.shape
    return float(diff[-h // 8:, : w // 3].mean()), float(diff[: h // 8, -w // 3:].mean())


def test_with_c2pa_off_there_is_no_manifest_but_the_other_marks_stay(swap, tmp_path, capsys):
    frames = swap.parent.parent / "frames"
    out = tmp_path / "off.mp4"
    encode_video(frames, out, fps="25/1", preset="ultrafast", c2pa={"enabled": False, "cert": "", "key": ""})
    assert c2pa.Reader.try_create(str(out)) is None
    assert read_metadata_tags(out)["comment"] == SYNTHETIC_TAG
    sidecar = json.loads(out.with_suffix(".provenance.json").read_text())
    assert sidecar["synthetic"] is True and sidecar["content_credentials"]["embedded"] is False
    label, elsewhere = _corner_change(out, frames / "000000.png")
    assert label > 5 * elsewhere  # the label burnt in at the bottom left
    assert main(["verify", str(out)]) == 0
    assert "no C2PA manifest" in capsys.readouterr().out


def test_the_user_s_certificate_signs_the_review_video(swap, tmp_path):
    issued = local_key_folder(tmp_path / "ca")  # a certificate chain and key as a user would give them
    frames = swap.parent.parent / "frames"
    out = tmp_path / "review.mp4"
    encode_video(frames, out, fps="25/1", preset="ultrafast", compare_dir=frames,
                 c2pa={"enabled": True, "cert": str(issued / "cert.pem"), "key": str(issued / KEY_FILE)})
    manifest = active(store(out))
    own = next(a["data"] for a in manifest["assertions"] if a["label"] == "org.swaplib.provenance")
    assert own["signature"] == CERT_NOTE and own["review"] is True


@pytest.mark.parametrize("problem", ["missing", "not_pem", "folder", "key_only"])
def test_a_bad_certificate_stops_the_encode_naming_it_and_why(swap, tmp_path, problem):
    issued = local_key_folder(tmp_path / "ca")
    cert = tmp_path / "cert.pem"
    if problem == "not_pem":
        cert.write_text("not a certificate\n")
    elif problem == "folder":
        cert.mkdir()
    settings = {"enabled": True, "cert": str(cert), "key": str(issued / KEY_FILE)}
    expected = {"missing": f"video.c2pa.cert: {cert}: file not found",
                "not_pem": f"video.c2pa.cert: {cert}: not a PEM certificate chain",
                "folder": f"video.c2pa.cert: {cert}: cannot read it", "key_only": "give both cert and key"}[problem]
    if problem == "key_only":
        settings["cert"] = ""
    out = tmp_path / "p.mp4"
    with pytest.raises(SwaplibError, match=expected.replace(".", r"\.")):
        encode_video(swap.parent.parent / "frames", out, fps="25/1", preset="ultrafast", c2pa=settings)
    assert not out.exists() and not out.with_suffix(".provenance.json").exists()


def test_the_local_key_is_made_once_and_kept_private(tmp_path):
    folder = local_key_folder(tmp_path / "c2pa")
    cert = (folder / "cert.pem").read_text()
    assert local_key_folder(tmp_path / "c2pa") == folder and (folder / "cert.pem").read_text() == cert
    assert os.stat(folder / KEY_FILE).st_mode & 0o077 == 0
    assert [p.name for p in tmp_path.iterdir()] == ["c2pa"]  # no temporary folder left behind


@pytest.mark.parametrize("code, about_credentials", [
    ("signingCredential.expired", True), ("signingCredential.revoked", True), ("timeStamp.outsideValidity", True),
    ("algorithm.unsupported", True), ("assertion.dataHash.mismatch", False), ("assertion.bmffHash.mismatch", False),
    ("claimSignature.mismatch", False), ("claim.missing", False), (None, False)])
def test_only_content_failures_say_altered(code, about_credentials):
    # an expired or revoked certificate does not mean the video changed after signing
    assert is_credential_code(code) is about_credentials
