"""What ``skfer serve`` does, without the web framework: models, limits, workers.

* :class:`Limits`: the upload and pixel limits, checked before any decoding.
* :func:`decode_image`: bytes -> RGB array, in memory (nothing is written to
  disk), the header's width x height checked first (decompression bombs).
* :func:`parse_multipart`: the files of a ``multipart/form-data`` body, in
  memory (Starlette's own parser spools files over 1 MB to a temporary file).
* :class:`Service`: the models (loaded once, shared by every request), the
  worker pool that decodes photos and finds faces, and per model a
  :class:`_Batcher` thread that classifies the faces of every waiting
  request in one call of the model.
"""

from __future__ import annotations

import io
import os
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._image import MAX_PIXELS, max_pixels_limit, opencv_single_threaded

#: Largest request body accepted by default, in bytes.
MAX_UPLOAD_BYTES = 32_000_000
#: Most files in one request by default.
MAX_FILES = 64
#: Formats accepted (Pillow's names): those OpenCV and Pillow both read.
FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF", "PPM")


class ServeError(Exception):
    """A request the service refuses: an HTTP status and a message for the user."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = int(status)
        self.message = message


@dataclass(frozen=True)
class Limits:
    """What one request may hold.

    Parameters
    ----------
    max_upload_bytes : int
        Largest request body (every file together), in bytes: 413 above.
    max_pixels : int
        Largest image, width x height, read from the file's header before
        decoding: 413 above (default: ``$SKFER_MAX_PIXELS`` or 50,000,000,
        the limit of every skfer reader).
    max_files : int
        Most files in one request: 413 above.
    max_pending : int
        Requests (and webcam frames) being worked on at once; more get 503.
    """

    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_pixels: int = field(default_factory=max_pixels_limit)
    max_files: int = MAX_FILES
    max_pending: int = 16

    def __post_init__(self):
        for name in ("max_upload_bytes", "max_pixels", "max_files", "max_pending"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")


def _megabytes(n):
    return f"{n / 1e6:.1f} MB"


def decode_image(data, name, *, max_pixels=MAX_PIXELS):
    """The RGB uint8 array of an image file's bytes, decoded in memory.

    :func:`skfer._image.decode_image` (the decoder ``skfer predict`` uses on
    files) does the work: the size is read from the header and an image of
    more than ``max_pixels`` is refused with 413 before its pixels are
    decoded. The service also refuses formats outside :data:`FORMATS` and
    truncated files (which OpenCV would silently fill in), with Pillow.

    Raises
    ------
    ServeError
        400 for an empty, unreadable or truncated file, 413 for too many pixels.
    """
    from PIL import Image, UnidentifiedImageError

    from .._image import ImageTooLargeError
    from .._image import decode_image as decode

    if len(data) == 0:
        raise ServeError(400, f"'{name}' is empty (0 bytes).")
    try:
        with Image.open(io.BytesIO(data)) as im:  # the header only
            fmt = im.format
            if fmt not in FORMATS:
                raise ServeError(400, f"'{name}' is a {fmt} image; send "
                                      f"{', '.join(FORMATS)} files.")
            try:
                image = decode(data, name, mode="rgb", max_pixels=max_pixels)
            except ImageTooLargeError as exc:
                raise ServeError(413, f"'{name}' is too large: {exc} (skfer serve --max-pixels)") from None
            except ValueError as exc:
                raise ServeError(400, f"'{name}' is a damaged or truncated image: {exc}") from None
            im.load()  # a truncated file raises here
    except UnidentifiedImageError:
        raise ServeError(400, f"'{name}' is not an image (not a format Pillow "
                              f"recognises; send {', '.join(FORMATS)} files).") from None
    except Image.DecompressionBombError as exc:
        raise ServeError(413, f"'{name}' has too many pixels: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ServeError(400, f"'{name}' is a damaged or truncated image: {exc}.") from None
    return image


class UploadedFile:
    """One file of a multipart body: its field name, file name and bytes."""

    __slots__ = ("field", "filename", "data")

    def __init__(self, field, filename, data):
        self.field, self.filename, self.data = field, filename, data


class MultipartReader:
    """Parses a ``multipart/form-data`` body fed in chunks, in memory, within limits.

    Files are kept as bytes (never written to disk); plain fields are kept
    in :attr:`fields` (up to 16 of up to 1 KB each).
    """

    def __init__(self, content_type, limits):
        from python_multipart.multipart import MultipartParser, parse_options_header

        kind, params = parse_options_header(content_type or "")
        if kind != b"multipart/form-data" or b"boundary" not in params:
            raise ServeError(400, "send the images as multipart/form-data (e.g. curl -F "
                                  f"images=@photo.jpg ...), got Content-Type "
                                  f"{content_type or 'none'!r}.")
        self._parse_header = parse_options_header
        self.limits = limits
        self.files, self.fields = [], {}
        self._size = 0
        self._part = None
        self._header_name = self._header_value = b""
        callbacks = {
            "on_part_begin": self._begin,
            "on_part_data": self._data,
            "on_part_end": self._end,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_cb,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
        }
        self._parser = MultipartParser(params[b"boundary"], callbacks)

    def write(self, chunk):
        self._size += len(chunk)
        if self._size > self.limits.max_upload_bytes:
            raise ServeError(413, f"the request is larger than the upload limit of "
                                  f"{_megabytes(self.limits.max_upload_bytes)} (skfer serve "
                                  "--max-upload-mb); send fewer or smaller files.")
        try:
            self._parser.write(chunk)
        except ServeError:
            raise
        except Exception as exc:  # python_multipart's errors: a malformed body
            raise ServeError(400, f"malformed multipart body: {exc}") from None

    def finish(self):
        try:
            self._parser.finalize()
        except Exception as exc:
            raise ServeError(400, f"malformed multipart body: {exc}") from None
        return self.files

    # python_multipart callbacks
    def _begin(self):
        self._part = {"headers": {}, "data": bytearray()}

    def _header_field(self, data, start, end):
        self._header_name += data[start:end]

    def _header_value_cb(self, data, start, end):
        self._header_value += data[start:end]

    def _header_end(self):
        self._part["headers"][self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _headers_done(self):
        _, options = self._parse_header(self._part["headers"].get(b"content-disposition", b""))
        self._part["name"] = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self._part["filename"] = (None if filename is None
                                  else filename.decode("utf-8", "replace")[-255:])
        if filename is not None and len(self.files) >= self.limits.max_files:
            raise ServeError(413, f"more than {self.limits.max_files} files in one request "
                                  "(skfer serve --max-files); send them in several.")

    def _data(self, data, start, end):
        part = self._part
        if part["filename"] is None and len(part["data"]) + end - start > 1024:
            raise ServeError(400, f"form field '{part['name']}' is longer than 1 KB; "
                                  "send images as files (curl -F images=@photo.jpg).")
        part["data"] += data[start:end]

    def _end(self):
        part, self._part = self._part, None
        if part["filename"] is not None:
            self.files.append(UploadedFile(part["name"], part["filename"] or "image",
                                           bytes(part["data"])))
        elif len(self.fields) < 16:
            self.fields[part["name"]] = part["data"].decode("utf-8", "replace")


def parse_multipart(content_type, body, limits):
    """The files of a whole ``multipart/form-data`` body (see :class:`MultipartReader`)."""
    reader = MultipartReader(content_type, limits)
    reader.write(body)
    return reader.finish()


# ------------------------------------------------------------------ models
class _Job:
    __slots__ = ("crops", "future")

    def __init__(self, crops):
        self.crops, self.future = crops, Future()


class _Batcher:
    """One thread per model: classifies the faces of every waiting request together.

    Requests hand their face crops to :meth:`submit`; the thread takes all the
    jobs waiting when it is free (up to ``batch_size`` faces, without waiting
    for more: an idle server answers at once) and classifies them in one
    call of the model, holding the model's lock (Grad-CAM takes it too).
    """

    def __init__(self, recognizer, lock, name):
        self.recognizer, self.lock = recognizer, lock
        self._queue = queue.SimpleQueue()
        self.calls = self.faces = 0
        self._thread = threading.Thread(target=self._run, name=f"skfer-serve-{name}",
                                        daemon=True)
        self._thread.start()

    def submit(self, crops):
        """A Future of ``(labels, probabilities or None)`` for ``crops``."""
        job = _Job(list(crops))
        if not job.crops:
            job.future.set_result(([], None if not self.recognizer.has_proba
                                   else np.zeros((0, len(self.recognizer.classes)))))
            return job.future
        self._queue.put(job)
        return job.future

    def close(self):
        self._queue.put(None)

    def _run(self):
        limit = self.recognizer.batch_size
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs, n = [job], len(job.crops)
            while n < limit:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                jobs.append(more)
                n += len(more.crops)
            crops = [c for j in jobs for c in j.crops]
            try:
                with self.lock:
                    labels, proba = self.recognizer.classify(crops)
            except Exception as exc:  # handed to every waiting request
                for j in jobs:
                    j.future.set_exception(exc)
                continue
            self.calls += 1
            self.faces += len(crops)
            k = 0
            for j in jobs:
                m = len(j.crops)
                j.future.set_result((labels[k:k + m],
                                     None if proba is None else proba[k:k + m]))
                k += m


class ModelSlot:
    """A loaded model: its recognizer, lock and batcher, shared by all requests."""

    def __init__(self, name, source, model, *, margin, batch_size=256):
        from ..faces import FaceRecognizer

        self.name, self.source = name, source
        # The defaults of skfer predict (MTCNN, landmark alignment): the same lines.
        self.recognizer = FaceRecognizer(model, margin=margin, batch_size=batch_size,
                                         detector="mtcnn", align="auto")
        self.classes = self.recognizer.classes
        self.lock = threading.Lock()
        self.batcher = _Batcher(self.recognizer, self.lock, name)



def colours_of(classes):
    """``{class: '#rrggbb'}``: the box colours ``skfer predict --annotate`` draws."""
    from .._annotate import colour, label_text

    return {label_text(c): "#{:02x}{:02x}{:02x}".format(*colour(c, classes)) for c in classes}


def _pretrained_names():
    from .. import pretrained

    return sorted(k for k in pretrained.MODELS if k not in pretrained.ALIASES)


class Service:
    """The models, the worker pool and the limits of one ``skfer serve`` process.

    Parameters
    ----------
    model : str, path or None
        The default model: a name of :data:`skfer.pretrained.MODELS` or a
        model file (from ``skfer train`` or :func:`skfer.io.save_model`);
        None: the default shipped model. It is loaded at once (a bad file
        fails here); the other shipped models when first asked for.
    limits : Limits
    workers : int or None
        Threads decoding photos and finding faces (None: min(4, CPU cores)).
    device : str or None
        Where deep models run.
    """

    def __init__(self, model=None, *, limits=None, workers=None, device=None):
        from .. import pretrained

        self.limits = Limits() if limits is None else limits
        if workers is None:
            workers = min(4, os.cpu_count() or 1)
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive int, got {workers!r}.")
        self.workers, self.device = workers, device
        self._specs = {n: ("pretrained", n) for n in _pretrained_names()}
        if model is None:
            self.default = pretrained.DEFAULT
        elif str(model) in self._specs or str(model) in pretrained.ALIASES:
            self.default = pretrained.ALIASES.get(str(model), str(model))
        else:
            path = Path(model)
            if not path.exists():
                raise ValueError(f"--model {model!r} is neither a shipped model "
                                 f"({', '.join(self._specs)}) nor an existing model file.")
            self.default = path.name
            while self.default in self._specs:
                self.default += "'"
            self._specs[self.default] = ("file", path)
        self._slots, self._load_lock = {}, threading.Lock()
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="skfer-serve-worker")
        # The workers each run OpenCV: its own thread pool off until close().
        self._cleanup = ExitStack()
        self._cleanup.enter_context(opencv_single_threaded(workers > 1))
        self.started = time.time()
        try:
            self.slot(self.default)
        except BaseException:  # a bad model file: nothing left running
            self.close()
            raise

    # models
    def model_names(self):
        return list(self._specs)

    def check_model(self, name):
        """``name`` (None: the default) if it is a model this service offers; else 400.

        The short names of :data:`skfer.pretrained.ALIASES` (``fer2013``,
        ``ferplus``) name their shipped models here too.
        """
        from .. import pretrained

        name = self.default if name in (None, "", "default") else name
        if name not in self._specs and pretrained.ALIASES.get(name) in self._specs:
            name = pretrained.ALIASES[name]
        if name not in self._specs:
            raise ServeError(400, f"unknown model {name!r}; this server offers "
                                  f"{', '.join(self._specs)} (GET /api/v1/models).")
        return name

    def slot(self, name=None):
        """The loaded :class:`ModelSlot` of ``name`` (loaded on first use, once)."""
        name = self.check_model(name)
        slot = self._slots.get(name)
        if slot is not None:
            return slot
        with self._load_lock:
            if name not in self._slots:
                self._slots[name] = self._load(name)
            return self._slots[name]

    def _load(self, name):
        from .. import pretrained
        from .._annotate import crop_margin_of
        from ..io import load_model

        source, where = self._specs[name]
        if source == "pretrained":
            model = pretrained.load(where, face_detection=False, device=self.device)
            what = f"the shipped model {where!r}"
        else:
            model = load_model(where, device=self.device)
            what = f"the model in '{where}'"
        return ModelSlot(name, source, model, margin=crop_margin_of(model, what))

    def describe(self):
        """What ``GET /api/v1/models`` answers."""
        from .. import pretrained

        models = []
        for name, (source, where) in self._specs.items():
            entry = {"name": name, "source": source, "default": name == self.default,
                     "loaded": name in self._slots,
                     "aliases": sorted(a for a, n in pretrained.ALIASES.items()
                                       if n == name and source == "pretrained"
                                       and a not in self._specs)}
            card = pretrained.MODELS[where] if source == "pretrained" else {}
            classes = (self._slots[name].classes if name in self._slots
                       else card.get("classes", []))
            entry["classes"] = [str(c) for c in classes]
            entry["colours"] = colours_of(classes)
            if card:
                entry["data"] = card.get("data")
            models.append(entry)
        return {"default": self.default, "models": models}

    # work
    def find_faces(self, slot, data, name):
        """``(image, detections, crops)`` of one file's bytes (in a worker thread)."""
        image = decode_image(data, name, max_pixels=self.limits.max_pixels)
        found, crops = slot.recognizer.find(image)
        return image, found, crops

    def explain(self, slot, image, found, crops, labels, proba, face=None):
        """The PNG bytes of the Grad-CAM pictures of one photo's faces, side by side."""
        import cv2

        from .._annotate import colour, explain_picture, label_text
        from ..explain import grad_cam

        indices = range(len(crops)) if face is None else [face]
        chosen = [crops[i] for i in indices]
        targets = np.asarray([labels[i] for i in indices])
        try:
            with slot.lock:  # grad_cam hooks the net: not while it classifies
                heat = grad_cam(slot.recognizer.model, chosen, target=targets,
                                batch_size=min(slot.recognizer.batch_size, 64))
        except (ValueError, TypeError) as exc:
            raise ServeError(400, f"cannot explain with model {slot.name!r}: {exc} "
                                  "(Grad-CAM needs a convolutional net, as the shipped "
                                  "models)") from None
        pictures = []
        for j, i in enumerate(indices):
            text = label_text(labels[i])
            if proba is not None:
                text += f" {float(proba[i][slot.classes.index(labels[i])]):.2f}"
            cut = slot.recognizer.engine.cut(image, found.boxes[i], found.landmarks_of(i))
            pictures.append(explain_picture(cut, heat[j],
                                            text, colour(labels[i], slot.classes)))
        ok, png = cv2.imencode(".png", np.hstack(pictures))
        if not ok:  # pragma: no cover - PNG encoding of a uint8 image
            raise ServeError(500, "could not encode the picture as PNG.")
        return png.tobytes()

    def close(self):
        """Stop the batchers and the worker pool."""
        for slot in list(self._slots.values()):
            slot.batcher.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._cleanup.close()
