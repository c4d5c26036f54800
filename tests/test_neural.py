"""Tests of the deep estimators: skfer.neural.{CNN,RNN,Sequence}Classifier and est.save."""

import copy
import json
import pickle
import warnings
import zipfile
from unittest import mock

import joblib
import numpy as np
import pytest
import torch
import torch.serialization
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)
from skorch.callbacks import Callback
from skorch.exceptions import DeviceWarning

from skfer.io import load_model
from skfer.nets import SimpleCNN
from skfer.neural import CNNClassifier, RNNClassifier, SequenceClassifier
from skfer.neural._data import augment_batch, check_augment, split_indices

# --------------------------------------------------------------------------
# synthetic data that a working training loop learns in a few epochs
# --------------------------------------------------------------------------


def quadrant_blobs(n, size=12, seed=0):
    """4 classes: which quadrant holds a bright blob (position varies a little)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    X = rng.normal(40, 12, (n, size, size))
    half = size // 2
    for i, k in enumerate(y):
        r0, c0 = (k // 2) * half, (k % 2) * half
        r, c = r0 + rng.integers(0, half - 3), c0 + rng.integers(0, half - 3)
        X[i, r : r + 3, c : c + 3] += 160
    return np.clip(X, 0, 255).astype(np.uint8), y


def stripes(n, size=12, seed=0):
    """2 classes: horizontal vs vertical stripes with random period and phase."""
    rng = np.random.default_rng(seed)
    y = np.array(["horizontal", "vertical"] * (n // 2))
    yy, xx = np.mgrid[:size, :size]
    X = np.empty((n, size, size), np.float32)
    for i, label in enumerate(y):
        period = rng.uniform(3, 5)
        phase = rng.uniform(0, 2 * np.pi)
        coord = yy if label == "horizontal" else xx
        X[i] = 128 + 90 * np.sin(2 * np.pi * coord / period + phase)
    X += rng.normal(0, 15, X.shape)
    return np.clip(X, 0, 255).astype(np.uint8), y


def moving_dot(n, t=5, size=8, seed=0):
    """Sequences of a bright dot moving right or left: both classes show the
    same frames, only their order tells them apart."""
    rng = np.random.default_rng(seed)
    y = np.array(["right", "left"] * (n // 2))
    cols = np.linspace(0, size - 2, t).round().astype(int)
    X = rng.normal(50, 15, (n, t, size, size))
    for i, label in enumerate(y):
        row = rng.integers(0, size - 2)
        path = cols if label == "right" else cols[::-1]
        for k, c in enumerate(path):
            X[i, k, row : row + 2, c : c + 2] += 150
    return np.clip(X, 0, 255).astype(np.uint8), y


FAST = dict(batch_size=32, augment=False, random_state=0, device="cpu")
TINY_CNN = dict(architecture="simple", module__channels=(8, 16), module__hidden=(32,),
                module__dropout=0.0)
TINY_SEQ = dict(module__encoder_kwargs={"channels": (8,), "hidden": (16,)}, hidden_sizes=(16,))


# --------------------------------------------------------------------------
# scikit-learn's estimator checks
# --------------------------------------------------------------------------

# standardize="dataset": the checks' samples are feature vectors, which
# per-image standardisation (the default, meant for pictures) would erase.
_CHECK_SETTINGS = dict(max_epochs=10, batch_size=32, lr=1e-2, augment=False, random_state=0,
                       device="cpu", standardize="dataset")


def _check_instances():
    # sklearn's checks feed flat (n_samples, n_features) data with any
    # n_features: image_shape=(1, -1) reads each row as a 1 x n_features image
    # (sequence_shape=(1, 1, -1): a one-frame sequence of such images).
    return [
        CNNClassifier(image_shape=(1, -1), module__channels=(8,), module__hidden=(16,),
                      module__dropout=0.0, architecture="simple", **_CHECK_SETTINGS),
        RNNClassifier(image_shape=(1, -1), hidden_sizes=(16,), **_CHECK_SETTINGS),
        SequenceClassifier(sequence_shape=(1, 1, -1), **TINY_SEQ, **_CHECK_SETTINGS),
    ]


def _expected_failed_checks(estimator):
    # Every check passes for all three estimators. Two design points make
    # that possible and are worth knowing when a check starts failing:
    # * check_do_not_raise_errors_in_init_or_set_params passes the name of
    #   the ``**kwargs`` catch-all (``kwargs=...``) as a parameter: __init__
    #   stores it unvalidated and set_params accepts it back; fit rejects it.
    # * check_classifiers_train and check_class_weight_classifiers need real
    #   learning: 10 epochs at lr=1e-2 give enough margin (3 do not).
    return {}


@parametrize_with_checks(_check_instances(), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


# --------------------------------------------------------------------------
# module__ / optimizer__ parameters, get/set_params, clone
# --------------------------------------------------------------------------


def test_prefixed_params_roundtrip():
    clf = CNNClassifier(module__dropout=0.3, optimizer__nesterov=True)
    params = clf.get_params()
    assert params["module__dropout"] == 0.3
    assert params["optimizer__nesterov"] is True
    assert clf.module__dropout == 0.3
    assert "module__dropout" not in vars(clf)  # kept in one private dict
    assert "module__dropout=0.3" in repr(clf)

    clf.set_params(module__channels=(4, 8), lr=0.1)  # a new module__ key is accepted
    assert clf.get_params(deep=False)["module__channels"] == (4, 8)
    assert clf.lr == 0.1

    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    twin.set_params(module__dropout=0.1)
    assert clf.module__dropout == 0.3  # clones do not share the dict

    with pytest.raises(ValueError, match="Invalid parameter"):
        clf.set_params(not_a_param=1)
    with pytest.raises(AttributeError):
        clf.module__nothing  # noqa: B018


def test_prefixed_params_reach_the_module_and_optimizer():
    X, y = quadrant_blobs(40, size=8)
    clf = CNNClassifier(
        **{**TINY_CNN, "module__dropout": 0.25}, optimizer="sgd", optimizer__momentum=0.5,
        optimizer__nesterov=True, max_epochs=1, **FAST,
    ).fit(X, y)
    body = clf.net_.module_.body
    assert isinstance(body, SimpleCNN)
    assert [m.p for m in body.modules() if isinstance(m, torch.nn.Dropout)][0] == 0.25
    group = clf.net_.optimizer_.param_groups[0]
    assert isinstance(clf.net_.optimizer_, torch.optim.SGD)
    assert group["momentum"] == 0.5 and group["nesterov"] is True


def test_unknown_keyword_and_module_argument_errors():
    X, y = quadrant_blobs(20, size=8)
    with pytest.raises(TypeError, match=r"unexpected parameter\(s\) \['lr_rate'\]"):
        CNNClassifier(lr_rate=0.1, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="module__n_classes is set by the estimator"):
        CNNClassifier(module__n_classes=3, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="module__width is not an argument of MiniXception"):
        CNNClassifier(module__width=3, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="module__hidden_sizes is set by the estimator"):
        RNNClassifier(module__hidden_sizes=(3,), **FAST).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        # sklearn's _parameter_constraints (InvalidParameterError, a ValueError):
        # "The 'lr' parameter of CNNClassifier must be a float in the range
        # (0.0, inf). Got 0 instead." Options are a set: their order varies.
        ({"optimizer": "adagrad"},
         r"'optimizer' parameter of CNNClassifier must be a str among \{.*'adamw'.*\} "
         r"or an instance of 'type'\. Got 'adagrad'"),
        ({"lr": 0}, r"'lr' parameter of CNNClassifier must be a float in the range \(0.0, inf\)"),
        ({"weight_decay": -1e-4}, r"'weight_decay' parameter of CNNClassifier must be a float "
                                  r"in the range \[0.0, inf\)"),
        ({"lr_schedule": "linear"},
         r"'lr_schedule' parameter of CNNClassifier must be a str among \{.*'cosine'.*\} or None"),
        ({"loss": "hinge"}, r"'loss' parameter of CNNClassifier must be a str among \{.*'mse'.*\}"),
        ({"label_smoothing": 1.0}, r"'label_smoothing' parameter of CNNClassifier must be a "
                                   r"float in the range \[0.0, 1.0\)"),
        ({"batch_size": 0}, r"'batch_size' parameter of CNNClassifier must be an int in the "
                            r"range \[1, inf\)"),
        ({"max_epochs": 2.5}, r"'max_epochs' parameter of CNNClassifier must be an int in the "
                              r"range \[1, inf\)\. Got 2.5"),
        ({"validation_fraction": 1.0}, r"'validation_fraction' parameter of CNNClassifier must "
                                       r"be a float in the range \(0.0, 1.0\) or None"),
        ({"early_stopping": "yes"}, r"'early_stopping' parameter of CNNClassifier must be an "
                                    r"instance of 'bool'"),
        ({"patience": 0}, r"'patience' parameter of CNNClassifier must be an int in the range "
                          r"\[1, inf\)"),
        ({"class_weight": "auto"}, r"'class_weight' parameter of CNNClassifier must be a str "
                                   r"among \{'balanced'\}, an instance of 'dict' or None"),
        ({"augment": "yes"}, r"'augment' parameter of CNNClassifier must be an instance of "
                             r"'bool', an instance of 'dict' or None"),
        ({"standardize": "channel"}, r"'standardize' parameter of CNNClassifier must be a str "
                                     r"among \{.*'dataset'.*\}"),
        ({"mixed_precision": "yes"}, r"'mixed_precision' parameter of CNNClassifier must be a "
                                     r"str among \{'auto'\} or an instance of 'bool'"),
        ({"channels_last": 1}, r"'channels_last' parameter of CNNClassifier must be a str "
                               r"among \{'auto'\} or an instance of 'bool'"),
        ({"callbacks": "print"}, r"'callbacks' parameter of CNNClassifier must be an instance "
                                 r"of 'list', an instance of 'tuple' or None"),
        ({"verbose": -1}, r"'verbose' parameter of CNNClassifier must be an int in the range "
                          r"\[0, inf\)"),
        ({"random_state": "seed"}, r"'random_state' parameter of CNNClassifier must be an int"),
        ({"architecture": 3}, r"'architecture' parameter of CNNClassifier must be an instance "
                              r"of 'str' or an instance of 'type'"),
        # what constraints cannot express: checked by code after them
        ({"optimizer": torch.nn.Linear}, r"CNNClassifier: optimizer must be one of "
                                         r"\['adam', .*\] or a torch.optim.Optimizer class"),
        ({"augment": {"blur": 1}}, "augment has unknown keys"),
        ({"augment": {"rotation": 500}}, r"augment\['rotation'\] must be in"),
        ({"device": "tpu"}, "device must be 'auto'"),
        ({"architecture": "alexnet"}, "Unknown architecture 'alexnet'"),
    ],
)
def test_invalid_params_raise_at_fit(params, match):
    X, y = quadrant_blobs(20, size=8)
    clf = CNNClassifier(**{**FAST, **params})  # __init__ validates nothing
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)


@pytest.mark.parametrize("cls", [CNNClassifier, RNNClassifier, SequenceClassifier])
def test_parameter_constraints_cover_every_parameter(cls):
    """sklearn's own check: one constraint per named parameter, and fit
    raises InvalidParameterError for a value of a wrong type or range before
    looking at the data."""
    check_param_validation(cls.__name__, cls())


def test_parameters_are_checked_once_per_fit(monkeypatch):
    X, y = quadrant_blobs(20, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=1, **FAST)
    calls = []
    original = CNNClassifier._validate_params
    monkeypatch.setattr(CNNClassifier, "_validate_params",
                        lambda self: calls.append(1) or original(self))
    clf.fit(X, y).predict(X)
    assert calls == [1]


def test_cuda_requested_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    X, y = quadrant_blobs(20, size=8)
    with pytest.raises(ValueError, match="CUDA is not available.*device='auto'"):
        CNNClassifier(**{**FAST, "device": "cuda"}).fit(X, y)
    clf = CNNClassifier(**TINY_CNN, **{**FAST, "device": "auto"}, max_epochs=1).fit(X, y)
    assert clf.device_ == "cpu"


def test_rnn_and_sequence_param_errors():
    X, y = quadrant_blobs(20, size=8)
    with pytest.raises(ValueError, match=r"'cell' parameter of RNNClassifier must be a str "
                                         r"among \{.*'gru'.*\}\. Got 'rnn'"):
        RNNClassifier(cell="rnn", **FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"'direction' parameter of RNNClassifier must be a "
                                         r"str among \{.*'top_down'.*\}"):
        RNNClassifier(direction="diagonal", **FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"'bidirectional' parameter of RNNClassifier must be "
                                         r"an instance of 'bool'"):
        RNNClassifier(bidirectional=1, **FAST).fit(X, y)
    # the entries of a tuple are checked by code (constraints check its type)
    with pytest.raises(ValueError, match="hidden_sizes must be a positive int"):
        RNNClassifier(hidden_sizes=(0,), **FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"'hidden_sizes' parameter of RNNClassifier must be "
                                         r"an int in the range \[1, inf\) or an array-like"):
        RNNClassifier(hidden_sizes=0, **FAST).fit(X, y)
    S, ys = moving_dot(10)
    with pytest.raises(ValueError, match=r"'n_frames' parameter of SequenceClassifier must be "
                                         r"an int in the range \[1, inf\) or None"):
        SequenceClassifier(n_frames=0, **FAST).fit(S, ys)
    with pytest.raises(ValueError, match="Unknown architecture 'alexnet'"):
        SequenceClassifier(encoder="alexnet", **FAST).fit(S, ys)


# --------------------------------------------------------------------------
# convergence: these fail when training is broken, not just when it crashes
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "architecture, module_params, epochs",
    [
        ("simple", {"channels": (8, 16), "hidden": (32,), "dropout": 0.0}, 12),
        ("mini_xception", {"base_channels": 8, "channels": (16, 32)}, 15),
        ("vgg", {"channels": (8, 16), "hidden": (32,), "dropout": 0.0}, 12),
        ("resnet", {"channels": (8, 16), "blocks": (1, 1)}, 12),
    ],
)
def test_cnn_learns_quadrants(architecture, module_params, epochs):
    X, y = quadrant_blobs(240, seed=0)
    X_test, y_test = quadrant_blobs(120, seed=1)
    clf = CNNClassifier(
        architecture=architecture, max_epochs=epochs, lr=3e-3,
        **{f"module__{k}": v for k, v in module_params.items()}, **FAST,
    ).fit(X, y)
    assert clf.score(X_test, y_test) >= 0.9
    losses = clf.net_.history[:, "train_loss"]
    assert losses[-1] < 0.5 * losses[0]


def test_cnn_learns_with_augmentation_and_mse_loss():
    X, y = stripes(200, seed=0)
    X_test, y_test = stripes(100, seed=1)
    clf = CNNClassifier(**TINY_CNN, max_epochs=12, lr=3e-3, loss="mse",
                        **{**FAST, "augment": True}).fit(X, y)
    assert type(clf.net_.criterion_).__name__ == "SoftmaxMSELoss"
    assert clf.score(X_test, y_test) >= 0.9


def test_training_with_shuffled_labels_does_not_generalise():
    """Guards the convergence tests: the data alone must not give the score."""
    X, y = quadrant_blobs(240, seed=0)
    X_test, y_test = quadrant_blobs(120, seed=1)
    y_shuffled = np.random.default_rng(0).permutation(y)
    clf = CNNClassifier(**TINY_CNN, max_epochs=8, lr=3e-3, **FAST).fit(X, y_shuffled)
    assert clf.score(X_test, y_test) < 0.6


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_learns_stripes(cell):
    X, y = stripes(200, seed=0)
    X_test, y_test = stripes(100, seed=1)
    clf = RNNClassifier(hidden_sizes=(32, 16), cell=cell, max_epochs=15, lr=1e-2, **FAST)
    assert clf.fit(X, y).score(X_test, y_test) >= 0.9


@pytest.mark.parametrize(
    "direction, bidirectional", [("bottom_up", True), ("left_right", False)]
)
def test_rnn_options(direction, bidirectional):
    X, y = stripes(120, seed=0)
    clf = RNNClassifier(hidden_sizes=(16,), direction=direction, bidirectional=bidirectional,
                        max_epochs=10, lr=1e-2, **FAST).fit(X, y)
    rnn = clf.net_.module_.body.rnn.layers[0]
    assert rnn.bidirectional is bidirectional
    assert clf.score(X, y) >= 0.9


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sequence_classifier_learns_temporal_order(cell):
    X, y = moving_dot(120, seed=0)
    X_test, y_test = moving_dot(60, seed=1)
    clf = SequenceClassifier(cell=cell, max_epochs=15, lr=1e-2, **TINY_SEQ, **FAST).fit(X, y)
    assert clf.score(X_test, y_test) >= 0.9
    # the same frames in reverse order flip the prediction
    flipped = clf.predict(X_test[:, ::-1])
    assert np.mean(flipped != y_test) >= 0.9


# --------------------------------------------------------------------------
# training features: validation, early stopping, class weights, schedules...
# --------------------------------------------------------------------------


class Recorder(Callback):
    """Keeps the valid loss and a copy of the weights at each epoch end."""

    def initialize(self):
        self.states_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.states_.append(copy.deepcopy(net.module_.state_dict()))


def _callback(net, cls):
    return next(cb for _, cb in net.callbacks_ if isinstance(cb, cls))


def test_early_stopping_restores_best_weights():
    from skorch.callbacks import EarlyStopping

    X, _ = quadrant_blobs(200, size=8)
    y = np.random.default_rng(0).integers(0, 4, len(X))  # noise: validation loss rises
    recorder = Recorder()
    clf = CNNClassifier(**TINY_CNN, max_epochs=40, lr=1e-2, patience=3, callbacks=[recorder],
                        **FAST).fit(X, y)
    history = clf.net_.history
    assert len(history) < 40  # stopped early
    stopper = _callback(clf.net_, EarlyStopping)
    best = stopper.best_epoch_
    assert best < len(history)
    rec = _callback(clf.net_, Recorder)
    expected = rec.states_[best - 1]
    for key, value in clf.net_.module_.state_dict().items():
        torch.testing.assert_close(value, expected[key], msg=key)
    # the user's callback object itself is left untouched (copied at fit)
    assert not hasattr(recorder, "states_")


def test_validation_split_is_stratified_and_optional():
    X, y = quadrant_blobs(100, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=2, **FAST).fit(X, y)
    history = clf.net_.history
    assert "valid_loss" in history[-1] and "valid_acc" in history[-1]
    assert history[-1, "valid_batch_count"] == 1
    train, valid = split_indices(np.arange(100) % 4, 0.1, 0)
    assert len(valid) == 10 and len(set(train) | set(valid)) == 100
    assert np.bincount(np.arange(100)[valid] % 4).min() >= 2  # stratified

    clf = CNNClassifier(**TINY_CNN, max_epochs=2, validation_fraction=None, **FAST).fit(X, y)
    assert "valid_loss" not in clf.net_.history[-1]
    # too few samples of a class for stratification: falls back to a shuffled split
    train, valid = split_indices(np.array([0] * 9 + [1]), 0.2, 0)
    assert len(valid) == 2


def test_class_weight():
    X, y = quadrant_blobs(80, size=8)
    y = np.where(y == 0, "rare", "common")
    clf = CNNClassifier(**TINY_CNN, max_epochs=1, class_weight="balanced", **FAST).fit(X, y)
    expected = compute_class_weight("balanced", classes=clf.classes_, y=y)
    np.testing.assert_allclose(clf.net_.criterion_.weight.numpy(), expected, rtol=1e-6)

    clf.set_params(class_weight={"rare": 5.0}).fit(X, y)
    np.testing.assert_allclose(clf.net_.criterion_.weight.numpy(), [1.0, 5.0])
    with pytest.raises(ValueError, match=r"class_weight has labels \['other'\]"):
        clf.set_params(class_weight={"other": 2.0}).fit(X, y)


def test_label_smoothing_and_loss_reach_the_criterion():
    X, y = quadrant_blobs(40, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=1, label_smoothing=0.1, **FAST).fit(X, y)
    assert isinstance(clf.net_.criterion_, torch.nn.CrossEntropyLoss)
    assert clf.net_.criterion_.label_smoothing == 0.1


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop", torch.optim.Adagrad])
def test_optimizers(optimizer):
    X, y = quadrant_blobs(40, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=1, optimizer=optimizer, lr=0.02,
                        weight_decay=1e-3, **FAST).fit(X, y)
    opt = clf.net_.optimizer_
    expected = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
                "rmsprop": torch.optim.RMSprop}.get(optimizer, optimizer)
    assert type(opt) is expected
    group = opt.param_groups[0]
    assert group["weight_decay"] == 1e-3
    if optimizer in ("sgd", "rmsprop"):
        assert group["momentum"] == 0.9


@pytest.mark.parametrize("schedule", ["cosine", "step", "plateau", "constant", None])
def test_lr_schedules(schedule):
    X, y = quadrant_blobs(60, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=6, lr=0.01, lr_schedule=schedule,
                        early_stopping=False, **FAST).fit(X, y)
    lr_end = clf.net_.optimizer_.param_groups[0]["lr"]
    if schedule in ("cosine", "step"):
        assert lr_end < 0.01
    elif schedule in ("constant", None):
        assert lr_end == 0.01


def test_verbose_prints_a_table(capsys):
    X, y = quadrant_blobs(40, size=8)
    CNNClassifier(**TINY_CNN, max_epochs=2, **FAST).fit(X, y)
    assert capsys.readouterr().out == ""
    CNNClassifier(**TINY_CNN, max_epochs=2, verbose=1, **FAST).fit(X, y)
    out = capsys.readouterr().out
    assert "epoch" in out and "train_loss" in out and "valid_acc" in out
    assert len([line for line in out.splitlines() if line.strip()[:1].isdigit()]) == 2


def test_verbose_2_adds_a_progress_bar(capsys):
    X, y = quadrant_blobs(40, size=8)
    CNNClassifier(**TINY_CNN, max_epochs=1, verbose=2, **FAST).fit(X, y)
    captured = capsys.readouterr()
    assert "train_loss" in captured.out
    assert "it/s" in captured.err or "s/it" in captured.err  # tqdm's bar


def test_fast_path_never_indexes_single_samples():
    from skfer.neural._data import ArrayDataset, TensorBatches

    X, y = quadrant_blobs(64, size=8)
    with mock.patch.object(ArrayDataset, "__getitem__", side_effect=AssertionError("per-sample")):
        clf = CNNClassifier(**TINY_CNN, max_epochs=2, **{**FAST, "augment": True}).fit(X, y)
        clf.predict(X)
    assert clf.net_.iterator_train is TensorBatches
    batches = list(TensorBatches(ArrayDataset(torch.arange(10), torch.arange(10)), batch_size=4))
    assert [len(xb) for xb, _ in batches] == [4, 4, 2]
    shuffled = TensorBatches(ArrayDataset(torch.arange(9), torch.arange(9)), batch_size=4,
                             shuffle=True, drop_single=True)
    xs = [xb for xb, _ in shuffled]
    assert [len(xb) for xb in xs] == [4, 4]  # the lone last sample is dropped
    assert len(set(torch.cat(xs).tolist())) == 8


def test_random_state_repeatable_and_leaves_global_rng_alone():
    X, y = quadrant_blobs(60, size=8)
    params = dict(**TINY_CNN, max_epochs=2, **{**FAST, "augment": True})
    before = torch.get_rng_state()
    p1 = CNNClassifier(**params).fit(X, y).predict_proba(X)
    assert torch.equal(before, torch.get_rng_state())
    p2 = CNNClassifier(**params).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)
    p3 = CNNClassifier(**{**params, "random_state": 1}).fit(X, y).predict_proba(X)
    assert not np.allclose(p1, p3)


def test_predict_is_deterministic_and_unaugmented():
    X, y = quadrant_blobs(40, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=1, **{**FAST, "augment": True}).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))
    module = clf.net_.module_
    x = torch.from_numpy(np.moveaxis(X[:8, :, :, None], -1, 1).copy())
    module.train()
    torch.manual_seed(0)
    with torch.no_grad():
        a, b = module(x), module(x)
    assert not torch.allclose(a, b)  # training mode augments (and drops out)
    module.eval()


# --------------------------------------------------------------------------
# augmentation
# --------------------------------------------------------------------------


def test_augment_identity_and_flip():
    torch.manual_seed(0)
    x = torch.rand(16, 2, 7, 9)
    torch.testing.assert_close(augment_batch(x), x)
    out = augment_batch(x, hflip=True)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    same = (out == x).flatten(1).all(1)
    assert (flipped | same).all() and flipped.any() and same.any()


def test_augment_geometric_keeps_shape_and_constant_images():
    torch.manual_seed(0)
    x = torch.full((8, 1, 10, 12), 0.3)
    out = augment_batch(x, hflip=True, rotation=20, shift=0.2, scale=0.2, crop=0.3)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x)  # border padding: constant stays constant
    x = torch.rand(8, 1, 10, 12)
    out = augment_batch(x, rotation=20, shift=0.2)
    assert not torch.allclose(out, x)
    assert out.min() >= x.min() - 1e-6 and out.max() <= x.max() + 1e-6  # bilinear


def test_augment_sequences_transform_all_frames_alike():
    torch.manual_seed(0)
    frame = torch.rand(4, 1, 1, 9, 9)
    x = frame.expand(4, 3, 1, 9, 9).contiguous()
    out = augment_batch(x, hflip=True, rotation=15, shift=0.1, brightness=0.1, contrast=0.2)
    assert out.shape == x.shape
    torch.testing.assert_close(out[:, 0], out[:, 1])
    torch.testing.assert_close(out[:, 0], out[:, 2])


def test_check_augment():
    assert check_augment(True) == {"hflip": True, "rotation": 15.0, "shift": 0.1, "scale": 0.15}
    assert check_augment(False) == {} and check_augment(None) == {}
    assert check_augment({"hflip": True, "rotation": 0}) == {"hflip": True}


# --------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------


def test_string_and_int_labels():
    X, y = quadrant_blobs(40, size=8)
    names = np.array(["angry", "happy", "sad", "surprise"])[y]
    clf = CNNClassifier(**TINY_CNN, max_epochs=2, **FAST).fit(X, names)
    assert clf.classes_.tolist() == ["angry", "happy", "sad", "surprise"]
    assert clf.predict(X).dtype == names.dtype
    assert set(clf.predict(X)) <= set(names)
    assert clf.predict_proba(X).shape == (40, 4)
    clf.fit(X, y + 10)
    assert clf.classes_.tolist() == [10, 11, 12, 13]
    assert np.issubdtype(clf.predict(X).dtype, np.integer)


def test_flat_input_and_image_shape():
    X, y = quadrant_blobs(40, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=1, **FAST).fit(X, y)
    # flat input of the fitted size is reshaped to input_shape_
    np.testing.assert_array_equal(clf.predict_proba(X.reshape(40, -1)), clf.predict_proba(X))
    assert not hasattr(clf, "n_features_in_")

    flat = clf.fit(X.reshape(40, -1), y)
    assert flat.input_shape_ == (8, 8, 1) and flat.n_features_in_ == 64
    rgb = np.repeat(X[..., None], 3, axis=-1)
    with pytest.raises(ValueError, match="pass image_shape"):
        clf.fit(rgb.reshape(40, -1), y)
    clf.set_params(image_shape=(8, 8, 3)).fit(rgb.reshape(40, -1), y)
    assert clf.input_shape_ == (8, 8, 3)
    clf.set_params(image_shape=(4, -1)).fit(X.reshape(40, -1), y)
    assert clf.input_shape_ == (4, 16, 1)
    with pytest.raises(ValueError, match="not a multiple of 3"):
        clf.set_params(image_shape=(3, -1)).fit(X.reshape(40, -1), y)


def test_shape_mismatch_error_suggests_resize():
    X, y = quadrant_blobs(40, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=1, **FAST).fit(X, y)
    big = np.zeros((2, 10, 12), np.uint8)
    with pytest.raises(
        ValueError, match=r"fitted on images of shape \(8, 8, 1\).*\(10, 12, 1\).*Resize\(size=\(8, 8\)\)"
    ):
        clf.predict(big)
    with pytest.raises(ValueError, match="Grayscale"):
        clf.predict(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="one size.*Resize"):
        clf.fit([np.zeros((8, 8)), np.zeros((9, 9))], [0, 1])


def test_rgb_rgba_and_lists():
    X, y = quadrant_blobs(40, size=8)
    rgb = np.stack([X, X // 2, 255 - X], axis=-1)
    clf = CNNClassifier(**TINY_CNN, max_epochs=1, **FAST).fit(rgb, y)
    assert clf.input_shape_ == (8, 8, 3) and len(clf.input_mean_) == 3
    rgba = np.concatenate([rgb, np.full((40, 8, 8, 1), 7, np.uint8)], axis=-1)
    np.testing.assert_array_equal(clf.predict_proba(rgba), clf.predict_proba(rgb))
    np.testing.assert_array_equal(clf.predict_proba(list(rgb)), clf.predict_proba(rgb))


def test_float_scales_are_consistent():
    X, y = quadrant_blobs(40, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=2, **FAST).fit(X, y)
    assert clf.input_scale_ is None
    p = clf.predict_proba(X)
    np.testing.assert_allclose(clf.predict_proba(X.astype(np.float64)), p, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X / 255.0), p, atol=1e-6)
    clf.fit(X / 255.0, y)
    assert clf.input_scale_ == 1.0
    np.testing.assert_allclose(clf.predict_proba(X), clf.predict_proba(X / 255.0), atol=1e-5)
    clf.fit(X.astype(np.float32), y)
    assert clf.input_scale_ == pytest.approx(1 / 255)


def test_standardize_image_ignores_brightness_and_contrast():
    X, y = quadrant_blobs(60, size=8)
    relit = X.astype(np.float32) * 0.5 + 60  # dimmer, lower contrast, brighter base
    clf = CNNClassifier(**TINY_CNN, max_epochs=2, **FAST).fit(X, y)
    assert clf.net_.module_.per_image
    np.testing.assert_allclose(clf.predict_proba(relit), clf.predict_proba(X), atol=1e-4)
    clf = CNNClassifier(**TINY_CNN, max_epochs=2, standardize="dataset", **FAST).fit(X, y)
    assert not np.allclose(clf.predict_proba(relit), clf.predict_proba(X), atol=1e-2)


def test_sequence_inputs():
    X, y = moving_dot(20, t=5, size=8)
    clf = SequenceClassifier(**TINY_SEQ, max_epochs=1, **FAST).fit(X, y)
    assert clf.input_shape_ == (5, 8, 8, 1)
    # another number of frames is fine, another frame size is not
    assert clf.predict(X[:, :3]).shape == (20,)
    with pytest.raises(ValueError, match=r"fitted on frames of shape \(8, 8, 1\)"):
        clf.predict(np.zeros((2, 5, 9, 9), np.uint8))
    # flat input needs sequence_shape, unless it matches the fitted size
    np.testing.assert_array_equal(clf.predict(X.reshape(20, -1)), clf.predict(X))
    with pytest.raises(ValueError, match="sequence_shape"):
        clone(clf).fit(X.reshape(20, -1), y)
    flat = clone(clf).set_params(sequence_shape=(5, 8, -1)).fit(X.reshape(20, -1), y)
    assert flat.input_shape_ == (5, 8, 8, 1)
    # variable-length lists need n_frames
    seqs = [x[: 3 + i % 3] for i, x in enumerate(X)]
    with pytest.raises(ValueError, match="set n_frames"):
        clone(clf).fit(seqs, y)
    resampled = clone(clf).set_params(n_frames=4).fit(seqs, y)
    assert resampled.input_shape_ == (4, 8, 8, 1)
    # RGB frames
    rgb = np.repeat(X[..., None], 3, axis=-1)
    assert clone(clf).fit(rgb, y).input_shape_ == (5, 8, 8, 3)


def test_not_fitted():
    X, _ = quadrant_blobs(4, size=8)
    for est in (CNNClassifier(), RNNClassifier(), SequenceClassifier()):
        with pytest.raises(NotFittedError):
            est.predict(X)


# --------------------------------------------------------------------------
# persistence
# --------------------------------------------------------------------------


def _fitted(kind):
    if kind == "cnn":
        X, y = quadrant_blobs(40, size=8)
        y = np.array(["a", "b", "c", "d"])[y]
        return CNNClassifier(**TINY_CNN, max_epochs=2, **FAST).fit(X, y), X
    if kind == "rnn":
        X, y = stripes(40, size=8)
        return RNNClassifier(hidden_sizes=(8,), max_epochs=2, **FAST).fit(X, y), X
    X, y = moving_dot(20)
    return SequenceClassifier(**TINY_SEQ, max_epochs=2, **FAST).fit(X, y + "!"), X


@pytest.mark.parametrize("kind", ["cnn", "rnn", "seq"])
def test_pickle_and_joblib_round_trip(kind, tmp_path):
    clf, X = _fitted(kind)
    expected = clf.predict_proba(X)
    for restored in (
        pickle.loads(pickle.dumps(clf)),
        joblib.load(joblib.dump(clf, tmp_path / "m.joblib")[0]),
    ):
        np.testing.assert_array_equal(restored.predict_proba(X), expected)
        np.testing.assert_array_equal(restored.predict(X), clf.predict(X))


def test_pipeline_pickle_round_trip():
    from skfer.preprocessing import Normalize, Resize

    X, y = quadrant_blobs(40, size=12)
    pipe = Pipeline([
        ("resize", Resize(size=(8, 8))),
        ("norm", Normalize()),
        ("clf", CNNClassifier(**TINY_CNN, max_epochs=2, **FAST)),
    ]).fit(X, y)
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict_proba(X), pipe.predict_proba(X))


@pytest.mark.parametrize("kind", ["cnn", "rnn", "seq"])
@pytest.mark.parametrize("suffix", [".skfer", ".zip", ""])
def test_safe_save_and_load(kind, suffix, tmp_path):
    # est.save writes a .skfer model file whatever the name: one net, no skops part
    clf, X = _fitted(kind)
    path = clf.save(tmp_path / f"model{suffix}")
    assert path == tmp_path / f"model{suffix}" and zipfile.is_zipfile(path)
    loaded = load_model(path)
    assert type(loaded) is type(clf)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert loaded.classes_.dtype == clf.classes_.dtype
    assert loaded.get_params() == clf.get_params()
    assert loaded.input_shape_ == clf.input_shape_
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == [
            "manifest.json", "nets/0/config.json", "nets/0/weights.safetensors"]
        config = json.loads(zf.read("nets/0/config.json"))
        manifest = json.loads(zf.read("manifest.json"))
    assert config["estimator"] == type(clf).__name__
    assert config["skfer_version"]
    assert manifest["root"] == "nets/0" and manifest["format_version"] == 2
    assert loaded.skfer_manifest_ == manifest


def test_safe_load_never_unpickles(tmp_path):
    clf, X = _fitted("cnn")
    path = clf.save(tmp_path / "m.skfer")
    with mock.patch("pickle.loads", side_effect=AssertionError("pickle used")), \
            mock.patch("pickle.load", side_effect=AssertionError("pickle used")), \
            mock.patch("torch.load", side_effect=AssertionError("torch.load used")):
        loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


class OutsideNet(torch.nn.Module):
    """An architecture that does not live in skfer."""

    def __init__(self, n_classes=2, in_channels=1, width=4):
        super().__init__()
        self.conv = torch.nn.Conv2d(in_channels, width, 3, padding=1)
        self.fc = torch.nn.Linear(width, n_classes)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


def test_custom_architecture_class(tmp_path):
    X, y = quadrant_blobs(40, size=8)
    clf = CNNClassifier(architecture=OutsideNet, module__width=6, max_epochs=2, **FAST).fit(X, y)
    assert clf.net_.module_.body.conv.out_channels == 6
    path = clf.save(tmp_path / "m.skfer")
    with pytest.raises(ValueError, match=r"outside skfer.*custom_objects=\[OutsideNet\]"):
        load_model(path)
    loaded = load_model(path, custom_objects=[OutsideNet])
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty' is not a readable skfer model file: it has "
                                         "no manifest.json"):
        load_model(tmp_path / "empty")
    clf, X = _fitted("cnn")
    # the unzipped folder of a model file reads as the file does
    folder = tmp_path / "m"
    with zipfile.ZipFile(clf.save(tmp_path / "m.skfer")) as zf:
        zf.extractall(folder)
    np.testing.assert_array_equal(load_model(folder).predict_proba(X), clf.predict_proba(X))
    (folder / "nets/0/weights.safetensors").unlink()
    with pytest.raises(ValueError, match="nets/0/weights.safetensors is missing"):
        load_model(folder)
    config_file = folder / "nets/0/config.json"
    config = json.loads(config_file.read_text())
    config["format_version"] = 99
    config_file.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="skfer-neural format version 99 .*newer than this "
                                         "skfer reads .*upgrade skfer"):
        load_model(folder)


def test_save_warns_about_unsaved_callbacks(tmp_path):
    X, y = quadrant_blobs(20, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=1, callbacks=[Recorder()], **FAST).fit(X, y)
    with pytest.warns(UserWarning, match=r"\['callbacks'\]"):
        path = clf.save(tmp_path / "m.skfer")
    assert load_model(path).callbacks is None


def _cuda_tagged_pickle(obj):
    """Pickle ``obj`` as if its tensors lived on CUDA.

    Tensors pickle through ``torch.save``, which records each storage's
    device via ``torch.serialization.location_tag``; tagging CPU storages
    ``cuda:0`` gives the bytes a CUDA machine would write (skorch's own tests
    ship such a file, made on a GPU, instead).
    """
    original = torch.serialization.location_tag

    def tag(storage):
        location = original(storage)
        return "cuda:0" if location == "cpu" else location

    with mock.patch.object(torch.serialization, "location_tag", tag):
        return pickle.dumps(obj)


@pytest.mark.parametrize("kind", ["cnn", "seq"])
def test_cuda_trained_pickle_loads_on_cpu_only_machine(kind):
    clf, X = _fitted(kind)
    expected = clf.predict_proba(X)
    fake = copy.deepcopy(clf)
    fake.device_ = "cuda"
    fake.net_.device = "cuda"
    blob = _cuda_tagged_pickle(fake)
    with mock.patch("torch.cuda.is_available", lambda: False):
        # the simulation is faithful: plain unpickling of the tensors fails
        with pytest.raises(RuntimeError, match="CUDA device"):
            pickle.loads(_cuda_tagged_pickle(torch.zeros(2)))
        with pytest.warns(DeviceWarning):
            restored = pickle.loads(blob)
    assert restored.device_ == "cpu" and torch.device(restored.net_.device).type == "cpu"
    assert next(restored.net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), expected)


# --------------------------------------------------------------------------
# Pipeline + GridSearchCV with groups
# --------------------------------------------------------------------------

_GRID = [
    {"clf__architecture": ["simple"], "clf__module__channels": [(4, 8)],
     "clf__module__dropout": [0.0, 0.3]},
    {"clf__architecture": ["mini_xception"], "clf__module__channels": [(8, 16)],
     "clf__module__dropout": [0.0, 0.3]},
]


def _face_pipeline(size, epochs):
    from skfer.preprocessing import Grayscale, Normalize, Resize

    return Pipeline([
        ("resize", Resize(size=size)),
        ("gray", Grayscale()),
        ("norm", Normalize(method="minmax")),
        ("clf", CNNClassifier(max_epochs=epochs, batch_size=32, lr=3e-3, random_state=0,
                              device="cpu")),
    ])


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_pipeline_grid_search_with_groups(n_jobs):
    from skfer.datasets import make_faces

    data = make_faces(96, image_size=24, classes=["happy", "surprise"], n_subjects=6,
                      random_state=0)
    pipe = _face_pipeline((16, 16), epochs=3)
    assert clone(pipe).get_params()["clf__architecture"] == "mini_xception"
    search = GridSearchCV(pipe, _GRID, cv=GroupKFold(2), n_jobs=n_jobs, error_score="raise")
    y = np.array(data.target_names)[data.target]
    search.fit(data.images, y, groups=data.groups)
    assert len(search.cv_results_["params"]) == 4
    assert {p["clf__architecture"] for p in search.cv_results_["params"]} == {
        "simple", "mini_xception"}
    best = search.best_estimator_.named_steps["clf"]
    assert best.module__dropout == search.best_params_["clf__module__dropout"]
    assert best.architecture == search.best_params_["clf__architecture"]
    assert set(search.predict(data.images[:5])) <= {"happy", "surprise"}


@pytest.mark.data
def test_pipeline_grid_search_ckplus(skfer_data):
    from conftest import data_path

    from skfer.datasets import load_ckplus

    data = load_ckplus(data_path(skfer_data, "ckplus", "CK+48"))
    y = np.array(data.target_names)[data.target]
    search = GridSearchCV(_face_pipeline((24, 24), epochs=2), _GRID, cv=GroupKFold(3),
                          n_jobs=2, error_score="raise")
    search.fit(data.images, y, groups=data.groups)
    assert search.best_score_ > 1 / 7  # better than chance, after 2 tiny epochs
    assert set(search.classes_) == set(data.target_names)


# --------------------------------------------------------------------------
# CUDA (skipped without a GPU)
# --------------------------------------------------------------------------


@pytest.mark.gpu
def test_cuda_training_amp_channels_last_and_cpu_unpickle():
    X, y = quadrant_blobs(240, seed=0)
    X_test, y_test = quadrant_blobs(120, seed=1)
    clf = CNNClassifier(architecture="vgg", module__channels=(8, 16), module__hidden=(32,),
                        module__dropout=0.0, max_epochs=12, lr=3e-3, batch_size=32,
                        augment=False, random_state=0, device="auto").fit(X, y)
    assert clf.device_.startswith("cuda")
    assert clf.net_.mixed_precision and clf.net_.channels_last
    conv = next(m for m in clf.net_.module_.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert clf.score(X_test, y_test) >= 0.9
    expected = clf.predict_proba(X_test)
    blob = pickle.dumps(clf)
    with mock.patch("torch.cuda.is_available", lambda: False):
        with pytest.warns(DeviceWarning):
            restored = pickle.loads(blob)
    assert restored.device_ == "cpu"
    np.testing.assert_allclose(restored.predict_proba(X_test), expected, atol=2e-2)


@pytest.mark.gpu
def test_cuda_safe_save_loads_on_cpu(tmp_path):
    X, y = quadrant_blobs(60, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=2, batch_size=32, random_state=0,
                        device="cuda").fit(X, y)
    loaded = load_model(clf.save(tmp_path / "m.skfer"), device="cpu")
    assert loaded.device_ == "cpu"
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=2e-2)


@pytest.mark.gpu
def test_cuda_fast_path_data_on_device_and_compile():
    """device='cuda': the training tensor lives on the GPU; compile=True
    (inductor) trains and predicts like the eager net."""
    from skfer.neural._data import ArrayDataset

    X, y = quadrant_blobs(240, seed=0)
    params = dict(architecture="vgg", module__channels=(8, 16), module__hidden=(32,),
                  module__dropout=0.0, max_epochs=8, lr=3e-3, batch_size=32,
                  augment=True, random_state=0, device="cuda")
    clf = CNNClassifier(**params, compile=True).fit(X, y)
    it = clf.net_.get_iterator(ArrayDataset(torch.from_numpy(X[:, None]), torch.from_numpy(y)),
                               training=True)
    assert it.X.device.type == "cuda" and it.y.device.type == "cuda"
    assert type(clf.net_.module_).__name__ == "InputModel"
    assert not any(k.startswith("_orig_mod.") for k in clf.net_.module_.state_dict())
    assert clf.net_.forward_module() is not clf.net_.module_
    assert clf.score(X, y) >= 0.9
    eager = clf.predict_proba(X[:64])
    clf.net_.set_params(compile_forward=None)
    np.testing.assert_allclose(clf.predict_proba(X[:64]), eager, atol=2e-2)


# --------------------------------------------------------------------------
# compile and the GPU fast path's logic, on CPU
# --------------------------------------------------------------------------

EAGER = {"backend": "eager"}  # dynamo tracing without code generation: fast, no C++ compiler


def test_compile_eager_matches_uncompiled_and_keeps_the_plain_module(tmp_path):
    from skfer.neural._net import InputModel

    X, y = quadrant_blobs(48, size=8)
    y = np.array(["a", "b", "c", "d"])[y]
    params = dict(**TINY_CNN, max_epochs=2, **FAST)  # 10% validation: eval graphs too
    clf = CNNClassifier(**params, compile=EAGER).fit(X, y)
    plain = CNNClassifier(**params).fit(X, y)
    expected = plain.predict_proba(X)
    np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-6)
    np.testing.assert_allclose(clf.net_.history[:, "train_loss"],
                               plain.net_.history[:, "train_loss"], rtol=1e-5)
    # net_.module_ is the plain module; the compiled wrapper sits beside it
    net = clf.net_
    assert type(net.module_) is InputModel
    assert list(net.module_.state_dict()) == list(plain.net_.module_.state_dict())
    assert not any(k.startswith("_orig_mod.") for k in net.module_.state_dict())
    assert net.__dict__["_compiled_forward_"][0] is net.module_
    assert net.forward_module() is net.__dict__["_compiled_forward_"][1] is not net.module_
    assert "_compiled_forward_" not in net.get_params() and net.compile is False
    # sklearn parameter, stored as given
    assert clone(clf).get_params()["compile"] == EAGER
    assert clone(clf).set_params(compile=True).compile is True
    # pickle (and deepcopy): the wrapper is dropped and rebuilt on first use
    for restored in (pickle.loads(pickle.dumps(clf)), copy.deepcopy(clf)):
        assert "_compiled_forward_" not in restored.net_.__dict__
        np.testing.assert_allclose(restored.predict_proba(X), expected, atol=1e-6)
        assert restored.net_.__dict__["_compiled_forward_"][0] is restored.net_.module_
    # safe format: compile is a JSON value of the config, and the loaded model compiles
    path = clf.save(tmp_path / "m.skfer")
    with zipfile.ZipFile(path) as zf:
        assert "compile" in json.loads(zf.read("nets/0/config.json"))["params"]
    loaded = load_model(path)
    assert loaded.compile == EAGER and loaded.net_.compile_forward == EAGER
    np.testing.assert_allclose(loaded.predict_proba(X), expected, atol=1e-6)
    assert "_compiled_forward_" in loaded.net_.__dict__
    # pretrained= reads the plain state dict of a compiled model
    tuned = CNNClassifier(**{**params, "max_epochs": 1}, pretrained=str(path)).fit(X, y)
    assert tuned.n_pretrained_ > 0


def test_compile_backend_runs_training_and_prediction(tmp_path):
    """Every forward pass (training, validation, prediction) runs the compiled
    callable: a backend that records each call of its code sees them all (an
    LSTM net, which dynamo splits around the recurrent layers)."""
    calls = []

    def recording_backend(gm, example_inputs):
        def run(*args):
            calls.append(torch.is_grad_enabled())
            return gm.forward(*args)

        return run

    X, y = stripes(40, size=8)
    params = dict(hidden_sizes=(8,), max_epochs=2, **FAST)
    clf = RNNClassifier(**params, compile={"backend": recording_backend}).fit(X, y)
    assert True in calls and False in calls  # training and validation steps
    n_fit = len(calls)
    expected = RNNClassifier(**params).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-6)
    assert len(calls) > n_fit and not any(calls[n_fit:])  # prediction, without grad
    # a callable backend has no JSON form: saved as None (compilation off)
    with pytest.warns(UserWarning, match=r"parameters \['compile'\]"):
        path = clf.save(tmp_path / "m.skfer")
    loaded = load_model(path)
    assert loaded.compile is None and loaded.net_.forward_module() is loaded.net_.module_
    np.testing.assert_allclose(loaded.predict_proba(X), expected, atol=1e-6)


@pytest.mark.parametrize("value, match", [
    # the type, by sklearn's constraints
    ("yes", "The 'compile' parameter of NAME must be an instance of 'bool', an instance "
            "of 'dict' or None"),
    (1, "The 'compile' parameter of NAME must be an instance of 'bool', an instance "
        "of 'dict' or None"),
    # the dict's keys and values, by code
    ({"nope": 1}, r"NAME: compile has unknown keys \['nope'\]"),
    ({"mode": 3}, r"NAME: compile\['mode'\] must be a str"),
    ({"backend": 3}, r"NAME: compile\['backend'\] must be a backend name"),
])
def test_compile_param_errors(value, match):
    X, y = quadrant_blobs(8, size=8)
    for cls in (CNNClassifier, RNNClassifier):
        with pytest.raises(ValueError, match=match.replace("NAME", cls.__name__)):
            cls(compile=value, max_epochs=1, device="cpu").fit(X, y)


def test_check_compile_values():
    from skfer.neural._base import check_compile

    assert check_compile(False, "X") is None and check_compile(None, "X") is None
    assert check_compile(True, "X") == {}
    opts = {"mode": "max-autotune", "dynamic": False}
    assert check_compile(opts, "X") == opts and check_compile(opts, "X") is not opts


def _net_for(clf, device, n_classes=4):
    """The SkferNet that fit would build on ``device`` (built, not initialised:
    nothing touches the device)."""
    clf.input_shape_, clf.device_ = (8, 8, 1), device
    clf.input_mean_, clf.input_std_ = [0.5], [0.25]
    body, kwargs = clf._module_spec(n_classes)
    return clf._make_net(body, kwargs, scale=1 / 255, augment={}, n_classes=n_classes,
                         valid_split=None, criterion_kwargs={})


def test_cuda_settings_resolve_without_a_gpu():
    """The 'auto' defaults of mixed_precision / channels_last follow the
    resolved device; bf16 where the GPU has it, else fp16 with a scaler."""
    cnn = _net_for(CNNClassifier(**TINY_CNN), "cuda")
    assert cnn.device == "cuda" and cnn.mixed_precision and cnn.channels_last
    assert cnn.module__channels_last is True
    with mock.patch("torch.cuda.is_bf16_supported", lambda: True):
        assert cnn._amp_dtype() is torch.bfloat16
    with mock.patch("torch.cuda.is_bf16_supported", lambda: False):
        assert cnn._amp_dtype() is torch.float16
    rnn = _net_for(RNNClassifier(hidden_sizes=(8,)), "cuda")
    assert rnn.mixed_precision and not rnn.channels_last  # no convolutions
    off = _net_for(CNNClassifier(**TINY_CNN, mixed_precision=False, channels_last=False), "cuda")
    assert not off.mixed_precision and not off.channels_last and off._amp_dtype() is None
    cpu = _net_for(CNNClassifier(**TINY_CNN, mixed_precision=True), "cpu")
    assert not cpu.mixed_precision and not cpu.channels_last and cpu._amp_dtype() is None
    # a net that says mixed_precision but runs on the CPU does not autocast
    cnn.set_params(device="cpu")
    assert cnn._amp_dtype() is None
    forced = _net_for(CNNClassifier(**TINY_CNN, channels_last=True), "cpu")
    assert forced.channels_last and forced.module__channels_last


def test_channels_last_trains_on_cpu():
    X, y = quadrant_blobs(40, size=8)
    params = dict(**TINY_CNN, max_epochs=2, **FAST)
    cl = CNNClassifier(**params, channels_last=True).fit(X, y)
    conv = next(m for m in cl.net_.module_.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    plain = CNNClassifier(**params, channels_last=False).fit(X, y)
    np.testing.assert_allclose(cl.predict_proba(X), plain.predict_proba(X), atol=1e-4)


def test_tensor_batches_device_placement():
    """The dataset goes to a CUDA device once, whole, when it fits the
    budget; on the CPU (or without a device) batches are sliced in place."""
    from torch.utils.data import Subset

    from skfer.neural import _data
    from skfer.neural._data import ArrayDataset, TensorBatches

    ds = ArrayDataset(torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.arange(10))
    for device in ("cpu", None):
        it = TensorBatches(ds, batch_size=4, device=device)
        assert it.X is ds.X and it.y is ds.y  # no copy
    moved = []

    def fake_to(self, *args, **kwargs):  # records the move instead of needing a GPU
        moved.append(str(args[0]))
        return self

    with mock.patch.object(torch.Tensor, "to", fake_to):
        TensorBatches(ds, batch_size=4, device="cuda")
        assert moved == ["cuda", "cuda"]  # X and y, once
        moved.clear()
        TensorBatches(Subset(ds, [1, 3, 5]), batch_size=4, device="cuda:1")
        assert moved == ["cuda:1", "cuda:1"]
        moved.clear()
        with mock.patch.object(_data, "_MAX_DEVICE_BYTES", 159):  # 10 x 16 bytes
            TensorBatches(ds, batch_size=4, device="cuda")
        assert moved == []  # too large: stays in host memory
        TensorBatches(ds, batch_size=4, device="cpu")
        assert moved == []
    # skorch's net hands its device to the iterator
    net = _net_for(CNNClassifier(**TINY_CNN), "cpu")
    it = net.get_iterator(ds, training=True)
    assert isinstance(it, TensorBatches) and it.X.device.type == "cpu" and it.shuffle


def test_max_time_stops_training_after_the_budget():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (64, 8, 8), dtype=np.uint8)
    y = np.arange(64) % 2
    clf = CNNClassifier(architecture="simple", module__channels=(4,), max_epochs=50,
                        max_time=1e-6, random_state=0).fit(X, y)
    assert len(clf.net_.history) == 1
    assert clf.net_.history[-1, "stopped_by_time_budget"]
    assert clf.predict(X).shape == (64,)
    for bad in (0, -1, "1h"):
        with pytest.raises(ValueError, match=r"'max_time' parameter of CNNClassifier must be "
                                             r"a float in the range \(0.0, inf\) or None"):
            CNNClassifier(max_time=bad).fit(X, y)


def test_pretrained_copies_every_weight_but_the_output_layer(tmp_path):
    X, y = quadrant_blobs(60, size=8)
    source = CNNClassifier(**TINY_CNN, max_epochs=3, random_state=0).fit(X, y)
    path = source.save(tmp_path / "source.skfer")
    # Other class names, same number of classes: the output layer must not be copied.
    y_other = np.array(["p", "q", "r", "s"])[np.asarray(y) % 4]
    tuned = CNNClassifier(**TINY_CNN, max_epochs=1, lr=1e-12, optimizer="sgd",
                          pretrained=str(path), random_state=1).fit(X, y_other)
    src = source.net_.module_.state_dict()
    new = tuned.net_.module_.state_dict()
    convs = [k for k in src if k.startswith("body.features") and k.endswith("weight")]
    assert convs and tuned.n_pretrained_ >= len(convs)
    for k in convs:
        torch.testing.assert_close(new[k], src[k], atol=1e-6, rtol=0)
    out = [k for k in src if k.startswith("body.head") and k.endswith("weight")][-1]
    assert src[out].shape == new[out].shape
    assert not torch.allclose(new[out], src[out])
    scratch = CNNClassifier(**TINY_CNN, max_epochs=1, random_state=1).fit(X, y_other)
    assert scratch.n_pretrained_ == 0


def test_pretrained_errors(tmp_path):
    X, y = quadrant_blobs(40, size=8)
    with pytest.raises(FileNotFoundError, match="no saved model"):
        CNNClassifier(**TINY_CNN, max_epochs=1, pretrained=str(tmp_path / "none.zip")).fit(X, y)
    with pytest.raises(ValueError, match=r"'pretrained' parameter of CNNClassifier must be "
                                         r"an instance of 'str', an instance of 'os.PathLike' "
                                         r"or None"):
        CNNClassifier(**TINY_CNN, max_epochs=1, pretrained=object()).fit(X, y)
    # an estimator instead of its file: told to save it first
    with pytest.raises(ValueError, match=r"pretrained must be None or the path.*save it first"):
        CNNClassifier(**TINY_CNN, max_epochs=1, pretrained=CNNClassifier()).fit(X, y)
    rnn = RNNClassifier(hidden_sizes=(4,), max_epochs=1, random_state=0).fit(X, y)
    path = rnn.save(tmp_path / "rnn.skfer")
    with pytest.raises(ValueError, match="no weight of the pretrained model"):
        CNNClassifier(**TINY_CNN, max_epochs=1, pretrained=str(path)).fit(X, y)


def test_test_time_flip_averages_image_and_mirror():
    X, y = quadrant_blobs(60, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=2, random_state=0).fit(X, y)
    plain = clf.predict_proba(X)
    mirror = clf.predict_proba(X[:, :, ::-1])
    clf.set_params(test_time_flip=True)
    np.testing.assert_allclose(clf.predict_proba(X), (plain + mirror) / 2, atol=1e-6)
    # quadrant blobs are not mirror-symmetric: the average must differ from either
    assert not np.allclose(clf.predict_proba(X), plain)
    with pytest.raises(ValueError, match=r"'test_time_flip' parameter of CNNClassifier must "
                                         r"be an instance of 'bool'\. Got 'yes'"):
        CNNClassifier(test_time_flip="yes").fit(X, y)


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_predict_proba_fast_path_matches_skorch(batch_size):
    """predict_proba bypasses skorch's inference loop; it must give what skorch
    gives, for any batch size, with flip averaging done in the same pass."""
    X, y = quadrant_blobs(45, size=8)
    clf = CNNClassifier(**TINY_CNN, max_epochs=2, batch_size=batch_size,
                        random_state=0).fit(X, y)
    X_t = clf._predict_tensor(X)
    expected = clf.net_.predict_proba(X_t)
    np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-6)
    mirror = clf.net_.predict_proba(torch.flip(X_t, dims=[-1]))
    clf.set_params(test_time_flip=True)
    np.testing.assert_allclose(clf.predict_proba(X), (expected + mirror) / 2, atol=1e-6)
    assert clf.predict_proba(X[:1]).shape == (1, len(clf.classes_))
    assert not clf.net_.module_.training
