"""skfer.io and skfer._modelfile: one safe file for any fitted model (skops + safetensors)."""

import ast
import json
import re
import shutil
import warnings
import zipfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import safetensors.torch
import skops.io as sio
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

import skfer
from skfer import _modelfile
from skfer.datasets import make_faces
from skfer.io import _is_trusted_type, load_model, save_model
from skfer.models import make_model
from skfer.neural import BaseNeuralClassifier, CNNClassifier, RNNClassifier

FIXTURES = Path(__file__).parent / "fixtures" / "skfer_0_1"

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


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rewrite(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_bare_net_round_trip(tmp_path, faces):
    X, y = faces
    X = X[:, ::4, ::4]  # 12x12
    cnn = CNNClassifier(architecture="simple", module__channels=(4,), random_state=0,
                        **TINY_NET).fit(X, y)
    loaded = load_model(save_model(cnn, tmp_path / "cnn.skfer"))
    assert type(loaded) is CNNClassifier
    _same_predictions(cnn, loaded, X)
    rnn = RNNClassifier(hidden_sizes=(8,), random_state=0, **TINY_NET).fit(X, y)
    loaded = load_model(save_model(rnn, tmp_path / "rnn.skfer", metadata={"n": 1}))
    assert type(loaded) is RNNClassifier
    _same_predictions(rnn, loaded, X)
    assert loaded.skfer_manifest_["metadata"] == {"n": 1}
    # save_model of a bare net writes what est.save writes: one net, no skops part
    by_save = _members(cnn.save(tmp_path / "by_save.skfer"))
    by_save_model = _members(tmp_path / "cnn.skfer")
    assert sorted(by_save) == sorted(by_save_model) == [
        "manifest.json", "nets/0/config.json", "nets/0/weights.safetensors"]
    a, b = (safetensors.torch.load(m["nets/0/weights.safetensors"])
            for m in (by_save, by_save_model))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    manifest = json.loads(by_save["manifest.json"])
    assert manifest["format"] == "skfer-model" and manifest["format_version"] == 2
    assert manifest["root"] == "nets/0" and manifest["nets"] == ["nets/0"]
    assert manifest["kind"] == "deep" and manifest["classes"] == sorted(set(y.tolist()))
    assert manifest["estimator"] == "skfer.neural._estimators.CNNClassifier"
    # a file with a skops part keeps format version 1, which skfer 0.1 reads
    pipe = json.loads(_members(save_model(make_model("pca_lda").fit(X, y),
                                          tmp_path / "p.skfer"))["manifest.json"])
    assert pipe["format_version"] == 1 and pipe["root"] == "model.skops"


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
    with pytest.raises(ValueError, match="not a readable skfer model file: it is not a zip"):
        load_model(text)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.md", "hi")
    with pytest.raises(ValueError, match="not a readable skfer model file: it has no manifest"):
        load_model(other)
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="manifest.json is of format 'something-else', not "
                                         "'skfer-model'"):
        load_model(other)
    X, y = faces
    model = make_model("cnn:simple", size=12, module__channels=(4,), **TINY_NET).fit(X, y)
    path = save_model(model, tmp_path / "deep.skfer")
    _rewrite(path, {n: d for n, d in _members(path).items() if "weights" not in n})
    with pytest.raises(ValueError, match="nets/0/weights.safetensors is missing"):
        load_model(path)


def test_unsaved_parameters_warn_at_the_callers_line(tmp_path, faces):
    from skorch.callbacks import Callback

    X, y = faces
    model = make_model("cnn:simple", size=12, module__channels=(4,), callbacks=[Callback()],
                       **TINY_NET).fit(X, y)
    for save in (lambda: model[-1].save(tmp_path / "a.skfer"),
                 lambda: save_model(model[-1], tmp_path / "b.skfer"),
                 lambda: save_model(model, tmp_path / "c.skfer")):
        with pytest.warns(UserWarning, match=r"parameters \['callbacks'\]") as record:
            save()
        assert [Path(w.filename).name for w in record] == [Path(__file__).name]


# ------------------------------------------------------------ skfer 0.1's files
@pytest.mark.parametrize("name, key, kind", [
    ("cnn_folder", "cnn", CNNClassifier),  # CNNClassifier.save("folder")
    ("cnn.zip", "cnn", CNNClassifier),  # CNNClassifier.save("m.zip")
    ("cnn.skfer", "cnn", CNNClassifier),  # save_model(cnn): skops placeholder + net
    ("pipeline_deep.skfer", "pipeline_deep", Pipeline),
    ("pipeline_classical.skfer", "pipeline_classical", Pipeline),
])
def test_files_of_skfer_0_1_load(name, key, kind):
    # written by tests/fixtures/skfer_0_1/make_skfer_0_1_files.py with skfer 0.1
    expected = np.load(FIXTURES / "expected.npz")
    model = load_model(FIXTURES / name, device="cpu")
    assert type(model) is kind
    np.testing.assert_allclose(model.predict_proba(expected["X"]), expected[key],
                               rtol=1e-6, atol=1e-9)
    assert [str(c) for c in model.classes_] == ["happy", "sad"]
    legacy = name in ("cnn_folder", "cnn.zip")
    assert model.skfer_manifest_.get("legacy", False) is legacy
    assert model.skfer_manifest_["skfer_version"] == "0.1.0.dev0"


def test_files_of_skfer_0_1_as_pretrained(tmp_path):
    expected = np.load(FIXTURES / "expected.npz")
    X = np.concatenate([expected["X"]] * 4)
    y = np.array(["a", "b", "c", "d"] * 4)  # other classes: the output layer is not copied
    tiny = dict(architecture="simple", module__channels=(4,), module__hidden=(8,),
                lr=1e-12, optimizer="sgd", **TINY_NET)
    source = load_model(FIXTURES / "cnn.zip").net_.module_.state_dict()
    for name in ("cnn_folder", "cnn.zip", "cnn.skfer", "pipeline_deep.skfer"):
        deep = name == "pipeline_deep.skfer"  # another net, trained on 12x12 images
        tuned = CNNClassifier(**tiny, pretrained=str(FIXTURES / name)).fit(
            X[:, 2:14, 2:14] if deep else X, y)
        assert tuned.n_pretrained_ == 4, name  # conv and first dense layer, weight and bias
        state = tuned.net_.module_.state_dict()
        if not deep:
            for k in ("body.features.0.weight", "body.features.0.bias"):
                torch.testing.assert_close(state[k], source[k], atol=1e-9, rtol=0)


# ------------------------------------------------------------ pretrained= of any file
def test_pretrained_from_est_save_and_save_model(tmp_path, faces):
    X, y = faces
    X = X[:, ::4, ::4]
    params = dict(architecture="simple", module__channels=(4,), random_state=0, **TINY_NET)
    source = CNNClassifier(**params).fit(X, y)
    by_save = source.save(tmp_path / "net.skfer")
    pipe = make_model("cnn:simple", size=12, module__channels=(4,), random_state=0,
                      **TINY_NET).fit(faces[0], y)
    by_save_model = save_model(pipe, tmp_path / "pipe.skfer")
    tiny = {**params, "lr": 1e-12, "optimizer": "sgd"}
    counts = {}
    for path, net in ((by_save, source), (by_save_model, pipe[-1])):
        # a Pipeline's net is read straight from the container: skops is never used
        with mock.patch("skops.io.loads", side_effect=AssertionError("skops used")):
            tuned = CNNClassifier(**tiny, pretrained=path).fit(X, y)
        src, new = net.net_.module_.state_dict(), tuned.net_.module_.state_dict()
        torch.testing.assert_close(new["body.features.0.weight"],
                                   src["body.features.0.weight"], atol=1e-9, rtol=0)
        counts[path.name] = tuned.n_pretrained_
    assert counts["net.skfer"] == counts["pipe.skfer"] > 0
    classical = save_model(make_model("pca_lda").fit(X, y), tmp_path / "lda.skfer")
    with pytest.raises(ValueError, match="holds a Pipeline, not a skfer.neural estimator"):
        CNNClassifier(**tiny, pretrained=classical).fit(X, y)


# ------------------------------------------------------------ broken files
@pytest.fixture(scope="module")
def net_file(tmp_path_factory, faces):
    X, y = faces
    cnn = CNNClassifier(architecture="simple", module__channels=(4,), random_state=0,
                        **TINY_NET).fit(X[:, ::4, ::4], y)
    return cnn.save(tmp_path_factory.mktemp("net") / "cnn.skfer")


def _with(path, out, changes):
    """A copy of the model file ``path`` at ``out``, members replaced (None: removed).

    A change given as a dict updates that JSON member's keys.
    """
    members = _members(path)
    for name, data in changes.items():
        if data is None:
            members.pop(name)
        elif isinstance(data, dict):
            members[name] = json.dumps({**json.loads(members[name]), **data}).encode()
        else:
            members[name] = data if isinstance(data, bytes) else json.dumps(data).encode()
    _rewrite(out, members)
    return out


MANIFEST, CONFIG, WEIGHTS = "manifest.json", "nets/0/config.json", "nets/0/weights.safetensors"
BROKEN = {
    "manifest not JSON": ({MANIFEST: b"{oops"}, "manifest.json is not valid JSON"),
    "manifest a list": ({MANIFEST: [1, 2]}, "manifest.json is a JSON list, not an object"),
    "nets not a list": ({MANIFEST: {"nets": "nets/0"}},
                        "manifest.json's nets is 'nets/0', not a list of 'nets/<i>'"),
    "nets escape the file": ({MANIFEST: {"nets": ["../../etc"], "root": "../../etc"}},
                             r"manifest.json's nets is \['../../etc'\], not a list"),
    "root unknown": ({MANIFEST: {"root": "nets/7"}}, "manifest.json's root is 'nets/7'"),
    "version not int": ({MANIFEST: {"format_version": "2"}},
                        "format_version '2', not a positive int"),
    "config missing": ({CONFIG: None}, "nets/0/config.json is missing"),
    "config not JSON": ({CONFIG: b"\xff\xfe"}, "nets/0/config.json is not valid JSON"),
    "config wrong format": ({CONFIG: {"format": "x"}},
                            "nets/0/config.json is of format 'x', not 'skfer-neural'"),
    "params not an object": ({CONFIG: {"params": [1]}},
                             r"nets/0/config.json's 'params' is '\[1\]', not dict"),
    "classes wrong type": ({CONFIG: {"classes": "happy"}},
                           r"classes is happy, not \{'dtype': str, 'values': list\}"),
    "input_shape wrong": ({CONFIG: {"input_shape": [12, "x", 1]}},
                          r"'input_shape' is \[12, 'x', 1\], not positive ints"),
    "input_mean wrong": ({CONFIG: {"input_mean": ["x"]}}, "'input_mean' holds non-numbers"),
    "channels_last wrong": ({CONFIG: {"module": {"body": "skfer.nets.SimpleCNN",
                                                 "body_kwargs": {"__dict__": []},
                                                 "scale": None, "channels_last": "no"}}},
                            "module's 'channels_last' is 'no', not bool"),
    "unknown estimator": ({CONFIG: {"estimator": "Popen"}},
                          "names an unknown estimator 'Popen'"),
    "unknown param": ({CONFIG: {"params": {"not_a_param": 1}}},
                      "params do not fit CNNClassifier"),
    "weights missing": ({WEIGHTS: None}, "nets/0/weights.safetensors is missing"),
    "weights not safetensors": ({WEIGHTS: b"\x00" * 64},
                                "nets/0/weights.safetensors is not valid safetensors"),
    "weights empty": ({WEIGHTS: b""}, "nets/0/weights.safetensors is not valid safetensors"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_file_gives_one_value_error(case, net_file, tmp_path):
    changes, message = BROKEN[case]
    path = _with(net_file, tmp_path / "broken.skfer", changes)
    with pytest.raises(ValueError, match=message) as info:
        load_model(path)
    assert info.type is ValueError
    assert str(info.value).startswith(f"'{path}'")


def test_broken_weights_and_archives(net_file, faces, tmp_path):
    # weights of another architecture
    X, y = faces
    other = CNNClassifier(architecture="simple", module__channels=(6,), random_state=0,
                          **TINY_NET).fit(X[:, ::4, ::4], y).save(tmp_path / "other.skfer")
    path = _with(net_file, tmp_path / "swapped.skfer", {WEIGHTS: _members(other)[WEIGHTS]})
    with pytest.raises(ValueError, match=re.escape(f"'{path}'") + ".*the weights of "
                       "nets/0/weights.safetensors do not fit the saved architecture"):
        load_model(path)
    # a member whose bytes were damaged after writing (its CRC no longer matches)
    damaged = tmp_path / "damaged.skfer"
    with zipfile.ZipFile(damaged, "w", zipfile.ZIP_STORED) as zf:
        for name, blob in _members(net_file).items():
            zf.writestr(name, blob)
    raw = bytearray(damaged.read_bytes())
    at = raw.find(b'"estimator": "CNN')
    raw[at + 14:at + 17] = b"RNN"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="nets/0/config.json cannot be read .*CRC") as info:
        load_model(damaged)
    assert info.type is ValueError
    # a truncated archive (a download cut short)
    truncated = tmp_path / "truncated.skfer"
    truncated.write_bytes(net_file.read_bytes()[:-30])
    with pytest.raises(ValueError, match="not a readable skfer model file: it is not a zip"):
        load_model(truncated)


def test_broken_skops_part(tmp_path, faces):
    X, y = faces
    path = save_model(make_model("pca_lda").fit(X, y), tmp_path / "m.skfer")
    broken = _with(path, tmp_path / "broken.skfer", {"model.skops": b"not a zip"})
    with pytest.raises(ValueError, match="model.skops cannot be read") as info:
        load_model(broken)
    assert info.type is ValueError


def test_newer_format_refused(net_file, tmp_path):
    path = _with(net_file, tmp_path / "newer.skfer", {MANIFEST: {"format_version": 3}})
    with pytest.raises(ValueError, match="skfer-model format version 3 .*written by a newer "
                                         "skfer; upgrade skfer"):
        load_model(path)
    with pytest.raises(ValueError, match="written by a newer skfer"):
        CNNClassifier(pretrained=path, max_epochs=1).fit(np.zeros((4, 12, 12)), [0, 1] * 2)


def test_member_size_limits(net_file, tmp_path, monkeypatch):
    # every member's uncompressed size is checked before it is read
    assert _modelfile.MAX_JSON_BYTES == 8 * 2**20
    assert _modelfile.MAX_BINARY_BYTES == 2 * 2**30
    size = len(_members(net_file)["nets/0/weights.safetensors"])
    monkeypatch.setattr(_modelfile, "MAX_BINARY_BYTES", size - 1)
    message = (re.escape(f"'{net_file}': member nets/0/weights.safetensors would be {size} "
                         f"bytes uncompressed, more than skfer reads ({size - 1} bytes)"))
    read = zipfile.ZipFile.read

    def never_the_weights(self, name, pwd=None):
        assert "weights" not in getattr(name, "filename", name), "weights inflated"
        return read(self, name, pwd)

    with monkeypatch.context() as patch, pytest.raises(ValueError, match=message):
        patch.setattr(zipfile.ZipFile, "read", never_the_weights)
        load_model(net_file)
    with pytest.raises(ValueError, match=message):
        load_model(net_file)
    with pytest.raises(ValueError, match=message):
        CNNClassifier(pretrained=net_file, max_epochs=1).fit(np.zeros((4, 12, 12)), [0, 1] * 2)
    # the unzipped folder of a file is bounded the same way
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(net_file) as zf:
        zf.extractall(folder)
    with pytest.raises(ValueError, match="member nets/0/weights.safetensors would be"):
        load_model(folder)
    monkeypatch.setattr(_modelfile, "MAX_JSON_BYTES", 100)
    with pytest.raises(ValueError, match="member manifest.json would be .* more than skfer "
                                         "reads \\(100 bytes\\)"):
        load_model(net_file)


def test_a_huge_declared_member_is_never_inflated(net_file, tmp_path):
    # A zip bomb: the header claims more than the limit; nothing is decompressed.
    path = tmp_path / "bomb.skfer"
    shutil.copy(net_file, path)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("nets/1/weights.safetensors", b"\x00" * 1000)
    raw = bytearray(path.read_bytes())
    name = b"nets/1/weights.safetensors"
    # uncompressed size in the central directory entry (offset 24 of its header)
    cd = raw.rfind(b"PK\x01\x02", 0, raw.rfind(name))
    raw[cd + 24:cd + 28] = (2**32 - 1).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with _modelfile.read_model_file(path) as model_file, \
            pytest.raises(ValueError, match="member nets/1/weights.safetensors would be "
                                            "4294967295 bytes"):
        model_file.read("nets/1/weights.safetensors")


# ------------------------------------------------------------ one loader
def test_unzipped_folder_and_deprecated_alias(tmp_path, faces):
    X, y = faces
    model = make_model("cnn:simple", size=12, module__channels=(4,), random_state=0,
                       **TINY_NET).fit(X, y)
    path = save_model(model, tmp_path / "deep.skfer")
    folder = tmp_path / "deep"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(folder)
    _same_predictions(model, load_model(folder), X)
    from skfer.neural import load

    net = model[-1].save(tmp_path / "net.skfer")
    X12 = model[:-1].transform(X)
    with pytest.warns(DeprecationWarning, match="use skfer.io.load_model"):
        loaded = load(net)
    _same_predictions(model[-1], loaded, X12)
    with pytest.warns(DeprecationWarning), pytest.raises(
            ValueError, match="holds a sklearn.pipeline.Pipeline, not a bare deep estimator; "
                              "load it with skfer.io.load_model"):
        load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(net)  # the one loader does not warn


def test_neural_never_imports_io():
    """skfer.neural sits below skfer.io: no import of it, not even in a function."""
    root = Path(skfer.__file__).parent
    for file in sorted((root / "neural").glob("*.py")):
        package = ["skfer", "neural"]
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                imported = [module] + [f"{module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                imported = [a.name for a in node.names]
            else:
                continue
            assert not any(m == "skfer.io" or m.startswith("skfer.io.") for m in imported), (
                file.name, ast.unparse(node))
    assert issubclass(CNNClassifier, BaseNeuralClassifier)
