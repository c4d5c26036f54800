"""Training throughput of CNNClassifier against a plain hand-written PyTorch loop.

Both train the same architecture from :mod:`skfer.nets` on the same
synthetic 48x48 grey images, with the same batch size, optimizer, input
standardisation, number of epochs and torch threads, in one process; runs
alternate (in alternating order) and the best of ``--repeats`` is kept for
each side (the least disturbed by other load on the machine; medians are
printed too).
``CNNClassifier`` runs with augmentation, validation and the learning-rate
schedule off and dataset-wide standardisation, so that both do the same work; its time includes everything ``fit`` does (input checks,
statistics, building the skorch net). A second line reports the default
settings (augmentation, 10% validation, cosine schedule) for information.

The overhead of skfer (skorch's loop, callbacks, history) must stay under
10% on CPU.

Run::

    python benchmarks/bench_training_overhead.py
    python benchmarks/bench_training_overhead.py --architecture simple --threads 2
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F


def make_data(n, size=48, n_classes=7, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    X = rng.normal(100, 30, (n, size, size))
    # class-dependent bright square so that the loss actually moves
    for k in range(n_classes):
        r = 4 + 5 * k
        X[y == k, r : r + 6, 10:20] += 80
    return np.clip(X, 0, 255).astype(np.uint8), y


def plain_loop(X, y, arch_cls, module_kwargs, *, epochs, batch_size, lr, weight_decay, seed):
    """What a user would write by hand: one tensor, sliced batches, Adam."""
    torch.manual_seed(seed)
    n_classes = int(y.max()) + 1
    net = arch_cls(n_classes=n_classes, in_channels=1, **module_kwargs)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    X_t = torch.from_numpy(X[:, None])  # (N, 1, H, W) uint8
    y_t = torch.from_numpy(y.astype(np.int64))
    scaled = X_t.float() / 255.0
    mean, std = scaled.mean().item(), scaled.std().item()
    n = len(X_t)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            xb = (X_t.index_select(0, idx).float() * (1 / 255.0) - mean) / std
            loss = F.cross_entropy(net(xb), y_t.index_select(0, idx))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net


def skfer_fit(X, y, architecture, module_kwargs, *, epochs, batch_size, lr, weight_decay,
              seed, defaults=False):
    from skfer.neural import CNNClassifier

    params = dict(
        architecture=architecture, max_epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, random_state=seed, device="cpu",
        **{f"module__{k}": v for k, v in module_kwargs.items()},
    )
    if not defaults:
        # the plain loop's work: no augmentation, validation or schedule, and
        # the same dataset-wide standardisation
        params.update(augment=False, validation_fraction=None, lr_schedule=None,
                      standardize="dataset")
    else:
        params.update(early_stopping=False)  # run all epochs
    return CNNClassifier(**params).fit(X, y)


def main(argv=None):
    from skfer.nets import get_architecture

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", default="mini_xception")
    parser.add_argument("--n-samples", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    X, y = make_data(args.n_samples)
    arch = get_architecture(args.architecture)
    common = dict(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3, weight_decay=1e-4,
                  seed=0)
    n_images = args.n_samples * args.epochs

    # warm-up (allocator, lazy imports, oneDNN kernel selection)
    plain_loop(X[:256], y[:256], arch, {}, **{**common, "epochs": 1})
    skfer_fit(X[:256], y[:256], args.architecture, {}, **{**common, "epochs": 1})

    runners = {
        "plain": lambda: plain_loop(X, y, arch, {}, **common),
        "skfer": lambda: skfer_fit(X, y, args.architecture, {}, **common),
    }
    times = {"plain": [], "skfer": [], "skfer_defaults": []}
    for i in range(args.repeats):
        order = ["plain", "skfer"] if i % 2 == 0 else ["skfer", "plain"]
        for name in order:  # alternate, so that drifting load hits both alike
            t = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - t)
    t = time.perf_counter()
    skfer_fit(X, y, args.architecture, {}, **common, defaults=True)
    times["skfer_defaults"].append(time.perf_counter() - t)

    best = {k: min(v) for k, v in times.items()}
    median = {k: float(np.median(v)) for k, v in times.items()}
    overhead = best["skfer"] / best["plain"] - 1.0
    overhead_median = median["skfer"] / median["plain"] - 1.0
    print(f"training throughput, {args.architecture}, {args.n_samples} images 48x48 grey, "
          f"batch {args.batch_size}, {args.epochs} epochs, {args.threads} torch thread(s), "
          f"best of {args.repeats}")
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}")
    print(f"  plain PyTorch loop        {n_images / best['plain']:8.1f} images/s   "
          f"(runs: {', '.join(f'{t:.2f}s' for t in times['plain'])})")
    print(f"  CNNClassifier.fit         {n_images / best['skfer']:8.1f} images/s   "
          f"(runs: {', '.join(f'{t:.2f}s' for t in times['skfer'])})")
    print(f"  skfer overhead            {100 * overhead:+8.1f} %   best vs best "
          f"(median vs median: {100 * overhead_median:+.1f} %; must stay < 10%)")
    print(f"  CNNClassifier defaults    {n_images / best['skfer_defaults']:8.1f} images/s   "
          "(augmentation + 10% validation + cosine schedule; for information)")
    return overhead


if __name__ == "__main__":
    main()
