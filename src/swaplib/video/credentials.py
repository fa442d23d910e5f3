"""Content Credentials: a signed C2PA manifest embedded in the mp4 (or a swapped photo), the mark
verifiers and platforms read.

The manifest says, in the standard's terms, that the video or photo was made by a trained model (IPTC
digital source type trainedAlgorithmicMedia), by which generator, from which inputs and model. Inputs
are named by content hash only: the manifest travels with the file, so it holds no file path or user
name. The signature covers the whole file (C2PA's BMFF hash for an mp4, its data hash for an image):
changing a byte of it afterwards shows.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import c2pa

from swaplib import __version__
from swaplib.core.atomic import atomic_path
from swaplib.core.errors import SwaplibError
from swaplib.video.signing import SigningKey

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
ASSERTION = "org.swaplib.provenance"  # swaplib's own assertion: the record behind the standard actions
MP4 = "video/mp4"
OTHER_FORMAT = "application/octet-stream"  # an ingredient of no single file type: a photo folder
# What the sidecar says of a file signed by nobody.
NOT_SIGNED = {"embedded": False, "why": "video.c2pa.enabled is false"}
# Reading stays offline: no remote manifest, no certificate status request.
_OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
# Nobody vouches for swaplib's local root, nor, on a machine without a trust list, for any other: an
# untrusted signer is said as such, it is not an alteration of the file.
UNTRUSTED = "signingCredential.untrusted"
# Validation codes about the signature's credentials or time stamp, not about the file's bytes: an
# expired or revoked certificate says nothing about whether the video was changed after signing.
CREDENTIAL_CODES = ("signingCredential.", "timeStamp.", "algorithm.")
# What the provenance sidecar (and so the quality card) says of the manifest.
SUMMARY_KEYS = ("label", "state", "signer", "generator", "actions", "digital_source_types")


def settings_digest(settings) -> str | None:
    """sha256 of settings as canonical JSON (sorted keys): the same settings give the same digest."""
    if settings is None:
        return None
    return hashlib.sha256(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def manifest_definition(record: dict, note: str, media: str = MP4) -> dict:
    """The manifest for a video from its provenance record (video.marks.provenance_record, with the
    encoding): actions, ingredients and swaplib's assertion, every input by hash and no path.
    `note`: what the signature proves (signing.LOCAL_NOTE or CERT_NOTE). `media`: the file's type; an
    image type makes it a swapped photo's (video.stills), whose record names that photo's original
    as its destination."""
    what = "video" if media.startswith("video/") else "photo"
    agent = {"name": "swaplib", "version": __version__}
    review = bool((record.get("encoding") or {}).get("side_by_side"))
    inputs = {key: _hashed(record.get(key)) for key in ("destination", "source")}
    model = record.get("model_file") or {}
    merge = record.get("merge") or {}
    edit = ("the destination's faces replaced by a trained face-swap model with the source identity's"
            + (", shown to the right of the destination's own frames (review video)" if review else ""))
    ingredients = [
        {"title": title, "format": MP4 if entry.get("kind") == "video" else entry.get("format", OTHER_FORMAT),
         "relationship": "componentOf", "instance_id": f"sha256:{entry['sha256']}", "description": title}
        for title, entry in ((f"destination {(inputs['destination'] or {}).get('kind')}", inputs["destination"]),
                             (f"source identity ({(inputs['source'] or {}).get('kind')})", inputs["source"]))
        if entry and entry.get("sha256")
    ]
    provenance = {
        "synthetic": True,
        "statement": record.get("metadata_comment"),
        "generator": f"swaplib {__version__}",
        "review": review,
        "frame_count": record.get("frame_count"),
        "fps": record.get("fps"),
        "visible_label": record.get("visible_label"),
        "inputs": inputs,
        "model": {"id": model.get("weights_sha256"), "file_sha256": model.get("sha256"),
                  "training_settings_sha256": settings_digest(model.get("settings")),
                  **{key: model.get(key) for key in ("iterations", "face_type")}},
        "merge": {"settings": merge.get("settings"),
                  # the override rows; the sheet's file name is left out, it is a path
                  "overrides": (merge.get("overrides") or {}).get("rows") or []},
        "signature": note,
    }
    return {
        "claim_generator_info": [agent],
        "title": f"face-swapped {what} (swaplib)" + (", review" if review else ""),
        "format": media,
        "ingredients": ingredients,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA, "softwareAgent": agent,
                 "description": f"synthetic {what} made by swaplib"},
                {"action": "c2pa.edited", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA, "softwareAgent": agent,
                 "description": edit},
            ]}},
            {"label": ASSERTION, "data": provenance},
        ],
    }


def _hashed(entry) -> dict | None:
    """An input of the provenance record (a file record of video.marks) by kind and content only."""
    if not isinstance(entry, dict) or not entry.get("sha256"):
        return None
    return {key: entry[key] for key in ("kind", "format", "sha256", "bytes", "photos") if key in entry}


def sign_in_place(path: Path, record: dict, key: SigningKey | None, media: str = MP4) -> dict:
    """Embed the manifest of `record` (manifest_definition) in `path`, signed by `key`, the file replaced
    whole; returns the summary for the sidecar. No key (video.c2pa.enabled false): the file stays as it
    is, and the summary says why."""
    if key is None:
        return dict(NOT_SIGNED)
    with atomic_path(path) as signed:
        return embed_manifest(path, signed, manifest_definition(record, key.note, media), key)


def embed_manifest(src: Path, dst: Path, manifest: dict, key: SigningKey) -> dict:
    """Write `src` with `manifest` signed by `key` embedded to `dst` (a file of the manifest's format);
    returns its summary for the sidecar, read back from `dst` (a manifest that does not validate on the
    file just written is an error)."""
    try:
        with (c2pa.Builder.from_json(manifest) as builder, key.signer() as signer, open(src, "rb") as source,
              open(dst, "w+b") as dest):
            builder.sign(signer, manifest["format"], source, dest)
    except c2pa.C2paError as exc:
        raise SwaplibError(f"{dst}: signing the C2PA manifest failed ({exc})") from None
    summary = read_manifest(dst)
    if summary["failures"]:  # just signed: a credential that does not validate is an error too
        raise SwaplibError(f"{dst}: the C2PA manifest just signed does not validate: {summary['failures']}")
    return {"embedded": True, **{name: summary[name] for name in SUMMARY_KEYS}, "signature": key.note}


def is_credential_code(code) -> bool:
    """Whether a C2PA validation failure code is about the signer's credentials, not the file's content."""
    return isinstance(code, str) and code.startswith(CREDENTIAL_CODES)


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of `path`, validated, in plain terms: {"present": False} without one, else its
    label, signer, generator, digital source types, ingredients, swaplib's assertion, the validation
    state, its failures (besides an untrusted signer), and whether they say the file was altered
    (`altered`: a hash or the claim's signature no longer matches) or only that its credentials do not
    validate (`credential_problems`: expired, revoked, a bad time stamp)."""
    try:
        with c2pa.Context.from_dict(_OFFLINE) as context:
            reader = c2pa.Reader.try_create(str(path), context=context)
            if reader is None:
                return {"present": False}
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        # A manifest that cannot even be parsed: damaged, so the file is not what was signed.
        return {"present": True, "altered": True, "state": "unreadable", "failures": [str(exc)],
                "credential_problems": []}
    manifest = store.get("manifests", {}).get(store.get("active_manifest"), {})
    statuses = ((store.get("validation_results") or {}).get("activeManifest") or {}).get("failure") \
        or store.get("validation_status") or []
    failures = [s for s in statuses if s.get("code") != UNTRUSTED]
    credentials = [s for s in failures if is_credential_code(s.get("code"))]
    described = lambda entries: [f"{s.get('code')}: {s.get('explanation')}" for s in entries]
    assertions = {a.get("label"): a.get("data") for a in manifest.get("assertions", [])}
    actions = (assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}).get("actions", [])
    signature = manifest.get("signature_info") or {}
    return {
        "present": True,
        "label": store.get("active_manifest"),
        "state": store.get("validation_state"),
        "altered": len(credentials) < len(failures),
        "failures": described(failures),
        "credential_problems": described(credentials),
        "trusted_signer": not any(s.get("code") == UNTRUSTED for s in statuses),
        "signer": " / ".join(v for v in (signature.get("common_name"), signature.get("issuer")) if v) or None,
        "generator": ", ".join(f"{g.get('name')} {g.get('version', '')}".strip()
                               for g in manifest.get("claim_generator_info", [])) or None,
        "actions": [a.get("action") for a in actions],
        "digital_source_types": sorted({a["digitalSourceType"] for a in actions if a.get("digitalSourceType")}),
        "ingredients": [{key: i.get(key) for key in ("title", "instance_id", "relationship")}
                        for i in manifest.get("ingredients", [])],
        "swaplib": assertions.get(ASSERTION),
    }
