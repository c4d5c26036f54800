"""The ``skfer`` command line.

``skfer demo``: compare the classical baselines on synthetic faces, with
nothing downloaded and no data needed, and print the table.
``skfer compare``: compare models on a dataset and write a report folder
(see :mod:`skfer._cli_compare`).
``skfer train`` and ``skfer predict``: save a trained model to a safe file,
then classify the faces in photos (see :mod:`skfer._cli_models`).
"""

from __future__ import annotations

import argparse
import sys


def _demo(args):
    import numpy as np

    from .baselines import BASELINES
    from .datasets import make_faces
    from .evaluation import compare

    faces = make_faces(n_samples=args.n_samples, random_state=args.random_state)
    n_groups = len(np.unique(faces.groups))
    folds = min(args.folds, n_groups)
    print(
        f"skfer demo: {len(faces.images)} synthetic 48x48 faces "
        f"(skfer.datasets.make_faces), {len(faces.target_names)} expressions, "
        f"{n_groups} synthetic subjects; subject-independent {folds}-fold CV "
        "(skfer.evaluation.compare).",
        flush=True,
    )
    y = np.asarray(faces.target_names, dtype=object)[faces.target]
    results = compare(
        list(BASELINES), faces.images, y, groups=faces.groups, cv=folds,
        n_jobs=args.n_jobs, random_state=args.random_state,
        dataset="make_faces (synthetic)", verbose=0 if args.quiet else 1,
    )
    print()
    print(results.to_markdown())
    print("\nBaselines: " + "; ".join(f"{k}: {v}" for k, v in BASELINES.items()))
    print("On your data: skfer compare --dataset ckplus|jaffe|fer2013|ferplus|folder "
          "--data PATH --models hog_svm,pca_lda,cnn:simple --out DIR")
    return 0


def build_parser():
    """The argument parser of the ``skfer`` command."""
    parser = argparse.ArgumentParser(
        prog="skfer", description="Facial expression recognition for the scikit-learn world."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser(
        "demo", help="compare classical baselines on synthetic faces (no data, no download)"
    )
    demo.add_argument("--n-samples", type=int, default=700, help="synthetic faces (default 700)")
    demo.add_argument("--folds", type=int, default=5, help="CV folds (default 5)")
    demo.add_argument("--n-jobs", type=int, default=-1, help="parallel folds (default: all cores)")
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)
    from ._cli_compare import add_parser as _add_compare_parser

    _add_compare_parser(sub)
    from ._cli_models import add_parsers as _add_model_parsers

    _add_model_parsers(sub)  # skfer train, skfer predict
    return parser


def main(argv=None):
    """Run the ``skfer`` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"skfer {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
