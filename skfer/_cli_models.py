"""``skfer train`` and ``skfer predict``: make a model file, then use it on photos and videos."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

from ._cli_common import UsageError, error

_TRAIN_DESCRIPTION = """\
Train one model on a whole dataset and save it, preprocessing included, to one
file that runs no code when loaded (skops for the scikit-learn parts,
safetensors + JSON for the nets; see skfer.io). FER2013 and FER+ are trained
on their 'Training' split and scored on 'PublicTest'; other datasets are
trained on all their images. Labels are stored as emotion names (CK+'s
'anger' becomes 'angry'). A final SVC is wrapped in CalibratedClassifierCV
(Platt scaling on 5-fold cross-validated decision values, about five times
the SVC's fitting time) so that 'skfer predict' reports probabilities;
--param svc__probability=False keeps the bare SVC (no probabilities).
"""

_TRAIN_EPILOG = """\
examples:
  skfer train --dataset ckplus --data CK+48 --model hog_svm --out hog.skfer
  skfer train --dataset fer2013 --data fer2013.csv.gz --model cnn:mini_xception \\
      --budget 3600 --out fer_cnn.skfer
  skfer train --dataset folder --data my_faces/ --model pca_lda --param pca__n_components=30 \\
      --out mine.skfer
"""

_PREDICT_DESCRIPTION = """\
Find every face in each image with skfer.preprocessing.detect_faces, crop it
as FaceCropper does (a square around the face box, 1.2 times its side by
default, as in FER2013 and CK+48) and classify it with a model file from
'skfer train' or skfer.io.save_model. Prints one JSON line per face:
{"file", "box": [x, y, w, h], "emotion", "probabilities"} ("emotion" is the
model's predict(), "probabilities" null when the model gives none), and for
an image without a face one line with "box" and "emotion" null (and a
warning on stderr). Lines come in the order of the files, whatever --n-jobs.

Videos (.mp4 .avi .mov .mkv .webm .m4v) are read frame by frame with OpenCV;
every --every'th frame is classified, with one line per frame and face that
adds "frame" (its index) and "time" (seconds: frame / fps; null when the
video gives no frame rate). --smooth K averages each face's probabilities
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
  skfer predict --explain why/ photo.jpg                   (why/photo_face0.png...)
"""

#: Crop margin of ``skfer predict`` when the model file names none: FER2013
#: and CK+48 faces are 1.22 and 1.23 times the side of the face box that
#: ``detect_faces`` finds in them (medians over 300 images each), a margin of
#: 0.11 on each side.
DEFAULT_MARGIN = 0.1

#: Datasets whose images are face crops with about ``DEFAULT_MARGIN``.
_CROPPED_DATASETS = ("fer2013", "ferplus", "ckplus")

#: Image file extensions searched for in folders given to ``skfer predict``.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif",
                    ".pgm", ".ppm", ".pbm")

#: Box colours (RGB) of the canonical emotions in annotated images.
_COLOURS = {
    "angry": (230, 40, 40),
    "disgust": (60, 160, 60),
    "fear": (150, 70, 200),
    "happy": (250, 200, 0),
    "sad": (40, 110, 230),
    "surprise": (250, 130, 0),
    "neutral": (190, 190, 190),
    "contempt": (150, 100, 60),
}
_PALETTE = [(0, 200, 200), (230, 60, 160), (120, 200, 40), (200, 120, 255), (255, 90, 90)]



def add_parsers(subparsers):
    """Register the ``train`` and ``predict`` subcommands on argparse ``subparsers``."""
    from . import _cli_video as _video
    from .datasets import DATASETS

    p = subparsers.add_parser(
        "train",
        help="train one model on a dataset and save it to a safe model file",
        description=_TRAIN_DESCRIPTION,
        epilog=_TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", required=True, metavar="NAME",
                   help=f"one of {', '.join(DATASETS)}")
    p.add_argument("--data", required=True, metavar="PATH", help="the dataset's file or folder")
    p.add_argument("--model", required=True, metavar="SPEC",
                   help="one model spec (see skfer.models.model_names()): pca_svm, pca_lda, "
                        "pca_knn, hog_svm, lbp_svm, cnn:simple|vgg|resnet|mini_xception, "
                        "rnn:lstm|gru")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a model parameter in Pipeline syntax (svc__C=1, lr=0.01, "
                        "module__channels=(16,32)); values are Python literals, else "
                        "strings; repeatable")
    p.add_argument("--budget", type=float, metavar="SECONDS",
                   help="training time limit of a deep model (its max_time)")
    p.add_argument("--max-epochs", type=int, metavar="N", help="epochs of a deep model")
    p.add_argument("--max-samples", type=int, metavar="N",
                   help="train on a stratified random subset of N images (quick runs)")
    p.add_argument("--random-state", type=int, default=0,
                   help="seed of the model and of any sampling (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="the model file to write (e.g. model.skfer)")
    p.set_defaults(func=run_train)

    q = subparsers.add_parser(
        "predict",
        help="detect the faces in images and classify their expressions (JSON lines)",
        description=_PREDICT_DESCRIPTION,
        epilog=_PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("--model", default=None, metavar="FILE",
                   help="a model file from 'skfer train' or skfer.io.save_model "
                        "(default: skfer's pretrained FER2013 model, shipped in the package)")
    q.add_argument("paths", nargs="+", metavar="PATH",
                   help="image or video files, or folders searched recursively for "
                        + "/".join(e[1:] for e in IMAGE_EXTENSIONS + _video.VIDEO_EXTENSIONS)
                        + " files")
    q.add_argument("--annotate", metavar="DIR",
                   help="write a copy of each image with the faces boxed and labelled "
                        "here (same file names; for folders, the same sub-folders); for "
                        "a video, DIR/<name>.mp4 (.avi if OpenCV cannot write mp4) with "
                        "every frame, skipped ones showing the latest result")
    q.add_argument("--min-size", default="0.06", metavar="SIZE",
                   help="smallest face searched for: pixels (an int, e.g. 40) or a "
                        "fraction of the image's longer side (a float < 1; default 0.06)")
    q.add_argument("--min-neighbors", type=int, default=3, metavar="N",
                   help="detections a face needs (default 3; higher: fewer false faces)")
    q.add_argument("--margin", type=float, metavar="FRACTION",
                   help="crop margin around each face box, a fraction of its side on "
                        "each side (FaceCropper's margin); default: the model file's "
                        "crop_margin, else 0.1, the margin of FER2013 and CK+48 faces")
    q.add_argument("--explain", metavar="DIR",
                   help="write a Grad-CAM picture of each face here, "
                        f"{EXPLAIN_SIZE}x{EXPLAIN_SIZE} and labelled: the regions "
                        "that raised the predicted class (DIR/<name>_face<i>.png; for "
                        "videos DIR/<name>_frame<n>_face<i>.png, for the first "
                        f"{_video.EXPLAIN_FRAMES} processed frames with faces). Needs a "
                        "CNN model, as the pretrained one")
    q.add_argument("--every", type=int, default=1, metavar="N",
                   help="videos: classify every Nth frame (default 1: all)")
    q.add_argument("--smooth", type=int, default=0, metavar="K",
                   help="videos: exponential moving average of each face's "
                        "probabilities over K processed frames, alpha = 2/(K+1) "
                        "(default 0: off)")
    q.add_argument("--batch-size", type=int, default=256, metavar="N",
                   help="faces per call of the model (default 256)")
    q.add_argument("--n-jobs", type=int, default=1, metavar="N",
                   help="threads reading images and finding faces (default 1; -1: "
                        "all cores)")
    q.add_argument("--device", metavar="DEVICE",
                   help="where deep models run: cpu, cuda (default: CUDA if available)")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=run_predict)


# ------------------------------------------------------------------- train
def _set_verbose(model, verbose, params):
    """Progress bars in skfer's own steps (a deep net: epoch table and bars).

    Returns ``[(step, previous verbose)]`` to restore before saving, so that
    the saved model is quiet. Steps whose ``verbose`` the user set are left
    alone.
    """
    from .neural._base import BaseNeuralClassifier

    changed = []
    for name, step in getattr(model, "steps", []):
        if not type(step).__module__.startswith("skfer."):
            continue
        if "verbose" not in step.get_params(deep=False):
            continue
        deep = isinstance(step, BaseNeuralClassifier)
        if f"{name}__verbose" in params or (deep and "verbose" in params):
            continue
        changed.append((step, step.verbose))
        step.set_params(verbose=(2 if deep else 1) if verbose else 0)
    return changed


def _calibrate_svc(model, params, y):
    """Wrap a final SVC in ``CalibratedClassifierCV``: Platt-scaled probabilities.

    Returns a note for the user, or None when nothing was changed (no SVC,
    or ``svc__probability`` chosen by the user).
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    steps = getattr(model, "steps", None)
    if not steps or not isinstance(steps[-1][1], SVC):
        return None
    name, svc = steps[-1]
    if f"{name}__probability" in params:
        return None
    n_splits = int(min(5, np.unique(np.asarray(y), return_counts=True)[1].min()))
    if n_splits < 2:
        return ("a class has a single image, so the SVC's probabilities cannot be "
                "calibrated; 'skfer predict' will give none")
    # ensemble=False: one SVC fitted on all the data, and a sigmoid per class
    # fitted on its cross-validated decision values (Platt scaling, as
    # SVC(probability=True), which scikit-learn 1.9 deprecates).
    model.steps[-1] = (f"calibrated_{name}", CalibratedClassifierCV(
        svc, method="sigmoid", cv=n_splits, ensemble=False))
    return None


def _check_out(out):
    path = Path(out)
    if path.is_dir():
        raise UsageError(f"--out '{out}' is a folder; give the model file's name "
                         "(e.g. model.skfer).")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"--out '{out}': '{parent}' is a file, not a folder.")
    return path


def _test_name(note):
    match = re.search(r"-> (\S+) \(", note)
    return match.group(1) if match else "test"


def run_train(args):
    """Run ``skfer train`` from parsed arguments; returns the exit status."""
    from ._cli_common import build_models, is_deep, load_for_compare, parse_params
    from .io import save_model

    verbose = 0 if args.quiet else 1
    try:
        out = _check_out(args.out)
        if "," in args.model:
            raise UsageError(f"--model takes one model spec, got {args.model!r} "
                             "(use 'skfer compare --models' to compare several).")
        params = parse_params(args.param)
        if not is_deep(args.model):
            for flag, value in (("--budget", args.budget), ("--max-epochs", args.max_epochs)):
                if value is not None:
                    print(f"skfer train: warning: {flag} is for deep models; ignored for "
                          f"{args.model}.", file=sys.stderr)
            budget = max_epochs = None
        else:
            budget, max_epochs = args.budget, args.max_epochs
        (spec, model), = build_models(args.model, params, budget=budget,
                                      max_epochs=max_epochs,
                                      random_state=args.random_state).items()
        quiet_again = _set_verbose(model, verbose, params)
        data = load_for_compare(args.dataset, args.data, max_samples=args.max_samples,
                                random_state=args.random_state, verbose=verbose)
    except UsageError as exc:
        return error("train", exc)

    X, y = data["X"], data["y"]
    note = _calibrate_svc(model, params, y)
    if note:
        print(f"skfer train: warning: {note}.", file=sys.stderr)
    classes = sorted(set(np.asarray(y).tolist()))
    print(f"skfer train: {spec} on {args.dataset} ({data['note']}); "
          f"{len(classes)} classes: {', '.join(map(str, classes))}", flush=True)
    start = time.perf_counter()
    try:
        model.fit(X, y)
    except (ValueError, TypeError) as exc:
        # Parameter values (e.g. --param max_epochs=0) are checked at fit.
        return error("train", f"training {spec} failed: {exc}")
    fit_time = time.perf_counter() - start
    print(f"skfer train: trained in {fit_time:.1f} s", flush=True)

    metadata = {
        "model": spec,
        "params": {k: repr(v) for k, v in sorted(parse_params(args.param).items())},
        "dataset": args.dataset,
        "data": data["note"],
        "n_train": int(len(y)),
        "random_state": args.random_state,
        "fit_time_s": round(fit_time, 3),
    }
    if args.dataset in _CROPPED_DATASETS:
        metadata["crop_margin"] = DEFAULT_MARGIN  # how skfer predict crops faces
    if data["test"] is not None:
        X_test, y_test = data["test"]
        name = _test_name(data["note"])
        accuracy = float(np.mean(np.asarray(model.predict(X_test)) == np.asarray(y_test)))
        metadata["test_split"] = name
        metadata["test_accuracy"] = round(accuracy, 6)
        print(f"skfer train: {name} accuracy {accuracy:.3f} ({len(y_test)} images)",
              flush=True)
    for step, value in quiet_again:
        step.set_params(verbose=value)
    path = save_model(model, out, metadata=metadata)
    print(f"skfer train: saved {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


# ----------------------------------------------------------------- predict
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


def _collect_images(paths):
    """``[(file, name for --annotate)]`` from files and folders (searched recursively).

    Folders are searched for images (:data:`IMAGE_EXTENSIONS`) and videos
    (:data:`skfer._cli_video.VIDEO_EXTENSIONS`).
    """
    from ._cli_video import VIDEO_EXTENSIONS

    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: '{missing[0]}'"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "") + ".")
    wanted = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
    files = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(
                f for f in path.rglob("*")
                if f.is_file() and f.suffix.lower() in wanted
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
            if not found:
                print(f"skfer predict: warning: no image files or videos in '{path}'.",
                      file=sys.stderr)
            files.extend((f, f.relative_to(path)) for f in found)
        else:
            files.append((path, Path(path.name)))
    if not files:
        raise UsageError("no image files or videos to classify.")
    return files


def _label_text(value):
    return value if isinstance(value, str) else str(value)


def _colour(label, classes):
    from ._emotions import EMOTION_ALIASES

    name = EMOTION_ALIASES.get(str(label).strip().lower())
    if name in _COLOURS:
        return _COLOURS[name]
    try:
        index = [str(c) for c in classes].index(str(label))
    except ValueError:
        index = 0
    return _PALETTE[index % len(_PALETTE)]


def draw_faces(image, faces, classes=()):
    """A BGR copy of an RGB image with each face boxed and labelled (for OpenCV).

    ``faces`` holds ``(box, label, probability or None)`` triples.
    """
    import cv2

    img = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    height, width = img.shape[:2]
    thick = max(1, int(round(max(height, width) / 500)))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for (x, y, w, h), label, prob in faces:
        r, g, b = _colour(label, classes)
        colour = (b, g, r)
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), colour, thick + 1)
        text = _label_text(label) + ("" if prob is None else f" {prob:.2f}")
        scale = float(np.clip(w / 150.0, 0.4, 1.6))
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        top = y - th - base - 2 * thick
        if top < 0:  # no room above the box: label inside its top edge
            top = y
        left = max(0, min(x, width - tw - 2 * thick))  # keep the label in the image
        cv2.rectangle(img, (left, top), (left + tw + 2 * thick, top + th + base + 2 * thick),
                      colour, cv2.FILLED)
        ink = (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 128 else (255, 255, 255)
        cv2.putText(img, text, (left + thick, top + th + thick), font, scale, ink, thick,
                    cv2.LINE_AA)
    return img


def _write_image(bgr, path):
    """Encode ``bgr`` for ``path``'s extension (PNG when OpenCV cannot); return the path."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        ok, data = cv2.imencode(path.suffix or ".png", bgr)
    except cv2.error:
        ok = False
    if not ok:
        path = path.with_name(path.name + ".png")
        ok, data = cv2.imencode(".png", bgr)
    path.write_bytes(data.tobytes())
    return path


def _classifier_for_crops(model):
    """The model without a leading FaceCropper: predict crops the faces itself."""
    from .preprocessing import FaceCropper

    steps = getattr(model, "steps", None)
    if steps and len(steps) > 1 and isinstance(steps[0][1], FaceCropper):
        return model[1:]
    return model


#: Photos read and searched for faces per chunk (in parallel with --n-jobs);
#: fewer with --annotate, which keeps a chunk's photos in memory until their
#: faces are classified.
_CHUNK = 64
_ANNOTATE_CHUNK = 16

#: Side in pixels of the Grad-CAM pictures written by --explain.
EXPLAIN_SIZE = 192


class _CannotClassify(Exception):
    """The model does not take face crops: reported on one line, exit status 2."""


def _explain_picture(crop, heat, text, colour):
    """A BGR ``EXPLAIN_SIZE`` square: ``heat`` over ``crop``, ``text`` on a strip."""
    import cv2

    from .explain import overlay

    size = EXPLAIN_SIZE
    shrink = max(crop.shape[:2]) > size
    big = cv2.resize(np.ascontiguousarray(crop), (size, size),
                     interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    bgr = cv2.cvtColor(overlay(big, heat), cv2.COLOR_RGB2BGR)
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    r, g, b = colour
    cv2.rectangle(bgr, (0, 0), (min(size - 1, tw + 6), th + base + 6), (b, g, r), cv2.FILLED)
    ink = (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 128 else (255, 255, 255)
    cv2.putText(bgr, text, (3, th + 3), font, scale, ink, thick, cv2.LINE_AA)
    return bgr


class _Predictor:
    """What ``skfer predict`` does with faces: find, crop, classify, explain, draw."""

    def __init__(self, clf, *, margin, min_size, min_neighbors, batch_size, pool,
                 annotate, explain, quiet, say, crop, detect, bar):
        import threading

        from sklearn.calibration import CalibratedClassifierCV

        from .neural._base import BaseNeuralClassifier

        self.clf = clf
        final = clf.steps[-1][1] if hasattr(clf, "steps") else clf
        self.has_proba = hasattr(clf, "predict_proba")
        self.classes = np.asarray(getattr(clf, "classes_", [])).tolist()
        # Their predict() is the argmax of predict_proba(): one pass, not two.
        self.argmax = self.has_proba and isinstance(
            final, (BaseNeuralClassifier, CalibratedClassifierCV))
        self.margin, self.batch_size, self.pool = margin, batch_size, pool
        self.detect_params = {"min_size": min_size, "min_neighbors": min_neighbors}
        self.annotate, self.explain, self.quiet, self.say = annotate, explain, quiet, say
        self.crop, self.detect = crop, detect
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

    def detect_and_crop(self, image):
        """``(boxes, crops)`` of the faces of one RGB image."""
        boxes = self.detect(image, **self.detect_params)
        return boxes, [self.crop(image, box, self.margin) for box in boxes]

    def classify(self, crops):
        """``(labels, probabilities or None)`` of face crops, in batches."""
        labels, probas = [], []
        try:
            for start in range(0, len(crops), self.batch_size):
                batch = crops[start:start + self.batch_size]
                proba = np.asarray(self.clf.predict_proba(batch)) if self.has_proba else None
                if self.argmax:
                    labels += [self.classes[k] for k in proba.argmax(axis=1)]
                else:
                    labels += np.asarray(self.clf.predict(batch)).tolist()
                if proba is not None:
                    probas.append(proba)
        except (ValueError, TypeError) as exc:
            # The model does not take images (e.g. trained on flat features).
            raise _CannotClassify(str(exc)) from None
        if not self.has_proba:
            return labels, None
        return labels, (np.concatenate(probas) if probas
                        else np.zeros((0, len(self.classes))))

    def face_line(self, box, label, row):
        """``(box, JSON fields, probability of label)`` of one face."""
        box = [int(v) for v in box]
        probs = top = None
        if row is not None:
            probs = {_label_text(c): round(float(v), 4)
                     for c, v in zip(self.classes, row, strict=True)}
            top = probs.get(_label_text(label))
        return box, {"box": box, "emotion": label, "probabilities": probs}, top

    def draw(self, rgb, faces):
        return draw_faces(rgb, faces, self.classes)

    def explain_faces(self, crops, labels, rows, names, sources):
        """Write a Grad-CAM picture per face; returns the sources that failed."""
        from .explain import grad_cam

        if not crops:
            return set()
        try:
            heat = grad_cam(self.clf, crops, target=np.asarray(labels),
                            batch_size=min(self.batch_size, 64))
        except (ValueError, TypeError) as exc:
            for source in dict.fromkeys(sources):
                self.say(f"skfer predict: error: cannot explain the faces of "
                         f"'{source}': {exc}")
            return set(sources)
        failed = set()
        for i, name in enumerate(names):
            text = _label_text(labels[i])
            if rows is not None:
                text += f" {float(rows[i][self.classes.index(labels[i])]):.2f}"
            picture = _explain_picture(crops[i], heat[i], text,
                                       _colour(labels[i], self.classes))
            try:
                _write_image(picture, self.explain / name)
            except OSError as exc:
                self.say(f"skfer predict: error: cannot write '{self.explain / name}': {exc}")
                failed.add(sources[i])
        return failed


def _check_predict_args(args):
    """Validate the numbers of ``skfer predict``; returns ``min_size``."""
    min_size = _parse_min_size(args.min_size)
    for flag, value, low in (("--min-neighbors", args.min_neighbors, 0),
                             ("--batch-size", args.batch_size, 1),
                             ("--every", args.every, 1), ("--smooth", args.smooth, 0)):
        if value < low:
            raise UsageError(f"{flag} must be >= {low}, got {value}.")
    if args.n_jobs == 0:
        raise UsageError("--n-jobs must be >= 1, or -1 for all cores (-2: all but one...), "
                         "got 0.")
    if args.margin is not None and not args.margin >= 0:
        raise UsageError(f"--margin must be >= 0, got {args.margin}.")
    for flag, folder in (("--annotate", args.annotate), ("--explain", args.explain)):
        if folder is not None and Path(folder).is_file():
            raise UsageError(f"{flag} '{folder}' is a file; give a folder.")
    return min_size


def _check_explainable(clf, what):
    from .neural import CNNClassifier

    final = clf.steps[-1][1] if hasattr(clf, "steps") else clf
    if not isinstance(final, CNNClassifier):
        raise UsageError(f"--explain draws Grad-CAM maps, which need a convolutional net "
                         f"(a model ending in a CNNClassifier, as 'skfer train --model "
                         f"cnn:...' makes); {what} ends in a {type(final).__name__}.")


def _groups(files, chunk):
    """Runs of up to ``chunk`` consecutive photos, and each video on its own."""
    from ._cli_video import is_video

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
    from ._image import read_image

    keep = p.annotate is not None

    def load(item):
        try:
            image = read_image(item[0], mode="rgb")
        except (ValueError, OSError) as exc:
            p.tick()
            return None, exc, (), []
        boxes, crops = p.detect_and_crop(image)
        p.tick()
        return (image if keep else None), None, boxes, crops

    loaded = p.map(load, chunk)
    crops = [c for *_, cs in loaded for c in cs]
    labels, proba = p.classify(crops)
    failed, explain = set(), ([], [], [], [], [])
    n_faces = k = 0
    for (path, rel), (image, exc, boxes, face_crops) in zip(chunk, loaded, strict=True):
        if exc is not None:
            p.say(f"skfer predict: error: cannot read '{path}': {exc}")
            failed.add(path)
            continue
        faces = []
        if len(boxes) == 0:
            p.say(f"skfer predict: warning: no face found in '{path}'.")
            print(json.dumps({"file": str(path), "box": None, "emotion": None,
                              "probabilities": None}), flush=True)
        for i, box in enumerate(boxes):
            row = None if proba is None else proba[k + i]
            box, line, top = p.face_line(box, labels[k + i], row)
            print(json.dumps({"file": str(path), **line}), flush=True)
            faces.append((box, labels[k + i], top))
            if p.explain is not None:
                stem = rel.with_suffix("")
                for store, value in zip(explain, (face_crops[i], labels[k + i], row,
                                                  stem.with_name(f"{stem.name}_face{i}.png"),
                                                  path), strict=True):
                    store.append(value)
        k += len(boxes)
        n_faces += len(boxes)
        if keep:
            try:
                _write_image(p.draw(image, faces), p.annotate / rel)
            except OSError as exc:
                p.say(f"skfer predict: error: cannot write the annotated copy of "
                      f"'{path}': {exc}")
                failed.add(path)
    if p.explain is not None:
        crops_x, labels_x, rows_x, names, sources = explain
        failed |= p.explain_faces(crops_x, labels_x, None if proba is None else rows_x,
                                  names, sources)
    return n_faces, failed


def run_predict(args):
    """Run ``skfer predict`` from parsed arguments; returns the exit status."""
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import nullcontext

    from joblib import effective_n_jobs
    from tqdm.auto import tqdm

    from ._cli_video import predict_video
    from .io import load_model
    from .preprocessing import detect_faces
    from .preprocessing._faces import _square_crop

    try:
        min_size = _check_predict_args(args)
        files = _collect_images(args.paths)
        try:
            if args.model is None:
                from . import pretrained

                model = pretrained.load(face_detection=False, device=args.device)
            else:
                model = load_model(args.model, device=args.device)
        except (FileNotFoundError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        clf = _classifier_for_crops(model)
        what = ("skfer's pretrained model" if args.model is None
                else f"the model in '{args.model}'")
        if args.explain is not None:
            _check_explainable(clf, what)
        if args.smooth > 0 and not hasattr(clf, "predict_proba"):
            raise UsageError(f"--smooth averages probabilities over time, and {what} "
                             "gives none.")
    except UsageError as exc:
        return error("predict", exc)

    margin = args.margin
    if margin is None:
        meta = getattr(model, "skfer_manifest_", {}).get("metadata") or {}
        margin = meta.get("crop_margin", DEFAULT_MARGIN)
        if not isinstance(margin, (int, float)) or not margin >= 0:
            margin = DEFAULT_MARGIN
    n_workers = effective_n_jobs(args.n_jobs)

    def say(message):
        tqdm.write(message, file=sys.stderr)

    bar = tqdm(total=len(files), desc="skfer predict", unit="file", file=sys.stderr,
               disable=args.quiet or len(files) < 2, leave=False)
    failed, n_faces = set(), 0
    chunk = _CHUNK if args.annotate is None else _ANNOTATE_CHUNK
    with ThreadPoolExecutor(n_workers) if n_workers > 1 else nullcontext() as pool:
        p = _Predictor(clf, margin=margin, min_size=min_size,
                       min_neighbors=args.min_neighbors, batch_size=args.batch_size,
                       pool=pool, quiet=args.quiet, say=say, crop=_square_crop,
                       detect=detect_faces, bar=bar,
                       annotate=None if args.annotate is None else Path(args.annotate),
                       explain=None if args.explain is None else Path(args.explain))
        try:
            for kind, group in _groups(files, chunk):
                if kind == "video":
                    (path, rel), = group
                    found, bad = predict_video(path, rel, p, every=args.every,
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
