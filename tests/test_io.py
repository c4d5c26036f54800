"""skfer.io and skfer._modelfile: one safe file for any fitted model (skops + safetensors)."""

import ast
import json
import os
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
    """Rewrite the skops part of a model file with ``obj`` (and the manifest to match)."""
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    files["model.skops"] = sio.dumps(obj)
    manifest = {**json.loads(files["manifest.json"]), **_modelfile.describe(obj)}
    files["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def test_a_loaded_net_builds_its_optimizer_only_to_train(tmp_path, faces):
    # Loading to predict builds no optimizer (the first one of a process imports
    # torch._dynamo: seconds); training the loaded net builds it then.
    X, y = faces
    X = X[:, ::4, ::4]
    cnn = CNNClassifier(architecture="simple", module__channels=(4,), random_state=0,
                        optimizer__weight_decay=1e-4, **TINY_NET).fit(X, y)
    loaded = load_model(save_model(cnn, tmp_path / "cnn.skfer"))
    net = loaded.net_
    assert net.initialized_ and not hasattr(net, "optimizer_")
    _same_predictions(cnn, loaded, X)
    net.set_params(lr=0.005)  # a virtual parameter of the optimizer: built for it
    assert net.optimizer_.param_groups[0]["lr"] == 0.005
    assert net.optimizer_.param_groups[0]["weight_decay"] == 1e-4
    again = load_model(tmp_path / "cnn.skfer").net_
    before = [p.detach().clone() for p in again.module_.parameters()]
    again.partial_fit(torch.from_numpy(X[:, None]), torch.from_numpy(
        np.searchsorted(loaded.classes_, y)))
    assert isinstance(again.optimizer_, torch.optim.Optimizer)
    after = list(again.module_.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_loading_the_shipped_model_imports_neither_skops_nor_dynamo():
    import subprocess
    import sys

    code = ("import sys; from skfer import pretrained; pretrained.load(); "
            "print(sorted(m for m in ('skops', 'torch._dynamo') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


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
    "input_mean wrong": ({CONFIG: {"input_mean": ["x"]}},
                         r"'input_mean' is \['x'\], not 1 finite number"),
    "channels_last wrong": ({CONFIG: {"module": {"body": "skfer.nets.SimpleCNN",
                                                 "body_kwargs": {"__dict__": []},
                                                 "scale": 1 / 255, "channels_last": "no"}}},
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


# ------------------------------------------------------------ #15: numbers read back
def _config(path):
    return json.loads(_members(path)[CONFIG])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_inf_weights_are_refused_naming_the_tensor(net_file, tmp_path, bad):
    state = safetensors.torch.load(_members(net_file)[WEIGHTS])
    key = sorted(state)[-1]
    state[key] = state[key].clone()
    state[key].view(-1)[0] = bad
    path = _with(net_file, tmp_path / "nan.skfer", {WEIGHTS: safetensors.torch.save(state)})
    message = (re.escape(f"'{path}' is not a readable skfer model file: "
                         f"nets/0/weights.safetensors holds NaN or infinite weights in the "
                         f"tensor '{key}'"))
    with pytest.raises(ValueError, match=message):
        load_model(path)
    with pytest.raises(ValueError, match="NaN or infinite weights"):  # pretrained= too
        CNNClassifier(pretrained=path, max_epochs=1).fit(np.zeros((4, 12, 12)), [0, 1] * 2)


def test_a_newer_skfer_of_a_known_format_warns_with_both_versions(net_file, tmp_path):
    path = _with(net_file, tmp_path / "newer.skfer", {MANIFEST: {"skfer_version": "99.0"}})
    with pytest.warns(UserWarning, match=re.escape(
            f"'{path}' was written by skfer 99.0, newer than this skfer "
            f"({skfer.__version__}); its format version is one this skfer reads, so it is "
            "loaded")) as record:
        model = load_model(path)
    assert [Path(w.filename).name for w in record] == [Path(__file__).name]  # the caller's line
    assert isinstance(model, CNNClassifier)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(net_file)  # this skfer's own files: no warning
    for version, message in [(5, "skfer_version is '5', not a version"),
                             ("x.y", "skfer_version is 'x.y', not a version")]:
        path = _with(net_file, tmp_path / "bad.skfer", {MANIFEST: {"skfer_version": version}})
        with pytest.raises(ValueError, match=message):
            load_model(path)


def _body(config, **changes):
    module = dict(config["module"])
    kwargs = dict(module["body_kwargs"]["__dict__"])
    kwargs.update(changes)
    module["body_kwargs"] = {"__dict__": [[k, v] for k, v in kwargs.items()]}
    return module


def test_every_number_of_a_net_config_is_validated(net_file, tmp_path):
    config = _config(net_file)
    shape = config["input_shape"]
    cases = {
        "input_shape of a sequence": ({"input_shape": [4, *shape]},
                                      r"'input_shape' is \[4, 12, 12, 1\], not positive ints "
                                      r"\(H, W, C\)"),
        "input_shape of 2 channels": ({"input_shape": [12, 12, 2]}, "with C in 1, 3"),
        "input_shape beyond the pixel limit": ({"input_shape": [10**5, 10**5, 1]},
                                               "10,000,000,000 pixels a sample, more than "
                                               "the image limit"),
        "input_mean of 2 channels": ({"input_mean": [0.5, 0.5]}, "'input_mean' is .*, not 1 "
                                                                  "finite number"),
        "input_std zero": ({"input_std": [0]}, "not 1 finite positive number"),
        "input_std NaN": ({"input_std": [float("nan")]}, "not 1 finite positive number"),
        "input_scale above 1": ({"input_scale": 255}, r"'input_scale' is 255, not a number "
                                                      r"in \(0, 1\]"),
        "module scale NaN": ({"module": {**config["module"], "scale": float("nan")}},
                             r"module's 'scale' is nan"),
        "n_features_in wrong": ({"n_features_in": 7}, "'n_features_in' is 7, not the 144 "
                                                      "values"),
        "feature_names without n_features": ({"feature_names_in": ["a"]},
                                             "'feature_names_in' is not n_features_in names"),
        "one label twice": ({"classes": {"dtype": "str", "values": ["a", "a"]}},
                            "classes holds a label twice"),
        "no labels": ({"classes": {"dtype": "str", "values": []}}, "not one or more labels"),
        "a label of 10000 characters": ({"classes": {"dtype": "str",
                                                     "values": ["a" * 10000, "b"]}},
                                        "strings of at most 1000 characters"),
        "a dtype of 400 MB a label": ({"classes": {"dtype": "<U100000000", "values": [1, 2]}},
                               "is not a numpy bool, int or float type"),
        "a NaN label": ({"classes": {"dtype": "<f8", "values": [1.0, float("nan")]}},
                        "a label is NaN or infinite"),
        "n_classes not the classes": ({"module": _body(config, n_classes=3)},
                                      "body_kwargs n_classes=3 does not agree"),
        "in_channels not the shape": ({"module": _body(config, in_channels=3)},
                                      "body_kwargs in_channels=3 does not agree"),
        "lr negative": ({"params": {**config["params"], "lr": -1}},
                        "params do not fit CNNClassifier .*'lr' parameter"),
        "batch_size a float": ({"params": {**config["params"], "batch_size": 1.5}},
                               "'batch_size' parameter"),
        "architecture unknown": ({"params": {**config["params"], "architecture": "oops"}},
                                 "Unknown architecture 'oops'"),
        "lr beyond 64 bits": ({"params": {**config["params"], "lr": 10**400}},
                              r"holds the integer 1000+\.\.\., beyond 64 bits"),
        "a dict key that is a list": ({"params": {**config["params"],
                                                  "class_weight": {"__dict__": [[[1], 2]]}}},
                                      "a dict with a key that is not a value"),
        "device not a device": ({"device": 5}, "'device' is '5', not str or null"),
        "device of no such kind": ({"device": "oops"}, "'device' is 'oops', not a torch "
                                                       "device"),
    }
    for case, (changes, message) in cases.items():
        path = _with(net_file, tmp_path / "bad.skfer", {CONFIG: changes})
        with pytest.raises(ValueError, match=message) as info:
            load_model(path)
        assert info.type is ValueError and str(info.value).startswith(f"'{path}'"), case


def test_a_config_describing_a_huge_net_is_refused_before_it_is_built(net_file, tmp_path):
    # hidden=(2**24,): a 12 GB dense layer if it were built; on torch's meta
    # device nothing is allocated, and its shapes do not match the weights.
    from skfer.neural._net import SkferNet

    config = _config(net_file)
    path = _with(net_file, tmp_path / "huge.skfer",
                 {CONFIG: {"module": _body(config, hidden={"__tuple__": [2**24]})}})
    with mock.patch.object(SkferNet, "initialize", side_effect=AssertionError("built")), \
            pytest.raises(ValueError, match=r"the weights of nets/0/weights.safetensors do not "
                                            r"fit the saved architecture \(missing or wrong "
                                            r"\['body.head.*16777216"):
        load_model(path)


@pytest.mark.parametrize("architecture", ["simple", "vgg", "resnet", "mini_xception"])
def test_every_architecture_builds_on_the_meta_device(architecture):
    # the loader compares the weights with the architecture built there first
    from skfer.nets import RowRNN, SequenceNet, accepts_argument, get_architecture
    from skfer.neural._net import InputModel

    cnn = get_architecture(architecture)
    sized = {"input_shape": (24, 24)} if accepts_argument(cnn, "input_shape") else {}
    for body, kwargs in [
        (cnn, {"n_classes": 3, "in_channels": 3, **sized}),
        (RowRNN, {"n_classes": 3, "in_channels": 1, "input_shape": (8, 8)}),
        (SequenceNet, {"n_classes": 3, "in_channels": 1, "input_shape": (16, 16),
                       "encoder": architecture}),
    ]:
        args = dict(body=body, body_kwargs=kwargs, scale=1 / 255, mean=[0.5], std=[0.2])
        with torch.device("meta"):
            meta = InputModel(**args).state_dict()
        real = InputModel(**args).state_dict()
        assert {k: v.shape for k, v in meta.items()} == {k: v.shape for k, v in real.items()}


def test_the_manifest_must_describe_the_model(net_file, tmp_path):
    for changes, message in [
        ({"estimator": "sklearn.svm.SVC"}, "manifest.json says it holds a SVC, but it holds "
                                           "a CNNClassifier"),
        ({"classes": ["happy", "angry"]}, r"manifest.json's classes \['happy', 'angry'\] are "
                                          "not the model's"),
        ({"steps": [["a", "b"]]}, r"manifest.json's steps \[\['a', 'b'\]\] are not"),
        ({"kind": "classical"}, "manifest.json's kind is 'classical', not 'deep'"),
        ({"created": "yesterday"}, "created is 'yesterday', not an ISO date"),
        ({"metadata": [1]}, r"metadata is '\[1\]', not an object"),
    ]:
        path = _with(net_file, tmp_path / "bad.skfer", {MANIFEST: changes})
        with pytest.raises(ValueError, match=message):
            load_model(path)


def test_compression_ratio_of_large_members_is_bounded(net_file, tmp_path, monkeypatch):
    monkeypatch.setattr(_modelfile, "BOMB_FROM_BYTES", 1000)
    path = tmp_path / "zeros.skfer"
    members = _members(net_file)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, bytes(200_000) if name == WEIGHTS else data)
    with pytest.raises(ValueError, match="member nets/0/weights.safetensors would inflate "
                                         r"from \d+ to 200000 bytes \(more than 100 times\), "
                                         "as a zip bomb does"):
        load_model(path)


# ------------------------------------------------------------ #15: writing
def _mode(path):
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_model_files_follow_the_umask(tmp_path, faces, umask, mode):
    X, y = faces
    cnn = CNNClassifier(architecture="simple", module__channels=(4,), random_state=0,
                        **TINY_NET).fit(X[:, ::4, ::4], y)
    old = os.umask(umask)
    try:
        by_save = cnn.save(tmp_path / "a.skfer")
        by_save_model = save_model(cnn, tmp_path / "b.skfer")
        pipe = save_model(make_model("pca_lda").fit(X, y), tmp_path / "c.skfer")
    finally:
        os.umask(old)
    assert [_mode(p) for p in (by_save, by_save_model, pipe)] == [mode] * 3


def test_an_interrupted_save_leaves_the_old_file_and_no_temporary(net_file, tmp_path, faces):
    X, y = faces
    target = tmp_path / "model.skfer"
    shutil.copy(net_file, target)
    before = target.read_bytes()
    model = make_model("pca_lda").fit(X, y)
    writestr = zipfile.ZipFile.writestr

    def interrupted(self, name, data, *args, **kwargs):
        writestr(self, name, data[: len(data) // 2], *args, **kwargs)  # half a member
        raise KeyboardInterrupt

    for save in (lambda: save_model(model, target),
                 lambda: load_model(net_file).save(target)):
        with mock.patch.object(zipfile.ZipFile, "writestr", interrupted), \
                pytest.raises(KeyboardInterrupt):
            save()
        assert target.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skfer"]
    save_model(model, target)
    assert isinstance(load_model(target), Pipeline)
