"""The face-alignment backend (what DeepFaceLab uses): S3FD boxes and 2DFAN4 landmarks, in torch.

The package downloads its weights into $TORCH_HOME/hub/checkpoints/ on first use. Machines
without internet need the two files put there (or in the folder named by extract.fan_weights);
when one is missing and cannot be fetched, the run stops naming the file and where it goes.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import cv2
import numpy as np

from swaplib.core.errors import SwaplibError

FAN_WEIGHTS = "2DFAN4-11f355bf06.pth.tar"
S3FD_WEIGHTS = "s3fd-619a316812.pth"
WEIGHTS_URL = "https://www.adrianbulat.com/downloads/python-fan/"


def weights_folder(configured: str | Path | None = None) -> Path:
    """The folder the weights are read from: the configured one, else torch hub's checkpoints."""
    if configured:
        return Path(configured).expanduser()
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_file(name: str, folder: Path, download: bool = True) -> Path:
    """folder/name, fetched from the package's server when missing and `download` is on."""
    path = folder / name
    if path.is_file():
        return path
    url = WEIGHTS_URL + name
    reason = "downloads are off"
    if download:
        import torch

        try:
            folder.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(path), progress=False)  # writes a temp file, then renames
            return path
        except Exception as err:  # no network, proxy, HTTP error, full disk: all end the same way
            reason = f"could not be downloaded from {url} ({type(err).__name__}: {err})"
    raise SwaplibError(
        f"{path}: face-alignment weights missing and {reason}. Download {url} on a machine with "
        f"internet and put it at {path} (or set extract.fan_weights to the folder that holds it)"
    )


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _prepare_torch() -> None:
    import torch

    # Near-zero activations (random or badly scaled weights) otherwise run ~20x slower on a CPU.
    torch.set_flush_denormal(True)


class S3fdFinder:
    """S3FD (single-shot scale-invariant face detector): robust to pose, occlusion and faces
    down to ~16 px; slow on a CPU (a VGG-16 pass over the whole frame)."""

    name = "fan"
    default_min_score = 0.5  # face-alignment's own threshold
    uses_torch = True

    def __init__(self, weights: Path, device: str = "cpu"):
        _prepare_torch()
        from face_alignment.detection.sfd.sfd_detector import SFDDetector

        try:
            # filter_threshold 0: the score threshold is the Detector's (extract.min_score).
            self._model = SFDDetector(device, path_to_detector=str(weights), filter_threshold=0.0)
        except Exception as err:  # truncated file, wrong keys or shapes: some other file
            raise SwaplibError(f"{weights}: not readable S3FD weights ({type(err).__name__}: {err}); "
                               "delete it and fetch it again") from None

    def find(self, rgb, upsample, min_score):
        factor = 2**upsample
        image = rgb if factor == 1 else cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
        found = np.asarray(self._model.detect_from_image(image), np.float64).reshape(-1, 5)
        found = found[found[:, 4] >= min_score]
        return found[:, :4] / factor, found[:, 4]


@functools.cache
def _fan_class():
    """face_alignment.FaceAlignment reading 2DFAN4 from a given file instead of torch hub's folder."""
    import face_alignment

    class FanFromFile(face_alignment.FaceAlignment):
        def __init__(self, weights: Path, **options):
            self._weights = weights
            super().__init__(**options)

        def _load_native(self, network_name, network_size, device, dtype):
            import torch

            net = face_alignment.models.FAN(network_size)
            try:
                net.load_state_dict(torch.load(self._weights, map_location="cpu", weights_only=True))
            except Exception as err:  # truncated file, wrong keys or shapes: some other file
                raise SwaplibError(f"{self._weights}: not readable 2DFAN4 weights ({type(err).__name__}: "
                                   f"{err}); delete it and fetch it again") from None
            return net.to(device, dtype=dtype).eval()

    return FanFromFile


class FanLandmarker:
    """2DFAN4 heatmap landmarks (the stacked-hourglass network DFL extracts with), averaged with
    the mirrored face's; ~0.3 s per face on a CPU."""

    name = "fan"
    uses_torch = True

    def __init__(self, weights: Path, device: str = "cpu", flip: bool = True):
        """flip: also run the mirrored face and average (DFL does; twice the time)."""
        _prepare_torch()
        import face_alignment

        # Boxes come from our own finder, so face-alignment's "folder" detector (no weights) stands in.
        # compile=False: compiling took ~2 min on a CPU for no gain.
        self._model = _fan_class()(
            weights, landmarks_type=face_alignment.LandmarksType.TWO_D, device=device,
            face_detector="folder", flip_input=flip, compile=False,
        )

    def fit(self, rgb, boxes):
        detected = [np.r_[np.asarray(box, np.float64), 1.0] for box in boxes]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # it warns on every call about things we pass on purpose
            points = self._model.get_landmarks_from_image(rgb, detected_faces=detected)
        return np.stack([np.asarray(p, np.float32)[:, :2] for p in points])


def fan_parts(
    detector: bool,
    landmarks: bool,
    *,
    weights: str | Path | None = None,
    device: str = "auto",
    download: bool = True,
    flip: bool = True,
) -> tuple[S3fdFinder | None, FanLandmarker | None]:
    """The S3FD finder and/or the FAN landmarker, their weights checked (and fetched) first."""
    folder = weights_folder(weights)
    device = _device(device)
    # Both files are checked before either network is built, so one message names what is missing.
    s3fd_path = weights_file(S3FD_WEIGHTS, folder, download) if detector else None
    fan_path = weights_file(FAN_WEIGHTS, folder, download) if landmarks else None
    finder = S3fdFinder(s3fd_path, device) if detector else None
    landmarker = FanLandmarker(fan_path, device, flip) if landmarks else None
    return finder, landmarker


def save_random_weights(folder: str | Path, seed: int = 0) -> list[Path]:
    """Randomly initialised S3FD and 2DFAN4 weights saved under the real file names in folder.

    For tests and speed measurements where the real files cannot be had: they load and run like
    the real ones (same format, same networks) but find nothing meaningful.
    """
    import torch
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    paths = [folder / S3FD_WEIGHTS, folder / FAN_WEIGHTS]
    for path, net in zip(paths, (s3fd(), FAN(4))):
        torch.save(net.state_dict(), path)
    return paths
