"""Train on one dataset, test on others, with labels mapped by name."""

from __future__ import annotations

import json
import time

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from .._emotions import map_labels
from ._utils import (
    format_score,
    jsonable,
    label_order,
    n_samples,
    recall_per_class,
    write_or_return,
)

__all__ = ["cross_dataset", "CrossDatasetResults"]


def _unpack(data, name, unknown):
    """``(X, y)``, ``(X, y, target_names)`` or a loader Bunch -> (X, canonical names)."""
    if hasattr(data, "images") and hasattr(data, "target"):
        X, y, names = data.images, data.target, getattr(data, "target_names", None)
    else:
        try:
            parts = tuple(data)
        except TypeError:
            parts = ()
        if len(parts) not in (2, 3):
            raise ValueError(
                f"{name} must be (X, y), (X, y, target_names) or a loader's Bunch "
                f"(with images, target and target_names); got {type(data).__name__}."
            )
        X, y = parts[0], parts[1]
        names = parts[2] if len(parts) == 3 else None
    y = np.asarray(y)
    if len(y) != n_samples(X):
        raise ValueError(f"{name}: X has {n_samples(X)} samples but y has {len(y)} labels.")
    try:
        return X, map_labels(y, names, unknown=unknown)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def cross_dataset(estimator, train, tests, *, unknown="raise", random_state=0, verbose=0):
    """Fit once on one dataset and score on others, labels mapped by name.

    Labels of every dataset are mapped to the canonical names of
    :data:`skfer.EMOTIONS` (``'anger'`` -> ``'angry'``, ``'happiness'`` ->
    ``'happy'``...) before fitting and scoring, so datasets that number or
    spell their classes differently are compared on the same classes.
    Integer labels mean different emotions in different datasets, so they
    are only accepted with the dataset's ``target_names`` (a triple
    ``(X, y, target_names)`` or a loader's Bunch).

    Test classes the model never saw in training (``contempt`` when training
    on FER2013, say) are not dropped: they are counted and listed, their
    samples count as errors in ``accuracy`` and ``f1_macro``, and
    ``accuracy_shared`` / ``f1_macro_shared`` give the scores restricted to
    the classes both sets share.

    Parameters
    ----------
    estimator : estimator or str
        An unfitted classifier (cloned, then fitted once) or a model spec of
        :func:`skfer.models.make_model` (``'hog_svm'``).
    train : tuple or Bunch
        ``(X, y)`` with emotion names as labels, ``(X, y, target_names)``
        with integer labels, or a loader's Bunch (``images``, ``target``,
        ``target_names``).
    tests : dict of str to tuple or Bunch
        The test sets by name, each in one of the forms of ``train``.
    unknown : {'raise', 'keep'}, default='raise'
        A label outside the emotion vocabulary: raise, or keep the name as
        is (it then only matches the same name in another set).
    random_state : int or None, default=0
        Seed of a model built from a spec.
    verbose : int, default=0
        Print one line per step when > 0.

    Returns
    -------
    results : CrossDatasetResults

    Raises
    ------
    ValueError
        For integer labels without target_names, unknown emotion names
        (with ``unknown='raise'``) or malformed inputs.

    See Also
    --------
    compare : Several models on the folds of one dataset.
    skfer.map_labels : The label mapping used.

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.datasets import make_faces
    >>> from skfer.evaluation import cross_dataset
    >>> a = make_faces(60, image_size=32, classes=["happy", "sad", "neutral"],
    ...                random_state=0)
    >>> b = make_faces(42, image_size=32, classes=["happy", "sad", "surprise"],
    ...                random_state=1)
    >>> res = cross_dataset("hog_svm", train=a, tests={"other": b})
    >>> res.results["other"]["unseen_classes"]  # surprise was not in training
    {'surprise': 14}
    >>> res.results["other"]["n_samples"], res.results["other"]["n_shared"]
    (42, 28)
    """
    from ..models import make_model

    if unknown not in ("raise", "keep"):
        raise ValueError(f"unknown must be 'raise' or 'keep', got {unknown!r}.")
    if not isinstance(tests, dict) or not tests:
        raise ValueError("tests must be a non-empty dict {name: (X, y[, target_names])}.")
    if isinstance(estimator, str):
        name = estimator
        estimator = make_model(estimator, random_state=random_state)
    else:
        name = type(estimator).__name__
    X_train, y_train = _unpack(train, "train", unknown)
    test_data = {str(k): _unpack(v, f"tests[{k!r}]", unknown) for k, v in tests.items()}

    est = clone(estimator)
    start = time.perf_counter()
    est.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    if verbose:
        print(f"cross_dataset: fitted {name} on {len(y_train)} samples in {fit_time:.1f} s")
    train_classes = label_order(y_train)
    seen = set(train_classes.tolist())
    results = {}
    for tname, (X, y) in test_data.items():
        start = time.perf_counter()
        y_pred = np.asarray(est.predict(X)).astype(object)
        predict_time = time.perf_counter() - start
        shared = np.array([v in seen for v in y.tolist()], dtype=bool)
        unseen = {}
        for v in y[~shared].tolist():
            unseen[v] = unseen.get(v, 0) + 1
        test_classes = label_order(y)
        labels = label_order(np.concatenate([y, train_classes]))
        cm = confusion_matrix(y, y_pred, labels=labels)
        in_test = set(test_classes.tolist())
        recall = {c: float(r) for c, r in zip(labels.tolist(), recall_per_class(cm), strict=True)
                  if c in in_test}
        if shared.any():
            acc_shared = float(accuracy_score(y[shared], y_pred[shared]))
            shared_labels = [c for c in test_classes.tolist() if c in seen]
            f1_shared = float(f1_score(y[shared], y_pred[shared], labels=shared_labels,
                                       average="macro", zero_division=0))
        else:
            acc_shared = f1_shared = float("nan")
        results[tname] = {
            "n_samples": int(len(y)),
            "accuracy": float(accuracy_score(y, y_pred)),
            "f1_macro": float(f1_score(y, y_pred, average="macro", zero_division=0)),
            "n_shared": int(shared.sum()),
            "accuracy_shared": acc_shared,
            "f1_macro_shared": f1_shared,
            "unseen_classes": {c: unseen[c] for c in label_order(list(unseen)).tolist()}
            if unseen else {},
            "n_unseen": int((~shared).sum()),
            "recall": recall,
            "labels": labels.tolist(),
            "confusion_matrix": cm,
            "predict_time": predict_time,
        }
        if verbose:
            print(f"cross_dataset: {tname}: accuracy {results[tname]['accuracy']:.3f}")
    return CrossDatasetResults(
        model=name, estimator=est, train_classes=train_classes.tolist(),
        n_train=int(len(y_train)), fit_time=fit_time, results=results,
    )


class CrossDatasetResults:
    """The outcome of :func:`cross_dataset`.

    Attributes
    ----------
    model : str
        The spec or class name of the estimator.
    estimator_ : estimator
        The fitted estimator (trained on canonical emotion names).
    train_classes : list of str
        The classes seen in training, in :data:`skfer.EMOTIONS` order.
    n_train : int
        Training samples.
    fit_time : float
        Seconds to fit.
    results : dict of str to dict
        Per test set: ``n_samples``, ``accuracy`` and ``f1_macro`` over all
        its samples (samples of classes absent from training count as
        errors), ``n_shared`` (samples of classes seen in training),
        ``accuracy_shared`` and ``f1_macro_shared`` (restricted to those),
        ``unseen_classes`` (``{class: number of samples}`` of the classes
        absent from training), ``n_unseen``, ``recall`` (``{class: value}``
        for the test set's classes), ``labels`` and ``confusion_matrix``
        (rows true, columns predicted, over ``labels``), ``predict_time``.

    See Also
    --------
    cross_dataset : Builds it.

    Examples
    --------
    >>> from skfer.datasets import make_faces
    >>> from skfer.evaluation import cross_dataset
    >>> a = make_faces(42, image_size=32, random_state=0)
    >>> res = cross_dataset("hog_svm", train=a, tests={"same": a})
    >>> res.results["same"]["n_unseen"], len(res.train_classes)
    (0, 7)
    """

    def __init__(self, *, model, estimator, train_classes, n_train, fit_time, results):
        self.model = model
        self.estimator_ = estimator
        self.train_classes = train_classes
        self.n_train = n_train
        self.fit_time = fit_time
        self.results = results

    def __repr__(self):
        return f"CrossDatasetResults({self.model!r}, tests={list(self.results)})"

    def to_markdown(self):
        """A Markdown table: one row per test set.

        Returns
        -------
        text : str

        Examples
        --------
        >>> from skfer.datasets import make_faces
        >>> from skfer.evaluation import cross_dataset
        >>> a = make_faces(42, image_size=32, classes=["happy", "sad"], random_state=0)
        >>> b = make_faces(30, image_size=32, classes=["happy", "sad", "fear"],
        ...                random_state=1)
        >>> text = cross_dataset("hog_svm", train=a, tests={"b": b}).to_markdown()
        >>> "fear (10 samples, counted as errors)" in text
        True
        """
        lines = [
            f"{self.model} trained on {self.n_train} samples of "
            f"{len(self.train_classes)} classes ({', '.join(self.train_classes)}); "
            f"fit {self.fit_time:.1f} s.",
            "",
            "| test set | samples | accuracy | macro-F1 | accuracy, shared classes "
            "| macro-F1, shared classes | classes absent from training |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, r in self.results.items():
            unseen = ", ".join(f"{c} ({n} samples, counted as errors)"
                               for c, n in r["unseen_classes"].items()) or "none"
            lines.append(
                f"| {name} | {r['n_samples']} | {format_score(r['accuracy'])} | "
                f"{format_score(r['f1_macro'])} | {format_score(r['accuracy_shared'])} | "
                f"{format_score(r['f1_macro_shared'])} | {unseen} |"
            )
        return "\n".join(lines)

    def to_dict(self):
        """Everything as plain Python (NaN as None).

        Returns
        -------
        data : dict
            ``model``, ``train_classes``, ``n_train``, ``fit_time`` and
            ``results`` (see the class attributes).

        Examples
        --------
        >>> from skfer.datasets import make_faces
        >>> from skfer.evaluation import cross_dataset
        >>> a = make_faces(42, image_size=32, random_state=0)
        >>> sorted(cross_dataset("hog_svm", train=a, tests={"a": a}).to_dict())
        ['fit_time', 'model', 'n_train', 'results', 'train_classes']
        """
        return jsonable({
            "model": self.model,
            "train_classes": self.train_classes,
            "n_train": self.n_train,
            "fit_time": self.fit_time,
            "results": self.results,
        })

    def to_json(self, path=None):
        """The results as JSON (see :meth:`to_dict`).

        Parameters
        ----------
        path : str, os.PathLike or None, default=None
            Where to write; None returns the text.

        Returns
        -------
        text : str or None
            The JSON text when ``path`` is None.

        Examples
        --------
        >>> import json
        >>> from skfer.datasets import make_faces
        >>> from skfer.evaluation import cross_dataset
        >>> a = make_faces(42, image_size=32, random_state=0)
        >>> res = cross_dataset("hog_svm", train=a, tests={"a": a})
        >>> json.loads(res.to_json())["results"]["a"]["n_samples"]
        42
        """
        return write_or_return(json.dumps(self.to_dict(), indent=1) + "\n", path)
