"""What the ``skfer`` subcommands share: usage errors, model specs, ``--param`` parsing, dataset loading."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The dataset's own split names: (training, test candidates in order).
_TRAIN_SPLITS = ("Training", "train")
_TEST_SPLITS = ("PublicTest", "test", "PrivateTest")


class UsageError(ValueError):
    """A mistake in the command line or the data: reported on one line, exit 2."""


def error(command, message):
    """Print ``skfer COMMAND: error: MESSAGE`` on stderr; return exit status 2."""
    print(f"skfer {command}: error: {message}", file=sys.stderr)
    return 2


def check_writable(path, what, *, folder=False):
    """Refuse an output location that cannot be written, before any work starts.

    ``path`` is a file to write (``folder=False``) or a folder to create or
    fill. The nearest existing folder on the way must be writable.
    """
    import os
    import tempfile

    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise UsageError(f"{what} '{path}' is a file; give a folder.")
    if not folder and path.is_dir():
        raise UsageError(f"{what} '{path}' is a folder; give the file's name "
                         "(e.g. model.skfer).")
    parent = path if folder else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{what} '{path}': '{parent}' is a file, not a folder.")
    try:  # a real probe: permission bits say nothing to root, or on read-only mounts
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".skfer-write-test-"):
            pass
    except OSError as exc:
        raise UsageError(f"{what} '{path}': cannot write in the folder '{parent}' "
                         f"({exc.strerror or exc}); choose another place.") from None
    if path.exists() and not folder and not os.access(path, os.W_OK):
        raise UsageError(f"{what} '{path}' exists and is not writable.")
    return path


#: Where each dataset's folder layout is described, for one-class errors.
_LAYOUTS = {
    "ckplus": "CK+48/<emotion>/SXXX_YYY_ZZZZZZZZ.png: give the CK+48 folder itself",
    "jaffe": "a folder of JAFFE .tiff files named like KA.AN1.39.tiff",
    "folder": "<folder>/<label>/<images>, one sub-folder per class",
}


def _parse_value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_params(items):
    """``--param KEY=VALUE`` items -> dict (values parsed as Python literals when they are)."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param needs KEY=VALUE (e.g. svc__C=1), got {item!r}.")
        params[key] = _parse_value(value.strip())
    return params


def is_deep(spec):
    """Whether a model spec names a deep model (``cnn:...``, ``rnn:...``)."""
    return spec.strip().lower().startswith(("cnn", "rnn"))


def build_models(specs, params, *, budget=None, max_epochs=None, random_state=0):
    """Model specs + CLI parameters -> ``{spec: unfitted Pipeline}``.

    Each ``params`` entry goes to every model that accepts it; one that no
    model accepts is an error. ``budget`` and ``max_epochs`` go to the deep
    models.
    """
    from ..models import make_model

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
        if is_deep(spec):
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


@dataclass
class LoadedData:
    """A dataset as ``skfer compare`` and ``skfer train`` use it.

    Attributes
    ----------
    X, y : the training images and their labels (canonical emotion names).
    groups : ndarray or None
        Subject ids of the training images, when the dataset has them.
    test : tuple (X_test, y_test) or None
        The dataset's own test split, when it has splits.
    train_split, test_split : str or None
        The names of those splits in the dataset (e.g. 'Training', 'PublicTest').
    n_images : int
        Images in the dataset as loaded (all splits).
    note : str
        A description of the data for the user.
    votes : ndarray of shape (n_train, n_classes) or None
        FER+: the annotators' vote distribution of each training image, its
        columns in the order of the sorted class names (the order a
        classifier's ``classes_`` takes), for ``fit(X, y, votes=votes)``.
    """

    X: object
    y: np.ndarray
    groups: np.ndarray | None
    test: tuple | None
    train_split: str | None
    test_split: str | None
    n_images: int
    note: str
    votes: np.ndarray | None = None
    vote_classes: list | None = None


#: The FER+ label protocol of ``skfer compare`` / ``skfer train``: the FERPlus
#: reference code's majority processing, as published FER+ figures use.
FERPLUS_MODE = "reference_majority"


def load_data(dataset, path, *, test_split=None, max_samples=None, random_state=0,
              verbose=0, ferplus_mode=FERPLUS_MODE):
    """Load a dataset for ``skfer compare`` / ``skfer train``: a :class:`LoadedData`."""
    from .. import map_labels
    from ..datasets import DATASETS, load_dataset
    from ..evaluation._utils import take_samples

    if dataset not in DATASETS:
        raise UsageError(f"Unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}.")
    if test_split and dataset not in ("fer2013", "ferplus"):
        raise UsageError(f"--test-split: {dataset} has no splits of its own; it is "
                         "cross-validated.")
    path = Path(path)
    if not path.exists():
        raise UsageError(f"--data path '{path}' does not exist.")
    try:
        data = load_dataset(dataset, path, verbose=verbose, ferplus_mode=ferplus_mode)
    except (ValueError, OSError) as exc:
        raise UsageError(f"cannot load {dataset} from '{path}': {exc}") from None
    X = data.images
    y = map_labels(data.target, data.target_names, unknown="keep").astype(str)
    classes = np.unique(y)
    if len(classes) < 2:
        layout = _LAYOUTS.get(dataset, "a dataset with at least two classes")
        raise UsageError(f"{dataset} at '{path}' holds a single class ({classes[0] if len(classes) else 'none'}); "
                         f"a classifier needs two or more. Expected layout: {layout}.")
    groups = None if data.get("groups") is None else np.asarray(data.groups)
    votes = data.get("votes")
    vote_classes = None
    if votes is not None:  # columns: the dataset's names -> sorted canonical names
        names = map_labels(np.arange(len(data.target_names)), data.target_names,
                           unknown="keep").astype(str)
        votes = np.asarray(votes, dtype=np.float32)[:, np.argsort(names)]
        vote_classes = sorted(names.tolist())
    n_images = len(y)
    test = train_name = test_name = None
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
        test = (take_samples(X, te), y[te])
        X, y, groups = take_samples(X, tr), y[tr], None
        votes = None if votes is None else votes[tr]
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
            X, y = take_samples(X, idx), y[idx]
            groups = None if groups is None else groups[idx]
            votes = None if votes is None else votes[idx]
            note += f", {max_samples} training images sampled"
    if dataset == "ferplus":
        note += f", FER+ labels by the {ferplus_mode} protocol"
    return LoadedData(X=X, y=y, groups=groups, test=test, train_split=train_name,
                      test_split=test_name, n_images=n_images, note=note, votes=votes,
                      vote_classes=vote_classes)


def add_ferplus_options(parser):
    """``--ferplus-mode`` and ``--soft-labels`` of ``skfer compare`` / ``skfer train``."""
    parser.add_argument("--ferplus-mode", default=FERPLUS_MODE, metavar="MODE",
                        choices=("reference_majority", "reference_probability", "majority",
                                 "probability"),
                        help="FER+: which images and labels (skfer.datasets.load_ferplus "
                             f"modes; default {FERPLUS_MODE}, the FERPlus reference "
                             "protocol of the published figures)")
    parser.add_argument("--soft-labels", action="store_true",
                        help="FER+: train the deep models on the annotators' vote "
                             "distributions (fit(..., votes=)) instead of the majority "
                             "labels alone; scoring stays on the majority labels")


def soft_label_params(args, data, specs):
    """The fit parameters of ``--soft-labels`` (``{}`` without it), or a UsageError."""
    if not args.soft_labels:
        return {}
    if data.votes is None:
        raise UsageError(f"--soft-labels needs vote distributions, which only FER+ has "
                         f"(--dataset ferplus); {args.dataset} has one label per image.")
    classical = [s for s in specs if not is_deep(s)]
    if classical:
        raise UsageError(f"--soft-labels trains deep models on vote distributions; "
                         f"{', '.join(classical)} cannot take them. Compare those in a "
                         "run without --soft-labels.")
    # The net's classes are those of the training labels: votes for a class
    # no training image is labelled with are dropped, and the rows renormalised.
    present = np.unique(data.y).tolist()
    keep = [data.vote_classes.index(c) for c in present]
    votes = data.votes[:, keep]
    total = votes.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise UsageError(f"--soft-labels: {int((total <= 0).sum())} training images have "
                         "no votes for the classes of the training labels.")
    return {"votes": votes / total}
