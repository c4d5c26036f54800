"""Wall time of one GridSearchCV over CNN architectures on a Dask cluster of 1 vs 2 workers.

The same grid (4 candidates: two widths of ``'simple'`` and two of
``'mini_xception'``, x 3 stratified folds = 12 fits of ``CNNClassifier``
on synthetic 48x48 faces) runs under ``joblib.parallel_config(backend='dask')``
on a ``dask.distributed.LocalCluster`` of worker processes, each with one
thread and one torch/OpenMP thread. Before timing, every worker runs a
tiny fit, which imports torch and skfer (a real cluster keeps its workers
warm between searches);
cluster start-up and the final refit (which runs in the client process,
not on the cluster) are not counted (``refit=False``). With a single
worker thread, joblib would run the fits sequentially in this process
(it treats one job as no parallelism), so the 1-worker search is sent to
the worker as one task with ``n_jobs=1``. The results of
every cluster size are checked to be identical (same seeds, same scores).

On a 2-core machine, 2 workers should be close to 2x faster than 1
(the grid is CPU-bound and the fits are independent); the fits are not
all equally long, so the last one may leave a worker idle for a while.
With ``--repeats`` > 1 the cluster sizes alternate and the best time of
each is kept (the least disturbed by other load).

Run::

    python benchmarks/bench_dask_grid.py            # about 3 minutes on 2 idle cores
    python benchmarks/bench_dask_grid.py --quick    # seconds: checks that it runs
    python benchmarks/bench_dask_grid.py --workers 1 2 4 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import joblib
import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold

from skfer.datasets import make_faces
from skfer.neural import CNNClassifier

try:
    import distributed
except ImportError:  # pragma: no cover - depends on the environment
    raise SystemExit(
        "bench_dask_grid.py needs dask.distributed, which is not installed. "
        "Install skfer's 'distributed' extra: pip install 'skfer[distributed]'."
    ) from None

#: Environment of every worker process: one OpenMP/BLAS thread, so that
#: torch (which reads OMP_NUM_THREADS when it starts) uses one core.
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

FULL = dict(
    n_samples=420,
    image_size=48,
    max_epochs=10,
    grid=[
        {"architecture": ["simple"], "module__channels": [(16, 32), (32, 64)]},
        {"architecture": ["mini_xception"],
         "module__channels": [(8, 16, 32, 64), (16, 32, 64, 128)]},
    ],
    n_splits=3,
)
QUICK = dict(
    n_samples=60,
    image_size=16,
    max_epochs=1,
    grid=[
        {"architecture": ["simple"], "module__channels": [(4,)]},
        {"architecture": ["mini_xception"], "module__channels": [(4, 8)]},
    ],
    n_splits=2,
)


def make_search(setting, seed=0):
    clf = CNNClassifier(
        max_epochs=setting["max_epochs"], batch_size=32, augment=False,
        validation_fraction=None, early_stopping=False, device="cpu", random_state=seed,
    )
    cv = StratifiedKFold(setting["n_splits"], shuffle=True, random_state=seed)
    return GridSearchCV(clf, setting["grid"], cv=cv, scoring="neg_log_loss", refit=False,
                        n_jobs=-1)


def _warm_up():
    """A tiny fit: imports torch, skorch and skfer and initialises torch's kernels."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (16, 16, 16), dtype=np.uint8)
    CNNClassifier(architecture="simple", max_epochs=1, augment=False,
                  validation_fraction=None, device="cpu").fit(X, np.arange(16) % 2)
    return torch.get_num_threads()


def run_on_cluster(n_workers, setting, X, y):
    """(wall seconds, fitted search, tasks per worker) on a fresh cluster of ``n_workers``."""
    with distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, env=ONE_THREAD_ENV,
    ) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(n_workers, timeout=300)
        threads = {addr: client.submit(_warm_up, workers=[addr], pure=False).result()
                   for addr in client.scheduler_info()["workers"]}
        if set(threads.values()) != {1}:
            raise RuntimeError(f"workers should use one torch thread each, got {threads}")
        search = make_search(setting)
        with distributed.get_task_stream(client) as tasks, \
                joblib.parallel_config(backend="dask"):
            start = time.perf_counter()
            if sum(client.ncores().values()) == 1:
                # joblib runs n_jobs=1 sequentially in *this* process, cluster or
                # not: send the whole search to the one worker as one task.
                search = client.submit(search.set_params(n_jobs=1).fit, X, y,
                                       pure=False).result()
            else:
                search.fit(X, y)
            wall = time.perf_counter() - start
        per_worker = {}
        for task in tasks.data:
            per_worker[task["worker"]] = per_worker.get(task["worker"], 0) + 1
    return wall, search, per_worker


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="cluster sizes to time (one thread each); default: 1 2")
    parser.add_argument("--repeats", type=int, default=1,
                        help="timings per cluster size, alternating; the best is kept")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny grid that runs in seconds (checks the script only)")
    args = parser.parse_args(argv)
    setting = QUICK if args.quick else FULL

    faces = make_faces(setting["n_samples"], image_size=setting["image_size"], random_state=0)
    X, y = faces.images, faces.target
    n_candidates = len(ParameterGrid(setting["grid"]))
    n_fits = n_candidates * setting["n_splits"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"python {platform.python_version()}, torch {torch.__version__}, "
          f"dask.distributed {distributed.__version__}, joblib {joblib.__version__}")
    print(f"grid: {n_candidates} candidates x {setting['n_splits']} folds = {n_fits} fits of "
          f"CNNClassifier ({setting['max_epochs']} epochs, {len(X)} images "
          f"{setting['image_size']}x{setting['image_size']}); one thread per worker")

    best = {}
    reference = None
    for rep in range(args.repeats):
        order = args.workers if rep % 2 == 0 else args.workers[::-1]
        for n_workers in order:
            wall, search, per_worker = run_on_cluster(n_workers, setting, X, y)
            best[n_workers] = min(wall, best.get(n_workers, np.inf))
            fit_sum = float(np.sum(search.cv_results_["mean_fit_time"]) * setting["n_splits"])
            print(f"  {n_workers} worker(s): {wall:7.1f} s wall, {fit_sum:7.1f} s of fits, "
                  f"tasks per worker {sorted(per_worker.values(), reverse=True)}")
            scores = search.cv_results_["mean_test_score"]
            if reference is None:
                reference = scores
            elif not np.allclose(scores, reference, rtol=1e-6, atol=1e-9):
                raise RuntimeError(
                    f"{n_workers} worker(s) gave other scores than the first run: "
                    f"{scores} vs {reference}"
                )

    base = args.workers[0]
    print(f"\nbest wall time of {args.repeats} run(s) per cluster size; "
          "identical scores on every cluster size: yes")
    print(f"| workers | wall (s) | speedup vs {base} | efficiency |")
    print("|---|---|---|---|")
    for n_workers in args.workers:
        speedup = best[base] / best[n_workers]
        print(f"| {n_workers} | {best[n_workers]:.1f} | {speedup:.2f}x | "
              f"{speedup * base / n_workers:.0%} |")


if __name__ == "__main__":
    main()
