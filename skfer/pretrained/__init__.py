"""FER models trained by skfer and shipped inside the package: no download.

:func:`load` returns a fitted Pipeline from photos (with face detection) or
from face crops (without) to the seven FER2013 expressions;
:func:`detect_emotions` returns every face of each photo with its box and
probabilities. The weights are in skfer's safe format (safetensors plus a
JSON config, nothing executed on load) under ``skfer/pretrained/weights``;
``skfer recipe`` (:mod:`skfer.pretrained.train`) reproduces them. The model
card is ``docs/pretrained.rst``.
"""

from __future__ import annotations

import json
from importlib import resources

__all__ = ["ALIASES", "DEFAULT", "MODELS", "detect_emotions", "load"]

#: The name of the recommended shipped model (``load()``'s default).
DEFAULT = "fer2013_mini_xception"


#: The model file in each model's folder of ``weights/``, next to its ``card.json``.
MODEL_FILE = "model.skfer"


def _weights_dir(name):
    return resources.files(__package__).joinpath("weights", name)


def _read_card(name):
    card = _weights_dir(name).joinpath("card.json")
    return json.loads(card.read_text(encoding="utf-8"))


def _available():
    root = resources.files(__package__).joinpath("weights")
    if not root.is_dir():
        return {}
    return {d.name: _read_card(d.name) for d in root.iterdir()
            if d.is_dir() and d.joinpath("card.json").is_file()}


#: Short names of the shipped models: ``'default'`` (the recommended one),
#: and one per dataset (``'fer2013'``, ``'ferplus'``), for those shipped.
ALIASES = {"default": DEFAULT, "fer2013": "fer2013_mini_xception",
           "ferplus": "ferplus_mini_xception"}

#: The shipped models: name -> model card (data, recipe, training time,
#: PublicTest accuracy); the :data:`ALIASES` are keys too.
MODELS = _available()
ALIASES = {k: v for k, v in ALIASES.items() if v in MODELS}
MODELS.update({alias: MODELS[name] for alias, name in ALIASES.items()})


def _check_name(name):
    if name not in MODELS:
        names = sorted(k for k in MODELS if k not in ALIASES)
        raise ValueError(f"Unknown pretrained model {name!r}; available: {names} or "
                         f"{sorted(ALIASES)}.")
    return ALIASES.get(name, name)


def _load_net(name, device):
    from ..io import load_model

    with resources.as_file(_weights_dir(name).joinpath(MODEL_FILE)) as path:
        return load_model(path, device=device)


def load(name="default", *, face_detection=True, test_time_flip=True, margin=0.1,
         detector="mtcnn", detector_params=None, align="auto", device=None):
    """A fitted Pipeline from photos or face crops to expressions.

    Parameters
    ----------
    name : str, default='default'
        A key of :data:`MODELS`.
    face_detection : bool, default=True
        True: the Pipeline takes whole photos (any size, RGB or grey),
        detects the faces and classifies the largest one per photo (an
        image without a detected face is classified on its centred square
        crop; use :func:`detect_emotions` for every face of a photo).
        False: it takes face crops that are already cut out (any size, RGB
        or grey), as FER2013, CK+ or SFEW images are.
    test_time_flip : bool, default=True
        Average the prediction over each face and its mirror image (about
        one point of accuracy, twice the net's time).
    margin : float, default=0.1
        With face detection, the crop around each detected box (see
        :class:`~skfer.preprocessing.FaceCropper`); 0.1 makes crops framed
        about as FER2013's faces are.
    detector : str or object, default='mtcnn'
        With face detection, the face detector (see
        :class:`~skfer.preprocessing.FaceCropper`): ``'mtcnn'``
        (:class:`skfer.faces.MTCNNDetector`: 42 to 43 of the 43 annotated
        faces of the benchmark photos, faces tilted by 30 degrees too, five
        landmarks) or ``'haar'`` (OpenCV's Haar cascade: 40 of the 43,
        upright faces only, no landmarks).
    detector_params : dict or None, default=None
        Parameters of that detector (:class:`skfer.faces.HaarDetector`'s or
        :class:`skfer.faces.MTCNNDetector`'s).
    align : {'auto', None, 'eyes', 'landmarks'}, default='auto'
        With face detection, how each face is aligned before it is resized:
        ``'auto'`` is ``'landmarks'`` (each face warped onto FER2013's
        framing by its five landmarks, which gains 10 points of accuracy on
        CK+ faces tilted by 30 degrees and loses none on upright ones) when
        the detector finds landmarks, else none. See
        :class:`skfer.faces.FaceEngine`.
    device : str or None, default=None
        Where the net runs (None: CUDA if available, else CPU).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Fitted: ``predict``, ``predict_proba`` and ``classes_`` (the seven
        FER2013 names) work at once. Steps: ``crop`` (only with face
        detection), ``grayscale``, ``resize``, ``clf`` (a
        :class:`~skfer.neural.CNNClassifier`).

    Examples
    --------
    >>> from skimage import data
    >>> from skfer import pretrained
    >>> model = pretrained.load()
    >>> [str(c) for c in model.classes_]
    ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']
    >>> model.predict([data.astronaut()]).shape
    (1,)
    """
    from sklearn.pipeline import Pipeline

    from ..preprocessing import FaceCropper, Grayscale, Resize

    name = _check_name(name)
    clf = _load_net(name, device)
    clf.set_params(test_time_flip=bool(test_time_flip))
    size = tuple(clf.input_shape_[:2])
    steps = []
    if face_detection:
        steps.append(("crop", FaceCropper(margin=margin, output_size=size,
                                          detector=detector,
                                          detector_params=detector_params, align=align)))
    steps += [("grayscale", Grayscale()), ("resize", Resize(size=size)), ("clf", clf)]
    pipe = Pipeline(steps)
    # Fitted as it is: the image steps are stateless (requires_fit=False,
    # __sklearn_is_fitted__ True) and the classifier is loaded fitted.
    return pipe


def detect_emotions(images, *, model=None, margin=0.1, detector="mtcnn",
                    detector_params=None, align="auto", batch_size=256, n_jobs=None,
                    verbose=0):
    """Every face in each photo, with its box, expression and probabilities.

    Parameters
    ----------
    images : list of images or paths, or ndarray
        Photos by skfer's image convention (RGB or grey, any size; paths
        are read).
    model : fitted classifier or None, default=None
        Classifies 48x48 grey face crops (e.g. ``load(face_detection=False)``
        or any fitted skfer model taking crops); None: the default
        pretrained model with test-time flip averaging.
    margin : float, default=0.1
        Crop margin around each detected box, as in :func:`load`.
    detector : str or object, default='mtcnn'
        The face detector, as in :func:`load`.
    detector_params : dict or None, default=None
        Parameters of that detector.
    align : {'auto', None, 'eyes', 'landmarks'}, default='auto'
        How each face is aligned, as in :func:`load`.

        Faces are found, cropped and resized by :class:`skfer.faces.FaceEngine`
        (through :class:`skfer.faces.FaceRecognizer`), exactly as
        ``load()``'s Pipeline and ``skfer predict`` do.
    batch_size : int, default=256
        Faces classified per batch.
    n_jobs : int or None, default=None
        Threads reading and detecting (``-1``: all cores).
    verbose : int, default=0
        Progress bar over the photos when > 0.

    Returns
    -------
    results : list of list of dict
        Per photo, one dict per face (largest first): ``box`` ``(x, y, w,
        h)`` in the photo's pixels, ``landmarks`` (only with a detector that
        finds them, as MTCNN: a (5, 2) array of the eye centres, nose tip
        and mouth corners), ``emotion`` and ``probabilities`` (a dict name
        -> probability; None for a model without ``predict_proba``). An
        empty list for a photo without a face.

    Examples
    --------
    >>> from skimage import data
    >>> from skfer.pretrained import detect_emotions
    >>> [faces] = detect_emotions([data.astronaut()])
    >>> len(faces), sorted(faces[0])
    (1, ['box', 'emotion', 'landmarks', 'probabilities'])
    >>> faces[0]["landmarks"].shape
    (5, 2)
    >>> [haar] = detect_emotions([data.astronaut()], detector="haar")
    >>> sorted(haar[0])
    ['box', 'emotion', 'probabilities']
    """
    from .._image import check_images
    from ..faces import FaceRecognizer

    if model is None:
        model = load(face_detection=False, test_time_flip=True)
    recognizer = FaceRecognizer(model, margin=margin, detector=detector,
                                detector_params=detector_params, align=align,
                                batch_size=batch_size)
    photos, _ = check_images(images, allow_flat=False)
    return recognizer.recognize(photos, n_jobs=n_jobs, verbose=verbose)
