"""skfer.io: one safe file for any fitted model (skops + safetensors)."""

import json
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError

from skfer.datasets import make_faces
from skfer.io import _is_trusted_type, load_model, save_model
from skfer.models import make_model
from skfer.neural import CNNClassifier, RNNClassifier

TINY_NET = dict(max_epochs=1, validation_fraction=None, augment=False, batch_size=16)


@pytest.fixture(scope="module")
def faces():
    data = make_faces(n_samples=70, random_state=0)
    names = np.asarray(data.target_names)[data.target]
    return data.images, names


def _same_predictions(a, b, X, *, exact=True):
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    if hasattr(a, "predict_proba"):
        if exact:
            np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
        else:
            np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X),
                                       rtol=1e-4, atol=1e-6)


def _calibrated(model):
    model.steps[-1] = ("calibrated_svc", CalibratedClassifierCV(model.steps[-1][1],
                                                                 cv=3, ensemble=False))
    return model


@pytest.mark.parametrize("spec", ["hog_svm", "hog_svm_calibrated", "pca_lda"])
def test_classical_round_trip(tmp_path, faces, spec):
    X, y = faces
    model = make_model(spec.replace("_calibrated", ""), random_state=0)
    if spec.endswith("_calibrated"):  # as skfer train makes it
        model = _calibrated(model)
    model.fit(X, y)
    path = save_model(model, tmp_path / "m.skfer", metadata={"dataset": "synthetic"})
    assert path == tmp_path / "m.skfer" and zipfile.is_zipfile(path)
    loaded = load_model(path)
    assert [n for n, _ in loaded.steps] == [n for n, _ in model.steps]
    # PCA's float32 components_ come back C-contiguous (as with pickle), which
    # changes BLAS rounding in the last bits of LDA's probabilities.
    _same_predictions(model, loaded, X, exact=spec != "pca_lda")
    manifest = loaded.skfer_manifest_
    assert manifest["kind"] == "classical" and manifest["nets"] == []
    assert manifest["classes"] == sorted(set(y.tolist()))
    assert manifest["metadata"] == {"dataset": "synthetic"}
    assert manifest["skfer_version"] and manifest["created"].endswith("+00:00")
    assert manifest["steps"][-1][1].startswith("sklearn.")


def test_deep_pipeline_round_trip(tmp_path, faces):
    X, y = faces
    model = make_model("cnn:simple", size=16, random_state=0, module__channels=(4,),
                       **TINY_NET).fit(X, y)
    clf = model[-1]
    path = save_model(model, tmp_path / "deep.skfer")
    assert model[-1] is clf and isinstance(clf, CNNClassifier)  # the model is untouched
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    assert {"manifest.json", "model.skops", "nets/0/config.json",
            "nets/0/weights.safetensors"} <= names
    assert not any(n.endswith((".pkl", ".pt", ".pth")) for n in names)
    loaded = load_model(path, device="cpu")
    assert isinstance(loaded[-1], CNNClassifier) and loaded[-1] is not clf
    assert loaded.skfer_manifest_["kind"] == "deep"
    _same_predictions(model, loaded, X)


def test_bare_net_round_trip(tmp_path, faces):
    X, y = faces
    X = X[:, ::4, ::4]  # 12x12
    cnn = CNNClassifier(architecture="simple", module__channels=(4,), random_state=0,
                        **TINY_NET).fit(X, y)
    loaded = load_model(save_model(cnn, tmp_path / "cnn.skfer"))
    assert type(loaded) is CNNClassifier
    _same_predictions(cnn, loaded, X)
    rnn = RNNClassifier(hidden_sizes=(8,), random_state=0, **TINY_NET).fit(X, y)
    loaded = load_model(save_model(rnn, tmp_path / "rnn.skfer"))
    assert type(loaded) is RNNClassifier
    _same_predictions(rnn, loaded, X)


class Outsider(ClassifierMixin, BaseEstimator):
    """An estimator from outside skfer, sklearn and numpy."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.repeat(self.classes_[:1], len(X))


def _tamper(path, obj):
    """Rewrite the skops part of a model file with ``obj``."""
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    files["model.skops"] = sio.dumps(obj)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def test_untrusted_type_refused(tmp_path, faces):
    X, y = faces
    path = save_model(make_model("pca_lda").fit(X, y), tmp_path / "m.skfer")
    _tamper(path, Outsider().fit(X, y))
    name = f"{__name__}.Outsider"
    with pytest.raises(ValueError, match=rf"does not trust: \['{name}'\].*trusted="):
        load_model(path)
    # the user's explicit decision to trust it
    loaded = load_model(path, trusted=[name])
    assert isinstance(loaded, Outsider)
    with pytest.raises(TypeError, match="list of type names"):
        load_model(path, trusted=name)


def test_trust_policy():
    assert _is_trusted_type("skfer.preprocessing._features.HOGFeatures")
    assert _is_trusted_type("skfer.io._NetPlaceholder")
    assert _is_trusted_type("sklearn.svm._classes.SVC")
    assert _is_trusted_type("numpy.float32")
    assert _is_trusted_type("sklearn.calibration._CalibratedClassifier")
    # functions, file-opening classes and other libraries are not trusted
    for name in ("builtins.eval", "posix.system", "numpy.memmap", "numpy.load",
                 "sklearn.utils._testing.assert_run_python_script_without_output",
                 "skfer.datasets._registry.load_dataset", "torch.hub.load",
                 "skfer.nothing.Here"):
        assert not _is_trusted_type(name), name


def test_net_config_naming_a_function_refused(tmp_path, faces):
    X, y = faces
    cnn = CNNClassifier(architecture="simple", module__channels=(4,), random_state=0,
                        **TINY_NET).fit(X[:, ::4, ::4], y)
    path = save_model(cnn, tmp_path / "cnn.skfer")
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    for body, message in [("torch.hub.load", "outside skfer, torch.nn and torch.optim"),
                          ("torch.nn.functional.relu", "not a torch.nn.Module"),
                          ("skfer.datasets.load_dataset", "not a torch.nn.Module")]:
        config = json.loads(files["nets/0/config.json"])
        config["module"]["body"] = body
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, json.dumps(config) if name == "nets/0/config.json" else data)
        with pytest.raises(ValueError, match=message):
            load_model(path)


def test_save_errors(tmp_path, faces):
    with pytest.raises(NotFittedError, match="not fitted: call fit"):
        save_model(make_model("hog_svm"), tmp_path / "m.skfer")
    with pytest.raises(NotFittedError, match="not fitted"):
        save_model(CNNClassifier(), tmp_path / "m.skfer")
    with pytest.raises(TypeError, match="expects a fitted scikit-learn estimator"):
        save_model({"not": "a model"}, tmp_path / "m.skfer")
    X, y = faces
    model = make_model("pca_lda").fit(X, y)
    with pytest.raises(TypeError, match="metadata must be JSON"):
        save_model(model, tmp_path / "m.skfer", metadata={"x": object()})
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save_model(model, tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_load_errors(tmp_path, faces):
    with pytest.raises(FileNotFoundError, match="Model file not found"):
        load_model(tmp_path / "missing.skfer")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a skfer model file"):
        load_model(text)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.md", "hi")
    with pytest.raises(ValueError, match="not a skfer model file: it has no manifest"):
        load_model(other)
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a skfer model file"):
        load_model(other)
    X, y = faces
    model = make_model("cnn:simple", size=12, module__channels=(4,), **TINY_NET).fit(X, y)
    path = save_model(model, tmp_path / "deep.skfer")
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist() if "weights" not in n}
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match="incomplete skfer model file"):
        load_model(path)
