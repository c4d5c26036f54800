"""Inference throughput (images/s) of each CNNClassifier architecture.

For every architecture of :mod:`skfer.nets`, a ``CNNClassifier`` is fitted
for one epoch on a few synthetic 48x48 grey images (weights do not matter
for speed), then timed

* through ``predict`` (what a user calls: input checks, scaling, skorch's
  inference loop, label mapping), one image per call (batch 1) and 256
  images per call with ``batch_size=256``;
* through the bare torch module under ``torch.inference_mode`` on
  pre-built float tensors, to show the wrapper's share.

Run::

    python benchmarks/bench_inference.py
    python benchmarks/bench_inference.py --threads 2 --architectures simple vgg
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _rate(fn, n_images, min_time):
    """images/s of ``fn`` (which handles ``n_images``), best of 3 timed blocks."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(3):
        calls = 0
        t = time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - t
            if elapsed >= min_time / 3:
                break
        best = min(best, elapsed / calls)
    return n_images / best


def main(argv=None):
    from skfer.nets import ARCHITECTURES, count_parameters
    from skfer.neural import CNNClassifier

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-time", type=float, default=1.5,
                        help="seconds spent timing each figure")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (256, 48, 48)).astype(np.uint8)
    y = np.arange(256) % 7

    print(f"inference throughput (images/s), 48x48 grey, 7 classes, CPU, "
          f"{args.threads} torch thread(s), torch {torch.__version__}")
    header = (f"{'architecture':<15}{'params':>10}{'predict b=1':>14}{'predict b=256':>16}"
              f"{'module b=1':>13}{'module b=256':>15}")
    print(header)
    print("-" * len(header))
    for name in args.architectures:
        clf = CNNClassifier(architecture=name, max_epochs=1, batch_size=256,
                            validation_fraction=None, augment=False, random_state=0,
                            device="cpu").fit(X[:32], y[:32])
        module = clf.net_.module_.eval()
        one, many = X[:1], X
        p1 = _rate(lambda one=one, clf=clf: clf.predict(one), 1, args.min_time)
        p256 = _rate(lambda many=many, clf=clf: clf.predict(many), 256, args.min_time)
        t1 = torch.from_numpy(one[:, None].copy())
        t256 = torch.from_numpy(many[:, None].copy())

        def forward(t, module=module):
            with torch.inference_mode():
                module(t)

        m1 = _rate(lambda t1=t1: forward(t1), 1, args.min_time)
        m256 = _rate(lambda t256=t256: forward(t256), 256, args.min_time)
        print(f"{name:<15}{count_parameters(module):>10,}{p1:>14.1f}{p256:>16.1f}"
              f"{m1:>13.1f}{m256:>15.1f}", flush=True)


if __name__ == "__main__":
    main()
