"""sklearn API conformance of skfer's transformers."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

from skfer.preprocessing import (
    FaceAligner,
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
        # sklearn's _parameter_constraints: InvalidParameterError (a ValueError)
        # naming the parameter, the estimator, what is allowed and what was got.
        (Resize(size=0), r"'size' parameter of Resize must be an int in the range \[1, inf\)"),
        (Resize(interpolation="bogus"), r"'interpolation' parameter of Resize must be a str among"),
        (Normalize(method="zscore"), r"'method' parameter of Normalize must be a str among"),
        (Normalize(method="clahe", clip_limit=-1), r"'clip_limit' parameter of Normalize must be"),
        (HOGFeatures(orientations=0), r"'orientations' parameter of HOGFeatures"),
        (ImageReader(mode="bgr"), r"'mode' parameter of ImageReader must be a str among.*'gray'"),
        (Grayscale(n_jobs="all"), r"'n_jobs' parameter of Grayscale must be None or an instance of 'int'"),
        # what constraints cannot say, checked by code
        (LBPFeatures(grid=(0, 2)), r"grid must be a positive int or \(height, width\)"),
        (Resize(size=(48, 0)), r"size must be a positive int or \(height, width\), got \(48, 0\)"),
        (Normalize(tile_grid_size=(8,)), "tile_grid_size must be a positive int"),
    ],
)
def test_bad_parameters_raise_clear_errors(est, msg):
    methods = ["fit", "fit_transform"]
    if not est.__sklearn_tags__().requires_fit:
        methods.append("transform")  # a stateless step checks them unfitted too
    for method in methods:
        with pytest.raises(ValueError, match=msg):
            getattr(clone(est), method)(_images())


ALL_TRANSFORMERS = [
    Resize(),
    Grayscale(),
    Normalize(),
    ImageReader(),
    Flatten(),
    HOGFeatures(),
    LBPFeatures(),
    FaceAligner(),
]


@pytest.mark.parametrize("est", ALL_TRANSFORMERS, ids=lambda e: type(e).__name__)
def test_parameter_constraints_cover_every_parameter(est):
    """sklearn's own check: one constraint per parameter, and fit and
    fit_transform raise InvalidParameterError for a value of a wrong type
    or out of range, before looking at the data."""
    check_param_validation(type(est).__name__, est)


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
