import cv2
import numpy as np
import pytest

from skfer.preprocessing import ImageReader


@pytest.fixture
def files(tmp_path):
    red = np.zeros((6, 8, 3), np.uint8)
    red[..., 2] = 255  # BGR on disk: red
    paths = []
    for i in range(5):
        p = tmp_path / f"img{i}.png"
        cv2.imwrite(str(p), red)
        paths.append(p)
    return paths


def test_reads_rgb_not_bgr(files):
    out = ImageReader().fit_transform(files)
    assert out.shape == (5, 6, 8, 3) and out.dtype == np.uint8
    assert out[0, 0, 0].tolist() == [255, 0, 0]


def test_modes_and_parallel_reading_agree(files):
    grey = ImageReader(mode="gray").fit_transform([str(p) for p in files])
    assert grey.shape == (5, 6, 8)
    par = ImageReader(n_jobs=2, verbose=1).fit_transform(files)
    np.testing.assert_array_equal(par, ImageReader().fit_transform(files))


def test_different_sizes_give_a_list(tmp_path, files):
    big = tmp_path / "big.jpg"
    cv2.imwrite(str(big), np.zeros((20, 10, 3), np.uint8))
    out = ImageReader().fit_transform([files[0], big])
    assert isinstance(out, list) and [o.shape for o in out] == [(6, 8, 3), (20, 10, 3)]


def test_errors_name_the_file(tmp_path, files):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        ImageReader().fit_transform([files[0], tmp_path / "nope.png"])
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match="corrupt.jpg"):
        ImageReader().fit_transform([bad])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png.*empty"):
        ImageReader().fit_transform([empty])
    with pytest.raises(ValueError, match="is a directory"):
        ImageReader().fit_transform([tmp_path])


def test_arrays_pass_through():
    X = np.zeros((2, 4, 4), np.uint8)
    np.testing.assert_array_equal(ImageReader().fit_transform(X), X)


def test_gif_is_read_through_the_imageio_fallback(tmp_path):
    import imageio.v3 as iio

    path = tmp_path / "face.gif"
    iio.imwrite(path, np.full((5, 7, 3), 200, np.uint8))
    out = ImageReader().fit_transform([path])
    assert out.shape == (1, 5, 7, 3) and int(out.min()) == int(out.max()) == 200


def test_a_1d_object_array_of_images_is_images_and_of_paths_is_paths(files):
    # issue #15: a 1-D object array was always taken for paths (str(image) read as a file)
    images = np.empty(2, dtype=object)
    images[0], images[1] = np.zeros((4, 5), np.uint8), np.full((6, 3), 7, np.uint8)
    out = ImageReader().fit_transform(images)
    assert isinstance(out, list) and [o.shape for o in out] == [(4, 5), (6, 3)]
    same = np.empty(2, dtype=object)
    same[0], same[1] = np.zeros((4, 5), np.uint8), np.ones((4, 5), np.uint8)
    np.testing.assert_array_equal(ImageReader().fit_transform(same), np.stack(list(same)))
    expected = ImageReader().fit_transform(files)
    for paths in (np.array(files, dtype=object), np.array([str(p) for p in files]),
                  np.array([str(p) for p in files], dtype=object)):
        np.testing.assert_array_equal(ImageReader().fit_transform(paths), expected)
    mixed = np.empty(2, dtype=object)
    mixed[0], mixed[1] = files[0], np.zeros((4, 5), np.uint8)
    with pytest.raises(ValueError, match="mixes file paths and arrays"):
        ImageReader().fit_transform(mixed)
