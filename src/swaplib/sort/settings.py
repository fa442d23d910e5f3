"""The sort and curation settings: config.yaml `sort:` and `curation:`, key for key, checked on creation.

`null` is "no limit" for max_face_px and max_faces; the angles keep every pose at 90 or more.
"""

from __future__ import annotations

from dataclasses import dataclass

from swaplib.core.errors import SwaplibError
from swaplib.core.settings import from_section, is_number
from swaplib.sort.identity import IDENTITY_MODES
from swaplib.sort.orders import ORDERS


@dataclass(frozen=True)
class SortSettings:
    """How a video's faces are scored, selected and ordered (docs/curation.md)."""

    order: str = "best"  # training and review order: a key of sort.orders.ORDERS
    min_face_px: float = 48  # box side in the frame, px
    max_face_px: float | None = None
    min_blur: float = 0  # absolute sharpness floor (variance of the Laplacian; depends on the video)
    blur_keep: float = 0.9  # then keep this share of the remaining faces, sharpest first
    max_yaw: float = 75  # degrees; beyond, 68-point landmarks (and so the crops) are unreliable
    max_pitch: float = 60
    identity: str = "auto"  # embeddings: auto, dlib or none (sort.identity)
    max_identity: float = 0.6  # embedding distance above which a face is another person (dlib: 0.6)
    duplicate: float = 0.003  # a face changing less than this (share of the crop) from its run's first is a duplicate
    max_faces: int | None = None

    def __post_init__(self):
        if self.order not in ORDERS:
            raise SwaplibError(f"unknown sort order {self.order!r}; choose one of: {', '.join(ORDERS)}")
        if self.identity not in IDENTITY_MODES:
            raise SwaplibError(f"unknown identity mode {self.identity!r}; choose one of: {', '.join(IDENTITY_MODES)}")
        if self.order == "identity" and self.identity == "none":
            raise SwaplibError("sort order 'identity' needs identity embeddings, and sort.identity is 'none'")
        limits = {name: is_number(getattr(self, name)) and getattr(self, name) >= 0
                  for name in ("min_face_px", "min_blur", "max_identity", "duplicate")}
        limits["max_face_px"] = self.max_face_px is None or (is_number(self.max_face_px) and self.max_face_px > 0)
        limits["blur_keep"] = is_number(self.blur_keep) and 0 < self.blur_keep <= 1
        limits["max_yaw"] = is_number(self.max_yaw) and 0 < self.max_yaw <= 180
        limits["max_pitch"] = is_number(self.max_pitch) and 0 < self.max_pitch <= 180
        limits["max_faces"] = self.max_faces is None or (
            is_number(self.max_faces) and self.max_faces >= 1 and int(self.max_faces) == self.max_faces)
        bad = [name for name, ok in limits.items() if not ok]
        if bad:
            raise SwaplibError("sort settings out of range: " + ", ".join(f"{n}={getattr(self, n)!r}" for n in bad))


@dataclass(frozen=True)
class CurationSettings:
    """Where the curation sheets live and how the contact sheets are paged (docs/curation.md)."""

    dir: str = "curation"  # curation/{video}.tsv
    faces_per_page: int = 256  # thumbnails per contact sheet page

    def __post_init__(self):
        if not isinstance(self.dir, str) or not self.dir:
            raise SwaplibError(f"curation dir must be a folder name, got {self.dir!r}")
        pages = self.faces_per_page
        if not is_number(pages) or pages < 1 or int(pages) != pages:
            raise SwaplibError(f"faces_per_page must be a whole number of at least 1, got {self.faces_per_page!r}")


def sort_settings(values: dict) -> SortSettings:
    """SortSettings from a mapping (the config's sort section); unknown keys are errors."""
    return from_section(SortSettings, values, "sort")


def curation_settings(values: dict) -> CurationSettings:
    """CurationSettings from a mapping (the config's curation section); unknown keys are errors."""
    return from_section(CurationSettings, values, "curation")
