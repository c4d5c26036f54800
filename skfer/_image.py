"""The one image convention of skfer, and the helpers that enforce it.

Every image transformer accepts ``X`` as any of

* an ndarray of shape ``(n_samples, H, W)`` or ``(n_samples, H, W, C)`` with
  ``C`` in 1, 3 or 4 (grey, RGB, RGBA);
* a list (or tuple) of such images, ``(H, W)`` or ``(H, W, C)``, whose sizes
  may differ;
* a list of file paths (``str`` or :class:`os.PathLike`), read as RGB.

Colour order is RGB everywhere; OpenCV's BGR is converted at the boundary.

Pixel types: ``uint8`` images stay ``uint8``; ``bool`` becomes ``uint8``
(0/255); any other integer type (``uint16``, ``int32``...) and any float
type become ``float32`` holding the same values.  Float images may be in
[0, 1] or [0, 255]; transformers that need 8-bit pixels (face detection,
histogram equalisation) map floats whose maximum is at most 1 to [0, 255].
NaN or infinite pixels, empty images and unsupported channel counts raise a
``ValueError`` that says which image is wrong; so does an image of more pixels
than the limit of image files (:data:`MAX_PIXELS`, or ``SKFER_MAX_PIXELS``),
an :class:`ImageTooLargeError`.

Single-channel images ``(H, W, 1)`` are treated as ``(H, W)``.

A transformer returns an ndarray ``(n_samples, H, W[, C])`` when all its
output images share one shape and dtype, and a list of arrays otherwise.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "as_pixel_dtype",
    "check_image",
    "check_images",
    "read_image",
    "stack_images",
    "to_uint8",
    "to_float01",
    "to_gray",
    "to_gray_uint8",
    "to_rgb_uint8",
    "map_images",
    "image_shape_of",
    "is_path",
    "decode_image",
    "opencv_single_threaded",
    "ImageTooLargeError",
    "MAX_PIXELS",
]

_READ_MODES = ("rgb", "gray", "unchanged")


def is_path(x) -> bool:
    """Whether ``x`` is a file path (str or os.PathLike)."""
    return isinstance(x, (str, os.PathLike))


#: Largest image decoded by default, in pixels (width x height): 50 megapixels
#: (an 8660 x 5773 photo; phone cameras give 12 to 48). A bigger file is
#: refused from its header, before its pixels are decoded (a 400 KB PNG can
#: hold 20000 x 20000 pixels: 1.2 GB decoded). The ``SKFER_MAX_PIXELS``
#: environment variable, or ``max_pixels=`` of :func:`read_image` /
#: :func:`decode_image` (``skfer predict --max-pixels``), changes it.
MAX_PIXELS = 50_000_000


class ImageTooLargeError(ValueError):
    """An image file holds more pixels than the decoding limit allows."""


def max_pixels_limit(max_pixels=None):
    """The pixel limit in force: ``max_pixels``, else ``$SKFER_MAX_PIXELS``, else :data:`MAX_PIXELS`."""
    if max_pixels is None:
        env = os.environ.get("SKFER_MAX_PIXELS")
        if env is None:
            return MAX_PIXELS
        try:
            max_pixels = int(env)
        except ValueError:
            raise ValueError(f"SKFER_MAX_PIXELS must be a positive int, got {env!r}.") from None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}.")
    return int(max_pixels)


def image_pixels_from_header(data):
    """``(pixels, 'W x H')`` read from an image file's header, or None if unknown.

    Pillow reads the header only (no pixels are decoded).
    """
    import io
    import re
    import warnings

    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with scikit-image
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own DecompressionBombWarning
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                return width * height, f"{width} x {height} = {width * height:,} pixels"
    except Image.DecompressionBombError as exc:  # Pillow's own, higher limit
        found = re.search(r"\((\d+) pixels\)", str(exc))
        n = int(found.group(1)) if found else 2**62
        return n, f"{n:,} pixels"
    except Exception:  # not a format Pillow knows: OpenCV decides
        return None


def decode_image(data, name="image", *, mode="rgb", max_pixels=None):
    """Decode an image file's bytes into an RGB (or grey) ndarray.

    The one decoder of skfer: :func:`read_image` reads a file and calls it,
    ``skfer serve`` calls it on uploads. The size is read from the header
    first, and a file of more than ``max_pixels`` pixels is refused before
    its pixels are decoded.

    Parameters
    ----------
    data : bytes or ndarray of uint8
        The file's contents.
    name : str, default='image'
        What to call the file in error messages.
    mode : {'rgb', 'gray', 'unchanged'}, default='rgb'
        As in :func:`read_image`.
    max_pixels : int or None, default=None
        Pixel limit (width x height); None: :func:`max_pixels_limit`.

    Returns
    -------
    image : ndarray of shape (H, W) or (H, W, C)

    Raises
    ------
    ImageTooLargeError
        (a ValueError) if the image has more than ``max_pixels`` pixels.
    ValueError
        If the bytes are empty, corrupt or not an image format that can be read.
    """
    import cv2

    if mode not in _READ_MODES:
        raise ValueError(f"mode must be one of {_READ_MODES}, got {mode!r}.")
    limit = max_pixels_limit(max_pixels)
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) \
        else np.asarray(data, dtype=np.uint8).reshape(-1)
    if buf.size == 0:
        raise ValueError(f"Image file '{name}' is empty (0 bytes).")
    size = image_pixels_from_header(memoryview(buf))
    if size is not None and size[0] > limit:
        raise ImageTooLargeError(
            f"Image file '{name}' is {size[1]}, more than the limit of "
            f"{limit:,} pixels; give a smaller image, or raise the limit (max_pixels=, "
            "skfer predict --max-pixels, or the SKFER_MAX_PIXELS environment variable).")
    flag = {
        "rgb": cv2.IMREAD_COLOR,
        "gray": cv2.IMREAD_GRAYSCALE,
        "unchanged": cv2.IMREAD_UNCHANGED,
    }[mode]
    try:
        img = cv2.imdecode(buf, flag)
    except cv2.error as exc:  # e.g. OpenCV's own size limit
        raise ValueError(f"Could not read image file '{name}': OpenCV refused it "
                         f"({str(exc).strip().splitlines()[-1]}).") from None
    if img is None:
        img = _read_with_imageio(Path(str(name)), buf, mode)
    elif img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.shape[0] * img.shape[1] > limit:  # a format whose header Pillow did not read
        raise ImageTooLargeError(
            f"Image file '{name}' is {img.shape[1]} x {img.shape[0]} pixels, more than the "
            f"limit of {limit:,} pixels; give a smaller image or raise the limit.")
    return np.ascontiguousarray(img)


def read_image(path, mode="rgb", *, max_pixels=None):
    """Read one image file into an RGB (or grey) ndarray.

    Parameters
    ----------
    path : str or os.PathLike
        The image file. Any format OpenCV reads (PNG, JPEG, TIFF, BMP, WebP...)
        and, as a fallback, what ``imageio`` reads (GIF...).
    mode : {'rgb', 'gray', 'unchanged'}, default='rgb'
        ``'rgb'``: ``(H, W, 3)`` uint8; ``'gray'``: ``(H, W)`` uint8;
        ``'unchanged'``: as stored (grey ``(H, W)``, RGB, or RGBA; 16-bit
        files stay ``uint16``).
    max_pixels : int or None, default=None
        Refuse a file of more pixels than this, from its header, before
        decoding it; None: :data:`MAX_PIXELS` (50 megapixels) or the
        ``SKFER_MAX_PIXELS`` environment variable.

    Returns
    -------
    image : ndarray of shape (H, W) or (H, W, C)

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ImageTooLargeError
        (a ValueError) if the image has more than ``max_pixels`` pixels.
    ValueError
        If the file is not a regular file, is corrupt or is not an image
        format that can be read.

    Examples
    --------
    >>> import tempfile, os, numpy as np, cv2
    >>> from skfer._image import read_image
    >>> path = os.path.join(tempfile.mkdtemp(), "red.png")
    >>> _ = cv2.imwrite(path, np.dstack([np.zeros((4, 5)), np.zeros((4, 5)),
    ...                                  np.full((4, 5), 255)]).astype(np.uint8))
    >>> img = read_image(path)
    >>> img.shape, img[0, 0].tolist()
    ((4, 5, 3), [255, 0, 0])
    """
    if mode not in _READ_MODES:
        raise ValueError(f"mode must be one of {_READ_MODES}, got {mode!r}.")
    if not is_path(path):
        raise TypeError(f"Expected a file path (str or PathLike), got {type(path).__name__}.")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Image file not found: '{path}'.")
    if path.is_dir():
        raise ValueError(f"'{path}' is a directory, not an image file.")
    if not path.is_file():
        raise ValueError(f"'{path}' is not a regular file (a FIFO, socket or device?).")
    return decode_image(np.fromfile(path, dtype=np.uint8), str(path), mode=mode,
                        max_pixels=max_pixels)


def _read_with_imageio(path, data, mode):
    """Fallback reader for formats OpenCV lacks (GIF); raises a clear error.

    Decodes the bytes already read, so no file handle is left open on error.
    """
    import warnings

    try:
        import imageio.v3 as iio

        with warnings.catch_warnings():
            # imageio probes its deprecated DICOM plugin on unknown bytes.
            warnings.simplefilter("ignore", DeprecationWarning)
            img = np.asarray(iio.imread(data.tobytes(), index=0, extension=path.suffix or None))
    except Exception as exc:  # imageio raises many types for bad files
        raise ValueError(
            f"Could not read image file '{path}': it is corrupt or not in an "
            "image format OpenCV or imageio can decode (PNG, JPEG, TIFF, BMP, "
            f"WebP, GIF...). Decoder said: {exc}"
        ) from None
    if img.ndim not in (2, 3) or img.size == 0:
        raise ValueError(f"Could not read image file '{path}': unexpected shape {img.shape}.")
    if mode == "unchanged":
        return img
    img = to_uint8(img) if img.dtype != np.uint8 else img
    if img.ndim == 2:
        gray = img
        rgb = np.dstack([img] * 3)
    else:
        rgb = img[:, :, :3] if img.shape[2] >= 3 else np.dstack([img[:, :, 0]] * 3)
        gray = to_gray(rgb)
    return rgb if mode == "rgb" else gray


def _check_pixels(shape, subject):
    """Refuse an in-memory image of more pixels than :func:`max_pixels_limit`.

    The limit of image files holds for arrays too: every transformer's work
    (HOG, LBP, face detection...) grows with the pixel count, and a
    20000 x 20000 array would run for minutes.
    """
    height, width = int(shape[0]), int(shape[1])
    limit = max_pixels_limit()
    if height * width > limit:
        raise ImageTooLargeError(
            f"{subject} {width} x {height} = {height * width:,} pixels, more "
            f"than the limit of {limit:,} pixels; resize it first (e.g. cv2.resize), or "
            "raise the limit with the SKFER_MAX_PIXELS environment variable."
        )


def check_image(img, name="image"):
    """Validate and canonicalise one in-memory image; see the module docstring.

    Returns the image as ``(H, W)`` or ``(H, W, 3|4)``, ``uint8`` or
    ``float32``; raises ``ValueError`` naming ``name`` and the problem.
    """
    if img is None:
        raise ValueError(f"{name} is None; expected an image array.")
    if is_path(img):
        raise TypeError(f"{name} is a path; paths must not be mixed with arrays.")
    try:
        img = np.asarray(img)
    except Exception as exc:
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if img.dtype == object or not (
        np.issubdtype(img.dtype, np.number) or img.dtype == bool
    ) or np.iscomplexobj(img):
        raise ValueError(
            f"{name} has dtype {img.dtype}; images must hold real numbers "
            "(uint8, other integers, or floats)."
        )
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3):
        raise ValueError(
            f"{name} has shape {img.shape}; an image must be (H, W) or "
            "(H, W, C) with C in 1, 3, 4."
        )
    if img.ndim == 3 and img.shape[2] not in (3, 4):
        raise ValueError(
            f"{name} has {img.shape[2]} channels (shape {img.shape}); "
            "supported are 1 (grey), 3 (RGB) and 4 (RGBA). If channels come "
            "first, move them last with np.moveaxis(image, 0, -1)."
        )
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {img.shape}).")
    _check_pixels(img.shape, f"{name} is an image of")
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating) and not np.isfinite(img).all():
            raise ValueError(
                f"{name} contains NaN or infinite values; replace them "
                "(e.g. np.nan_to_num) before passing the image."
            )
        img = img.astype(np.float32, copy=False)
        if not np.isfinite(img).all():  # e.g. float64 beyond float32's range
            raise ValueError(f"{name} has values too large for float32.")
    return img


def image_shape_of(n_features, image_shape=None, *, name="image_shape", frames=False):
    """Shape of one sample for flat vectors of ``n_features`` values.

    The one place where skfer turns a flat row back into an image (or a
    sequence of frames), for the transformers and the neural estimators.

    Parameters
    ----------
    n_features : int
        Values per flat sample.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(H, W, C)`` (with ``frames``: ``(T, H, W)`` or
        ``(T, H, W, C)``), checked against ``n_features``; one entry may be
        -1 (inferred, as in numpy's reshape). ``None``: a square grey image
        when ``n_features`` is a perfect square (2304 -> (48, 48)), else a
        ``ValueError`` asking for the shape.
    name : str, default='image_shape'
        The parameter's name in error messages.
    frames : bool, default=False
        The shape has a leading time axis (frame sequences).

    Returns
    -------
    shape : tuple of int
        All entries resolved; a trailing single channel is dropped
        (``(48, 48, 1)`` -> ``(48, 48)``).

    Examples
    --------
    >>> from skfer._image import image_shape_of
    >>> image_shape_of(2304), image_shape_of(12, (3, -1)), image_shape_of(12, (2, 2, 3))
    ((48, 48), (3, 4), (2, 2, 3))
    """
    layout = "(T, H, W) or (T, H, W, C)" if frames else "(H, W) or (H, W, C)"
    if image_shape is None:
        side = math.isqrt(int(n_features))
        if frames or side * side != n_features or side == 0:
            raise ValueError(
                f"Got flat input with {n_features} features, which is not a square "
                f"grey image; pass {name}={layout} so the vectors can be turned "
                "back into images."
            )
        return (side, side)
    try:
        shape = tuple(image_shape)
    except TypeError:
        shape = ()
    n_axes = (3, 4) if frames else (2, 3)
    if (
        len(shape) not in n_axes
        or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape)
        or shape.count(-1) > 1
        or any(s == 0 or s < -1 for s in shape)
    ):
        raise ValueError(
            f"{name} must be {layout} of positive ints (one of them may be -1, "
            f"inferred as in numpy's reshape), got {image_shape!r}."
        )
    shape = tuple(int(s) for s in shape)
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        if n_features % known:
            raise ValueError(
                f"{name}={shape} cannot hold {n_features} features per sample "
                f"({n_features} is not a multiple of {known})."
            )
        shape = tuple(n_features // known if s == -1 else s for s in shape)
    if int(np.prod(shape)) != n_features:
        raise ValueError(
            f"{name}={shape} holds {int(np.prod(shape))} values but the flat "
            f"input has {n_features} features per sample."
        )
    if len(shape) == n_axes[1] and shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"{name}={shape} has {shape[-1]} channels; supported are 1 (grey), "
            "3 (RGB) and 4 (RGBA), channels last."
        )
    if len(shape) == n_axes[1] and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def check_images(X, *, name="X", allow_flat=False, image_shape=None, read_mode="rgb"):
    """Validate ``X`` against the image convention and return canonical images.

    Parameters
    ----------
    X : ndarray, list of arrays, or list of paths
        See the module docstring.
    name : str, default='X'
        Name used in error messages.
    allow_flat : bool, default=False
        Accept a 2-D array ``(n_samples, n_features)`` of flat images, reshaped
        with ``image_shape`` (``None``: square grey).
    image_shape : tuple or None, default=None
        Shape of one flat image; only used for flat input.
    read_mode : {'rgb', 'gray', 'unchanged'}, default='rgb'
        How paths are read (see :func:`read_image`).

    Returns
    -------
    images : ndarray of shape (n_samples, H, W[, C]) or list of ndarrays
        An ndarray when all images share shape and dtype, else a list.
    flat : bool
        Whether the input was flat (2-D); transformers that preserve form
        return flat output for flat input.
    """
    if X is None:
        raise ValueError(f"{name} is None; expected images.")
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim == 2:
            if not allow_flat:
                raise ValueError(
                    f"{name} is a 2-D array of shape {X.shape}, but this transformer "
                    "expects a collection of images: (n_samples, H, W[, C]) or a "
                    "list of images. For a single image use X[np.newaxis]."
                )
            if X.shape[0] == 0:
                raise ValueError(f"{name} holds 0 samples; at least 1 is required.")
            shape = image_shape_of(X.shape[1], image_shape)
            imgs = X.reshape((X.shape[0], *shape))
            return _check_stack(imgs, name), True
        if X.ndim in (3, 4):
            if X.shape[0] == 0:
                raise ValueError(f"{name} holds 0 images; at least 1 is required.")
            return _check_stack(X, name), False
        raise ValueError(
            f"{name} has shape {X.shape}; expected (n_samples, H, W) or "
            "(n_samples, H, W, C), a list of images, or a list of file paths."
        )
    if isinstance(X, (str, os.PathLike)):
        raise ValueError(
            f"{name} is a single path ({str(X)!r}); pass a list of paths, e.g. [path]."
        )
    if not isinstance(X, Sequence) and not isinstance(X, np.ndarray):
        try:
            X = list(X)
        except TypeError:
            raise ValueError(
                f"{name} of type {type(X).__name__} is not images; expected an "
                "ndarray, a list of images, or a list of file paths."
            ) from None
    if len(X) == 0:
        raise ValueError(f"{name} holds 0 images; at least 1 is required.")
    if all(is_path(x) for x in X):
        imgs = [read_image(p, mode=read_mode) for p in X]
        return stack_images(imgs), False
    if any(is_path(x) for x in X):
        raise ValueError(f"{name} mixes file paths and arrays; pass one kind only.")
    imgs = [check_image(x, f"{name}[{i}]") for i, x in enumerate(X)]
    return stack_images(imgs), False


def _check_stack(X, name):
    """Validate a stacked ndarray of images at once (fast path)."""
    if X.ndim == 4 and X.shape[3] == 1:
        X = X[..., 0]
    if X.ndim == 4 and X.shape[3] not in (3, 4):
        raise ValueError(
            f"{name} has shape {X.shape}: {X.shape[3]} channels; supported are 1, 3 "
            "and 4 channels last. If channels come first (N, C, H, W), use "
            "np.moveaxis(X, 1, -1)."
        )
    if X.shape[1] == 0 or X.shape[2] == 0:
        raise ValueError(f"{name} has shape {X.shape}: images are empty.")
    _check_pixels(X.shape[1:], f"{name} holds images of")
    if X.dtype == np.uint8:
        return X
    if X.dtype == bool:
        return X.astype(np.uint8) * 255
    if not (np.issubdtype(X.dtype, np.number)) or np.iscomplexobj(X):
        raise ValueError(f"{name} has dtype {X.dtype}; images must hold real numbers.")
    Xf = X.astype(np.float32, copy=False)
    if not np.isfinite(Xf).all():
        bad = int(np.flatnonzero(~np.isfinite(Xf.reshape(len(Xf), -1)).all(axis=1))[0])
        raise ValueError(
            f"{name}[{bad}] contains NaN or infinite values; replace them "
            "(e.g. np.nan_to_num) before passing the images."
        )
    return Xf


def as_pixel_dtype(images, name="X"):
    """Numeric images already checked finite, in the convention's pixel types.

    For input that sklearn's ``validate_data`` checked (finite numbers) and
    that only needs the convention's dtypes, without a second full check:
    ``uint8`` is returned as is, ``bool`` becomes ``uint8`` (0/255), other
    types become ``float32``, with a ``ValueError`` for values too large
    for it.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    if images.dtype == bool:
        return images.astype(np.uint8) * 255
    out = images.astype(np.float32, copy=False)
    if out.dtype != images.dtype and not np.isfinite(out).all():
        raise ValueError(f"{name} has values too large for float32.")
    return out


def stack_images(images):
    """Stack a list of images into one ndarray when they share shape and dtype."""
    if isinstance(images, np.ndarray):
        return images
    images = list(images)
    if images and all(
        im.shape == images[0].shape and im.dtype == images[0].dtype for im in images
    ):
        return np.stack(images)
    return images


def to_uint8(img):
    """Return an 8-bit copy of an image for OpenCV routines that need one.

    ``uint8`` is returned as is. Floats with a maximum of at most 1 are taken
    as [0, 1] and scaled by 255; other values are clipped to [0, 255].
    """
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    if img.dtype == bool:
        return img.astype(np.uint8) * 255
    img = img.astype(np.float32, copy=False)
    if img.size and np.nanmax(img) <= 1.0 and np.nanmin(img) >= 0.0:
        img = img * 255.0
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def to_gray(img):
    """One image ``(H, W[, C])`` in grey ``(H, W)``, keeping the convention's dtype.

    The one colour-to-grey conversion of skfer (OpenCV's ITU-R 601 luma,
    ``0.299 R + 0.587 G + 0.114 B``; an alpha channel is ignored). ``uint8``
    stays ``uint8`` (rounded as OpenCV rounds), ``float32`` stays
    ``float32``, other types become ``float32``; a grey image is returned as
    a contiguous array (not copied when it already is one).

    Examples
    --------
    >>> import numpy as np
    >>> from skfer._image import to_gray
    >>> rgb = np.zeros((1, 1, 3), np.uint8); rgb[..., 0] = 255
    >>> int(to_gray(rgb)[0, 0])
    76
    """
    import cv2

    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.dtype not in (np.uint8, np.float32):
        img = img.astype(np.float32)
    if img.ndim == 2:
        return np.ascontiguousarray(img)
    return cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_RGB2GRAY)


def to_gray_uint8(img):
    """One image ``(H, W[, C])`` of any dtype -> grey ``uint8`` ``(H, W)``.

    :func:`to_uint8` then :func:`to_gray`: what OpenCV's detectors read.
    """
    return to_gray(to_uint8(img))


def to_rgb_uint8(img):
    """One image ``(H, W[, C])`` -> RGB ``uint8`` ``(H, W, 3)``, for drawing.

    Grey is repeated over three channels, alpha is dropped, other numeric
    dtypes are mapped as :func:`to_uint8` maps them (``bool`` is refused).
    """
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] != 3):
        raise ValueError(
            "image must be (H, W) grey, (H, W, 1), (H, W, 3) RGB or (H, W, 4) "
            f"RGBA, got shape {img.shape}."
        )
    if img.dtype == bool or not np.issubdtype(img.dtype, np.number):
        raise ValueError(f"image must hold numbers, got dtype {img.dtype}.")
    img = to_uint8(img)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return np.ascontiguousarray(img)


def to_float01(img):
    """Return a float32 copy in [0, 1]: uint8 / 255, floats mapped like :func:`to_uint8`."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    img = img.astype(np.float32, copy=False)
    if img.size and np.nanmax(img) <= 1.0 and np.nanmin(img) >= 0.0:
        return img
    return np.clip(img, 0, 255) / 255.0


def _chunks(n, n_chunks):
    bounds = np.linspace(0, n, n_chunks + 1).astype(int)
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


_opencv_threads_lock = threading.Lock()
_opencv_threads_state = {"users": 0, "saved": None}


@contextlib.contextmanager
def opencv_single_threaded(active=True):
    """OpenCV's own thread pool set to one thread while the block runs.

    For code that runs OpenCV from several worker threads at once (each
    photo in its own thread): OpenCV's pool would start as many threads
    again per call and they would fight for the cores (29 photos with MTCNN
    on 2 cores: 2.52 s with 2 workers and OpenCV's default, 2.19 s with
    this). The setting is process-wide; nested and concurrent blocks share
    it and the last one out restores the previous count.

    Parameters
    ----------
    active : bool, default=True
        False: do nothing (for ``with opencv_single_threaded(n_workers > 1)``).
    """
    if not active:
        yield
        return
    import cv2

    state = _opencv_threads_state
    with _opencv_threads_lock:
        if state["users"] == 0:
            state["saved"] = cv2.getNumThreads()
            cv2.setNumThreads(1)
        state["users"] += 1
    try:
        yield
    finally:
        with _opencv_threads_lock:
            state["users"] -= 1
            if state["users"] == 0:
                cv2.setNumThreads(state["saved"])


def map_images(
    func: Callable,
    images,
    *,
    n_jobs=None,
    verbose=0,
    desc=None,
    prefer="threads",
):
    """Apply ``func`` to each image, in parallel chunks, with a progress bar.

    Parameters
    ----------
    func : callable
        ``func(image) -> result``.
    images : ndarray or list
        Images (as returned by :func:`check_images`).
    n_jobs : int or None, default=None
        Number of joblib workers (``None``: 1, ``-1``: all cores).
    verbose : int, default=0
        Show a tqdm progress bar when > 0.
    desc : str or None
        Label of the progress bar.
    prefer : {'threads', 'processes'}, default='threads'
        joblib backend hint. OpenCV releases the GIL, so threads suit it.

    Returns
    -------
    results : list
        ``[func(img) for img in images]``, in order.
    """
    from joblib import Parallel, delayed, effective_n_jobs

    n = len(images)
    n_workers = effective_n_jobs(n_jobs) if n_jobs is not None else 1
    bar = None
    if verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=desc, unit="img", leave=False)

    def run_chunk(a, b):
        return [func(images[i]) for i in range(a, b)]

    results = []
    try:
        if n_workers == 1 or n < 2:
            step = max(1, min(256, n // 20 or 1))
            for a, b in _chunks(n, max(1, math.ceil(n / step))):
                results.extend(run_chunk(a, b))
                if bar is not None:
                    bar.update(b - a)
        else:
            chunks = _chunks(n, min(n, n_workers * 8))
            with opencv_single_threaded(prefer == "threads"):
                gen = Parallel(n_jobs=n_workers, prefer=prefer, return_as="generator")(
                    delayed(run_chunk)(a, b) for a, b in chunks
                )
                for (a, b), part in zip(chunks, gen, strict=True):
                    results.extend(part)
                    if bar is not None:
                        bar.update(b - a)
    finally:
        if bar is not None:
            bar.close()
    return results
