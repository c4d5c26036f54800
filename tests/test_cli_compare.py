"""``skfer compare`` and ``skfer demo`` on the command line."""

import json

import cv2
import numpy as np
import pytest
from conftest import data_path

from skfer import map_labels
from skfer.cli import main
from skfer.datasets import make_faces


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """``root/<class>/<i>.png``: 36 synthetic 32x32 faces in 3 class folders."""
    root = tmp_path_factory.mktemp("faces")
    faces = make_faces(36, image_size=32, classes=["happy", "sad", "surprise"],
                       random_state=0)
    for i, (img, t) in enumerate(zip(faces.images, faces.target, strict=True)):
        folder = root / faces.target_names[t]
        folder.mkdir(exist_ok=True)
        assert cv2.imwrite(str(folder / f"{i:03d}.png"), img)
    return root


def _run(capsys, *argv):
    code = main(["compare", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_on_an_image_folder(image_folder, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "report"
    code, out, err = _run(
        capsys, "--dataset", "folder", "--data", image_folder, "--models", "hog_svm,pca_lda",
        "--folds", 3, "--param", "pca__n_components=5", "--out", out_dir, "--quiet",
    )
    assert code == 0, err
    assert "| model | accuracy | macro-F1 | fit s | predict s |" in out
    assert "StratifiedKFold(3, shuffled, random_state=0)" in out
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "confusion.png", "report.md", "results.csv", "results.json", "scores.png"]
    data = json.loads((out_dir / "results.json").read_text())
    assert data["classes"] == ["happy", "sad", "surprise"]
    assert set(data["models"]) == {"hog_svm", "pca_lda"}
    assert all(len(folds) == 3 for folds in data["models"].values())
    report = (out_dir / "report.md").read_text()
    assert report.startswith("# skfer compare: folder (36 images)")


def test_compare_tiny_cnn_writes_learning_curves(image_folder, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "deep"
    code, out, err = _run(
        capsys, "--dataset", "folder", "--data", image_folder, "--models", "cnn:simple",
        "--folds", 2, "--max-epochs", 2, "--budget", 60, "--param", "module__channels=(4,)",
        "--param", "module__hidden=(8,)", "--param", "batch_size=16", "--out", out_dir,
        "--quiet",
    )
    assert code == 0, err
    assert (out_dir / "learning_curves.png").exists()
    folds = json.loads((out_dir / "results.json").read_text())["models"]["cnn:simple"]
    assert [len(f["history"]) for f in folds] == [2, 2]


@pytest.mark.parametrize(("argv", "message"), [
    (["--dataset", "folder", "--data", "{missing}"], "does not exist"),
    (["--dataset", "nope", "--data", "{root}"], "Unknown dataset 'nope'; choose one of"),
    (["--dataset", "folder", "--data", "{root}", "--models", "hog_svm,cnn:nope"],
     "Unknown model 'cnn:nope'"),
    (["--dataset", "folder", "--data", "{root}", "--models", ""], "--models is empty"),
    (["--dataset", "folder", "--data", "{root}", "--param", "svc__C"], "needs KEY=VALUE"),
    (["--dataset", "folder", "--data", "{root}", "--param", "lr=0.1"],
     "--param lr=... is not a parameter of any of the models"),
    (["--dataset", "folder", "--data", "{root}", "--folds", "1"], "at least 2"),
    (["--dataset", "folder", "--data", "{root}", "--out", "{file}"], "is a file"),
    (["--dataset", "folder", "--data", "{empty}"], "No images found under"),
    (["--dataset", "ckplus", "--data", "{root}"], "is not named SXXX_YYY_ZZZZZZZZ"),
    (["--dataset", "jaffe", "--data", "{root}"], "No JAFFE images found"),
    (["--dataset", "fer2013", "--data", "{root}"], "No FER2013 csv"),
    (["--dataset", "folder", "--data", "{root}", "--test-split", "PublicTest"],
     "has no splits of its own"),
    (["--dataset", "folder", "--data", "{root}", "--budget", "-1"], "--budget must be"),
])
def test_compare_user_errors_exit_2(argv, message, image_folder, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x")
    fmt = {"missing": tmp_path / "missing", "root": image_folder,
           "empty": tmp_path / "empty", "file": tmp_path / "afile"}
    code, out, err = _run(capsys, *(a.format(**fmt) for a in argv))
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("skfer compare: error: "), err
    assert message in lines[0]


def test_compare_too_many_folds_for_subjects(tmp_path, capsys):
    root = tmp_path / "ck"
    for cls, name in [("anger", "S010_001_00000001"), ("happy", "S011_002_00000003")]:
        (root / cls).mkdir(parents=True)
        cv2.imwrite(str(root / cls / f"{name}.png"), np.zeros((8, 8), np.uint8))
    code, _, err = _run(capsys, "--dataset", "ckplus", "--data", root, "--folds", 3)
    assert code == 2 and "more than the 2 subjects" in err


def test_compare_help_lists_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--dataset", "--data", "--models", "--out", "--folds", "--budget",
                   "--max-epochs", "--param", "--n-jobs", "--random-state", "--quiet"):
        assert option in out


def test_demo_prints_a_table(capsys):
    code = main(["demo", "--compare", "--quiet", "--n-samples", "140", "--folds", "2", "--n-jobs", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "| model | accuracy | macro-F1 | fit s | predict s |" in out
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and "±" in ln]
    assert sorted(r.split("|")[1].strip() for r in rows) == [
        "hog_svm", "lbp_svm", "pca_knn", "pca_lda", "pca_svm"]


# ---------------------------------------------------------------------------
# real data
# ---------------------------------------------------------------------------


@pytest.mark.data
def test_compare_ckplus_matches_python_api(skfer_data, tmp_path, capsys):
    from skfer.datasets import load_ckplus
    from skfer.evaluation import compare

    path = data_path(skfer_data, "ckplus", "CK+48")
    code, out, err = _run(capsys, "--dataset", "ckplus", "--data", path,
                          "--models", "hog_svm,pca_lda", "--folds", 3, "--out", tmp_path,
                          "--quiet")
    assert code == 0, err
    assert "subject-independent GroupKFold(3) over 118 subjects" in out
    cli = json.loads((tmp_path / "results.json").read_text())

    ck = load_ckplus(path)
    res = compare(["hog_svm", "pca_lda"], ck.images, map_labels(ck.target, ck.target_names),
                  groups=ck.groups, cv=3, random_state=0)
    assert cli["classes"] == ["angry", "disgust", "fear", "happy", "sad", "surprise",
                              "contempt"]
    for model in ("hog_svm", "pca_lda"):
        np.testing.assert_allclose([f["accuracy"] for f in cli["models"][model]],
                                   res.scores("accuracy")[model])
        np.testing.assert_allclose([f["f1_macro"] for f in cli["models"][model]],
                                   res.scores("f1_macro")[model])


@pytest.mark.data
def test_compare_fer2013_scores_public_test(skfer_data, tmp_path, capsys):
    path = data_path(skfer_data, "fer2013")
    code, out, err = _run(capsys, "--dataset", "fer2013", "--data", path,
                          "--models", "hog_svm", "--max-samples", 300, "--out", tmp_path,
                          "--quiet")
    assert code == 0, err
    assert "Training (28709 images) -> PublicTest (3589 images)" in out
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["folds"] is None
    fold = data["models"]["hog_svm"][0]
    assert fold["n_train"] == 300 and fold["n_test"] == 3589
    assert "contempt" not in data["classes"]
