"""skfer on a real Dask cluster: GridSearchCV, cross_validate and compare through joblib.

A ``LocalCluster`` with two worker processes (one thread each) on loopback
runs the same small searches as a local ``n_jobs=1`` run, under
``joblib.parallel_config(backend='dask')``. Checked: identical results with
the same seeds, fitted estimators that come back from the workers intact,
and that both workers did work. Skipped when the ``distributed`` extra is
not installed.
"""

import os

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate

from skfer.datasets import make_faces
from skfer.neural import CNNClassifier
from skfer.neural._base import resolve_device

distributed = pytest.importorskip(
    "distributed",
    reason="dask.distributed is not installed: pip install 'skfer[distributed]'",
)
dask = pytest.importorskip("dask")  # installed with distributed

#: One OpenMP/BLAS thread per worker process: torch reads OMP_NUM_THREADS
#: when it starts, so every thread of the worker (the task thread included)
#: uses one core.
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

#: Two architectures (and two widths of one of them): 3 candidates.
PARAM_GRID = [
    {"architecture": ["simple"], "module__channels": [(4,), (4, 8)], "module__hidden": [(16,)]},
    {"architecture": ["mini_xception"], "module__channels": [(4, 8)],
     "module__base_channels": [4]},
]


def tiny_cnn():
    """Seconds-long fits: no augmentation, validation or schedule."""
    return CNNClassifier(
        architecture="simple", max_epochs=3, batch_size=16, augment=False,
        validation_fraction=None, early_stopping=False, lr_schedule=None,
        device="cpu", random_state=0,
    )


@pytest.fixture(scope="module")
def faces():
    data = make_faces(60, image_size=16, classes=["happy", "sad", "surprise"],
                      n_subjects=6, random_state=0)
    return data.images, data.target


#: Generous connection timeouts: worker processes import torch when they
#: start, which takes long on a loaded CI machine.
SLOW_MACHINE_CONFIG = {
    "distributed.comm.timeouts.connect": "120s",
    "distributed.comm.timeouts.tcp": "120s",
}


@pytest.fixture(scope="module")
def client():
    """Two worker processes on loopback, one thread each; closed even on failure."""
    with dask.config.set(SLOW_MACHINE_CONFIG), distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        env=ONE_THREAD_ENV,
    ) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        yield client


def one_worker_per_gpu(n_workers):
    """The recipe of docs/distributed.rst: worker ``i`` sees GPU ``i`` only, one thread."""
    no_dashboard = {"host": "127.0.0.1", "dashboard": False, "dashboard_address": None}
    # the scheduler's HTTP server (health checks) on a free port, not on 8787
    scheduler = {"cls": distributed.Scheduler,
                 "options": {**no_dashboard, "port": 0, "dashboard_address": ":0"}}
    workers = {
        f"gpu-{i}": {
            "cls": distributed.Nanny,
            "options": {**no_dashboard, "nthreads": 1,
                        "env": {**ONE_THREAD_ENV, "CUDA_VISIBLE_DEVICES": str(i)}},
        }
        for i in range(n_workers)
    }
    return distributed.SpecCluster(workers=workers, scheduler=scheduler)


@pytest.fixture
def one_torch_thread():
    """The local reference run uses one torch thread too, as the workers do."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _workers(client):
    return set(client.scheduler_info()["workers"])


def _on_each_worker(client, func, *args):
    """``func(*args)`` run as a task (in the task thread) on each worker."""
    return {
        addr: client.submit(func, *args, workers=[addr], pure=False).result()
        for addr in sorted(_workers(client))
    }


def test_workers_use_one_torch_thread_and_auto_device(client):
    assert len(_workers(client)) == 2
    assert set(_on_each_worker(client, torch.get_num_threads).values()) == {1}
    pids = _on_each_worker(client, os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    # device='auto' resolves on the worker, from the GPUs that worker sees
    assert set(_on_each_worker(client, resolve_device, "auto").values()) == {
        resolve_device("auto")
    }


def test_one_worker_per_gpu_recipe():
    """Worker ``i`` gets ``CUDA_VISIBLE_DEVICES=i``: it sees that GPU only (none
    when the machine has fewer), and ``device='auto'`` follows what it sees."""
    n_gpus = torch.cuda.device_count()
    with dask.config.set(SLOW_MACHINE_CONFIG), one_worker_per_gpu(2) as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        names = {addr: w["name"] for addr, w in client.scheduler_info()["workers"].items()}
        assert sorted(names.values()) == ["gpu-0", "gpu-1"]
        for addr, name in names.items():
            i = int(name.rpartition("-")[2])
            sees_gpu = i < n_gpus

            def on_worker(func, *args, addr=addr):
                return client.submit(func, *args, workers=[addr], pure=False).result()

            assert on_worker(os.getenv, "CUDA_VISIBLE_DEVICES") == str(i)
            assert on_worker(torch.get_num_threads) == 1
            assert on_worker(torch.cuda.device_count) == int(sees_gpu)
            assert on_worker(resolve_device, "auto") == ("cuda" if sees_gpu else "cpu")


@pytest.mark.gpu
def test_cross_validate_on_gpu_workers(faces):
    """One worker per GPU: every fit runs on its worker's GPU and comes back fitted."""
    n_gpus = torch.cuda.device_count()
    X, y = faces
    est = tiny_cnn().set_params(device="auto", module__channels=(4,), module__hidden=(16,))
    cv = StratifiedKFold(max(2, min(2 * n_gpus, 10)), shuffle=True, random_state=0)
    with dask.config.set(SLOW_MACHINE_CONFIG), one_worker_per_gpu(n_gpus) as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(n_gpus, timeout=120)
        with distributed.get_task_stream(client) as tasks, \
                joblib.parallel_config(backend="dask"):
            res = cross_validate(est, X, y, cv=cv, return_estimator=True, n_jobs=-1)
        assert {t["worker"] for t in tasks.data} == _workers(client)
    assert [e.device_ for e in res["estimator"]] == ["cuda"] * cv.get_n_splits()
    assert all(0.0 <= s <= 1.0 for s in res["test_score"])
    assert res["estimator"][0].predict(X[:3]).shape == (3,)


def test_grid_search_on_cluster_matches_local(client, faces, one_torch_thread):
    X, y = faces
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    # a continuous score as well, so that "equal" means the same trained nets
    scoring = {"accuracy": "accuracy", "nll": "neg_log_loss"}

    local = GridSearchCV(tiny_cnn(), PARAM_GRID, cv=cv, scoring=scoring, refit="nll",
                         n_jobs=1).fit(X, y)
    remote = GridSearchCV(tiny_cnn(), PARAM_GRID, cv=cv, scoring=scoring, refit="nll",
                          n_jobs=-1)
    with distributed.get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
        remote.fit(X, y)

    assert {t["worker"] for t in tasks.data} == _workers(client)  # both did work
    assert remote.best_params_ == local.best_params_
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    for key in local.cv_results_:
        if key.startswith(("split", "mean_test", "std_test", "rank_test")):
            np.testing.assert_allclose(remote.cv_results_[key], local.cv_results_[key],
                                       rtol=1e-6, atol=1e-9, err_msg=key)
    # scores are real, not all equal
    assert np.ptp(local.cv_results_["mean_test_nll"]) > 0
    # the refit (in this process) is a fitted estimator that predicts
    best = remote.best_estimator_
    assert best.__sklearn_is_fitted__()
    assert best.predict(X[:5]).shape == (5,)
    assert set(best.predict(X)) <= set(y)


def test_cross_validate_returns_fitted_estimators_from_workers(client, faces,
                                                               one_torch_thread):
    X, y = faces
    cv = StratifiedKFold(2, shuffle=True, random_state=1)
    est = tiny_cnn().set_params(module__channels=(4,), module__hidden=(16,))
    local = cross_validate(est, X, y, cv=cv, return_estimator=True, n_jobs=1)
    with joblib.parallel_config(backend="dask"):
        remote = cross_validate(clone(est), X, y, cv=cv, return_estimator=True, n_jobs=-1)

    np.testing.assert_allclose(remote["test_score"], local["test_score"], rtol=0, atol=1e-12)
    for mine, theirs in zip(local["estimator"], remote["estimator"], strict=True):
        # pickled back from a worker process: same classes, history and outputs
        assert theirs.__sklearn_is_fitted__()
        assert list(theirs.classes_) == list(mine.classes_)
        np.testing.assert_allclose(theirs.net_.history[:, "train_loss"],
                                   mine.net_.history[:, "train_loss"], rtol=1e-6)
        np.testing.assert_allclose(theirs.predict_proba(X), mine.predict_proba(X),
                                   rtol=1e-5, atol=1e-7)


def test_compare_on_cluster_matches_local(client, faces, one_torch_thread):
    evaluation = pytest.importorskip("skfer.evaluation")
    if not hasattr(evaluation, "compare"):  # pragma: no cover
        pytest.skip("skfer.evaluation.compare is not available")
    X, y = faces
    models = {
        "simple": tiny_cnn().set_params(module__channels=(4,), module__hidden=(16,)),
        "mini_xception": tiny_cnn().set_params(
            architecture="mini_xception", module__channels=(4, 8), module__base_channels=4
        ),
    }
    local = evaluation.compare(models, X, y, cv=2, n_jobs=1)
    with distributed.get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
        remote = evaluation.compare(models, X, y, cv=2, n_jobs=-1)

    assert {t["worker"] for t in tasks.data} == _workers(client)
    assert len(remote.records) == len(local.records) == 4
    by_key = {(r["model"], r["fold"]): r for r in remote.records}
    for mine in local.records:
        theirs = by_key[mine["model"], mine["fold"]]
        for metric in ("accuracy", "f1_macro", "balanced_accuracy"):
            assert theirs[metric] == pytest.approx(mine[metric], abs=1e-12)
        np.testing.assert_array_equal(theirs["confusion_matrix"], mine["confusion_matrix"])
        np.testing.assert_allclose([h["train_loss"] for h in theirs["history"]],
                                   [h["train_loss"] for h in mine["history"]], rtol=1e-6)
