"""The GPU path: training on CUDA in bf16 autocast with channels_last, the model it writes used on
a CPU, and batches through pinned memory. Skipped where torch sees no CUDA device; bench/gpu_check.sh
runs them on a lent GPU machine."""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np
import pytest
import torch

from swaplib.model import load_model, swap_faces
from swaplib.train import resolve, train
from swaplib.train.data import Augmentation, Batches, BatchLoader, FaceData

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason=f"no CUDA device: torch {torch.__version__} sees no GPU (the CUDA build on a GPU machine runs these)",
)

R = 64  # the tiny preset's resolution


def _faces(name: str, skin: tuple[int, int, int], n: int = 8, seed: int = 0) -> FaceData:
    """n crops of a skin-coloured ellipse with dark eyes on a noisy background, with hull masks."""
    rng = np.random.default_rng(seed)
    faces = rng.integers(0, 60, (n, R, R, 3), dtype=np.uint8)
    masks = np.zeros((n, R, R), np.uint8)
    for i in range(n):
        c = (R // 2 + int(rng.integers(-3, 4)), R // 2 + int(rng.integers(-3, 4)))
        cv2.ellipse(faces[i], c, (R // 3, R * 2 // 5), 0, 0, 360, skin, -1)
        cv2.ellipse(masks[i], c, (R // 3, R * 2 // 5), 0, 0, 360, 255, -1)
        for dx in (-R // 7, R // 7):
            cv2.circle(faces[i], (c[0] + dx, c[1] - R // 10), R // 16, (20, 30, 40), -1)
    return FaceData(name, faces, masks, ids=[str(i) for i in range(n)])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A few steps of the tiny preset on CUDA, precision auto, channels_last left to the trainer."""
    out = tmp_path_factory.mktemp("cuda-train")
    cfg, settings = resolve("tiny", iterations=6, batch_size=4, save_every=0, device="cuda", precision="auto",
                            progress="off")
    log = logging.getLogger("test_cuda")
    records: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: records.append(record.getMessage())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        summary = train(_faces("src", (120, 160, 220), seed=1), _faces("dst", (80, 110, 150), seed=2), cfg, settings,
                        state_dir=out / "state", model_path=out / "model.safetensors",
                        preview_path=out / "preview.jpg", history_path=out / "history.csv",
                        plot_path=out / "loss.png", log=log)
    finally:
        log.removeHandler(handler)
    return {"out": out, "summary": summary, "log": "\n".join(records)}


def test_training_on_cuda_in_autocast_gives_finite_losses(trained):
    summary = trained["summary"]
    assert summary["device"].startswith("cuda")
    assert summary["iterations"] == 6 and summary["rollbacks"] == 0
    assert math.isfinite(summary["losses"]["src"]) and math.isfinite(summary["losses"]["dst"])
    # auto on a GPU: bf16 where it has it (fp16 on older ones), and channels_last
    amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    assert f"{amp} autocast, channels_last" in trained["log"]


def test_model_trained_on_cuda_loads_there(trained):
    model, header = load_model(trained["out"] / "model.safetensors", "cuda")
    assert header["iterations"] == 6
    assert all(p.device.type == "cuda" and torch.isfinite(p).all() for p in model.parameters())


def test_model_trained_on_cuda_swaps_on_cpu(trained):
    model, _ = load_model(trained["out"] / "model.safetensors", "cpu")
    assert all(p.device.type == "cpu" for p in model.parameters())
    dst = _faces("dst", (80, 110, 150), n=3, seed=3).faces
    swapped, masks = swap_faces(model, dst, "cpu")
    assert swapped.shape == dst.shape and swapped.dtype == np.uint8
    assert masks.shape == dst.shape[:3] and np.isfinite(masks).all()
    assert not np.array_equal(swapped, dst)  # the model drew faces, it did not pass them through


def test_batch_loader_batches_through_pinned_memory():
    src, dst = _faces("src", (120, 160, 220), seed=1), _faces("dst", (80, 110, 150), seed=2)
    batches = Batches(src, dst, 4, seed=5, aug=Augmentation(), with_masks=True)
    with BatchLoader(batches, workers=2) as loader:
        made = [loader.get(i) for i in range(3)]
    for i, batch in enumerate(made):
        for key, array in batch.items():
            pinned = torch.from_numpy(array).pin_memory()
            assert pinned.is_pinned()
            on_gpu = pinned.to("cuda", non_blocking=True)
            torch.cuda.synchronize()
            # made in a background thread, copied asynchronously: still batch i, bit for bit
            assert torch.equal(on_gpu.cpu(), torch.from_numpy(batches.batch(i)[key])), key
