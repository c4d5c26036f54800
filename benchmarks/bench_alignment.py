"""Does alignment help the shipped model on faces it never saw? CK+48, upright and tilted.

Every CK+48 frame (or every ``--step``-th) is put back into a photo-like
setting: upscaled 4x (192 px, bicubic), padded by half its side on each side
(edge pixels repeated), then turned by 0, 15 and 30 degrees (``--angles``).
The face engine then finds the face again (Haar or MTCNN), crops it with
each ``--margins`` value and each alignment (none, ``'eyes'``, and for MTCNN
``'landmarks'``), and the shipped pretrained model classifies the largest
face (test-time flip on, as ``skfer.pretrained.load()``). Accuracy is over
the six FER2013 classes CK+ shares (contempt left out; labels mapped with
:func:`skfer.map_labels`); a frame without a detected face counts as wrong.
``frame`` is the 48x48 frame itself, unturned (the model card's figure).

Margins larger than 0 show repeated edge pixels beyond the original frame,
which a real photo would not: compare margins with that in mind.

``--template`` instead measures where MTCNN puts the five landmarks in
FER2013 PublicTest faces (the same 4x upscale and padding), which is
:data:`skfer.faces.LANDMARK_TEMPLATE`, and the side of FER2013's frame in
inter-ocular distances; with ``--faces`` it adds Haar's box on the photos
of ``$SKFER_DATA/faces`` in the same units.

Run::

    SKFER_DATA=../shared/data python benchmarks/bench_alignment.py
    SKFER_DATA=../shared/data python benchmarks/bench_alignment.py --template
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skfer import map_labels  # noqa: E402
from skfer.faces import FaceEngine, match_boxes  # noqa: E402

UPSCALE, PAD = 4, 96


def photo_like(frame, angle=0.0):
    """A 48x48 grey frame upscaled 4x, padded, turned by ``angle`` degrees (RGB)."""
    import cv2

    big = cv2.resize(frame, (48 * UPSCALE, 48 * UPSCALE), interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE)
    if angle:
        h, w = big.shape
        matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), float(angle), 1.0)
        big = cv2.warpAffine(big, matrix, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
    return np.repeat(big[:, :, None], 3, axis=2)


def _largest(found):
    if len(found) == 0:
        return None
    areas = found.boxes[:, 2] * found.boxes[:, 3]
    return int(np.argmax(areas))


def alignment(args):
    from skfer import pretrained
    from skfer.datasets import load_ckplus

    data = load_ckplus(Path(args.data, "ckplus", "CK+48"))
    names = map_labels(data.target, data.target_names)
    model = pretrained.load(face_detection=False)
    classes = [str(c) for c in model.classes_]
    keep = np.flatnonzero(np.isin(names, classes))[::args.step]
    frames, truth = data.images[keep], names[keep]
    print(f"CK+48: {len(keep)} frames of the 6 classes shared with FER2013 "
          f"(every {args.step}th of {np.isin(names, classes).sum()}); the shipped "
          f"model, test-time flip on")
    pred = np.asarray(model.predict(frames)).astype(str)
    print(f"  frame (48x48 as is, upright): accuracy {np.mean(pred == truth):.3f}")
    detectors = {"haar": {}, "mtcnn": {"min_size": 0.2}}
    configs = []
    for det in detectors:
        for align in (None, "eyes") + (("landmarks",) if det == "mtcnn" else ()):
            for margin in args.margins:
                configs.append((det, align, margin))
    engines = {c: FaceEngine(detector=c[0], detector_params=detectors[c[0]], align=c[1],
                             margin=c[2], size=48, gray=True) for c in configs}
    rows = []
    for angle in args.angles:
        t0 = time.perf_counter()
        photos = [photo_like(f, angle) for f in frames]
        found = {det: [FaceEngine(detector=det, detector_params=p).detect(ph)
                       for ph in photos] for det, p in detectors.items()}
        for config in configs:
            engine = engines[config]
            crops, hit = [], []
            for ph, det in zip(photos, found[config[0]], strict=True):
                i = _largest(det)
                if i is None:
                    crops.append(np.full((48, 48), 128, np.uint8))
                    hit.append(False)
                    continue
                marks = None if det.landmarks is None else det.landmarks[i]
                crops.append(engine.crop(ph, det.boxes[i], marks))
                hit.append(True)
            got = np.asarray(model.predict(np.stack(crops))).astype(str)
            hit = np.asarray(hit)
            rows.append((angle, *config, float(np.mean((got == truth) & hit)),
                         float(hit.mean())))
        print(f"  angle {angle:g}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(f"\n{'detector':>8s} {'align':>9s} {'margin':>6s} "
          + " ".join(f"{f'acc@{a:g}':>8s} {f'found@{a:g}':>8s}" for a in args.angles))
    for config in configs:
        cells = [r for r in rows if r[1:4] == config]
        det, align, margin = config
        print(f"{det:>8s} {str(align):>9s} {margin:6.2f} "
              + " ".join(f"{acc:8.3f} {hit:8.3f}" for *_, acc, hit in cells))


def template(args):
    import cv2

    from skfer.datasets import load_fer2013
    from skfer.faces import LANDMARK_TEMPLATE, MTCNNDetector

    fer = load_fer2013(Path(args.data, "fer2013", "fer2013.csv.gz"), usage="PublicTest")
    detector = MTCNNDetector(min_size=0.2, square=False)
    points, widths = [], []
    for frame in fer.images[:args.n_template]:
        found = detector.detect(photo_like(frame))
        i = _largest(found)
        if i is not None:
            points.append((found.landmarks[i] - PAD) / (48.0 * UPSCALE))
            widths.append(found.boxes[i, 2] / (48.0 * UPSCALE))
    points = np.asarray(points)
    med = np.median(points, axis=0)
    iod = np.hypot(*(points[:, 1] - points[:, 0]).T)
    half = lambda a, b: (med[b, 0] - med[a, 0]) / 2  # noqa: E731
    sym = np.array([
        [0.5 - half(0, 1), med[:2, 1].mean()], [0.5 + half(0, 1), med[:2, 1].mean()],
        [0.5, med[2, 1]],
        [0.5 - half(3, 4), med[3:, 1].mean()], [0.5 + half(3, 4), med[3:, 1].mean()],
    ])
    print(f"FER2013 PublicTest: MTCNN found {len(points)} of {args.n_template} faces")
    print("median landmarks (fractions of the 48 px frame):",
          np.round(med, 3).tolist())
    print("symmetric template:", np.round(sym, 3).tolist())
    print("skfer's LANDMARK_TEMPLATE:", LANDMARK_TEMPLATE.tolist())
    print(f"frame side: {np.median(1 / iod):.3f} inter-ocular distances, "
          f"{np.median(1 / np.asarray(widths)):.3f} widths of MTCNN's own box")
    if not args.faces:
        return
    from skfer._image import read_image
    from skfer.faces import HaarDetector

    folder = Path(args.data, "faces")
    manifest = json.loads((folder / "manifest.json").read_text())
    # The detectors' defaults here (min_size=0.2 above suits a lone face only).
    haar, ratios, eyes_y, widths = HaarDetector(), [], [], []
    detector = MTCNNDetector(square=False)
    for item in manifest:
        image = read_image(folder / item["file"], mode="rgb")
        h = haar.detect(image)
        m = detector.detect(image)
        mboxes = [tuple(b) for b in m.boxes]
        for i, j in match_boxes([tuple(b) for b in h.boxes], mboxes, 0.3):
            x, y, side, _ = h.boxes[i]
            left, right = m.landmarks[j, 0], m.landmarks[j, 1]
            ratios.append(side / np.hypot(*(right - left)))
            eyes_y.append(((left[1] + right[1]) / 2 - y) / side)
            widths.append(side / m.boxes[j, 2])
    print(f"photos: {len(ratios)} faces found by both; Haar's box side: "
          f"{np.median(ratios):.3f} inter-ocular distances, {np.median(widths):.3f} "
          f"widths of MTCNN's box; eyes at {np.median(eyes_y):.3f} of its side from "
          "its top")
    _ = cv2


def main(argv=None):
    default = os.environ.get("SKFER_DATA")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path(default) if default else None,
                   help="the real-data folder (default: $SKFER_DATA)")
    p.add_argument("--step", type=int, default=3, help="every Nth CK+ frame (default 3)")
    p.add_argument("--angles", type=float, nargs="+", default=[0, 15, 30])
    p.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.1])
    p.add_argument("--template", action="store_true",
                   help="measure the landmark template on FER2013 instead")
    p.add_argument("--n-template", type=int, default=600)
    p.add_argument("--faces", action="store_true",
                   help="with --template: Haar's box in the same units on the photos")
    args = p.parse_args(argv)
    if args.data is None:
        print("set SKFER_DATA (or --data) to the real-data folder")
        return 0
    import cv2

    cv2.setNumThreads(1)
    (template if args.template else alignment)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
