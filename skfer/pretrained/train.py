"""Reproduce a shipped pretrained model from FER2013.

Usage::

    python -m skfer.pretrained.train --data ../shared/data/fer2013/fer2013.csv.gz \\
        --out skfer/pretrained/weights/fer2013_mini_xception

Trains :class:`~skfer.neural.CNNClassifier` with the recipe below on the
``Training`` rows (10% of them held out for early stopping), measures
``PublicTest`` accuracy with and without test-time flip averaging, and writes
the model file ``model.skfer`` plus ``card.json`` (the model card's figures)
to the folder ``--out``. No pixels are written, only weights.

FER+ (8 classes, contempt included) is one command too::

    python -m skfer.pretrained.train --dataset ferplus \\
        --ferplus ../shared/data/ferplus/fer2013new.csv \\
        --data ../shared/data/fer2013/fer2013.csv.gz \\
        --labels votes --budget 3500 --threads 2 --out ferplus_votes

It fine-tunes the shipped FER2013 model (``--init``, by default the shipped
``fer2013_mini_xception``; every layer but the output one is copied, see
``pretrained=``) with :data:`FERPLUS_RECIPE` on the FER+ Training images of
the reference majority protocol (:func:`~skfer.datasets.load_ferplus` with
``mode='reference_majority'``: 25,060 images, 10% of them held out for early
stopping), on the annotators' vote distributions (``--labels votes``:
``fit(..., votes=)``) or on the majority labels alone (``--labels
majority``, for the comparison), and scores on the 3,199 FER+ PublicTest
images of the same protocol. After every epoch the model so far is saved
as ``--out``/``checkpoints/epoch_NNN``, so that an interrupted run leaves
usable models; ``--budget`` stops training after the epoch that passes it.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

from skorch.callbacks import Callback

#: The recipe of the shipped ``fer2013_mini_xception`` model.
RECIPE = dict(
    architecture="mini_xception",
    module__channels=(16, 32, 64, 192, 384),
    batch_size=128,
    lr=2e-3,
    max_epochs=48,
    lr_schedule="cosine",
    label_smoothing=0.1,
    augment=True,
    standardize="image",
    validation_fraction=0.1,
    random_state=0,
)

#: The second stage of the shipped model: a warm restart from the first
#: stage's weights (every layer but the output one, see ``pretrained=``)
#: on all the Training rows, with a fresh cosine schedule from a lower rate.
FINETUNE = dict(
    RECIPE,
    lr=1e-3,
    max_epochs=90,
    validation_fraction=None,
    random_state=1,
)

#: The FER+ fine-tuning of the shipped FER2013 model (``--dataset ferplus``):
#: the FER2013 recipe's architecture (so that its body's weights fit), a
#: lower rate and a fresh cosine schedule, 10% of the Training images held
#: out for early stopping. ``--labels votes`` and ``--labels majority`` use
#: the same recipe, so that only the targets differ.
FERPLUS_RECIPE = dict(
    RECIPE,
    lr=1e-3,
    max_epochs=40,
    patience=8,
    random_state=2,
)


def main(argv=None):
    import numpy as np
    import torch
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    from .. import __version__
    from ..datasets import load_fer2013
    from ..neural import CNNClassifier
    from . import _MODEL_FILE

    p = argparse.ArgumentParser(prog="python -m skfer.pretrained.train",
                                description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=("fer2013", "ferplus"), default="fer2013",
                   help="fer2013: the FER2013 recipe (two stages); ferplus: fine-tune --init "
                        "(default: the shipped FER2013 model) on FER+ (needs --ferplus)")
    p.add_argument("--ferplus", default=None, metavar="CSV",
                   help="--dataset ferplus: the FER+ labels, fer2013new.csv")
    p.add_argument("--labels", choices=("votes", "majority"), default=None,
                   help="--dataset ferplus: train on the vote distributions (soft targets, "
                        "the default) or on the majority labels alone")
    p.add_argument("--n-train", type=int, default=None, metavar="N",
                   help="use only the first N Training images (smoke runs)")
    p.add_argument("--data", required=True, help="FER2013 csv, csv.gz, tar.gz or image folders")
    p.add_argument("--out", required=True, help="folder to write the model to")
    p.add_argument("--budget", type=float, default=3500, help="training seconds at most")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-epochs", type=int, default=None,
                   help="epochs of the stage (default: the recipe's)")
    p.add_argument("--init", default=None,
                   help="fer2013: run the second stage (FINETUNE) from the model saved in "
                        "this folder (the first stage's --out); ferplus: the FER2013 model "
                        "folder to fine-tune (default: the shipped one)")
    p.add_argument("--no-recalibrate-bn", action="store_true",
                   help="second stage: keep the BatchNorm statistics gathered on augmented "
                        "batches (by default they are re-estimated on the clean training "
                        "images, see recalibrate_batchnorm)")
    p.add_argument("--recalibrate", default=None, metavar="DIR",
                   help="train nothing: recalibrate the BatchNorm statistics of the model "
                        "saved in DIR (a stage trained with --no-recalibrate-bn) and write "
                        "it with its card to --out")
    args = p.parse_args(argv)
    for flag, folder in (("--init", args.init), ("--recalibrate", args.recalibrate)):
        if folder is not None and not Path(folder, _MODEL_FILE).is_file():
            p.error(f"{flag} {folder}: no saved model there (expected {_MODEL_FILE}, as "
                    "the first stage's --out holds).")
    if args.recalibrate is not None and not Path(args.recalibrate, "card.json").is_file():
        p.error(f"--recalibrate {args.recalibrate}: no card.json there; give a folder "
                "written by this script.")
    if not Path(args.data).exists():
        p.error(f"--data {args.data}: no such file or folder.")
    if args.n_train is not None and args.n_train < 1:
        p.error(f"--n-train must be at least 1, got {args.n_train}.")
    if args.dataset == "ferplus":
        _check_ferplus_args(p, args)
        torch.set_num_threads(args.threads)
        return _train_ferplus(args, np=np, metrics=(accuracy_score, confusion_matrix, f1_score),
                              version=__version__)
    if args.labels is not None or args.ferplus is not None:
        p.error("--labels and --ferplus are options of --dataset ferplus.")
    torch.set_num_threads(args.threads)

    train = load_fer2013(args.data, usage="Training")
    test = load_fer2013(args.data, usage="PublicTest")
    if args.n_train is not None:
        train = _first(train, args.n_train)
    metrics = (accuracy_score, confusion_matrix, f1_score)
    out = Path(args.out)
    if args.recalibrate is not None:
        from ..io import load_model

        clf = load_model(Path(args.recalibrate, _MODEL_FILE), device="cpu")
        card = json.loads(Path(args.recalibrate, "card.json").read_text(encoding="utf-8"))
        before = _accuracies(clf, test, np)
        recalibrate_batchnorm(clf, train.images)
        stages = card.pop("stages", None) or [card]
        last = stages[-1]
        save_card(clf, test, out, seconds=last["train_seconds"], threads=last["train_threads"],
                  params=last["recipe"], version=__version__, np=np, metrics=metrics,
                  previous=stages[:-1], before_recalibration=before, epochs=last["epochs"])
        print(json.dumps(json.loads((out / "card.json").read_text()), indent=1))
        return 0
    if args.init is None:
        params = dict(RECIPE)
    else:
        params = dict(FINETUNE, pretrained=str(Path(args.init, _MODEL_FILE)))
    if args.max_epochs is not None:
        params["max_epochs"] = args.max_epochs
    clf = CNNClassifier(**params, max_time=args.budget, verbose=1)
    t = time.perf_counter()
    clf.fit(train.images, train.target)
    seconds = time.perf_counter() - t
    clf.set_params(max_time=None, verbose=0)
    before = None
    # The last stage's BatchNorm statistics are re-estimated on clean images;
    # the first stage is left as trained, since the second starts from it.
    if args.init is not None and not args.no_recalibrate_bn:
        before = _accuracies(clf, test, np)
        recalibrate_batchnorm(clf, train.images)
    stages = []
    if args.init is not None:
        first = Path(args.init, "card.json")
        if first.exists():
            stages = json.loads(first.read_text(encoding="utf-8")).get("stages") or [
                json.loads(first.read_text(encoding="utf-8"))]
    save_card(clf, test, out, seconds=seconds, threads=args.threads, params=params,
              version=__version__, np=np, metrics=metrics, previous=stages,
              before_recalibration=before)
    print(json.dumps(json.loads((out / "card.json").read_text()), indent=1))
    return 0


def recalibrate_batchnorm(clf, images, *, batch_size=256, flip=True):
    """Recompute the BatchNorm statistics of ``clf``'s net on ``images``, un-augmented.

    During training the running means and variances follow augmented
    (rotated, shifted, rescaled) batches, which are not what the net sees at
    prediction time. Here they are reset and re-estimated as exact averages
    over one pass of the training images as they are, and of their mirror
    images when ``flip`` (the pretrained model predicts with test-time flip
    averaging). Nothing is learned: the weights are unchanged. On the shipped
    model this raised PublicTest accuracy from 0.668 to 0.680.
    """
    import torch

    module = clf.net_.module_
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return clf
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    augment, module.augment = module.augment, None
    X_t = clf._predict_tensor(images)
    module.train()
    try:
        with torch.no_grad():
            for start in range(0, len(X_t), batch_size):
                xb = X_t[start:start + batch_size].to(clf.net_.device)
                if flip:
                    xb = torch.cat([xb, torch.flip(xb, dims=[-1])])
                module(xb)
    finally:
        module.eval()
        module.augment = augment
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
    return clf


def _accuracies(clf, test, np):
    """PublicTest accuracy without and with flip averaging."""
    names = np.asarray(test.target_names)
    y = names[test.target]
    classes = np.asarray(clf.classes_)
    if classes.dtype.kind in "iu":
        classes = names[classes]
    out = {}
    for key, flip in (("public_test_accuracy", False), ("public_test_accuracy_flip", True)):
        clf.set_params(test_time_flip=flip)
        out[key] = round(float(np.mean(classes[clf.predict_proba(test.images).argmax(1)] == y)), 4)
    return out


def save_card(clf, test, out, *, seconds, threads, params, version, np, metrics, previous=(),
              before_recalibration=None, epochs=None, data=None, reproduce=None, extra=None):
    """Save ``clf`` (class names as labels) and its model card to ``out``.

    ``data`` and ``reproduce`` replace the card's FER2013 descriptions of
    the data and of the command; ``extra`` adds entries to the card.
    """
    accuracy_score, confusion_matrix, f1_score = metrics
    names = np.asarray(test.target_names)
    # The shipped model predicts expression names, not FER2013's integer codes.
    if clf.classes_.dtype.kind in "iu":
        clf.classes_ = names[clf.classes_]
        clf._label_encoder.classes_ = clf.classes_
    y = names[test.target]
    clf.set_params(test_time_flip=False)
    plain = clf.predict(test.images)
    clf.set_params(test_time_flip=True)
    flip = clf.predict(test.images)
    # The saved model refits from scratch, not from a folder of this machine.
    clf.set_params(pretrained=None)
    from . import _MODEL_FILE

    clf.save(Path(out, _MODEL_FILE))
    card = {
        "name": Path(out).name,
        "classes": [str(c) for c in clf.classes_],
        "data": "FER2013 Training rows (28,709 images"
                + (", 10% held out for early stopping" if params.get("validation_fraction") else "")
                + "); evaluated on PublicTest (3,589 images)",
        "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
        "epochs": len(clf.net_.history) if epochs is None else epochs,
        "train_seconds": round(seconds, 1),
        "train_threads": threads,
        "public_test_accuracy": round(float(accuracy_score(y, plain)), 4),
        "public_test_accuracy_flip": round(float(accuracy_score(y, flip)), 4),
        "public_test_macro_f1_flip": round(float(f1_score(y, flip, average="macro")), 4),
        "public_test_confusion_flip": confusion_matrix(y, flip, labels=list(clf.classes_)).tolist(),
        "skfer_version": version,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "reproduce": "python -m skfer.pretrained.train --data fer2013.csv.gz --out DIR"
                     + ("" if not previous else
                        " (first stage), then the same with --init DIR --out DIR2 (second stage, "
                        "which ends with recalibrate_batchnorm; the shipped weights were made "
                        "with --no-recalibrate-bn, then --recalibrate DIR2, the same steps)"),
    }
    if data is not None:
        card["data"] = data
    if reproduce is not None:
        card["reproduce"] = reproduce
    card.update(extra or {})
    if before_recalibration is not None:
        card["batchnorm_recalibrated"] = True
        card["before_batchnorm_recalibration"] = before_recalibration
    if previous:
        stage_keys = ("recipe", "epochs", "train_seconds", "train_threads",
                      "public_test_accuracy", "public_test_accuracy_flip")
        this = {k: card[k] for k in stage_keys}
        this["recipe"] = {k: v for k, v in this["recipe"].items() if k != "pretrained"}
        card["stages"] = [{k: s.get(k) for k in stage_keys} for s in previous] + [this]
        card["train_seconds_total"] = round(sum(s["train_seconds"] for s in card["stages"]), 1)
        card["epochs_total"] = sum(s["epochs"] for s in card["stages"])
    Path(out, "card.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# FER+
# ---------------------------------------------------------------------------


def _first(data, n):
    """The first ``n`` samples of a loader's Bunch (for smoke runs)."""
    from sklearn.utils import Bunch

    per_sample = ("images", "target", "split", "votes", "vote_counts", "fer2013_index",
                  "image_names", "filenames")
    return Bunch(**{k: (v[:n] if k in per_sample and v is not None else v)
                    for k, v in data.items()})


def _shipped_init():
    """The folder of the shipped FER2013 model, or None when it is missing."""
    from . import _MODEL_FILE, DEFAULT, _weights_dir

    folder = Path(str(_weights_dir(DEFAULT)))
    return folder if Path(folder, _MODEL_FILE).is_file() else None


def _check_ferplus_args(p, args):
    """argparse errors (one line, exit 2) for the options of ``--dataset ferplus``."""
    if args.ferplus is None:
        p.error("--dataset ferplus needs --ferplus CSV, the FER+ labels (fer2013new.csv).")
    if not Path(args.ferplus).is_file():
        p.error(f"--ferplus {args.ferplus}: no such file.")
    if args.recalibrate is not None:
        p.error("--recalibrate is for the FER2013 stages; a FER+ run recalibrates its "
                "BatchNorm statistics itself (unless --no-recalibrate-bn).")
    if args.init is None:
        args.init = _shipped_init()
        if args.init is None:
            p.error("--dataset ferplus: the shipped FER2013 model is missing; give the "
                    "model folder to start from with --init.")
    if args.labels is None:
        args.labels = "votes"


def _save_named(clf, path, class_names):
    """Save ``clf`` as the shipped models are: expression names as classes,
    no callbacks, ``pretrained`` or time budget; the estimator is left as it was."""
    import numpy as np

    keep = {k: getattr(clf, k) for k in ("callbacks", "pretrained", "max_time", "verbose")}
    classes = clf.classes_
    encoder_classes = clf._label_encoder.classes_
    if classes.dtype.kind in "iu":
        clf.classes_ = np.asarray(class_names)[classes]
        clf._label_encoder.classes_ = clf.classes_
    try:
        clf.set_params(callbacks=None, pretrained=None, max_time=None, verbose=0)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        clf.save(path)
    finally:
        clf.set_params(**keep)
        clf.classes_ = classes
        clf._label_encoder.classes_ = encoder_classes


class EpochCheckpoint(Callback):
    """Save the estimator being trained after every epoch (skorch callback).

    Writes ``folder/epoch_NNN/model.skfer`` (expression names as classes,
    loadable with :func:`skfer.io.load_model` or as ``--init``) and
    ``folder/epoch_NNN/history.json`` (that epoch's losses and accuracy).
    The BatchNorm statistics are those of training (augmented batches), not
    recalibrated.

    Parameters
    ----------
    folder : str or os.PathLike
        Where the checkpoints go.
    class_names : sequence of str
        Names of the classes ``0..n_classes-1``.
    estimator : CNNClassifier or None
        The estimator whose net is trained; set it after building the
        estimator (``estimator.callbacks`` holds this callback). Shared, not
        copied, when the estimator copies its callbacks at ``fit``.
    """

    def __init__(self, folder, class_names, estimator=None):
        self.folder = folder
        self.class_names = class_names
        self.estimator = estimator

    def __deepcopy__(self, memo):
        return type(self)(self.folder, list(self.class_names), self.estimator)

    def on_epoch_end(self, net, **kwargs):
        from . import _MODEL_FILE

        est = self.estimator
        if est is None or getattr(est, "net_", None) is not net:
            return
        row = net.history[-1]
        folder = Path(self.folder, f"epoch_{row['epoch']:03d}")
        _save_named(est, folder / _MODEL_FILE, self.class_names)
        keys = ("epoch", "train_loss", "valid_loss", "valid_acc", "dur")
        folder.joinpath("history.json").write_text(
            json.dumps({k: row[k] for k in keys if k in row}, indent=1) + "\n", encoding="utf-8"
        )


def _train_ferplus(args, *, np, metrics, version):
    """``--dataset ferplus``: fine-tune the FER2013 model on FER+ and write its card."""
    from sklearn.utils import Bunch

    from .. import map_labels
    from ..datasets import load_fer2013, load_ferplus
    from ..neural import CNNClassifier
    from . import _MODEL_FILE

    data = load_ferplus(load_fer2013(args.data), args.ferplus, mode="reference_majority")
    names = [str(n) for n in map_labels(np.arange(len(data.target_names)), data.target_names)]
    train_rows = np.flatnonzero(data.split == "Training")
    test_rows = np.flatnonzero(data.split == "PublicTest")
    if args.n_train is not None:
        train_rows = train_rows[:args.n_train]
    if not len(train_rows) or not len(test_rows):
        raise SystemExit(f"{args.ferplus}: FER+ needs Training and PublicTest rows; found "
                         f"{len(train_rows)} and {len(test_rows)}.")
    test = Bunch(images=data.images[test_rows], target=data.target[test_rows],
                 target_names=names)
    params = dict(FERPLUS_RECIPE)
    if args.max_epochs is not None:
        params["max_epochs"] = args.max_epochs
    out = Path(args.out)
    checkpoint = EpochCheckpoint(out / "checkpoints", names)
    clf = CNNClassifier(**params, pretrained=str(Path(args.init, _MODEL_FILE)),
                        max_time=args.budget, verbose=1,
                        callbacks=[("checkpoint", checkpoint)])
    checkpoint.estimator = clf
    fit_params = {"votes": data.votes[train_rows]} if args.labels == "votes" else {}
    t = time.perf_counter()
    clf.fit(data.images[train_rows], data.target[train_rows], **fit_params)
    seconds = time.perf_counter() - t
    clf.set_params(max_time=None, verbose=0, callbacks=None)
    before = None
    if not args.no_recalibrate_bn:
        before = _accuracies(clf, test, np)
        recalibrate_batchnorm(clf, data.images[train_rows])
    n_train = len(train_rows)
    held_out = ", 10% held out for early stopping" if params.get("validation_fraction") else ""
    save_card(
        clf, test, out, seconds=seconds, threads=args.threads, params=params,
        version=version, np=np, metrics=metrics, before_recalibration=before,
        data=(f"FER+ Training images of the reference majority protocol ({n_train:,} "
              f"images{held_out}), trained on the "
              + ("annotators' vote distributions (soft targets)" if args.labels == "votes"
                 else "majority labels")
              + f"; evaluated on the FER+ PublicTest images of the same protocol "
              f"({len(test_rows):,}) against their majority labels"),
        reproduce=("python -m skfer.pretrained.train --dataset ferplus --ferplus "
                   "fer2013new.csv --data fer2013.csv.gz --labels " + args.labels
                   + " --out DIR"),
        extra={"dataset": "ferplus", "labels": args.labels,
               "init": Path(args.init).name, "n_pretrained_tensors": clf.n_pretrained_,
               "n_train": n_train,
               "public_test_chance": round(float(np.bincount(test.target).max()
                                                 / len(test.target)), 4)},
    )
    print(json.dumps(json.loads((out / "card.json").read_text()), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
