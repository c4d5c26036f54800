"""Training the deep estimators on vote distributions: ``fit(X, y, votes=V)``."""

import pickle
import time
import warnings

import numpy as np
import pytest
import torch
from conftest import data_path
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skfer.datasets import load_fer2013, load_ferplus
from skfer.neural import CNNClassifier, RNNClassifier
from skfer.neural._data import check_votes, hard_targets

FAST = dict(batch_size=32, augment=False, random_state=0, device="cpu")
TINY_CNN = dict(architecture="simple", module__channels=(8, 16), module__hidden=(32,),
                module__dropout=0.0)


def stripes(n, size=12, seed=0):
    """2 classes: horizontal vs vertical stripes with random period and phase."""
    rng = np.random.default_rng(seed)
    y = np.array(["horizontal", "vertical"] * (n // 2))
    yy, xx = np.mgrid[:size, :size]
    X = np.empty((n, size, size), np.float32)
    for i, label in enumerate(y):
        coord = yy if label == "horizontal" else xx
        X[i] = 128 + 90 * np.sin(2 * np.pi * coord / rng.uniform(3, 5) + rng.uniform(0, 6.3))
    X += rng.normal(0, 15, X.shape)
    return np.clip(X, 0, 255).astype(np.uint8), y


def quadrant_blobs(n, size=8, seed=0):
    """4 classes: which quadrant holds a bright blob."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    X = rng.normal(40, 12, (n, size, size))
    half = size // 2
    for i, k in enumerate(y):
        r, c = (k // 2) * half + rng.integers(0, half - 2), (k % 2) * half + rng.integers(0, half - 2)
        X[i, r : r + 2, c : c + 2] += 160
    return np.clip(X, 0, 255).astype(np.uint8), y


# the crowd's votes on the stripes: 80/20 on horizontal images, 30/70 on vertical
_SHARES = {"horizontal": [0.8, 0.2], "vertical": [0.3, 0.7]}


def stripe_votes(y):
    return np.array([_SHARES[label] for label in y])


# --------------------------------------------------------------------------
# learning
# --------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: CNNClassifier(**TINY_CNN, max_epochs=15, lr=3e-3, **FAST),
    lambda: RNNClassifier(hidden_sizes=(32,), max_epochs=15, lr=1e-2, **FAST),
], ids=["cnn", "rnn"])
def test_soft_targets_are_learnt(make):
    """Cross-entropy against a distribution is minimised by predicting it:
    the net's probabilities approach the votes (hard labels would push them
    towards 1), and the majority label is still predicted."""
    X, y = stripes(240, seed=0)
    X_test, y_test = stripes(100, seed=1)
    clf = make().fit(X, y, votes=stripe_votes(y))
    assert clf.classes_.tolist() == ["horizontal", "vertical"]
    assert clf.score(X_test, y_test) >= 0.9
    proba = clf.predict_proba(X_test)
    for label, share in _SHARES.items():
        np.testing.assert_allclose(proba[y_test == label].mean(axis=0), share, atol=0.08)
    hard = make().fit(X, y)
    assert hard.predict_proba(X_test).max(axis=1).mean() > 0.9  # the contrast
    losses = clf.net_.history[:, "train_loss"]
    assert losses[-1] < losses[0]


def test_one_hot_votes_train_as_labels():
    X, y = quadrant_blobs(96)
    one_hot = np.eye(4)[y]
    soft = CNNClassifier(**TINY_CNN, max_epochs=3, **FAST).fit(X, y, votes=one_hot)
    hard = CNNClassifier(**TINY_CNN, max_epochs=3, **FAST).fit(X, y)
    np.testing.assert_allclose(
        soft.net_.history[:, "train_loss"], hard.net_.history[:, "train_loss"], rtol=1e-4
    )
    np.testing.assert_allclose(
        soft.net_.history[:, "valid_acc"], hard.net_.history[:, "valid_acc"]
    )
    np.testing.assert_allclose(soft.predict_proba(X), hard.predict_proba(X), atol=1e-4)


def test_votes_learn_what_labels_do_not_say():
    """y carries no information here (shuffled), the votes all of it: the net
    must learn from the votes."""
    X, y = quadrant_blobs(240)
    X_test, y_test = quadrant_blobs(120, seed=1)
    votes = 0.1 + 0.6 * np.eye(4)[y]
    y_noise = np.random.default_rng(0).permutation(y)
    clf = CNNClassifier(**TINY_CNN, max_epochs=12, lr=3e-3, **FAST)
    clf.fit(X, y_noise, votes=votes)
    assert clf.score(X_test, y_test) >= 0.85
    assert clf.score(X, y_noise) < 0.5  # the score is against y, as documented


def test_validation_split_with_votes():
    X, y = quadrant_blobs(100)
    votes = 0.1 + 0.6 * np.eye(4)[y]
    clf = CNNClassifier(**TINY_CNN, max_epochs=3, validation_fraction=0.2, **FAST)
    clf.fit(X, y, votes=votes)
    history = clf.net_.history
    assert "valid_loss" in history[-1] and 0 <= history[-1, "valid_acc"] <= 1
    assert history[-1, "valid_batch_count"] == 1
    # valid_acc is scored against the most voted class of the held-out rows
    soft = torch.from_numpy(votes.astype(np.float32))
    _, valid = clf.net_.train_split(clf.net_.get_dataset(torch.zeros(100, 1, 8, 8), soft), soft)
    held_out = np.asarray(valid.indices)
    assert len(held_out) == 20
    assert np.bincount(y[held_out], minlength=4).tolist() == [5, 5, 5, 5]  # stratified
    pred = clf.predict(X[held_out])
    assert history[-1, "valid_acc"] == pytest.approx(np.mean(pred == y[held_out]), abs=1e-6)
    # early stopping monitors the soft valid_loss
    clf = CNNClassifier(**TINY_CNN, max_epochs=4, early_stopping=True, patience=1, **FAST)
    clf.fit(X, y, votes=votes)
    assert np.isfinite(clf.net_.history[:, "valid_loss"]).all()
    # no split at all
    clf = CNNClassifier(**TINY_CNN, max_epochs=1, validation_fraction=None, **FAST)
    assert "valid_loss" not in clf.fit(X, y, votes=votes).net_.history[-1]


def test_label_smoothing_and_class_weight_combine_with_votes():
    """torch's cross-entropy with probability targets: smoothing mixes each
    distribution with the uniform one, weights scale each class's term, and
    the batch mean divides by the number of samples."""
    X, y = quadrant_blobs(80)
    y = np.array(["a", "b", "c", "d"])[y]
    votes = np.random.default_rng(0).dirichlet(np.ones(4), 80)
    clf = CNNClassifier(**TINY_CNN, max_epochs=2, label_smoothing=0.2,
                        class_weight={"a": 3.0, "d": 0.5}, **FAST).fit(X, y, votes=votes)
    assert np.isfinite(clf.net_.history[:, "train_loss"]).all()
    criterion = clf.net_.criterion_
    np.testing.assert_allclose(criterion.weight.numpy(), [3.0, 1.0, 1.0, 0.5])
    logits = torch.randn(5, 4)
    target = torch.from_numpy(votes[:5].astype(np.float32))
    smoothed = 0.8 * target + 0.2 / 4
    expected = -(criterion.weight * smoothed * torch.log_softmax(logits, 1)).sum(1).mean()
    torch.testing.assert_close(criterion(logits, target), expected)
    balanced = CNNClassifier(**TINY_CNN, max_epochs=1, class_weight="balanced", **FAST)
    assert np.isfinite(balanced.fit(X, y, votes=votes).net_.history[:, "train_loss"]).all()


def test_soft_trained_estimator_pickles_and_saves(tmp_path):
    X, y = quadrant_blobs(40)
    clf = CNNClassifier(**TINY_CNN, max_epochs=1, **FAST).fit(X, y, votes=np.eye(4)[y])
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), atol=1e-6)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "votes, match",
    [
        (np.full(24, 0.25), r"votes must be 2-D, of shape \(n_samples, n_classes\) = \(24, 4\)"),
        (np.full((23, 4), 0.25), "votes has 23 rows but X has 24 samples"),
        (np.full((24, 3), 1 / 3), r"votes has 3 columns but y has 4 classes \[0, 1, 2, 3\]"),
        (np.full((24, 4), 0.3), r"rows of votes must sum to 1 \(within 0.001\); row 0 sums to 1.2"),
        (np.tile([1.2, -0.2, 0, 0], (24, 1)), r"votes has negative entries \(row 0"),
        (np.where(np.eye(4)[np.arange(24) % 4] > 0, np.nan, 0.0), "votes contains NaN"),
        ([["a"] * 4] * 24, "votes must be a numeric array"),
    ],
)
def test_bad_votes_raise(votes, match):
    X, y = quadrant_blobs(24)
    with pytest.raises(ValueError, match=match):
        CNNClassifier(**TINY_CNN, max_epochs=1, **FAST).fit(X, y, votes=votes)


def test_votes_need_cross_entropy():
    X, y = quadrant_blobs(24)
    with pytest.raises(ValueError, match="votes= trains with the cross-entropy.*loss='mse'"):
        CNNClassifier(**TINY_CNN, max_epochs=1, loss="mse", **FAST).fit(
            X, y, votes=np.eye(4)[y]
        )


def test_check_votes_tolerance_and_renormalisation():
    classes = np.array([0, 1])
    out = check_votes([[0.5, 0.5004], [1, 0]], 2, classes, "Est")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-6)
    with pytest.raises(ValueError, match="row 1 sums to 1.002"):
        check_votes([[0.5, 0.5], [1, 0.002]], 2, classes, "Est")
    assert hard_targets(torch.tensor([[0.2, 0.8], [0.9, 0.1]])).tolist() == [1, 0]
    assert hard_targets(np.array([3, 1])).tolist() == [3, 1]


# --------------------------------------------------------------------------
# routing through Pipeline, cross_validate and GridSearchCV
# --------------------------------------------------------------------------

_SEEN = []


class RecordingCNN(CNNClassifier):
    """Remembers the votes each fit got."""

    def fit(self, X, y, votes=None):
        _SEEN.append((np.asarray(y).copy(), None if votes is None else np.asarray(votes).copy()))
        return super().fit(X, y, votes=votes)


def _pipe():
    return Pipeline([
        ("scale", FunctionTransformer()),
        ("clf", RecordingCNN(**TINY_CNN, max_epochs=1, validation_fraction=None, **FAST)),
    ])


def _row_votes(n):
    """Random distinct distributions, so that each row can be told apart."""
    return np.random.default_rng(0).dirichlet(np.ones(4), n)


def test_pipeline_routes_votes():
    X, y = quadrant_blobs(48)
    votes = _row_votes(48)
    _SEEN.clear()
    pipe = _pipe().fit(X, y, clf__votes=votes)
    assert len(_SEEN) == 1
    np.testing.assert_array_equal(_SEEN[0][1], votes)
    assert pipe.score(X, y) >= 0  # scoring uses y


def test_cross_validate_slices_votes_per_fold():
    X, y = quadrant_blobs(48)
    votes = _row_votes(48)
    cv = KFold(3, shuffle=True, random_state=0)
    _SEEN.clear()
    result = cross_validate(_pipe(), X, y, cv=cv, params={"clf__votes": votes})
    assert len(result["test_score"]) == 3
    assert len(_SEEN) == 3
    for (train, _), (y_seen, v_seen) in zip(cv.split(X, y), _SEEN, strict=True):
        np.testing.assert_array_equal(y_seen, y[train])
        np.testing.assert_array_equal(v_seen, votes[train])


def test_grid_search_slices_votes_per_fold():
    X, y = quadrant_blobs(48)
    votes = _row_votes(48)
    cv = KFold(2, shuffle=True, random_state=0)
    _SEEN.clear()
    search = GridSearchCV(_pipe(), {"clf__lr": [1e-3, 3e-3]}, cv=cv)
    search.fit(X, y, clf__votes=votes)
    assert len(_SEEN) == 2 * 2 + 1  # every candidate on every fold, then the refit
    folds = [train for train, _ in cv.split(X, y)]
    for i, (y_seen, v_seen) in enumerate(_SEEN[:-1]):
        np.testing.assert_array_equal(v_seen, votes[folds[i % 2]])
        np.testing.assert_array_equal(y_seen, y[folds[i % 2]])
    np.testing.assert_array_equal(_SEEN[-1][1], votes)  # the refit on all rows


def test_cv_fold_missing_a_class_names_the_fix():
    X, y = quadrant_blobs(24)
    y = np.where(np.arange(24) == 0, 4, y)  # class 4 on one row only
    votes = np.eye(5)[y]
    with warnings.catch_warnings(), pytest.raises(
        ValueError, match="votes has 5 columns but y has 4 classes.*every training fold"
    ):
        warnings.simplefilter("ignore")  # sklearn warns of the class missing in a fold
        cross_validate(_pipe(), X, y, cv=KFold(3), params={"clf__votes": votes},
                       error_score="raise")


# --------------------------------------------------------------------------
# real data: a small net on a slice of FER+
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ferplus_real(skfer_data):
    fer = load_fer2013(data_path(skfer_data, "fer2013", "fer2013.csv.gz"))
    plus = data_path(skfer_data, "ferplus", "fer2013new.csv")
    return load_ferplus(fer, plus, mode="reference_majority")


def test_real_ferplus_soft_labels_learn(ferplus_real):
    data = ferplus_real
    train = np.flatnonzero(data.split == "Training")[:2000]
    test = np.flatnonzero(data.split == "PublicTest")
    clf = CNNClassifier(architecture="simple", module__channels=(16, 32),
                        module__hidden=(64,), module__dropout=0.2, max_epochs=6, lr=2e-3,
                        validation_fraction=None, batch_size=64, augment=False,
                        random_state=0, device="cpu")
    start = time.process_time()  # CPU time: the shared box's load does not count
    clf.fit(data.images[train], data.target[train], votes=data.votes[train])
    seconds = time.process_time() - start
    assert seconds < 60, f"training took {seconds:.0f} s of CPU"
    accuracy = clf.score(data.images[test], data.target[test])
    chance = np.bincount(data.target[test]).max() / len(test)  # always 'neutral'
    assert chance == pytest.approx(0.37, abs=0.01)
    assert accuracy > chance + 0.1, (accuracy, chance)
