"""``skfer predict``: every face of photos and videos, classified, as JSON lines.

The faces are found, cropped and classified by :class:`skfer.faces.FaceRecognizer`
(the one face engine); this module only walks the files, prints the JSON
lines (built by :mod:`skfer._annotate`, as ``skfer serve``'s), and writes
annotated copies and Grad-CAM pictures (drawn there too). Videos are read by
:mod:`skfer.cli._video`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .._annotate import (
    EXPLAIN_SIZE,
    colour,
    crop_margin_of,
    draw_faces,
    explain_picture,
    face_line,
    label_text,
    no_face_line,
    write_image,
)
from ._common import UsageError, error
from ._video import EXPLAIN_FRAMES, VIDEO_EXTENSIONS, is_video, predict_video

_PREDICT_DESCRIPTION = """\
Find every face in each image with skfer's face engine (skfer.faces: by default
the MTCNN detector, each face aligned by its five landmarks onto FER2013's
framing; with --detector haar, OpenCV's Haar cascade and a square crop around
each face box, 1.2 times its side; resized to the model's input) and classify it with a
model file from 'skfer train' or skfer.io.save_model (default: the shipped
pretrained model). The same photo gives the same boxes and probabilities as
skfer.pretrained.detect_emotions and 'skfer demo'. Prints one JSON line per face:
{"file", "box": [x, y, w, h], "emotion", "probabilities"} ("emotion" is the
model's predict(), "probabilities" null when the model gives none), and for
an image without a face one line with "box" and "emotion" null (and a
warning on stderr). Lines come in the order of the files, whatever --n-jobs.

Videos (.mp4 .avi .mov .mkv .webm .m4v) are read frame by frame with OpenCV;
every --every'th frame is classified, with one line per frame and face that
adds "frame" (its index) and "time" (seconds: frame / fps; null when the
video gives no frame rate). --detect-every N runs the detector on every Nth
processed frame only and follows the faces in between (template matching,
well under a millisecond per face), for real-time speed; every processed
frame is still classified. --smooth K averages each face's probabilities
over the processed frames, faces being followed from frame to frame by their
boxes (IoU >= 0.3): s = a * p + (1 - a) * s_previous with a = 2 / (K + 1);
"probabilities" are then the smoothed ones and "emotion" their argmax.

Exit status: 0 when every file was read and a face was found in at least one;
1 when a file could not be read or written, or no face was found at all;
2 for a mistake in the command line (missing file, not a model file).
"""

_PREDICT_EPILOG = """\
examples:
  skfer predict photo.jpg                                  (the pretrained model)
  skfer predict --model hog.skfer photos/ --annotate annotated/ > faces.jsonl
  skfer predict --n-jobs -1 --quiet big_folder/ > faces.jsonl
  skfer predict --every 5 --smooth 4 --annotate annotated/ clip.mp4 > clip.jsonl
  skfer predict --detect-every 5 --smooth 8 webcam.mp4 > clip.jsonl   (real time)
  skfer predict --detector haar photos/                    (OpenCV only, upright faces)
  skfer predict --explain why/ photo.jpg                   (why/photo_face0.png...)
"""

#: Image file extensions searched for in folders given to ``skfer predict``.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif",
                    ".pgm", ".ppm", ".pbm")

#: Photos read and searched for faces per chunk (in parallel with --n-jobs);
#: fewer with --annotate, which keeps a chunk's photos in memory until their
#: faces are classified.
_CHUNK = 64
_ANNOTATE_CHUNK = 16


def format_parser(subparsers):
    """Register ``skfer predict`` on argparse ``subparsers``."""
    q = subparsers.add_parser(
        "predict",
        help="detect the faces in images and classify their expressions (JSON lines)",
        description=_PREDICT_DESCRIPTION,
        epilog=_PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("--model", default=None, metavar="NAME_OR_FILE",
                   help="a model file from 'skfer train' or skfer.io.save_model, or the "
                        "name of a model shipped in the package (skfer.pretrained.MODELS; "
                        "default: the pretrained FER2013 model)")
    q.add_argument("paths", nargs="+", metavar="PATH",
                   help="image or video files, or folders searched recursively for "
                        + "/".join(e[1:] for e in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
                        + " files")
    q.add_argument("--annotate", metavar="DIR",
                   help="write a copy of each image with the faces boxed and labelled "
                        "here (same file names; for folders, the same sub-folders); for "
                        "a video, DIR/<name>.mp4 (.avi if OpenCV cannot write mp4) with "
                        "every frame, skipped ones showing the latest result")
    q.add_argument("--detector", choices=("mtcnn", "haar"), default=None,
                   help="face detector: mtcnn (default; a small CNN with five landmarks: "
                        "more faces, tilted ones too) or haar (OpenCV's Haar cascade: "
                        "upright faces, no landmarks; the default when --min-neighbors "
                        "is given)")
    q.add_argument("--align", choices=("auto", "landmarks", "eyes", "none"),
                   default="auto",
                   help="face alignment before resizing: landmarks (warp onto FER2013's "
                        "framing by the five landmarks; needs --detector mtcnn), eyes "
                        "(level the eyes found by the eye cascade), none; default auto: "
                        "landmarks with mtcnn, none with haar")
    q.add_argument("--min-size", default=None, metavar="SIZE",
                   help="smallest face searched for: pixels (an int, e.g. 40) or a "
                        "fraction of the image's longer side (a float < 1; default: "
                        "0.05 for mtcnn, 0.06 for haar)")
    q.add_argument("--min-neighbors", type=int, default=None, metavar="N",
                   help="haar: detections a face needs (default 3; higher: fewer false "
                        "faces); selects --detector haar unless another is given")
    q.add_argument("--margin", type=float, metavar="FRACTION",
                   help="crop margin around each face box, a fraction of its side on "
                        "each side (FaceCropper's margin); default: the model file's "
                        "crop_margin, else 0.1, the margin of FER2013 and CK+48 faces")
    q.add_argument("--explain", metavar="DIR",
                   help="write a Grad-CAM picture of each face here, "
                        f"{EXPLAIN_SIZE}x{EXPLAIN_SIZE} and labelled: the regions "
                        "that raised the predicted class (DIR/<name>_face<i>.png; for "
                        "videos DIR/<name>_frame<n>_face<i>.png, for the first "
                        f"{EXPLAIN_FRAMES} processed frames with faces). Needs a "
                        "CNN model, as the pretrained one")
    q.add_argument("--every", type=int, default=1, metavar="N",
                   help="videos: classify every Nth frame (default 1: all)")
    q.add_argument("--detect-every", type=int, default=1, metavar="N",
                   help="videos: detect faces on every Nth classified frame and follow "
                        "them in between (default 1: detect on each)")
    q.add_argument("--smooth", type=int, default=0, metavar="K",
                   help="videos: exponential moving average of each face's "
                        "probabilities over K processed frames, alpha = 2/(K+1) "
                        "(default 0: off)")
    q.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse images of more pixels (width x height) than this, from "
                        "their header, before decoding them (default 50000000; or the "
                        "SKFER_MAX_PIXELS environment variable); such a file gets an "
                        "error line and the others are still classified")
    q.add_argument("--batch-size", type=int, default=256, metavar="N",
                   help="faces per call of the model (default 256)")
    q.add_argument("--n-jobs", type=int, default=1, metavar="N",
                   help="threads reading images and finding faces (default 1; -1: "
                        "all cores)")
    q.add_argument("--device", metavar="DEVICE",
                   help="where deep models run: cpu, cuda (default: CUDA if available)")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=main)
    return q



def _parse_min_size(text):
    try:
        value = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            value = None
    if value is None or (isinstance(value, int) and value < 1) or (
        isinstance(value, float) and not 0.0 < value < 1.0
    ):
        raise UsageError(f"--min-size must be an int >= 1 (pixels) or a float in (0, 1) "
                         f"(fraction of the image's longer side), got {text!r}.")
    return value


def _inside(path, folder):
    """Whether ``path`` lies in ``folder`` (both resolved)."""
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def collect_files(paths, *, skip=()):
    """``[(file, name for --annotate)]`` from files and folders (searched recursively).

    Folders are searched for images (:data:`IMAGE_EXTENSIONS`) and videos
    (:data:`~skfer.cli._video.VIDEO_EXTENSIONS`), hidden files and the
    output folders in ``skip`` left out. A path given by name must be a
    regular file (not a FIFO or a device, which would block).
    """
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: '{missing[0]}'"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "") + ".")
    skip = [Path(s) for s in skip if s is not None]
    wanted = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
    files = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            # An output folder inside this one is skipped (the folder itself is
            # not: writing into it is refused by check_outputs).
            inner = [s for s in skip if s.exists() and _inside(s, path)
                     and s.resolve() != path.resolve()]
            found = sorted(
                f for f in path.rglob("*")
                if f.is_file() and f.suffix.lower() in wanted
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
                and not any(_inside(f, s) for s in inner)
            )
            if not found:
                print(f"skfer predict: warning: no image files or videos in '{path}'.",
                      file=sys.stderr)
            files.extend((f, f.relative_to(path)) for f in found)
        elif not path.is_file():
            raise UsageError(f"'{path}' is not a regular file (a FIFO, socket or device?); "
                             "give image or video files, or folders.")
        else:
            files.append((path, Path(path.name)))
    if not files:
        raise UsageError("no image files or videos to classify.")
    return files


def check_outputs(files, annotate):
    """Refuse an --annotate folder that would overwrite an input or write one name twice."""
    if annotate is None:
        return
    seen = {}
    for path, rel in files:
        out = annotate / rel
        if is_video(path):
            targets = [out.with_suffix(".mp4"), out.with_suffix(".avi")]
        else:
            targets = [out, out.with_name(out.name + ".png")]
        for target in targets:
            if target.exists() and target.resolve() == path.resolve():
                raise UsageError(
                    f"--annotate '{annotate}' would overwrite the input '{path}' with its "
                    "annotated copy; give another folder (e.g. --annotate annotated/).")
        key = str(out.resolve())
        if key in seen:
            raise UsageError(
                f"--annotate: '{seen[key]}' and '{path}' would both be written to '{out}'; "
                "give them in separate runs or rename one.")
        seen[key] = path


class _CannotClassify(Exception):
    """The model does not take face crops: reported on one line, exit status 2."""


class _Predictor:
    """What ``skfer predict`` does per file: find and classify faces, explain, draw."""

    def __init__(self, recognizer, *, pool, annotate, explain, quiet, say, bar,
                 max_pixels=None):
        import threading

        self.recognizer = recognizer
        self.max_pixels = max_pixels
        self.classes = recognizer.classes
        self.pool = pool
        self.annotate, self.explain, self.quiet, self.say = annotate, explain, quiet, say
        self.bar, self._lock = bar, threading.Lock()

    def tick(self):
        """One more file done (from any thread)."""
        with self._lock:
            self.bar.update(1)

    def map(self, func, items):
        """``[func(x) for x in items]``, in the thread pool when there is one."""
        if self.pool is None or len(items) < 2:
            return [func(x) for x in items]
        return list(self.pool.map(func, items))

    def find(self, image, engine=None):
        """``(Detections, model inputs, pictures for --explain)`` of one RGB image.

        ``engine``: another face engine than the recognizer's (a video's,
        whose detector follows faces between detections).
        """
        engine = self.recognizer.engine if engine is None else engine
        found = engine.detect(image)
        cuts = engine.cuts(image, found)  # at the photo's resolution (--explain)
        crops = [engine.finish(c) for c in cuts]
        return found, crops, (cuts if self.explain is not None else crops)

    def classify(self, crops):
        """``(labels, probabilities or None)`` of face crops, in batches."""
        try:
            return self.recognizer.classify(crops)
        except (ValueError, TypeError) as exc:
            # The model does not take images (e.g. trained on flat features).
            raise _CannotClassify(str(exc)) from None

    def face_line(self, box, label, row, landmarks=None):
        """``(box, JSON fields, probability of label)`` of one face (:func:`face_line`)."""
        return face_line(box, label, row, self.classes, landmarks)

    def draw(self, rgb, faces):
        return draw_faces(rgb, faces, self.classes)

    def explain_faces(self, crops, shown, labels, rows, names, sources):
        """Write a Grad-CAM picture per face; returns the sources that failed."""
        from ..explain import grad_cam

        if not crops:
            return set()
        try:
            heat = grad_cam(self.recognizer.model, crops, target=np.asarray(labels),
                            batch_size=min(self.recognizer.batch_size, 64))
        except (ValueError, TypeError) as exc:
            for source in dict.fromkeys(sources):
                self.say(f"skfer predict: error: cannot explain the faces of "
                         f"'{source}': {exc}")
            return set(sources)
        failed = set()
        for i, name in enumerate(names):
            text = label_text(labels[i])
            if rows is not None:
                text += f" {float(rows[i][self.classes.index(labels[i])]):.2f}"
            picture = explain_picture(shown[i], heat[i], text,
                                      colour(labels[i], self.classes))
            try:
                write_image(picture, self.explain / name)
            except OSError as exc:
                self.say(f"skfer predict: error: cannot write '{self.explain / name}': {exc}")
                failed.add(sources[i])
        return failed


def _check_args(args):
    """Validate the numbers of ``skfer predict``; returns the detector's parameters."""
    params = {}
    if args.detector is None:  # --min-neighbors is Haar's: it picks Haar
        args.detector = "mtcnn" if args.min_neighbors is None else "haar"
    if args.min_size is not None:
        params["min_size"] = _parse_min_size(args.min_size)
    if args.min_neighbors is not None:
        if args.detector != "haar":
            raise UsageError(f"--min-neighbors is a setting of the Haar detector; with "
                             f"--detector {args.detector} leave it out, or add "
                             "--detector haar.")
        params["min_neighbors"] = args.min_neighbors
    if args.align == "landmarks" and args.detector == "haar":
        raise UsageError("--align landmarks needs the five landmarks of --detector mtcnn; "
                         "the Haar detector finds none (use --align eyes or none with it).")
    for flag, value, low in (("--min-neighbors", args.min_neighbors or 0, 0),
                             ("--detect-every", args.detect_every, 1),
                             ("--batch-size", args.batch_size, 1),
                             ("--max-pixels", args.max_pixels or 1, 1),
                             ("--every", args.every, 1), ("--smooth", args.smooth, 0)):
        if value < low:
            raise UsageError(f"{flag} must be >= {low}, got {value}.")
    if args.n_jobs == 0:
        raise UsageError("--n-jobs must be >= 1, or -1 for all cores (-2: all but one...), "
                         "got 0.")
    if args.margin is not None:
        _check_margin(args.margin, "--margin")
    for flag, folder in (("--annotate", args.annotate), ("--explain", args.explain)):
        if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
            raise UsageError(f"{flag} '{folder}' is a file; give a folder.")
    return params


def _check_margin(value, what):
    from ..faces import check_margin

    try:
        return check_margin(value, what)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _check_explainable(clf, what):
    from ..neural import CNNClassifier

    final = clf.steps[-1][1] if hasattr(clf, "steps") else clf
    if not isinstance(final, CNNClassifier):
        raise UsageError(f"--explain draws Grad-CAM maps, which need a convolutional net "
                         f"(a model ending in a CNNClassifier, as 'skfer train --model "
                         f"cnn:...' makes); {what} ends in a {type(final).__name__}.")


def _groups(files, chunk):
    """Runs of up to ``chunk`` consecutive photos, and each video on its own."""
    run = []
    for item in files:
        if is_video(item[0]):
            if run:
                yield "photos", run
                run = []
            yield "video", [item]
        else:
            run.append(item)
            if len(run) == chunk:
                yield "photos", run
                run = []
    if run:
        yield "photos", run


def _predict_photos(chunk, p):
    """Classify the faces of a chunk of photos; returns ``(n_faces, failed files)``."""
    from .._image import read_image

    keep = p.annotate is not None

    def load(item):
        try:
            image = read_image(item[0], mode="rgb", max_pixels=p.max_pixels)
        except (ValueError, OSError) as exc:
            p.tick()
            return None, exc, None, [], []
        found, crops, shown = p.find(image)
        p.tick()
        return (image if keep else None), None, found, crops, shown

    loaded = p.map(load, chunk)
    crops = [c for _, _, _, cs, _ in loaded for c in cs]
    labels, proba = p.classify(crops)
    failed, explain = set(), ([], [], [], [], [], [])
    n_faces = k = 0
    for (path, rel), (image, exc, found, face_crops, shown) in zip(chunk, loaded, strict=True):
        if exc is not None:
            p.say(f"skfer predict: error: cannot read '{path}': {exc}")
            failed.add(path)
            continue
        faces = []
        boxes = found.boxes
        if len(boxes) == 0:
            p.say(f"skfer predict: warning: no face found in '{path}'.")
            print(json.dumps(no_face_line(path)), flush=True)
        for i, box in enumerate(boxes):
            row = None if proba is None else proba[k + i]
            box, line, top = p.face_line(box, labels[k + i], row, found.landmarks_of(i))
            print(json.dumps({"file": str(path), **line}), flush=True)
            faces.append((box, labels[k + i], top))
            if p.explain is not None:
                stem = rel.with_suffix("")
                for store, value in zip(explain, (face_crops[i], shown[i], labels[k + i], row,
                                                  stem.with_name(f"{stem.name}_face{i}.png"),
                                                  path), strict=True):
                    store.append(value)
        k += len(boxes)
        n_faces += len(boxes)
        if keep:
            try:
                write_image(p.draw(image, faces), p.annotate / rel)
            except OSError as exc:
                p.say(f"skfer predict: error: cannot write the annotated copy of "
                      f"'{path}': {exc}")
                failed.add(path)
    if p.explain is not None:
        crops_x, shown_x, labels_x, rows_x, names, sources = explain
        failed |= p.explain_faces(crops_x, shown_x, labels_x,
                                  None if proba is None else rows_x, names, sources)
    return n_faces, failed


def _load_model(args):
    """``(model, what it is called in messages, its crop margin)``."""
    from .. import pretrained
    from ..io import load_model

    shipped = args.model is None or (args.model in pretrained.MODELS
                                     and not Path(args.model).exists())
    try:
        if shipped:
            model = pretrained.load(args.model or "default", face_detection=False,
                                    device=args.device)
        else:
            model = load_model(args.model, device=args.device)
    except FileNotFoundError as exc:
        names = ", ".join(sorted(pretrained.MODELS))
        raise UsageError(f"{exc} (--model takes a model file or a shipped model: "
                         f"{names})") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    what = (f"skfer's pretrained model {args.model or pretrained.DEFAULT!r}" if shipped
            else f"the model in '{args.model}'")
    try:
        margin = args.margin if args.margin is not None else crop_margin_of(model, what)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return model, what, margin


def main(args):
    """Run ``skfer predict`` from parsed arguments; returns the exit status."""
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import nullcontext

    from joblib import effective_n_jobs
    from tqdm.auto import tqdm

    from .._image import opencv_single_threaded
    from ..faces import FaceRecognizer

    try:
        detector_params = _check_args(args)
        annotate = None if args.annotate is None else Path(args.annotate)
        explain = None if args.explain is None else Path(args.explain)
        files = collect_files(args.paths, skip=(annotate, explain))
        check_outputs(files, annotate)
        model, what, margin = _load_model(args)
        try:
            recognizer = FaceRecognizer(
                model, margin=margin, batch_size=args.batch_size, detector=args.detector,
                detector_params=detector_params,
                align=None if args.align == "none" else args.align)
        except (ImportError, ValueError) as exc:  # e.g. the detector's package or files
            raise UsageError(str(exc)) from None
        if explain is not None:
            _check_explainable(recognizer.model, what)
        if args.smooth > 0 and not recognizer.has_proba:
            raise UsageError(f"--smooth averages probabilities over time, and {what} "
                             "gives none.")
    except UsageError as exc:
        return error("predict", exc)

    n_workers = effective_n_jobs(args.n_jobs)

    def say(message):
        tqdm.write(message, file=sys.stderr)

    bar = tqdm(total=len(files), desc="skfer predict", unit="file", file=sys.stderr,
               disable=args.quiet or len(files) < 2, leave=False)
    failed, n_faces = set(), 0
    chunk = _CHUNK if annotate is None else _ANNOTATE_CHUNK
    with ThreadPoolExecutor(n_workers) if n_workers > 1 else nullcontext() as pool, \
            opencv_single_threaded(n_workers > 1):
        p = _Predictor(recognizer, pool=pool, quiet=args.quiet, say=say, bar=bar,
                       max_pixels=args.max_pixels,
                       annotate=annotate, explain=explain)
        try:
            for kind, group in _groups(files, chunk):
                if kind == "video":
                    (path, rel), = group
                    found, bad = predict_video(path, rel, p, every=args.every,
                                               detect_every=args.detect_every,
                                               smooth=args.smooth)
                    bad = {path} if bad else set()
                    p.tick()
                else:
                    found, bad = _predict_photos(group, p)
                n_faces += found
                failed |= bad
        except _CannotClassify as exc:
            bar.close()
            return error("predict", f"{what} cannot classify face crops: {exc}")
    bar.close()
    if failed:
        print(f"skfer predict: {len(failed)} of {len(files)} files failed (see above).",
              file=sys.stderr)
        return 1
    if n_faces == 0:
        print("skfer predict: no face found in any image or video.", file=sys.stderr)
        return 1
    return 0
