"""How many times each image is validated, and what prediction costs per image.

The one full image validation of skfer is :func:`skfer._image.check_images`
(with :func:`skfer._image.check_image` per image of a list). This script
wraps both wherever skfer imported them and counts, per image, the
validations done by

* ``pretrained.load(face_detection=False).predict(crops)`` (48x48 crops:
  Grayscale, Resize, CNNClassifier);
* ``pretrained.load().predict(photos)`` (FaceCropper first);
* ``Pipeline(FaceCropper, Grayscale, Resize, CNNClassifier).fit(photos, y)``.

Each step validates its input once, so the counts equal the number of
steps (before "validate once", a fitted Pipeline's ``fit`` validated each
image twice per transformer: 7 times for these four steps). It then times
``pretrained.load(face_detection=False).predict`` on 48x48 grey crops, per
image, at batch 1 and batch 256. ``tests/test_validation_count.py`` pins
the counts.

Run::

    python benchmarks/bench_validation.py
    python benchmarks/bench_validation.py --threads 2 --min-time 3
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import numpy as np
import torch


@contextlib.contextmanager
def count_validations():
    """Yield a list that gets, per full validation, the number of images it checked."""
    from skfer import _image

    calls = []
    depth = [0]
    check_images, check_image = _image.check_images, _image.check_image

    def counted_images(X, *args, **kwargs):
        depth[0] += 1
        try:
            out = check_images(X, *args, **kwargs)
        finally:
            depth[0] -= 1
        calls.append(len(out[0]))
        return out

    def counted_image(img, *args, **kwargs):
        if depth[0] == 0:
            calls.append(1)
        return check_image(img, *args, **kwargs)

    patched = []
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("skfer"):
            continue
        for name, original, wrapper in (
            ("check_images", check_images, counted_images),
            ("check_image", check_image, counted_image),
        ):
            if getattr(module, name, None) is original:
                setattr(module, name, wrapper)
                patched.append((module, name, original))
    try:
        yield calls
    finally:
        for module, name, original in patched:
            setattr(module, name, original)


def _per_image(calls, n_images):
    return sum(calls) / n_images


def _seconds_per_image(fn, n_images, min_time):
    """Best of 3 timed blocks of repeated ``fn()`` calls, per image."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(3):
        calls = 0
        start = time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time / 3:
                break
        best = min(best, elapsed / (calls * n_images))
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--min-time", type=float, default=2.0,
                        help="seconds of timing per batch size (default 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from sklearn.pipeline import Pipeline

    from skfer import pretrained
    from skfer.neural import CNNClassifier
    from skfer.preprocessing import FaceCropper, Grayscale, Resize

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (8, 48, 48), dtype=np.uint8)
    photos = [rng.integers(0, 256, (90 + 10 * i, 120, 3), dtype=np.uint8) for i in range(4)]
    y = np.array([0, 1, 0, 1])

    print("Full validations per image (one per step is the goal)")
    with count_validations() as calls:
        crops_model = pretrained.load(face_detection=False)
        photos_model = pretrained.load()
    print(f"  pretrained.load() x2 (no data)                 : {len(calls)} calls")
    rows = []
    with count_validations() as calls:
        crops_model.predict(crops)
    rows.append(("pretrained.load(face_detection=False).predict", 3, calls, len(crops)))
    with count_validations() as calls:
        photos_model.predict(photos)
    rows.append(("pretrained.load().predict", 4, calls, len(photos)))
    pipe = Pipeline([
        ("crop", FaceCropper(output_size=48)),
        ("gray", Grayscale()),
        ("resize", Resize(size=48)),
        ("clf", CNNClassifier(architecture="simple", module__channels=(4,),
                              module__hidden=(8,), max_epochs=1, augment=False,
                              validation_fraction=None, device="cpu", random_state=0)),
    ])
    with count_validations() as calls:
        pipe.fit(photos, y)
    rows.append(("Pipeline(FaceCropper, Grayscale, Resize, CNN).fit", 4, calls, len(photos)))
    for label, n_steps, calls, n in rows:
        print(f"  {label:<48}: {_per_image(calls, n):.0f} per image "
              f"({n_steps} steps, {len(calls)} calls)")

    print(f"\nTime per image of pretrained.load(face_detection=False).predict "
          f"(48x48 grey uint8, {args.threads} thread(s), test-time flip on)")
    for batch in (1, 256):
        X = rng.integers(0, 256, (batch, 48, 48), dtype=np.uint8)
        seconds = _seconds_per_image(lambda X=X: crops_model.predict(X), batch, args.min_time)
        print(f"  batch {batch:>3}: {seconds * 1e3:7.3f} ms per image ({1 / seconds:8.0f} images/s)")


if __name__ == "__main__":
    main()
