"""``skfer demo``: the shipped model on a photo, with nothing to download.

By default it reads scikit-image's astronaut photo (it ships inside the
scikit-image wheel), finds every face with :func:`skfer.pretrained.detect_emotions`
(the face engine of :mod:`skfer.faces`, as ``skfer predict``),
prints each face's expression and writes an annotated copy of the photo.
``--image`` runs it on your own photo instead. ``--compare`` runs the older
demo: the classical baselines compared on synthetic faces.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._common import error

DEFAULT_OUT = "skfer_demo.png"


def format_parser(subparsers):
    """Register ``skfer demo``."""
    demo = subparsers.add_parser(
        "demo",
        help="the pretrained model on the astronaut photo (no data, no download)",
        description="Run the shipped pretrained model on a photo (default: scikit-image's "
        "astronaut), with nothing to download: prints each face's expression and writes "
        "an annotated copy of the photo.",
    )
    demo.add_argument("--image", metavar="PATH",
                      help="a photo of your own (default: scikit-image's astronaut)")
    demo.add_argument("--model", default="default", metavar="NAME",
                      help="which shipped model (skfer.pretrained.MODELS; default: "
                           "the recommended one)")
    demo.add_argument("--out", default=DEFAULT_OUT, metavar="FILE",
                      help=f"annotated copy of the photo (default {DEFAULT_OUT}); "
                           "'-' writes none")
    demo.add_argument("--compare", action="store_true",
                      help="instead: compare the classical baselines on synthetic faces")
    demo.add_argument("--n-samples", type=int, default=700,
                      help="with --compare: synthetic faces (default 700)")
    demo.add_argument("--folds", type=int, default=5, help="with --compare: CV folds (default 5)")
    demo.add_argument("--n-jobs", type=int, default=-1,
                      help="with --compare: parallel folds (default: all cores)")
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=main)
    return demo



def main(args):
    """Run ``skfer demo`` from parsed arguments; returns the exit status."""
    if args.compare:
        return run_compare(args)
    import time

    import numpy as np

    from .._annotate import draw_faces, write_image
    from .._image import read_image
    from ..pretrained import ALIASES, MODELS, detect_emotions, load

    if args.image is None:
        from skimage import data

        image = data.astronaut()
        source = "scikit-image's astronaut photo (skimage.data.astronaut())"
    else:
        if not Path(args.image).is_file():
            return error("demo", f"no such file: '{args.image}'.")
        try:
            image = read_image(args.image, mode="rgb")
        except (ValueError, OSError) as exc:
            return error("demo", f"cannot read '{args.image}': {exc}")
        source = f"'{args.image}'"
    out = None if args.out == "-" else Path(args.out)
    if out is not None and out.is_dir():
        return error("demo", f"--out '{out}' is a folder; give a file name such as {out / DEFAULT_OUT}.")

    if args.model not in MODELS:
        names = ", ".join(sorted(MODELS))
        return error("demo", f"--model {args.model!r} is not a shipped model; choose one "
                             f"of {names}.")
    name = ALIASES.get(args.model, args.model)
    card = MODELS[name]
    model = load(name, face_detection=False, test_time_flip=True)
    t = time.perf_counter()
    [faces] = detect_emotions([image], model=model)
    seconds = time.perf_counter() - t
    height, width = np.asarray(image).shape[:2]
    acc = card.get("public_test_accuracy_flip")
    dataset = card.get("dataset_name", "FER2013")
    print(f"skfer demo: pretrained model '{name}'"
          + (f" ({dataset} PublicTest accuracy {acc:.3f})" if acc else "")
          + f" on {source}, {width}x{height}: {len(faces)} face(s) in {seconds:.2f} s.")
    for i, face in enumerate(faces, 1):
        x, y, w, h = face["box"]
        ranked = sorted(face["probabilities"].items(), key=lambda kv: -kv[1])
        rest = ", ".join(f"{k} {p:.2f}" for k, p in ranked[1:3])
        print(f"  face {i} at x={x} y={y} w={w} h={h}: {ranked[0][0]} "
              f"{ranked[0][1]:.2f} (then {rest})")
    if out is not None:
        drawn = [(f["box"], f["emotion"], f["probabilities"][f["emotion"]]) for f in faces]
        try:
            written = write_image(draw_faces(image, drawn, model.classes_), out)
        except OSError as exc:
            return error("demo", f"cannot write '{out}': {exc}")
        print(f"Annotated copy: {written}")
    print("Next: skfer predict PHOTO_OR_FOLDER --annotate DIR  (every face in your photos); "
          "skfer demo --compare  (classical baselines on synthetic faces).")
    if not faces:
        print("skfer demo: no face found in the photo.", file=sys.stderr)
        return 1
    return 0


def run_compare(args):
    """``skfer demo --compare``: the classical baselines on synthetic faces."""
    import numpy as np

    from ..baselines import BASELINES
    from ..datasets import make_faces
    from ..evaluation import compare

    faces = make_faces(n_samples=args.n_samples, random_state=args.random_state)
    n_groups = len(np.unique(faces.groups))
    folds = min(args.folds, n_groups)
    print(
        f"skfer demo: {len(faces.images)} synthetic 48x48 faces "
        f"(skfer.datasets.make_faces), {len(faces.target_names)} expressions, "
        f"{n_groups} synthetic subjects; subject-independent {folds}-fold CV "
        "(skfer.evaluation.compare).",
        flush=True,
    )
    y = np.asarray(faces.target_names, dtype=object)[faces.target]
    results = compare(
        list(BASELINES), faces.images, y, groups=faces.groups, cv=folds,
        n_jobs=args.n_jobs, random_state=args.random_state,
        dataset="make_faces (synthetic)", verbose=0 if args.quiet else 1,
    )
    print()
    print(results.to_markdown())
    print("\nBaselines: " + "; ".join(f"{k}: {v}" for k, v in BASELINES.items()))
    print("On your data: skfer compare --dataset ckplus|jaffe|fer2013|ferplus|folder "
          "--data PATH --models hog_svm,pca_lda,cnn:simple --out DIR")
    return 0
