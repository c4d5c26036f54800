"""Videos in ``skfer predict``: frames read with OpenCV, faces tracked and smoothed.

:func:`predict_video` reads a video frame by frame with
:class:`cv2.VideoCapture`, detects and classifies the faces of every
``every``-th frame (the faces of a batch of frames go through the net
together), prints one JSON line per processed frame and face and can write
an annotated copy of the video. :class:`skfer.faces.FaceTracker` follows
the faces and smooths their probabilities over time; with ``detect_every``
> 1, :class:`skfer.faces.TrackingDetector` runs the detector on every
``detect_every``-th processed frame only and follows the faces between
(frames are then detected in order, in this thread).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

#: Video file extensions read by ``skfer predict`` (also inside folders).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")

#: Processed frames whose faces go through the net together.
FRAMES_PER_BATCH = 32

#: With ``--annotate``, frames (processed or skipped) held in memory at most
#: before they are classified and written.
MAX_PENDING_FRAMES = 64

#: With ``--explain``, the processed frames with faces explained per video
#: (the first ones): Grad-CAM costs about two forward passes per face.
EXPLAIN_FRAMES = 10

#: Frame rate of an annotated video when the input's is unknown.
_FALLBACK_FPS = 25.0


def is_video(path):
    """Whether ``path`` has one of :data:`VIDEO_EXTENSIONS`."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


class _AnnotatedVideo:
    """``base.mp4`` (mp4v), else ``base.avi`` (MJPG), opened at the first frame."""

    def __init__(self, base, fps, source):
        self.base = Path(base)
        self.fps = fps or _FALLBACK_FPS
        self.source = Path(source)
        self.writer = None
        self.path = None

    def write(self, bgr):
        import cv2

        if self.writer is None:
            self.base.parent.mkdir(parents=True, exist_ok=True)
            size = (bgr.shape[1], bgr.shape[0])
            for suffix, codec in ((".mp4", "mp4v"), (".avi", "MJPG")):
                path = self.base.with_suffix(suffix)
                if path.exists() and path.resolve() == self.source.resolve():
                    raise OSError(f"'{path}' is the video itself")
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec),
                                         float(self.fps), size)
                if writer.isOpened():
                    self.writer, self.path = writer, path
                    break
                writer.release()
            else:
                raise OSError(f"OpenCV cannot write '{self.base.with_suffix('.mp4')}' "
                              "(mp4v) nor '.avi' (MJPG)")
        self.writer.write(bgr)

    def close(self):
        if self.writer is not None:
            self.writer.release()


def predict_video(path, rel, p, *, every, smooth, detect_every=1):
    """Classify the faces of one video; returns ``(n_faces, failed)``.

    ``p`` is the ``_Predictor`` of ``skfer predict`` (see
    :mod:`skfer.cli._predict`): it finds and classifies faces (through the
    face engine), explains and draws.
    """
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        p.say(f"skfer predict: error: cannot open video '{path}' (missing codec, "
              "or not a video file).")
        return 0, True
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else None
    count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    count = int(count) if count and math.isfinite(count) and count > 0 else None
    from ..faces import FaceEngine, FaceTracker, TrackingDetector

    tracker = FaceTracker(smooth) if smooth else None
    writer = None if p.annotate is None else _AnnotatedVideo(p.annotate / rel, fps, path)
    engine = None
    if detect_every > 1:
        base = p.recognizer.engine
        engine = FaceEngine(detector=TrackingDetector(base.detector, every=detect_every),
                            margin=base.margin, size=base.size, gray=base.gray,
                            align=base.align)
    state = {"faces": 0, "failed": False, "drawn": [], "explained": 0, "writer": writer,
             "engine": engine}
    frame_bar = None
    if not p.quiet:
        import sys

        from tqdm.auto import tqdm

        frame_bar = tqdm(total=count, desc=str(rel), unit="frame", leave=False,
                         file=sys.stderr)
    pending = []  # [(index, rgb or None, processed)]: frames to classify or draw
    n_processed = 0
    index = 0
    try:
        while True:
            processed = index % every == 0
            if processed or state["writer"] is not None:
                ok, frame = cap.read()
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok else None
            else:
                ok, rgb = cap.grab(), None  # skipped and not drawn: not decoded
            if not ok:
                break
            if processed or state["writer"] is not None:
                pending.append((index, rgb, processed))
                n_processed += processed
            index += 1
            if frame_bar is not None:
                frame_bar.update(1)
            if n_processed >= FRAMES_PER_BATCH or len(pending) >= MAX_PENDING_FRAMES:
                _flush(pending, path, rel, fps, p, tracker, state)
                pending, n_processed = [], 0
        _flush(pending, path, rel, fps, p, tracker, state)
    finally:
        cap.release()
        if state["writer"] is not None:
            state["writer"].close()
        if frame_bar is not None:
            frame_bar.close()
    if index == 0:
        p.say(f"skfer predict: error: cannot read any frame of video '{path}'.")
        return 0, True
    if state["faces"] == 0:
        p.say(f"skfer predict: warning: no face found in any frame of '{path}'.")
    return state["faces"], state["failed"]


def _flush(pending, path, rel, fps, p, tracker, state):
    """Detect, classify, print and draw the frames read so far."""
    if not pending:
        return
    frames = [rgb for _, rgb, processed in pending if processed]
    if state["engine"] is not None:  # faces followed from frame to frame: in order
        found = [p.find(frame, state["engine"]) for frame in frames]
    else:
        found = p.map(p.find, frames)
    crops = [c for _, cs, _ in found for c in cs]
    labels, proba = p.classify(crops)
    k = 0
    results = iter(found)
    for index, rgb, processed in pending:
        if processed:
            detections, face_crops, shown = next(results)
            boxes = detections.boxes
            n = len(boxes)
            rows = None if proba is None else proba[k:k + n]
            frame_labels = labels[k:k + n]
            k += n
            if tracker is not None and n:
                rows = tracker.update([tuple(int(v) for v in b) for b in boxes], rows)
                frame_labels = [p.classes[j] for j in rows.argmax(axis=1)]
            elif tracker is not None:
                tracker.update([], np.zeros((0, len(p.classes))))
            head = {"file": str(path), "frame": index,
                    "time": None if fps is None else round(index / fps, 3)}
            if n == 0:
                print(json.dumps({**head, "box": None, "emotion": None,
                                  "probabilities": None}), flush=True)
            drawn = []
            for i, box in enumerate(boxes):
                box, line, top = p.face_line(box, frame_labels[i],
                                             None if rows is None else rows[i],
                                             detections.landmarks_of(i))
                print(json.dumps({**head, **line}), flush=True)
                drawn.append((box, frame_labels[i], top))
            state["drawn"] = drawn
            state["faces"] += n
            if p.explain is not None and n and state["explained"] < EXPLAIN_FRAMES:
                state["explained"] += 1
                stem = rel.with_suffix("")
                names = [stem.with_name(f"{stem.name}_frame{index}_face{i}.png")
                         for i in range(n)]
                if p.explain_faces(face_crops, shown, frame_labels, rows, names, [path] * n):
                    state["failed"] = True
        if state["writer"] is not None and rgb is not None:
            try:
                state["writer"].write(p.draw(rgb, state["drawn"]))
            except OSError as exc:
                p.say(f"skfer predict: error: cannot write the annotated copy of "
                      f"'{path}': {exc}.")
                state["writer"].close()
                state["writer"] = None
                state["failed"] = True
