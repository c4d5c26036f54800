"""Each image is fully validated once per step on its way through a Pipeline.

The one full image validation of skfer is :func:`skfer._image.check_images`
(with :func:`skfer._image.check_image` for each image of a list). The
tests below wrap both, wherever a module imported them, and count how many
times each image is validated by ``pretrained.load().predict`` (with and
without face detection) and by ``Pipeline(...).fit``: once per step, not
twice per transformer (``fit`` then ``transform``).
"""

import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from skfer import _image, pretrained
from skfer.neural import CNNClassifier
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


class ValidationCounter:
    """Counts the images each full validation call of ``X`` covers.

    ``calls`` holds one entry per validation: the number of images it
    checked. A ``check_image`` call made inside ``check_images`` is part of
    that call; one made elsewhere counts as a validation of one image.
    """

    def __init__(self, monkeypatch):
        self.calls = []
        self._depth = 0
        check_images, check_image = _image.check_images, _image.check_image

        def counted_images(X, *args, **kwargs):
            self._depth += 1
            try:
                out = check_images(X, *args, **kwargs)
            finally:
                self._depth -= 1
            self.calls.append(len(out[0]))
            return out

        def counted_image(img, *args, **kwargs):
            if self._depth == 0:
                self.calls.append(1)
            return check_image(img, *args, **kwargs)

        for module in list(sys.modules.values()):
            if not getattr(module, "__name__", "").startswith("skfer"):
                continue
            for name, original, wrapper in (
                ("check_images", check_images, counted_images),
                ("check_image", check_image, counted_image),
            ):
                if getattr(module, name, None) is original:
                    monkeypatch.setattr(module, name, wrapper)

    def per_image(self, n_images):
        """How many times, on average, each of ``n_images`` images was validated."""
        return sum(self.calls) / n_images


@pytest.fixture
def crops():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)


@pytest.fixture
def photos():
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (90 + 10 * i, 120, 3), dtype=np.uint8) for i in range(3)]


def test_pretrained_load_validates_nothing(monkeypatch):
    # The stateless steps are fitted as they are: no fit on a dummy image.
    counter = ValidationCounter(monkeypatch)
    model = pretrained.load()
    assert counter.calls == []
    for _, step in model.steps:
        check_is_fitted(step)


def test_pretrained_crops_predict_validates_once_per_step(monkeypatch, crops):
    model = pretrained.load(face_detection=False)
    counter = ValidationCounter(monkeypatch)
    model.predict(crops)
    assert len(model.steps) == 3
    assert counter.calls == [len(crops)] * 3
    assert counter.per_image(len(crops)) == 3


def test_pretrained_photos_predict_validates_once_per_step(monkeypatch, photos):
    model = pretrained.load()
    counter = ValidationCounter(monkeypatch)
    model.predict(photos)
    assert len(model.steps) == 4
    assert counter.calls == [len(photos)] * 4
    assert counter.per_image(len(photos)) == 4


def test_pipeline_fit_validates_once_per_step(monkeypatch, photos):
    y = np.array([0, 1, 0])
    pipe = Pipeline([
        ("crop", FaceCropper(output_size=48)),
        ("gray", Grayscale()),
        ("resize", Resize(size=48)),
        ("clf", CNNClassifier(architecture="simple", module__channels=(4,),
                              module__hidden=(8,), max_epochs=1, augment=False,
                              validation_fraction=None, device="cpu", random_state=0)),
    ])
    counter = ValidationCounter(monkeypatch)
    pipe.fit(photos, y)
    assert counter.calls == [len(photos)] * 4
    assert counter.per_image(len(photos)) == 4


@pytest.mark.parametrize("step", [
    Grayscale(), Resize(size=24), Normalize(), FaceCropper(output_size=24), FaceAligner(),
    ImageReader(), Flatten(), HOGFeatures(), LBPFeatures(),
], ids=lambda step: type(step).__name__)
def test_every_transformer_validates_once_per_call(monkeypatch, crops, step):
    counter = ValidationCounter(monkeypatch)
    out = clone(step).fit_transform(crops)
    assert counter.calls == [len(crops)], "fit_transform"
    fitted = clone(step).fit(crops)
    assert counter.calls == [len(crops)] * 2, "fit"
    np.testing.assert_array_equal(fitted.transform(crops), out)
    assert counter.calls == [len(crops)] * 3, "transform"


def test_flat_input_is_validated_once_by_sklearn(monkeypatch):
    # Flat rows go through sklearn's validate_data only, not check_images too.
    flat = np.random.default_rng(0).random((4, 36)).astype(np.float32)
    counter = ValidationCounter(monkeypatch)
    out = Resize(size=3).fit_transform(flat)
    assert out.shape == (4, 9) and counter.calls == []
    with pytest.raises(ValueError, match="NaN"):
        Resize(size=3).fit_transform(np.where(flat > 0.5, np.nan, flat))
