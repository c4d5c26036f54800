"""Throughput of the shipped pretrained model: model only, and end to end on photos.

Model only: faces/s of ``skfer.pretrained.load(face_detection=False)`` on
48x48 grey crops through ``predict_proba``, one face per call (batch 1) and
256 per call, with and without test-time flip averaging.

End to end: :func:`skfer.pretrained.detect_emotions` over the 29 photos of
``$SKFER_DATA/faces`` (decoded first, as the reference figures were taken;
detection, cropping and classification are timed), best of ``--repeat``,
with each ``--detector`` (default: MTCNN with landmark alignment, the
pretrained pipeline's default, then Haar).
It also scores the detections: recall on the 43 ground-truth boxes of the
nine ``dlib_*`` photos (IoU >= 0.3, one detection per box), false faces there,
and faces above/below the manifest's count on the other 20 photos.

Reference, the ``fer`` package on the same 2-core machine (issue #5): model
only about 820 faces/s at batch 256 and 750 at batch 1; end to end 6.2 s for
the 29 photos, 85 of 96 faces found, recall 0.58 on the 43 dlib boxes.

Run::

    SKFER_DATA=../shared/data python benchmarks/bench_pretrained.py
    python benchmarks/bench_pretrained.py --skip-photos      # model only, no data needed
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_detection import _load, _truth  # noqa: E402

from skfer.faces import match_boxes  # noqa: E402
from skfer.pretrained import detect_emotions, load  # noqa: E402


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def model_only(repeat, min_faces=2048):
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (min_faces, 48, 48), dtype=np.uint8)
    print(f"Model only: faces/s through predict_proba on 48x48 grey crops "
          f"(best of {repeat}, {torch.get_num_threads()} torch threads)")
    print(f"{'flip':>5s} {'batch 1':>9s} {'batch 256':>10s}")
    for flip in (False, True):
        model = load(face_detection=False, test_time_flip=flip)
        model.predict_proba(crops[:256])  # warm-up
        n1 = 256
        s1, _ = _best(lambda m=model, n=n1: [m.predict_proba(crops[i:i + 1]) for i in range(n)],
                      repeat)
        s256, _ = _best(lambda m=model: [m.predict_proba(crops[i:i + 256])
                                         for i in range(0, len(crops), 256)], repeat)
        print(f"{'yes' if flip else 'no':>5s} {n1 / s1:9.0f} {len(crops) / s256:10.0f}")


def end_to_end(data, repeat, n_jobs, flip, detector="mtcnn"):
    manifest, images = _load(data)
    photos = [images[item["file"]] for item in manifest]
    model = load(face_detection=False, test_time_flip=flip)
    run = dict(model=model, n_jobs=n_jobs, detector=detector, align="auto")
    detect_emotions(photos[:2], **run)  # load the detector, warm the net
    seconds, results = _best(lambda: detect_emotions(photos, **run), repeat)
    tp = fp = n_truth = over = under = 0
    for item, faces in zip(manifest, results, strict=True):
        boxes = [f["box"] for f in faces]
        if "boxes_ltwh" in item:
            truth = _truth(item)
            matched = len(match_boxes(truth, boxes, 0.3))
            false = len(boxes) - matched
            tp, fp, n_truth = tp + matched, fp + false, n_truth + len(truth)
        else:
            over += max(0, len(boxes) - item["faces"])
            under += max(0, item["faces"] - len(boxes))
    n_found = sum(len(r) for r in results)
    n_faces = sum(item["faces"] for item in manifest)
    print(f"\nEnd to end: detect_emotions over {len(photos)} decoded photos from {data} "
          f"(detector={detector}, align=auto, n_jobs={n_jobs}, "
          f"flip={'yes' if flip else 'no'}, best of {repeat})")
    print(f"  {seconds:.2f} s: {len(photos) / seconds:.1f} images/s, "
          f"{n_found / seconds:.1f} faces/s; {n_found} faces found (manifest: {n_faces})")
    print(f"  dlib_* photos: recall {tp / n_truth:.3f} ({tp}/{n_truth} boxes, IoU >= 0.3), "
          f"{fp} false faces; other photos: {over} faces over, {under} under the count")
    return seconds


def main(argv=None):
    default = os.environ.get("SKFER_DATA")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path(default, "faces") if default else None,
                   help="the photos and manifest.json (default: $SKFER_DATA/faces)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--n-jobs", type=int, default=2, help="detection threads (default 2)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--skip-model", action="store_true", help="no model-only figures")
    p.add_argument("--skip-photos", action="store_true", help="no end-to-end figures")
    p.add_argument("--detector", nargs="+", default=["mtcnn", "haar"],
                   help="face detectors end to end (default: mtcnn, the pretrained "
                        "pipeline's, then haar)")
    p.add_argument("--flip", choices=("yes", "no", "both"), default="both")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.skip_model:
        model_only(args.repeat)
    if args.skip_photos:
        return 0
    if args.data is None or not (args.data / "manifest.json").exists():
        print("\nEnd to end skipped: set SKFER_DATA (or --data) to the folder with the "
              "29 photos and manifest.json.")
        return 0
    flips = {"yes": (True,), "no": (False,), "both": (True, False)}[args.flip]
    for detector in args.detector:
        for flip in flips:
            end_to_end(args.data, args.repeat, args.n_jobs, flip, detector)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
