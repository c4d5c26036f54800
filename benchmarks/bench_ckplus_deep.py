"""CNNClassifier vs HOG+SVM on CK+48, subject-independent GroupKFold(10).

Usage::

    SKFER_DATA=../shared/data python benchmarks/bench_ckplus_deep.py --folds 3,4,5 --threads 1
    # fine-tune a net trained on FER2013 (bench_fer2013.py --save DIR):
    SKFER_DATA=../shared/data python benchmarks/bench_ckplus_deep.py \
        --params '{"pretrained": "DIR/cnn_mini_xception", "max_epochs": 40}'

Prints per fold the accuracy of ``CNNClassifier(random_state=0, **params)``
(its defaults unless ``--params`` overrides them) and of
``make_baseline('hog_svm')`` on the same fold, with the CNN's training time,
then the means over the folds run. Run disjoint ``--folds`` in parallel
processes to use more cores (one torch thread each avoids oversubscription).
"""

import argparse
import json
import os
import time

import torch
from sklearn.model_selection import GroupKFold

from skfer.baselines import make_baseline
from skfer.datasets import load_ckplus
from skfer.neural import CNNClassifier


def main():
    root = os.environ.get("SKFER_DATA", "../shared/data")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.path.join(root, "ckplus", "CK+48"))
    p.add_argument("--folds", default=",".join(map(str, range(10))))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--params", default="{}", help="JSON of CNNClassifier parameters")
    p.add_argument("--no-hog", action="store_true", help="skip the HOG+SVM baseline")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ck = load_ckplus(args.data)
    folds = list(GroupKFold(10).split(ck.images, ck.target, ck.groups))
    params = json.loads(args.params)
    print(f"CNNClassifier(random_state=0, **{params}); {args.threads} torch thread(s)")
    cnn_scores, hog_scores, seconds = [], [], []
    for f in map(int, args.folds.split(",")):
        tr, te = folds[f]
        t = time.perf_counter()
        cnn = CNNClassifier(random_state=0, **params).fit(ck.images[tr], ck.target[tr])
        seconds.append(time.perf_counter() - t)
        cnn_scores.append(cnn.score(ck.images[te], ck.target[te]))
        line = f"fold {f}: cnn {cnn_scores[-1]:.3f} "
        if not args.no_hog:
            hog = make_baseline("hog_svm").fit(ck.images[tr], ck.target[tr])
            hog_scores.append(hog.score(ck.images[te], ck.target[te]))
            line += f"hog_svm {hog_scores[-1]:.3f} "
        print(line + f"epochs {len(cnn.net_.history)} cnn_train_s {seconds[-1]:.0f}", flush=True)
    mean = sum(cnn_scores) / len(cnn_scores)
    print(f"mean over {len(cnn_scores)} folds: cnn {mean:.3f}"
          + (f", hog_svm {sum(hog_scores) / len(hog_scores):.3f}" if hog_scores else "")
          + f"; cnn training {sum(seconds):.0f} s in all")


if __name__ == "__main__":
    main()
