"""Tests of the dataset loaders: tiny generated files always, real data with SKFER_DATA."""

import gzip
import tarfile
import time
import warnings
import zipfile

import cv2
import numpy as np
import pytest
from conftest import data_path
from sklearn.utils import Bunch

import skfer
from skfer import FER2013_CLASSES
from skfer.datasets import (
    FERPLUS_CLASSES,
    JAFFE_CLASSES,
    load_ckplus,
    load_ckplus_sequences,
    load_fer2013,
    load_ferplus,
    load_image_folder,
    load_jaffe,
)
from skfer.datasets import _fer2013 as fer_module

# ---------------------------------------------------------------------------
# helpers writing tiny FER2013-style files
# ---------------------------------------------------------------------------


def _pixels(rng, n):
    """(n, 2304) uint8 with 1-, 2- and 3-digit values, 0 and 255 included."""
    px = rng.integers(0, 256, size=(n, 2304)).astype(np.uint8)
    px[:, 0] = 0
    px[:, 1] = 255
    px[:, 2] = 9
    px[:, 3] = 10
    px[:, 4] = 99
    px[:, 5] = 100
    return px


def _csv_text(
    labels, pixels, usages=None, *, newline="\n", header="emotion,pixels,Usage"
):
    lines = [header]
    for i, (lab, px) in enumerate(zip(labels, pixels, strict=True)):
        fields = [str(lab), " ".join(map(str, px.tolist()))]
        if usages is not None:
            fields.append(usages[i])
        lines.append(",".join(fields))
    return newline.join(lines) + newline


@pytest.fixture
def tiny_fer():
    rng = np.random.default_rng(42)
    n = 9
    labels = np.arange(n) % 7
    pixels = _pixels(rng, n)
    usages = ["Training"] * 5 + ["PublicTest"] * 3 + ["PrivateTest"]
    return labels, pixels, usages


def _check_same(data, labels, pixels, usages):
    assert data.images.shape == (len(labels), 48, 48)
    assert data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images.reshape(len(labels), -1), pixels)
    np.testing.assert_array_equal(data.target, labels)
    assert data.target.dtype.kind == "i"
    assert data.target_names == list(FER2013_CLASSES)
    assert data.groups is None
    assert data.split.tolist() == list(usages)
    assert "FER2013" in data.DESCR


# ---------------------------------------------------------------------------
# load_fer2013 on generated csv files
# ---------------------------------------------------------------------------


def test_fer2013_classes_exported():
    assert skfer.FER2013_CLASSES == (
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    )


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "tar.gz", "zip", "dir"])
def test_fer2013_csv_formats_parse_exactly(tmp_path, tiny_fer, kind):
    labels, pixels, usages = tiny_fer
    text = _csv_text(labels, pixels, usages).encode()
    if kind == "csv":
        path = tmp_path / "fer2013.csv"
        path.write_bytes(text)
    elif kind == "csv.gz":
        path = tmp_path / "fer2013.csv.gz"
        path.write_bytes(gzip.compress(text))
    elif kind == "tar.gz":
        src = tmp_path / "fer2013"
        src.mkdir()
        (src / "fer2013.csv").write_bytes(text)
        (src / "README").write_text("not the csv")
        path = tmp_path / "fer2013.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            tar.add(src / "README", arcname="fer2013/README")
            tar.add(src / "fer2013.csv", arcname="fer2013/fer2013.csv")
    elif kind == "zip":
        path = tmp_path / "fer2013.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("fer2013/fer2013.csv", text)
    else:
        path = tmp_path / "data"
        path.mkdir()
        (path / "fer2013.csv.gz").write_bytes(gzip.compress(text))
    _check_same(load_fer2013(path), labels, pixels, usages)


def test_fer2013_crlf_quotes_and_no_final_newline(tmp_path, tiny_fer):
    labels, pixels, usages = tiny_fer
    text = _csv_text(labels, pixels, usages, newline="\r\n").rstrip("\r\n")
    path = tmp_path / "crlf.csv"
    path.write_bytes(text.encode())
    _check_same(load_fer2013(path), labels, pixels, usages)
    # quoted pixel field and a trailing blank line
    lines = ["emotion,pixels,Usage"] + [
        f'{lab},"{" ".join(map(str, px.tolist()))}",{u}'
        for lab, px, u in zip(labels, pixels, usages, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n\n")
    _check_same(load_fer2013(path), labels, pixels, usages)


def test_fer2013_without_usage_column_and_other_column_order(tmp_path, tiny_fer):
    labels, pixels, usages = tiny_fer
    path = tmp_path / "train.csv"
    path.write_text(_csv_text(labels, pixels, header="emotion,pixels"))
    data = load_fer2013(path)
    np.testing.assert_array_equal(data.images.reshape(len(labels), -1), pixels)
    assert data.split is None
    # Kaggle's icml_face_data.csv order: emotion, Usage, pixels
    lines = ["emotion, Usage, pixels"] + [
        f"{lab},{u},{' '.join(map(str, px.tolist()))}"
        for lab, px, u in zip(labels, pixels, usages, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    _check_same(load_fer2013(path), labels, pixels, usages)


@pytest.mark.parametrize("chunk", [1000, 3 * 4700, 1 << 16])
def test_fer2013_rows_across_chunk_boundaries(tmp_path, monkeypatch, chunk):
    # chunks smaller than one row, a few rows, many rows
    monkeypatch.setattr(fer_module, "_CHUNK_BYTES", chunk)
    rng = np.random.default_rng(1)
    n = 23
    labels = rng.integers(0, 7, n)
    pixels = _pixels(rng, n)
    usages = ["Training"] * 20 + ["PublicTest"] * 3
    path = tmp_path / "f.csv.gz"
    path.write_bytes(gzip.compress(_csv_text(labels, pixels, usages).encode()))
    _check_same(load_fer2013(path), labels, pixels, usages)
    sub = load_fer2013(path, usage="PublicTest")
    np.testing.assert_array_equal(sub.images.reshape(3, -1), pixels[20:])


def test_fer2013_usage_filter(tmp_path, tiny_fer):
    labels, pixels, usages = tiny_fer
    path = tmp_path / "f.csv"
    path.write_text(_csv_text(labels, pixels, usages))
    train = load_fer2013(path, usage="Training")
    assert len(train.images) == 5
    assert set(train.split) == {"Training"}
    np.testing.assert_array_equal(train.images.reshape(5, -1), pixels[:5])
    both = load_fer2013(path, usage=["PublicTest", "PrivateTest"])
    np.testing.assert_array_equal(both.target, labels[5:])
    assert both.split.tolist() == usages[5:]


def test_fer2013_absent_usage_names_available(tmp_path, tiny_fer):
    labels, pixels, usages = tiny_fer
    path = tmp_path / "f.csv"
    path.write_text(_csv_text(labels[:8], pixels[:8], usages[:8]))
    with pytest.raises(
        ValueError, match=r"PrivateTest.*available usages.*PublicTest.*Training"
    ):
        load_fer2013(path, usage="PrivateTest")
    with pytest.raises(ValueError, match="available usages"):
        load_fer2013(path, usage="training")  # case as in the file
    with pytest.raises(ValueError, match="usage must be"):
        load_fer2013(path, usage=3)


def _write_rows(path, rows):
    path.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")


def _row(label="0", values=None, usage="Training"):
    values = ["1"] * 2304 if values is None else values
    return f"{label},{' '.join(values)},{usage}"


@pytest.mark.parametrize(
    ("bad_row", "match"),
    [
        (_row(values=["1"] * 2303), "line 3.*2304 pixel values.*found 2303"),
        (_row(values=["1"] * 2305), "line 3.*2304 pixel values.*found 2305"),
        (_row(values=["256"] + ["1"] * 2303), "line 3.*256 is outside 0..255"),
        (_row(values=["1000"] + ["1"] * 2303), "line 3.*more than 3 digits"),
        (_row(values=["12a"] + ["1"] * 2303), "line 3.*invalid character 'a'"),
        (_row(values=["-1"] + ["1"] * 2303), "line 3.*invalid character '-'"),
        (_row(label="7"), "line 3.*emotion '7'"),
        (_row(label="x"), "line 3.*emotion 'x'"),
        (
            "0," + " ".join(["1"] * 2304),
            "line 3.*expected 3 comma-separated fields.*found 2",
        ),
        ("0,,Training", "line 3.*pixels field is empty"),
    ],
)
def test_fer2013_malformed_rows(tmp_path, bad_row, match):
    path = tmp_path / "bad.csv"
    _write_rows(path, [_row(), bad_row, _row()])
    with pytest.raises(ValueError, match=match) as info:
        load_fer2013(path)
    assert "bad.csv" in str(info.value)


def test_fer2013_malformed_file_level(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_fer2013(path)
    path.write_text("emotion,pixels,Usage\n")
    with pytest.raises(ValueError, match="no data rows"):
        load_fer2013(path)
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match="not a FER2013 csv"):
        load_fer2013(path)
    gz = tmp_path / "trunc.csv.gz"
    gz.write_bytes(
        gzip.compress(_csv_text([0], np.zeros((1, 2304), int)).encode())[:-20]
    )
    with pytest.raises(ValueError, match="trunc.csv.gz"):
        load_fer2013(gz)
    tgz = tmp_path / "nocsv.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(path, arcname="x/readme.txt")
    with pytest.raises(ValueError, match="No .csv file"):
        load_fer2013(tgz)


def test_fer2013_missing_path(tmp_path):
    missing = tmp_path / "nope" / "fer2013.csv.gz"
    with pytest.raises(FileNotFoundError, match="nope"):
        load_fer2013(missing)
    with pytest.raises(ValueError, match="no image folders"):
        load_fer2013(tmp_path)


# ---------------------------------------------------------------------------
# image-folder layouts
# ---------------------------------------------------------------------------


def _imwrite(path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def test_fer2013_image_folder_layout(tmp_path):
    root = tmp_path / "fer"
    for split, emotion, value in [
        ("train", "happy", 10),
        ("train", "angry", 20),
        ("train", "angry", 30),
        ("test", "surprise", 40),
    ]:
        _imwrite(
            root / split / emotion / f"im{value}.png",
            np.full((48, 48), value, np.uint8),
        )
    (root / "train" / "happy" / ".DS_Store").write_text("junk")
    (root / "train" / "happy" / "notes.txt").write_text("junk")
    data = load_fer2013(root)
    assert data.images.shape == (4, 48, 48)
    assert data.images.dtype == np.uint8
    assert data.split.tolist() == ["train", "train", "train", "test"]
    names = [data.target_names[t] for t in data.target]
    assert names == ["angry", "angry", "happy", "surprise"]
    assert data.images[:, 0, 0].tolist() == [20, 30, 10, 40]
    assert len(data.filenames) == 4
    test = load_fer2013(root, usage="test", verbose=1)
    assert test.split.tolist() == ["test"]
    with pytest.raises(ValueError, match="available usages.*test.*train"):
        load_fer2013(root, usage="val")
    _imwrite(root / "test" / "bored" / "x.png", np.zeros((48, 48), np.uint8))
    with pytest.raises(ValueError, match="bored.*not a FER2013 emotion"):
        load_fer2013(root)


def test_load_image_folder(tmp_path):
    root = tmp_path / "imgs"
    _imwrite(root / "b_sad" / "1.png", np.full((30, 40), 50, np.uint8))
    _imwrite(root / "a_happy" / "x.jpg", np.full((20, 20, 3), 200, np.uint8))
    _imwrite(root / "a_happy" / "sub" / "y.PNG", np.full((20, 20), 100, np.uint8))
    _imwrite(root / "a_happy" / ".hidden.png", np.zeros((20, 20), np.uint8))
    _imwrite(root / ".git" / "z.png", np.zeros((20, 20), np.uint8))
    (root / "a_happy" / "labels.csv").write_text("x")
    (root / "empty_class").mkdir()
    (root / "stray.png").write_bytes(b"")  # files directly under root are ignored

    data = load_image_folder(root)
    assert data.target_names == ["a_happy", "b_sad"]
    assert data.target.tolist() == [0, 0, 1]
    assert isinstance(data.images, list)  # sizes differ
    assert [im.shape for im in data.images] == [(20, 20), (20, 20), (30, 40)]
    assert [p.rsplit("/", 1)[-1] for p in data.filenames] == ["y.PNG", "x.jpg", "1.png"]
    assert data.groups is None and data.split is None

    sized = load_image_folder(root, size=(24, 32), verbose=1)
    assert sized.images.shape == (3, 24, 32)
    assert sized.images.dtype == np.uint8
    assert sized.images[2].min() == sized.images[2].max() == 50

    rgb = load_image_folder(root, mode="rgb", size=(8, 8), extensions=(".jpg",))
    assert rgb.images.shape == (1, 8, 8, 3)
    assert rgb.target_names == ["a_happy"]


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="No images found"):
        load_image_folder(tmp_path)
    with pytest.raises(ValueError, match="size must be"):
        _imwrite(tmp_path / "cls" / "a.png", np.zeros((4, 4), np.uint8))
        load_image_folder(tmp_path, size=(0, 4))
    with pytest.raises(ValueError, match="is a file"):
        load_image_folder(tmp_path / "cls" / "a.png")


# ---------------------------------------------------------------------------
# JAFFE and CK+ on generated files
# ---------------------------------------------------------------------------


def test_load_jaffe(tmp_path):
    names = {
        "KA.AN1.39.tiff": 10,
        "KA.NE2.27.tif": 20,
        "KL.SU3.81.png": 30,
        "ym.ha1.60.JPG": 40,
        "NM.DI1.104.tiff": 50,
        "NM.FE2.108.tiff": 60,
        "TM.SA1.151.tiff": 70,
    }
    for name, value in names.items():
        _imwrite(tmp_path / "jaffedbase" / name, np.full((16, 16, 3), value, np.uint8))
    (tmp_path / "jaffedbase" / "README").write_text("JAFFE")
    data = load_jaffe(tmp_path, verbose=1)
    assert data.target_names == list(JAFFE_CLASSES) == sorted(JAFFE_CLASSES)
    assert set(data.target_names) == set(FER2013_CLASSES)
    assert data.images.shape == (7, 16, 16) and data.images.dtype == np.uint8
    got = {
        f.rsplit("/", 1)[-1]: (data.target_names[t], g, int(im[0, 0]))
        for f, t, g, im in zip(
            data.filenames, data.target, data.groups, data.images, strict=True
        )
    }
    assert got["KA.AN1.39.tiff"][:2] == ("angry", "KA")
    assert got["KA.NE2.27.tif"][:2] == ("neutral", "KA")
    assert got["KL.SU3.81.png"][:2] == ("surprise", "KL")
    assert got["ym.ha1.60.JPG"][:2] == ("happy", "YM")
    assert got["NM.DI1.104.tiff"][:2] == ("disgust", "NM")
    assert got["NM.FE2.108.tiff"][:2] == ("fear", "NM")
    assert got["TM.SA1.151.tiff"][:2] == ("sad", "TM")
    assert abs(got["KA.AN1.39.tiff"][2] - 10) <= 1  # read as grey
    assert load_jaffe(tmp_path, size=(8, 8)).images.shape == (7, 8, 8)


def test_load_jaffe_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_jaffe(tmp_path / "nowhere")
    (tmp_path / "README").write_text("x")
    with pytest.raises(ValueError, match="No JAFFE images"):
        load_jaffe(tmp_path)
    _imwrite(tmp_path / "KA.XX1.39.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="unknown expression code 'XX'"):
        load_jaffe(tmp_path)


def _ck_layout(root, frames):
    """frames: {(emotion, subject, seq): [frame numbers]} -> png files, value = frame."""
    for (emotion, subject, seq), nums in frames.items():
        for f in nums:
            _imwrite(
                root / emotion / f"{subject}_{seq}_{f:08d}.png",
                np.full((48, 48), f, np.uint8),
            )


def test_load_ckplus_generated(tmp_path):
    _ck_layout(
        tmp_path,
        {
            ("happy", "S010", "006"): [14, 15, 16],
            ("anger", "S010", "004"): [19, 17, 18],
            ("anger", "S011", "002"): [5, 6, 7, 8],  # longer: keeps 6, 7, 8
        },
    )
    data = load_ckplus(tmp_path)
    assert data.target_names == ["anger", "happy"]
    assert data.images.shape == (10, 48, 48)
    assert sorted(set(data.groups)) == ["S010", "S011"]
    assert set(data.sequence) == {"S010_004", "S010_006", "S011_002"}
    np.testing.assert_array_equal(data.images[:, 0, 0], data.frame)

    seq = load_ckplus_sequences(tmp_path)
    assert seq.sequences.shape == (3, 3, 48, 48)
    assert seq.sequence.tolist() == ["S010_004", "S010_006", "S011_002"]
    assert seq.frames.tolist() == [[17, 18, 19], [14, 15, 16], [6, 7, 8]]
    np.testing.assert_array_equal(seq.sequences[:, :, 0, 0], seq.frames)
    assert [seq.target_names[t] for t in seq.target] == ["anger", "happy", "anger"]
    assert seq.groups.tolist() == ["S010", "S010", "S011"]


def test_load_ckplus_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_ckplus(tmp_path / "CK+48")
    with pytest.raises(ValueError, match="No CK\\+ images"):
        load_ckplus(tmp_path)
    _ck_layout(
        tmp_path, {("fear", "S005", "001"): [1, 2], ("sadness", "S005", "001"): [3]}
    )
    with pytest.raises(ValueError, match="S005_001 appears under several emotions"):
        load_ckplus_sequences(tmp_path)
    _imwrite(tmp_path / "fear" / "frame1.png", np.zeros((48, 48), np.uint8))
    with pytest.raises(ValueError, match="frame1.png.*SXXX_YYY_ZZZZZZZZ"):
        load_ckplus(tmp_path)


# ---------------------------------------------------------------------------
# FER+ on generated files
# ---------------------------------------------------------------------------

_PLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


@pytest.fixture
def tiny_ferplus(tmp_path):
    rng = np.random.default_rng(3)
    labels = [0, 1, 2, 3, 4, 5]
    pixels = _pixels(rng, 6)
    for i in range(6):
        pixels[i, 10] = i  # a marker for the row
    usages = ["Training"] * 4 + ["PublicTest"] * 2
    fer = tmp_path / "fer2013.csv"
    fer.write_text(_csv_text(labels, pixels, usages))
    rows = [
        "Training,fer0000000.png,6,2,0,0,0,0,0,0,2,0",  # keep: neutral
        "Training,,0,10,0,0,0,0,0,0,0,0",  # dropped: no image name
        "Training,fer0000002.png,1,1,0,0,0,0,0,0,8,0",  # dropped: unknown wins
        "Training,fer0000003.png,0,0,4,0,0,0,4,0,0,2",  # keep: tie surprise/fear
        "PublicTest,fer0000004.png,0,0,0,0,0,0,0,0,0,10",  # dropped: not a face
        "PublicTest,fer0000005.png,0,0,0,0,0,0,0,9,1,0",  # keep: contempt
        "PrivateTest,fer0000006.png,10,0,0,0,0,0,0,0,0,0",  # not in our FER2013
        "PrivateTest,fer0000007.png,10,0,0,0,0,0,0,0,0,0",
    ]
    plus = tmp_path / "fer2013new.csv"
    plus.write_text(_PLUS_HEADER + "\n" + "\n".join(rows) + "\n")
    return fer, plus, pixels


def test_load_ferplus_majority(tiny_ferplus):
    fer, plus, pixels = tiny_ferplus
    data = load_ferplus(fer, plus)
    assert data.target_names == list(FERPLUS_CLASSES)
    assert data.fer2013_index.tolist() == [0, 3, 5]
    assert [data.target_names[t] for t in data.target] == [
        "neutral",
        "surprise",
        "contempt",
    ]
    assert data.images.shape == (3, 48, 48) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images.reshape(3, -1), pixels[[0, 3, 5]])
    assert data.split.tolist() == ["Training", "Training", "PublicTest"]
    assert data.image_names.tolist() == [
        "fer0000000.png",
        "fer0000003.png",
        "fer0000005.png",
    ]
    assert data.vote_counts.shape == (3, 10)
    assert data.vote_counts[0].tolist() == [6, 2, 0, 0, 0, 0, 0, 0, 2, 0]
    assert data.vote_names == [*FERPLUS_CLASSES, "unknown", "NF"]
    assert data.votes.shape == (3, 8) and data.votes.dtype == np.float32
    np.testing.assert_allclose(data.votes[0], [0.75, 0.25, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(data.votes[1], [0, 0, 0.5, 0, 0, 0, 0.5, 0])
    np.testing.assert_array_equal(data.target, data.votes.argmax(axis=1))
    assert "probabilities" not in data
    assert data.groups is None


def test_load_ferplus_probability_and_usage(tiny_ferplus):
    fer, plus, _ = tiny_ferplus
    data = load_ferplus(load_fer2013(fer), plus, mode="probability")
    assert data.probabilities.shape == (3, 8)
    assert data.probabilities.dtype == np.float32
    np.testing.assert_allclose(data.probabilities.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(data.probabilities[0, :2], [0.75, 0.25])
    np.testing.assert_array_equal(data.target, data.probabilities.argmax(axis=1))
    np.testing.assert_array_equal(data.probabilities, data.votes)
    test = load_ferplus(fer, plus, usage="PublicTest")
    assert test.fer2013_index.tolist() == [5]
    with pytest.raises(ValueError, match="available usages"):
        load_ferplus(fer, plus, usage="PrivateTest")


def test_load_ferplus_errors(tiny_ferplus, tmp_path):
    fer, plus, _ = tiny_ferplus
    with pytest.raises(ValueError, match="mode must be"):
        load_ferplus(fer, plus, mode="soft")
    with pytest.raises(FileNotFoundError, match="no_plus.csv"):
        load_ferplus(fer, tmp_path / "no_plus.csv")
    lines = plus.read_text().splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines[:2] + lines[3:]) + "\n")  # one Training row fewer
    with pytest.raises(ValueError, match="4 'Training' rows but the FER\\+ csv.*has 3"):
        load_ferplus(fer, short)
    bad = tmp_path / "bad.csv"
    bad.write_text("Usage,Image name,neutral\nTraining,a.png,1\n")
    with pytest.raises(ValueError, match="not the FER\\+ csv"):
        load_ferplus(fer, bad)
    bad.write_text(lines[0] + "\nTraining,a.png,1,x,0,0,0,0,0,0,0,0\n")
    with pytest.raises(ValueError, match="line 2"):
        load_ferplus(fer, bad)
    negative = tmp_path / "negative.csv"
    negative.write_text("\n".join(lines[:3] + [lines[3].replace(",8,0", ",-8,0")]))
    with pytest.raises(
        ValueError, match="negative.csv', line 4: negative vote count -8 for 'unknown'"
    ):
        load_ferplus(fer, negative)
    latin = tmp_path / "latin1.csv"
    latin.write_bytes((lines[0] + "\nTraining,f\xe9r.png,10,0,0,0,0,0,0,0,0,0\n").encode("latin-1"))
    with pytest.raises(ValueError, match="FER\\+ csv '.*latin1.csv' is not UTF-8"):
        load_ferplus(fer, latin)


# one row per branch of the reference label processing; columns neutral,
# happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF.
# Each row: votes, then (label, distribution) or None per mode, in the order
# 'majority', 'reference_majority', 'reference_probability'.
_N, _HA, _SU, _SA, _DI, _FE, _CO = 0, 1, 2, 3, 5, 6, 7
_PROTOCOL_ROWS = [
    # a clear majority; unknown ties happiness in the 2nd round and ends it
    ([6, 2, 0, 0, 0, 0, 0, 0, 2, 0],
     (_N, {_N: 0.75, _HA: 0.25}), (_N, {_N: 0.75, _HA: 0.25}), (_N, {_N: 0.75, _HA: 0.25})),
    # single votes are outliers for the reference
    ([5, 1, 1, 1, 1, 1, 0, 0, 0, 0],
     (_N, {_N: 0.5, 1: 0.1, 2: 0.1, 3: 0.1, 4: 0.1, 5: 0.1}), (_N, {_N: 1}), (_N, {_N: 1})),
    # unknown + NF outvote the top emotion
    ([4, 0, 0, 0, 0, 0, 0, 0, 3, 3], None, None, None),
    # no majority, but two tied emotions cover 75%
    ([4, 4, 2, 0, 0, 0, 0, 0, 0, 0],
     (_N, {_N: 0.4, _HA: 0.4, _SU: 0.2}), None, (_N, {_N: 0.5, _HA: 0.5})),
    # a tie makes four categories: dropped by the reference
    ([3, 3, 2, 2, 0, 0, 0, 0, 0, 0],
     (_N, {_N: 0.3, _HA: 0.3, _SU: 0.2, _SA: 0.2}), None, None),
    # single unknown and NF votes removed, contempt wins
    ([0, 0, 0, 0, 0, 0, 0, 7, 1, 2], (_CO, {_CO: 1}), (_CO, {_CO: 1}), (_CO, {_CO: 1})),
    # unknown wins
    ([2, 0, 0, 0, 0, 0, 0, 0, 6, 2], None, None, None),
    # every category got one vote
    ([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], None, None, None),
    # not a face
    ([3, 0, 0, 0, 0, 0, 0, 0, 0, 7], None, None, None),
    # a five-way tie
    ([2, 2, 2, 2, 2, 0, 0, 0, 0, 0],
     (_N, dict.fromkeys(range(5), 0.2)), None, None),
    # the two top emotions cover 75% once the single vote is dropped
    ([0, 4, 3, 2, 1, 0, 0, 0, 0, 0],
     (_HA, {_HA: 0.4, _SU: 0.3, _SA: 0.2, 4: 0.1}), None, (_HA, {_HA: 4 / 7, _SU: 3 / 7})),
    # unknown ties the top emotion: the selection holds only 30% of the votes
    ([3, 2, 2, 0, 0, 0, 0, 0, 3, 0],
     (_N, {_N: 3 / 7, _HA: 2 / 7, _SU: 2 / 7}), None, None),
    # fear holds more than half; NF ends the second round
    ([0, 0, 2, 0, 0, 0, 6, 0, 0, 2],
     (_FE, {_SU: 0.25, _FE: 0.75}), (_FE, {_SU: 0.25, _FE: 0.75}), (_FE, {_SU: 0.25, _FE: 0.75})),
    # exactly half is not a majority
    ([0, 0, 0, 0, 0, 5, 0, 0, 5, 0], (_DI, {_DI: 1}), None, None),
]


@pytest.fixture
def protocol_ferplus(tmp_path):
    n = len(_PROTOCOL_ROWS)
    fer = tmp_path / "fer2013.csv"
    fer.write_text(_csv_text([0] * n, np.zeros((n, 2304), int), ["Training"] * n))
    rows = [
        f"Training,fer{i:07d}.png," + ",".join(map(str, r[0]))
        for i, r in enumerate(_PROTOCOL_ROWS)
    ]
    plus = tmp_path / "fer2013new.csv"
    plus.write_text(_PLUS_HEADER + "\n" + "\n".join(rows) + "\n")
    return fer, plus


@pytest.mark.parametrize(
    "mode, column",
    [("majority", 1), ("reference_majority", 2), ("reference_probability", 3)],
)
def test_load_ferplus_reference_protocol(protocol_ferplus, mode, column):
    data = load_ferplus(*protocol_ferplus, mode=mode)
    expected = {i: r[column] for i, r in enumerate(_PROTOCOL_ROWS) if r[column]}
    assert data.fer2013_index.tolist() == list(expected)
    assert data.target.tolist() == [label for label, _ in expected.values()]
    want = np.zeros((len(expected), 8))
    for row, (_, dist) in enumerate(expected.values()):
        for col, p in dist.items():
            want[row, col] = p
    np.testing.assert_allclose(data.votes, want, atol=1e-6)
    assert data.votes.dtype == np.float32
    np.testing.assert_array_equal(
        data.vote_counts, [_PROTOCOL_ROWS[i][0] for i in expected]
    )


def test_load_ferplus_warns_when_rows_are_misaligned(tmp_path):
    rng = np.random.default_rng(5)
    n = 150
    labels = rng.integers(0, 7, n)
    fer = tmp_path / "fer2013.csv"
    fer.write_text(_csv_text(labels, np.zeros((n, 2304), int), ["Training"] * n))
    to_plus = [4, 5, 6, 1, 3, 2, 0]  # FER2013 label -> FER+ column

    def write_plus(labs):
        rows = []
        for i, lab in enumerate(labs):
            votes = [0] * 10
            votes[to_plus[lab]] = 10
            rows.append(f"Training,fer{i:07d}.png," + ",".join(map(str, votes)))
        path = tmp_path / "plus.csv"
        path.write_text(_PLUS_HEADER + "\n" + "\n".join(rows) + "\n")
        return path

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_ferplus(fer, write_plus(labels))
    np.testing.assert_array_equal(data.target, np.array(to_plus)[labels])
    shuffled = rng.permutation(labels)
    with pytest.warns(UserWarning, match="not in the original Kaggle row order"):
        load_ferplus(fer, write_plus(shuffled))


def test_bunch_fields_documented_everywhere(tmp_path, tiny_fer):
    labels, pixels, usages = tiny_fer
    path = tmp_path / "f.csv"
    path.write_text(_csv_text(labels, pixels, usages))
    data = load_fer2013(path)
    assert isinstance(data, Bunch)
    for key in ("images", "target", "target_names", "groups", "split", "DESCR"):
        assert key in data


# ---------------------------------------------------------------------------
# real data (SKFER_DATA)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fer2013_real(skfer_data):
    path = data_path(skfer_data, "fer2013", "fer2013.csv.gz")
    start = time.perf_counter()
    data = load_fer2013(path)
    return data, time.perf_counter() - start


def test_real_fer2013(fer2013_real):
    data, seconds = fer2013_real
    assert seconds < 20, f"load_fer2013 took {seconds:.1f} s"
    assert data.images.shape == (32298, 48, 48)
    assert data.images.dtype == np.uint8
    assert data.images.flags.c_contiguous
    usages, counts = np.unique(data.split, return_counts=True)
    assert dict(zip(usages.tolist(), counts.tolist(), strict=True)) == {
        "Training": 28709,
        "PublicTest": 3589,
    }
    class_counts = np.bincount(data.target, minlength=7)
    assert class_counts.sum() == 32298
    assert np.argmin(class_counts) == FER2013_CLASSES.index("disgust")
    assert np.argmax(class_counts) == FER2013_CLASSES.index("happy")
    assert class_counts.min() > 300
    # the first row of the Kaggle file starts "70 80 82 72 58"
    assert data.target[0] == 0
    assert data.images[0, 0, :5].tolist() == [70, 80, 82, 72, 58]
    assert 0 < data.images.mean() < 255


def test_real_fer2013_usage(skfer_data, fer2013_real):
    data, _ = fer2013_real
    path = data_path(skfer_data, "fer2013", "fer2013.csv.gz")
    test = load_fer2013(path, usage="PublicTest")
    assert test.images.shape == (3589, 48, 48)
    np.testing.assert_array_equal(test.images, data.images[data.split == "PublicTest"])
    with pytest.raises(ValueError, match="PrivateTest.*available usages"):
        load_fer2013(path, usage="PrivateTest")


# images kept per split of our FER2013 copy (Training 28,709, PublicTest
# 3,589), and per class in target_names order: the numbers load_ferplus's
# docstring gives
_FERPLUS_COUNTS = {
    "majority": {
        "Training": [10306, 7527, 3562, 3514, 2464, 191, 652, 165],
        "PublicTest": [1335, 899, 456, 412, 319, 34, 74, 24],
    },
    "reference_majority": {
        "Training": [8740, 7287, 3149, 3014, 2100, 119, 532, 119],
        "PublicTest": [1182, 865, 415, 351, 287, 24, 62, 13],
    },
    "reference_probability": {
        "Training": [10122, 7503, 3524, 3430, 2407, 169, 641, 160],
        "PublicTest": [1317, 897, 450, 401, 314, 31, 72, 23],
    },
}
_FERPLUS_COUNTS["probability"] = _FERPLUS_COUNTS["majority"]


@pytest.mark.parametrize("mode", list(_FERPLUS_COUNTS))
def test_real_ferplus(skfer_data, fer2013_real, mode):
    fer, _ = fer2013_real
    plus = data_path(skfer_data, "ferplus", "fer2013new.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_ferplus(fer, plus, mode=mode)
    n = len(data.target)
    assert data.images.shape == (n, 48, 48)
    assert data.images.dtype == np.uint8
    assert (np.diff(data.fer2013_index) > 0).all()
    np.testing.assert_array_equal(data.images[:50], fer.images[data.fer2013_index[:50]])
    for split, per_class in _FERPLUS_COUNTS[mode].items():
        in_split = data.split == split
        assert np.bincount(data.target[in_split], minlength=8).tolist() == per_class
    assert n == sum(map(sum, _FERPLUS_COUNTS[mode].values()))
    assert set(data.split.tolist()) == {"Training", "PublicTest"}
    assert all(data.image_names)  # (a few names repeat in the official file)
    assert data.votes.shape == (n, 8) and data.vote_counts.shape == (n, 10)
    np.testing.assert_allclose(data.votes.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(data.target, data.votes.argmax(axis=1))
    assert (data.vote_counts.sum(axis=1) >= 3).all()
    if mode.startswith("reference"):
        # no single vote survives the reference's outlier removal
        kept = data.votes > 0
        assert (data.vote_counts[:, :8][kept] >= 2).all()
    if mode == "reference_majority":
        assert (data.votes.max(axis=1) > 0.5).all()
    if mode == "probability":
        np.testing.assert_array_equal(data.probabilities, data.votes)
    # the join: FER2013 labels and FER+ majorities agree on about 63% of
    # the rows (more where FER+ has a clear majority), evenly over the file
    fer_as_plus = np.array([4, 5, 6, 1, 3, 2, 0])[fer.target[data.fer2013_index]]
    agree = fer_as_plus == data.target
    assert 0.6 < agree.mean() < 0.7, agree.mean()
    block = data.fer2013_index // 3000  # blocks of 3,000 rows of the csv
    blocks = np.bincount(block, weights=agree) / np.bincount(block)
    assert len(blocks) == 11 and blocks.min() > 0.55, blocks
    assert not any(
        "not in the original Kaggle row order" in str(w.message) for w in caught
    )


def test_real_ferplus_usage(skfer_data, fer2013_real):
    fer, _ = fer2013_real
    plus = data_path(skfer_data, "ferplus", "fer2013new.csv")
    test = load_ferplus(fer, plus, mode="reference_majority", usage="PublicTest")
    assert len(test.target) == 3199 and set(test.split.tolist()) == {"PublicTest"}
    assert (fer.split[test.fer2013_index] == "PublicTest").all()


def test_real_ckplus(skfer_data):
    path = data_path(skfer_data, "ckplus", "CK+48")
    data = load_ckplus(path)
    assert data.images.shape == (981, 48, 48)
    assert data.images.dtype == np.uint8
    assert data.target_names == [
        "anger",
        "contempt",
        "disgust",
        "fear",
        "happy",
        "sadness",
        "surprise",
    ]
    counts = dict(
        zip(data.target_names, np.bincount(data.target).tolist(), strict=True)
    )
    assert counts == {
        "anger": 135,
        "contempt": 54,
        "disgust": 177,
        "fear": 75,
        "happy": 207,
        "sadness": 84,
        "surprise": 249,
    }
    assert len(set(data.groups)) == 118
    assert len(set(data.sequence)) == 327
    assert all(s.startswith(g) for s, g in zip(data.sequence, data.groups, strict=True))

    seq = load_ckplus_sequences(path)
    assert seq.sequences.shape == (327, 3, 48, 48)
    assert seq.sequences.dtype == np.uint8
    assert (np.diff(seq.frames, axis=1) > 0).all()
    assert len(set(seq.groups)) == 118
    assert np.bincount(seq.target).sum() == 327
