"""sklearn API conformance of skfer's transformers."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skfer.preprocessing import (
    Flatten,
    Grayscale,
    HOGFeatures,
    ImageReader,
    LBPFeatures,
    Normalize,
    Resize,
)

# Every estimator that takes flat input (n_samples, n_features), which is what
# sklearn's checks generate. Resize and Grayscale read each row as a 1 x d
# grey image (image_shape=(1, -1)). HOGFeatures and LBPFeatures are not here:
# they need real 2-D images (at least one 16x16 HOG block, one pixel per LBP
# cell), which sklearn's random rows of 1 to 10 features cannot be; they get
# the image API tests below instead. No check is expected to fail.
FLAT_ESTIMATORS = [
    Normalize(method="minmax"),
    Normalize(method="standardize"),
    Normalize(method="equalize", image_shape=(1, -1)),
    Flatten(),
    Resize(size=(2, 3), image_shape=(1, -1)),
    Grayscale(image_shape=(1, -1)),
]


@parametrize_with_checks(FLAT_ESTIMATORS)
def test_sklearn_checks(estimator, check):
    check(estimator)


def _images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (6, 48, 48), dtype=np.uint8)


IMAGE_ESTIMATORS = [
    Resize(size=(24, 24)),
    Grayscale(),
    Normalize(method="minmax"),
    Normalize(method="standardize"),
    Normalize(method="equalize"),
    Normalize(method="clahe"),
    Flatten(),
    HOGFeatures(),
    LBPFeatures(),
]
IDS = [f"{type(e).__name__}-{getattr(e, 'method', '')}" for e in IMAGE_ESTIMATORS]


@pytest.mark.parametrize("est", IMAGE_ESTIMATORS, ids=IDS)
def test_image_api(est):
    X = _images()
    est2 = clone(est)
    assert est2.get_params() == est.get_params()
    assert est2.fit(X) is est2
    out = est2.transform(X)
    assert len(out) == len(X)
    # pickling keeps behaviour
    est3 = pickle.loads(pickle.dumps(est2))
    np.testing.assert_array_equal(est3.transform(X), out)
    # set_params round trip
    params = est2.get_params()
    est2.set_params(**params)
    assert est2.get_params() == params


@pytest.mark.parametrize("est", [Flatten(), HOGFeatures(), LBPFeatures()])
def test_fixed_shape_estimators_need_fit_and_same_shape(est):
    X = _images()
    with pytest.raises(NotFittedError):
        clone(est).transform(X)
    fitted = clone(est).fit(X)
    with pytest.raises(ValueError, match="fitted on images of shape"):
        fitted.transform(np.zeros((2, 40, 40), np.uint8))
    with pytest.raises(ValueError, match="one shape"):
        clone(est).fit([np.zeros((48, 48), np.uint8), np.zeros((40, 40), np.uint8)])


@pytest.mark.parametrize(
    "est", [Resize(), Grayscale(), Normalize(), ImageReader()], ids=lambda e: type(e).__name__
)
def test_stateless_transformers_work_unfitted(est):
    assert est.__sklearn_tags__().requires_fit is False
    out = est.transform(_images())
    assert len(out) == 6


@pytest.mark.parametrize(
    "est, msg",
    [
        (Resize(size=0), "size must be a positive int"),
        (Resize(interpolation="bogus"), "interpolation must be one of"),
        (Normalize(method="zscore"), "method must be one of"),
        (Normalize(method="clahe", clip_limit=-1), "clip_limit"),
        (HOGFeatures(orientations=0), "orientations"),
        (LBPFeatures(grid=(0, 2)), "grid"),
        (ImageReader(mode="bgr"), "mode must be"),
    ],
)
def test_bad_parameters_raise_clear_errors(est, msg):
    with pytest.raises(ValueError, match=msg):
        est.fit(_images())


def test_image_shape_with_minus_one_and_its_errors():
    flat = np.arange(2 * 12, dtype=np.float32).reshape(2, 12)
    out = Grayscale(image_shape=(3, -1)).fit_transform(flat)
    np.testing.assert_array_equal(out, flat)  # grey in, grey out, flat kept
    assert Resize(size=4, image_shape=(-1, 4)).fit_transform(flat).shape == (2, 16)
    with pytest.raises(ValueError, match="cannot hold 12 features"):
        Resize(image_shape=(5, -1)).fit_transform(flat)
    with pytest.raises(ValueError, match="one of them may be -1"):
        Resize(image_shape=(-1, -1)).fit_transform(flat)
    with pytest.raises(ValueError, match="not a square grey image; pass image_shape"):
        Resize().fit_transform(flat)
