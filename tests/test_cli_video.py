"""``skfer predict``: batching and threads, videos, smoothing and ``--explain``."""

import json

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from skfer._image import read_image
from skfer.cli import _predict as _cli_models
from skfer.cli import _video as _cli_video
from skfer.cli import main
from skfer.datasets import make_faces
from skfer.faces import FaceTracker as EmaTracker
from skfer.faces import box_iou as _box_iou
from skfer.faces import square_crop as _square_crop
from skfer.io import save_model
from skfer.models import make_model

FPS = 10.0


def _json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _small_astronaut(side=160):
    return cv2.resize(skdata.astronaut(), (side, side), interpolation=cv2.INTER_AREA)


def _write_rgb(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _frames(n_faces=8, n_blank=4):
    """160x160 frames: the astronaut moving right 2 px a frame, then grey ones."""
    face = _small_astronaut()
    return ([np.roll(face, 2 * i, axis=1) for i in range(n_faces)]
            + [np.full_like(face, 90) for _ in range(n_blank)])


def _write_video(path, frames, codec="MJPG", fps=FPS):
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        return None
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _read_video(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """12 frames at 10 fps (MJPG .avi): a face in frames 0-7, none in 8-11."""
    return _write_video(tmp_path_factory.mktemp("video") / "clip.avi", _frames())


@pytest.fixture(scope="module")
def album(tmp_path_factory):
    """Seven small photos: one face, two faces, none, and a corrupt file."""
    root = tmp_path_factory.mktemp("album")
    face = _small_astronaut()
    _write_rgb(root / "a_one.png", face)
    _write_rgb(root / "b_two.png", np.hstack([face, face[:, ::-1]]))
    _write_rgb(root / "c_none.png", np.full((100, 120, 3), 200, np.uint8))
    _write_rgb(root / "sub" / "d_big.png", _small_astronaut(200))
    _write_rgb(root / "sub" / "e_shift.png", np.roll(face, 9, axis=1))
    (root / "f_broken.jpg").write_bytes(b"not an image")
    _write_rgb(root / "g_one.jpg", np.roll(face, -7, axis=1))
    return root


@pytest.fixture(scope="module")
def pca_model(tmp_path_factory):
    """A classical (not CNN) model file with probabilities."""
    faces = make_faces(n_samples=70, random_state=0)
    y = np.asarray(faces.target_names)[faces.target]
    return save_model(make_model("pca_lda").fit(faces.images, y),
                      tmp_path_factory.mktemp("pca") / "pca.skfer")


def _predict(capsys, *argv):
    rc = main(["predict", "--quiet", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


# ------------------------------------------------------ batching, threads
def test_photos_same_output_for_n_jobs_and_batches(album, monkeypatch, capsys):
    monkeypatch.setattr(_cli_models, "_CHUNK", 3)  # several chunks of photos
    rc, serial, err = _predict(capsys, "--n-jobs", "1", album)
    assert rc == 1 and "cannot read" in err and "f_broken.jpg" in err
    assert "Traceback" not in err and "1 of 7 files failed" in err
    lines = _json_lines(serial)
    names = [line["file"].rsplit("/", 1)[-1] for line in lines]
    # input order (sorted), the two-face photo twice, the blank one once
    assert names == ["a_one.png", "b_two.png", "b_two.png", "c_none.png", "g_one.jpg",
                     "d_big.png", "e_shift.png"]
    assert lines[3]["box"] is None and all(line["box"] for i, line in enumerate(lines)
                                           if i != 3)
    assert all(line["emotion"] == "happy" for i, line in enumerate(lines) if i != 3)
    rc2, threaded, _ = _predict(capsys, "--n-jobs", "2", album)
    assert rc2 == 1 and threaded == serial
    rc3, all_cores, _ = _predict(capsys, "--n-jobs", "-1", "--batch-size", "1", album)
    assert rc3 == 1
    for a, b in zip(lines, _json_lines(all_cores), strict=True):
        assert (a["file"], a["box"], a["emotion"]) == (b["file"], b["box"], b["emotion"])
        if a["probabilities"]:
            for name, value in a["probabilities"].items():
                assert b["probabilities"][name] == pytest.approx(value, abs=2e-4)


def test_batches_hold_several_photos(album, monkeypatch, capsys):
    sizes = []
    classify = _cli_models._Predictor.classify

    def recording(self, crops):
        sizes.append(len(crops))
        return classify(self, crops)

    monkeypatch.setattr(_cli_models._Predictor, "classify", recording)
    _predict(capsys, "--batch-size", "2", album)
    assert sizes == [6]  # one chunk: the six faces of the photos together


# ------------------------------------------------------------------ videos
def test_video_every_time_and_annotate(clip, tmp_path, capsys):
    ann = tmp_path / "ann"
    # --min-neighbors 4: no false face in frame 3 (see the smoothing test)
    rc, out, err = _predict(capsys, "--every", "3", "--min-neighbors", "4", "--annotate",
                            ann, clip)
    assert rc == 0, err
    lines = _json_lines(out)
    assert [line["frame"] for line in lines] == [0, 3, 6, 9]
    assert [line["time"] for line in lines] == pytest.approx([0.0, 0.3, 0.6, 0.9])
    assert all(list(line) == ["file", "frame", "time", "box", "emotion", "probabilities"]
               for line in lines)
    assert all(line["file"] == str(clip) for line in lines)
    assert [line["box"] is None for line in lines] == [False, False, False, True]
    assert lines[3]["emotion"] is None and lines[3]["probabilities"] is None
    assert {line["emotion"] for line in lines[:3]} == {"happy"}
    assert sum(lines[0]["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    # the face moves right: so do the boxes
    assert lines[0]["box"][0] < lines[1]["box"][0] < lines[2]["box"][0]
    written = list(ann.iterdir())
    assert [p.name for p in written] in (["clip.mp4"], ["clip.avi"])
    frames = _read_video(written[0])
    original = _frames()
    assert len(frames) == 12 and frames[0].shape == (160, 160, 3)
    # frame 4 was skipped: it shows frame 3's box; the grey frames show none
    x, y, w, h = lines[1]["box"]
    diff = np.abs(frames[4].astype(int) - original[4]).max(axis=-1)
    assert diff[y:y + h, x].max() > 60  # the box's left edge
    assert np.abs(frames[10].astype(int) - original[10]).max() < 30  # codec noise only


def test_video_mp4_in_a_folder(tmp_path, capsys):
    video = _write_video(tmp_path / "in" / "clips" / "talk.mp4", _frames(4, 0), codec="mp4v")
    if video is None:
        pytest.skip("OpenCV cannot write mp4v here")
    _write_rgb(tmp_path / "in" / "photo.png", _small_astronaut())
    rc, out, err = _predict(capsys, "--every", "2", tmp_path / "in")
    assert rc == 0, err
    lines = _json_lines(out)
    assert [(line["file"].rsplit("/", 1)[-1], line.get("frame")) for line in lines] == [
        ("talk.mp4", 0), ("talk.mp4", 2), ("photo.png", None)]
    assert "frame" not in lines[2] and lines[1]["time"] == pytest.approx(0.2)


def test_video_smoothing_follows_the_formula(clip, capsys):
    rc, raw, _ = _predict(capsys, clip)
    assert rc == 0
    rc, smooth, _ = _predict(capsys, "--smooth", "3", clip)  # alpha = 0.5
    assert rc == 0
    raw, smooth = _json_lines(raw), _json_lines(smooth)
    assert [(r["frame"], r["box"]) for r in raw] == [(s["frame"], s["box"]) for s in smooth]
    # With OpenCV 4.14 the detector also finds a false face in frame 3, far
    # from the real one: it starts a track of its own (smoothed = raw) and the
    # real face's track goes on.
    state = box = None
    tracked = []
    for r, s in zip(raw, smooth, strict=True):
        if r["box"] is None:
            assert s["probabilities"] is None and s["emotion"] is None
            continue
        p = np.array(list(r["probabilities"].values()))
        if box is None or _box_iou(box, r["box"]) >= 0.3:
            state = p if state is None else 0.5 * p + 0.5 * state
            box = r["box"]
            expected = state
            tracked.append((r["probabilities"]["happy"], s["probabilities"]["happy"]))
        else:
            expected = p
        np.testing.assert_allclose(list(s["probabilities"].values()), expected, atol=2e-4)
        assert s["emotion"] == list(s["probabilities"])[int(np.argmax(expected))]
    # smoothing pulls each frame towards the earlier ones: less spread over time
    happy_raw, happy_smooth = np.array(tracked).T
    assert len(tracked) == 8 and happy_smooth[0] == happy_raw[0]
    assert np.ptp(happy_smooth) < np.ptp(happy_raw)


def test_video_that_cannot_be_opened(album, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    rc, out, err = _predict(capsys, bad, album / "a_one.png")
    assert rc == 1
    assert "cannot open video" in err and "bad.mp4" in err and "Traceback" not in err
    assert "1 of 2 files failed" in err
    [line] = _json_lines(out)
    assert line["file"].endswith("a_one.png") and line["emotion"] == "happy"


def test_ema_tracker_by_hand():
    tracker = EmaTracker(4)  # alpha = 2 / 5
    assert tracker.alpha == pytest.approx(0.4)
    box = (10, 10, 20, 20)
    far = (200, 200, 20, 20)
    first = tracker.update([box], np.array([[1.0, 0.0]]))
    np.testing.assert_array_equal(first, [[1.0, 0.0]])
    second = tracker.update([(12, 10, 20, 20)], np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(second, [[0.6, 0.4]])  # 0.4 * p + 0.6 * s
    # a face far away starts its own track; the first one goes on
    both = tracker.update([far, (13, 11, 20, 20)], np.array([[0.2, 0.8], [0.0, 1.0]]))
    np.testing.assert_allclose(both, [[0.2, 0.8], [0.36, 0.64]])
    assert len(tracker.tracks) == 2
    # a frame without faces keeps the tracks (up to max_missed frames)...
    assert tracker.update([], np.zeros((0, 2))).shape == (0, 2)
    again = tracker.update([(13, 11, 20, 20)], np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(again, [[0.4 + 0.6 * 0.36, 0.6 * 0.64]])
    # ... then drops them
    for _ in range(6):
        tracker.update([], np.zeros((0, 2)))
    assert tracker.tracks == []
    np.testing.assert_array_equal(tracker.update([box], np.array([[0.0, 1.0]])), [[0.0, 1.0]])


def test_ema_tracker_matches_greedily_by_iou():
    tracker = EmaTracker(1)  # alpha = 1: no smoothing, only tracking
    tracker.update([(0, 0, 10, 10), (8, 0, 10, 10)], np.eye(2))
    # one face overlapping both tracks goes to the closer one; the other is new
    out = tracker.update([(7, 0, 10, 10), (40, 40, 10, 10)], np.array([[0.5, 0.5], [1, 0]]))
    np.testing.assert_array_equal(out, [[0.5, 0.5], [1.0, 0.0]])
    assert [t["box"] for t in tracker.tracks] == [(0, 0, 10, 10), (7, 0, 10, 10),
                                                  (40, 40, 10, 10)]
    assert [t["missed"] for t in tracker.tracks] == [1, 0, 0]
    with pytest.raises(ValueError, match="one row per box"):
        tracker.update([(0, 0, 1, 1)], np.zeros((2, 2)))


# ----------------------------------------------------------------- explain
def test_explain_photos(album, tmp_path, capsys):
    why = tmp_path / "why"
    rc, out, err = _predict(capsys, "--explain", why, album / "b_two.png", album / "sub")
    assert rc == 0, err
    lines = _json_lines(out)
    written = sorted(p.relative_to(why).as_posix() for p in why.rglob("*.png"))
    # names relative to the folder given, as with --annotate
    assert written == ["b_two_face0.png", "b_two_face1.png", "d_big_face0.png",
                       "e_shift_face0.png"]
    pic = read_image(why / "b_two_face1.png")
    assert pic.shape == (192, 192, 3)
    # the heat is not constant: what the overlay adds to the crop varies a lot
    photo = read_image(album / "b_two.png")
    crop = cv2.resize(_square_crop(photo, lines[1]["box"], 0.1), (192, 192),
                      interpolation=cv2.INTER_CUBIC)
    added = pic[40:].astype(float) - 0.6 * crop[40:]  # below the label strip
    assert np.ptp(added[..., 0]) > 60 and np.ptp(added[..., 2]) > 60


def test_explain_video_frames_are_capped(clip, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_cli_video, "EXPLAIN_FRAMES", 2)
    why = tmp_path / "why"
    rc, out, err = _predict(capsys, "--every", "2", "--explain", why, clip)
    assert rc == 0, err
    assert len(_json_lines(out)) == 6
    assert sorted(p.name for p in why.iterdir()) == ["clip_frame0_face0.png",
                                                     "clip_frame2_face0.png"]


def test_explain_needs_a_cnn(pca_model, album, tmp_path, capsys):
    why = tmp_path / "why"
    rc, out, err = _predict(capsys, "--model", pca_model, "--explain", why, album)
    assert rc == 2 and out == ""
    assert err.startswith("skfer predict: error: --explain") and "CNNClassifier" in err
    assert len(err.strip().splitlines()) == 1
    assert not why.exists()


# ------------------------------------------------------------ usage errors
def test_new_usage_errors(album, tmp_path, capsys):
    image = album / "a_one.png"
    no_proba = save_model(make_model("hog_svm").fit(
        make_faces(n_samples=40, random_state=0).images,
        np.repeat(["happy", "sad"], 20)), tmp_path / "hog.skfer")
    cases = [
        (["--every", "0"], "--every must be >= 1"),
        (["--smooth", "-1"], "--smooth must be >= 0"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--n-jobs", "0"], "--n-jobs"),
        (["--explain", str(image)], "is a file"),
        (["--model", str(no_proba), "--smooth", "3"], "gives none"),
    ]
    for argv, message in cases:
        rc, out, err = _predict(capsys, *argv, image)
        assert rc == 2 and out == "", argv
        assert err.startswith("skfer predict: error:") and message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1
