"""The review app's merger (DFL's interactive merger): a pair's frames drawn with merge settings
changed on the page, the changes saved as rows of the pair's overrides sheet, and the pair's
video rendered by the workflow (merge and encode).

The settings it offers are swaplib.config.merge's declarations (name, values, meaning, whether a
frame range may change them), so a new merge setting appears on the page without page code."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import cv2
import yaml

from swaplib.config.merge import MERGE
from swaplib.core.errors import SwaplibError
from swaplib.core.merging import deep_merge
from swaplib.merge.preview import FramePreview
from swaplib.merge.settings import (
    MergeSettings,
    append_overrides,
    merge_settings,
    read_overrides,
    settings_for,
)
from swaplib.one_pair import SETTINGS, workflow_root
from swaplib.sheet import load_sheet
from swaplib.video.results import result_name

PER_FRAME = tuple(s.name for s in MERGE.settings if s.per_frame)


def declarations() -> list[dict]:
    """Every merge setting as the page builds its control: name, default, values (a JSON-schema
    fragment), meaning, whether a frame range may change it."""
    return [{"name": s.name, "default": s.default, "schema": s.schema, "meaning": " ".join(s.meaning.split("\n")),
             "per_frame": s.per_frame} for s in MERGE.settings if s.role != "location"]


class Merger:
    """The merges of one workflow folder: its pairs, their settings, their frames, their renders."""

    def __init__(self, folder):
        self.folder, self.root = folder, folder.root
        self._previews: dict[str, FramePreview] = {}
        self._pairs: tuple | None = None  # (what it was read from, the pairs)
        self._config: tuple | None = None  # (the files' times, the config)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ what the folder says

    def config(self) -> dict:
        """The workflow's config as a run in this folder sees it: the checkout's config.yaml, or the
        installation's with a `swaplib swap` folder's swap.yaml over it."""
        if (self.root / "Snakefile").is_file():
            files = [self.root / "config.yaml"]
        else:
            files = [workflow_root() / "config.yaml", self.root / SETTINGS]
        stamp = tuple((str(path), path.stat().st_mtime_ns if path.is_file() else 0) for path in files)
        if self._config and self._config[0] == stamp:  # YAML is slow to read: again only when a file changed
            return self._config[1]
        config: dict = {}
        for path in files:
            if path.is_file():
                config = deep_merge(config, yaml.safe_load(path.read_text()) or {})
        self._config = (stamp, config)
        return config

    def pairs(self) -> list[dict]:
        """The sheet's pairs, each with its destination's frame numbers and whether it can be drawn
        (read again when the sheet, the frames or the models change)."""
        sheet_path = self.root / self.config().get("pairs", "pairs.tsv")
        results = self.root / "results"
        stamp = tuple(p.stat().st_mtime_ns if p.exists() else 0
                      for p in (sheet_path, results / "videos", results / "models"))
        if self._pairs and self._pairs[0] == stamp:
            return self._pairs[1]
        self._pairs = (stamp, self._read_pairs(sheet_path))
        return self._pairs[1]

    def _read_pairs(self, sheet_path: Path) -> list[dict]:
        sheet = load_sheet(sheet_path, workflow_root() / "workflow" / "schemas" / "pairs.schema.yaml",
                           check_videos=False)
        out = []
        for pair in sheet.pairs.to_dict("records"):
            frames = self.root / "results" / "videos" / pair["destination_video"] / "frames"
            model = self.root / "results" / "models" / pair["model"] / "model.safetensors"
            numbers = sorted(int(p.stem) for p in frames.glob("*.*") if p.stem.isdigit()) if frames.is_dir() else []
            photos = (self.root / pair["destination"]).is_dir()  # a photo folder: the result is photos
            out.append({"pair": pair["pair"], "destination": pair["destination_video"], "model": pair["model"],
                        "first": numbers[0] if numbers else None, "last": numbers[-1] if numbers else None,
                        "ready": bool(numbers) and model.is_file(), "result": result_name(pair["pair"], photos)})
        return out

    def _pair(self, name: str) -> dict:
        for pair in self.pairs():
            if pair["pair"] == name:
                if not pair["ready"]:
                    raise SwaplibError(f"pair {name}: its destination's frames and its model are not made yet; "
                                       f"run the workflow first")
                return pair
        raise SwaplibError(f"no pair named {name!r} in the sheet")

    def base(self) -> MergeSettings:
        return merge_settings(dict(self.config().get("merge") or {}))

    def overrides_sheet(self, pair: str) -> Path:
        return self.root / self.base().overrides_dir / f"{pair}.tsv"

    def settings_at(self, pair: str, frame: int) -> dict:
        """The merge settings of a frame (the section, then the overrides sheet's rows for it)."""
        p = self._pair(pair)
        base, sheet = self.base(), self.overrides_sheet(pair)
        rules = read_overrides(sheet, base) if sheet.is_file() else []
        frames = self.root / "results" / "videos" / p["destination"] / "frames"
        image = next(iter(sorted(frames.glob(f"{frame:06d}.*"))), None)
        return {"settings": dataclasses.asdict(settings_for(frame, base, rules)),
                "rows": [dataclasses.asdict(rule) for rule in rules], "sheet": str(sheet.relative_to(self.root)),
                "frame_file": str(image.relative_to(self.root)) if image else None}

    # ------------------------------------------------------------------ drawing

    def preview(self, pair: str) -> FramePreview:
        with self._lock:
            if pair not in self._previews:
                p = self._pair(pair)
                video = self.root / "results" / "videos" / p["destination"]
                xseg = self.root / "results" / "xseg" / str(self.config().get("xseg", {}).get("name", "faces"))
                self._previews[pair] = FramePreview(
                    video / "frames", video / "faces.parquet",
                    self.root / "results" / "models" / p["model"] / "model.safetensors",
                    precision=self.base().precision,
                    xseg_model=(xseg / "model.safetensors") if (xseg / "model.safetensors").is_file() else None)
            return self._previews[pair]

    def draw(self, pair: str, frame: int, changes: dict) -> bytes:
        """Frame `frame` of the pair merged with its settings there and `changes` over them, as PNG."""
        unknown = sorted(set(changes) - set(PER_FRAME))
        if unknown:
            raise SwaplibError(f"not settings a frame may change: {', '.join(unknown)}; "
                               f"those are {', '.join(PER_FRAME)}")
        current = MergeSettings(**self.settings_at(pair, frame)["settings"])
        image = self.preview(pair).draw(frame, dataclasses.replace(current, **changes))
        ok, png = cv2.imencode(".png", image)
        if not ok:
            raise SwaplibError(f"frame {frame} of {pair}: could not encode it")
        return png.tobytes()

    def apply(self, pair: str, first: int, last: int, changes: dict) -> Path:
        """Rows of the pair's overrides sheet: `changes` for frames first..last. The sheet written."""
        p = self._pair(pair)
        if not changes:
            raise SwaplibError("no setting changed: nothing to save")
        if not (isinstance(first, int) and isinstance(last, int) and p["first"] <= first <= last <= p["last"]):
            raise SwaplibError(f"frames {first}..{last}: the range must lie within {p['first']}..{p['last']}")
        sheet = self.overrides_sheet(pair)
        append_overrides(sheet, [(first, last, name, value) for name, value in sorted(changes.items())], self.base())
        return sheet

    # ------------------------------------------------------------------ rendering

    def render(self, pair: str) -> dict:
        """Run the workflow for the pair's result (its merge, then its video or its swapped photos), in
        the background."""
        return self.folder.start(f"results/pairs/{self._pair(pair)['result']}", f"render {pair}")
