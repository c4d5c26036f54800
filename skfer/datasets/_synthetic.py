"""Synthetic expression faces drawn procedurally with OpenCV."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import Bunch, check_random_state

from .. import FER2013_CLASSES

__all__ = ["make_faces"]

_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ZOOM = 1.3  # face size relative to the frame
_ONE = 1 << _SHIFT

# Expression parameters, in units of the face scale (or plain factors).
_PARAMS = (
    "brow_raise",  # + moves both brows up
    "brow_tilt",  # + raises the inner ends (sad, fear), - lowers them (anger)
    "brow_inner",  # + draws the inner ends together
    "brow_arch",  # + arches the brows
    "eye_open",  # eye height / eye width
    "mouth_curve",  # + corners up (smile), - corners down
    "mouth_open",  # height of the mouth opening
    "mouth_width",  # factor on the subject's mouth width
    "mouth_asym",  # + raises the right corner only
    "upper_lip",  # raises the upper lip (disgust)
    "lip_thick",  # factor on lip line thickness (pressed lips)
    "wrinkle",  # nose wrinkle strength, 0..1
)
_NEUTRAL = dict.fromkeys(_PARAMS, 0.0) | {
    "eye_open": 0.5,
    "mouth_width": 1.0,
    "lip_thick": 1.0,
}
_EXPRESSIONS = {
    "neutral": {},
    "happy": {
        "brow_raise": 0.006,
        "eye_open": 0.32,
        "mouth_curve": 0.065,
        "mouth_open": 0.025,
        "mouth_width": 1.3,
    },
    "sad": {
        "brow_raise": 0.004,
        "brow_tilt": 0.035,
        "brow_inner": 0.006,
        "eye_open": 0.38,
        "mouth_curve": -0.05,
        "mouth_width": 0.9,
    },
    "angry": {
        "brow_raise": -0.028,
        "brow_tilt": -0.04,
        "brow_inner": 0.018,
        "eye_open": 0.42,
        "mouth_curve": -0.008,
        "mouth_width": 0.78,
        "lip_thick": 0.45,
    },
    "surprise": {
        "brow_raise": 0.055,
        "brow_arch": 0.02,
        "eye_open": 0.9,
        "mouth_open": 0.12,
        "mouth_width": 0.62,
    },
    "fear": {
        "brow_raise": 0.035,
        "brow_tilt": 0.03,
        "brow_inner": 0.02,
        "eye_open": 0.82,
        "mouth_curve": -0.022,
        "mouth_open": 0.045,
        "mouth_width": 1.35,
    },
    "disgust": {
        "brow_raise": -0.02,
        "brow_tilt": -0.012,
        "brow_inner": 0.008,
        "eye_open": 0.3,
        "mouth_curve": -0.02,
        "mouth_open": 0.012,
        "mouth_asym": 0.035,
        "upper_lip": 0.03,
        "wrinkle": 1.0,
    },
}
# Per-sample jitter of each parameter (standard deviation), so that classes
# overlap a little and nothing is decided by one pixel.
_JITTER = {
    "brow_raise": 0.008,
    "brow_tilt": 0.008,
    "brow_inner": 0.005,
    "brow_arch": 0.006,
    "eye_open": 0.08,
    "mouth_curve": 0.012,
    "mouth_open": 0.01,
    "mouth_width": 0.1,
    "mouth_asym": 0.008,
    "upper_lip": 0.006,
    "lip_thick": 0.2,
    "wrinkle": 0.15,
}

# Ranges of the per-image variation. Calibrated so that PCA(30) + SVC on raw
# pixels, evaluated across subjects, scores about 0.8: wider pose and
# lighting ranges make raw-pixel methods fail (shifts above all).
_NUISANCE = {
    "background": (70, 180),  # grey level
    "rotation": 4.0,  # degrees, +-
    "scale": 0.05,  # relative, +-
    "shift": 0.02,  # fraction of the side, +-
    "contrast": (0.85, 1.15),
    "brightness": 12.0,  # grey levels, +-
    "gradient": 30.0,  # grey levels across the image, at most
    "intensity": (0.5, 1.0),  # expression intensity
    "jitter": 0.8,  # factor on _JITTER
}

_DESCR = """\
Synthetic facial expressions (skfer.datasets.make_faces)
--------------------------------------------------------

THESE ARE NOT REAL FACES. Cartoon-like grey faces drawn procedurally with
OpenCV, in the seven FER2013 classes, for tests, examples and quick
experiments that need no downloaded data. Each sample is drawn from its
class's stereotyped expression (happy: smile; sad: corners down, inner brows
up; angry: brows down and together, tight mouth; surprise: brows high, eyes
wide, round open mouth; fear: brows up and together, eyes wide, stretched
mouth; disgust: nose wrinkle, raised asymmetric upper lip, low brows;
neutral: straight mouth), blended with neutral by a random intensity, with
jittered features, per-subject face shapes (``groups``), small rotations,
shifts and scale changes, uneven lighting and Gaussian noise. Accuracies
measured on them say nothing about real expression recognition.
"""


def _pts(xy):
    """Float pixel coordinates -> OpenCV fixed-point int32 points."""
    return np.round(np.asarray(xy, dtype=np.float64) * _ONE).astype(np.int32)


def _ellipse(img, center, axes, angle, color, thickness=-1, start=0, end=360):
    import cv2

    c = _pts(center)
    a = _pts(np.maximum(axes, 0.5))
    cv2.ellipse(
        img,
        (int(c[0]), int(c[1])),
        (int(a[0]), int(a[1])),
        float(angle),
        start,
        end,
        int(color),
        int(thickness),
        cv2.LINE_AA,
        _SHIFT,
    )


def _polyline(img, points, color, thickness):
    import cv2

    cv2.polylines(
        img,
        [_pts(points)],
        False,
        int(color),
        max(1, round(thickness)),
        cv2.LINE_AA,
        _SHIFT,
    )


def _draw_face(S, subject, p, bg):
    """Draw one upright, centred face on an ``S x S`` uint8 canvas."""
    import cv2

    img = np.full((S, S), bg, dtype=np.uint8)
    cx, cy = S / 2, S / 2 + 0.03 * S
    S = S * _ZOOM  # the face fills the frame, as in FER2013 crops
    fw, fh = subject["face_w"] * S, subject["face_h"] * S
    skin, hair = subject["skin"], subject["hair"]

    # neck, hair, face with a soft highlight
    neck = np.array(
        [
            [cx - 0.13 * S, cy + 0.5 * fh],
            [cx + 0.13 * S, cy + 0.5 * fh],
            [cx + 0.16 * S, S * 1.05],
            [cx - 0.16 * S, S * 1.05],
        ]
    )
    cv2.fillPoly(img, [_pts(neck)], int(skin * 0.8), cv2.LINE_AA, _SHIFT)
    _ellipse(
        img, (cx, cy - 0.03 * S), (fw * 1.12, fh * 1.1), 0, hair, start=180, end=360
    )
    if subject["hair_side"] > 0:
        _ellipse(img, (cx, cy), (fw * 1.1, fh * subject["hair_side"]), 0, hair)
    _ellipse(img, (cx, cy), (fw, fh), 0, skin * 0.88)
    _ellipse(img, (cx - 0.02 * S, cy - 0.04 * S), (fw * 0.8, fh * 0.8), 0, skin * 0.96)
    _ellipse(
        img,
        (cx - 0.03 * S, cy - 0.07 * S),
        (fw * 0.55, fh * 0.55),
        0,
        min(255, skin * 1.04),
    )
    # hairline over the forehead
    _ellipse(
        img,
        (cx, cy - fh * 0.78),
        (fw * 0.95, fh * subject["fringe"]),
        0,
        hair,
        start=180,
        end=360,
    )
    img = cv2.GaussianBlur(img, (0, 0), S / 60)

    dark = max(0, skin - 120)
    # eyes and brows
    ey = cy + subject["eye_y"] * S
    ew = subject["eye_w"] * S
    eh = max(0.08, p["eye_open"]) * ew
    brow_y = ey - subject["brow_gap"] * S - p["brow_raise"] * S
    bl = subject["brow_len"] * S
    for side in (-1, 1):
        ex = cx + side * subject["eye_dx"] * S
        _ellipse(img, (ex, ey), (ew, eh), 0, 235)
        r = min(0.5 * ew, 0.95 * eh)
        _ellipse(img, (ex, ey + 0.05 * eh), (r, r), 0, 35)
        _ellipse(img, (ex, ey), (ew, eh), 0, dark, thickness=max(1, round(S / 70)))
        # brow: outer end -> middle -> inner end (towards the nose)
        inner_x = ex - side * (bl - p["brow_inner"] * S)
        outer_x = ex + side * bl
        inner_y = brow_y - p["brow_tilt"] * S
        outer_y = brow_y + 0.3 * p["brow_tilt"] * S
        mid = (
            (inner_x + outer_x) / 2,
            (inner_y + outer_y) / 2 - (0.012 + p["brow_arch"]) * S,
        )
        _polyline(
            img,
            [(outer_x, outer_y), mid, (inner_x, inner_y)],
            subject["brow_color"],
            subject["brow_thick"] * S,
        )

    # nose, with wrinkles for disgust
    nose_top, nose_tip = ey + 0.03 * S, ey + subject["nose_len"] * S
    _polyline(
        img,
        [
            (cx - 0.005 * S, nose_top),
            (cx - 0.02 * S, nose_tip),
            (cx + 0.012 * S, nose_tip + 0.012 * S),
        ],
        skin * 0.62,
        S / 80,
    )
    _polyline(
        img,
        [
            (cx - 0.045 * S, nose_tip),
            (cx - 0.02 * S, nose_tip + 0.018 * S),
            (cx + 0.02 * S, nose_tip + 0.018 * S),
            (cx + 0.045 * S, nose_tip),
        ],
        skin * 0.6,
        S / 90,
    )
    w = float(np.clip(p["wrinkle"], 0, 1))
    if w > 0.15:
        shade = skin - w * 0.45 * skin
        for k in range(3):
            yk = ey + (0.0 + 0.025 * k) * S
            _polyline(
                img,
                [
                    (cx - 0.035 * S, yk + 0.005 * S),
                    (cx, yk),
                    (cx + 0.035 * S, yk + 0.005 * S),
                ],
                shade,
                S / 90,
            )
        for side in (-1, 1):  # raised cheeks beside the nose
            _polyline(
                img,
                [
                    (cx + side * 0.05 * S, nose_tip - 0.04 * S),
                    (cx + side * 0.075 * S, nose_tip + 0.01 * S),
                ],
                shade,
                S / 80,
            )

    # mouth: a lip band around an opening shaped by the expression
    my = cy + subject["mouth_y"] * S
    mw = subject["mouth_w"] * S * max(0.3, p["mouth_width"])
    t = np.linspace(-1, 1, 17)
    base = (
        my - p["mouth_curve"] * S * t**2 - p["mouth_asym"] * S * np.maximum(t, 0) ** 2
    )
    bulge = np.sqrt(1 - t**2)
    opening = max(0.0, p["mouth_open"]) * S
    upper = (
        base - (0.35 * opening + max(0.0, p["upper_lip"]) * S * (0.6 + 0.4 * t)) * bulge
    )
    lower = base + 0.65 * opening * bulge
    lip_w = 0.016 * S * max(0.3, p["lip_thick"]) * (0.35 + 0.65 * bulge)
    x = cx + mw * t
    outer = np.concatenate([np.c_[x, upper - lip_w], np.c_[x, lower + lip_w][::-1]])
    cv2.fillPoly(img, [_pts(outer)], int(skin * 0.55), cv2.LINE_AA, _SHIFT)
    if (lower - upper).max() > S / 80:
        inner = np.concatenate([np.c_[x, upper], np.c_[x, lower][::-1]])
        cv2.fillPoly(img, [_pts(inner)], 25, cv2.LINE_AA, _SHIFT)
        if p["mouth_curve"] > 0.02:  # a smile shows the upper teeth
            teeth = np.concatenate(
                [np.c_[x, upper], np.c_[x, upper + 0.4 * (lower - upper)][::-1]]
            )
            cv2.fillPoly(img, [_pts(teeth)], 225, cv2.LINE_AA, _SHIFT)
    else:
        _polyline(img, np.c_[x, (upper + lower) / 2], skin * 0.3, S / 90)
    return img


def _subjects(rng, n_subjects):
    """Fixed per-subject features (sizes in units of the face scale)."""

    def u(lo, hi):
        return rng.uniform(lo, hi, n_subjects)

    cols = {
        "face_w": u(0.298, 0.332),
        "face_h": u(0.388, 0.422),
        "eye_y": u(-0.09, -0.07),
        "eye_dx": u(0.124, 0.141),
        "eye_w": u(0.049, 0.056),
        "brow_gap": u(0.06, 0.07),
        "brow_len": u(0.06, 0.07),
        "brow_thick": u(0.0275, 0.0325),
        "nose_len": u(0.11, 0.13),
        "mouth_y": u(0.1925, 0.2175),
        "mouth_w": u(0.0975, 0.1125),
        "skin": u(159, 196),
        "hair": u(42, 88),
        "hair_side": np.where(rng.uniform(size=n_subjects) < 0.4, u(0.6, 0.8), 0.0),
        "fringe": u(0.15, 0.25),
    }
    cols["brow_color"] = np.minimum(cols["hair"] + 20, cols["skin"] - 70)
    return [{k: float(v[i]) for k, v in cols.items()} for i in range(n_subjects)]


def _check_classes(classes):
    if classes is None:
        return list(FER2013_CLASSES)
    if isinstance(classes, (str, numbers.Integral)):
        classes = [classes]
    chosen = set()
    for c in classes:
        if isinstance(c, numbers.Integral) and not isinstance(c, bool):
            if not 0 <= c < len(FER2013_CLASSES):
                raise ValueError(
                    f"Class label {c} is not in 0..{len(FER2013_CLASSES) - 1}."
                )
            c = FER2013_CLASSES[int(c)]
        if c not in FER2013_CLASSES:
            raise ValueError(
                f"Unknown class {c!r}; choose among {list(FER2013_CLASSES)}."
            )
        if c in chosen:
            raise ValueError(f"Class {c!r} is given twice.")
        chosen.add(c)
    if not chosen:
        raise ValueError("classes is empty; give at least one class or None for all 7.")
    return [c for c in FER2013_CLASSES if c in chosen]


def make_faces(
    n_samples=700,
    *,
    image_size=48,
    classes=None,
    n_subjects=20,
    noise=6.0,
    random_state=None,
):
    """Generate SYNTHETIC facial expression images (drawn, not real faces).

    Cartoon-like grey faces are drawn with OpenCV (face outline with skin
    shading, hair, eyes, brows, nose and a mouth shaped by the expression)
    in the seven FER2013 classes:

    * happy: corners of the mouth up (smile), narrowed eyes;
    * sad: corners down, inner ends of the brows raised;
    * angry: brows low and slanted down towards the centre, tight mouth;
    * surprise: brows high and arched, eyes wide, round open mouth;
    * fear: brows raised and drawn together, eyes wide, wide stretched mouth;
    * disgust: nose wrinkle, raised asymmetric upper lip, low brows;
    * neutral: straight mouth, relaxed brows.

    Each face blends its class's expression with neutral by a random
    intensity and jitters every feature, so the task is learnable but not
    trivially separable (a PCA + SVM scores roughly 0.8, chance is 1/7).
    Each subject has a fixed face shape (width, eye spacing, skin and hair
    tones...); pose (rotation up to 4 degrees, a shift of up to 2% of the
    side, scale within 5%), lighting
    (brightness, contrast, a linear gradient) and pixel noise vary per image.
    Faces are drawn at twice (or more) the output size and shrunk with
    ``cv2.INTER_AREA`` for antialiasing. About 1 ms per face.

    Parameters
    ----------
    n_samples : int, default=700
        Number of images; classes are balanced (counts differ by at most 1).
    image_size : int, default=48
        Side of the square output images (at least 16).
    classes : list of str or int, or None, default=None
        Subset of :data:`skfer.FER2013_CLASSES` (names or FER2013 labels) to
        draw; ``None`` draws all seven.
    n_subjects : int, default=20
        Number of synthetic subjects, spread evenly over the samples.
    noise : float, default=6.0
        Standard deviation of the Gaussian pixel noise, in grey levels
        (0-255 scale).
    random_state : int, RandomState instance or None, default=None
        Seed; the output is identical for the same seed and arguments.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        images : ndarray of shape (n_samples, image_size, image_size), uint8
            Grey synthetic faces.
        target : ndarray of shape (n_samples,), int
            Index into ``target_names``.
        target_names : list of str
            The drawn classes, in :data:`skfer.FER2013_CLASSES` order (all
            seven by default, so labels then equal FER2013 labels).
        groups : ndarray of shape (n_samples,), str
            Synthetic subject ids, ``'synth00'``, ``'synth01'``...
        intensity : ndarray of shape (n_samples,), float
            Expression intensity in [0.5, 1] (meaningless for neutral).
        split : None
            No split.
        DESCR : str
            States that the data are synthetic.

    Examples
    --------
    >>> from skfer.datasets import make_faces
    >>> data = make_faces(70, random_state=0)
    >>> data.images.shape, data.images.dtype
    ((70, 48, 48), dtype('uint8'))
    >>> data.target_names
    ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']
    >>> sorted(set(data.target.tolist()))
    [0, 1, 2, 3, 4, 5, 6]
    >>> data.groups[:3].tolist()  # doctest: +SKIP
    ['synth04', 'synth17', 'synth09']
    >>> small = make_faces(10, image_size=32, classes=["happy", "sad"],
    ...                    random_state=0)
    >>> small.images.shape, small.target_names
    ((10, 32, 32), ['happy', 'sad'])
    """
    import cv2

    if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}.")
    if not isinstance(image_size, numbers.Integral) or image_size < 16:
        raise ValueError(f"image_size must be an int >= 16, got {image_size!r}.")
    if not isinstance(n_subjects, numbers.Integral) or n_subjects < 1:
        raise ValueError(f"n_subjects must be a positive int, got {n_subjects!r}.")
    if not isinstance(noise, numbers.Real) or not noise >= 0:
        raise ValueError(f"noise must be a number >= 0, got {noise!r}.")
    names = _check_classes(classes)
    n, s = int(n_samples), int(image_size)
    rng = check_random_state(random_state)

    factor = max(2, -(-96 // s))
    S = s * factor
    subjects = _subjects(rng, n_subjects)
    target = rng.permutation(np.arange(n) % len(names))
    subject_of = rng.permutation(np.arange(n) % n_subjects)
    intensity = rng.uniform(*_NUISANCE["intensity"], n)
    jitter = rng.standard_normal((n, len(_PARAMS)))
    bg = rng.uniform(*_NUISANCE["background"], n)
    angle = rng.uniform(-1, 1, n) * _NUISANCE["rotation"]
    scale = 1 + rng.uniform(-1, 1, n) * _NUISANCE["scale"]
    shift = rng.uniform(-1, 1, (n, 2)) * _NUISANCE["shift"] * S
    contrast = rng.uniform(*_NUISANCE["contrast"], n)
    brightness = rng.uniform(-1, 1, n) * _NUISANCE["brightness"]
    grad_amp = rng.uniform(0, _NUISANCE["gradient"], n)
    grad_dir = rng.uniform(0, 2 * np.pi, n)
    noise_img = rng.standard_normal((n, s, s)).astype(np.float32)

    jit = np.array([_JITTER[k] for k in _PARAMS]) * _NUISANCE["jitter"]
    images = np.empty((n, s, s), dtype=np.float32)
    for i in range(n):
        expr = _EXPRESSIONS[names[target[i]]]
        p = {
            k: _NEUTRAL[k]
            + intensity[i] * (expr.get(k, _NEUTRAL[k]) - _NEUTRAL[k])
            + jitter[i, j] * jit[j]
            for j, k in enumerate(_PARAMS)
        }
        face = _draw_face(S, subjects[subject_of[i]], p, bg[i])
        M = cv2.getRotationMatrix2D((S / 2, S / 2), float(angle[i]), float(scale[i]))
        M[:, 2] += shift[i]
        face = cv2.warpAffine(
            face,
            M,
            (S, S),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=float(bg[i]),
        )
        images[i] = cv2.resize(face, (s, s), interpolation=cv2.INTER_AREA)

    # lighting and noise, for all images at once
    yy, xx = (np.mgrid[:s, :s].astype(np.float32) + 0.5) / s - 0.5
    grad = (grad_amp * np.cos(grad_dir))[:, None, None] * xx + (
        grad_amp * np.sin(grad_dir)
    )[:, None, None] * yy
    images -= 128
    images *= contrast[:, None, None].astype(np.float32)
    images += (128 + brightness)[:, None, None].astype(np.float32)
    images += grad.astype(np.float32)
    images += np.float32(noise) * noise_img
    np.clip(np.rint(images, out=images), 0, 255, out=images)

    width = max(2, len(str(n_subjects - 1)))
    groups = np.array([f"synth{k:0{width}d}" for k in subject_of], dtype=str)
    return Bunch(
        images=images.astype(np.uint8),
        target=target.astype(np.int64),
        target_names=names,
        groups=groups,
        intensity=intensity,
        split=None,
        DESCR=_DESCR,
    )
