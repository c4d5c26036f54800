"""Shared fixtures: real data through SKFER_DATA, seeded randomness, one torch
thread, small images; tests marked ``gpu`` skip without a CUDA device."""

import os
import random
from pathlib import Path

import numpy as np
import pytest


def _data_root():
    root = os.environ.get("SKFER_DATA")
    return Path(root) if root else None


@pytest.fixture(scope="session")
def skfer_data():
    """Root of the real datasets (``SKFER_DATA``); skips the test when absent."""
    root = _data_root()
    if root is None:
        pytest.skip("real data not available: set SKFER_DATA=../shared/data to run")
    if not root.is_dir():
        pytest.skip(f"SKFER_DATA={root} is not a directory")
    return root


def data_path(root, *parts):
    """``root / parts``, skipping the test when that file or folder is missing."""
    path = Path(root, *parts)
    if not path.exists():
        pytest.skip(f"{path} not found under SKFER_DATA")
    return path


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - seeds code that still uses the global RNG
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread per test: tiny nets train fastest on one thread, and
    the CI box is shared. The previous count is restored afterwards."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _cuda_available():
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``gpu`` when there is no CUDA device."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items or _cuda_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device (test marked gpu)")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture
def gray_faces():
    """Ten small uint8 grey images (n, 48, 48) with some structure."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    base = (128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.float32)
    return np.clip(base + rng.normal(0, 10, (10, 48, 48)), 0, 255).astype(np.uint8)
