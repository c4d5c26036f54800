"""Face detection, cropping and alignment with OpenCV's Haar cascades.

The cascades are the XML files shipped inside the ``opencv-python`` wheel
(``cv2.data.haarcascades``); nothing is downloaded. A
:class:`cv2.CascadeClassifier` is loaded once per thread and cached, because
its ``detectMultiScale`` is not guaranteed to be thread-safe.

The defaults of :func:`detect_faces` were tuned on the nine ``dlib_*`` photos
of the real-data folder (43 annotated faces) and checked on 20 more photos;
``benchmarks/bench_detection.py`` re-measures them.
"""

from __future__ import annotations

import math
import numbers
import os
import threading

import numpy as np

from .._image import check_image, read_image, stack_images, to_uint8
from ._base import BaseImageTransformer

__all__ = ["detect_faces", "FaceCropper", "FaceAligner"]

#: Cascade names accepted by :func:`detect_faces` and their files.
_CASCADE_FILES = {
    "default": "haarcascade_frontalface_default.xml",
    "alt": "haarcascade_frontalface_alt.xml",
    "alt2": "haarcascade_frontalface_alt2.xml",
    "alt_tree": "haarcascade_frontalface_alt_tree.xml",
    "eye": "haarcascade_eye.xml",
}

_DETECT_DEFAULTS = {
    "scale_factor": 1.1,
    "min_neighbors": 3,
    "min_size": 0.06,
    "max_side": 640,
    "cascade": "alt2",
}

_local = threading.local()


def _cascade_path(name):
    import cv2

    if name in _CASCADE_FILES:
        return os.path.join(cv2.data.haarcascades, _CASCADE_FILES[name])
    if isinstance(name, (str, os.PathLike)) and str(name).lower().endswith(".xml"):
        if not os.path.isfile(name):
            raise ValueError(f"Cascade file not found: '{name}'.")
        return os.fspath(name)
    raise ValueError(
        f"cascade must be one of {sorted(set(_CASCADE_FILES) - {'eye'})}, a path to "
        f"an OpenCV cascade .xml file, or a list of those; got {name!r}."
    )


def _get_cascade(name):
    """The cached :class:`cv2.CascadeClassifier` ``name`` of this thread."""
    import cv2

    cache = getattr(_local, "cascades", None)
    if cache is None:
        cache = _local.cascades = {}
    key = os.fspath(name) if isinstance(name, os.PathLike) else name
    clf = cache.get(key)
    if clf is None:
        path = _cascade_path(name)
        clf = cv2.CascadeClassifier(path)
        if clf.empty():
            raise ValueError(f"OpenCV could not load the cascade file '{path}'.")
        cache[key] = clf
    return clf


def _to_gray_uint8(image):
    """A canonical image (H, W) or (H, W, 3|4), any dtype -> grey uint8."""
    import cv2

    img = to_uint8(image)
    if img.ndim == 2:
        return np.ascontiguousarray(img)
    code = cv2.COLOR_RGBA2GRAY if img.shape[2] == 4 else cv2.COLOR_RGB2GRAY
    return cv2.cvtColor(np.ascontiguousarray(img), code)


def _check_single_image(image):
    """Validate one in-memory image by the convention; return grey uint8."""
    try:
        img = check_image(image, "image")
    except ValueError as exc:
        if "an image must be" not in str(exc) and "channels" not in str(exc):
            raise
        raise ValueError(
            f"{exc} detect_faces expected one image (H, W) or (H, W, C); for "
            "many images use FaceCropper or call detect_faces on each."
        ) from None
    return _to_gray_uint8(img)


def _check_detect_params(scale_factor, min_neighbors, min_size, max_side, cascade):
    """Validate :func:`detect_faces` parameters; return the cascade names."""
    if (
        not isinstance(scale_factor, numbers.Real)
        or isinstance(scale_factor, bool)
        or not scale_factor > 1.0
        or not math.isfinite(scale_factor)
    ):
        raise ValueError(
            f"scale_factor must be a number > 1 (e.g. 1.1), got {scale_factor!r}."
        )
    if (
        not isinstance(min_neighbors, numbers.Integral)
        or isinstance(min_neighbors, bool)
        or min_neighbors < 0
    ):
        raise ValueError(f"min_neighbors must be an int >= 0, got {min_neighbors!r}.")
    if isinstance(min_size, bool) or not (
        (isinstance(min_size, numbers.Integral) and min_size >= 1)
        or (isinstance(min_size, numbers.Real) and 0.0 < min_size < 1.0)
    ):
        raise ValueError(
            "min_size must be an int >= 1 (pixels) or a float in (0, 1) (fraction "
            f"of the image's longer side), got {min_size!r}."
        )
    if max_side is not None and (
        not isinstance(max_side, numbers.Integral)
        or isinstance(max_side, bool)
        or max_side < 24
    ):
        raise ValueError(f"max_side must be None or an int >= 24, got {max_side!r}.")
    names = [cascade] if isinstance(cascade, (str, os.PathLike)) else cascade
    try:
        names = list(names)
    except TypeError:
        names = []
    if not names:
        raise ValueError(
            f"cascade must be a cascade name ('alt2', 'default', 'alt', 'alt_tree'), "
            f"a path to a .xml file, or a non-empty list of those; got {cascade!r}."
        )
    for name in names:
        if name == "eye":
            raise ValueError("cascade='eye' detects eyes, not faces; use 'alt2'.")
        _cascade_path(name)
    return names


def _box_iou(a, b):
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _match_boxes(truth, detected, iou_threshold=0.3):
    """Greedy one-to-one matching by IoU; return ``(n_matched, n_unmatched_detected)``.

    Pairs are taken in decreasing IoU; each true box and each detection is
    used at most once.
    """
    pairs = sorted(
        (
            (_box_iou(t, d), i, j)
            for i, t in enumerate(truth)
            for j, d in enumerate(detected)
        ),
        reverse=True,
    )
    used_t, used_d = set(), set()
    for value, i, j in pairs:
        if value < iou_threshold:
            break
        if i not in used_t and j not in used_d:
            used_t.add(i)
            used_d.add(j)
    return len(used_t), len(detected) - len(used_d)


def _suppress(boxes, scores, iou_threshold=0.3, contain_threshold=0.5):
    """Drop boxes overlapping a better one, or lying mostly inside a larger one.

    A face inside a face is never right: a box with more than
    ``contain_threshold`` of its area inside a larger kept box is dropped.
    Boxes overlapping a kept box with IoU >= ``iou_threshold`` (duplicates
    from another cascade) are dropped in favour of the higher score.
    """
    if len(boxes) < 2:
        return boxes
    areas = boxes[:, 2] * boxes[:, 3]
    order = np.lexsort((-areas, -scores))
    kept = []
    for i in order:
        b = boxes[i]
        if any(_box_iou(b, boxes[k]) >= iou_threshold for k in kept):
            continue
        kept.append(i)
    kept = sorted(kept, key=lambda k: -areas[k])
    final = []
    for i in kept:
        x, y, w, h = boxes[i]
        inside = False
        for k in final:
            X, Y, W, H = boxes[k]
            ix = max(0, min(x + w, X + W) - max(x, X))
            iy = max(0, min(y + h, Y + H) - max(y, Y))
            if ix * iy > contain_threshold * w * h:
                inside = True
                break
        if not inside:
            final.append(i)
    return boxes[final]


def _detect_gray(gray, *, scale_factor, min_neighbors, min_size, max_side, cascades):
    """Detect faces in a grey uint8 image; parameters already validated."""
    import cv2

    height, width = gray.shape
    longer = max(height, width)
    scale = 1.0
    if max_side is not None and longer > max_side:
        scale = max_side / longer
        small = cv2.resize(
            gray,
            (max(1, round(width * scale)), max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA,
        )
    else:
        small = gray
    min_face = min_size if isinstance(min_size, numbers.Integral) else min_size * longer
    min_px = max(1, int(round(min_face * scale)))
    all_boxes, all_scores = [], []
    for name in cascades:
        clf = _get_cascade(name)
        boxes, scores = clf.detectMultiScale2(
            small,
            scaleFactor=float(scale_factor),
            minNeighbors=int(min_neighbors),
            minSize=(min_px, min_px),
        )
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        all_boxes.append(boxes)
        all_scores.append(np.asarray(scores, dtype=np.float64).reshape(-1))
    boxes = np.concatenate(all_boxes)
    scores = np.concatenate(all_scores)
    if len(boxes) == 0:
        return np.zeros((0, 4), dtype=np.int64)
    boxes = np.rint(boxes / scale).astype(np.int64)
    # Keep boxes inside the original image after rounding.
    boxes[:, 0] = np.clip(boxes[:, 0], 0, width - 1)
    boxes[:, 1] = np.clip(boxes[:, 1], 0, height - 1)
    boxes[:, 2] = np.clip(boxes[:, 2], 1, width - boxes[:, 0])
    boxes[:, 3] = np.clip(boxes[:, 3], 1, height - boxes[:, 1])
    boxes = _suppress(boxes, scores)
    order = np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable")
    return boxes[order]


def detect_faces(
    image,
    *,
    scale_factor=1.1,
    min_neighbors=3,
    min_size=0.06,
    max_side=640,
    cascade="alt2",
):
    """Find frontal faces in one image with an OpenCV Haar cascade.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), or str or os.PathLike
        One image by the skfer convention (grey, RGB or RGBA; ``uint8`` or
        float in [0, 1] or [0, 255]) or the path of an image file.
    scale_factor : float, default=1.1
        Step between the scales searched (> 1). Smaller finds more faces
        and is slower; 1.15 to 1.2 runs about 1.3 to 1.7 times faster and
        finds a few faces fewer.
    min_neighbors : int, default=3
        How many overlapping raw detections a face needs; higher gives fewer
        false faces and fewer true ones.
    min_size : int or float, default=0.06
        Smallest face searched for: an int is its side in pixels of the
        original image, a float in (0, 1) a fraction of the image's longer
        side (0.06: 30 px in a 500 px photo, 115 px in a 1920 px one).
        Smaller values find smaller faces, more slowly.
    max_side : int or None, default=640
        Detect on a copy downscaled so its longer side is at most
        ``max_side`` (boxes are mapped back); ``None`` searches at full
        size. Faces smaller than the cascade's window (20 px for ``'alt2'``)
        in that copy cannot be found.
    cascade : str, os.PathLike or list of those, default='alt2'
        Frontal-face cascade from ``cv2.data.haarcascades``: ``'alt2'``,
        ``'default'``, ``'alt'`` or ``'alt_tree'``, or the path of another
        cascade ``.xml``. With a list, the detections of all are merged
        (duplicates removed); this costs one pass per cascade.

    Returns
    -------
    boxes : ndarray of shape (n_faces, 4), dtype int64
        One ``(x, y, w, h)`` box per face in the original image's pixel
        coordinates (``x`` to the right, ``y`` down), largest area first;
        shape ``(0, 4)`` when no face is found.

    Raises
    ------
    ValueError
        If ``image`` is not one valid image (wrong shape or dtype, empty,
        NaN or infinite pixels, unreadable file) or a parameter is invalid.
    FileNotFoundError
        If ``image`` is a path that does not exist.

    See Also
    --------
    FaceCropper : Crop one face per image, in a pipeline.

    Notes
    -----
    A box lying mostly (more than half its area) inside a larger one is
    dropped: a face inside a face is a false detection. The defaults were
    tuned on 29 real photos; on the 43 annotated faces of the nine
    ``dlib_*`` ones they find 40 (recall 0.93 at IoU >= 0.3) with no false
    face. Haar cascades find upright, roughly frontal faces; profiles,
    strongly tilted or half-covered faces are often missed.

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.preprocessing import detect_faces
    >>> detect_faces(np.zeros((120, 160, 3), np.uint8))
    array([], shape=(0, 4), dtype=int64)
    >>> from skimage import data
    >>> boxes = detect_faces(data.astronaut())  # a NASA portrait, 512 x 512
    >>> boxes.shape
    (1, 4)
    """
    cascades = _check_detect_params(
        scale_factor, min_neighbors, min_size, max_side, cascade
    )
    if isinstance(image, (str, os.PathLike)):
        # Read as RGB, as FaceCropper reads paths, so both find the same boxes.
        gray = _to_gray_uint8(read_image(image, mode="rgb"))
    else:
        gray = _check_single_image(image)
    return _detect_gray(
        gray,
        scale_factor=scale_factor,
        min_neighbors=min_neighbors,
        min_size=min_size,
        max_side=max_side,
        cascades=cascades,
    )


def _square_crop(image, box, margin):
    """Square crop around ``box`` enlarged by ``margin``; edge-replicate padding."""
    height, width = image.shape[:2]
    x, y, w, h = (float(v) for v in box)
    side = max(1, int(round(max(w, h) * (1.0 + 2.0 * margin))))
    x0 = int(round(x + w / 2.0 - side / 2.0))
    y0 = int(round(y + h / 2.0 - side / 2.0))
    x1, y1 = x0 + side, y0 + side
    cx0, cy0 = min(max(x0, 0), width - 1), min(max(y0, 0), height - 1)
    cx1, cy1 = max(min(x1, width), cx0 + 1), max(min(y1, height), cy0 + 1)
    crop = image[cy0:cy1, cx0:cx1]
    pads = ((cy0 - y0, y1 - cy1), (cx0 - x0, x1 - cx1))
    if any(p for pair in pads for p in pair):
        pads = pads + ((0, 0),) * (image.ndim - 2)
        crop = np.pad(crop, pads, mode="edge")
    return np.ascontiguousarray(crop)


def _center_box(shape):
    """The largest centred square of an image, as an (x, y, w, h) box."""
    height, width = shape[:2]
    side = min(height, width)
    return ((width - side) // 2, (height - side) // 2, side, side)


def _resize(image, size):
    import cv2

    h, w = size
    if image.shape[:2] == (h, w):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def _as_output_size(size):
    if size is None:
        return None
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = size
        ok = all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
            for s in (h, w)
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"output_size must be None, a positive int or (height, width), got {size!r}."
        )
    return int(h), int(w)


class FaceCropper(BaseImageTransformer):
    """Detect the faces in each image and crop one square face per image.

    Parameters
    ----------
    select : {'largest', 'center'}, default='largest'
        Which face to keep when an image holds several: the largest box, or
        the one whose centre is nearest the image centre.
    margin : float, default=0.2
        Enlarge the face box by this fraction of its side on each side
        (0.2: the crop is 1.4 times the box). The crop is square, centred on
        the box; where it leaves the image the edge pixels are repeated.
    output_size : int, (height, width) or None, default=None
        Resize every crop to this size with ``cv2.INTER_AREA``, so the
        output stacks into one ndarray. ``None`` keeps each crop's own size.
    on_missing : {'center', 'full', 'raise'}, default='center'
        What to do with an image in which no face is found: ``'center'``
        crops its largest centred square, ``'full'`` keeps the whole image
        (stretched to ``output_size`` if one is set), ``'raise'`` raises a
        ``ValueError`` naming the image indices.
    detector_params : dict or None, default=None
        Keyword arguments for :func:`detect_faces` (``scale_factor``,
        ``min_neighbors``, ``min_size``, ``max_side``, ``cascade``); unset
        ones keep that function's defaults.
    n_jobs : int or None, default=None
        Number of threads working on images (``-1``: all cores).
    verbose : int, default=0
        Show a progress bar when > 0.

    Attributes
    ----------
    boxes_ : list of tuple or None
        Set by ``transform``: per image, the chosen face box ``(x, y, w, h)``
        in that image's pixels, or ``None`` when no face was found.
    found_ : ndarray of shape (n_samples,), dtype bool
        Set by ``transform``: whether a face was found in each image.
    n_faces_ : ndarray of shape (n_samples,), dtype int
        Set by ``transform``: how many faces were detected in each image.

    See Also
    --------
    detect_faces : The detector used, on one image.
    FaceAligner : Level the eyes of face crops.

    Notes
    -----
    ``transform`` returns crops with the input's channels and dtype (by the
    image convention, ``uint8`` stays ``uint8``, other types become
    ``float32``): an ndarray ``(n_samples, h, w[, C])`` when all crops share
    one size (always so with ``output_size``), else a list of arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.preprocessing import FaceCropper
    >>> blank = np.zeros((2, 60, 80, 3), np.uint8)  # no face: centre crops
    >>> crops = FaceCropper(output_size=48).fit_transform(blank)
    >>> crops.shape
    (2, 48, 48, 3)
    >>> cropper = FaceCropper(on_missing="full").fit(blank)
    >>> cropper.transform(blank).shape, cropper.found_.tolist()
    ((2, 60, 80, 3), [False, False])
    >>> from skimage import data
    >>> cropper = FaceCropper(output_size=(64, 64))
    >>> cropper.fit_transform([data.astronaut()]).shape, cropper.found_.tolist()
    ((1, 64, 64, 3), [True])
    """

    _parallel_prefer = "threads"

    def __init__(
        self,
        *,
        select="largest",
        margin=0.2,
        output_size=None,
        on_missing="center",
        detector_params=None,
        n_jobs=None,
        verbose=0,
    ):
        self.select = select
        self.margin = margin
        self.output_size = output_size
        self.on_missing = on_missing
        self.detector_params = detector_params
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _validate_params_values(self):
        if self.select not in ("largest", "center"):
            raise ValueError(
                f"select must be 'largest' or 'center', got {self.select!r}."
            )
        if (
            not isinstance(self.margin, numbers.Real)
            or isinstance(self.margin, bool)
            or not math.isfinite(self.margin)
            or self.margin < 0
        ):
            raise ValueError(f"margin must be a number >= 0, got {self.margin!r}.")
        if self.on_missing not in ("center", "full", "raise"):
            raise ValueError(
                f"on_missing must be 'center', 'full' or 'raise', got {self.on_missing!r}."
            )
        _as_output_size(self.output_size)
        self._detector_kwargs()

    def _detector_kwargs(self):
        params = {} if self.detector_params is None else self.detector_params
        if not isinstance(params, dict):
            raise ValueError(
                f"detector_params must be a dict or None, got {type(params).__name__}."
            )
        unknown = sorted(set(params) - set(_DETECT_DEFAULTS))
        if unknown:
            raise ValueError(
                f"detector_params has unknown keys {unknown}; allowed are "
                f"{sorted(_DETECT_DEFAULTS)}."
            )
        kwargs = {**_DETECT_DEFAULTS, **params}
        kwargs["cascades"] = _check_detect_params(**kwargs)
        del kwargs["cascade"]
        return kwargs

    def _crop_one(self, image, kwargs, size):
        boxes = _detect_gray(_to_gray_uint8(image), **kwargs)
        n_faces = len(boxes)
        if n_faces:
            if self.select == "center":
                height, width = image.shape[:2]
                centres = boxes[:, :2] + boxes[:, 2:] / 2.0
                dist = np.hypot(
                    centres[:, 0] - width / 2.0, centres[:, 1] - height / 2.0
                )
                box = boxes[int(np.argmin(dist))]
            else:
                box = boxes[0]
            box = tuple(int(v) for v in box)
            crop = _square_crop(image, box, float(self.margin))
        else:
            box = None
            if self.on_missing == "full":
                crop = image
            else:  # 'center', and 'raise' (raised after all images are seen)
                crop = _square_crop(image, _center_box(image.shape), 0.0)
        if size is not None:
            crop = _resize(crop, size)
        return crop, box, n_faces

    def _transform_images(self, images):
        from .._image import map_images

        kwargs = self._detector_kwargs()
        size = _as_output_size(self.output_size)
        results = map_images(
            lambda img: self._crop_one(img, kwargs, size),
            images,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc=type(self).__name__,
            prefer=self._parallel_prefer,
        )
        crops = [r[0] for r in results]
        self.boxes_ = [r[1] for r in results]
        self.found_ = np.array([r[1] is not None for r in results], dtype=bool)
        self.n_faces_ = np.array([r[2] for r in results], dtype=np.int64)
        if self.on_missing == "raise" and not self.found_.all():
            missing = np.flatnonzero(~self.found_)
            shown = ", ".join(str(i) for i in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise ValueError(
                f"No face found in image(s) at index {shown}{more} of {len(images)}. "
                "Use on_missing='center' or 'full' to keep such images, or relax "
                "detector_params (e.g. min_neighbors=2, scale_factor=1.05)."
            )
        return stack_images(crops)


def _find_eyes(gray):
    """Centres ``((xl, yl), (xr, yr))`` of the two eyes in a grey face, or None.

    The eye cascade runs on the upper 60% of the face scaled to a 192 px
    side. Candidates must lie in the upper half, one left and one right of
    the centre, be of similar size and 15 % to 70 % of the width apart, and
    tilt by at most 30 degrees; of the pairs left, the one with the most
    similar sizes, the smallest tilt and the midpoint nearest the vertical
    centre line wins.
    """
    import cv2

    height, width = gray.shape
    scale = 192.0 / max(height, width)
    work = cv2.resize(
        gray,
        (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    h, w = work.shape
    upper = work[: max(1, int(round(0.6 * h)))]
    if min(upper.shape) < 20:
        return None
    eyes = _get_cascade("eye").detectMultiScale(
        upper,
        scaleFactor=1.1,
        minNeighbors=3,
        minSize=(max(8, w // 12), max(8, w // 12)),
        maxSize=(max(9, w // 2), max(9, w // 2)),
    )
    eyes = np.asarray(eyes, dtype=np.float64).reshape(-1, 4)
    centres = eyes[:, :2] + eyes[:, 2:] / 2.0
    sizes = eyes[:, 2]
    best, best_cost = None, np.inf
    for i in range(len(eyes)):
        for j in range(len(eyes)):
            (xl, yl), (xr, yr) = centres[i], centres[j]
            if not (xl < w / 2.0 < xr) or max(yl, yr) > h / 2.0:
                continue
            dx, dy = xr - xl, yr - yl
            ratio = max(sizes[i], sizes[j]) / min(sizes[i], sizes[j])
            angle = math.degrees(math.atan2(dy, dx))
            if ratio > 1.6 or not (0.15 * w <= dx <= 0.7 * w) or abs(angle) > 30:
                continue
            cost = (
                (ratio - 1.0) + abs(angle) / 30.0 + abs((xl + xr) / 2.0 - w / 2.0) / w
            )
            if cost < best_cost:
                best, best_cost = (centres[i], centres[j]), cost
    if best is None:
        return None
    return tuple((float(x / scale), float(y / scale)) for x, y in best)


def _level_eyes(image, left, right):
    """Rotate ``image`` about the eyes' midpoint so they are level; return (image, angle)."""
    import cv2

    (xl, yl), (xr, yr) = left, right
    angle = math.degrees(math.atan2(yr - yl, xr - xl))
    centre = ((xl + xr) / 2.0, (yl + yr) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    height, width = image.shape[:2]
    rotated = cv2.warpAffine(
        np.ascontiguousarray(image),
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return rotated, angle


class FaceAligner(BaseImageTransformer):
    """Rotate face images so the eyes are level.

    Meant for face crops (e.g. from :class:`FaceCropper`): the eyes are
    found with OpenCV's eye Haar cascade (``haarcascade_eye.xml``) in the
    upper part of the face, the two most plausible ones are paired (upper
    half, one each side of the centre, similar size), and the image is
    rotated about their midpoint with the edge pixels repeated, keeping its
    size. When two eyes are not found the image is returned unchanged.

    Parameters
    ----------
    n_jobs : int or None, default=None
        Number of threads working on images (``-1``: all cores).
    verbose : int, default=0
        Show a progress bar when > 0.

    Attributes
    ----------
    rotations_ : ndarray of shape (n_samples,), dtype float
        Set by ``transform``: the rotation applied to each image, in degrees
        counter-clockwise (OpenCV's convention); 0.0 when it was left
        unchanged.
    eyes_found_ : ndarray of shape (n_samples,), dtype bool
        Set by ``transform``: whether two eyes were found.

    See Also
    --------
    FaceCropper : Crop the faces first.

    Notes
    -----
    Output images have the input's shape, channels and dtype (by the image
    convention). Faces tilted by more than about 30 degrees, or with closed
    or covered eyes, are usually left as they are.

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.preprocessing import FaceAligner
    >>> faces = np.full((2, 64, 64), 128, np.uint8)  # no eyes: unchanged
    >>> aligner = FaceAligner().fit(faces)
    >>> out = aligner.transform(faces)
    >>> out.shape, bool((out == faces).all()), aligner.rotations_.tolist()
    ((2, 64, 64), True, [0.0, 0.0])
    """

    _parallel_prefer = "threads"

    def __init__(self, *, n_jobs=None, verbose=0):
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _align_one(self, image):
        eyes = _find_eyes(_to_gray_uint8(image))
        if eyes is None:
            return image, 0.0, False
        rotated, angle = _level_eyes(image, *eyes)
        return rotated, float(angle), True

    def _transform_images(self, images):
        from .._image import map_images

        results = map_images(
            self._align_one,
            images,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc=type(self).__name__,
            prefer=self._parallel_prefer,
        )
        self.rotations_ = np.array([r[1] for r in results], dtype=np.float64)
        self.eyes_found_ = np.array([r[2] for r in results], dtype=bool)
        return stack_images([r[0] for r in results])
