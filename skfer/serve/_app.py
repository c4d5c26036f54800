"""The FastAPI application of ``skfer serve``: routes over a :class:`~._service.Service`.

Routes: the page (``/`` and ``/static/``), ``GET /health``,
``GET /api/v1/models``, ``POST /api/v1/predict``, ``POST /api/v1/explain``
and the webcam's WebSocket ``/api/v1/stream``; OpenAPI at ``/docs``.
Uploads are read and parsed in memory (:class:`~._service.MultipartReader`),
never written to disk.

FastAPI is imported inside :func:`build_app`, so that this module imports
(and its doctests collect) without the ``serve`` extra; the route functions'
annotations are real objects (no ``from __future__ import annotations``),
which FastAPI reads to build the routes.
"""

import asyncio
import json
import logging
import time
from pathlib import Path

from .. import __version__
from .._annotate import face_line, photo_lines
from ..faces import FaceTracker
from ._service import MultipartReader, ServeError

STATIC = Path(__file__).parent / "static"
_LOG = logging.getLogger("skfer.serve")

_IMAGES_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "properties": {"images": {"type": "array",
                                  "items": {"type": "string", "format": "binary"},
                                  "description": "one or more image files (any field "
                                                 "name works: every file part is read)"}},
        "required": ["images"],
    }}},
}
_IMAGE_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "properties": {"image": {"type": "string", "format": "binary"}},
        "required": ["image"],
    }}},
}
_ERRORS = {
    400: {"description": "not an image, truncated, empty batch, unknown model"},
    413: {"description": "upload larger than the limit, or too many pixels or files"},
    503: {"description": "too many requests in progress: retry"},
}
#: The page's Content-Security-Policy: nothing from outside this server.
_CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
        "connect-src 'self'; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


class _Admission:
    """Counts the requests being worked on; past ``limit``, a 503 (event-loop only)."""

    def __init__(self, limit):
        self.limit, self.busy = limit, 0

    def __enter__(self):
        if self.busy >= self.limit:
            raise ServeError(503, f"the server is busy ({self.busy} requests in "
                                  "progress); retry in a moment.")
        self.busy += 1

    def __exit__(self, *exc):
        self.busy -= 1


def build_app(service):
    """The FastAPI app serving ``service`` (see :func:`skfer.serve.create_app`)."""
    from fastapi import Query, Request, WebSocket, WebSocketDisconnect
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from fastapi_offline import FastAPIOffline

    # FastAPI with /docs (Swagger UI) and /redoc whose scripts come from the
    # fastapi-offline wheel, not a CDN: they work offline like the page.
    app = FastAPIOffline(
        static_url="/docs-assets",
        title="skfer serve",
        version=__version__,
        description="Facial expression recognition: every face of each photo with its "
                    "box, expression and probabilities, as `skfer predict` prints them. "
                    "Photos are decoded in memory and never written to disk.",
    )
    app.state.service = service
    admission = app.state.admission = _Admission(service.limits.max_pending)

    async def in_worker(func, *args):
        return await asyncio.get_running_loop().run_in_executor(service.executor, func, *args)

    async def get_slot(name):
        name = service.check_model(name)
        return await in_worker(service.slot, name)

    async def read_files(request):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > service.limits.max_upload_bytes:
            raise ServeError(413, f"the request is {int(length) / 1e6:.1f} MB, more than the "
                                  f"upload limit of {service.limits.max_upload_bytes / 1e6:.1f} "
                                  "MB (skfer serve --max-upload-mb).")
        reader = MultipartReader(request.headers.get("content-type"), service.limits)
        async for chunk in request.stream():
            reader.write(chunk)
        files = reader.finish()
        if not files:
            raise ServeError(400, "no image in the request: send one or more files as "
                                  "multipart/form-data (curl -F images=@photo.jpg ...).")
        return files

    async def recognize(slot, data, name):
        image, found, crops = await in_worker(service.find_faces, slot, data, name)
        labels, proba = await asyncio.wrap_future(slot.batcher.submit(crops))
        return image, found, crops, labels, proba

    async def one_file(slot, upload):
        try:
            _, found, _, labels, proba = await recognize(slot, upload.data, upload.filename)
        except ServeError as exc:
            return None, {"file": upload.filename, "status": exc.status, "error": exc.message}
        except Exception as exc:  # a model that cannot classify crops, a bug: this file only
            _LOG.exception("skfer serve: %s failed", upload.filename)
            return None, {"file": upload.filename, "status": 500,
                          "error": f"{type(exc).__name__}: {exc}"}
        return photo_lines(upload.filename, found, labels, proba, slot.classes), None

    @app.exception_handler(ServeError)
    async def _serve_error(request, exc):
        return JSONResponse({"detail": exc.message}, status_code=exc.status,
                            headers={"Retry-After": "1"} if exc.status == 503 else None)

    @app.middleware("http")
    async def _headers(request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        if not request.url.path.startswith(("/docs", "/redoc")):
            response.headers.setdefault("Content-Security-Policy", _CSP)
        return response

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/health", summary="Is the server up")
    async def health():
        """``status`` ok, the version, the default model, the limits, and per loaded
        model the calls of the net and the faces classified (faces / calls: the
        faces batched across requests)."""
        return {
            "status": "ok",
            "version": __version__,
            "default_model": service.default,
            "uptime_s": round(time.time() - service.started, 1),
            "workers": service.workers,
            "busy": admission.busy,
            "limits": {"max_upload_bytes": service.limits.max_upload_bytes,
                       "max_pixels": service.limits.max_pixels,
                       "max_files": service.limits.max_files,
                       "max_pending": service.limits.max_pending},
            "models": {name: {"calls": s.batcher.calls, "faces": s.batcher.faces}
                       for name, s in list(service._slots.items())},
        }

    @app.get("/api/v1/models", summary="The models this server offers")
    async def models():
        """The shipped models and the model file given to ``skfer serve --model``
        (if any): name, source (``pretrained`` or ``file``), whether it is the
        default, its classes and their box colours."""
        return service.describe()

    @app.post("/api/v1/predict", summary="Every face of one or more photos",
              openapi_extra={"requestBody": _IMAGES_BODY}, responses=_ERRORS)
    async def predict(
        request: Request,
        model: str | None = Query(None, description="a name from /api/v1/models "
                                                    "(default: the server's)"),
        format: str = Query("json", pattern="^(json|jsonl)$",
                            description="json: one object; jsonl: the lines "
                                        "`skfer predict` prints, one per face"),
    ):
        """One line per face, as ``skfer predict`` prints them: ``file``, ``box``
        ``[x, y, w, h]``, ``emotion``, ``probabilities`` (and ``box`` null for a
        photo without a face). A file that cannot be read is reported in
        ``errors`` with its status and message, the others' results are kept;
        when every file fails, the status is the first error's."""
        with admission:
            slot = await get_slot(model)
            files = await read_files(request)
            done = await asyncio.gather(*(one_file(slot, f) for f in files))
        results = [line for lines, _ in done if lines for line in lines]
        errors = [err for _, err in done if err]
        status = errors[0]["status"] if errors and not results else 200
        if format == "jsonl":
            text = "".join(json.dumps(x) + "\n" for x in results + errors)
            return Response(text, status_code=status, media_type="application/x-ndjson")
        body = {"model": slot.name, "results": results, "errors": errors}
        if status != 200:
            body = {"detail": errors[0]["error"], **body}
        return JSONResponse(body, status_code=status)

    @app.post("/api/v1/explain", summary="Grad-CAM pictures of a photo's faces (PNG)",
              openapi_extra={"requestBody": _IMAGE_BODY},
              responses={200: {"content": {"image/png": {}}}, **_ERRORS,
                         422: {"description": "no face found, or a bad parameter"}},
              response_class=Response)
    async def explain(
        request: Request,
        model: str | None = Query(None, description="a name from /api/v1/models"),
        face: int | None = Query(None, ge=0, description="this face only (its index in "
                                                         "predict's lines); default: all, "
                                                         "side by side"),
    ):
        """The regions of each face that raised its predicted expression, over the
        face: ``skfer predict --explain``'s 192 x 192 pictures, side by side
        (header ``X-Faces``: how many faces the photo has)."""
        with admission:
            slot = await get_slot(model)
            files = await read_files(request)
            if len(files) != 1:
                raise ServeError(400, f"explain takes one image, got {len(files)} files.")
            upload, = files
            image, found, crops, labels, proba = await recognize(slot, upload.data,
                                                                 upload.filename)
            if not crops:
                raise ServeError(422, f"no face found in '{upload.filename}'.")
            if face is not None and face >= len(crops):
                raise ServeError(422, f"face={face}, but '{upload.filename}' has "
                                      f"{len(crops)} face(s) (0 to {len(crops) - 1}).")
            png = await in_worker(service.explain, slot, image, found, crops, labels,
                                  proba, face)
        return Response(png, media_type="image/png", headers={"X-Faces": str(len(crops))})

    @app.websocket("/api/v1/stream")
    async def stream(websocket: WebSocket, model: str | None = None, smooth: int = 5):
        """The webcam: each binary message is one frame (JPEG or PNG); each answer
        a JSON object ``{"frame", "width", "height", "faces", "ms"}``, the faces'
        probabilities smoothed over ``smooth`` frames (FaceTracker, per connection)."""
        await websocket.accept()
        try:
            if not 1 <= smooth <= 50:
                raise ServeError(400, f"smooth must be between 1 and 50 frames, got {smooth}.")
            slot = await get_slot(model)
        except ServeError as exc:
            await websocket.send_json({"error": exc.message, "status": exc.status})
            await websocket.close(code=1008)
            return
        tracker = FaceTracker(smooth) if slot.recognizer.has_proba else None
        frame = 0
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                start = time.perf_counter()
                try:
                    if data is None:
                        raise ServeError(400, "send each frame as a binary message "
                                              "(JPEG or PNG bytes).")
                    if len(data) > service.limits.max_upload_bytes:
                        raise ServeError(413, "frame larger than the upload limit.")
                    with admission:
                        image, found, _, labels, proba = await recognize(
                            slot, data, f"frame {frame}")
                except ServeError as exc:
                    await websocket.send_json({"frame": frame, "error": exc.message,
                                               "status": exc.status})
                    frame += 1
                    continue
                if tracker is not None:
                    proba = tracker.update(found.boxes, proba)
                    labels = [slot.classes[k] for k in proba.argmax(axis=1)]
                faces = [face_line(box, labels[i], None if proba is None else proba[i],
                                   slot.classes, found.landmarks_of(i))[1]
                         for i, box in enumerate(found.boxes)]
                await websocket.send_json({
                    "frame": frame, "width": int(image.shape[1]),
                    "height": int(image.shape[0]), "faces": faces,
                    "ms": round(1000 * (time.perf_counter() - start), 1)})
                frame += 1
        except WebSocketDisconnect:
            pass
    return app
