"""Classical baselines on CK+48 under subject-independent GroupKFold(10).

Usage: python benchmarks/bench_baselines.py [--data $SKFER_DATA/ckplus/CK+48]

Prints mean accuracy, spread, macro-F1 and fit time per baseline, beside the
reference figures of issue #2 (measured before any tuning).
"""

import argparse
import os
import time

from sklearn.model_selection import GroupKFold, cross_validate

from skfer.baselines import BASELINES, make_baseline
from skfer.datasets import load_ckplus

REFERENCE = {"hog_svm": 0.865, "pca_lda": 0.842, "pca_svm": 0.789, "lbp_svm": 0.713, "pca_knn": 0.457}


def main():
    default = os.path.join(os.environ.get("SKFER_DATA", "../shared/data"), "ckplus", "CK+48")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    ck = load_ckplus(args.data)
    print(f"CK+48: {len(ck.images)} images, {len(set(ck.groups))} subjects, GroupKFold(10)")
    print(f"{'baseline':10s} {'accuracy':>16s} {'macro-F1':>9s} {'fit s/fold':>11s} {'reference':>10s}")
    for name in BASELINES:
        t = time.perf_counter()
        res = cross_validate(
            make_baseline(name, random_state=0), ck.images, ck.target, groups=ck.groups,
            cv=GroupKFold(10), scoring=("accuracy", "f1_macro"), n_jobs=args.n_jobs,
        )
        acc = res["test_accuracy"]
        print(f"{name:10s} {acc.mean():8.3f} ± {acc.std():.3f} {res['test_f1_macro'].mean():9.3f} "
              f"{res['fit_time'].mean():11.2f} {REFERENCE[name]:10.3f}   ({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
