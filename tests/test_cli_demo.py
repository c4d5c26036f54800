"""``skfer demo``: the shipped model on the astronaut photo, offline."""

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from skfer.cli import main


def test_demo_finds_the_astronaut_and_writes_an_annotated_copy(tmp_path, capsys):
    out = tmp_path / "demo.png"
    code = main(["demo", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "1 face(s)" in text
    # The astronaut smiles: the shipped model must say so.
    face_line = next(ln for ln in text.splitlines() if ln.strip().startswith("face 1 at"))
    assert ": happy " in face_line
    drawn = cv2.imread(str(out))[:, :, ::-1]
    photo = skdata.astronaut()
    assert drawn.shape == photo.shape
    changed = np.any(drawn != photo, axis=-1)
    # A box and its label were drawn around the face (top third, middle of
    # the photo), and nothing else was changed.
    ys, xs = np.nonzero(changed)
    assert 0.001 < changed.mean() < 0.05
    assert ys.max() < photo.shape[0] / 2 and 100 < xs.mean() < 400


def test_demo_out_dash_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--out", "-"]) == 0
    assert list(tmp_path.iterdir()) == []
    assert "Annotated copy" not in capsys.readouterr().out


def test_demo_on_own_photo_without_a_face(tmp_path, capsys):
    blank = tmp_path / "sky.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 200, np.uint8))
    code = main(["demo", "--image", str(blank), "--out", str(tmp_path / "o.png")])
    captured = capsys.readouterr()
    assert code == 1
    assert "0 face(s)" in captured.out
    assert "no face found" in captured.err


@pytest.mark.parametrize("make_args, message", [
    (lambda p: ["--image", str(p / "missing.jpg")], "no such file"),
    (lambda p: ["--out", str(p)], "is a folder"),
])
def test_demo_user_errors_give_one_line(tmp_path, capsys, make_args, message):
    code = main(["demo", *make_args(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
