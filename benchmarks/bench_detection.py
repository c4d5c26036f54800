"""Recall, false faces and speed of :func:`skfer.preprocessing.detect_faces`.

Runs the detector on the real photos of ``$SKFER_DATA/faces`` (images are
decoded first, so only detection is timed) and prints, per photo, the number
of faces found against the manifest's count; for the nine ``dlib_*`` photos,
which carry ground-truth boxes, it also prints true and false detections
(a ground-truth box is matched by at most one detection, at IoU >= 0.3).

Every detector option takes a comma-separated list; all combinations are run
(a small tuning sweep), one summary line each::

    python benchmarks/bench_detection.py
    python benchmarks/bench_detection.py --scale-factor 1.1,1.15 --min-neighbors 2,3,4
    python benchmarks/bench_detection.py --cascade alt2,default,alt2+default
    python benchmarks/bench_detection.py --n-jobs 2 --repeat 3
    python benchmarks/bench_detection.py --detector mtcnn --min-size 0.04,0.05,0.06

With ``--detector mtcnn`` only ``--min-size`` and ``--max-side`` apply (see
``bench_faces_wild.py`` for tilted, small and cut faces).

Summary columns: ``recall`` = matched / 43 ground-truth faces on dlib_*;
``fp`` = dlib_* detections matching no ground-truth face; ``over`` and
``under`` = detections above / below the manifest count on the 20 other
photos (summed per photo); ``found`` = detections capped at the manifest
count, over all 96 faces (an optimistic recall: on the other photos it
counts, it does not match boxes); ``sec`` = seconds for all photos (best of
``--repeat``), single call per photo or ``--n-jobs`` threads; ``cpu`` =
process CPU seconds, all threads (OpenCV's own included) summed: less
disturbed by other load on the machine than ``sec``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skfer._image import map_images, read_image  # noqa: E402
from skfer.faces import detect_faces, match_boxes  # noqa: E402


def _floats_or_ints(text):
    out = []
    for part in text.split(","):
        part = part.strip()
        if part.lower() == "none":
            out.append(None)
        elif part.isdigit():
            out.append(int(part))
        else:
            out.append(float(part))
    return out


def _load(data):
    manifest = json.loads((data / "manifest.json").read_text())
    images = {}
    for item in manifest:
        # 'unchanged' keeps grey and RGBA files as they are, as users give them.
        images[item["file"]] = read_image(data / item["file"], mode="unchanged")
    return manifest, images


def _truth(item):
    return [(b["left"], b["top"], b["width"], b["height"]) for b in item["boxes_ltwh"]]


def run_config(manifest, images, params, *, n_jobs=None, repeat=1):
    """Detect on every photo; return (per-photo rows, summary dict)."""
    files = [item["file"] for item in manifest]
    best, best_cpu, detections, per_photo_s = np.inf, np.inf, None, {}
    for _ in range(repeat):
        cpu0 = time.process_time()
        if n_jobs is None:
            dets, times = [], {}
            start = time.perf_counter()
            for f in files:
                t0 = time.perf_counter()
                dets.append(detect_faces(images[f], **params))
                times[f] = time.perf_counter() - t0
            elapsed = time.perf_counter() - start
        else:
            start = time.perf_counter()
            dets = map_images(
                lambda img: detect_faces(img, **params),
                [images[f] for f in files],
                n_jobs=n_jobs,
            )
            elapsed = time.perf_counter() - start
            times = {}
        best_cpu = min(best_cpu, time.process_time() - cpu0)
        if elapsed < best:
            best, detections, per_photo_s = elapsed, dets, times
    rows = []
    tp = fp = n_truth = over = under = found = n_faces = 0
    for item, boxes in zip(manifest, detections, strict=True):
        boxes = [tuple(int(v) for v in b) for b in boxes]
        row = {
            "file": item["file"],
            "size": f"{item['width']}x{item['height']}",
            "faces": item["faces"],
            "found": len(boxes),
            "sec": per_photo_s.get(item["file"]),
        }
        n_faces += item["faces"]
        if "boxes_ltwh" in item:
            truth = _truth(item)
            matched = len(match_boxes(truth, boxes, 0.3))
            false = len(boxes) - matched
            row.update(tp=matched, fp=false)
            tp, fp, n_truth = tp + matched, fp + false, n_truth + len(truth)
            found += matched
        else:
            over += max(0, len(boxes) - item["faces"])
            under += max(0, item["faces"] - len(boxes))
            found += min(len(boxes), item["faces"])
        rows.append(row)
    summary = {
        "recall": tp / n_truth if n_truth else float("nan"),
        "tp": tp,
        "n_truth": n_truth,
        "fp": fp,
        "over": over,
        "under": under,
        "found": found,
        "n_faces": n_faces,
        "total_detections": sum(r["found"] for r in rows),
        "sec": best,
        "cpu": best_cpu,
    }
    return rows, summary


def main(argv=None):
    default_data = os.environ.get("SKFER_DATA")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(default_data, "faces") if default_data else None,
        help="folder with the photos and manifest.json (default: $SKFER_DATA/faces)",
    )
    parser.add_argument("--detector", choices=("haar", "mtcnn"), default="haar")
    parser.add_argument("--scale-factor", default="1.1", help="e.g. 1.05,1.1,1.15")
    parser.add_argument("--min-neighbors", default="3", help="e.g. 2,3,4,5")
    parser.add_argument(
        "--min-size", default=None,
        help="ints are pixels, floats in (0, 1) fractions (default: 0.06 for haar, "
             "0.05 for mtcnn)"
    )
    parser.add_argument("--max-side", default="640", help="e.g. 480,640,none")
    parser.add_argument(
        "--cascade",
        default="alt2",
        help="e.g. alt2,default; merge with '+': alt2+default",
    )
    parser.add_argument(
        "--n-jobs", type=int, default=None, help="threads (default: serial)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="keep the best time of N runs"
    )
    parser.add_argument(
        "--per-photo", action="store_true", help="table even for a sweep"
    )
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("set SKFER_DATA or pass --data FOLDER")
    if not (args.data / "manifest.json").exists():
        parser.error(f"{args.data / 'manifest.json'} not found")

    manifest, images = _load(args.data)
    if args.min_size is None:
        args.min_size = "0.06" if args.detector == "haar" else "0.05"
    if args.detector == "mtcnn":
        args.scale_factor, args.min_neighbors, args.cascade = "0.709", "0", "none"
    grid = list(
        itertools.product(
            _floats_or_ints(args.scale_factor),
            [int(v) for v in args.min_neighbors.split(",")],
            _floats_or_ints(args.min_size),
            _floats_or_ints(args.max_side),
            [c.split("+") if "+" in c else c for c in args.cascade.split(",")],
        )
    )
    detect_faces(np.zeros((64, 64), np.uint8), detector=args.detector)  # load it before timing
    mode = "serial" if args.n_jobs is None else f"n_jobs={args.n_jobs}"
    print(
        f"{len(manifest)} photos from {args.data}; timing {mode}, best of {args.repeat}"
    )
    for sf, mn, ms, side, cascade in grid:
        params = dict(
            scale_factor=sf,
            min_neighbors=mn,
            min_size=ms,
            max_side=side,
            cascade=cascade,
        )
        if args.detector == "mtcnn":
            params = dict(detector="mtcnn", min_size=ms, max_side=side)
        rows, s = run_config(
            manifest, images, params, n_jobs=args.n_jobs, repeat=args.repeat
        )
        if len(grid) == 1 or args.per_photo:
            print(
                f"\n{'file':36s} {'size':>10s} {'faces':>5s} {'found':>5s} "
                f"{'tp':>3s} {'fp':>3s} {'sec':>6s}"
            )
            for r in rows:
                sec = f"{r['sec']:.3f}" if r["sec"] is not None else "-"
                print(
                    f"{r['file']:36s} {r['size']:>10s} {r['faces']:5d} {r['found']:5d} "
                    f"{r.get('tp', ''):>3} {r.get('fp', ''):>3} {sec:>6s}"
                )
            print()
        print(
            f"{params}: recall={s['recall']:.3f} ({s['tp']}/{s['n_truth']}) fp={s['fp']} "
            f"over={s['over']} under={s['under']} found={s['found']}/{s['n_faces']} "
            f"detections={s['total_detections']} sec={s['sec']:.2f} "
            f"({1000 * s['sec'] / len(manifest):.0f} ms/photo) cpu={s['cpu']:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
