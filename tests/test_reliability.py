"""Reliability (issue #15): a user's files are never overwritten, threads do not
race, an interrupt is not a finished training, work does not start when its
output cannot be written, and every user error is one line."""

import json
import os
import re
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from skfer.cli import main


def _write_rgb(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture
def album(tmp_path):
    root = tmp_path / "photos"
    _write_rgb(root / "astronaut.jpg", skdata.astronaut())
    return root


def _one_error_line(err, command="predict"):
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert lines[-1].startswith(f"skfer {command}: error:"), err
    return lines[-1]


# ------------------------------------------------- 1. the user's originals
def test_annotate_into_the_input_folder_is_refused(album, capsys):
    original = (album / "astronaut.jpg").read_bytes()
    assert main(["predict", "--quiet", str(album), "--annotate", str(album)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "would overwrite the input" in line
    assert (album / "astronaut.jpg").read_bytes() == original


def test_annotate_dot_next_to_the_photo_is_refused(album, capsys, monkeypatch):
    monkeypatch.chdir(album)
    original = (album / "astronaut.jpg").read_bytes()
    assert main(["predict", "--quiet", "astronaut.jpg", "--annotate", "."]) == 2
    assert "would overwrite the input" in _one_error_line(capsys.readouterr().err)
    assert (album / "astronaut.jpg").read_bytes() == original


def test_two_inputs_with_one_name_are_refused(tmp_path, capsys):
    for folder in ("a", "b"):
        _write_rgb(tmp_path / folder / "x.jpg", skdata.astronaut())
    out = tmp_path / "out"
    rc = main(["predict", "--quiet", str(tmp_path / "a"), str(tmp_path / "b"),
               "--annotate", str(out)])
    assert rc == 2
    assert "would both be written" in _one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_annotating_into_a_subfolder_skips_it_next_time(album, capsys):
    out = album / "annotated"
    for _ in range(2):
        assert main(["predict", "--quiet", str(album), "--annotate", str(out)]) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert [line["file"] for line in lines] == [str(album / "astronaut.jpg")]
    assert sorted(p.name for p in out.iterdir()) == ["astronaut.jpg"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_not_read(tmp_path, capsys):
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    assert main(["predict", "--quiet", str(fifo)]) == 2  # returns: does not block
    assert "not a regular file" in _one_error_line(capsys.readouterr().err)


# ------------------------------------------- 4. bounded memory on hostile files
def _png_header(width, height):
    """A small PNG whose header says ``width`` x ``height`` (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_huge_image_is_refused_from_its_header_and_the_folder_goes_on(album, capsys):
    (album / "bomb.png").write_bytes(_png_header(20000, 20000))
    (album / "huge.png").write_bytes(_png_header(40000, 40000))
    rc = main(["predict", "--quiet", str(album)])
    out, err = capsys.readouterr()
    assert rc == 1  # two files failed ...
    lines = [json.loads(x) for x in out.splitlines()]
    assert [line["file"] for line in lines] == [str(album / "astronaut.jpg")]  # ... one did not
    assert "Traceback" not in err and "cv2.error" not in err
    for name, pixels in (("bomb.png", "400,000,000"), ("huge.png", "1,600,000,000")):
        [line] = [x for x in err.splitlines() if name in x]
        assert line.startswith("skfer predict: error: cannot read") and pixels in line
        assert "more than the limit of 50,000,000 pixels" in line


def test_the_pixel_limit_can_be_raised(tmp_path, monkeypatch):
    from skfer._image import ImageTooLargeError, read_image

    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), np.zeros((10, 3000), np.uint8))
    with pytest.raises(ImageTooLargeError, match="3000 x 10 = 30,000 pixels"):
        read_image(path, max_pixels=20_000)
    assert read_image(path, max_pixels=30_000).shape == (10, 3000, 3)
    monkeypatch.setenv("SKFER_MAX_PIXELS", "20000")
    with pytest.raises(ImageTooLargeError):
        read_image(path)
    monkeypatch.setenv("SKFER_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="SKFER_MAX_PIXELS must be a positive int"):
        read_image(path)


# ----------------------------------------------------- 2. threads, cv2
_RACE = textwrap.dedent("""
    import threading
    from skimage import data
    import skfer.pretrained as pretrained

    image = data.astronaut()
    model = pretrained.load(face_detection=False)   # torch only: cv2 not imported yet
    barrier = threading.Barrier(8)
    errors, counts = [], []

    def work():
        barrier.wait()
        try:
            counts.append(len(pretrained.detect_emotions([image], model=model)[0]))
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(errors, counts)
    assert not errors and counts == [1] * 8
""")


def test_detection_from_eight_threads_at_once_in_fresh_processes():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(3):
        run = subprocess.run([sys.executable, "-c", _RACE], capture_output=True, text=True,
                             env=env, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr


def test_worker_threads_run_opencv_single_threaded():
    # Worker threads each running OpenCV, with OpenCV's own pool on top, fight
    # for the cores: map_images turns the pool off while its workers run, and
    # restores it after, also when nested or when a worker fails.
    import cv2

    from skfer._image import map_images, opencv_single_threaded

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        seen = map_images(lambda img: cv2.getNumThreads(), [np.zeros((4, 4))] * 6, n_jobs=2)
        assert seen == [1] * 6 and cv2.getNumThreads() == 2
        assert map_images(lambda img: cv2.getNumThreads(), [np.zeros((4, 4))] * 2) == [2, 2]
        with opencv_single_threaded():
            with opencv_single_threaded():
                assert cv2.getNumThreads() == 1
            assert cv2.getNumThreads() == 1  # the outer block still holds it
        assert cv2.getNumThreads() == 2

        def fail(img):
            raise RuntimeError("a worker fails")

        with pytest.raises(RuntimeError, match="a worker fails"):
            map_images(fail, [np.zeros((4, 4))] * 4, n_jobs=2)
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


# --------------------------------------------------- 3. Ctrl-C in training
def _tiny_fit(callback):
    from skfer.neural import CNNClassifier

    X = np.random.default_rng(0).integers(0, 255, (40, 16, 16), dtype=np.uint8)
    y = np.arange(40) % 2
    clf = CNNClassifier(architecture="simple", max_epochs=3, callbacks=[callback],
                        verbose=0)
    return clf.fit(X, y)


def test_fit_lets_a_real_ctrl_c_through():
    import signal

    from skorch.callbacks import Callback

    class CtrlC(Callback):  # the user presses Ctrl-C during the first batch
        def on_batch_end(self, net, **kwargs):
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt, match="training interrupted"):
        _tiny_fit(CtrlC())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_callback_stopping_training_still_ends_it_normally():
    # skorch's EarlyStopping and skfer's TimeBudget stop by raising KeyboardInterrupt.
    from skorch.callbacks import Callback

    class Stop(Callback):
        def on_epoch_end(self, net, **kwargs):
            raise KeyboardInterrupt

    clf = _tiny_fit(Stop())
    assert len(clf.net_.history) == 1 and hasattr(clf, "classes_")


def test_interrupted_train_writes_no_model(tmp_path, capsys, monkeypatch):
    from sklearn.pipeline import Pipeline

    from skfer.datasets import make_faces

    root = tmp_path / "faces"
    faces = make_faces(n_samples=30, random_state=0)
    for i, (image, label) in enumerate(zip(faces.images, faces.target, strict=True)):
        (root / faces.target_names[label]).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / faces.target_names[label] / f"{i}.png"), image)

    def interrupted(self, X, y=None, **params):
        raise KeyboardInterrupt

    monkeypatch.setattr(Pipeline, "fit", interrupted)
    out = tmp_path / "m.skfer"
    rc = main(["train", "--dataset", "folder", "--data", str(root), "--model", "pca_lda",
               "--quiet", "--out", str(out)])
    assert rc == 130
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.glob("m.skfer*")) == []


# ------------------------------------------- 6. outputs checked before work
@pytest.mark.parametrize("command", ["train", "compare"])
def test_unwritable_output_is_refused_before_any_work(command, tmp_path, capsys, monkeypatch):
    import skfer.cli._common as common

    def no_loading(*args, **kwargs):
        raise AssertionError("the data was loaded before the output was checked")

    monkeypatch.setattr(common, "load_data", no_loading)
    target = "/proc/skfer-test/x.skfer" if command == "train" else "/proc/skfer-test"
    argv = [command, "--dataset", "folder", "--data", str(tmp_path), "--out", target]
    argv += ["--model", "pca_lda"] if command == "train" else ["--models", "pca_lda"]
    assert main(argv) == 2
    assert "cannot write" in _one_error_line(capsys.readouterr().err, command)


# ------------------------------------------------------- 7. smaller ones
def test_ckplus_parent_folder_is_one_class_and_refused(tmp_path, capsys):
    folder = tmp_path / "CK+48" / "happy"
    folder.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(folder / f"S00{i}_001_0000000{i}.png"), np.full((48, 48), 9 * i, np.uint8))
    rc = main(["train", "--dataset", "folder", "--data", str(tmp_path / "CK+48"),
               "--model", "pca_lda", "--quiet", "--out", str(tmp_path / "m.skfer")])
    assert rc == 2
    line = _one_error_line(capsys.readouterr().err, "train")
    assert "single class" in line and "<label>" in line


# ---------------------------------------- 5. one line for unexpected errors
def test_unexpected_errors_are_one_line_and_debug_shows_them(monkeypatch, capsys, album):
    import skfer.cli._predict as predict

    def broken(args):
        raise KeyError("module")

    monkeypatch.setattr(predict, "_load_model", broken)
    assert main(["predict", "--quiet", str(album)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "KeyError" in line and "--debug" in line
    with pytest.raises(KeyError):
        main(["--debug", "predict", "--quiet", str(album)])


# ------------------------------------------- #15: the rest of the list
@pytest.mark.parametrize("name", ["CNNClassifier", "RNNClassifier", "SequenceClassifier"])
def test_neural_estimators_refuse_a_single_class(name):
    import skfer.neural as neural

    X = np.zeros((6, 4, 8, 8) if name == "SequenceClassifier" else (6, 8, 8), np.uint8)
    with pytest.raises(ValueError, match=rf"{name}: y holds only 1 class \('happy'\) in "
                                         "its 6 labels: a classifier needs two or more"):
        getattr(neural, name)(max_epochs=1).fit(X, ["happy"] * 6)


@pytest.mark.parametrize("make", [
    lambda: np.zeros((1, 20000, 20000), np.uint8),  # calloc: no page touched
    lambda: [np.zeros((20000, 20000), np.uint8)],
    lambda: np.zeros((1, 20000, 20000), np.float32),
])
def test_a_huge_in_memory_image_is_refused_before_any_work(make):
    import time

    from skfer.preprocessing import HOGFeatures, LBPFeatures, Resize

    X = make()
    for transformer in (HOGFeatures(), LBPFeatures(), Resize()):
        start = time.process_time()
        with pytest.raises(ValueError, match=r"is an image of 20000 x 20000|holds images of "
                                             r"20000 x 20000") as info:
            transformer.fit_transform(X)
        assert time.process_time() - start < 1.0
        assert "= 400,000,000 pixels, more than the limit of 50,000,000 pixels; resize it " \
               "first" in str(info.value) and "SKFER_MAX_PIXELS" in str(info.value)


def test_the_in_memory_pixel_limit_is_skfer_max_pixels(monkeypatch):
    from skfer.preprocessing import Grayscale

    monkeypatch.setenv("SKFER_MAX_PIXELS", "100")
    assert Grayscale().fit_transform(np.zeros((2, 10, 10, 3), np.uint8)).shape == (2, 10, 10)
    with pytest.raises(ValueError, match=r"X\[1\] is an image of 11 x 10 = 110 pixels, more "
                                         "than the limit of 100"):
        Grayscale().fit_transform([np.zeros((10, 10)), np.zeros((10, 11))])


def _fer2013_zip(path, rows=5):
    import zipfile

    pixels = " ".join(["7"] * 2304)
    text = "emotion,pixels,Usage\n" + "".join(f"{i % 7},{pixels},Training\n" for i in range(rows))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("fer2013.csv", text)
    return path


def test_fer2013_archives_that_are_not_give_one_value_error(tmp_path, capsys):
    import gzip

    from skfer.datasets import load_fer2013

    good = _fer2013_zip(tmp_path / "fer2013.zip")
    assert load_fer2013(good).images.shape == (5, 48, 48)
    raw = good.read_bytes()
    bad = {
        "notes.zip": b"hello, not a zip",
        "truncated.zip": raw[:-40],
        "half.zip": raw[: len(raw) // 2],
        "garbage.tar.gz": b"\x1f\x8b" + bytes(100),
        "garbage.gz": b"\x1f\x8b" + bytes(100),
        "cut.csv.gz": gzip.compress(b"emotion,pixels,Usage\n0," + b"7 " * 3000)[:-30],
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=re.escape(f"'{tmp_path / name}'")) as info:
            load_fer2013(tmp_path / name)
        assert info.type is ValueError, name
    rc = main(["train", "--dataset", "fer2013", "--data", str(tmp_path / "notes.zip"),
               "--model", "pca_lda", "--quiet", "--out", str(tmp_path / "m.skfer")])
    assert rc != 0
    line = _one_error_line(capsys.readouterr().err, "train")
    assert "notes.zip" in line and "not a zip file" in line.lower()
