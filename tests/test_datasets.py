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
    assert data.votes.shape == (3, 10)
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


@pytest.mark.parametrize("mode", ["majority", "probability"])
def test_real_ferplus(skfer_data, fer2013_real, mode):
    fer, _ = fer2013_real
    plus = data_path(skfer_data, "ferplus", "fer2013new.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_ferplus(fer, plus, mode=mode)
    n = len(data.target)
    assert n == 31934  # rows FER+ keeps of our 32,298
    assert data.images.shape == (n, 48, 48)
    assert data.images.dtype == np.uint8
    assert ((data.target >= 0) & (data.target < 8)).all()
    assert set(np.unique(data.target)) == set(range(8))
    assert (np.diff(data.fer2013_index) > 0).all()
    np.testing.assert_array_equal(data.images[:50], fer.images[data.fer2013_index[:50]])
    counts = dict(zip(*np.unique(data.split, return_counts=True), strict=True))
    assert counts == {"Training": 28381, "PublicTest": 3553}
    assert all(data.image_names)  # (a few names repeat in the official file)
    if mode == "probability":
        assert data.probabilities.shape == (n, 8)
        np.testing.assert_allclose(data.probabilities.sum(axis=1), 1, rtol=1e-5)
        np.testing.assert_array_equal(data.target, data.probabilities.argmax(axis=1))
    # the alignment warning fires exactly when the labels agree at chance level
    fer_as_plus = np.array([4, 5, 6, 1, 3, 2, 0])[fer.target[data.fer2013_index]]
    agreement = np.mean(fer_as_plus == data.target)
    warned = any(
        "not in the original Kaggle row order" in str(w.message) for w in caught
    )
    assert warned == (agreement < 0.4), agreement


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
