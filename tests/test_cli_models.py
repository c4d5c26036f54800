"""``skfer train`` and ``skfer predict``."""

import json

import cv2
import numpy as np
import pytest
from conftest import data_path
from skimage import data as skdata
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC

from skfer._image import read_image
from skfer.cli import main
from skfer.datasets import make_faces
from skfer.io import load_model, save_model
from skfer.models import make_model
from skfer.preprocessing import detect_faces


def _write_rgb(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def face_folder(tmp_path_factory):
    """An image folder <class>/<i>.png of synthetic faces."""
    root = tmp_path_factory.mktemp("faces")
    faces = make_faces(n_samples=70, random_state=0)
    for i, (image, label) in enumerate(zip(faces.images, faces.target, strict=True)):
        folder = root / faces.target_names[label]
        folder.mkdir(exist_ok=True)
        cv2.imwrite(str(folder / f"{i:03d}.png"), image)
    return root


@pytest.fixture(scope="module")
def hog_model(face_folder, tmp_path_factory):
    """A hog_svm model file made by ``skfer train``."""
    out = tmp_path_factory.mktemp("model") / "hog.skfer"
    rc = main(["train", "--dataset", "folder", "--data", str(face_folder),
               "--model", "hog_svm", "--out", str(out)])  # with progress bars
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The astronaut portrait (one face), a blank image (none) and a corrupt file."""
    root = tmp_path_factory.mktemp("photos")
    _write_rgb(root / "astronaut.png", skdata.astronaut())
    _write_rgb(root / "sub" / "blank.jpg", np.full((120, 160, 3), 200, np.uint8))
    (root / "broken.jpg").write_bytes(b"not an image")
    (root / "notes.txt").write_text("not searched")
    return root


def _json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_train_folder(hog_model, capsys):
    model = load_model(hog_model)
    # Platt scaling, so that predict gives probabilities
    assert [name for name, _ in model.steps][-1] == "calibrated_svc"
    assert isinstance(model[-1], CalibratedClassifierCV)
    assert isinstance(model[-1].estimator, SVC)
    # the saved model is quiet although training showed progress bars
    assert all(getattr(step, "verbose", 0) == 0 for _, step in model.steps[:-1])
    assert set(model.classes_) <= {"angry", "disgust", "fear", "happy", "sad",
                                   "surprise", "neutral", "contempt"}
    meta = model.skfer_manifest_["metadata"]
    assert meta["model"] == "hog_svm" and meta["dataset"] == "folder"
    assert meta["n_train"] == 70 and "test_accuracy" not in meta


def test_predict_photos(hog_model, photos, tmp_path, capsys):
    ann = tmp_path / "ann"
    # --detector haar: the boxes are compared with detect_faces (Haar)
    rc = main(["predict", "--detector", "haar", "--model", str(hog_model), str(photos),
               "--annotate", str(ann)])
    out, err = capsys.readouterr()
    assert rc == 1  # broken.jpg could not be read
    lines = _json_lines(out)
    assert [line["file"] for line in lines] == [str(photos / "astronaut.png"),
                                                str(photos / "sub" / "blank.jpg")]
    face, blank = lines
    expected = detect_faces(skdata.astronaut())[0].tolist()
    assert face["box"] == expected
    classes = list(load_model(hog_model).classes_)
    assert face["emotion"] in classes
    assert list(face["probabilities"]) == classes
    assert sum(face["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert blank == {"file": str(photos / "sub" / "blank.jpg"), "box": None,
                     "emotion": None, "probabilities": None}
    assert "no face found in" in err and "blank.jpg" in err
    assert "cannot read" in err and "broken.jpg" in err
    assert "Traceback" not in err
    # annotated copies keep names and sub-folders; colours are not swapped
    original = skdata.astronaut()
    annotated = read_image(ann / "astronaut.png")
    assert annotated.shape == original.shape
    x, y, w, h = expected
    assert not np.array_equal(annotated[y:y + h, x:x + w], original[y:y + h, x:x + w])
    np.testing.assert_array_equal(annotated[-50:, :50], original[-50:, :50])
    blank_diff = (read_image(ann / "sub" / "blank.jpg").astype(int)
                  - read_image(photos / "sub" / "blank.jpg"))
    assert np.abs(blank_diff).max() <= 2  # only JPEG re-encoding
    assert not (ann / "broken.jpg").exists()


def test_predict_one_image_ok(hog_model, photos, capsys):
    assert main(["predict", "--model", str(hog_model), "--quiet",
                 str(photos / "astronaut.png")]) == 0
    assert len(_json_lines(capsys.readouterr().out)) == 1
    # an image without any face: a null line and a non-zero exit
    assert main(["predict", "--model", str(hog_model),
                 str(photos / "sub" / "blank.jpg")]) == 1
    assert _json_lines(capsys.readouterr().out)[0]["emotion"] is None


def test_predict_without_probabilities(photos, tmp_path, capsys):
    faces = make_faces(n_samples=70, random_state=0)
    y = np.asarray(faces.target_names)[faces.target]
    path = save_model(make_model("hog_svm").fit(faces.images, y), tmp_path / "m.skfer")
    assert main(["predict", "--model", str(path), str(photos / "astronaut.png")]) == 0
    (line,) = _json_lines(capsys.readouterr().out)
    assert line["probabilities"] is None and line["emotion"] in set(y)


def test_train_deep_then_predict(face_folder, photos, tmp_path, capsys):
    out = tmp_path / "cnn.skfer"
    rc = main(["train", "--dataset", "folder", "--data", str(face_folder),
               "--model", "cnn:simple", "--param", "module__channels=(4,)",
               "--param", "validation_fraction=None", "--param", "augment=False",
               "--max-epochs", "1", "--budget", "60", "--quiet", "--out", str(out)])
    assert rc == 0
    model = load_model(out)
    assert model[-1].max_time == 60 and model[-1].max_epochs == 1
    assert model.skfer_manifest_["kind"] == "deep"
    capsys.readouterr()
    assert main(["predict", "--model", str(out), "--quiet",
                 str(photos / "astronaut.png")]) == 0
    (line,) = _json_lines(capsys.readouterr().out)
    assert line["emotion"] in line["probabilities"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dataset", "folder", "--data", "{tmp}/missing", "--model", "hog_svm"],
         "does not exist"),
        (["--dataset", "ckplus", "--data", "{faces}", "--model", "hog_svm"],
         "cannot load ckplus"),
        (["--dataset", "nope", "--data", "{faces}", "--model", "hog_svm"],
         "Unknown dataset"),
        (["--dataset", "folder", "--data", "{faces}", "--model", "svm_hog"],
         "Unknown model 'svm_hog'"),
        (["--dataset", "folder", "--data", "{faces}", "--model", "hog_svm,pca_lda"],
         "one model spec"),
        (["--dataset", "folder", "--data", "{faces}", "--model", "hog_svm",
          "--param", "svc__C"], "KEY=VALUE"),
        (["--dataset", "folder", "--data", "{faces}", "--model", "hog_svm",
          "--param", "svc__nope=1"], "not a parameter"),
        (["--dataset", "folder", "--data", "{faces}", "--model", "hog_svm",
          "--param", "svc__C=-1"], "training hog_svm failed"),
        (["--dataset", "folder", "--data", "{faces}", "--model", "hog_svm",
          "--out", "{tmp}"], "is a folder"),
    ],
)
def test_train_usage_errors(argv, message, face_folder, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path, faces=face_folder) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "m.skfer")]
    assert main(["train", "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skfer train: error:") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "m.skfer").exists()


def test_predict_usage_errors(hog_model, photos, tmp_path, capsys):
    image = str(photos / "astronaut.png")
    notes = photos / "notes.txt"
    cases = [
        (["--model", str(hog_model), str(tmp_path / "missing.jpg")], "no such file"),
        (["--model", str(tmp_path / "none.skfer"), image], "Model file not found"),
        (["--model", str(notes), image], "is not a readable skfer model file"),
        (["--model", str(hog_model), "--min-size", "0", image], "--min-size"),
        (["--model", str(hog_model), "--min-size", "big", image], "--min-size"),
        (["--model", str(hog_model), str(tmp_path)], "no image files"),
    ]
    for argv, message in cases:
        assert main(["predict", *argv]) == 2, argv
        out, err = capsys.readouterr()
        assert message in err and "Traceback" not in err, (argv, err)
        assert err.strip().splitlines()[-1].startswith("skfer predict: error:")
        assert out == ""


def test_predict_crop_margin(hog_model, photos, tmp_path, monkeypatch, capsys):
    from skfer import faces as _faces

    margins = []

    def recording_crop(image, box, margin):
        margins.append(margin)
        return crop(image, box, margin)

    crop = _faces.square_crop
    monkeypatch.setattr(_faces, "square_crop", recording_crop)
    image = str(photos / "astronaut.png")
    faces = make_faces(n_samples=70, random_state=0)
    model = make_model("pca_lda").fit(faces.images, faces.target)
    with_margin = save_model(model, tmp_path / "m.skfer", metadata={"crop_margin": 0.3})
    for argv, expected in [([str(hog_model)], 0.1),  # trained on a folder: the default
                           ([str(with_margin)], 0.3),  # the model file's margin
                           ([str(with_margin), "--margin", "0"], 0.0)]:
        margins.clear()
        assert main(["predict", "--detector", "haar", "--model", *argv, image]) == 0
        assert margins == [expected]
    capsys.readouterr()


@pytest.mark.data
def test_predict_real_photos(skfer_data, tmp_path, capsys):
    ck = data_path(skfer_data, "ckplus", "CK+48")
    folder = data_path(skfer_data, "faces")
    files = sorted(folder.glob("dlib_*.jpg"))[:3]
    if not files:
        pytest.skip("no dlib_*.jpg photos under SKFER_DATA/faces")
    model = tmp_path / "ck.skfer"
    assert main(["train", "--dataset", "ckplus", "--data", str(ck), "--model", "hog_svm",
                 "--max-samples", "300", "--quiet", "--out", str(model)]) == 0
    meta = load_model(model).skfer_manifest_["metadata"]
    assert meta["crop_margin"] == 0.1 and meta["n_train"] == 300
    capsys.readouterr()
    ann = tmp_path / "ann"
    rc = main(["predict", "--detector", "haar", "--model", str(model), "--annotate", str(ann),
               *map(str, files)])
    lines = _json_lines(capsys.readouterr().out)
    n_faces = {str(f): len(detect_faces(f)) for f in files}
    assert rc == (0 if sum(n_faces.values()) else 1)
    for f in files:
        mine = [line for line in lines if line["file"] == str(f)]
        assert len(mine) == max(1, n_faces[str(f)])
        if n_faces[str(f)]:
            assert all(len(line["box"]) == 4 and line["emotion"] for line in mine)
        annotated = ann / f.name
        assert annotated.is_file()
        assert read_image(annotated).shape == read_image(f).shape


def test_predict_defaults_to_the_pretrained_model(photos, tmp_path, capsys):
    ann = tmp_path / "ann"
    assert main(["predict", "--quiet", "--annotate", str(ann), str(photos / "astronaut.png")]) == 0
    [line] = _json_lines(capsys.readouterr().out)
    assert line["emotion"] == "happy"  # the astronaut portrait smiles
    assert set(line["probabilities"]) == {"angry", "disgust", "fear", "happy", "sad",
                                          "surprise", "neutral"}
    assert (ann / "astronaut.png").is_file()
