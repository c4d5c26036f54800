"""Every skfer model by a short name: classical baselines and deep nets.

The command line (``skfer compare --models hog_svm,cnn:vgg,rnn:lstm``) and
:func:`skfer.evaluation.compare` name models by these specs:

- a classical baseline from :data:`skfer.baselines.BASELINES`
  (``'hog_svm'``, ``'pca_lda'``, ...);
- ``'cnn'`` or ``'cnn:<architecture>'`` with an architecture of
  :mod:`skfer.nets` (``'simple'``, ``'vgg'``, ``'resnet'``,
  ``'mini_xception'``): a :class:`~skfer.neural.CNNClassifier`;
- ``'rnn'`` or ``'rnn:<cell>'`` with ``'lstm'`` or ``'gru'``: a
  :class:`~skfer.neural.RNNClassifier` reading rows.

Each is a Pipeline from images of any size (grey or colour) to labels, so
all of them take the same ``X``.
"""

from __future__ import annotations

from sklearn.pipeline import Pipeline

from .baselines import BASELINES, make_baseline
from .preprocessing import Grayscale, Resize

__all__ = ["DEEP_MODELS", "make_model", "model_names"]

#: Deep model specs accepted by :func:`make_model`, with a description.
DEEP_MODELS = {
    "cnn:simple": "textbook CNN: conv 32, pool, conv 64, pool, dense 128, dense 64",
    "cnn:vgg": "VGG-style net, four blocks of two 3x3 convs with batch norm",
    "cnn:resnet": "ResNet-18 adapted to 48x48 inputs",
    "cnn:mini_xception": "depthwise-separable net under 100k parameters (CNNClassifier default)",
    "rnn:lstm": "LSTM(128) -> LSTM(64) reading the image row by row",
    "rnn:gru": "GRU(128) -> GRU(64) reading the image row by row",
}


def model_names():
    """All model specs :func:`make_model` accepts, classical first.

    Returns
    -------
    names : list of str

    Examples
    --------
    >>> from skfer.models import model_names
    >>> model_names()[:2], "cnn:vgg" in model_names()
    (['pca_svm', 'pca_lda'], True)
    """
    return list(BASELINES) + list(DEEP_MODELS)


def _parse_spec(spec):
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(
            f"A model spec must be a non-empty string such as 'hog_svm' or "
            f"'cnn:mini_xception', got {spec!r}."
        )
    spec = spec.strip().lower()
    if spec in ("cnn", "rnn"):
        spec = {"cnn": "cnn:mini_xception", "rnn": "rnn:lstm"}[spec]
    if spec not in BASELINES and spec not in DEEP_MODELS:
        raise ValueError(
            f"Unknown model {spec!r}; choose one of {', '.join(model_names())} "
            "('cnn' and 'rnn' alone mean cnn:mini_xception and rnn:lstm)."
        )
    return spec


def make_model(spec, *, size=(48, 48), random_state=None, **params):
    """Build an unfitted model Pipeline from its short name.

    Parameters
    ----------
    spec : str
        A baseline name (``'hog_svm'``), ``'cnn:<architecture>'`` or
        ``'rnn:<cell>'``; see :func:`model_names`. ``'cnn'`` and ``'rnn'``
        alone mean ``'cnn:mini_xception'`` and ``'rnn:lstm'``.
    size : int or (height, width), default=(48, 48)
        Images are converted to grey and resized to this size first.
    random_state : int or None, default=None
        Seed of the model's randomness (PCA solver; net initialisation,
        shuffling and augmentation).
    **params
        Parameters in Pipeline syntax. For the deep models the classifier
        step is named ``clf``, and a parameter without a step prefix goes to
        it: ``max_epochs=20`` is ``clf__max_epochs=20``. For the baselines
        see :func:`skfer.baselines.make_baseline`.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``grayscale``, ``resize``, then the model's own steps.

    Examples
    --------
    >>> from skfer.models import make_model
    >>> model = make_model("cnn:simple", max_epochs=3, random_state=0)
    >>> [name for name, _ in model.steps], model[-1].architecture
    (['grayscale', 'resize', 'clf'], 'simple')
    >>> make_model("rnn:gru")[-1].cell
    'gru'
    >>> make_model("hog_svm", svc__C=1)[-1].C
    1
    """
    spec = _parse_spec(spec)
    if spec in BASELINES:
        return make_baseline(spec, size=size, random_state=random_state, **params)
    from .neural import CNNClassifier, RNNClassifier

    kind, _, name = spec.partition(":")
    if kind == "cnn":
        clf = CNNClassifier(architecture=name, random_state=random_state)
    else:
        clf = RNNClassifier(cell=name, random_state=random_state)
    pipe = Pipeline([("grayscale", Grayscale()), ("resize", Resize(size=size)), ("clf", clf)])
    step_names = [s for s, _ in pipe.steps]
    routed = {
        (k if k.split("__", 1)[0] in step_names and "__" in k else f"clf__{k}"): v
        for k, v in params.items()
    }
    try:
        pipe.set_params(**routed)
    except ValueError as exc:
        raise ValueError(
            f"Invalid parameter for model {spec!r}: {exc} Step names are {step_names}; "
            f"unprefixed names go to the {type(clf).__name__}."
        ) from None
    return pipe
