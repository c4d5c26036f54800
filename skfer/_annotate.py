"""How skfer reports a face, the same for ``skfer predict``/``demo`` and ``skfer serve``.

The JSON line of a face (:func:`face_line`, :func:`photo_lines`), the crop
margin a model file asks for (:func:`crop_margin_of`), box colours and
labels, annotated photos, Grad-CAM pictures and image files.
"""

from __future__ import annotations

import numpy as np

#: Box colours (RGB) of the canonical emotions in annotated images.
COLOURS = {
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

#: Crop margin of models trained on datasets of face crops (``skfer train``
#: records it; model files without one get it): FER2013 and CK+48 faces are
#: 1.22 and 1.23 times the side of the face box that ``detect_faces`` finds in
#: them (medians over 300 images each), a margin of 0.11 on each side.
DEFAULT_MARGIN = 0.1

#: Side in pixels of the Grad-CAM pictures written by ``skfer predict --explain``.
EXPLAIN_SIZE = 192


def label_text(value):
    """A label as the text shown and printed."""
    return value if isinstance(value, str) else str(value)


def colour(label, classes=()):
    """The RGB colour of ``label``: its emotion's, else one of a palette by class index."""
    from ._emotions import EMOTION_ALIASES

    name = EMOTION_ALIASES.get(str(label).strip().lower())
    if name in COLOURS:
        return COLOURS[name]
    try:
        index = [str(c) for c in classes].index(str(label))
    except ValueError:
        index = 0
    return _PALETTE[index % len(_PALETTE)]


def _ink(rgb):
    r, g, b = rgb
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 128 else (255, 255, 255)


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
        rgb = colour(label, classes)
        bgr = rgb[::-1]
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), bgr, thick + 1)
        text = label_text(label) + ("" if prob is None else f" {prob:.2f}")
        scale = float(np.clip(w / 150.0, 0.4, 1.6))
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        top = y - th - base - 2 * thick
        if top < 0:  # no room above the box: label inside its top edge
            top = y
        left = max(0, min(x, width - tw - 2 * thick))  # keep the label in the image
        cv2.rectangle(img, (left, top), (left + tw + 2 * thick, top + th + base + 2 * thick),
                      bgr, cv2.FILLED)
        cv2.putText(img, text, (left + thick, top + th + thick), font, scale, _ink(rgb)[::-1],
                    thick, cv2.LINE_AA)
    return img


def explain_picture(crop, heat, text, rgb):
    """A BGR :data:`EXPLAIN_SIZE` square: ``heat`` over ``crop``, ``text`` on a strip."""
    import cv2

    from .explain import overlay

    size = EXPLAIN_SIZE
    shrink = max(crop.shape[:2]) > size
    big = cv2.resize(np.ascontiguousarray(crop), (size, size),
                     interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    bgr = cv2.cvtColor(overlay(big, heat), cv2.COLOR_RGB2BGR)
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    cv2.rectangle(bgr, (0, 0), (min(size - 1, tw + 6), th + base + 6), rgb[::-1], cv2.FILLED)
    cv2.putText(bgr, text, (3, th + 3), font, scale, _ink(rgb)[::-1], thick, cv2.LINE_AA)
    return bgr


def write_image(bgr, path):
    """Encode ``bgr`` for ``path``'s extension (PNG when OpenCV cannot); return the path.

    The file is written to a temporary name beside ``path`` and renamed, so an
    interrupted run never leaves half an image under the final name.
    """
    import os

    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        ok, data = cv2.imencode(path.suffix or ".png", bgr)
    except cv2.error:
        ok = False
    if not ok:
        path = path.with_name(path.name + ".png")
        ok, data = cv2.imencode(".png", bgr)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data.tobytes())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def face_line(box, label, row, classes, landmarks=None):
    """``(box, JSON fields, probability of label)`` of one face.

    The one place where the fields of a face's JSON line are built, for
    ``skfer predict`` and for ``skfer serve``'s API (so the same photo gives
    the same JSON both ways): ``box`` as a list of ints, ``landmarks`` (only
    when the detector gives them, as MTCNN does) five ``[x, y]`` points
    rounded to 0.1 pixel (eye centres left then right, nose tip, mouth
    corners), ``emotion`` the label, ``probabilities`` ``{class: round(p,
    4)}`` (None when ``row`` is).
    """
    box = [int(v) for v in box]
    probs = top = None
    if row is not None:
        probs = {label_text(c): round(float(v), 4)
                 for c, v in zip(classes, row, strict=True)}
        top = probs.get(label_text(label))
    line = {"box": box}
    if landmarks is not None:
        line["landmarks"] = [[round(float(x), 1), round(float(y), 1)]
                             for x, y in np.asarray(landmarks).reshape(-1, 2)]
    line.update(emotion=label, probabilities=probs)
    return box, line, top


def no_face_line(file):
    """The JSON line of a photo in which no face was found."""
    return {"file": str(file), "box": None, "emotion": None, "probabilities": None}


def photo_lines(file, found, labels, proba, classes):
    """The JSON lines of one photo's :class:`~skfer.faces.Detections` ``found``.

    One per face (:func:`face_line`, with its landmarks when there are), or
    :func:`no_face_line`.
    """
    if len(found) == 0:
        return [no_face_line(file)]
    return [{"file": str(file), **face_line(box, labels[i],
                                            None if proba is None else proba[i], classes,
                                            found.landmarks_of(i))[1]}
            for i, box in enumerate(found.boxes)]


def crop_margin_of(model, what="the model"):
    """The crop margin ``model`` asks for: its file's metadata ``crop_margin``, else 0.1.

    Used by ``skfer predict`` and ``skfer serve`` alike; a bad value in the
    metadata is a ValueError naming ``what``.
    """
    from .faces import check_margin

    meta = getattr(model, "skfer_manifest_", {}).get("metadata") or {}
    margin = meta.get("crop_margin", DEFAULT_MARGIN)
    return check_margin(margin, f"{what}: its metadata's crop_margin")
