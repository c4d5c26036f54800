"""skfer.evaluation: emotion vocabulary, compare, CompareResults, cross_dataset."""

import json
import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score

import skfer
from skfer import EMOTIONS, FER2013_CLASSES, canonical_emotion, map_labels
from skfer.datasets import FERPLUS_CLASSES, JAFFE_CLASSES, make_faces
from skfer.evaluation import CompareResults, compare, cross_dataset
from skfer.models import make_model

CKPLUS_CLASSES = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
TINY_CNN = dict(size=24, max_epochs=2, batch_size=32, augment=False, lr=1e-2,
                module__channels=(4, 8), module__hidden=(16,), random_state=0)


# ---------------------------------------------------------------------------
# the emotion vocabulary
# ---------------------------------------------------------------------------


def test_emotions_vocabulary():
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise",
                        "neutral", "contempt")
    assert FER2013_CLASSES == EMOTIONS[:7]
    assert skfer.evaluation.EMOTIONS is EMOTIONS
    assert skfer.evaluation.map_labels is map_labels


@pytest.mark.parametrize("names", [FER2013_CLASSES, FERPLUS_CLASSES, JAFFE_CLASSES,
                                   CKPLUS_CLASSES])
def test_every_dataset_maps_into_the_vocabulary(names):
    mapped = [canonical_emotion(n) for n in names]
    assert set(mapped) <= set(EMOTIONS)
    assert len(set(mapped)) == len(names)  # no two classes collapse


@pytest.mark.parametrize(("alias", "name"), [
    ("anger", "angry"), ("sadness", "sad"), ("happiness", "happy"),
    ("surprised", "surprise"), ("fearful", "fear"), ("afraid", "fear"),
    ("disgusted", "disgust"), ("Contempt", "contempt"), ("  NEUTRAL ", "neutral"),
    ("AN", "angry"), ("su", "surprise"), (np.str_("happy"), "happy"),
])
def test_canonical_emotion_aliases(alias, name):
    assert canonical_emotion(alias) == name


def test_canonical_emotion_unknown():
    with pytest.raises(ValueError, match=r"Unknown emotion 'pain'.*angry, disgust, fear"):
        canonical_emotion("pain")
    assert canonical_emotion("Pain", unknown="keep") == "Pain"
    with pytest.raises(ValueError, match="must be names"):
        canonical_emotion(3)
    with pytest.raises(ValueError, match="unknown must be"):
        canonical_emotion("happy", unknown="drop")


def test_map_labels():
    out = map_labels(np.array(["anger", "happiness", "sad"]))
    assert out.tolist() == ["angry", "happy", "sad"]
    assert out.dtype == object
    # FER+ integer labels through target_names: label 0 is neutral there
    assert map_labels([0, 1, 4], FERPLUS_CLASSES).tolist() == ["neutral", "happy", "angry"]
    assert map_labels(np.array([0, 5]), CKPLUS_CLASSES).tolist() == ["angry", "sad"]
    with pytest.raises(ValueError, match="target_names"):
        map_labels([0, 1, 2])
    with pytest.raises(ValueError, match="not an index into target_names"):
        map_labels([0, 7], JAFFE_CLASSES)
    with pytest.raises(ValueError, match="must be integer indices"):
        map_labels(["happy"], JAFFE_CLASSES)
    with pytest.raises(ValueError, match="Unknown emotion 'pain'"):
        map_labels(["happy", "pain"])
    assert map_labels(["happy", "pain"], unknown="keep").tolist() == ["happy", "pain"]
    with pytest.raises(ValueError, match="1-D"):
        map_labels([["happy"]])


# ---------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faces():
    data = make_faces(105, image_size=32, random_state=0)
    data.names = np.asarray(data.target_names, dtype=object)[data.target]
    return data


@pytest.fixture(scope="module")
def results(faces):
    """Two baselines and a tiny CNN on the same 3 subject-independent folds."""
    models = {
        "hog_svm": make_model("hog_svm", size=32),
        "pca_lda": make_model("pca_lda", size=32, pca__n_components=20),
        "cnn": make_model("cnn:simple", **TINY_CNN),
    }
    return compare(models, faces.images, faces.names, groups=faces.groups, cv=3)


_FITS = []


class _Recorder(ClassifierMixin, BaseEstimator):
    """Predicts the majority class; logs a fingerprint of every training set."""

    def __init__(self, tag="a"):
        self.tag = tag

    def fit(self, X, y):
        _FITS.append((self.tag, hash(np.asarray(X).tobytes()), tuple(np.asarray(y))))
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_, dtype=object)


def test_compare_every_model_on_the_same_folds(faces):
    _FITS.clear()
    res = compare({"a": _Recorder(tag="a"), "b": _Recorder(tag="b")}, faces.images,
                  faces.names, groups=faces.groups, cv=4)
    a = [f[1:] for f in _FITS if f[0] == "a"]
    b = [f[1:] for f in _FITS if f[0] == "b"]
    assert len(a) == 4 and a == b
    expected = list(GroupKFold(4).split(faces.images, faces.names, faces.groups))
    assert len(res.splits) == 4
    for (tr, te), (etr, ete) in zip(res.splits, expected, strict=True):
        np.testing.assert_array_equal(tr, etr)
        np.testing.assert_array_equal(te, ete)
        assert not set(faces.groups[tr]) & set(faces.groups[te])  # subject-independent


def test_compare_results(results, faces):
    assert isinstance(results, CompareResults)
    assert results.models == ["hog_svm", "pca_lda", "cnn"]
    assert results.n_folds == 3 and len(results.records) == 9
    assert list(results.classes) == list(FER2013_CLASSES)  # vocabulary order
    by_fold = {}
    for rec in results.records:
        for key in ("accuracy", "f1_macro", "balanced_accuracy"):
            assert 0.0 <= rec[key] <= 1.0
        assert rec["fit_time"] > 0 and rec["predict_time"] > 0
        assert rec["recall"].shape == (7,)
        assert np.all((rec["recall"] >= 0) & (rec["recall"] <= 1) | np.isnan(rec["recall"]))
        assert rec["confusion_matrix"].shape == (7, 7)
        assert rec["confusion_matrix"].sum() == rec["n_test"]
        by_fold.setdefault(rec["fold"], set()).add((rec["n_train"], rec["n_test"]))
    assert all(len(v) == 1 for v in by_fold.values())  # same fold sizes for all models
    assert sum(next(iter(v))[1] for v in by_fold.values()) == len(faces.images)
    summary = results.summary
    assert [r["accuracy_mean"] for r in summary] == sorted(
        (r["accuracy_mean"] for r in summary), reverse=True)
    assert results.best == summary[0]["model"]
    assert {r["model"]: r["deep"] for r in summary} == {
        "hog_svm": False, "pca_lda": False, "cnn": True}
    assert results.confusion_matrix("cnn", normalize=None).sum() == len(faces.images)
    np.testing.assert_allclose(results.confusion_matrix("cnn").sum(axis=1), 1.0)
    assert list(results.recall("hog_svm")) == list(FER2013_CLASSES)


def test_compare_matches_cross_val_score(results, faces):
    cv = GroupKFold(3)
    for scoring, key in (("accuracy", "accuracy"), ("f1_macro", "f1_macro")):
        expected = cross_val_score(make_model("hog_svm", size=32), faces.images,
                                   faces.names, groups=faces.groups, cv=cv,
                                   scoring=scoring)
        np.testing.assert_allclose(results.scores(key)["hog_svm"], expected)


def test_compare_keeps_deep_histories(results):
    hist = results.histories
    assert list(hist) == ["cnn"]
    assert len(hist["cnn"]) == 3  # one per fold
    for fold in hist["cnn"]:
        assert [row["epoch"] for row in fold] == [1, 2]
        assert {"train_loss", "valid_loss", "valid_acc", "dur"} <= set(fold[0])


def test_compare_default_cv(faces):
    res = compare([_Recorder()], faces.images, faces.names, cv=None)
    expected = StratifiedKFold(5, shuffle=True, random_state=0).split(
        faces.images, faces.names)
    for (_, te), (_, ete) in zip(res.splits, expected, strict=True):
        np.testing.assert_array_equal(te, ete)
    assert res.split_description.startswith("StratifiedKFold(5, shuffled")
    res = compare([_Recorder()], faces.images, faces.names, groups=faces.groups)
    assert res.n_folds == 5 and "GroupKFold(5)" in res.split_description
    # an explicit list of (train, test) pairs
    pairs = [(np.arange(50), np.arange(50, 105)), (np.arange(55, 105), np.arange(55))]
    res = compare({"r": _Recorder()}, list(faces.images), faces.names, cv=pairs)
    assert res.n_folds == 2 and res.records[1]["n_test"] == 55


def test_compare_estimator_forms(faces):
    res = compare([_Recorder(), ("second", _Recorder()), _Recorder()],
                  faces.images[:40], faces.names[:40], cv=2)
    assert res.models == ["_Recorder", "second", "_Recorder_2"]
    res = compare("pca_lda", faces.images, faces.names, cv=2)
    assert res.models == ["pca_lda"]


def test_compare_fixed_test_split(faces):
    X, y = faces.images, faces.names
    res = compare({"hog": make_model("hog_svm", size=32), "r": _Recorder()}, X[:70], y[:70],
                  test=(X[70:], y[70:]))
    assert res.splits is None and res.n_folds == 1
    assert "fixed train/test split" in res.split_description
    row = res.summary[0]
    assert np.isnan(row["accuracy_std"])
    hog = make_model("hog_svm", size=32).fit(X[:70], y[:70])
    assert res.scores()["hog"][0] == pytest.approx(hog.score(X[70:], y[70:]))
    assert res.records[0]["n_test"] == 35
    table = res.to_markdown()
    assert "±" not in table.split("| model")[1]
    assert json.loads(res.to_json())["folds"] is None


_FIT_PARAMS = []


class _FitParamsRecorder(_Recorder):
    """A _Recorder whose fit also takes per-sample soft labels and a scalar."""

    def fit(self, X, y, votes=None, alpha=None):
        _FIT_PARAMS.append((self.tag, votes, alpha))
        return super().fit(X, y)


def test_compare_fit_params_sliced_per_fold_and_routed(faces):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = faces.images, faces.names
    votes = np.random.default_rng(0).random((len(y), 7))
    pipe = Pipeline([("id", FunctionTransformer()), ("clf", _FitParamsRecorder(tag="p"))])
    models = {"bare": _FitParamsRecorder(tag="b"), "pipe": pipe}
    _FIT_PARAMS.clear()
    res = compare(models, X, y, groups=faces.groups, cv=3,
                  fit_params={"votes": list(votes), "alpha": 0.5})
    for tag in "bp":
        calls = [f[1:] for f in _FIT_PARAMS if f[0] == tag]
        assert len(calls) == 3
        for (got, alpha), (tr, _) in zip(calls, res.splits, strict=True):
            assert alpha == 0.5  # a scalar as given
            np.testing.assert_array_equal(got, votes[tr])  # rows of the training fold
    # sklearn's step__name form is kept; a fixed split gets the whole arrays
    _FIT_PARAMS.clear()
    compare({"pipe": pipe}, X[:70], y[:70], test=(X[70:], y[70:]),
            fit_params={"clf__votes": votes[:70]})
    assert len(_FIT_PARAMS) == 1
    np.testing.assert_array_equal(_FIT_PARAMS[0][1], votes[:70])
    with pytest.raises(ValueError, match=r"fit_params\['votes'\] has 10 entries for 105"):
        compare(models, X, y, cv=2, fit_params={"votes": votes[:10]})
    with pytest.raises(ValueError, match="fit_params must be a dict"):
        compare(models, X, y, cv=2, fit_params=[votes])
    _FIT_PARAMS.clear()
    with pytest.raises(ValueError, match=r"Model 'r' cannot take the fit parameter "
                                         r"'votes': _Recorder.fit accepts only X and y"):
        compare({"b": _FitParamsRecorder(), "r": _Recorder()}, X, y, cv=2,
                fit_params={"votes": votes})
    assert not _FIT_PARAMS  # checked before any fit
    with pytest.raises(ValueError, match="'clf__beta': _FitParamsRecorder.fit accepts"):
        compare({"pipe": pipe}, X, y, cv=2, fit_params={"beta": 1})
    with pytest.raises(ValueError, match="name the same parameter of model 'pipe' twice"):
        compare({"pipe": pipe}, X, y, cv=2, fit_params={"votes": votes, "clf__votes": votes})
    # a make_model Pipeline: sample_weight reaches its SVC (unit weights change nothing)
    hog = {"hog": make_model("hog_svm", size=32)}
    weighted = compare(hog, X, y, cv=2, fit_params={"sample_weight": np.ones(len(y))})
    np.testing.assert_allclose(weighted.scores()["hog"], compare(hog, X, y, cv=2).scores()["hog"])


def test_compare_errors(faces):
    X, y = faces.images, faces.names
    with pytest.raises(ValueError, match="Unknown model 'nope'"):
        compare(["nope"], X, y)
    with pytest.raises(ValueError, match="not both"):
        compare([_Recorder()], X, y, cv=3, test=(X, y))
    with pytest.raises(ValueError, match="scoring must be one of"):
        compare([_Recorder()], X, y, scoring="roc_auc")
    with pytest.raises(ValueError, match="X has 105 samples"):
        compare([_Recorder()], X, y[:10])
    with pytest.raises(ValueError, match="need at least 30 groups; the data have 20"):
        compare([_Recorder()], X, y, groups=faces.groups, cv=30)
    with pytest.raises(ValueError, match="not an estimator"):
        compare({"x": 3}, X, y)
    with pytest.raises(ValueError, match="at least one estimator"):
        compare({}, X, y)
    res = compare([_Recorder()], X, y, cv=2)
    with pytest.raises(ValueError, match="Unknown model 'zz'"):
        res.confusion_matrix("zz")
    with pytest.raises(ValueError, match="metric must be one of"):
        res.scores("auc")


# ---------------------------------------------------------------------------
# exports, plots, report folder
# ---------------------------------------------------------------------------


def test_to_markdown(results):
    text = results.to_markdown(per_class=True)
    lines = text.splitlines()
    assert "subject-independent GroupKFold(3) over 20 subjects" in lines[0]
    assert lines[2] == "| model | accuracy | macro-F1 | fit s | predict s |"
    rows = lines[4:7]
    assert [r.split("|")[1].strip() for r in rows] == [r["model"] for r in results.summary]
    assert all("±" in r for r in rows)
    assert "**" in rows[0]  # the best score is bold
    assert "| model | angry | disgust | fear | happy | sad | surprise | neutral |" in lines


def test_to_csv(results, tmp_path):
    text = results.to_csv()
    lines = text.splitlines()
    header = lines[0].split(",")
    assert header[:9] == ["model", "fold", "accuracy", "f1_macro", "balanced_accuracy",
                          "fit_time", "predict_time", "n_train", "n_test"]
    assert header[9:] == [f"recall_{c}" for c in FER2013_CLASSES]
    assert len(lines) == 1 + 9
    assert results.to_csv(tmp_path / "r.csv") is None
    assert (tmp_path / "r.csv").read_text() == text


def test_to_json(results, tmp_path):
    data = json.loads(results.to_json())
    assert data["classes"] == list(FER2013_CLASSES)
    assert list(data["models"]) == ["hog_svm", "pca_lda", "cnn"]
    fold = data["models"]["cnn"][0]
    assert set(fold["recall"]) == set(FER2013_CLASSES)
    assert len(fold["confusion_matrix"]) == 7 and len(fold["history"]) == 2
    assert data["models"]["hog_svm"][0]["history"] is None
    assert [len(te) for te in data["folds"]] == [len(te) for _, te in results.splits]
    assert data["summary"][0]["model"] == results.best
    assert results.to_json(tmp_path / "r.json") is None
    assert json.loads((tmp_path / "r.json").read_text()) == data


def test_plot(results):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        fig = results.plot()
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_yticklabels()] == [
            r["model"] for r in results.summary][::-1]
        fig = results.plot("confusion")
        assert len(fig.axes) == 3
        assert fig.axes[0].get_title().startswith(results.best)
        fig = results.plot("learning_curves")
        assert fig.axes[0].get_title().startswith("cnn")
        _, axes = plt.subplots(1, 2)
        fig = results.plot("confusion", ax=axes, models=["pca_lda", "hog_svm"])
        assert axes[0].get_title().startswith("pca_lda")
        with pytest.raises(ValueError, match="ax holds 2 Axes"):
            results.plot("confusion", ax=axes)
        with pytest.raises(ValueError, match="kind must be one of"):
            results.plot("roc")
        with pytest.raises(ValueError, match="Cannot draw learning_curves for"):
            results.plot("learning_curves", models=["hog_svm"])
    finally:
        plt.close("all")


def test_plot_without_deep_models(faces):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    res = compare([_Recorder()], faces.images, faces.names, cv=2)
    with pytest.raises(ValueError, match="No learning curves"):
        res.plot("learning_curves")


def test_save(results, tmp_path):
    pytest.importorskip("matplotlib")
    paths = results.save(tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["confusion.png", "learning_curves.png", "report.md", "results.csv",
                     "results.json", "scores.png"]
    assert set(paths) == {"report", "json", "csv", "scores", "confusion", "learning_curves"}
    for png in ("scores", "confusion", "learning_curves"):
        assert paths[png].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = paths["report"].read_text()
    assert f"Best: **{results.best}**" in report
    assert "![confusion](confusion.png)" in report
    assert "![learning_curves](learning_curves.png)" in report
    assert results.to_markdown(per_class=True) in report


def test_save_baselines_only_and_without_matplotlib(faces, tmp_path, monkeypatch):
    res = compare([_Recorder()], faces.images, faces.names, cv=2)
    pytest.importorskip("matplotlib")
    res.save(tmp_path / "a")
    assert not (tmp_path / "a" / "learning_curves.png").exists()
    assert (tmp_path / "a" / "confusion.png").exists()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'skfer\[plot\]'"):
        res.plot()
    with pytest.warns(UserWarning, match="without figures"):
        paths = res.save(tmp_path / "b")
    assert sorted(paths) == ["csv", "json", "report"]
    assert "## Figures" not in paths["report"].read_text()
    with pytest.raises(ImportError, match="skfer\\[plot\\]"):
        res.save(tmp_path / "c", figures=True)


# ---------------------------------------------------------------------------
# cross_dataset
# ---------------------------------------------------------------------------


def test_cross_dataset_reports_classes_absent_from_training():
    train = make_faces(60, image_size=32, classes=["happy", "sad", "neutral"],
                       random_state=0)
    # as CK+ spells it, integer labels with its own target_names
    other = make_faces(45, image_size=32, classes=["happy", "sad", "surprise"],
                       random_state=1)
    ck_names = ["happy", "sadness", "surprise"]
    res = cross_dataset("pca_lda", train=train,
                        tests={"ck_like": (other.images, other.target, ck_names),
                               "same": (train.images, np.asarray(train.target_names)[
                                   train.target])})
    assert res.train_classes == ["happy", "sad", "neutral"]
    r = res.results["ck_like"]
    assert r["unseen_classes"] == {"surprise": 15} and r["n_unseen"] == 15
    assert r["n_samples"] == 45 and r["n_shared"] == 30
    # unseen samples count as errors; the shared-class score leaves them out
    assert r["accuracy"] == pytest.approx(r["accuracy_shared"] * 30 / 45)
    assert r["recall"]["surprise"] == 0.0
    assert set(r["recall"]) == {"happy", "sad", "surprise"}
    assert r["labels"] == ["happy", "sad", "surprise", "neutral"]
    assert np.asarray(r["confusion_matrix"]).sum() == 45
    assert res.results["same"]["n_unseen"] == 0
    text = res.to_markdown()
    assert "surprise (15 samples, counted as errors)" in text
    assert "| same | 60 |" in text
    data = json.loads(res.to_json())
    assert data["results"]["ck_like"]["unseen_classes"] == {"surprise": 15}


def test_cross_dataset_needs_names():
    faces = make_faces(30, image_size=32, random_state=0)
    with pytest.raises(ValueError, match=r"train: Labels are numbers.*target_names"):
        cross_dataset("pca_lda", train=(faces.images, faces.target), tests={"a": faces})
    with pytest.raises(ValueError, match="tests must be a non-empty dict"):
        cross_dataset("pca_lda", train=faces, tests={})
    with pytest.raises(ValueError, match=r"tests\['b'\] must be"):
        cross_dataset("pca_lda", train=faces, tests={"b": 3})
    with pytest.raises(ValueError, match="Unknown emotion 'pain'"):
        cross_dataset("pca_lda", train=(faces.images, ["pain"] * 30), tests={"a": faces})
