"""Face cropping and alignment as transformers, on the face engine of :mod:`skfer.faces`.

:class:`FaceCropper` and :class:`FaceAligner` are the Pipeline steps of the
one face pipeline: detection, cropping, alignment and resizing are
:class:`skfer.faces.FaceEngine`'s, so a Pipeline and
:func:`skfer.pretrained.detect_emotions` or ``skfer predict`` feed a model
the same pixels. :func:`detect_faces` is :func:`skfer.faces.detect_faces`.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._image import map_images, stack_images
from ..faces import (
    ALIGNMENTS,
    MAX_MARGIN,
    FaceEngine,
    align_eyes,
    center_box,
    check_margin,
    check_size,
    detect_faces,
    square_crop,
)
from ._base import BaseImageTransformer

__all__ = ["detect_faces", "FaceCropper", "FaceAligner"]


class FaceCropper(BaseImageTransformer):
    """Detect the faces in each image and crop one square face per image.

    Parameters
    ----------
    select : {'largest', 'center'}, default='largest'
        Which face to keep when an image holds several: the largest box, or
        the one whose centre is nearest the image centre.
    margin : float, default=0.2
        Enlarge the face box by this fraction of its side on each side
        (0.2: the crop is 1.4 times the box), at most 2. The crop is square,
        centred on the box; where it leaves the image the edge pixels are
        repeated.
    output_size : int, (height, width) or None, default=None
        Resize every crop to this size with ``cv2.INTER_AREA``, so the
        output stacks into one ndarray. ``None`` keeps each crop's own size.
    on_missing : {'center', 'full', 'raise'}, default='center'
        What to do with an image in which no face is found: ``'center'``
        crops its largest centred square, ``'full'`` keeps the whole image
        (stretched to ``output_size`` if one is set), ``'raise'`` raises a
        ``ValueError`` naming the image indices.
    detector : str or object, default='haar'
        The face detector: ``'haar'`` (OpenCV's Haar cascade,
        :class:`~skfer.faces.HaarDetector`), ``'mtcnn'`` (a small CNN that
        also finds five landmarks, :class:`~skfer.faces.MTCNNDetector`: more
        faces, tilted ones too), another name registered with
        :func:`skfer.faces.register_detector`, or a detector object.
    detector_params : dict or None, default=None
        Parameters of that detector (for ``'haar'``: ``scale_factor``,
        ``min_neighbors``, ``min_size``, ``max_side``, ``cascade``; for
        ``'mtcnn'``: ``min_size``, ``max_side``, ``thresholds``,
        ``scale_factor``, ``rotations``, ``square``); unset ones keep its
        defaults.
    align : {None, 'eyes', 'landmarks', 'auto'}, default=None
        Align each face before resizing: ``'eyes'`` levels the eyes the eye
        cascade finds in the crop; ``'landmarks'`` warps the face onto
        FER2013's framing by the detector's five landmarks (needs a detector
        that finds them, as ``'mtcnn'``); ``'auto'``: ``'landmarks'`` when
        the detector finds landmarks, else none. See
        :class:`skfer.faces.FaceEngine`.
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

    #: sklearn's constraints; _validate_params_values then checks what they
    #: cannot say (an output size's pair, the detector's name and parameters,
    #: an alignment the detector can do).
    _parameter_constraints = {
        **BaseImageTransformer._parameter_constraints,
        "select": [StrOptions({"largest", "center"})],
        "margin": [Interval(Real, 0, MAX_MARGIN, closed="both")],
        "output_size": [None, Interval(Integral, 1, None, closed="left"), "array-like"],
        "on_missing": [StrOptions({"center", "full", "raise"})],
        "detector": [str, HasMethods(["detect"])],
        "detector_params": [None, dict],
        "align": [None, StrOptions(set(ALIGNMENTS) | {"auto"})],
    }

    def __init__(
        self,
        *,
        select="largest",
        margin=0.2,
        output_size=None,
        on_missing="center",
        detector="haar",
        detector_params=None,
        align=None,
        n_jobs=None,
        verbose=0,
    ):
        self.select = select
        self.margin = margin
        self.output_size = output_size
        self.on_missing = on_missing
        self.detector = detector
        self.detector_params = detector_params
        self.align = align
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _validate_params_values(self):
        if self.select not in ("largest", "center"):
            raise ValueError(
                f"select must be 'largest' or 'center', got {self.select!r}."
            )
        check_margin(self.margin)
        if self.on_missing not in ("center", "full", "raise"):
            raise ValueError(
                f"on_missing must be 'center', 'full' or 'raise', got {self.on_missing!r}."
            )
        check_size(self.output_size, "output_size")
        self.face_engine()  # the detector, its parameters and the alignment

    def face_engine(self):
        """The :class:`~skfer.faces.FaceEngine` this cropper runs (parameters checked).

        Crops keep the images' channels; ``output_size`` is the engine's
        ``size``. :class:`skfer.faces.FaceRecognizer` uses it to crop faces
        for a Pipeline that starts with this step exactly as the Pipeline
        would.
        """
        return FaceEngine(detector=self.detector, detector_params=self.detector_params,
                          margin=check_margin(self.margin),
                          size=check_size(self.output_size, "output_size"),
                          align=self.align)

    def _crop_one(self, image, engine):
        found = engine.detect(image)
        boxes = found.boxes
        if len(boxes):
            i = 0
            if self.select == "center":
                height, width = image.shape[:2]
                centres = boxes[:, :2] + boxes[:, 2:] / 2.0
                dist = np.hypot(
                    centres[:, 0] - width / 2.0, centres[:, 1] - height / 2.0
                )
                i = int(np.argmin(dist))
            box = tuple(int(v) for v in boxes[i])
            marks = None if found.landmarks is None else found.landmarks[i]
            return engine.crop(image, boxes[i], marks), box, len(boxes)
        if self.on_missing == "full":
            return engine.finish(image), None, 0
        # 'center', and 'raise' (raised after all images are seen)
        return engine.finish(square_crop(image, center_box(image.shape), 0.0)), None, 0

    def _transform_images(self, images):
        engine = self.face_engine()
        results = map_images(
            lambda img: self._crop_one(img, engine),
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

    def _transform_images(self, images):
        results = map_images(
            align_eyes,
            images,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc=type(self).__name__,
            prefer=self._parallel_prefer,
        )
        self.rotations_ = np.array([r[1] for r in results], dtype=np.float64)
        self.eyes_found_ = np.array([r[2] for r in results], dtype=bool)
        return stack_images([r[0] for r in results])
