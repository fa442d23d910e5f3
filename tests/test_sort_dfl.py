"""DeepFaceLab's sorts under DFL's names, each on a case small enough to work out by hand: blur
(CPBD), motion-blur, final and final-fast, absdiff and absdiff-dissimilar, oneface."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from swaplib.extract.detect.backends import make_detector
from swaplib.extract.stage import extract_faces
from swaplib.sort.cpbd import cpbd, edge_widths
from swaplib.sort.curation import Curation
from swaplib.sort.final import YAW_BINS, YAW_LIMIT, bins, quota
from swaplib.sort.orders import ORDERS
from swaplib.sort.scores import HIST_BINS, Features
from swaplib.sort.select import select_faces
from swaplib.sort.settings import SortSettings
from swaplib.sort.stage import build_faceset

OFF = {"min_face_px": 0, "blur_keep": 1.0, "duplicate": 0}


# ---------------------------------------------------------------- CPBD


def edge_image(ramp_px: int, low: int = 50, high: int = 200) -> np.ndarray:
    """128 x 128 grey: `low` on the left, `high` on the right, a straight ramp of ramp_px between."""
    x = np.arange(128, dtype=np.float64)
    row = np.clip((x - 64) / max(ramp_px, 1), 0, 1) * (high - low) + low
    return np.tile(np.round(row), (128, 1)).astype(np.uint8)


def test_cpbd_counts_the_edges_no_wider_than_the_just_noticeable_width():
    # Contrast 150 (above 50 grey levels): the JNB width is 3 px. A step measures 2 px and a 3 px
    # ramp 3 (P = 63%, the JNB point): sharp. A 4 px ramp is wider: blurred, and so is a 12 px one.
    assert cpbd(edge_image(1)) == 1.0 and cpbd(edge_image(3)) == 1.0
    assert cpbd(edge_image(4)) == 0.0 and cpbd(edge_image(12)) == 0.0
    # Contrast 50: the JNB width is 5 px, so the same 4 px ramp looks sharp.
    assert cpbd(edge_image(4, 40, 90)) == 1.0
    # Nothing with an edge: no edge blocks, nothing measured, nothing sharp.
    assert cpbd(np.full((128, 128), 90, np.uint8)) == 0.0
    # The mask: only the wide ramp's half counts when the step lies outside it.
    both = np.hstack([edge_image(1), edge_image(12)])
    right = np.zeros(both.shape, np.uint8)
    right[:, 128:] = 1
    assert 0 < cpbd(both) < 1 and cpbd(both, right) == 0.0


@pytest.fixture(scope="module")
def copies(tmp_path_factory, photo):
    """A photo's face as frame 0, the photo Gaussian-blurred (frame 1) and smeared by a 9 px
    horizontal motion (frame 2): three 256 px crops of the same face."""
    root = tmp_path_factory.mktemp("copies")
    frames = root / "frames"
    frames.mkdir()
    image = cv2.imread(str(photo("fr_obama")))
    edits = [image, cv2.GaussianBlur(image, (0, 0), 1.5), cv2.filter2D(image, -1, np.full((1, 9), 1 / 9))]
    for number, frame in enumerate(edits):
        cv2.imwrite(str(frames / f"{number:06d}.png"), frame)
    extract_faces(frames, root / "faces", root / "faces.parquet", detector=make_detector("dlib", upsample=0),
                  size=256, face_type="whole_face")
    return root


def ordered_frames(root, order: str, **options) -> tuple[list[int], pd.DataFrame]:
    faceset = build_faceset(root / "faces.parquet", root / "faces", root / f"{order}.parquet", order=order,
                            **{**OFF, **options})
    return list(faceset[faceset["selected"]].sort_values("rank")["frame"]), faceset


def test_edge_widths_are_marziliano_s_walks(copies):
    """The vectorised widths equal a plain walk from each edge pixel's neighbours to the extrema
    on either side, along the axis its gradient runs on (a real crop: thousands of edges)."""
    grey = cv2.imread(str(copies / "faces" / "000000_0.png"), cv2.IMREAD_GRAYSCALE)
    rows, cols = np.nonzero(cv2.Canny(grey, 50, 100))
    level = grey.astype(np.float32)
    gx, gy = cv2.Sobel(level, cv2.CV_32F, 1, 0), cv2.Sobel(level, cv2.CV_32F, 0, 1)

    def walk(line: np.ndarray, at: int, rising: bool) -> int:
        moves = np.diff(line) * (1 if rising else -1) > 0  # moves[k]: line[k] -> line[k + 1]
        left, right = at - 2, at + 1
        while left >= 0 and moves[left]:
            left -= 1
        while right < len(moves) and moves[right]:
            right += 1
        return 2 + (at - 2 - left) + (right - at - 1)

    expected = []
    for r, c in zip(rows, cols):
        diagonal = min(abs(gx[r, c]), abs(gy[r, c])) > np.tan(np.pi / 8) * max(abs(gx[r, c]), abs(gy[r, c]))
        if diagonal or not (0 < r < grey.shape[0] - 1 and 0 < c < grey.shape[1] - 1):
            expected.append(0)
        elif abs(gy[r, c]) <= abs(gx[r, c]):
            expected.append(walk(level[r], c, gx[r, c] > 0))
        else:
            expected.append(walk(level[:, c], r, gy[r, c] > 0))
    assert len(rows) > 1000 and list(edge_widths(grey, rows, cols)) == expected


def test_blur_orders_the_blurred_copies_after_the_sharp_face(copies):
    frames, faceset = ordered_frames(copies, "blur")
    assert len(faceset) == 3 and frames[0] == 0
    sharp, blurred, smeared = faceset.sort_values("frame")["cpbd"]
    assert sharp > 1.5 * max(blurred, smeared)
    assert (faceset["order_score"] == faceset["cpbd"]).all()


def test_motion_blur_orders_the_smeared_copy_after_the_sharp_face(copies):
    frames, faceset = ordered_frames(copies, "motion-blur")
    assert frames.index(0) < frames.index(2)
    coarse = faceset.set_index("frame")["coarse_sharpness"]
    assert coarse[0] > 1.2 * coarse[2]


# ---------------------------------------------------------------- final


def bin_centres_degrees() -> np.ndarray:
    """A yaw (degrees) inside each of final's YAW_BINS bins, the last one beyond +YAW_LIMIT."""
    step = 2 * YAW_LIMIT / (YAW_BINS - 1)
    radians = -YAW_LIMIT + (np.arange(YAW_BINS) + 0.5) * step
    radians[-1] = YAW_LIMIT + 0.05
    return np.degrees(radians)


def face_set(yaw, sharpness, hist=None, pitch=None, one_face=None):
    """faces, scores and features of a made-up face set (only what final and oneface read varies)."""
    n = len(yaw)
    faces = pd.DataFrame({"face_id": [f"{i:06d}_0" for i in range(n)], "frame": range(n), "index": 0})
    scores = pd.DataFrame({
        "yaw": yaw, "pitch": 0.0 if pitch is None else pitch, "cpbd": sharpness, "face_px": sharpness,
        "blur": sharpness, "coarse_sharpness": 1.0, "one_face": True if one_face is None else one_face,
        "identity": np.nan, "motion_blur": 0.0, "brightness": 100.0, "hue": 10.0, "black": 0.0, "distance": 0.0,
        "roll": 0.0,
    })
    if hist is None:
        hist = np.full((n, 3 * HIST_BINS), 1 / HIST_BINS, np.float32)
    features = Features(np.asarray(hist, np.float32), np.zeros((n, 256), np.float32), np.zeros((n, 68, 2)))
    return faces, scores, features


def test_final_bins_match_dfl_s_edges():
    edges = np.linspace(-YAW_LIMIT, YAW_LIMIT, YAW_BINS)
    assert list(bins(edges[:3], YAW_LIMIT, YAW_BINS)) == [0, 1, 2]
    assert list(bins(np.array([-3.0, edges[1] - 1e-6, YAW_LIMIT, 3.0]), YAW_LIMIT, YAW_BINS)) == [0, 0, 127, 127]
    assert list(bins(np.radians(bin_centres_degrees()), YAW_LIMIT, YAW_BINS)) == list(range(YAW_BINS))
    # DFL's quota: the target over 128 bins, plus what the short bins lack shared again, at least 1.
    full = np.repeat(np.arange(YAW_BINS), 3)
    assert quota(full, 256) == 2 and quota(full, 50) == 1
    four = np.repeat([10, 40, 70, 100], 50)
    assert quota(four, 1280) == 10 + (124 * 10) // 128


def test_final_keeps_the_target_two_per_yaw_bin_the_most_varied_first():
    """Three faces in each of the 128 yaw bins, two with the same colours and one apart; a target
    of 256 is DFL's quota of 2 per bin: the one apart and the first of the look-alikes."""
    yaw = np.repeat(bin_centres_degrees(), 3)
    plain = np.full(3 * HIST_BINS, 1 / HIST_BINS)
    apart = np.zeros(3 * HIST_BINS)
    apart[[0, HIST_BINS, 2 * HIST_BINS]] = 1
    hist = np.tile([plain, plain, apart], (YAW_BINS, 1))
    faces, scores, features = face_set(yaw, np.tile([3.0, 2.0, 1.0], YAW_BINS), hist)
    decision = select_faces(faces, scores, features, SortSettings(**OFF, order="final", max_faces=256))
    assert decision["selected"].sum() == 256
    role = np.tile(["first alike", "second alike", "apart"], YAW_BINS)
    assert set(role[decision["selected"]]) == {"first alike", "apart"}
    assert set(decision.loc[role == "second alike", "reason"]) == {"over max_faces"}
    # Every prefix is spread: the first 128 are one face from every bin, the ones apart.
    first = decision["rank"].between(0, 127).to_numpy()
    assert (role[first] == "apart").all()
    assert sorted(bins(np.radians(yaw[first]), YAW_LIMIT, YAW_BINS)) == list(range(YAW_BINS))


def test_final_returns_exactly_the_target_where_dfl_falls_short():
    """Four yaw bins of 50 faces. Target 40: DFL's quota rounds to 0 (it would keep nothing); here
    each bin gives its 10 sharpest. Target 100: DFL's quota is 1 (it would keep 4); here each bin
    gives its 25 sharpest."""
    yaw = np.repeat([-30.0, -5.0, 5.0, 30.0], 50)
    sharpness = np.random.default_rng(3).permutation(200).astype(float)
    faces, scores, features = face_set(yaw, sharpness)
    for target, per_bin in ((40, 10), (100, 25)):
        for order, key in (("final", "cpbd"), ("final-fast", "face_px")):
            decision = select_faces(faces, scores, features, SortSettings(**OFF, order=order, max_faces=target))
            chosen = decision["selected"].to_numpy()
            assert chosen.sum() == target
            for angle in (-30.0, -5.0, 5.0, 30.0):
                here = yaw == angle
                assert (chosen & here).sum() == per_bin
                assert scores.loc[chosen & here, key].min() > scores.loc[~chosen & here, key].max()


def test_final_keeps_included_faces_and_orders_everyone_without_a_cap():
    yaw = np.repeat([-5.0, 5.0], 4)
    faces, scores, features = face_set(yaw, [8.0, 7, 6, 5, 4, 3, 2, 1])
    curation = Curation(actions={"000003_0": "include"})
    decision = select_faces(faces, scores, features, SortSettings(**OFF, order="final", max_faces=3),
                            curation=curation)
    assert decision["selected"].sum() == 3 and decision.loc[3, "selected"]
    assert set(np.flatnonzero(decision["selected"])) == {0, 3, 4}  # the include, and each bin's sharpest
    decision = select_faces(faces, scores, features, SortSettings(**OFF, order="final"))
    assert decision["selected"].all() and sorted(decision["rank"]) == list(range(8))


# ---------------------------------------------------------------- absdiff


def test_absdiff_chains_similar_or_dissimilar_crops_from_the_first():
    """Flat grey crops of 0, 100, 10, 90 and 50: their differences are those of the levels."""
    levels = [0, 100, 10, 90, 50]
    crops = np.stack([np.full((8, 8, 3), level, np.uint8) for level in levels])
    faces, scores, features = face_set([0.0] * 5, [1.0] * 5)
    features = Features(features.hist, features.tiny, features.aligned, crops)
    table = pd.concat([faces, scores], axis=1)
    positions, steps = ORDERS["absdiff"].sort(table, features)
    assert list(positions) == [0, 2, 4, 3, 1] and list(steps) == [0, 10, 40, 40, 10]
    positions, steps = ORDERS["absdiff-dissimilar"].sort(table, features)
    assert list(positions) == [0, 1, 2, 3, 4] and list(steps) == [0, 100, 90, 80, 40]


# ---------------------------------------------------------------- oneface


def test_oneface_leaves_out_every_face_of_a_frame_with_several():
    faces, scores, features = face_set([0.0] * 5, [5.0, 4, 3, 2, 1], one_face=[True, False, False, True, True])
    faces["frame"] = [0, 1, 1, 2, 3]
    faces["index"] = [0, 0, 1, 0, 0]
    decision = select_faces(faces, scores, features, SortSettings(**OFF, order="oneface"))
    assert list(decision["reason"]) == ["", "several faces", "several faces", "", ""]
    assert list(decision["rank"]) == [0, -1, -1, 1, 2]  # the rest in frame order
    # A person's include beats it; other orders leave nobody out for it.
    curation = Curation(actions={"000002_0": "include"})
    decision = select_faces(faces, scores, features, SortSettings(**OFF, order="oneface"), curation=curation)
    assert list(decision["selected"]) == [True, False, True, True, True]
    decision = select_faces(faces, scores, features, SortSettings(**OFF, order="alone-first"))
    assert decision["selected"].all() and list(decision["rank"]) == [0, 3, 4, 1, 2]


def test_oneface_on_real_photos(tmp_path, photo):
    """Two people in the first photo, one in the second: the first photo's face goes, as DFL
    moves out every face of a frame where several were found (extraction may keep only one)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for number, name in enumerate(["fr_two_people", "fr_obama"]):
        cv2.imwrite(str(frames / f"{number:06d}.png"), cv2.imread(str(photo(name))))
    extract_faces(frames, tmp_path / "faces", tmp_path / "faces.parquet", detector=make_detector("dlib", upsample=0),
                  size=96, face_type="whole_face", photos=True)
    frames, faceset = ordered_frames(tmp_path, "oneface")
    assert frames == [1]
    assert set(faceset.loc[faceset["frame"] == 0, "reason"]) == {"several faces"}
