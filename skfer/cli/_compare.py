"""``skfer compare``: evaluate models on a dataset and write a report folder."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ._common import (
    UsageError,
    add_ferplus_options,
    build_models,
    check_writable,
    error,
    load_data,
    parse_params,
    soft_label_params,
)

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

def format_parser(subparsers):
    """Register the ``compare`` subcommand on an argparse ``subparsers`` object."""
    from ..datasets import DATASETS

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
    add_ferplus_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=main)
    return p



def main(args):
    """Run ``skfer compare`` from parsed arguments; returns the exit status."""
    from ..evaluation import compare

    verbose = 0 if args.quiet else 1
    try:
        if args.out is not None:
            check_writable(args.out, "--out", folder=True)
        if args.folds < 2:
            raise UsageError(f"--folds must be at least 2, got {args.folds}.")
        params = parse_params(args.param)
        models = build_models(args.models, params, budget=args.budget,
                              max_epochs=args.max_epochs, random_state=args.random_state)
        data = load_data(args.dataset, args.data, test_split=args.test_split,
                         max_samples=args.max_samples, random_state=args.random_state,
                         verbose=verbose, ferplus_mode=args.ferplus_mode)
        fit_params = soft_label_params(args, data, list(models))
        groups = data.groups
        if data.test is None and groups is not None:
            n_groups = len(np.unique(groups))
            if args.folds > n_groups:
                raise UsageError(f"--folds {args.folds} is more than the {n_groups} "
                                 "subjects of the data; use fewer folds.")
    except UsageError as exc:
        return error("compare", exc)

    if data.test is None:
        _, counts = np.unique(data.y, return_counts=True)
        if groups is None and counts.min() < args.folds:
            print(f"skfer compare: warning: the smallest class has {counts.min()} "
                  f"images, fewer than --folds {args.folds}.", file=sys.stderr)
    name = f"{args.dataset} ({data.note})"
    print(f"skfer compare: {name}; models: {', '.join(models)}", flush=True)
    results = compare(
        models, data.X, data.y, groups=groups,
        cv=None if data.test is not None else args.folds,
        test=data.test, n_jobs=args.n_jobs, random_state=args.random_state,
        dataset=name, verbose=verbose, fit_params=fit_params or None,
    )
    print()
    print(results.to_markdown())
    if args.out is not None:
        paths = results.save(args.out)
        print(f"\nwrote {', '.join(p.name for p in paths.values())} to {args.out}")
    return 0
