"""Tests of skfer.explain: Grad-CAM, saliency, overlays and plots.

The maps are checked for what they point at, not only for their shapes: a
net trained on synthetic faces (expressions drawn by the mouth, eyes and
brows) must put its Grad-CAM and saliency mass on those features, and a
net trained to find a bright blob must put its heat on the blob.
"""

import copy
import sys

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from skfer.datasets import make_faces
from skfer.explain import grad_cam, overlay, plot_explanation, saliency
from skfer.neural import CNNClassifier, RNNClassifier, SequenceClassifier
from skfer.preprocessing import Resize

FACE = 32  # side of the synthetic faces
FACE_CLASSES = ["angry", "happy", "sad", "surprise"]


def _fit_faces():
    torch.set_num_threads(1)
    train = make_faces(400, image_size=FACE, classes=FACE_CLASSES, random_state=0)
    test = make_faces(120, image_size=FACE, classes=FACE_CLASSES, random_state=1)
    clf = CNNClassifier(
        architecture="simple",
        module__channels=(8, 16),
        module__hidden=(32,),
        max_epochs=15,
        lr=3e-3,
        augment=False,
        validation_fraction=None,
        random_state=0,
    ).fit(train.images, train.target)
    return clf, test


@pytest.fixture(scope="module")
def faces_model():
    """A small CNN trained on synthetic faces (~0.98 held out), and held-out faces."""
    return _fit_faces()


def _regions(size):
    """Boolean masks of regions of ``make_faces`` images.

    The faces fill the frame (see skfer.datasets._synthetic): the eyes and
    brows lie in rows 0.22-0.50 of the side, the mouth in rows 0.68-0.90;
    the corners (20% squares) hold hair, the face outline and background.
    """
    rows, cols = (np.mgrid[:size, :size] + 0.5) / size
    mouth = (rows >= 0.68) & (rows < 0.90) & (cols >= 0.25) & (cols < 0.75)
    brows = (rows >= 0.22) & (rows < 0.50) & (cols >= 0.15) & (cols < 0.85)
    corners = ((rows < 0.2) | (rows >= 0.8)) & ((cols < 0.2) | (cols >= 0.8))
    return mouth, brows, corners


# --------------------------------------------------------------------------
# the maps point at the expression
# --------------------------------------------------------------------------
# Measured with this set-up (torch 2.13, CPU): saliency puts 55% of its mass
# in the mouth and eye/brow boxes (29% of the image), 4.0x hotter there than
# in the corners, every face above 2x; Grad-CAM (8x8 cells, upsampled) is
# 1.9x hotter there than in the corners, 93% of the faces hotter there. A
# random map gives 29% and 1x; the thresholds leave a margin of about 1/3.


def test_faces_model_is_accurate(faces_model):
    clf, test = faces_model
    assert clf.score(test.images, test.target) >= 0.9


def test_saliency_concentrates_on_mouth_eyes_and_brows(faces_model):
    clf, test = faces_model
    maps = saliency(clf, test.images)
    mouth, brows, corners = _regions(FACE)
    expression = mouth | brows
    assert expression.mean() < 0.31
    share = maps[:, expression].sum(axis=1) / maps.sum(axis=(1, 2))
    assert share.mean() > 0.45
    inside, outside = maps[:, expression].mean(axis=1), maps[:, corners].mean(axis=1)
    assert inside.mean() > 2.5 * outside.mean()
    assert np.mean(inside > 2 * outside) > 0.9


def test_grad_cam_concentrates_on_mouth_eyes_and_brows(faces_model):
    clf, test = faces_model
    maps = grad_cam(clf, test.images)
    mouth, brows, corners = _regions(FACE)
    inside, outside = maps[:, mouth | brows].mean(axis=1), maps[:, corners].mean(axis=1)
    assert inside.mean() > 1.4 * outside.mean()
    assert np.mean(inside > outside) > 0.8


def test_mouth_dominates_smile_and_frown(faces_model):
    """happy vs sad is drawn mostly by the mouth corners (up or down)."""
    clf, test = faces_model
    smile_frown = np.isin(test.target, [FACE_CLASSES.index("happy"), FACE_CLASSES.index("sad")])
    maps = saliency(clf, test.images[smile_frown])
    mouth, brows, corners = _regions(FACE)
    assert maps[:, mouth].mean() > 1.4 * maps[:, brows].mean()  # measured 1.8x
    assert maps[:, mouth].mean() > 4 * maps[:, corners].mean()  # measured 7x


def test_grad_cam_finds_the_open_mouth(faces_model):
    """surprise is drawn by a round open mouth (and high brows, wide eyes)."""
    clf, test = faces_model
    maps = grad_cam(clf, test.images[test.target == FACE_CLASSES.index("surprise")])
    mouth, _, corners = _regions(FACE)
    assert maps[:, mouth].mean() > 1.6 * maps[:, corners].mean()  # measured 2.3x


def _bars(n, size=16, seed=0):
    """Class = a bright bar's direction (2x6 or 6x2), at a random place.

    Both classes have the same pixel statistics, so only the bar can tell
    them apart and an explanation must point at it.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(100, 15, (n, size, size))
    centre = np.empty((n, 2))
    for i, k in enumerate(y):
        h, w = (2, 6) if k else (6, 2)
        r, c = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
        X[i, r : r + h, c : c + w] += 110
        centre[i] = r + (h - 1) / 2, c + (w - 1) / 2
    return np.clip(X, 0, 255).astype(np.uint8), y, centre


def test_maps_find_the_bar():
    X, y, _ = _bars(240)
    clf = CNNClassifier(
        architecture="simple", module__channels=(4, 8), module__hidden=(16,),
        max_epochs=12, lr=1e-2, augment=False, validation_fraction=None, random_state=0,
    ).fit(X, y)
    X_test, y_test, centre = _bars(60, seed=1)
    assert clf.score(X_test, y_test) > 0.95
    rows, cols = np.mgrid[:16, :16]
    # 8x8 box around the bar: a quarter of the image. Measured over 4 seeds:
    # Grad-CAM 0.55-0.72 of the mass there, peak within 4 px for 89-100% of
    # the images; saliency 0.37-0.50.
    for maps, least in ((grad_cam(clf, X_test), 0.4), (saliency(clf, X_test), 0.3)):
        box = (np.abs(rows - centre[:, 0, None, None]) <= 3.5) & (
            np.abs(cols - centre[:, 1, None, None]) <= 3.5
        )
        share = (maps * box).sum(axis=(1, 2)) / maps.sum(axis=(1, 2))
        assert share.mean() > least
    maps = grad_cam(clf, X_test)
    peak = np.array(np.unravel_index(maps.reshape(len(maps), -1).argmax(1), (16, 16))).T
    assert np.mean(np.abs(peak - centre).max(axis=1) <= 4) > 0.75


# --------------------------------------------------------------------------
# every architecture: shapes, ranges, default layer
# --------------------------------------------------------------------------

TINY = {
    "simple": {"module__channels": (4, 8), "module__hidden": (8,)},
    # three pooling blocks, so that 16x16 input leaves a 2x2 map at the end
    "vgg": {"module__channels": (4, 8, 8), "module__convs_per_block": 1,
            "module__hidden": (8,)},
    "resnet": {"module__channels": (4, 4, 8, 8), "module__blocks": (1, 1, 1, 1)},
    "mini_xception": {"module__base_channels": 4, "module__channels": (4, 8, 8)},
}
DEFAULT_LAYER = {"simple": "features", "vgg": "features", "resnet": "stages",
                 # not its 3x3 conv head to the classes: the features it reads
                 "mini_xception": "blocks"}


def _tiny_data(n=24, size=16, channels=None, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n, size, size) if channels is None else (n, size, size, channels)
    X = rng.integers(0, 255, shape).astype(np.uint8)
    y = np.array(["happy", "sad", "angry"] * (n // 3))
    return X, y


def _tiny(architecture, X, y, **params):
    params = {"max_epochs": 1, "validation_fraction": None, "random_state": 0,
              **TINY[architecture], **params}
    return CNNClassifier(architecture=architecture, **params).fit(X, y)


@pytest.fixture(scope="module", params=sorted(TINY))
def tiny(request):
    torch.set_num_threads(1)
    X, y = _tiny_data()
    return request.param, _tiny(request.param, X, y), X


def test_shapes_and_ranges_every_architecture(tiny):
    architecture, clf, X = tiny
    for maps in (grad_cam(clf, X[:5]), saliency(clf, X[:5])):
        assert maps.shape == (5, 16, 16)
        assert maps.dtype == np.float32
        assert np.isfinite(maps).all()
        assert maps.min() >= 0 and maps.max() <= 1
        # each map is normalised to a maximum of 1 (or is all zeros)
        assert set(np.round(maps.max(axis=(1, 2)), 6)) <= {0.0, 1.0}
    assert saliency(clf, X[:5]).max(axis=(1, 2)).min() == 1.0


def test_default_layer_every_architecture(tiny):
    architecture, clf, X = tiny
    expected = grad_cam(clf, X[:4], layer=DEFAULT_LAYER[architecture])
    np.testing.assert_allclose(grad_cam(clf, X[:4]), expected, atol=1e-6)
    # "body." prefix accepted too
    np.testing.assert_allclose(
        grad_cam(clf, X[:4], layer="body." + DEFAULT_LAYER[architecture]), expected, atol=1e-6
    )


def test_default_layer_skips_1x1_maps():
    """Four halvings take 16x16 to 1x1, a map without a 'where': the default is
    then the last convolution whose output is larger (2x2, inside the last module)."""
    X, y = _tiny_data()
    clf = _tiny("mini_xception", X, y, module__channels=(4, 4, 8, 8))
    maps = grad_cam(clf, X[:3])
    np.testing.assert_allclose(maps, grad_cam(clf, X[:3], layer="blocks.3.body.3"), atol=1e-6)
    # the 1x1 classifier map, asked for by name, is flat
    flat = grad_cam(clf, X[:3], layer="classifier")
    assert np.ptp(flat, axis=(1, 2)).max() < 1e-5


def test_pretrained_model_smile_is_explained_by_the_lower_face():
    """The shipped model says 'happy' for the smiling astronaut; Grad-CAM and
    saliency must put most of that evidence on the mouth half of the crop
    (with the conv head as the layer, the map sat on the forehead)."""
    from skimage import data

    from skfer import pretrained

    model = pretrained.load()
    photo = data.astronaut()
    assert model.predict([photo])[0] == "happy"
    cam = grad_cam(model, [photo])[0]
    sal = saliency(model, [photo])[0]
    assert cam.shape == sal.shape == (48, 48)
    assert cam[24:].sum() / cam.sum() > 0.7
    assert sal[24:].sum() / sal.sum() > 0.45


def test_leaves_the_net_as_it_was(tiny):
    architecture, clf, X = tiny
    module = clf.net_.module_
    proba = clf.predict_proba(X[:6])
    module.train()
    module.body.pool.eval()  # a mixed state, restored exactly
    modes = {name: m.training for name, m in module.named_modules()}
    for p in module.parameters():
        p.grad = None  # skorch leaves the last training step's gradients
    grad_cam(clf, X[:6])
    saliency(clf, X[:6])
    grad_cam(clf, X[:6], layer=DEFAULT_LAYER[architecture])
    assert {name: m.training for name, m in module.named_modules()} == modes
    for m in module.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
        assert not m._backward_hooks and not m._backward_pre_hooks
    assert all(p.grad is None for p in module.parameters())
    assert all(p.requires_grad for p in module.parameters())
    module.eval()
    np.testing.assert_allclose(clf.predict_proba(X[:6]), proba, atol=1e-6)


def test_rgb_and_flat_input():
    X, y = _tiny_data(channels=3)
    clf = _tiny("simple", X, y)
    assert grad_cam(clf, X[:3]).shape == (3, 16, 16)
    assert saliency(clf, X[:3]).shape == (3, 16, 16)
    flat = X.reshape(len(X), -1)
    clf_flat = _tiny("simple", flat, y, image_shape=(16, 16, 3))
    assert grad_cam(clf_flat, flat[:3]).shape == (3, 16, 16)


def test_float_input_same_as_uint8():
    X, y = _tiny_data()
    clf = _tiny("simple", X, y)
    np.testing.assert_allclose(
        grad_cam(clf, X[:4] / 255.0), grad_cam(clf, X[:4]), atol=1e-5
    )


def test_batches_do_not_change_the_maps():
    X, y = _tiny_data()
    clf = _tiny("resnet", X, y)
    for explain in (grad_cam, saliency):
        np.testing.assert_allclose(
            explain(clf, X[:7], batch_size=2), explain(clf, X[:7]), atol=1e-5
        )


def test_pipeline_maps_have_the_transformed_size():
    X, y = _tiny_data(size=24)
    pipe = make_pipeline(Resize(size=16), CNNClassifier(
        architecture="simple", max_epochs=1, validation_fraction=None, random_state=0,
        **TINY["simple"])).fit(X, y)
    assert grad_cam(pipe, X[:3]).shape == (3, 16, 16)
    assert saliency(pipe, X[:3]).shape == (3, 16, 16)
    np.testing.assert_allclose(
        grad_cam(pipe, X[:3]), grad_cam(pipe[-1], pipe[:-1].transform(X[:3])), atol=1e-6
    )


def test_target_explains_the_asked_class(faces_model):
    clf, test = faces_model
    X = test.images[:6]
    pred = clf.predict(X)
    np.testing.assert_allclose(grad_cam(clf, X), grad_cam(clf, X, target=pred), atol=1e-6)
    np.testing.assert_allclose(saliency(clf, X), saliency(clf, X, target=pred), atol=1e-6)
    other = (pred + 1) % len(FACE_CLASSES)
    assert not np.allclose(grad_cam(clf, X, target=other), grad_cam(clf, X))
    one = grad_cam(clf, X, target=int(clf.classes_[0]))
    np.testing.assert_allclose(one, grad_cam(clf, X, target=[clf.classes_[0]] * 6), atol=1e-6)


def test_string_labels_as_target():
    X, y = _tiny_data()
    clf = _tiny("simple", X, y)
    assert grad_cam(clf, X[:3], target="sad").shape == (3, 16, 16)
    assert saliency(clf, X[:3], target=np.array(["sad", "happy", "sad"])).shape == (3, 16, 16)
    with pytest.raises(ValueError, match=r"target 'surprise' is not one of the classes"):
        grad_cam(clf, X[:3], target="surprise")
    with pytest.raises(ValueError, match=r"array of 3 labels"):
        grad_cam(clf, X[:3], target=["sad", "happy"])


def test_test_time_flip_averages_the_mirror():
    X, y = _tiny_data()
    clf = copy.deepcopy(_tiny("simple", X, y))
    clf.test_time_flip = True
    # the explained prediction is mirror-symmetric, so is its map
    for explain in (grad_cam, saliency):
        maps = explain(clf, X[:4], target="sad")
        mirrored = explain(clf, X[:4, :, ::-1], target="sad")
        np.testing.assert_allclose(mirrored, maps[:, :, ::-1], atol=1e-5)


# --------------------------------------------------------------------------
# other classifiers and errors
# --------------------------------------------------------------------------


def test_saliency_rnn_and_sequences():
    X, y = _tiny_data()
    rnn = RNNClassifier(hidden_sizes=(8,), max_epochs=1, validation_fraction=None,
                        random_state=0).fit(X, y)
    maps = saliency(rnn, X[:3])
    assert maps.shape == (3, 16, 16) and maps.max() == 1.0
    with pytest.raises(TypeError, match=r"needs a convolutional net.*saliency"):
        grad_cam(rnn, X[:3])

    rng = np.random.default_rng(0)
    seqs = rng.integers(0, 255, (12, 3, 8, 8)).astype(np.uint8)
    seq = SequenceClassifier(
        hidden_sizes=(4,), max_epochs=1, validation_fraction=None, random_state=0,
        module__encoder_kwargs={"channels": (4,), "hidden": (8,)},
    ).fit(seqs, np.arange(12) % 2)
    maps = saliency(seq, seqs[:2])
    assert maps.shape == (2, 3, 8, 8)
    assert np.allclose(maps.max(axis=(1, 2, 3)), 1.0)
    with pytest.raises(TypeError, match="saliency"):
        grad_cam(seq, seqs[:2])


def test_errors():
    X, y = _tiny_data()
    with pytest.raises(NotFittedError, match="not fitted yet.*before grad_cam"):
        grad_cam(CNNClassifier(), X)
    with pytest.raises(NotFittedError, match="before saliency"):
        saliency(make_pipeline(Resize(size=16), CNNClassifier()), X)
    svc = SVC().fit(X.reshape(len(X), -1), y)
    with pytest.raises(TypeError, match="explains skfer.neural classifiers.*got SVC"):
        grad_cam(svc, X.reshape(len(X), -1))
    with pytest.raises(TypeError, match="Pipeline whose last step is a SVC"):
        saliency(make_pipeline(Resize(size=16), SVC()), X)
    clf = _tiny("simple", X, y)
    for p in clf.net_.module_.parameters():
        p.grad = None  # skorch leaves the last training step's gradients
    with pytest.raises(ValueError, match=r"fitted on images of shape \(16, 16, 1\)"):
        grad_cam(clf, np.zeros((2, 20, 20), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"fitted on images of shape"):
        saliency(clf, np.zeros((2, 16, 16, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"layer 'conv9' is not a module of SimpleCNN"):
        grad_cam(clf, X[:2], layer="conv9")
    with pytest.raises(ValueError, match=r"layer 'head' returns \(2, 3\)"):
        grad_cam(clf, X[:2], layer="head")
    with pytest.raises(TypeError, match="layer must be None or the name"):
        grad_cam(clf, X[:2], layer=3)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        saliency(clf, X[:2], batch_size=0)
    # nothing left behind by the failed calls either
    for m in clf.net_.module_.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    assert all(p.grad is None for p in clf.net_.module_.parameters())


def test_layer_that_runs_twice_is_refused():
    X, y = _tiny_data()
    clf = _tiny("resnet", X, y)
    # each basic block applies its one ReLU module twice
    with pytest.raises(ValueError, match=r"'stages.0.0.relu' runs 2 times in one forward"):
        grad_cam(clf, X[:2], layer="stages.0.0.relu")
    assert grad_cam(clf, X[:2], layer="stages.0.0").shape == (2, 16, 16)


def test_layer_by_name_and_user_architecture():
    class TwoConvs(torch.nn.Module):
        def __init__(self, n_classes=2, in_channels=1):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(in_channels, 4, 3, padding=1)
            self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4, n_classes)

        def forward(self, x):
            x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
            return self.fc(x.mean(dim=(2, 3)))

    X, y = _tiny_data()
    clf = CNNClassifier(architecture=TwoConvs, max_epochs=1, validation_fraction=None,
                        random_state=0).fit(X, y)
    np.testing.assert_allclose(grad_cam(clf, X[:3]), grad_cam(clf, X[:3], layer="conv2"))
    assert grad_cam(clf, X[:3], layer="conv1").shape == (3, 16, 16)


# --------------------------------------------------------------------------
# overlay and plot
# --------------------------------------------------------------------------


def test_overlay():
    face = np.full((8, 8), 100, dtype=np.uint8)
    heat = np.zeros((8, 8))
    heat[6:, :] = 1.0
    pic = overlay(face, heat, alpha=0.5)
    assert pic.shape == (8, 8, 3) and pic.dtype == np.uint8
    assert pic[7, 0].tolist() == [114, 50, 50]  # jet's 1.0 is dark red (128, 0, 0)
    assert pic[0, 0].tolist() == [50, 50, 114]  # jet's 0.0 is dark blue (0, 0, 128)
    assert (overlay(face, heat, alpha=0.0) == 100).all()
    # float [0, 1] images, RGB, RGBA and (H, W, 1) read as the same picture
    rgb = np.repeat(face[..., None], 3, axis=-1)
    for same in (face / 255.0, rgb, np.dstack([rgb, np.zeros((8, 8))]).astype(np.uint8),
                 face[..., None]):
        np.testing.assert_array_equal(overlay(same, heat, alpha=0.5), pic)
    # a coarse map is resized to the image
    assert overlay(np.zeros((40, 30), np.uint8), np.ones((4, 3))).shape == (40, 30, 3)
    # batches
    batch = overlay(np.stack([face, face]), np.stack([heat, heat]), alpha=0.5)
    assert batch.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(batch[1], pic)
    # a callable colour map (grey levels)
    grey = overlay(face, heat, alpha=1.0, cmap=lambda h: np.dstack([h, h, h]))
    assert grey[7, 0].tolist() == [255, 255, 255] and grey[0, 0].tolist() == [0, 0, 0]


def test_overlay_errors():
    face = np.zeros((8, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match="alpha must be a number in"):
        overlay(face, np.zeros((8, 8)), alpha=2)
    with pytest.raises(ValueError, match="cmap must be one of"):
        overlay(face, np.zeros((8, 8)), cmap="no_such_map")
    with pytest.raises(ValueError, match="heatmap must be"):
        overlay(face, np.zeros(8))
    with pytest.raises(ValueError, match="2 heatmaps needs as many images"):
        overlay(face[None], np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="image must be"):
        overlay(np.zeros((8, 8, 2)), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="NaN"):
        overlay(face, np.full((8, 8), np.nan))


def test_plot_explanation(faces_model):
    plt = pytest.importorskip("matplotlib.pyplot")
    clf, test = faces_model
    fig = plot_explanation(clf, test.images, max_images=3)
    try:
        assert len(fig.axes) == 9
        assert fig.axes[0].get_title().startswith("predicted ")
    finally:
        plt.close(fig)
    fig = plot_explanation(clf, test.images[:2], method="saliency", target=1, cmap="viridis")
    try:
        assert len(fig.axes) == 6
        assert "explaining 1" in fig.axes[0].get_title()
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="method must be"):
        plot_explanation(clf, test.images[:2], method="lime")
    with pytest.raises(ValueError, match="needs method='grad_cam'"):
        plot_explanation(clf, test.images[:2], method="saliency", layer="features")


def test_plot_explanation_without_matplotlib(monkeypatch, faces_model):
    clf, test = faces_model
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'skfer\[plot\]'"):
        plot_explanation(clf, test.images[:2])
    # overlay needs no matplotlib
    assert overlay(test.images[0], np.ones((4, 4))).shape == (FACE, FACE, 3)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    X, y = _tiny_data()
    clf = _tiny("resnet", X, y, device="cuda")
    cpu = copy.deepcopy(clf)
    cpu.net_.module_.to("cpu")
    for explain in (grad_cam, saliency):
        np.testing.assert_allclose(explain(clf, X[:5]), explain(cpu, X[:5]), atol=1e-3)
