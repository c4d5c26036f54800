"""The ``skfer`` command line.

``skfer demo``: compare the classical baselines on synthetic faces, with
nothing downloaded and no data needed, and print the table.
"""

from __future__ import annotations

import argparse
import sys


def _demo(args):
    import numpy as np
    from sklearn.model_selection import GroupKFold, cross_validate
    from tqdm.auto import tqdm

    from .baselines import BASELINES, make_baseline
    from .datasets import make_faces

    faces = make_faces(n_samples=args.n_samples, random_state=args.random_state)
    n_groups = len(np.unique(faces.groups))
    cv = GroupKFold(n_splits=min(args.folds, n_groups))
    print(
        f"skfer demo: {len(faces.images)} synthetic 48x48 faces "
        f"(skfer.datasets.make_faces), {len(faces.target_names)} expressions, "
        f"{n_groups} synthetic subjects; subject-independent {cv.n_splits}-fold CV.",
        flush=True,
    )
    rows = []
    names = list(BASELINES)
    for name in tqdm(names, desc="baselines", disable=args.quiet, leave=False, file=sys.stderr):
        model = make_baseline(name, random_state=args.random_state)
        res = cross_validate(
            model, faces.images, faces.target, groups=faces.groups, cv=cv,
            scoring=("accuracy", "f1_macro"), n_jobs=args.n_jobs,
        )
        rows.append((
            name,
            res["test_accuracy"].mean(), res["test_accuracy"].std(),
            res["test_f1_macro"].mean(), res["fit_time"].mean(),
        ))
    rows.sort(key=lambda r: -r[1])
    print()
    print("| model   | accuracy      | macro-F1 | fit s/fold |")
    print("|---------|---------------|----------|------------|")
    for name, acc, sd, f1, fit in rows:
        print(f"| {name:7s} | {acc:.3f} ± {sd:.3f} | {f1:.3f}    | {fit:10.2f} |")
    print(f"\nchance: {1 / len(faces.target_names):.3f}. Baselines: "
          + "; ".join(f"{k}: {v}" for k, v in BASELINES.items()))
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
