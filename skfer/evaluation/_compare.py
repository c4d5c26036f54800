"""Compare estimators on exactly the same folds: :func:`compare` and its folds."""

from __future__ import annotations

import inspect
import numbers
import sys
import time

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import GroupKFold, StratifiedKFold

from ._results import SCORES, CompareResults
from ._utils import label_order, n_samples, recall_per_class, take_samples

__all__ = ["compare"]

_HISTORY_KEYS = ("epoch", "train_loss", "valid_loss", "valid_acc", "dur")


def _estimator_name(est):
    from sklearn.pipeline import Pipeline

    while isinstance(est, Pipeline):
        est = est.steps[-1][1]
    return type(est).__name__


def _resolve_estimators(estimators, random_state):
    from ..models import make_model

    if isinstance(estimators, str):
        estimators = [s for s in estimators.split(",") if s.strip()]
    if isinstance(estimators, dict):
        items = list(estimators.items())
    else:
        try:
            raw = list(estimators)
        except TypeError:
            raise ValueError(
                "estimators must be a dict {name: estimator}, or a list of model "
                f"specs ('hog_svm', 'cnn:simple'), estimators or (name, estimator) "
                f"pairs; got {type(estimators).__name__}."
            ) from None
        items = []
        for item in raw:
            if isinstance(item, str):
                items.append((item.strip(), item))
            elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                items.append(item)
            else:
                items.append((_estimator_name(item), item))
    resolved = {}
    for name, est in items:
        if isinstance(est, str):
            est = make_model(est, random_state=random_state)
        elif not (hasattr(est, "fit") and hasattr(est, "predict")):
            raise ValueError(
                f"Model {name!r} is not an estimator (it has no fit/predict): {est!r}."
            )
        base, k = str(name), 2
        while name in resolved:
            name, k = f"{base}_{k}", k + 1
        resolved[str(name)] = est
    if not resolved:
        raise ValueError("compare needs at least one estimator; got none.")
    return resolved


def _history(est):
    """The per-epoch skorch history of a fitted deep model, or None."""
    from sklearn.pipeline import Pipeline

    for _ in range(10):
        if isinstance(est, Pipeline):
            est = est.steps[-1][1]
        elif hasattr(est, "best_estimator_"):
            est = est.best_estimator_
        else:
            break
    net = est.__dict__.get("net_")
    if net is None and hasattr(est, "history") and hasattr(est, "module_"):
        net = est  # a bare skorch net
    hist = getattr(net, "history", None)
    if hist is None:
        return None
    rows = []
    for row in hist:
        rec = {}
        for key in _HISTORY_KEYS:
            value = row.get(key) if hasattr(row, "get") else None
            if value is not None:
                rec[key] = int(value) if key == "epoch" else float(value)
        rows.append(rec)
    return rows


def _check_fit_params(fit_params, n):
    """``fit_params`` as a dict, and the names of its per-sample values."""
    if fit_params is None:
        return {}, set()
    if not isinstance(fit_params, dict) or not all(
        isinstance(k, str) and k for k in fit_params
    ):
        raise ValueError(
            "fit_params must be a dict {name of a fit parameter: value}, e.g. "
            f"{{'sample_weight': w}}; got {fit_params!r:.80}."
        )
    params, per_sample = {}, set()
    for key, value in fit_params.items():
        if not isinstance(value, (list, tuple, np.ndarray)) and getattr(value, "ndim", 0):
            value = np.asarray(value)  # a pandas Series, a tensor: sliced by position
        if isinstance(value, (list, tuple)) or getattr(value, "ndim", 0):
            if n_samples(value) != n:
                raise ValueError(
                    f"fit_params[{key!r}] has {n_samples(value)} entries for {n} "
                    "samples: a per-sample fit parameter needs one entry (row) per "
                    "sample of X. Pass other values as scalars or dicts."
                )
            per_sample.add(key)
        params[key] = value
    return params, per_sample


def _fold_fit_params(params, per_sample, train):
    """The fit parameters of one fold: per-sample values at the ``train`` indices."""
    return {k: take_samples(v, train) if k in per_sample else v for k, v in params.items()}


def _route_fit_params(name, estimator, params):
    """Parameter names for ``estimator.fit``, checked against what it accepts.

    A plain name goes to a Pipeline's final step (``clf__votes``, down nested
    Pipelines); a ``step__name`` is kept as given.
    """
    from sklearn.pipeline import Pipeline

    prefix, final = "", estimator
    while isinstance(final, Pipeline):
        step, final = final.steps[-1]
        prefix += f"{step}__"
    routed = {(k if "__" in k else prefix + k): k for k in params}
    if len(routed) < len(params):
        raise ValueError(
            f"fit_params {sorted(params)} name the same parameter of model {name!r} "
            f"twice (a plain name goes to its final step, as {prefix}<name>)."
        )
    for key in routed:
        target, rest = estimator, key
        while isinstance(target, Pipeline) and "__" in rest:
            step, rest = rest.split("__", 1)
            target = dict(target.steps).get(step)
        try:
            sig = inspect.signature(target.fit)
        except (AttributeError, TypeError, ValueError):
            continue  # a step that is not there or not inspectable: fit says
        kinds = {p.kind for p in sig.parameters.values()}
        if rest not in sig.parameters and inspect.Parameter.VAR_KEYWORD not in kinds:
            accepted = [p for p in sig.parameters if p not in ("X", "y")]
            raise ValueError(
                f"Model {name!r} cannot take the fit parameter {key!r}: "
                f"{type(target).__name__}.fit accepts {accepted or 'only X and y'}. "
                "Leave it out of fit_params or compare models whose fit takes it."
            )
    return routed


def _fit_and_score(name, estimator, fold, X_train, y_train, X_test, y_test, labels,
                   fit_params=None):
    est = clone(estimator)
    start = time.perf_counter()
    est.fit(X_train, y_train, **(fit_params or {}))
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    y_pred = np.asarray(est.predict(X_test))
    predict_time = time.perf_counter() - start
    cm = confusion_matrix(y_test, y_pred, labels=labels)
    recall = recall_per_class(cm)
    return {
        "model": name,
        "fold": fold,
        "accuracy": float(accuracy_score(y_test, y_pred)),
        "f1_macro": float(f1_score(y_test, y_pred, average="macro", zero_division=0)),
        "balanced_accuracy": float(np.nanmean(recall)),
        "fit_time": fit_time,
        "predict_time": predict_time,
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "recall": recall,
        "confusion_matrix": cm,
        "history": _history(est),
    }


def _make_splits(cv, y, groups, random_state):
    n = len(y)
    dummy = np.zeros((n, 1))
    if cv is None:
        cv = 5
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        if cv < 2:
            raise ValueError(f"cv must be at least 2 folds, got {cv}.")
        if groups is not None:
            n_groups = len(np.unique(groups))
            if cv > n_groups:
                raise ValueError(
                    f"cv={cv} subject-independent folds need at least {cv} groups; "
                    f"the data have {n_groups}. Use fewer folds."
                )
            cv = GroupKFold(n_splits=cv)
        else:
            cv = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    if hasattr(cv, "split"):
        splits = list(cv.split(dummy, y, groups))
        desc = _describe_cv(cv, groups)
    else:
        try:
            splits = [(np.asarray(tr), np.asarray(te)) for tr, te in cv]
        except (TypeError, ValueError):
            raise ValueError(
                "cv must be None, an int, a splitter with a split method or an "
                f"iterable of (train, test) index arrays; got {cv!r}."
            ) from None
        desc = f"{len(splits)} given train/test splits"
    if not splits:
        raise ValueError("cv produced no splits.")
    return [(np.asarray(tr, dtype=np.int64), np.asarray(te, dtype=np.int64))
            for tr, te in splits], desc


def _describe_cv(cv, groups):
    name = type(cv).__name__
    n = cv.get_n_splits() if hasattr(cv, "get_n_splits") else "?"
    if groups is not None and "Group" in name:
        return (f"subject-independent {name}({n}) over {len(np.unique(groups))} subjects "
                "(no subject in both training and test folds)")
    if name == "StratifiedKFold":
        extra = f", shuffled, random_state={cv.random_state}" if cv.shuffle else ""
        return f"StratifiedKFold({n}{extra})"
    return repr(cv)


# ---------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------


def compare(
    estimators,
    X,
    y,
    *,
    groups=None,
    cv=None,
    scoring="accuracy",
    test=None,
    n_jobs=None,
    random_state=0,
    dataset=None,
    verbose=0,
    fit_params=None,
):
    """Evaluate several estimators on exactly the same folds.

    Each estimator is cloned and fitted once per fold, on the same training
    indices, and scored on the same test indices as every other estimator.
    Recorded per fold: accuracy, macro-F1, balanced accuracy, per-class
    recall, the confusion matrix, fit and predict time, and, for deep models,
    the skorch training history (``net_.history``: ``train_loss``,
    ``valid_loss``, ``valid_acc`` per epoch) for learning curves.

    Parameters
    ----------
    estimators : dict, list or str
        ``{name: estimator}``; or a list whose items are model specs of
        :func:`skfer.models.make_model` (``'hog_svm'``, ``'cnn:simple'``,
        built with ``random_state``), ``(name, estimator)`` pairs or
        estimators (named after their class); or one comma-separated string
        of specs. A dict value may also be a spec.
    X : ndarray of shape (n_samples, H, W[, C]) or list of images
        The images, by the convention of :mod:`skfer` (arrays, lists of
        images of any sizes, or file paths); anything the estimators take.
    y : array-like of shape (n_samples,)
        Labels (names such as ``'happy'`` or integers).
    groups : array-like of shape (n_samples,) or None, default=None
        Subject of each sample. With groups and an int (or None) ``cv``, the
        folds are subject-independent (``GroupKFold``): no subject is in
        both the training and the test part of a fold.
    cv : int, cross-validation splitter, iterable or None, default=None
        The folds. ``None`` means 5; an int ``k`` means ``GroupKFold(k)``
        when ``groups`` is given, else ``StratifiedKFold(k, shuffle=True,
        random_state=random_state)``. A splitter (``split(X, y, groups)``)
        or an iterable of ``(train, test)`` index arrays is used as given.
        The splits are computed once and shared by every estimator.
    scoring : {'accuracy', 'f1_macro', 'balanced_accuracy'}, default='accuracy'
        The main score: it orders the tables (best first) and names the
        best model. All three are recorded whatever this is.
    test : tuple (X_test, y_test) or None, default=None
        A fixed train/test split instead of cross-validation: every
        estimator is fitted once on ``X, y`` and scored on ``X_test,
        y_test`` (e.g. FER2013's ``Training`` and ``PublicTest``). There is
        then one "fold" and no spread (std is NaN, shown as n/a).
        ``cv`` and ``groups`` must be None.
    n_jobs : int or None, default=None
        Fits run in parallel over (estimator, fold) pairs with joblib;
        ``None`` means 1, ``-1`` all cores. Deep models use their own
        threads, so keep 1 when comparing them on CPU.
    random_state : int or None, default=0
        Seed of the default shuffled ``StratifiedKFold`` and of models built
        from specs. Estimators passed as objects keep their own.
    dataset : str or None, default=None
        A name for the data, shown in the report's title.
    verbose : int, default=0
        A tqdm progress bar over estimators x folds (on stderr) when > 0.
    fit_params : dict of str to array-like or object, or None, default=None
        Extra arguments of every estimator's ``fit``, such as
        ``{"sample_weight": w}`` or soft labels ``{"votes": V}`` with ``V``
        of shape (n_samples, n_classes). An array-like (ndarray, list,
        tuple) must have one entry (row) per sample of ``X`` and is sliced
        with each fold's training indices, as ``X`` and ``y`` are (with
        ``test``, the one fit gets it whole); any other value (a scalar, a
        dict) is passed as given. A plain name goes to a Pipeline's final
        step, so the Pipelines of :func:`skfer.models.make_model` get
        ``"sample_weight"`` as ``svc__sample_weight`` (``'hog_svm'``); a name
        in scikit-learn's ``step__name`` form is passed as given. Every
        estimator must accept every name (checked before any fit).

    Returns
    -------
    results : CompareResults
        Every fold's numbers, with tables, exports and plots.

    Raises
    ------
    ValueError
        For an unknown model spec, inconsistent lengths, ``test`` together
        with ``cv``/``groups``, more folds than subjects, or a fit parameter
        of the wrong length or that an estimator's ``fit`` does not take.

    See Also
    --------
    CompareResults : What is recorded and how to report it.
    cross_dataset : Train on one dataset, test on others.
    sklearn.model_selection.cross_validate : The one-estimator equivalent.

    Examples
    --------
    >>> from skfer.datasets import make_faces
    >>> from skfer.evaluation import compare
    >>> faces = make_faces(140, image_size=32, random_state=0)
    >>> res = compare(["pca_lda", "hog_svm"], faces.images, faces.target,
    ...               groups=faces.groups, cv=3)
    >>> [row["model"] for row in res.summary]  # best first
    ['hog_svm', 'pca_lda']
    >>> res.scores("accuracy")["hog_svm"].shape  # one score per fold
    (3,)
    >>> print(res.split_description)
    subject-independent GroupKFold(3) over 20 subjects (no subject in both training and test folds)
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    if scoring not in SCORES:
        raise ValueError(f"scoring must be one of {list(SCORES)}, got {scoring!r}.")
    models = _resolve_estimators(estimators, random_state)
    n = n_samples(X)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(
            f"y must be 1-D with one label per sample: X has {n} samples, y has shape "
            f"{y.shape}."
        )
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != n:
            raise ValueError(f"groups has {len(groups)} entries for {n} samples.")
    params, per_sample = _check_fit_params(fit_params, n)
    routes = {name: _route_fit_params(name, est, params) for name, est in models.items()}

    def routed(name, fold_params):
        return {key: fold_params[k] for key, k in routes[name].items()}

    if test is not None:
        if cv is not None or groups is not None:
            raise ValueError(
                "Pass either test=(X_test, y_test) (a fixed split) or cv/groups "
                "(cross-validation), not both."
            )
        try:
            X_test, y_test = test
        except (TypeError, ValueError):
            raise ValueError("test must be a pair (X_test, y_test).") from None
        y_test = np.asarray(y_test)
        if len(y_test) != n_samples(X_test):
            raise ValueError(
                f"test: X_test has {n_samples(X_test)} samples, y_test {len(y_test)}."
            )
        splits = None
        desc = (f"fixed train/test split: fitted on {n} samples, scored on "
                f"{len(y_test)} (one split, so no spread over folds)")
        labels = label_order(np.concatenate([y, y_test]))
        chance_y = y_test
        n_folds = 1

        def tasks():
            for name, est in models.items():
                bar_note(name, 1, 1)
                yield delayed(_fit_and_score)(name, est, 0, X, y, X_test, y_test, labels,
                                              routed(name, params))
    else:
        splits, desc = _make_splits(cv, y, groups, random_state)
        labels = label_order(y)
        chance_y = y
        n_folds = len(splits)
        fold_params = [_fold_fit_params(params, per_sample, tr) for tr, _ in splits]

        def tasks():
            for name, est in models.items():
                for k, (tr, te) in enumerate(splits):
                    bar_note(name, k + 1, n_folds)
                    yield delayed(_fit_and_score)(
                        name, est, k, take_samples(X, tr), y[tr], take_samples(X, te),
                        y[te], labels, routed(name, fold_params[k]),
                    )

    bar = tqdm(total=len(models) * n_folds, desc="compare", unit="fit",
               disable=not verbose, file=sys.stderr, leave=False)

    def bar_note(name, k, total):
        bar.set_postfix_str(f"{name} fold {k}/{total}", refresh=True)

    records = []
    try:
        for rec in Parallel(n_jobs=n_jobs, return_as="generator")(tasks()):
            records.append(rec)
            bar.update(1)
    finally:
        bar.close()
    _, counts = np.unique(chance_y, return_counts=True)
    return CompareResults(
        models=list(models),
        classes=labels,
        records=records,
        splits=splits,
        split_description=desc,
        scoring=scoring,
        n_samples=n,
        chance=float(counts.max() / counts.sum()),
        dataset=dataset,
    )
