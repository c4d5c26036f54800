"""One emotion vocabulary for skfer, and label mapping between datasets.

Datasets spell the same expression differently: CK+ folders say
``anger``/``sadness``, FER2013 ``angry``/``sad``, FER+ ``happiness``,
image-folder copies ``surprised``/``fearful``. Results are only comparable
across datasets once labels are mapped by *name* to one vocabulary,
:data:`EMOTIONS`; integer labels mean different things in different
datasets and must first be turned into names with the dataset's
``target_names``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EMOTIONS", "EMOTION_ALIASES", "canonical_emotion", "map_labels"]

#: The canonical emotion names: the seven FER2013 classes in FER2013's label
#: order (0..6), then ``'contempt'`` (CK+ and FER+ only).
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")

#: Accepted spellings (lower case) -> canonical name. Canonical names map to
#: themselves; JAFFE's two-letter codes (``'AN'``, ``'HA'``...) are included.
EMOTION_ALIASES = {
    **{name: name for name in EMOTIONS},
    # CK+ folder names, FER+ column names
    "anger": "angry",
    "sadness": "sad",
    "happiness": "happy",
    # image-folder copies of FER2013 and other collections
    "disgusted": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "surprised": "surprise",
    "contemptuous": "contempt",
    # JAFFE expression codes (KA.AN1.39.tiff)
    "an": "angry",
    "di": "disgust",
    "fe": "fear",
    "ha": "happy",
    "sa": "sad",
    "su": "surprise",
    "ne": "neutral",
}


def _check_unknown(unknown):
    if unknown not in ("raise", "keep"):
        raise ValueError(f"unknown must be 'raise' or 'keep', got {unknown!r}.")


def canonical_emotion(name, *, unknown="raise"):
    """The canonical name of an emotion label, whatever the dataset's spelling.

    Matching is case-insensitive and ignores surrounding white space:
    ``'Anger'``, ``'angry'`` and JAFFE's ``'AN'`` all give ``'angry'``.

    Parameters
    ----------
    name : str
        An emotion name as a dataset spells it (see
        :data:`EMOTION_ALIASES` for the accepted spellings).
    unknown : {'raise', 'keep'}, default='raise'
        What to do with a name that is not in the vocabulary: raise a
        ``ValueError`` listing it, or return ``name`` unchanged (for
        datasets with extra classes, such as an image folder with a
        ``'pain'`` class).

    Returns
    -------
    emotion : str
        One of :data:`EMOTIONS` (or ``name`` itself with ``unknown='keep'``).

    Raises
    ------
    ValueError
        If ``name`` is unknown and ``unknown='raise'``, or not a string.

    See Also
    --------
    map_labels : The same for an array of labels.

    Examples
    --------
    >>> from skfer import canonical_emotion
    >>> canonical_emotion("sadness"), canonical_emotion("Happiness"), canonical_emotion("SU")
    ('sad', 'happy', 'surprise')
    >>> canonical_emotion("pain", unknown="keep")
    'pain'
    """
    _check_unknown(unknown)
    if isinstance(name, np.str_):
        name = str(name)
    if not isinstance(name, str):
        raise ValueError(
            f"Emotion labels must be names (str), got {name!r} of type "
            f"{type(name).__name__}. Integer labels mean different emotions in "
            "different datasets: turn them into names first with the dataset's "
            "target_names, e.g. map_labels(data.target, data.target_names)."
        )
    key = name.strip().lower()
    if key in EMOTION_ALIASES:
        return EMOTION_ALIASES[key]
    if unknown == "keep":
        return name
    raise ValueError(
        f"Unknown emotion {name!r}. The vocabulary is {', '.join(EMOTIONS)} "
        f"(also accepted: {', '.join(k for k in EMOTION_ALIASES if k not in EMOTIONS)}); "
        "pass unknown='keep' to leave other names unchanged."
    )


def map_labels(labels, target_names=None, *, unknown="raise"):
    """Map a dataset's labels to the canonical emotion names of :data:`EMOTIONS`.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Emotion names (``'anger'``, ``'happiness'``...) or, with
        ``target_names``, integer indices into it (a loader's ``target``).
    target_names : sequence of str or None, default=None
        The dataset's class names, ``target_names[label]`` being the name of
        integer label ``label``. Required when ``labels`` are integers.
    unknown : {'raise', 'keep'}, default='raise'
        See :func:`canonical_emotion`.

    Returns
    -------
    names : ndarray of shape (n_samples,), dtype object
        The canonical names.

    Raises
    ------
    ValueError
        If a name is unknown (with ``unknown='raise'``), if integer labels
        come without ``target_names`` or fall outside it.

    See Also
    --------
    canonical_emotion : The mapping of one name.

    Examples
    --------
    >>> from skfer import map_labels
    >>> map_labels(["anger", "Sadness", "happy"]).tolist()
    ['angry', 'sad', 'happy']
    >>> map_labels([0, 2, 1], target_names=["anger", "contempt", "fear"]).tolist()
    ['angry', 'fear', 'contempt']
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {arr.shape}.")
    if target_names is not None:
        names = [str(n) for n in target_names]
        if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "O" and all(
            isinstance(v, (int, np.integer)) for v in arr.tolist()
        )):
            raise ValueError(
                "With target_names, labels must be integer indices into it, got "
                f"labels of dtype {arr.dtype}."
            )
        idx = arr.astype(np.int64)
        bad = (idx < 0) | (idx >= len(names))
        if bad.any():
            raise ValueError(
                f"Label {int(idx[bad][0])} is not an index into target_names "
                f"({len(names)} names: {names})."
            )
        table = [canonical_emotion(n, unknown=unknown) for n in names]
        return np.array([table[i] for i in idx.tolist()], dtype=object)
    if arr.dtype.kind in "iub" or (arr.dtype.kind == "f" and arr.size):
        raise ValueError(
            f"Labels are numbers (dtype {arr.dtype}): integer labels mean different "
            "emotions in different datasets, so pass the dataset's target_names, "
            "e.g. map_labels(data.target, data.target_names)."
        )
    cache = {}
    out = np.empty(len(arr), dtype=object)
    for i, v in enumerate(arr.tolist()):
        if v not in cache:
            cache[v] = canonical_emotion(v, unknown=unknown)
        out[i] = cache[v]
    return out
