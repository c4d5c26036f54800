"""Reproduce a shipped pretrained model from FER2013.

Usage::

    python -m skfer.pretrained.train --data ../shared/data/fer2013/fer2013.csv.gz \\
        --out skfer/pretrained/weights/fer2013_mini_xception

Trains :class:`~skfer.neural.CNNClassifier` with the recipe below on the
``Training`` rows (10% of them held out for early stopping), measures
``PublicTest`` accuracy with and without test-time flip averaging, and writes
the model in skfer's safe format plus ``card.json`` (the model card's
figures) to ``--out``. No pixels are written, only weights.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

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


def main(argv=None):
    import numpy as np
    import torch
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    from .. import __version__
    from ..datasets import load_fer2013
    from ..neural import CNNClassifier

    p = argparse.ArgumentParser(prog="python -m skfer.pretrained.train",
                                description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="FER2013 csv, csv.gz, tar.gz or image folders")
    p.add_argument("--out", required=True, help="folder to write the model to")
    p.add_argument("--budget", type=float, default=3500, help="training seconds at most")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-epochs", type=int, default=None,
                   help="epochs of the stage (default: the recipe's)")
    p.add_argument("--init", default=None,
                   help="run the second stage (FINETUNE) from the model saved in this folder "
                        "(the first stage's --out)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    train = load_fer2013(args.data, usage="Training")
    test = load_fer2013(args.data, usage="PublicTest")
    if args.init is None:
        params = dict(RECIPE)
    else:
        params = dict(FINETUNE, pretrained=str(args.init))
    if args.max_epochs is not None:
        params["max_epochs"] = args.max_epochs
    clf = CNNClassifier(**params, max_time=args.budget, verbose=1)
    t = time.perf_counter()
    clf.fit(train.images, train.target)
    seconds = time.perf_counter() - t
    out = Path(args.out)
    clf.set_params(max_time=None, verbose=0)
    stages = []
    if args.init is not None:
        first = Path(args.init, "card.json")
        if first.exists():
            stages = json.loads(first.read_text(encoding="utf-8")).get("stages") or [
                json.loads(first.read_text(encoding="utf-8"))]
    save_card(clf, test, out, seconds=seconds, threads=args.threads, params=params,
              version=__version__, np=np, metrics=(accuracy_score, confusion_matrix, f1_score),
              previous=stages)
    print(json.dumps(json.loads((out / "card.json").read_text()), indent=1))
    return 0


def save_card(clf, test, out, *, seconds, threads, params, version, np, metrics, previous=()):
    """Save ``clf`` (class names as labels) and its model card to ``out``."""
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
    clf.save(out)
    card = {
        "name": Path(out).name,
        "classes": [str(c) for c in clf.classes_],
        "data": "FER2013 Training rows (28,709 images"
                + (", 10% held out for early stopping" if params.get("validation_fraction") else "")
                + "); evaluated on PublicTest (3,589 images)",
        "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
        "epochs": len(clf.net_.history),
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
                        " (first stage), then the same with --init DIR --out DIR2 (second stage)"),
    }
    if previous:
        stage_keys = ("recipe", "epochs", "train_seconds", "train_threads",
                      "public_test_accuracy", "public_test_accuracy_flip")
        this = {k: card[k] for k in stage_keys}
        this["recipe"] = {k: v for k, v in this["recipe"].items() if k != "pretrained"}
        card["stages"] = [{k: s.get(k) for k in stage_keys} for s in previous] + [this]
        card["train_seconds_total"] = round(sum(s["train_seconds"] for s in card["stages"]), 1)
        card["epochs_total"] = sum(s["epochs"] for s in card["stages"])
    Path(out, "card.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
