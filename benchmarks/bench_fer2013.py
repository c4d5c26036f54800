"""Deep classifiers on FER2013: train on Training, report PublicTest accuracy.

Usage::

    SKFER_DATA=../shared/data python benchmarks/bench_fer2013.py \
        --models cnn:mini_xception,rnn:lstm --budget 600 --threads 2

Each model trains with the estimator's defaults, overridden by the options
given, for at most ``--max-epochs`` epochs and at most
``--budget`` seconds of wall time (checked after each epoch; the best
validation epoch's weights are kept), with ``--threads`` torch threads.
Prints one line per model: PublicTest accuracy, macro-F1 (plain and with
horizontal-flip test-time averaging), epochs, training time and images/s.
``--save DIR`` writes each fitted model in skfer's safe format.
"""

import argparse
import json
import os
import time

import torch
from sklearn.metrics import accuracy_score, f1_score

from skfer.datasets import load_fer2013
from skfer.neural import CNNClassifier, RNNClassifier


def build(spec, args):
    kind, _, arch = spec.partition(":")
    common = dict(random_state=0, verbose=1, max_time=args.budget)
    # Only what was given on the command line overrides the estimator's defaults.
    for key in ("max_epochs", "batch_size", "lr", "patience", "class_weight", "label_smoothing"):
        if getattr(args, key) is not None:
            common[key] = getattr(args, key)
    if args.augment is not None:
        common["augment"] = json.loads(args.augment)
    common.update(json.loads(args.params))
    if kind == "cnn":
        return CNNClassifier(architecture=arch or "mini_xception", **common)
    if kind == "rnn":
        return RNNClassifier(cell=arch or "lstm", **common)
    raise SystemExit(f"unknown model {spec!r}: use cnn:<architecture> or rnn:<lstm|gru>")


def main():
    root = os.environ.get("SKFER_DATA", "../shared/data")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.path.join(root, "fer2013", "fer2013.csv.gz"))
    p.add_argument("--models", default="cnn:mini_xception")
    p.add_argument("--budget", type=float, default=600, help="seconds of training per model")
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--label-smoothing", type=float, default=None)
    p.add_argument("--class-weight", default=None)
    p.add_argument("--augment", default=None,
                   help='JSON: true, false, or a dict such as {"hflip": true, "rotation": 15}')
    p.add_argument("--params", default="{}",
                   help='JSON of more estimator parameters, e.g. {"module__channels": [16, 32]}')
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="use only this many training images")
    p.add_argument("--save", default=None, help="folder to save fitted models to")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    train = load_fer2013(args.data, usage="Training")
    test = load_fer2013(args.data, usage="PublicTest")
    X, y = train.images, train.target
    if args.limit:
        X, y = X[: args.limit], y[: args.limit]
    print(f"FER2013: {len(X)} training, {len(test.images)} PublicTest images; "
          f"{args.threads} torch threads; budget {args.budget:.0f} s per model")
    results = []
    for spec in args.models.split(","):
        model = build(spec, args)
        t = time.perf_counter()
        model.fit(X, y)
        fit_s = time.perf_counter() - t
        epochs = len(model.net_.history)
        proba = model.predict_proba(test.images)
        pred = model.classes_[proba.argmax(1)]
        flip = model.predict_proba(test.images[:, :, ::-1])
        pred_tta = model.classes_[(proba + flip).argmax(1)]
        row = {
            "model": spec,
            "accuracy": accuracy_score(test.target, pred),
            "macro_f1": f1_score(test.target, pred, average="macro"),
            "accuracy_flip_tta": accuracy_score(test.target, pred_tta),
            "epochs": epochs,
            "train_seconds": round(fit_s, 1),
            "train_images_per_s": round(epochs * len(X) * 0.9 / fit_s, 1),
        }
        results.append(row)
        print(json.dumps(row), flush=True)
        if args.save:
            model.save(os.path.join(args.save, spec.replace(":", "_")))
    print("\n| model | PublicTest acc | macro-F1 | acc (flip TTA) | epochs | train s |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['model']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | "
              f"{r['accuracy_flip_tta']:.3f} | {r['epochs']} | {r['train_seconds']:.0f} |")


if __name__ == "__main__":
    main()
