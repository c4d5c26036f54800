"""One photo, one model: every path through the face engine gives the same faces.

``skfer.pretrained.detect_emotions``, ``skfer predict``, ``skfer demo`` and
the fitted Pipeline of ``skfer.pretrained.load()`` (FaceCropper + the
model's steps) all find, crop and resize faces with :mod:`skfer.faces`.
"""

import json
import re

import numpy as np
import pytest
from skimage import data as skdata

from skfer import pretrained
from skfer.cli import main
from skfer.faces import FaceEngine, FaceRecognizer


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    import cv2

    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def reference():
    """detect_emotions on the astronaut: (box, probabilities in class order)."""
    [faces] = pretrained.detect_emotions([skdata.astronaut()])
    assert len(faces) == 1
    classes = list(pretrained.load(face_detection=False).classes_)
    return faces[0]["box"], np.array([faces[0]["probabilities"][c] for c in classes])


def test_pipeline_with_face_cropper_matches(reference):
    box, proba = reference
    model = pretrained.load()  # FaceCropper -> Grayscale -> Resize -> CNN
    got = model.predict_proba([skdata.astronaut()])[0]
    np.testing.assert_allclose(got, proba, atol=1e-6)
    assert tuple(model.named_steps["crop"].boxes_[0]) == tuple(box)


def test_recognizer_from_the_pipeline_matches(reference):
    # A Pipeline that starts with FaceCropper configures the engine itself.
    box, proba = reference
    recognizer = FaceRecognizer(pretrained.load())
    assert isinstance(recognizer.engine, FaceEngine)
    [[face]] = recognizer.recognize([skdata.astronaut()])
    assert face["box"] == tuple(box)
    got = np.array([face["probabilities"][c] for c in recognizer.classes])
    np.testing.assert_allclose(got, proba, atol=1e-6)


def test_skfer_predict_matches(reference, photo, capsys):
    box, proba = reference
    assert main(["predict", "--quiet", str(photo)]) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert tuple(line["box"]) == tuple(box)
    classes = list(pretrained.load(face_detection=False).classes_)
    got = np.array([line["probabilities"][c] for c in classes])
    np.testing.assert_allclose(got, proba, atol=1e-4)  # printed to 4 decimals
    # The same landmarks as detect_emotions gives (printed to 0.1 pixel).
    [faces] = pretrained.detect_emotions([skdata.astronaut()])
    np.testing.assert_allclose(line["landmarks"], faces[0]["landmarks"], atol=0.051)


def test_skfer_demo_matches(reference, photo, tmp_path, capsys):
    box, proba = reference
    assert main(["demo", "--image", str(photo), "--out", str(tmp_path / "d.png")]) == 0
    out = capsys.readouterr().out
    x, y, w, h = (int(v) for v in re.search(r"x=(\d+) y=(\d+) w=(\d+) h=(\d+)", out).groups())
    assert (x, y, w, h) == tuple(box)
    top = float(re.search(r"h=\d+: \w+ ([0-9.]+)", out).group(1))
    assert top == pytest.approx(proba.max(), abs=5e-3)  # printed to 2 decimals


def test_grey_photo_gives_the_grey_crops_of_the_rgb_one():
    # The engine's order is fixed (crop, resize, then grey), so a Pipeline's
    # Grayscale after FaceCropper sees the pixels the engine gives with gray=True.
    from skfer.preprocessing import FaceCropper, Grayscale

    image = skdata.astronaut()
    crop = FaceCropper(margin=0.1, output_size=48).fit_transform([image])
    grey = Grayscale().fit_transform(crop)[0]
    _, [engine_crop] = FaceEngine(margin=0.1, size=48, gray=True).faces(image)
    np.testing.assert_array_equal(grey, engine_crop)
