"""Shared machinery of skfer's image transformers."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import validate_data

from .._image import check_images, map_images, stack_images


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


class BaseImageTransformer(TransformerMixin, BaseEstimator):
    """Base class: validates ``X`` by the image convention and maps per image.

    Subclasses implement ``_transform_one(image) -> image``; they may set
    ``_accepts_flat = True`` (and take an ``image_shape`` parameter) to also
    accept flat input ``(n_samples, n_features)``, in which case flat input
    gives flat output. ``fit`` learns nothing but what it checks, so these
    transformers may also be used without fitting.
    """

    _accepts_flat = False
    _parallel_prefer = "threads"

    def _check_input(self, X, *, reset):
        """Validate ``X``; return ``(images, flat)``."""
        if self._accepts_flat and not _looks_like_images(X):
            # Flat vectors (or sparse, 1-D, array-likes): sklearn's validation
            # gives the usual messages for them (n_features_in_, NaN, dtype).
            X = validate_data(self, X, reset=reset, dtype="numeric")
            return self._flat_to_images(X), True
        if reset and hasattr(self, "n_features_in_"):
            del self.n_features_in_
        return check_images(X, image_shape=getattr(self, "image_shape", None))

    def _flat_to_images(self, X):
        """Turn validated flat input ``(n_samples, n_features)`` into images."""
        images, _ = check_images(
            X, allow_flat=True, image_shape=getattr(self, "image_shape", None)
        )
        return images

    def fit(self, X, y=None):
        """Check ``X`` and return the transformer (nothing is learnt).

        Parameters
        ----------
        X : images
            See the image convention in :mod:`skfer`.
        y : ignored

        Returns
        -------
        self : object
        """
        self._validate_params_values()
        self._check_input(X, reset=True)
        return self

    def _validate_params_values(self):
        """Check parameter values; subclasses raise ValueError on bad ones."""

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
        self._validate_params_values()
        images, flat = self._check_input(X, reset=False)
        out = self._transform_images(images)
        if flat:
            out = np.asarray(out)
            return out.reshape(len(out), -1)
        return out

    def _transform_images(self, images):
        results = map_images(
            self._transform_one,
            images,
            n_jobs=getattr(self, "n_jobs", None),
            verbose=getattr(self, "verbose", 0),
            desc=type(self).__name__,
            prefer=self._parallel_prefer,
        )
        return stack_images(results)

    def _transform_one(self, image):  # pragma: no cover - abstract
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.two_d_array = self._accepts_flat
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
