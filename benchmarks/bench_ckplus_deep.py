"""Default CNNClassifier vs HOG+SVM on CK+48, subject-independent GroupKFold(10).

Usage::

    SKFER_DATA=../shared/data python benchmarks/bench_ckplus_deep.py --folds 3,4,5 --threads 1

Prints per fold the accuracy of ``CNNClassifier(random_state=0)`` (its
defaults) and of ``make_baseline('hog_svm')`` on the same fold, with the CNN's
training time. Run disjoint ``--folds`` in parallel processes to use more
cores (one torch thread each avoids oversubscription).
"""

import argparse
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
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ck = load_ckplus(args.data)
    folds = list(GroupKFold(10).split(ck.images, ck.target, ck.groups))
    for f in map(int, args.folds.split(",")):
        tr, te = folds[f]
        t = time.perf_counter()
        cnn = CNNClassifier(random_state=0).fit(ck.images[tr], ck.target[tr])
        cnn_s = time.perf_counter() - t
        hog = make_baseline("hog_svm").fit(ck.images[tr], ck.target[tr])
        print(f"fold {f}: cnn {cnn.score(ck.images[te], ck.target[te]):.3f} "
              f"hog_svm {hog.score(ck.images[te], ck.target[te]):.3f} "
              f"epochs {len(cnn.net_.history)} cnn_train_s {cnn_s:.0f}", flush=True)


if __name__ == "__main__":
    main()
