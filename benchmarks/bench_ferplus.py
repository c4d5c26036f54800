"""FER+ figures of a model (by default the shipped FER+ model), printed.

* FER+ PublicTest accuracy under the FERPlus reference majority protocol
  (3,199 images), with and without test-time flip averaging, macro-F1,
  per-class recall and calibration (expected calibration error over 15
  confidence bins, and the mean confidence against the accuracy);
* cross-dataset, no fine-tuning: CK+48, all seven CK+ classes (contempt
  included), labels mapped by name;
* with ``--compare A B``: the same PublicTest figures of two model folders
  (e.g. the ``--labels votes`` and ``--labels majority`` runs of
  ``skfer recipe --dataset ferplus`` with one budget), side by side.

Usage::

    SKFER_DATA=../shared/data python benchmarks/bench_ferplus.py
    SKFER_DATA=../shared/data python benchmarks/bench_ferplus.py --model DIR \\
        --compare runs/ferplus_votes runs/ferplus_majority
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np


def _data():
    root = os.environ.get("SKFER_DATA")
    if not root or not Path(root, "ferplus", "fer2013new.csv").is_file():
        sys.exit("Set SKFER_DATA to the folder holding fer2013/ and ferplus/ (e.g. ../shared/data).")
    return Path(root)


def _load(spec):
    """A fitted crops model from a shipped name or a folder/file of ``skfer recipe``."""
    from skfer import pretrained
    from skfer.io import load_model

    if spec in pretrained.MODELS:
        return pretrained.load(spec, face_detection=False)
    path = Path(spec)
    return load_model(path / "model.skfer" if path.is_dir() else path)


def expected_calibration_error(proba, correct, n_bins=15):
    """ECE: the confidence-weighted gap between confidence and accuracy, over bins."""
    confidence = proba.max(axis=1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(ece)


def publictest(model, test):
    """Accuracy (with and without flip), macro-F1, recall per class and calibration."""
    from sklearn.metrics import f1_score

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    classes = np.asarray(final.classes_).astype(str)
    y = test["y"]
    out = {}
    for flip in (False, True):
        final.set_params(test_time_flip=flip)
        proba = model.predict_proba(test["images"])
        pred = classes[proba.argmax(axis=1)]
        key = "flip" if flip else "plain"
        out[f"accuracy_{key}"] = float(np.mean(pred == y))
    correct = pred == y
    out["macro_f1_flip"] = float(f1_score(y, pred, average="macro"))
    out["recall_flip"] = {c: float(np.mean(pred[y == c] == c)) for c in classes if (y == c).any()}
    out["ece_flip"] = expected_calibration_error(proba, correct)
    out["mean_confidence_flip"] = float(proba.max(axis=1).mean())
    out["chance"] = float(max(np.mean(y == c) for c in np.unique(y)))
    return out


def ckplus(model, root):
    from skfer import map_labels
    from skfer.datasets import load_ckplus

    ck = load_ckplus(root / "ckplus" / "CK+48")
    y = np.asarray(map_labels(ck.target, ck.target_names, unknown="keep")).astype(str)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    final.set_params(test_time_flip=True)
    pred = np.asarray(model.predict(ck.images)).astype(str)
    return {"accuracy_7": float(np.mean(pred == y)),
            "recall": {c: float(np.mean(pred[y == c] == c)) for c in np.unique(y)},
            "n": len(y)}


def main(argv=None):
    from skfer import map_labels
    from skfer.datasets import load_fer2013, load_ferplus

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ferplus", help="shipped name, or a recipe's --out folder")
    p.add_argument("--compare", nargs=2, metavar=("VOTES", "MAJORITY"),
                   help="two recipe folders trained with the same budget")
    p.add_argument("--no-ckplus", action="store_true")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = p.parse_args(argv)
    root = _data()
    table = load_ferplus(load_fer2013(root / "fer2013" / "fer2013.csv.gz"),
                         root / "ferplus" / "fer2013new.csv", mode="reference_majority")
    rows = np.flatnonzero(table.split == "PublicTest")
    names = np.asarray(map_labels(table.target, table.target_names)).astype(str)
    test = {"images": table.images[rows], "y": names[rows]}
    figures = {"model": args.model, "publictest": publictest(_load(args.model), test)}
    pt = figures["publictest"]
    print(f"FER+ PublicTest (reference majority, {len(rows):,} images), model {args.model}:")
    print(f"  accuracy {pt['accuracy_plain']:.4f}, with flip {pt['accuracy_flip']:.4f} "
          f"(chance {pt['chance']:.3f}); macro-F1 {pt['macro_f1_flip']:.4f}")
    print("  recall: " + ", ".join(f"{c} {r:.3f}" for c, r in pt["recall_flip"].items()))
    print(f"  calibration: ECE {pt['ece_flip']:.4f}, mean confidence "
          f"{pt['mean_confidence_flip']:.4f} vs accuracy {pt['accuracy_flip']:.4f}")
    if not args.no_ckplus:
        ck = ckplus(_load(args.model), root)
        figures["ckplus"] = ck
        print(f"CK+48, no fine-tuning, all 7 classes ({ck['n']} images): accuracy "
              f"{ck['accuracy_7']:.4f}")
        print("  recall: " + ", ".join(f"{c} {r:.3f}" for c, r in ck["recall"].items()))
    if args.compare:
        figures["compare"] = {}
        print("Same net, same budget, PublicTest with flip:")
        for folder in args.compare:
            card = json.loads(Path(folder, "card.json").read_text())
            res = publictest(_load(folder), test)
            figures["compare"][folder] = {**res, "labels": card.get("labels"),
                                          "epochs": card.get("epochs"),
                                          "train_seconds": card.get("train_seconds")}
            print(f"  {card.get('labels', '?'):>8} ({folder}): {res['accuracy_flip']:.4f} "
                  f"(plain {res['accuracy_plain']:.4f}, macro-F1 {res['macro_f1_flip']:.4f}, "
                  f"ECE {res['ece_flip']:.4f}; {card.get('epochs')} epochs, "
                  f"{card.get('train_seconds')} s on {card.get('train_threads')} thread(s))")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
