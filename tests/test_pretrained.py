"""The pretrained model shipped inside the package."""

import numpy as np
import pytest
from conftest import data_path
from skimage import data as skdata
from sklearn.utils.validation import check_is_fitted

from skfer import FER2013_CLASSES, pretrained
from skfer.preprocessing import detect_faces


@pytest.fixture(scope="module")
def crops_model():
    return pretrained.load(face_detection=False)


def test_shipped_model_and_card():
    assert "default" in pretrained.MODELS
    card = pretrained.MODELS["default"]
    assert card["classes"] == list(FER2013_CLASSES)
    assert card["public_test_accuracy_flip"] >= 0.6
    assert np.asarray(card["public_test_confusion_flip"]).sum() == 3589


def test_load_is_fitted_and_names_expressions(crops_model):
    for model in (pretrained.load(), crops_model):
        check_is_fitted(model)
        assert list(model.classes_) == list(FER2013_CLASSES)
    steps = [name for name, _ in pretrained.load().steps]
    assert steps == ["crop", "grayscale", "resize", "clf"]
    with pytest.raises(ValueError, match="Unknown pretrained model"):
        pretrained.load("nope")


def test_photo_pipeline_equals_crop_then_classify(crops_model):
    photo = skdata.astronaut()
    model = pretrained.load(test_time_flip=False)
    proba = model.predict_proba([photo])
    assert proba.shape == (1, 7)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-6)
    crop = model[:-1].transform([photo])
    assert crop.shape == (1, 48, 48)
    np.testing.assert_allclose(model[-1].predict_proba(crop), proba)
    # crops of any size and colour go through the crop model's own resize
    crops_model.set_params(clf__test_time_flip=False)
    big = np.repeat(np.repeat(crop[0], 3, axis=0), 3, axis=1)
    p_big = crops_model.predict_proba([np.dstack([big] * 3)])
    assert p_big.argmax() == proba.argmax()


def test_astronaut_smiles(crops_model):
    # Eileen Collins smiles in skimage's astronaut portrait.
    [faces] = pretrained.detect_emotions([skdata.astronaut()])
    assert len(faces) == 1
    x, y, w, h = faces[0]["box"]
    assert 0 <= x < 512 and 0 <= y < 512 and w > 50
    assert faces[0]["emotion"] == "happy"
    assert sum(faces[0]["probabilities"].values()) == pytest.approx(1.0)


def test_detect_emotions_every_face_and_none():
    photo = skdata.astronaut()
    two = np.concatenate([photo, photo], axis=1)  # the same face twice, side by side
    results = pretrained.detect_emotions([two, np.zeros((64, 64, 3), np.uint8)])
    assert len(results) == 2
    assert len(results[0]) == len(detect_faces(two)) == 2
    assert results[0][0]["emotion"] == results[0][1]["emotion"]
    assert results[1] == []
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        pretrained.detect_emotions([photo], batch_size=0)


@pytest.mark.data
def test_publictest_accuracy_matches_card(skfer_data, crops_model):
    from skfer.datasets import load_fer2013

    test = load_fer2013(skfer_data / "fer2013" / "fer2013.csv.gz", usage="PublicTest")
    crops_model.set_params(clf__test_time_flip=True)
    y = np.asarray(test.target_names)[test.target]
    acc = float(np.mean(crops_model.predict(test.images) == y))
    assert acc == pytest.approx(pretrained.MODELS["default"]["public_test_accuracy_flip"], abs=2e-3)


@pytest.mark.data
def test_sensible_on_ckplus_faces_it_never_saw(skfer_data, crops_model):
    """Cross-dataset: CK+48 (posed, lab-lit, other people), no fine-tuning.
    The six classes CK+ shares with FER2013 are recognised well above chance
    (1/6), the clear ones (happy, surprise) almost always."""
    from skfer import map_labels
    from skfer.datasets import load_ckplus

    ck = load_ckplus(data_path(skfer_data, "ckplus", "CK+48"))
    y = np.asarray(map_labels(ck.target, ck.target_names, unknown="keep")).astype(str)
    keep = y != "contempt"  # not a FER2013 class
    crops_model.set_params(clf__test_time_flip=True)
    pred = crops_model.predict([im for im, k in zip(ck.images, keep, strict=True) if k])
    y = y[keep]
    assert np.mean(pred == y) > 0.6
    for name in ("happy", "surprise"):
        assert np.mean(pred[y == name] == name) > 0.85


def test_recalibrate_batchnorm_uses_clean_images_and_keeps_weights():
    import torch

    from skfer.neural import CNNClassifier
    from skfer.pretrained.train import recalibrate_batchnorm

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (40, 16, 16), dtype=np.uint8)
    y = np.array(["a", "b"] * 20)
    clf = CNNClassifier(architecture="mini_xception", module__base_channels=4,
                        module__channels=(4, 8), max_epochs=2, validation_fraction=None,
                        random_state=0).fit(X, y)
    module = clf.net_.module_
    weights = {k: v.clone() for k, v in module.state_dict().items() if "running" not in k}
    first_bn = next(m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d))
    # The first BatchNorm's statistics are the average over the batches (each
    # 10 clean images and their 10 mirror images) of the batch statistics.
    captured = []
    hook = first_bn.register_forward_pre_hook(lambda m, a: captured.append(a[0].detach()))
    recalibrate_batchnorm(clf, X, batch_size=10)
    hook.remove()
    assert [len(b) for b in captured] == [20] * 4
    torch.testing.assert_close(first_bn.running_mean,
                               torch.stack([b.mean(dim=(0, 2, 3)) for b in captured]).mean(0))
    torch.testing.assert_close(first_bn.running_var,
                               torch.stack([b.var(dim=(0, 2, 3)) for b in captured]).mean(0))
    assert first_bn.momentum == 0.1 and not module.training and module.augment
    # No augmentation: a second pass gives the same statistics.
    stats = first_bn.running_var.clone()
    recalibrate_batchnorm(clf, X, batch_size=10)
    torch.testing.assert_close(first_bn.running_var, stats)
    for k, v in module.state_dict().items():
        if k in weights:
            torch.testing.assert_close(v, weights[k])


@pytest.mark.parametrize("args, message", [
    (["--init", "no_such_stage"], "--init no_such_stage: no saved model there"),
    (["--recalibrate", "no_such_stage"], "--recalibrate no_such_stage: no saved model"),
])
def test_train_script_wrong_folders_give_one_line(tmp_path, capsys, args, message):
    from skfer.cli import main

    data = tmp_path / "fer2013.csv"
    data.write_text("emotion,pixels,Usage\n")
    assert main(["recipe", "--data", str(data), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("skfer recipe: error:")
