"""Reading, resizing, colour and intensity transformers."""

from __future__ import annotations

import functools
import numbers
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._image import (
    as_pixel_dtype,
    check_images,
    is_path,
    read_image,
    stack_images,
    to_float01,
    to_gray,
    to_uint8,
)
from ._base import IMAGE_SHAPE, BaseImageTransformer

_INTERPOLATIONS = ("auto", "area", "linear", "cubic", "nearest")


def _as_size(size, name="size"):
    """``int`` or ``(h, w)`` -> ``(h, w)`` of positive ints, else ValueError."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    try:
        h, w = (int(s) for s in size)
        ok = all(float(s) == int(s) for s in size)
    except (TypeError, ValueError):
        ok = False
    if not ok or h <= 0 or w <= 0:
        raise ValueError(f"{name} must be a positive int or (height, width), got {size!r}.")
    return h, w


#: Constraint of a size parameter: an int, or (height, width) checked by :func:`_as_size`.
_SIZE = [Interval(Integral, 1, None, closed="left"), "array-like"]


class ImageReader(BaseImageTransformer):
    """Read image files into arrays (RGB by default).

    Parameters
    ----------
    mode : {'rgb', 'gray', 'unchanged'}, default='rgb'
        ``'rgb'``: ``(H, W, 3)`` uint8; ``'gray'``: ``(H, W)`` uint8;
        ``'unchanged'``: as stored (grey, RGB or RGBA).
    n_jobs : int or None, default=None
        Number of parallel readers (``-1``: all cores).
    verbose : int, default=0
        Show a progress bar when > 0.

    Notes
    -----
    ``transform`` takes a list of paths; in-memory images are passed through
    (validated by the image convention), so a Pipeline that starts with an
    ``ImageReader`` takes both. A missing file raises ``FileNotFoundError``
    and a corrupt or unsupported one ``ValueError``, both naming the file.

    Returns (from ``transform``) an ndarray ``(n_samples, H, W[, C])`` uint8
    when all images share one size, else a list of arrays.

    Examples
    --------
    >>> import os, tempfile, numpy as np, cv2
    >>> from skfer.preprocessing import ImageReader
    >>> d = tempfile.mkdtemp()
    >>> paths = [os.path.join(d, f"{i}.png") for i in range(2)]
    >>> for p in paths:
    ...     _ = cv2.imwrite(p, np.zeros((30, 20, 3), np.uint8))
    >>> ImageReader().fit_transform(paths).shape
    (2, 30, 20, 3)
    >>> ImageReader(mode="gray").fit_transform(paths).shape
    (2, 30, 20)
    """

    _parallel_prefer = "threads"
    _parameter_constraints = {
        **BaseImageTransformer._parameter_constraints,
        "mode": [StrOptions({"rgb", "gray", "unchanged"})],
    }

    def __init__(self, *, mode="rgb", n_jobs=None, verbose=0):
        self.mode = mode
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _paths(self, X):
        # Paths: a list, tuple or 1-D array whose every item is a str or
        # os.PathLike. A 1-D object array of image arrays is images.
        if isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype.kind == "U":
            return [str(x) for x in X]
        if (
            isinstance(X, (list, tuple)) or isinstance(X, np.ndarray) and X.ndim == 1
            and X.dtype == object
        ) and len(X) and all(is_path(x) for x in X):
            return list(X)
        return None

    def _check_input(self, X, *, reset):
        # Paths are checked by reading them (in transform, not at fit); in-memory
        # images are validated by the convention and pass through.
        paths = self._paths(X)
        if paths is not None:
            return paths, False
        return check_images(X)

    def _transform_images(self, images):
        if not (isinstance(images, list) and images and is_path(images[0])):
            return images
        read = functools.partial(read_image, mode=self.mode)
        return stack_images(self._map(read, images))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        return tags


class Resize(BaseImageTransformer):
    """Resize every image to one size (48x48, FER's standard, by default).

    Parameters
    ----------
    size : int or (height, width), default=(48, 48)
        Output size.
    interpolation : {'auto', 'area', 'linear', 'cubic', 'nearest'}, default='auto'
        ``'auto'``: ``'area'`` when shrinking (no aliasing), ``'linear'`` when
        enlarging.
    keep_aspect : bool, default=False
        If True, centre-crop each image to the target aspect ratio first, so
        faces are not stretched.
    image_shape : tuple or None, default=None
        Shape of one image for flat input ``(n_samples, n_features)``
        (``None``: square grey).
    n_jobs : int or None, default=None
        Parallel workers over images.
    verbose : int, default=0
        Progress bar when > 0.

    Notes
    -----
    Returns an ndarray ``(n_samples, height, width[, C])`` of the input's
    dtype (``uint8`` stays ``uint8``; other types become ``float32``); flat
    input gives flat output ``(n_samples, height * width * C)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.preprocessing import Resize
    >>> images = [np.zeros((100, 80), np.uint8), np.zeros((30, 30), np.uint8)]
    >>> Resize().fit_transform(images).shape
    (2, 48, 48)
    >>> Resize(size=24).fit_transform(np.zeros((3, 48, 48, 3))).shape
    (3, 24, 24, 3)
    """

    _accepts_flat = True
    _parameter_constraints = {
        **BaseImageTransformer._parameter_constraints,
        "image_shape": IMAGE_SHAPE,
        "size": _SIZE,
        "interpolation": [StrOptions(set(_INTERPOLATIONS))],
        "keep_aspect": ["boolean"],
    }

    def __init__(
        self, *, size=(48, 48), interpolation="auto", keep_aspect=False,
        image_shape=None, n_jobs=None, verbose=0,
    ):
        self.size = size
        self.interpolation = interpolation
        self.keep_aspect = keep_aspect
        self.image_shape = image_shape
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _validate_params_values(self):
        _as_size(self.size)

    def _transform_images(self, images):
        h, w = _as_size(self.size)
        if isinstance(images, np.ndarray) and images.shape[1:3] == (h, w):
            return images.copy()
        return stack_images(self._map(functools.partial(self._resize_one, size=(h, w)), images))

    def _resize_one(self, img, size):
        import cv2

        h, w = size
        if self.keep_aspect:
            ih, iw = img.shape[:2]
            if ih * w > iw * h:  # too tall
                ch = max(1, round(iw * h / w))
                top = (ih - ch) // 2
                img = img[top : top + ch]
            elif ih * w < iw * h:  # too wide
                cw = max(1, round(ih * w / h))
                left = (iw - cw) // 2
                img = img[:, left : left + cw]
        if img.shape[:2] == (h, w):
            return img.copy()
        interp = self.interpolation
        if interp == "auto":
            interp = "area" if img.shape[0] >= h and img.shape[1] >= w else "linear"
        flag = {
            "area": cv2.INTER_AREA,
            "linear": cv2.INTER_LINEAR,
            "cubic": cv2.INTER_CUBIC,
            "nearest": cv2.INTER_NEAREST,
        }[interp]
        out = cv2.resize(np.ascontiguousarray(img), (w, h), interpolation=flag)
        if img.ndim == 3 and out.ndim == 2:  # cv2 drops a trailing 1-channel axis
            out = out[:, :, None]
        return out


class Grayscale(BaseImageTransformer):
    """Convert RGB(A) images to grey (ITU-R BT.601 luma, as OpenCV).

    Grey images pass through unchanged; the alpha channel of RGBA is dropped.

    Parameters
    ----------
    image_shape : tuple or None, default=None
        Shape of one image for flat input (``None``: square grey).
    n_jobs : int or None, default=None
        Parallel workers over images.
    verbose : int, default=0
        Progress bar when > 0.

    Notes
    -----
    Returns images of shape ``(H, W)`` with the input's dtype (an ndarray
    ``(n_samples, H, W)`` when sizes agree); flat input gives flat output.

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.preprocessing import Grayscale
    >>> rgb = np.zeros((2, 5, 5, 3), np.uint8); rgb[..., 0] = 255
    >>> grey = Grayscale().fit_transform(rgb)
    >>> grey.shape, int(grey[0, 0, 0])
    ((2, 5, 5), 76)
    """

    _accepts_flat = True
    _parameter_constraints = {
        **BaseImageTransformer._parameter_constraints,
        "image_shape": IMAGE_SHAPE,
    }

    def __init__(self, *, image_shape=None, n_jobs=None, verbose=0):
        self.image_shape = image_shape
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _transform_images(self, images):
        if isinstance(images, np.ndarray) and images.ndim == 3:
            return images.copy()
        return super()._transform_images(images)

    def _transform_one(self, img):
        gray = to_gray(img)
        return gray.copy() if np.shares_memory(gray, img) else gray


_NORMALIZE_METHODS = ("minmax", "standardize", "equalize", "clahe")


class Normalize(BaseImageTransformer):
    """Normalise the intensities of each image.

    Parameters
    ----------
    method : {'minmax', 'standardize', 'equalize', 'clahe'}, default='minmax'
        ``'minmax'``: stretch each image to [0, 1] (a constant image becomes
        0); ``'standardize'``: zero mean and unit variance per image;
        ``'equalize'``: global histogram equalisation; ``'clahe'``: contrast
        limited adaptive histogram equalisation. Colour images are equalised
        on their luma (Y of YCrCb), keeping hue.
    clip_limit : float, default=2.0
        CLAHE contrast limit.
    tile_grid_size : int or (rows, cols), default=(8, 8)
        CLAHE tiles.
    image_shape : tuple or None, default=None
        Shape of one image for flat input with ``'equalize'``/``'clahe'``
        (``'minmax'`` and ``'standardize'`` work on any flat vectors).
    n_jobs : int or None, default=None
        Parallel workers over images.
    verbose : int, default=0
        Progress bar when > 0.

    Notes
    -----
    Returns ``float32`` images for ``'minmax'`` and ``'standardize'`` and
    ``uint8`` images for ``'equalize'`` and ``'clahe'`` (float input is taken
    as [0, 1] when its maximum is at most 1, else [0, 255]), of the input's
    shape; flat input gives flat output. An alpha channel is not normalised:
    the histogram methods keep it, the others scale it to [0, 1] (uint8 / 255).

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.preprocessing import Normalize
    >>> X = np.array([[[10, 20], [30, 50]]], dtype=np.uint8)
    >>> Normalize().fit_transform(X)[0].tolist()
    [[0.0, 0.25], [0.5, 1.0]]
    >>> Normalize(method="standardize").fit_transform(X).std().round(3)
    np.float32(1.0)
    """

    _accepts_flat = True
    _parameter_constraints = {
        **BaseImageTransformer._parameter_constraints,
        "image_shape": IMAGE_SHAPE,
        "method": [StrOptions(set(_NORMALIZE_METHODS))],
        "clip_limit": [Interval(Real, 0, None, closed="neither")],
        "tile_grid_size": _SIZE,
    }

    def __init__(
        self, *, method="minmax", clip_limit=2.0, tile_grid_size=(8, 8),
        image_shape=None, n_jobs=None, verbose=0,
    ):
        self.method = method
        self.clip_limit = clip_limit
        self.tile_grid_size = tile_grid_size
        self.image_shape = image_shape
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _validate_params_values(self):
        _as_size(self.tile_grid_size, "tile_grid_size")

    def _flat_to_images(self, X):
        if self.method in ("minmax", "standardize"):
            # Per-vector methods need no image shape: each row is a 1 x d image.
            return as_pixel_dtype(X[:, None, :])
        return super()._flat_to_images(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.method in ("equalize", "clahe"):
            tags.transformer_tags.preserves_dtype = []
        return tags

    def _transform_images(self, images):
        if isinstance(images, np.ndarray) and self.method in ("minmax", "standardize"):
            return self._per_image_stats(images)
        return super()._transform_images(images)

    def _per_image_stats(self, images):
        """Vectorised minmax/standardize over a stack of images (alpha kept out)."""
        x = images.astype(np.float32)
        has_alpha = x.ndim == 4 and x.shape[-1] == 4
        body = x[..., :3] if has_alpha else x
        axes = tuple(range(1, body.ndim))
        if self.method == "minmax":
            lo = body.min(axis=axes, keepdims=True)
            span = body.max(axis=axes, keepdims=True) - lo
            out = np.where(span > 0, (body - lo) / np.where(span > 0, span, 1), 0.0)
        else:
            mean = body.mean(axis=axes, keepdims=True, dtype=np.float64)
            std = body.std(axis=axes, keepdims=True, dtype=np.float64)
            out = np.where(std > 0, (body - mean) / np.where(std > 0, std, 1), 0.0)
        out = out.astype(np.float32)
        if has_alpha:
            alpha = to_float01(images[..., 3:])  # opacity in [0, 1], not normalised
            out = np.concatenate([out, alpha], axis=-1)
        return out

    def _transform_one(self, img):
        import cv2

        if self.method in ("minmax", "standardize"):
            return self._per_image_stats(img[None])[0]
        img8 = to_uint8(img)
        alpha = None
        if img8.ndim == 3 and img8.shape[2] == 4:
            img8, alpha = img8[:, :, :3], img8[:, :, 3:]
        if self.method == "equalize":
            op = cv2.equalizeHist
        else:
            clahe = cv2.createCLAHE(
                clipLimit=float(self.clip_limit),
                tileGridSize=_as_size(self.tile_grid_size, "tile_grid_size")[::-1],
            )
            op = clahe.apply
        if img8.ndim == 2:
            out = op(np.ascontiguousarray(img8))
        else:
            ycc = cv2.cvtColor(np.ascontiguousarray(img8), cv2.COLOR_RGB2YCrCb)
            ycc[:, :, 0] = op(np.ascontiguousarray(ycc[:, :, 0]))
            out = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
        if alpha is not None:
            out = np.concatenate([out, alpha], axis=2)
        return out
