"""Shared machinery of skfer's image transformers."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._image import (
    as_pixel_dtype,
    check_images,
    image_shape_of,
    map_images,
    stack_images,
)


def _looks_like_images(X):
    """True for inputs the image convention handles: stacks, lists, paths."""
    if isinstance(X, np.ndarray):
        return X.ndim >= 3 or (X.ndim == 1 and X.dtype == object)
    if isinstance(X, (list, tuple)):
        # A list of images or paths; a list of 1-D number lists is flat rows.
        if len(X) == 0 or isinstance(X[0], str) or hasattr(X[0], "__fspath__"):
            return True
        return np.ndim(X[0]) != 1
    return isinstance(X, str) or hasattr(X, "__fspath__")


#: Constraint of an ``image_shape`` parameter (its entries are checked, for
#: flat input, by :func:`skfer._image.image_shape_of`).
IMAGE_SHAPE = [None, "array-like"]


class BaseImageTransformer(TransformerMixin, BaseEstimator):
    """Base class: validates ``X`` once per call and maps a function per image.

    Every public method validates its input once: ``fit``, ``transform``
    and ``fit_transform`` (which does not go through ``fit`` then
    ``transform``) check the parameters (sklearn's ``_parameter_constraints``,
    then :meth:`_validate_params_values` for what constraints cannot say)
    and then ``X`` by the image convention, with one call of
    :func:`skfer._image.check_images`; the validated images go to
    :meth:`_fit_images` and :meth:`_transform_images`, which trust them.

    Subclasses implement ``_transform_one(image) -> image`` (or override
    ``_transform_images``); they may set ``_accepts_flat = True`` (and take
    an ``image_shape`` parameter) to also accept flat input
    ``(n_samples, n_features)``, in which case flat input gives flat output.
    ``fit`` learns nothing but what it checks: these transformers are
    stateless (``requires_fit`` is False and ``__sklearn_is_fitted__`` is
    True), so they work unfitted, also as steps of a fitted Pipeline.
    Subclasses that learn at fit set ``requires_fit`` back to True and
    answer ``__sklearn_is_fitted__`` from their fitted attributes.
    """

    _accepts_flat = False
    _parallel_prefer = "threads"

    #: sklearn's constraints of ``n_jobs`` and ``verbose``, which every image
    #: transformer but Flatten takes; a subclass extends them
    #: (``{**BaseImageTransformer._parameter_constraints, "image_shape":
    #: IMAGE_SHAPE, ...}``) so its constraints name exactly its parameters.
    _parameter_constraints: dict = {
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
    }

    # ------------------------------------------------------------ validation
    def _check_params(self):
        """Check the parameters: sklearn's constraints, then the code checks."""
        if not get_config()["skip_parameter_validation"]:
            self._validate_params()
        self._validate_params_values()

    def _validate_params_values(self):
        """Checks the constraints cannot express; raise ValueError on bad values."""

    def _check_input(self, X, *, reset):
        """Validate ``X`` (the one full validation of a call); return ``(images, flat)``."""
        if self._accepts_flat and not _looks_like_images(X):
            # Flat vectors (or sparse, 1-D, array-likes): sklearn's validation
            # gives the usual messages for them (n_features_in_, NaN, dtype),
            # then the rows are reshaped into images without a second check.
            X = validate_data(self, X, reset=reset, dtype="numeric")
            return self._flat_to_images(X), True
        if reset and hasattr(self, "n_features_in_"):
            del self.n_features_in_
        return check_images(X, image_shape=getattr(self, "image_shape", None))

    def _flat_to_images(self, X):
        """Reshape validated flat input ``(n_samples, n_features)`` into images.

        ``X`` went through :func:`~sklearn.utils.validation.validate_data`
        (finite numbers, 2-D, at least one sample): only the pixel type is
        brought to the convention, as :func:`skfer._image.check_images`
        would (uint8 stays, bool -> uint8, others -> float32).
        """
        shape = image_shape_of(X.shape[1], getattr(self, "image_shape", None))
        return as_pixel_dtype(X.reshape((X.shape[0], *shape)))

    # ------------------------------------------------------------ API
    def fit(self, X, y=None):
        """Check the parameters and ``X``; return the transformer.

        Parameters
        ----------
        X : images
            See the image convention in :mod:`skfer`.
        y : ignored

        Returns
        -------
        self : object
        """
        self._check_params()
        images, _ = self._check_input(X, reset=True)
        self._fit_images(images)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """Fit and transform ``X``, validating it once.

        Parameters
        ----------
        X : images
            See the image convention in :mod:`skfer`.
        y : ignored
        **fit_params : dict
            Not used; accepted for the TransformerMixin signature.

        Returns
        -------
        images : ndarray or list of ndarrays
            As :meth:`transform` returns them.
        """
        self._check_params()
        images, flat = self._check_input(X, reset=True)
        self._fit_images(images)
        return self._output(self._transform_images(images), flat)

    def transform(self, X):
        """Apply the transformation to each image.

        Parameters
        ----------
        X : images
            See the image convention in :mod:`skfer`.

        Returns
        -------
        images : ndarray or list of ndarrays
            An ndarray when all output images share one shape, else a list;
            flat input gives flat output.
        """
        self._check_ready()
        images, flat = self._check_input(X, reset=False)
        return self._output(self._transform_images(images), flat)

    def _check_ready(self):
        """Before ``transform``: parameters of a stateless step (it may never
        have been fitted), or the fitted state of a stateful one."""
        if self.__sklearn_tags__().requires_fit:
            check_is_fitted(self)
        else:
            self._check_params()

    # ------------------------------------------------------------ work
    def _fit_images(self, images):
        """Learn from validated images; stateless transformers learn nothing."""

    @staticmethod
    def _output(out, flat):
        if flat:
            out = np.asarray(out)
            return out.reshape(len(out), -1)
        return out

    def _map(self, func, images):
        """``[func(image) for image in images]``, in parallel per ``n_jobs``."""
        return map_images(
            func,
            images,
            n_jobs=getattr(self, "n_jobs", None),
            verbose=getattr(self, "verbose", 0),
            desc=type(self).__name__,
            prefer=self._parallel_prefer,
        )

    def _transform_images(self, images):
        return stack_images(self._map(self._transform_one, images))

    def _transform_one(self, image):  # pragma: no cover - abstract
        raise NotImplementedError

    def __sklearn_is_fitted__(self):
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.two_d_array = self._accepts_flat
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

