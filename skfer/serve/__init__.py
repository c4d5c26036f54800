"""``skfer serve``: a web page and a REST API for photos and the webcam.

An optional part of skfer: ``pip install "skfer[serve]"`` (FastAPI, uvicorn,
python-multipart). :func:`create_app` builds the application that
``skfer serve`` runs with uvicorn; it can also be mounted in another ASGI
server or tested with FastAPI's ``TestClient``. The page and the API are
described in ``docs/serve.rst``.

The faces are found and classified by :class:`skfer.faces.FaceRecognizer`
and reported in the JSON lines of ``skfer predict``, so a photo gives the
same boxes and probabilities from the command line and from the API.
Photos are decoded in memory and never written to disk.
"""

from __future__ import annotations

__all__ = ["create_app"]

#: The one-line message when the extra is not installed.
MISSING_EXTRA = ('skfer serve needs FastAPI, uvicorn, python-multipart and fastapi-offline, '
                 'which are not all installed: pip install "skfer[serve]"')


def check_installed():
    """Raise ImportError naming ``pip install "skfer[serve]"`` when the extra is missing."""
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "python_multipart", "fastapi_offline")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"{MISSING_EXTRA} (missing: {', '.join(missing)}).")


def create_app(model=None, *, max_upload_mb=32, max_pixels=None, max_files=64,
               max_pending=16, workers=None, device=None):
    """The ``skfer serve`` application: the page, the REST API, the webcam stream.

    Parameters
    ----------
    model : str, path or None, default=None
        The default model: a name of :data:`skfer.pretrained.MODELS` or a
        model file (``skfer train``, :func:`skfer.io.save_model`); None: the
        default shipped model. Loaded at once; every shipped model is
        offered too (loaded when first asked for).
    max_upload_mb : float, default=32
        Largest request body, in megabytes (10**6 bytes): larger ones get 413.
    max_pixels : int or None, default=None
        Largest image (width x height, read from the file's header before
        any decoding): larger ones get 413. None: the limit of every skfer
        reader, ``$SKFER_MAX_PIXELS`` or 50,000,000.
    max_files : int, default=64
        Most files in one request.
    max_pending : int, default=16
        Requests (and webcam frames) worked on at once; more get 503.
    workers : int or None, default=None
        Threads decoding photos and finding faces (None: min(4, CPU cores));
        each model's net runs in one more thread that classifies the faces
        of every waiting request together.
    device : str or None, default=None
        Where deep models run (None: CUDA if available, else CPU).

    Returns
    -------
    app : fastapi.FastAPI
        Routes ``/`` (the page), ``/health``, ``/api/v1/models``,
        ``/api/v1/predict``, ``/api/v1/explain``, the WebSocket
        ``/api/v1/stream`` and ``/docs``. ``app.state.service`` holds the
        models and the worker pool; ``app.state.service.close()`` stops them.

    Raises
    ------
    ImportError
        If the ``serve`` extra is not installed (the message names
        ``pip install "skfer[serve]"``).
    ValueError
        If ``model`` is neither a shipped model nor a model file, or a limit
        is not positive.

    Examples
    --------
    >>> from fastapi.testclient import TestClient
    >>> from skfer.serve import create_app
    >>> app = create_app()
    >>> client = TestClient(app)
    >>> client.get("/health").json()["status"]
    'ok'
    >>> import io, cv2
    >>> from skimage import data
    >>> ok, png = cv2.imencode(".png", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    >>> reply = client.post("/api/v1/predict",
    ...                     files={"images": ("astronaut.png", png.tobytes(), "image/png")})
    >>> face, = reply.json()["results"]
    >>> face["box"], face["emotion"]
    ([169, 61, 111, 111], 'happy')
    >>> app.state.service.close()
    """
    check_installed()
    from .._image import max_pixels_limit
    from ._app import build_app
    from ._service import Limits, Service

    try:
        upload = int(float(max_upload_mb) * 1e6)
    except (TypeError, ValueError):
        raise ValueError(f"max_upload_mb must be a positive number, got "
                         f"{max_upload_mb!r}.") from None
    limits = Limits(max_upload_bytes=upload, max_pixels=max_pixels_limit(max_pixels),
                    max_files=max_files,
                    max_pending=max_pending)
    return build_app(Service(model, limits=limits, workers=workers, device=device))
