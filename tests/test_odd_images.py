"""Property-based tests: odd images give a correct result or a clear ValueError."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skfer.preprocessing import (
    FaceAligner,
    FaceCropper,
    Flatten,
    Grayscale,
    HOGFeatures,
    ImageReader,
    LBPFeatures,
    Normalize,
    Resize,
)

DTYPES = [np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_]


@st.composite
def images(draw, max_side=40):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    c = draw(st.sampled_from([None, 1, 3, 4]))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = (h, w) if c is None else (h, w, c)
    if dtype.kind == "f":
        elems = st.floats(0, 255, width=32)
    elif dtype.kind == "b":
        elems = st.booleans()
    else:
        elems = st.integers(0, min(np.iinfo(dtype).max, 65535))
    return draw(arrays(dtype, shape, elements=elems))


def _channels(img):
    return 1 if img.ndim == 2 or img.shape[2] == 1 else img.shape[2]


def _check_resize(img, out):
    c = _channels(img)
    assert out.shape == ((1, 48, 48) if c == 1 else (1, 48, 48, c))
    assert out.dtype == (np.uint8 if img.dtype in (np.uint8, np.bool_) else np.float32)
    assert np.isfinite(out).all()


def _check_gray(img, out):
    assert out.shape == (1, *img.shape[:2])


def _check_minmax(img, out):
    assert out.shape[1:3] == img.shape[:2]
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


def _check_std(img, out):
    assert out.dtype == np.float32 and np.isfinite(out).all()


def _check_hist(img, out):
    assert out.dtype == np.uint8 and out.shape[1:3] == img.shape[:2]


def _check_crop(img, out):
    c = _channels(img)
    assert out.shape == ((1, 48, 48) if c == 1 else (1, 48, 48, c))
    assert np.isfinite(out).all()


def _check_same_size(img, out):
    assert out.shape[1:3] == img.shape[:2] and np.isfinite(out).all()


def _check_flat(img, out):
    assert out.shape == (1, img.size)


CASES = [
    (Resize(), _check_resize),
    (Grayscale(), _check_gray),
    (Normalize(method="minmax"), _check_minmax),
    (Normalize(method="standardize"), _check_std),
    (Normalize(method="equalize"), _check_hist),
    (Normalize(method="clahe"), _check_hist),
    (Flatten(), _check_flat),
    (FaceCropper(output_size=48), _check_crop),
    (FaceAligner(), _check_same_size),
    (ImageReader(), lambda img, out: out.shape[1:3] == img.shape[:2]),
]


@pytest.mark.parametrize("est, check", CASES, ids=lambda c: getattr(c, "__name__", repr(c)))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(img=images())
def test_odd_images_give_correct_results(est, check, img):
    out = est.fit_transform([img])
    check(img, out)


@pytest.mark.parametrize("est", [HOGFeatures(), LBPFeatures()], ids=lambda e: type(e).__name__)
@settings(max_examples=25, deadline=None)
@given(img=images(max_side=60))
def test_descriptors_work_or_say_image_too_small(est, img):
    try:
        out = est.fit_transform([img])
    except ValueError as exc:
        assert "resize them" in str(exc)
        assert min(img.shape[:2]) < 16
    else:
        assert out.shape == (1, est.n_features_out_)
        assert np.isfinite(out).all()


ALL = [est for est, _ in CASES] + [HOGFeatures(), LBPFeatures()]
ALL_IDS = [f"{type(e).__name__}-{getattr(e, 'method', '')}" for e in ALL]


@pytest.mark.parametrize("est", ALL, ids=ALL_IDS)
@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 0, 5), np.uint8), "empty"),
        (np.zeros((2, 5, 0), np.uint8), "empty"),
        ([np.zeros((0, 0))], "empty"),
        (np.full((1, 8, 8), np.nan), "NaN"),
        ([np.zeros((8, 8)), np.array([[np.inf] * 8] * 8)], "NaN or infinite"),
        (np.zeros((2, 8, 8, 2)), "channels"),
        (np.zeros((2, 3, 8, 8, 3)), "shape"),
        ([np.zeros((4, 4)), np.zeros(8)], "an image must be"),
        (np.zeros((0, 8, 8)), "0 images"),
        ([], "0 images"),
        (np.zeros((2, 8, 8), np.complex64), "real numbers"),
        ("face.png", "single path"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_images_raise_value_error_naming_problem(est, bad, match):
    with pytest.raises(ValueError, match=match):
        est.fit_transform(bad)


def test_huge_image_is_resized():
    huge = np.random.default_rng(0).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    out = Resize().fit_transform([huge, np.zeros((1, 1, 3), np.uint8)])
    assert out.shape == (2, 48, 48, 3)
    # area interpolation: the mean of a huge noise image is preserved
    assert abs(float(out[0].mean()) - float(huge.mean())) < 2


def test_mixed_sizes_make_a_list_until_resized():
    mixed = [np.zeros((10, 20), np.uint8), np.zeros((30, 30, 3), np.uint8), np.ones((5, 5, 4), np.uint8)]
    grey = Grayscale().fit_transform(mixed)
    assert isinstance(grey, list) and [g.shape for g in grey] == [(10, 20), (30, 30), (5, 5)]
    out = Resize(size=(12, 16)).fit_transform(grey)
    assert isinstance(out, np.ndarray) and out.shape == (3, 12, 16)
    with pytest.raises(ValueError, match="Resize"):
        Flatten().fit(mixed)
    # same size but uint8 next to float: kept as a list (their scales differ)
    both = Resize(size=4).fit_transform([np.zeros((8, 8), np.uint8), np.ones((8, 8))])
    assert isinstance(both, list) and [b.dtype for b in both] == [np.uint8, np.float32]


def test_float_in_0_255_and_0_1_equalize_the_same():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (16, 16)).astype(np.float32)
    a = Normalize(method="equalize").fit_transform([img])
    b = Normalize(method="equalize").fit_transform([img / 255.0])
    c = Normalize(method="equalize").fit_transform([img.astype(np.uint8)])
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, c)


def test_rgba_alpha_is_dropped_by_grayscale_and_kept_by_resize():
    rgba = np.zeros((1, 10, 10, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 7
    assert Grayscale().fit_transform(rgba).shape == (1, 10, 10)
    assert int(Grayscale().fit_transform(rgba)[0, 0, 0]) == 76  # red luma
    out = Resize(size=5).fit_transform(rgba)
    assert out.shape == (1, 5, 5, 4) and (out[..., 3] == 7).all()


def test_uint16_keeps_values_as_float():
    img = np.full((1, 4, 4), 60000, np.uint16)
    out = Resize(size=2).fit_transform(img)
    assert out.dtype == np.float32 and float(out.max()) == 60000.0
