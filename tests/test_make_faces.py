"""Tests of the synthetic face generator ``make_faces``."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from skfer import FER2013_CLASSES
from skfer.datasets import make_faces


@pytest.fixture(scope="module")
def faces():
    return make_faces(700, random_state=0)


def test_shapes_dtypes_and_fields(faces):
    assert faces.images.shape == (700, 48, 48)
    assert faces.images.dtype == np.uint8
    assert faces.target.shape == (700,) and faces.target.dtype.kind == "i"
    assert faces.target_names == list(FER2013_CLASSES)
    assert faces.groups.shape == (700,)
    assert faces.split is None
    assert "synthetic" in faces.DESCR.lower() and "NOT REAL FACES" in faces.DESCR
    assert "SYNTHETIC" in make_faces.__doc__


def test_classes_balanced_and_groups_spread(faces):
    counts = np.bincount(faces.target, minlength=7)
    assert counts.min() == 100 and counts.max() == 100
    subjects, per_subject = np.unique(faces.groups, return_counts=True)
    assert subjects.tolist() == [f"synth{i:02d}" for i in range(20)]
    assert per_subject.min() == per_subject.max() == 35
    # each subject shows several expressions
    for s in subjects[:5]:
        assert len(set(faces.target[faces.groups == s])) >= 4


def test_images_use_the_grey_range(faces):
    assert faces.images.min() < 40 and faces.images.max() > 215
    assert 60 < faces.images.mean() < 200
    # not duplicates of one another
    flat = faces.images.reshape(700, -1)
    assert len(np.unique(flat, axis=0)) == 700


def test_deterministic_for_a_seed():
    a = make_faces(50, random_state=7)
    b = make_faces(50, random_state=7)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.target, b.target)
    np.testing.assert_array_equal(a.groups, b.groups)
    c = make_faces(50, random_state=8)
    assert not np.array_equal(a.images, c.images)
    d = make_faces(50, random_state=np.random.RandomState(7))
    np.testing.assert_array_equal(a.images, d.images)


@pytest.mark.parametrize("size", [16, 32, 64, 96])
def test_image_size(size):
    data = make_faces(14, image_size=size, random_state=0)
    assert data.images.shape == (14, size, size)
    assert data.images.dtype == np.uint8


def test_class_subset_in_fer2013_order():
    data = make_faces(30, classes=["sad", "happy", 0], n_subjects=4, random_state=0)
    assert data.target_names == ["angry", "happy", "sad"]
    assert np.bincount(data.target).tolist() == [10, 10, 10]
    assert sorted(set(data.groups)) == ["synth00", "synth01", "synth02", "synth03"]
    one = make_faces(3, classes="surprise", random_state=0)
    assert one.target_names == ["surprise"] and one.target.tolist() == [0, 0, 0]


def test_noise_parameter():
    clean = make_faces(20, noise=0.0, random_state=0)
    noisy = make_faces(20, noise=30.0, random_state=0)
    diff = noisy.images.astype(float) - clean.images.astype(float)
    assert 15 < diff.std() < 40
    assert clean.images.shape == noisy.images.shape


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"image_size": 8}, "image_size"),
        ({"n_subjects": 0}, "n_subjects"),
        ({"noise": -1}, "noise"),
        ({"classes": ["happy", "bored"]}, "Unknown class 'bored'"),
        ({"classes": [9]}, "not in 0..6"),
        ({"classes": ["sad", "sad"]}, "twice"),
        ({"classes": []}, "empty"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_faces(**kwargs)


def test_expressions_are_learnable_across_subjects(faces):
    """PCA + SVM on raw pixels, tested on unseen subjects, is far above chance.

    This fails if the drawing of the expressions carries no class signal (or
    if the nuisance factors swamp it): chance is 1/7 = 0.14. The generator
    scores about 0.78 here.
    """
    X = faces.images.reshape(len(faces.images), -1)
    model = make_pipeline(PCA(30, random_state=0), SVC())
    y_shuffled = np.random.default_rng(0).permutation(faces.target)
    # one BLAS thread: small matrices, and busy BLAS threads crawl on a loaded machine
    with threadpool_limits(limits=1):
        scores = cross_val_score(
            model, X, faces.target, cv=GroupKFold(3), groups=faces.groups
        )
        # and the same pipeline on shuffled labels is near chance
        chance = cross_val_score(
            model, X, y_shuffled, cv=GroupKFold(3), groups=faces.groups
        )
    assert scores.mean() > 0.65, scores
    assert chance.mean() < 0.3, chance


def test_not_trivially_separable(faces):
    """A nearest-centroid rule on raw pixels is clearly below perfect."""
    from sklearn.neighbors import NearestCentroid

    X = faces.images.reshape(len(faces.images), -1).astype(np.float32)
    with threadpool_limits(limits=1):
        scores = cross_val_score(
            NearestCentroid(), X, faces.target, cv=GroupKFold(3), groups=faces.groups
        )
    assert scores.mean() < 0.95
