"""Face detection, cropping and alignment (skfer.faces and its transformers).

Always-run tests use synthetic images, an injected detector for the crop
geometry, and scikit-image's bundled astronaut portrait (loaded from the
installed package at test time) as one real face. Tests on the real photos
of ``$SKFER_DATA/faces`` skip without ``SKFER_DATA``.
"""

import json
import math
import pickle
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from conftest import data_path
from sklearn.base import clone

from skfer import faces as _faces
from skfer._image import read_image, to_gray_uint8
from skfer.faces import Detections, HaarDetector, box_iou, match_boxes, square_crop
from skfer.faces import suppress_boxes as _suppress_indices
from skfer.preprocessing import FaceAligner, FaceCropper, detect_faces

_box_iou = box_iou
_square_crop = square_crop


def _suppress(boxes, scores):
    return np.asarray(boxes)[_suppress_indices(boxes, scores)]


def _match_boxes(truth, detected, iou_threshold=0.3):
    """``(n_matched, n_unmatched_detected)`` from :func:`skfer.faces.match_boxes`."""
    pairs = match_boxes(truth, detected, iou_threshold)
    return len(pairs), len(detected) - len(pairs)


@pytest.fixture(scope="module")
def astronaut():
    data = pytest.importorskip("skimage.data")
    return data.astronaut()  # (512, 512, 3) uint8, one frontal face


# The astronaut's face lies roughly in this box (x, y, w, h).
ASTRONAUT_FACE = (177, 66, 97, 97)


def _inject_boxes(monkeypatch, boxes_for):
    """Make FaceCropper's detector return ``boxes_for(gray)`` boxes."""

    def fake(self, image):
        boxes = np.asarray(boxes_for(to_gray_uint8(image)), dtype=np.int64).reshape(-1, 4)
        return Detections(boxes, np.ones(len(boxes)), None)

    monkeypatch.setattr(HaarDetector, "detect", fake)


# --------------------------------------------------------------------------
# detect_faces
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((120, 160, 3), np.uint8),
        np.full((50, 40), 200, np.uint8),
        np.zeros((30, 30, 4), np.float32),
        np.ones((5, 7, 1), np.float64),
        np.zeros((1, 1), bool),
    ],
)
def test_detect_faces_blank_is_empty(image):
    boxes = detect_faces(image)
    assert boxes.shape == (0, 4)
    assert np.issubdtype(boxes.dtype, np.integer)


def test_detect_faces_astronaut(astronaut):
    boxes = detect_faces(astronaut)
    assert boxes.shape == (1, 4)
    assert _box_iou(tuple(boxes[0]), ASTRONAUT_FACE) > 0.6


def test_detect_faces_input_forms_agree(astronaut, tmp_path):
    ref = detect_faces(astronaut)
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    for image in (
        grey,
        grey[:, :, None],
        rgba,
        astronaut.astype(np.float32) / 255.0,
        astronaut.astype(np.float64),
        str(path),
        path,
    ):
        np.testing.assert_array_equal(detect_faces(image), ref)


def test_detect_faces_maps_boxes_back_from_downscaled_copy(astronaut):
    big = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_LINEAR)
    boxes = detect_faces(big, max_side=512)
    assert boxes.shape == (1, 4)
    expected = tuple(2 * v for v in ASTRONAUT_FACE)
    assert _box_iou(tuple(boxes[0]), expected) > 0.6
    full = detect_faces(big, max_side=None)
    assert _box_iou(tuple(full[0]), tuple(boxes[0])) > 0.6


def test_detect_faces_min_size_int_and_fraction(astronaut):
    assert len(detect_faces(astronaut, min_size=40)) == 1
    assert len(detect_faces(astronaut, min_size=0.1)) == 1
    # The face is about 97 px: asking for faces of at least 200 px finds none.
    assert detect_faces(astronaut, min_size=200).shape == (0, 4)
    assert detect_faces(astronaut, min_size=0.4).shape == (0, 4)


def test_detect_faces_merged_cascades(astronaut):
    boxes = detect_faces(astronaut, cascade=["alt2", "default"])
    assert boxes.shape == (1, 4)  # the two cascades' duplicates merged
    assert _box_iou(tuple(boxes[0]), ASTRONAUT_FACE) > 0.5


def test_detect_faces_custom_cascade_path(astronaut):
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    np.testing.assert_array_equal(
        detect_faces(astronaut, cascade=path),
        detect_faces(astronaut, cascade="default"),
    )


class _FakeCascade:
    def __init__(self, boxes, scores):
        self.boxes, self.scores = boxes, scores
        self.calls = []

    def detectMultiScale2(self, image, **kwargs):
        self.calls.append((image.shape, kwargs))
        return np.asarray(self.boxes).reshape(-1, 4), np.asarray(self.scores)


def test_detect_faces_sorts_scales_and_clips(monkeypatch):
    # Detection runs on a copy at half size; boxes come back doubled, sorted
    # by area, clipped to the image, with the nested one dropped.
    fake = _FakeCascade(
        [[10, 10, 20, 20], [100, 40, 50, 50], [105, 45, 10, 10], [150, 80, 60, 60]],
        [5, 5, 9, 5],
    )
    monkeypatch.setattr(_faces, "get_cascade", lambda name: fake)
    image = np.zeros((200, 400), np.uint8)
    boxes = detect_faces(image, max_side=200, min_size=40)
    ((shape, kwargs),) = fake.calls
    assert shape == (100, 200)
    assert kwargs["minSize"] == (20, 20)  # 40 px in the original = 20 in the copy
    # (150, 80, 60, 60) doubled leaves the 400 x 200 image: clipped to 100 x 40.
    np.testing.assert_array_equal(
        boxes, [[200, 80, 100, 100], [300, 160, 100, 40], [20, 20, 40, 40]]
    )


def test_detect_faces_thread_safe(astronaut):
    ref = detect_faces(astronaut)
    images = [astronaut] * 4
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(detect_faces, images))
    for r in results:
        np.testing.assert_array_equal(r, ref)


@pytest.mark.parametrize(
    "image, match",
    [
        (None, "image is None"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((10, 0)), "empty"),
        (np.full((10, 10), np.nan), "NaN or infinite"),
        (np.array([[0.0, np.inf]]), "NaN or infinite"),
        (np.zeros((10, 10, 2), np.uint8), "expected one image"),
        (np.zeros((2, 10, 10, 3), np.uint8), "expected one image"),
        (np.zeros(10, np.uint8), "expected one image"),
        (np.array([["a", "b"]]), "real numbers"),
        (np.empty((3, 3), object), "real numbers"),
        (np.zeros((4, 4), complex), "real numbers"),
    ],
)
def test_detect_faces_bad_image(image, match):
    with pytest.raises(ValueError, match=match):
        detect_faces(image)


def test_detect_faces_bad_file(tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="Could not read image file"):
        detect_faces(bad)
    with pytest.raises(FileNotFoundError):
        detect_faces(tmp_path / "missing.jpg")


@pytest.mark.parametrize(
    "params, match",
    [
        ({"scale_factor": 1.0}, "scale_factor must be a number > 1"),
        ({"scale_factor": "1.1"}, "scale_factor"),
        ({"min_neighbors": -1}, "min_neighbors must be an int >= 0"),
        ({"min_neighbors": 2.5}, "min_neighbors"),
        ({"min_size": 0}, "min_size must be"),
        ({"min_size": 1.5}, "min_size must be"),
        ({"min_size": True}, "min_size must be"),
        ({"max_side": 10}, "max_side must be None or an int >= 24"),
        ({"cascade": "nope"}, "cascade must be one of"),
        ({"cascade": "eye"}, "detects eyes"),
        ({"cascade": []}, "non-empty list"),
        ({"cascade": "/no/such/cascade.xml"}, "Cascade file not found"),
    ],
)
def test_detect_faces_bad_params(params, match):
    with pytest.raises(ValueError, match=match):
        detect_faces(np.zeros((32, 32), np.uint8), **params)


def test_suppress_and_match_helpers():
    boxes = np.array(
        [[0, 0, 100, 100], [10, 10, 30, 30], [5, 0, 100, 100], [200, 0, 40, 40]]
    )
    kept = _suppress(boxes, np.array([5.0, 9.0, 7.0, 1.0]))
    # The duplicate with the higher score wins; the nested box goes.
    assert sorted(map(tuple, kept.tolist())) == [(5, 0, 100, 100), (200, 0, 40, 40)]
    truth = [(0, 0, 10, 10), (100, 100, 10, 10)]
    assert _match_boxes(truth, [(0, 0, 10, 10), (1, 1, 10, 10), (50, 50, 5, 5)]) == (
        1,
        2,
    )
    assert _match_boxes(truth, []) == (0, 0)


# --------------------------------------------------------------------------
# FaceCropper
# --------------------------------------------------------------------------


def _gradient(h=100, w=120, channels=None, dtype=np.uint8):
    yy, xx = np.mgrid[:h, :w]
    img = (xx + 2 * yy) % 256
    if channels:
        img = np.dstack([(img + 40 * c) % 256 for c in range(channels)])
    return img.astype(dtype)


def test_square_crop_geometry_and_padding():
    img = _gradient()
    crop = _square_crop(img, (40, 30, 20, 20), 0.0)
    np.testing.assert_array_equal(crop, img[30:50, 40:60])
    crop = _square_crop(img, (40, 30, 20, 20), 0.5)  # 10 px more on each side
    np.testing.assert_array_equal(crop, img[20:60, 30:70])
    crop = _square_crop(img, (40, 30, 30, 20), 0.0)  # square on the longer side
    np.testing.assert_array_equal(crop, img[25:55, 40:70])
    # Leaving the image at the top-left corner: edge pixels are repeated.
    crop = _square_crop(img, (0, 0, 20, 20), 0.5)
    assert crop.shape == (40, 40)
    np.testing.assert_array_equal(crop[10:, 10:], img[:30, :30])
    np.testing.assert_array_equal(crop[:10, 10:], np.repeat(img[:1, :30], 10, axis=0))
    np.testing.assert_array_equal(crop[10:, :10], np.repeat(img[:30, :1], 10, axis=1))
    assert (crop[:10, :10] == img[0, 0]).all()
    # ... and at the bottom-right, with channels.
    rgb = _gradient(channels=3)
    crop = _square_crop(rgb, (100, 80, 20, 20), 1.0)
    assert crop.shape == (60, 60, 3)
    np.testing.assert_array_equal(crop[:40, :40], rgb[60:, 80:])
    np.testing.assert_array_equal(crop[-1, -1], rgb[-1, -1])


def test_cropper_crops_injected_box(monkeypatch):
    _inject_boxes(monkeypatch, lambda gray: [[40, 30, 20, 20]])
    X = np.stack([_gradient(), _gradient() // 2])
    cropper = FaceCropper(margin=0.5)
    out = cropper.fit_transform(X)
    assert out.shape == (2, 40, 40) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], X[0, 20:60, 30:70])
    np.testing.assert_array_equal(out[1], X[1, 20:60, 30:70])
    assert cropper.boxes_ == [(40, 30, 20, 20)] * 2
    np.testing.assert_array_equal(cropper.found_, [True, True])
    np.testing.assert_array_equal(cropper.n_faces_, [1, 1])
    assert cropper.found_.dtype == bool


def test_cropper_select(monkeypatch):
    # Largest first (as detect_faces returns them); the small one is central.
    _inject_boxes(monkeypatch, lambda gray: [[0, 0, 40, 40], [55, 45, 10, 10]])
    X = [_gradient()]
    largest = FaceCropper(margin=0.0)
    largest.fit_transform(X)
    assert largest.boxes_ == [(0, 0, 40, 40)]
    center = FaceCropper(select="center", margin=0.0)
    out = center.fit_transform(X)
    assert center.boxes_ == [(55, 45, 10, 10)]
    np.testing.assert_array_equal(out[0], X[0][45:55, 55:65])
    np.testing.assert_array_equal(center.n_faces_, [2])


def test_cropper_on_missing(monkeypatch):
    # A face only in images whose top-left pixel is non-zero.
    _inject_boxes(monkeypatch, lambda gray: [[10, 10, 20, 20]] if gray[0, 0] else [])
    face = _gradient(60, 80) | 1
    blank = np.zeros((60, 80), np.uint8)
    X = [face, blank, face]

    cropper = FaceCropper(margin=0.0, on_missing="center")
    out = cropper.fit_transform(X)
    assert isinstance(out, list)
    assert [o.shape for o in out] == [(20, 20), (60, 60), (20, 20)]
    np.testing.assert_array_equal(cropper.found_, [True, False, True])
    assert cropper.boxes_ == [(10, 10, 20, 20), None, (10, 10, 20, 20)]
    np.testing.assert_array_equal(cropper.n_faces_, [1, 0, 1])

    wide = np.arange(60 * 80).reshape(60, 80).astype(np.float32)
    out = FaceCropper(on_missing="center").fit_transform([wide])
    np.testing.assert_array_equal(out[0], wide[:, 10:70])  # centred square

    out = FaceCropper(margin=0.0, on_missing="full").fit_transform(X)
    assert [o.shape for o in out] == [(20, 20), (60, 80), (20, 20)]

    with pytest.raises(
        ValueError, match=r"No face found in image\(s\) at index 1 of 3"
    ):
        FaceCropper(on_missing="raise").fit_transform(X)
    many = [blank] * 12 + [face]
    with pytest.raises(ValueError, match=r"index 0, 1, .*, 9 and 2 more of 13"):
        FaceCropper(on_missing="raise").fit_transform(many)


@pytest.mark.parametrize("output_size, shape", [(32, (32, 32)), ((24, 40), (24, 40))])
def test_cropper_output_size_stacks(monkeypatch, output_size, shape):
    sizes = iter([[[10, 10, 20, 20]], [[5, 5, 50, 50]], []])
    _inject_boxes(monkeypatch, lambda gray: next(sizes))
    X = [_gradient(), _gradient(80, 90), _gradient(70, 50)]
    out = FaceCropper(output_size=output_size).fit_transform(X)
    assert isinstance(out, np.ndarray)
    assert out.shape == (3, *shape)


def test_cropper_natural_sizes_give_list(monkeypatch):
    sizes = iter([[[10, 10, 20, 20]], [[5, 5, 50, 50]]])
    _inject_boxes(monkeypatch, lambda gray: next(sizes))
    out = FaceCropper(margin=0.0).fit_transform([_gradient(), _gradient()])
    assert isinstance(out, list)
    assert [o.shape for o in out] == [(20, 20), (50, 50)]


@pytest.mark.parametrize(
    "image",
    [
        _gradient(),
        _gradient(channels=3),
        _gradient(channels=4),
        _gradient(channels=3, dtype=np.float32) / 255.0,
        _gradient(dtype=np.float64),
        _gradient(dtype=np.uint16),
    ],
    ids=[
        "grey-uint8",
        "rgb-uint8",
        "rgba-uint8",
        "rgb-float01",
        "grey-float64",
        "grey-uint16",
    ],
)
def test_cropper_keeps_channels_and_dtype(monkeypatch, image):
    _inject_boxes(monkeypatch, lambda gray: [[90, 70, 20, 20]])  # pads at the border
    out = FaceCropper(output_size=16).fit_transform(image[np.newaxis])
    expected_dtype = np.uint8 if image.dtype == np.uint8 else np.float32
    assert out.dtype == expected_dtype
    assert out.shape == (1, 16, 16, *image.shape[2:])
    natural = FaceCropper().fit_transform([image])
    assert natural.shape == (1, 28, 28, *image.shape[2:])
    assert natural.dtype == expected_dtype


def test_cropper_parallel_and_verbose_match_serial(monkeypatch, capsys):
    _inject_boxes(monkeypatch, lambda gray: [[int(gray[0, 0]) % 30, 10, 20, 20]])
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (10, 60, 60, 3), dtype=np.uint8)
    serial = FaceCropper(output_size=24)
    parallel = FaceCropper(output_size=24, n_jobs=2, verbose=1)
    np.testing.assert_array_equal(serial.fit_transform(X), parallel.fit_transform(X))
    assert serial.boxes_ == parallel.boxes_


def test_cropper_real_face(astronaut):
    cropper = FaceCropper(output_size=48)
    out = cropper.fit_transform([astronaut, np.zeros((64, 64, 3), np.uint8)])
    assert out.shape == (2, 48, 48, 3)
    np.testing.assert_array_equal(cropper.found_, [True, False])
    assert _box_iou(cropper.boxes_[0], ASTRONAUT_FACE) > 0.6
    np.testing.assert_array_equal(cropper.n_faces_, [1, 0])


def test_cropper_detector_params(astronaut):
    cropper = FaceCropper(detector_params={"min_size": 200})
    cropper.fit_transform([astronaut])
    assert not cropper.found_[0]
    cropper.set_params(detector_params={"cascade": "default", "min_neighbors": 5})
    cropper.fit_transform([astronaut])
    assert cropper.found_[0]


@pytest.mark.parametrize(
    "params, match",
    [
        ({"select": "first"}, r"'select' parameter of FaceCropper must be a str among"),
        ({"margin": -0.1}, r"'margin' parameter of FaceCropper must be a float in the range "
                           r"\[0(\.0)?, 2(\.0)?\]"),
        ({"margin": 1000}, r"'margin' parameter of FaceCropper must be a float in the range"),
        ({"margin": float("nan")}, "margin"),
        ({"output_size": 0}, "'output_size' parameter of FaceCropper must be"),
        ({"output_size": (10, 10, 3)}, "output_size must be"),
        ({"output_size": 2.5}, "'output_size' parameter of FaceCropper must be"),
        ({"on_missing": "skip"}, "'on_missing' parameter of FaceCropper must be a str among"),
        ({"detector_params": {"scale": 1.2}}, r"unknown keys \['scale'\]"),
        ({"detector_params": [("scale_factor", 1.2)]},
         "'detector_params' parameter of FaceCropper must be None or an instance of 'dict'"),
        ({"detector_params": {"scale_factor": 0.9}}, "scale_factor must be"),
        ({"detector": "dlib"}, r"detector must be one of \['haar', 'mtcnn'\]"),
        ({"detector": 3}, "'detector' parameter of FaceCropper must be"),
        ({"align": "nose"}, "'align' parameter of FaceCropper must be"),
        ({"align": "landmarks"}, "align='landmarks' needs a detector that finds landmarks"),
        ({"detector": "mtcnn", "detector_params": {"rotations": ()}},
         "rotations must be a non-empty sequence"),
    ],
)
def test_cropper_bad_params(params, match):
    X = np.zeros((1, 20, 20), np.uint8)
    with pytest.raises(ValueError, match=match):
        FaceCropper(**params).fit(X)
    with pytest.raises(ValueError, match=match):
        FaceCropper(**params).transform(X)


def test_cropper_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        FaceCropper().fit_transform([np.full((10, 10), np.nan)])
    with pytest.raises(ValueError, match="empty"):
        FaceCropper().fit_transform([np.zeros((0, 5))])


# --------------------------------------------------------------------------
# FaceAligner
# --------------------------------------------------------------------------


def test_aligner_leaves_eyeless_images_unchanged():
    X = np.stack([_gradient(64, 64, channels=3), np.zeros((64, 64, 3), np.uint8)])
    aligner = FaceAligner()
    out = aligner.fit_transform(X)
    np.testing.assert_array_equal(out, X)
    np.testing.assert_array_equal(aligner.rotations_, [0.0, 0.0])
    np.testing.assert_array_equal(aligner.eyes_found_, [False, False])


def test_aligner_rotation_levels_injected_eyes(monkeypatch):
    # Two bright dots as 'eyes', the right one lower (a clockwise tilt).
    img = np.zeros((64, 64), np.float32)
    left, right = (20.0, 30.0), (44.0, 40.0)
    for x, y in (left, right):
        img[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = 1.0
    monkeypatch.setattr(_faces, "find_eyes", lambda gray: (left, right))
    aligner = FaceAligner()
    out = aligner.fit_transform([img])
    expected = math.degrees(math.atan2(10, 24))
    np.testing.assert_allclose(aligner.rotations_, [expected])
    assert aligner.eyes_found_.tolist() == [True]
    assert out.shape == (1, 64, 64) and out.dtype == np.float32
    ys, xs = np.nonzero(out[0] > 0.5)
    # Both dots now lie on the row of the eyes' midpoint (y = 35).
    assert abs(ys[xs < 32].mean() - 35) < 1 and abs(ys[xs > 32].mean() - 35) < 1
    assert abs(xs[xs > 32].mean() - xs[xs < 32].mean() - math.hypot(24, 10)) < 1


def test_aligner_real_face(astronaut):
    face = FaceCropper(margin=0.3).fit_transform([astronaut])[0]
    h, w = face.shape[:2]
    aligner = FaceAligner()
    aligner.fit_transform([face])
    assert aligner.eyes_found_[0]
    base = aligner.rotations_[0]  # the astronaut's own slight head tilt
    assert abs(base) < 10
    for angle in (-12.0, 12.0):
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        tilted = cv2.warpAffine(face, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
        rgba = np.dstack([tilted, np.full((h, w), 255, np.uint8)])
        out = aligner.fit_transform([tilted, rgba])
        assert [o.shape for o in out] == [(h, w, 3), (h, w, 4)]
        assert aligner.eyes_found_.all()
        np.testing.assert_allclose(aligner.rotations_, -angle + base, atol=4)


def test_aligner_parallel_matches_serial(astronaut):
    face = FaceCropper(output_size=96).fit_transform([astronaut])[0]
    X = np.stack([face, np.fliplr(face), np.zeros_like(face)])
    serial, parallel = FaceAligner(), FaceAligner(n_jobs=2, verbose=1)
    np.testing.assert_array_equal(serial.fit_transform(X), parallel.fit_transform(X))
    np.testing.assert_array_equal(serial.rotations_, parallel.rotations_)


# --------------------------------------------------------------------------
# sklearn API
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "est",
    [
        FaceCropper(
            select="center",
            margin=0.1,
            output_size=(20, 24),
            on_missing="full",
            detector_params={"min_neighbors": 4},
            n_jobs=1,
        ),
        FaceAligner(n_jobs=1),
    ],
    ids=["FaceCropper", "FaceAligner"],
)
def test_sklearn_api(est):
    X = _gradient(40, 48, channels=3)[np.newaxis].repeat(3, axis=0)
    est2 = clone(est)
    assert est2.get_params() == est.get_params()
    assert est2 is not est
    assert est2.set_params(verbose=0) is est2
    assert est2.fit(X) is est2
    out = est2.transform(X)
    out_unfitted = clone(est).transform(X)  # nothing is learnt: no fit needed
    np.testing.assert_array_equal(out, out_unfitted)
    restored = pickle.loads(pickle.dumps(est2))
    np.testing.assert_array_equal(restored.transform(X), out)
    for attr in ("boxes_", "found_", "n_faces_", "rotations_", "eyes_found_"):
        if hasattr(est2, attr):
            np.testing.assert_array_equal(
                np.asarray(getattr(restored, attr), dtype=object),
                np.asarray(getattr(est2, attr), dtype=object),
            )
    with pytest.raises(TypeError):
        type(est)(0.3)  # keyword-only


def test_estimators_in_pipeline(astronaut):
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(FaceCropper(output_size=64), FaceAligner())
    out = pipe.fit_transform([astronaut, astronaut[:, ::-1]])
    assert out.shape == (2, 64, 64, 3)


# --------------------------------------------------------------------------
# Real photos ($SKFER_DATA/faces)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos(skfer_data):
    folder = data_path(skfer_data, "faces")
    manifest = json.loads(data_path(folder, "manifest.json").read_text())
    images = [read_image(folder / item["file"], mode="unchanged") for item in manifest]
    return manifest, images


@pytest.fixture(scope="module")
def photo_detections(photos):
    manifest, images = photos
    return [detect_faces(img) for img in images]


@pytest.mark.data
def test_photos_cover_all_image_kinds(photos):
    _, images = photos
    kinds = {img.shape[2] if img.ndim == 3 else 1 for img in images}
    assert kinds == {1, 3, 4}  # grey, RGB and RGBA files are all exercised


@pytest.mark.data
def test_recall_on_annotated_photos(photos, photo_detections):
    manifest, _ = photos
    matched = n_truth = false = 0
    for item, boxes in zip(manifest, photo_detections, strict=True):
        if "boxes_ltwh" not in item:
            continue
        truth = [
            (b["left"], b["top"], b["width"], b["height"]) for b in item["boxes_ltwh"]
        ]
        m, f = _match_boxes(truth, [tuple(b) for b in boxes], iou_threshold=0.3)
        matched, false, n_truth = matched + m, false + f, n_truth + len(truth)
    assert n_truth == 43
    assert matched / n_truth >= 0.80, f"recall {matched}/{n_truth}"
    assert false <= 3, f"{false} false faces on the dlib_* photos"


@pytest.mark.data
def test_detections_on_other_photos(photos, photo_detections):
    manifest, images = photos
    over = 0
    for item, img, boxes in zip(manifest, images, photo_detections, strict=True):
        h, w = img.shape[:2]
        assert boxes.ndim == 2 and boxes.shape[1] == 4
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] > 0).all()
        assert (boxes[:, 0] + boxes[:, 2] <= w).all() and (
            boxes[:, 1] + boxes[:, 3] <= h
        ).all()
        areas = boxes[:, 2] * boxes[:, 3]
        assert (np.diff(areas) <= 0).all()
        if "boxes_ltwh" not in item:
            over += max(0, len(boxes) - item["faces"])
        if item["faces"] == 0:
            assert len(boxes) == 0, item["file"]
    assert over <= 3


@pytest.mark.data
def test_cropper_on_photos(photos):
    manifest, images = photos
    cropper = FaceCropper(output_size=64, n_jobs=2)
    out = cropper.fit_transform(images)
    assert len(out) == len(images)
    for img, crop in zip(images, out, strict=True):
        assert crop.shape[:2] == (64, 64) and crop.shape[2:] == img.shape[2:]
    with_faces = np.array([item["faces"] > 0 for item in manifest])
    assert cropper.found_[with_faces].mean() >= 0.8
    assert not cropper.found_[~with_faces].any()
    aligner = FaceAligner(n_jobs=2)
    aligned = aligner.fit_transform(out)
    assert len(aligned) == len(out)
    assert aligner.eyes_found_.sum() >= 10
    assert np.abs(aligner.rotations_).max() <= 30


def test_detect_faces_defaults_are_the_detectors(astronaut):
    # detect_faces passes its keywords to the detector: no second set of defaults.
    from skfer.faces import MTCNNDetector

    np.testing.assert_array_equal(detect_faces(astronaut), HaarDetector().detect(astronaut).boxes)
    np.testing.assert_array_equal(detect_faces(astronaut, detector="mtcnn"),
                                  MTCNNDetector().detect(astronaut).boxes)
    np.testing.assert_array_equal(detect_faces(astronaut, min_neighbors=5),
                                  HaarDetector(min_neighbors=5).detect(astronaut).boxes)
    with pytest.raises(ValueError, match=r"unknown keys \['min_neighbors'\]"):
        detect_faces(astronaut, detector="mtcnn", min_neighbors=5)
