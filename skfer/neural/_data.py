"""Fast input path: one tensor per dataset, batches sliced from it, batch augmentation."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset

__all__ = [
    "ArrayDataset",
    "TensorBatches",
    "ValidationSplit",
    "augment_batch",
    "check_votes",
    "hard_targets",
    "split_indices",
]


class ArrayDataset(Dataset):
    """A dataset held as one tensor ``X`` (and ``y``), as skorch's ``dataset=``.

    ``X`` and ``y`` are attributes so that skorch's helpers
    (``data_from_dataset``) find them; ``__getitem__`` exists for generic
    torch code, but :class:`TensorBatches` never calls it.
    """

    def __init__(self, X, y=None):
        self.X = torch.as_tensor(X)
        self.y = None if y is None else torch.as_tensor(y)
        if self.y is not None and len(self.y) != len(self.X):
            raise ValueError(f"X has {len(self.X)} samples but y has {len(self.y)}.")

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], (self.y[i] if self.y is not None else torch.empty(0))


def _resolve(dataset):
    """``(X, y)`` tensors of an :class:`ArrayDataset` or a ``Subset`` of one."""
    if isinstance(dataset, Subset):
        X, y = _resolve(dataset.dataset)
        idx = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
        return X.index_select(0, idx), (None if y is None else y.index_select(0, idx))
    if isinstance(dataset, ArrayDataset):
        return dataset.X, dataset.y
    if isinstance(dataset, (torch.Tensor, np.ndarray)):
        return torch.as_tensor(dataset), None
    raise TypeError(
        f"TensorBatches needs an ArrayDataset (or a Subset of one), got {type(dataset).__name__}."
    )


#: Datasets up to this size are moved to the GPU once (FER2013 as uint8: 66 MB);
#: larger ones stay in host memory and travel batch by batch.
_MAX_DEVICE_BYTES = 2 * 1024**3


class TensorBatches:
    """Iterator over mini-batches sliced from one tensor (skorch ``iterator_*``).

    Each epoch draws one random permutation (torch's global generator, so
    the estimator's seed governs it) and gathers batches with
    ``index_select``; without shuffling, batches are views. There is no
    per-sample Python code and no collation. On CUDA a dataset of up to
    2 GiB is moved to the device once, so batches are gathered there.

    Parameters
    ----------
    dataset : ArrayDataset or Subset of one
    batch_size : int
    shuffle : bool, default=False
    drop_single : bool, default=False
        Drop a trailing batch of a single sample (batch norm cannot train on
        one sample) when there is more than one batch.
    device : str or torch.device or None
        Where to keep the data; ``None`` keeps it where it is.
    """

    def __init__(self, dataset, batch_size=64, shuffle=False, drop_single=False, device=None):
        X, y = _resolve(dataset)
        if (
            device is not None
            and torch.device(device).type == "cuda"
            and X.element_size() * X.nelement() <= _MAX_DEVICE_BYTES
        ):
            X = X.to(device, non_blocking=True)
            y = None if y is None else y.to(device, non_blocking=True)
        self.X, self.y = X, y
        self.batch_size = max(1, int(batch_size))
        self.shuffle = shuffle
        self.drop_single = drop_single

    def __len__(self):
        n = len(self.X)
        n_batches = math.ceil(n / self.batch_size)
        if self.drop_single and n_batches > 1 and n % self.batch_size == 1:
            n_batches -= 1
        return n_batches

    def __iter__(self):
        n, bs = len(self.X), self.batch_size
        order = torch.randperm(n).to(self.X.device) if self.shuffle else None
        for b in range(len(self)):
            start = b * bs
            if order is None:
                xb = self.X[start : start + bs]
                yb = None if self.y is None else self.y[start : start + bs]
            else:
                idx = order[start : start + bs]
                xb = self.X.index_select(0, idx)
                yb = None if self.y is None else self.y.index_select(0, idx)
            yield xb, yb


def split_indices(y, fraction, seed):
    """Train/validation indices, stratified when every class allows it.

    Returns ``(train_idx, valid_idx)``, or ``(None, None)`` when there are
    too few samples (fewer than 4, or a split leaving an empty side).
    """
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    y = np.asarray(y)
    n = len(y)
    if fraction is None or n < 4:
        return None, None
    n_valid = math.ceil(fraction * n)
    if n_valid < 1 or n - n_valid < 1:
        return None, None
    _, counts = np.unique(y, return_counts=True)
    n_classes = len(counts)
    if counts.min() >= 2 and n_classes <= n_valid <= n - n_classes:
        splitter = StratifiedShuffleSplit(1, test_size=n_valid, random_state=seed)
    else:
        splitter = ShuffleSplit(1, test_size=n_valid, random_state=seed)
    train, valid = next(splitter.split(np.zeros(n), y))
    return np.sort(train), np.sort(valid)


def hard_targets(y):
    """Class indices of targets: ``y`` itself, or the argmax of soft targets.

    Soft targets (one probability row per sample, see :func:`check_votes`)
    are scored and stratified by their most probable class. Module-level so
    that nets using it as skorch's ``target_extractor`` pickle.
    """
    y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 else y


def check_votes(votes, n_samples, classes, owner, tol=1e-3):
    """Validate the ``votes`` (soft targets) given to ``fit``.

    Parameters
    ----------
    votes : array-like of shape (n_samples, n_classes)
        One probability distribution over ``classes`` per sample.
    n_samples : int
        Number of samples of ``X``.
    classes : ndarray of shape (n_classes,)
        The estimator's ``classes_`` (sorted labels of ``y``): the column order.
    owner : str
        Estimator name for the messages.
    tol : float, default=1e-3
        Largest accepted deviation of a row sum from 1.

    Returns
    -------
    votes : ndarray of shape (n_samples, n_classes), float32
        Each row divided by its sum (so that rows sum to 1 exactly).

    Raises
    ------
    ValueError
        If ``votes`` is not numeric and 2-D, its rows are not the samples,
        its columns not the classes, or a row holds NaN, infinity, a
        negative entry or does not sum to 1.
    """
    try:
        arr = np.asarray(votes, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{owner}: votes must be a numeric array of shape (n_samples, n_classes), "
            f"got {type(votes).__name__}."
        ) from None
    n_classes = len(classes)
    if arr.ndim != 2:
        raise ValueError(
            f"{owner}: votes must be 2-D, of shape (n_samples, n_classes) = "
            f"({n_samples}, {n_classes}): one distribution over the classes per "
            f"sample; got shape {arr.shape}."
        )
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"{owner}: votes has {arr.shape[0]} rows but X has {n_samples} samples; "
            "give one row of votes per sample."
        )
    if arr.shape[1] != n_classes:
        raise ValueError(
            f"{owner}: votes has {arr.shape[1]} columns but y has {n_classes} classes "
            f"{np.asarray(classes).tolist()[:10]}; the columns of votes are the classes of y in "
            "sorted order (classes_). In cross-validation every training fold must "
            "hold every class (use a stratified splitter), or leave out the columns "
            "of classes y lacks."
        )
    finite = np.isfinite(arr)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise ValueError(
            f"{owner}: votes contains NaN or infinity (row {row}: {arr[row].tolist()}); "
            "every row must be a probability distribution."
        )
    if (arr < 0).any():
        row = int(np.flatnonzero((arr < 0).any(axis=1))[0])
        raise ValueError(
            f"{owner}: votes has negative entries (row {row}: {arr[row].tolist()}); "
            "every row must be a probability distribution."
        )
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > tol
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"{owner}: the rows of votes must sum to 1 (within {tol:g}); row {row} "
            f"sums to {sums[row]:.6g}. For vote counts, pass "
            "counts / counts.sum(axis=1, keepdims=True)."
        )
    return (arr / sums[:, None]).astype(np.float32)


class ValidationSplit:
    """skorch ``train_split``: a held-out fraction, stratified when possible.

    With soft targets (2-D ``y``), the split is stratified by each sample's
    most probable class.
    """

    def __init__(self, fraction, seed):
        self.fraction = fraction
        self.seed = seed

    def __call__(self, dataset, y=None, **_):
        y_np = hard_targets(y)
        train, valid = split_indices(y_np, self.fraction, self.seed)
        if train is None:
            return dataset, None
        return Subset(dataset, train.tolist()), Subset(dataset, valid.tolist())

    def __repr__(self):
        return f"ValidationSplit(fraction={self.fraction}, seed={self.seed})"


#: What ``augment=True`` means.
DEFAULT_AUGMENT = {"hflip": True, "rotation": 15.0, "shift": 0.1, "scale": 0.15}
AUGMENT_KEYS = ("hflip", "rotation", "shift", "scale", "crop", "brightness", "contrast")


def check_augment(augment):
    """Validate the ``augment`` parameter; return a dict (possibly empty)."""
    if augment is None or augment is False:
        return {}
    if augment is True:
        return dict(DEFAULT_AUGMENT)
    if not isinstance(augment, dict):
        raise ValueError(
            f"augment must be True, False, None or a dict with keys {AUGMENT_KEYS}, got {augment!r}."
        )
    unknown = set(augment) - set(AUGMENT_KEYS)
    if unknown:
        raise ValueError(
            f"augment has unknown keys {sorted(unknown)}; the keys are {list(AUGMENT_KEYS)}."
        )
    out = {}
    for key, value in augment.items():
        if key == "hflip":
            out[key] = bool(value)
            continue
        value = float(value)
        upper = 180.0 if key == "rotation" else (0.9 if key in ("crop", "scale") else 1.0)
        if not 0.0 <= value <= upper:
            raise ValueError(f"augment[{key!r}] must be in [0, {upper}], got {value!r}.")
        out[key] = value
    return {k: v for k, v in out.items() if v}


def _uniform(n, low, high, device):
    return torch.rand(n, device=device) * (high - low) + low


def augment_batch(x, hflip=False, rotation=0.0, shift=0.0, scale=0.0, crop=0.0,
                  brightness=0.0, contrast=0.0):
    """Randomly transform a batch of images in one pass of tensor operations.

    Parameters
    ----------
    x : torch.Tensor of shape (N, C, H, W) or (N, T, C, H, W)
        Float images in [0, 1]. With a time axis, all frames of a sequence
        get the same transformation.
    hflip : bool
        Mirror left-right with probability 1/2.
    rotation : float
        Rotate by an angle drawn from [-rotation, rotation] degrees.
    shift : float
        Translate by up to this fraction of the width and height.
    scale : float
        Zoom by a factor drawn from [1 - scale, 1 + scale].
    crop : float
        Random crop: take a window of side ``1 - u * crop`` (``u`` in [0, 1])
        at a random position inside the image and resize it back.
    brightness, contrast : float
        Add a value in [-brightness, brightness]; multiply the deviation from
        each image's mean by a factor in [1 - contrast, 1 + contrast].

    Returns
    -------
    x : torch.Tensor, same shape
        Geometric transformations are composed into one affine matrix per
        sample and applied with a single ``grid_sample`` (bilinear, border
        padding); a flip alone is an exact ``torch.where``.
    """
    shape = x.shape
    if x.ndim == 5:
        x = x.reshape(shape[0], shape[1] * shape[2], shape[3], shape[4])
    n, _, h, w = x.shape
    dev = x.device
    geometric = rotation or shift or scale or crop
    if hflip and not geometric:
        flip = torch.rand(n, device=dev) < 0.5
        x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
    elif geometric or hflip:
        one = torch.ones(n, device=dev)
        sx = torch.where(torch.rand(n, device=dev) < 0.5, -one, one) if hflip else one
        angle = _uniform(n, -rotation, rotation, dev) * (math.pi / 180.0) if rotation else 0 * one
        zoom = _uniform(n, 1.0 - scale, 1.0 + scale, dev) if scale else one
        tx = _uniform(n, -2 * shift, 2 * shift, dev) if shift else 0 * one
        ty = _uniform(n, -2 * shift, 2 * shift, dev) if shift else 0 * one
        if crop:
            side = 1.0 - torch.rand(n, device=dev) * crop  # window side, as a fraction
            room = 1.0 - side  # how far the window centre may move (normalised units)
            zoom = zoom / side
            tx = tx + _uniform(n, -1.0, 1.0, dev) * room
            ty = ty + _uniform(n, -1.0, 1.0, dev) * room
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        # Output -> input coordinates in normalised units, rotation done in
        # pixel-proportional space so that non-square images are not sheared.
        theta = torch.stack(
            [
                torch.stack([cos * sx, -sin * (h / w), tx], dim=1),
                torch.stack([sin * (w / h) * sx, cos, ty], dim=1),
            ],
            dim=1,
        ).to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if brightness or contrast:
        if contrast:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            factor = _uniform(n, 1.0 - contrast, 1.0 + contrast, dev).view(n, 1, 1, 1)
            x = (x - mean) * factor + mean
        if brightness:
            x = x + _uniform(n, -brightness, brightness, dev).view(n, 1, 1, 1)
    return x.reshape(shape)
