"""``skfer train``: train one model on a dataset and save it to one safe model file."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .._annotate import DEFAULT_MARGIN
from ._common import UsageError, add_ferplus_options, check_writable, error

_TRAIN_DESCRIPTION = """\
Train one model on a whole dataset and save it, preprocessing included, to one
file that runs no code when loaded (skops for the scikit-learn parts,
safetensors + JSON for the nets; see skfer.io). FER2013 and FER+ are trained
on their 'Training' split and scored on 'PublicTest'; other datasets are
trained on all their images. Labels are stored as emotion names (CK+'s
'anger' becomes 'angry'). A final SVC is wrapped in CalibratedClassifierCV
(Platt scaling on 5-fold cross-validated decision values, about five times
the SVC's fitting time) so that 'skfer predict' reports probabilities;
--param svc__probability=False keeps the bare SVC (no probabilities).
"""

_TRAIN_EPILOG = """\
examples:
  skfer train --dataset ckplus --data CK+48 --model hog_svm --out hog.skfer
  skfer train --dataset fer2013 --data fer2013.csv.gz --model cnn:mini_xception \\
      --budget 3600 --out fer_cnn.skfer
  skfer train --dataset folder --data my_faces/ --model pca_lda --param pca__n_components=30 \\
      --out mine.skfer
"""

#: Datasets whose images are face crops with about ``DEFAULT_MARGIN``.
_CROPPED_DATASETS = ("fer2013", "ferplus", "ckplus")


def format_parser(subparsers):
    """Register ``skfer train`` on argparse ``subparsers``."""
    from ..datasets import DATASETS

    p = subparsers.add_parser(
        "train",
        help="train one model on a dataset and save it to a safe model file",
        description=_TRAIN_DESCRIPTION,
        epilog=_TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", required=True, metavar="NAME",
                   help=f"one of {', '.join(DATASETS)}")
    p.add_argument("--data", required=True, metavar="PATH", help="the dataset's file or folder")
    p.add_argument("--model", required=True, metavar="SPEC",
                   help="one model spec (see skfer.models.model_names()): pca_svm, pca_lda, "
                        "pca_knn, hog_svm, lbp_svm, cnn:simple|vgg|resnet|mini_xception, "
                        "rnn:lstm|gru")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a model parameter in Pipeline syntax (svc__C=1, lr=0.01, "
                        "module__channels=(16,32)); values are Python literals, else "
                        "strings; repeatable")
    p.add_argument("--budget", type=float, metavar="SECONDS",
                   help="training time limit of a deep model (its max_time)")
    p.add_argument("--max-epochs", type=int, metavar="N", help="epochs of a deep model")
    p.add_argument("--max-samples", type=int, metavar="N",
                   help="train on a stratified random subset of N images (quick runs)")
    p.add_argument("--random-state", type=int, default=0,
                   help="seed of the model and of any sampling (default 0)")
    add_ferplus_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="the model file to write (e.g. model.skfer)")
    p.set_defaults(func=main)
    return p


def _set_verbose(model, verbose, params):
    """Progress bars in skfer's own steps (a deep net: epoch table and bars).

    Returns ``[(step, previous verbose)]`` to restore before saving, so that
    the saved model is quiet. Steps whose ``verbose`` the user set are left
    alone.
    """
    from ..neural import BaseNeuralClassifier

    changed = []
    for name, step in getattr(model, "steps", []):
        if not type(step).__module__.startswith("skfer."):
            continue
        if "verbose" not in step.get_params(deep=False):
            continue
        deep = isinstance(step, BaseNeuralClassifier)
        if f"{name}__verbose" in params or (deep and "verbose" in params):
            continue
        changed.append((step, step.verbose))
        step.set_params(verbose=(2 if deep else 1) if verbose else 0)
    return changed


def _calibrate_svc(model, params, y):
    """Wrap a final SVC in ``CalibratedClassifierCV``: Platt-scaled probabilities.

    Returns a note for the user, or None when nothing was changed (no SVC,
    or ``svc__probability`` chosen by the user).
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    steps = getattr(model, "steps", None)
    if not steps or not isinstance(steps[-1][1], SVC):
        return None
    name, svc = steps[-1]
    if f"{name}__probability" in params:
        return None
    n_splits = int(min(5, np.unique(np.asarray(y), return_counts=True)[1].min()))
    if n_splits < 2:
        return ("a class has a single image, so the SVC's probabilities cannot be "
                "calibrated; 'skfer predict' will give none")
    # ensemble=False: one SVC fitted on all the data, and a sigmoid per class
    # fitted on its cross-validated decision values (Platt scaling, as
    # SVC(probability=True), which scikit-learn 1.9 deprecates).
    model.steps[-1] = (f"calibrated_{name}", CalibratedClassifierCV(
        svc, method="sigmoid", cv=n_splits, ensemble=False))
    return None


def main(args):
    """Run ``skfer train`` from parsed arguments; returns the exit status."""
    from ..io import save_model
    from ._common import (
        build_models,
        is_deep,
        load_data,
        parse_params,
        soft_label_params,
    )

    verbose = 0 if args.quiet else 1
    try:
        out = check_writable(args.out, "--out")
        if "," in args.model:
            raise UsageError(f"--model takes one model spec, got {args.model!r} "
                             "(use 'skfer compare --models' to compare several).")
        params = parse_params(args.param)
        if not is_deep(args.model):
            for flag, value in (("--budget", args.budget), ("--max-epochs", args.max_epochs)):
                if value is not None:
                    print(f"skfer train: warning: {flag} is for deep models; ignored for "
                          f"{args.model}.", file=sys.stderr)
            budget = max_epochs = None
        else:
            budget, max_epochs = args.budget, args.max_epochs
        (spec, model), = build_models(args.model, params, budget=budget,
                                      max_epochs=max_epochs,
                                      random_state=args.random_state).items()
        quiet_again = _set_verbose(model, verbose, params)
        data = load_data(args.dataset, args.data, max_samples=args.max_samples,
                         random_state=args.random_state, verbose=verbose,
                         ferplus_mode=args.ferplus_mode)
        fit_params = soft_label_params(args, data, [spec])
        if fit_params and hasattr(model, "steps"):  # Pipeline routing to the net
            fit_params = {f"{model.steps[-1][0]}__{k}": v for k, v in fit_params.items()}
    except UsageError as exc:
        return error("train", exc)

    X, y = data.X, data.y
    note = _calibrate_svc(model, params, y)
    if note:
        print(f"skfer train: warning: {note}.", file=sys.stderr)
    classes = sorted(set(np.asarray(y).tolist()))
    print(f"skfer train: {spec} on {args.dataset} ({data.note}); "
          f"{len(classes)} classes: {', '.join(map(str, classes))}", flush=True)
    start = time.perf_counter()
    try:
        model.fit(X, y, **fit_params)
    except KeyboardInterrupt:
        print(f"skfer train: interrupted after {time.perf_counter() - start:.1f} s; no "
              f"model file written.", file=sys.stderr)
        return 130
    except (ValueError, TypeError) as exc:
        # Parameter values (e.g. --param max_epochs=0) are checked at fit.
        return error("train", f"training {spec} failed: {exc}")
    fit_time = time.perf_counter() - start
    print(f"skfer train: trained in {fit_time:.1f} s", flush=True)

    metadata = {
        "model": spec,
        "soft_labels": bool(fit_params),
        "params": {k: repr(v) for k, v in sorted(parse_params(args.param).items())},
        "dataset": args.dataset,
        "data": data.note,
        "n_train": int(len(y)),
        "random_state": args.random_state,
        "fit_time_s": round(fit_time, 3),
    }
    if args.dataset in _CROPPED_DATASETS:
        metadata["crop_margin"] = DEFAULT_MARGIN  # how skfer predict crops faces
    if data.test is not None:
        X_test, y_test = data.test
        name = data.test_split
        accuracy = float(np.mean(np.asarray(model.predict(X_test)) == np.asarray(y_test)))
        metadata["test_split"] = name
        metadata["test_accuracy"] = round(accuracy, 6)
        print(f"skfer train: {name} accuracy {accuracy:.3f} ({len(y_test)} images)",
              flush=True)
    for step, value in quiet_again:
        step.set_params(verbose=value)
    path = save_model(model, out, metadata=metadata)
    print(f"skfer train: saved {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0

