"""``skfer compare``: evaluate models on a dataset and write a report folder."""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import numpy as np

_DESCRIPTION = """\
Compare FER models on one dataset, every model on exactly the same folds.
CK+ and JAFFE: subject-independent GroupKFold (no subject in both training and
test). FER2013 and FER+: fitted on the 'Training' split, scored on
'PublicTest' (no CV). Image folders: stratified K-fold. Writes report.md,
results.json, results.csv and figures (scores.png, confusion.png,
learning_curves.png for deep models) to --out, and prints the table.
"""

_EPILOG = """\
examples:
  skfer compare --dataset ckplus --data CK+48 --models hog_svm,pca_lda,cnn:simple --out r/
  skfer compare --dataset fer2013 --data fer2013.csv.gz --models hog_svm,cnn:simple \\
      --budget 600 --max-samples 5000 --out r_fer/
  skfer compare --dataset folder --data my_faces/ --models hog_svm --param svc__C=1
"""

#: The dataset's own split names: (training, test candidates in order).
_TRAIN_SPLITS = ("Training", "train")
_TEST_SPLITS = ("PublicTest", "test", "PrivateTest")


class UsageError(ValueError):
    """A mistake in the command line or the data: reported on one line, exit 2."""


def add_parser(subparsers):
    """Register the ``compare`` subcommand on an argparse ``subparsers`` object."""
    from .datasets import DATASETS

    p = subparsers.add_parser(
        "compare",
        help="compare models on a dataset (same folds) and write a report",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", required=True, metavar="NAME",
                   help=f"one of {', '.join(DATASETS)}")
    p.add_argument("--data", required=True, metavar="PATH",
                   help="the dataset's file or folder")
    p.add_argument("--models", default="hog_svm,pca_lda", metavar="SPECS",
                   help="comma-separated model specs (default: hog_svm,pca_lda); "
                        "see skfer.models.model_names(): pca_svm, pca_lda, pca_knn, "
                        "hog_svm, lbp_svm, cnn:simple|vgg|resnet|mini_xception, "
                        "rnn:lstm|gru")
    p.add_argument("--out", metavar="DIR",
                   help="write report.md, results.json, results.csv and figures here")
    p.add_argument("--folds", type=int, default=5,
                   help="cross-validation folds (default 5; unused for FER2013/FER+)")
    p.add_argument("--budget", type=float, metavar="SECONDS",
                   help="training time limit of each deep model fit (max_time)")
    p.add_argument("--max-epochs", type=int, metavar="N", help="epochs of the deep models")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a model parameter in Pipeline syntax (svc__C=1, lr=0.01, "
                        "module__channels=(16,32)), given to every model that has it; "
                        "repeatable")
    p.add_argument("--test-split", metavar="NAME",
                   help="FER2013/FER+: the split to score (default PublicTest)")
    p.add_argument("--max-samples", type=int, metavar="N",
                   help="use a stratified random subset of N training samples "
                        "(quick runs on large datasets)")
    p.add_argument("--n-jobs", type=int, default=None,
                   help="parallel fits over models x folds (default 1; -1: all cores)")
    p.add_argument("--random-state", type=int, default=0,
                   help="seed of the models and of any shuffling (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def _parse_value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _parse_params(items):
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param needs KEY=VALUE (e.g. svc__C=1), got {item!r}.")
        params[key] = _parse_value(value.strip())
    return params


def _is_deep(spec):
    return spec.strip().lower().startswith(("cnn", "rnn"))


def build_models(specs, params, *, budget=None, max_epochs=None, random_state=0):
    """Model specs + CLI parameters -> ``{spec: unfitted Pipeline}``.

    Each ``params`` entry goes to every model that accepts it; one that no
    model accepts is an error. ``budget`` and ``max_epochs`` go to the deep
    models.
    """
    from .models import make_model

    specs = [s.strip() for s in specs.split(",") if s.strip()]
    if not specs:
        raise UsageError("--models is empty; give e.g. --models hog_svm,pca_lda.")
    if len(set(specs)) != len(specs):
        raise UsageError(f"--models lists a model twice: {', '.join(specs)}.")
    if budget is not None and budget <= 0:
        raise UsageError(f"--budget must be a positive number of seconds, got {budget}.")
    if max_epochs is not None and max_epochs < 1:
        raise UsageError(f"--max-epochs must be at least 1, got {max_epochs}.")
    used = set()
    models = {}
    for spec in specs:
        try:
            make_model(spec)  # unknown spec -> ValueError naming the choices
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        own = {}
        if _is_deep(spec):
            if budget is not None:
                own["max_time"] = budget
            if max_epochs is not None:
                own["max_epochs"] = max_epochs
        for key, value in params.items():
            try:
                make_model(spec, **{key: value})
            except (ValueError, TypeError):
                continue
            own[key] = value
            used.add(key)
        models[spec] = make_model(spec, random_state=random_state, **own)
    unused = [k for k in params if k not in used]
    if unused:
        raise UsageError(
            f"--param {unused[0]}=... is not a parameter of any of the models "
            f"({', '.join(specs)}); use Pipeline syntax such as svc__C=1, or an "
            "unprefixed name (lr=0.01) for the deep models."
        )
    return models


def load_for_compare(dataset, path, *, test_split=None, max_samples=None, random_state=0,
                     verbose=0):
    """Load a dataset as :func:`compare` takes it.

    Returns a dict with ``X``, ``y`` (canonical emotion names), ``groups``,
    ``test`` (``(X_test, y_test)`` or None), ``n_images`` and ``note`` (a
    description of the data).
    """
    from . import map_labels
    from .datasets import DATASETS, load_dataset
    from .evaluation._compare import _take

    if dataset not in DATASETS:
        raise UsageError(f"Unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}.")
    if test_split and dataset not in ("fer2013", "ferplus"):
        raise UsageError(f"--test-split: {dataset} has no splits of its own; it is "
                         "cross-validated.")
    path = Path(path)
    if not path.exists():
        raise UsageError(f"--data path '{path}' does not exist.")
    try:
        data = load_dataset(dataset, path, verbose=verbose)
    except (ValueError, OSError) as exc:
        raise UsageError(f"cannot load {dataset} from '{path}': {exc}") from None
    X = data.images
    y = map_labels(data.target, data.target_names, unknown="keep").astype(str)
    groups = None if data.get("groups") is None else np.asarray(data.groups)
    n_images = len(y)
    test = None
    split = data.get("split")
    if split is not None:
        split = np.asarray(split).astype(str)
        present = list(dict.fromkeys(split.tolist()))
        train_name = next((s for s in _TRAIN_SPLITS if s in present), None)
        test_name = test_split or next((s for s in _TEST_SPLITS if s in present), None)
        if train_name is None or test_name not in present:
            raise UsageError(
                f"{dataset} at '{path}' has the splits {present}; expected a training "
                f"split ({' or '.join(_TRAIN_SPLITS)}) and "
                + (f"the test split {test_split!r}." if test_split else
                   f"a test split ({', '.join(_TEST_SPLITS)}).")
            )
        tr = np.flatnonzero(split == train_name)
        te = np.flatnonzero(split == test_name)
        test = (_take(X, te), y[te])
        X, y, groups = _take(X, tr), y[tr], None
        note = f"{train_name} ({len(tr)} images) -> {test_name} ({len(te)} images)"
    else:
        note = f"{n_images} images"
        if groups is not None:
            note += f", {len(np.unique(groups))} subjects"
    if max_samples is not None:
        if max_samples < 2:
            raise UsageError(f"--max-samples must be at least 2, got {max_samples}.")
        if max_samples < len(y):
            from sklearn.model_selection import train_test_split

            classes, counts = np.unique(y, return_counts=True)
            strat = y if counts.min() >= 2 and max_samples >= len(classes) else None
            idx, _ = train_test_split(np.arange(len(y)), train_size=max_samples,
                                      stratify=strat, random_state=random_state)
            idx = np.sort(idx)
            X, y = _take(X, idx), y[idx]
            groups = None if groups is None else groups[idx]
            note += f", {max_samples} training images sampled"
    return {"X": X, "y": y, "groups": groups, "test": test, "n_images": n_images,
            "note": note}


def _error(exc):
    print(f"skfer compare: error: {exc}", file=sys.stderr)
    return 2


def run(args):
    """Run ``skfer compare`` from parsed arguments; returns the exit status."""
    from .evaluation import compare

    verbose = 0 if args.quiet else 1
    try:
        if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
            raise UsageError(f"--out '{args.out}' is a file; give a folder.")
        if args.folds < 2:
            raise UsageError(f"--folds must be at least 2, got {args.folds}.")
        params = _parse_params(args.param)
        models = build_models(args.models, params, budget=args.budget,
                              max_epochs=args.max_epochs, random_state=args.random_state)
        data = load_for_compare(args.dataset, args.data, test_split=args.test_split,
                                max_samples=args.max_samples,
                                random_state=args.random_state, verbose=verbose)
        groups = data["groups"]
        if data["test"] is None and groups is not None:
            n_groups = len(np.unique(groups))
            if args.folds > n_groups:
                raise UsageError(f"--folds {args.folds} is more than the {n_groups} "
                                 "subjects of the data; use fewer folds.")
    except UsageError as exc:
        return _error(exc)

    if data["test"] is None:
        _, counts = np.unique(data["y"], return_counts=True)
        if groups is None and counts.min() < args.folds:
            print(f"skfer compare: warning: the smallest class has {counts.min()} "
                  f"images, fewer than --folds {args.folds}.", file=sys.stderr)
    name = f"{args.dataset} ({data['note']})"
    print(f"skfer compare: {name}; models: {', '.join(models)}", flush=True)
    results = compare(
        models, data["X"], data["y"], groups=groups,
        cv=None if data["test"] is not None else args.folds,
        test=data["test"], n_jobs=args.n_jobs, random_state=args.random_state,
        dataset=name, verbose=verbose,
    )
    print()
    print(results.to_markdown())
    if args.out is not None:
        paths = results.save(args.out)
        print(f"\nwrote {', '.join(p.name for p in paths.values())} to {args.out}")
    return 0
