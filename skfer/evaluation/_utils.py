"""Helpers shared by :func:`compare`, :func:`cross_dataset` and their reports.

Samples (counting and slicing ``X`` in any of skfer's input forms), label
order, per-class recall, number formatting and plain-Python/JSON output:
one home for each, used by every evaluation module (and by the command
line, which slices datasets with :func:`take_samples`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .._emotions import EMOTIONS

__all__ = [
    "format_mean_std",
    "format_score",
    "jsonable",
    "label_order",
    "n_samples",
    "python_scalar",
    "recall_per_class",
    "take_samples",
    "write_or_return",
]


# ------------------------------------------------------------------ samples
def n_samples(X):
    """The number of samples in ``X``.

    Parameters
    ----------
    X : ndarray, list or array-like
        Images as an array, a list of images of any sizes or file paths.

    Returns
    -------
    n : int

    Raises
    ------
    ValueError
        If ``X`` has no length (a scalar, a generator...).

    Examples
    --------
    >>> import numpy as np
    >>> n_samples(np.zeros((3, 8, 8))), n_samples(["a.png", "b.png"])
    (3, 2)
    """
    try:
        return len(X)
    except TypeError:
        raise ValueError(
            f"X must be an array or a list of images, got {type(X).__name__}."
        ) from None


def take_samples(X, indices):
    """The samples ``indices`` of ``X``, in the same form as ``X``.

    The one way evaluation (folds, per-sample fit parameters) and the
    command line (dataset splits, subsampling) slice samples.

    Parameters
    ----------
    X : ndarray or sequence
        An ndarray (rows are taken, so ``(n_samples, ...)`` arrays of any
        dimension work: images, soft labels, sample weights) or a sequence
        (a list of images of any sizes, file paths).
    indices : array-like of int
        Positions of the samples to take.

    Returns
    -------
    subset : ndarray or list
        ``X[indices]`` for an ndarray, otherwise a list of the items.

    Examples
    --------
    >>> import numpy as np
    >>> take_samples(np.arange(10).reshape(5, 2), [0, 3]).tolist()
    [[0, 1], [6, 7]]
    >>> take_samples(["a.png", "b.png", "c.png"], np.array([2, 0]))
    ['c.png', 'a.png']
    """
    if isinstance(X, np.ndarray):
        return X[indices]
    return [X[i] for i in indices]


# ------------------------------------------------------------------ labels
def label_order(labels):
    """Classes in :data:`EMOTIONS` order when they are all emotion names, else sorted.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        The unique labels (dtype object for emotion names).

    Examples
    --------
    >>> label_order(["sad", "happy", "angry", "happy"]).tolist()
    ['angry', 'happy', 'sad']
    >>> label_order([3, 1, 3]).tolist()
    [1, 3]
    """
    uniq = np.unique(np.asarray(labels))
    if all(isinstance(v, str) and v in EMOTIONS for v in uniq.tolist()):
        return np.array(sorted(uniq.tolist(), key=EMOTIONS.index), dtype=object)
    return uniq


def recall_per_class(cm):
    """Recall of each class from a confusion matrix (its normalised diagonal).

    Parameters
    ----------
    cm : ndarray of shape (n_classes, n_classes)
        Counts; rows are true classes.

    Returns
    -------
    recall : ndarray of shape (n_classes,)
        NaN for a class with no sample (an all-zero row).

    Examples
    --------
    >>> recall_per_class([[3, 1], [0, 0]]).tolist()
    [0.75, nan]
    """
    cm = np.asarray(cm)
    support = cm.sum(axis=1)
    return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


# ------------------------------------------------------------------ text
def format_score(value, digits=3):
    """``value`` with ``digits`` decimals; ``'n/a'`` for None or a non-finite float.

    Examples
    --------
    >>> format_score(0.81234), format_score(float("nan")), format_score(1, 1)
    ('0.812', 'n/a', '1.0')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def format_mean_std(mean, std, digits=3):
    """``'mean ± std'``, or the mean alone when the std is NaN (a single split).

    Examples
    --------
    >>> format_mean_std(0.8, 0.05), format_mean_std(0.8, float("nan"))
    ('0.800 ± 0.050', '0.800')
    """
    text = format_score(mean, digits)
    if std is not None and math.isfinite(std):
        text += f" ± {format_score(std, digits)}"
    return text


def python_scalar(value):
    """A NumPy scalar as the Python one (``np.str_('happy')`` -> ``'happy'``).

    Examples
    --------
    >>> import numpy as np
    >>> type(python_scalar(np.float32(0.5))).__name__, python_scalar("x")
    ('float', 'x')
    """
    return value.item() if isinstance(value, np.generic) else value


def jsonable(value):
    """``value`` as plain Python for JSON: lists, dicts with str keys, NaN as None.

    Examples
    --------
    >>> import numpy as np
    >>> jsonable({1: np.array([0.5, np.nan]), "n": np.int64(3)})
    {'1': [0.5, None], 'n': 3}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    value = python_scalar(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_or_return(text, path):
    """Write ``text`` to ``path`` (UTF-8) and return None, or return it when ``path`` is None.

    The convention of every ``to_csv(path=None)`` / ``to_json(path=None)``.

    Examples
    --------
    >>> write_or_return("a,b\\n", None)
    'a,b\\n'
    """
    if path is None:
        return text
    Path(path).write_text(text, encoding="utf-8")
    return None
