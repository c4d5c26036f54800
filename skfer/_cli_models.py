"""``skfer train`` and ``skfer predict``: make a model file, then use it on photos."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

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
warning on stderr).

Exit status: 0 when every image was read and a face was found in at least one;
1 when an image could not be read or written, or no face was found at all;
2 for a mistake in the command line (missing file, not a model file).
"""

_PREDICT_EPILOG = """\
examples:
  skfer predict --model hog.skfer photo.jpg
  skfer predict --model hog.skfer photos/ --annotate annotated/ > faces.jsonl
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


class UsageError(ValueError):
    """A mistake in the command line: reported on one line, exit status 2."""


def _error(command, exc):
    print(f"skfer {command}: error: {exc}", file=sys.stderr)
    return 2


def add_parsers(subparsers):
    """Register the ``train`` and ``predict`` subcommands on argparse ``subparsers``."""
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
                   help="image files, or folders searched recursively for "
                        + "/".join(e[1:] for e in IMAGE_EXTENSIONS) + " files")
    q.add_argument("--annotate", metavar="DIR",
                   help="write a copy of each image with the faces boxed and labelled "
                        "here (same file names; for folders, the same sub-folders)")
    q.add_argument("--min-size", default="0.06", metavar="SIZE",
                   help="smallest face searched for: pixels (an int, e.g. 40) or a "
                        "fraction of the image's longer side (a float < 1; default 0.06)")
    q.add_argument("--min-neighbors", type=int, default=3, metavar="N",
                   help="detections a face needs (default 3; higher: fewer false faces)")
    q.add_argument("--margin", type=float, metavar="FRACTION",
                   help="crop margin around each face box, a fraction of its side on "
                        "each side (FaceCropper's margin); default: the model file's "
                        "crop_margin, else 0.1, the margin of FER2013 and CK+48 faces")
    q.add_argument("--device", metavar="DEVICE",
                   help="where deep models run: cpu, cuda (default: CUDA if available)")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
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
    from ._cli_compare import UsageError as CompareUsageError
    from ._cli_compare import _is_deep, _parse_params, build_models, load_for_compare
    from .io import save_model

    verbose = 0 if args.quiet else 1
    try:
        out = _check_out(args.out)
        if "," in args.model:
            raise UsageError(f"--model takes one model spec, got {args.model!r} "
                             "(use 'skfer compare --models' to compare several).")
        params = _parse_params(args.param)
        if not _is_deep(args.model):
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
    except (UsageError, CompareUsageError) as exc:
        return _error("train", exc)

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
        return _error("train", f"training {spec} failed: {exc}")
    fit_time = time.perf_counter() - start
    print(f"skfer train: trained in {fit_time:.1f} s", flush=True)

    metadata = {
        "model": spec,
        "params": {k: repr(v) for k, v in sorted(_parse_params(args.param).items())},
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
    """``[(file, name for --annotate)]`` from files and folders (searched recursively)."""
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: '{missing[0]}'"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "") + ".")
    files = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(
                f for f in path.rglob("*")
                if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
            )
            if not found:
                print(f"skfer predict: warning: no image files in '{path}'.", file=sys.stderr)
            files.extend((f, f.relative_to(path)) for f in found)
        else:
            files.append((path, Path(path.name)))
    if not files:
        raise UsageError("no image files to classify.")
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


def run_predict(args):
    """Run ``skfer predict`` from parsed arguments; returns the exit status."""
    from tqdm.auto import tqdm

    from ._image import read_image
    from .io import load_model
    from .preprocessing import detect_faces
    from .preprocessing._faces import _square_crop

    try:
        min_size = _parse_min_size(args.min_size)
        if args.min_neighbors < 0:
            raise UsageError(f"--min-neighbors must be >= 0, got {args.min_neighbors}.")
        if args.margin is not None and not args.margin >= 0:
            raise UsageError(f"--margin must be >= 0, got {args.margin}.")
        files = _collect_images(args.paths)
        if args.annotate is not None and Path(args.annotate).is_file():
            raise UsageError(f"--annotate '{args.annotate}' is a file; give a folder.")
        try:
            if args.model is None:
                from . import pretrained

                model = pretrained.load(face_detection=False, device=args.device)
            else:
                model = load_model(args.model, device=args.device)
        except (FileNotFoundError, ValueError) as exc:
            raise UsageError(str(exc)) from None
    except UsageError as exc:
        return _error("predict", exc)

    margin = args.margin
    if margin is None:
        meta = getattr(model, "skfer_manifest_", {}).get("metadata") or {}
        margin = meta.get("crop_margin", DEFAULT_MARGIN)
        if not isinstance(margin, (int, float)) or not margin >= 0:
            margin = DEFAULT_MARGIN
    clf = _classifier_for_crops(model)
    has_proba = hasattr(clf, "predict_proba")
    classes = list(getattr(clf, "classes_", []))
    annotate = None if args.annotate is None else Path(args.annotate)
    n_failed = n_faces = 0

    def say(message):
        tqdm.write(message, file=sys.stderr)

    bar = tqdm(files, desc="skfer predict", unit="image", file=sys.stderr,
               disable=args.quiet or len(files) < 2, leave=False)
    for path, rel in bar:
        try:
            image = read_image(path, mode="rgb")
        except (ValueError, OSError) as exc:
            say(f"skfer predict: error: cannot read '{path}': {exc}")
            n_failed += 1
            continue
        boxes = detect_faces(image, min_size=min_size, min_neighbors=args.min_neighbors)
        faces = []
        if len(boxes) == 0:
            say(f"skfer predict: warning: no face found in '{path}'.")
            print(json.dumps({"file": str(path), "box": None, "emotion": None,
                              "probabilities": None}), flush=True)
        else:
            crops = [_square_crop(image, box, margin) for box in boxes]
            try:
                labels = np.asarray(clf.predict(crops)).tolist()
                proba = np.asarray(clf.predict_proba(crops)) if has_proba else None
            except (ValueError, TypeError) as exc:
                # The model does not take images (e.g. trained on flat features).
                bar.close()
                return _error("predict", f"the model in '{args.model}' cannot classify "
                                         f"face crops: {exc}")
            for i, box in enumerate(boxes):
                box = [int(v) for v in box]
                probs = None
                top = None
                if proba is not None:
                    probs = {_label_text(c): round(float(p), 4)
                             for c, p in zip(np.asarray(classes).tolist(), proba[i], strict=True)}
                    top = probs.get(_label_text(labels[i]))
                print(json.dumps({"file": str(path), "box": box, "emotion": labels[i],
                                  "probabilities": probs}), flush=True)
                faces.append((box, labels[i], top))
            n_faces += len(boxes)
        if annotate is not None:
            try:
                _write_image(draw_faces(image, faces, classes), annotate / rel)
            except OSError as exc:
                say(f"skfer predict: error: cannot write the annotated copy of "
                    f"'{path}': {exc}")
                n_failed += 1
    bar.close()
    if n_failed:
        print(f"skfer predict: {n_failed} of {len(files)} images failed (see above).",
              file=sys.stderr)
        return 1
    if n_faces == 0:
        print("skfer predict: no face found in any image.", file=sys.stderr)
        return 1
    return 0
