"""``skfer serve``: the web page and REST API of :mod:`skfer.serve`, run by uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from ._common import UsageError, error

_SERVE_DESCRIPTION = """\
Serve a web page and a REST API on this machine: drop photos on the page (or
turn on the webcam) and see each face boxed with its expression, the
probabilities as bars, and a Grad-CAM picture; other programs call the API.
Needs the serve extra: pip install "skfer[serve]".

Photos are decoded in memory and never written to disk. The server listens
on 127.0.0.1 (this machine only) unless --host says otherwise; it has no
authentication, so give another address only on a network you trust.

API (OpenAPI at /docs):
  POST /api/v1/predict   multipart images -> the JSON lines of 'skfer predict'
  POST /api/v1/explain   one image -> PNG of each face's Grad-CAM picture
  GET  /api/v1/models    the models offered
  GET  /health
  WS   /api/v1/stream    webcam frames (binary JPEG) -> smoothed faces (JSON)
"""

_SERVE_EPILOG = """\
examples:
  skfer serve                                    (http://127.0.0.1:8000)
  skfer serve --model hog.skfer --port 8080      (your model, and the shipped ones)
  curl -F images=@photo.jpg http://127.0.0.1:8000/api/v1/predict
"""


def format_parser(subparsers):
    """Register ``skfer serve`` on argparse ``subparsers``."""
    q = subparsers.add_parser(
        "serve",
        help="a web page and REST API for photos and the webcam (pip install \"skfer[serve]\")",
        description=_SERVE_DESCRIPTION,
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("--model", default=None, metavar="NAME_OR_FILE",
                   help="the default model: a shipped model's name (skfer.pretrained.MODELS) "
                        "or a model file from 'skfer train' (default: the shipped "
                        "pretrained model); the shipped models are offered too")
    q.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    q.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    q.add_argument("--workers", type=int, default=None, metavar="N",
                   help="threads decoding photos and finding faces (default: min(4, cores))")
    q.add_argument("--max-upload-mb", type=float, default=32, metavar="MB",
                   help="largest request, in MB (default 32): larger ones get 413")
    q.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="largest image, width x height, checked before decoding "
                        "(default 50000000, or the SKFER_MAX_PIXELS environment "
                        "variable): larger ones get 413")
    q.add_argument("--max-files", type=int, default=64, metavar="N",
                   help="most files in one request (default 64)")
    q.add_argument("--device", metavar="DEVICE",
                   help="where deep models run: cpu, cuda (default: CUDA if available)")
    q.set_defaults(func=main)
    return q


def _check_args(args):
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {args.port}.")
    for flag, value in (("--workers", args.workers), ("--max-pixels", args.max_pixels),
                        ("--max-files", args.max_files)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be >= 1, got {value}.")
    if not args.max_upload_mb > 0:
        raise UsageError(f"--max-upload-mb must be > 0, got {args.max_upload_mb}.")


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(args):
    """Run ``skfer serve`` from parsed arguments; returns the exit status."""
    from ..serve import check_installed

    try:
        check_installed()
    except ImportError as exc:  # not a mistake in the command line: status 1
        error("serve", str(exc))
        return 1
    try:
        _check_args(args)
    except UsageError as exc:
        return error("serve", exc)
    import uvicorn

    from ..serve import create_app

    try:
        app = create_app(args.model, max_upload_mb=args.max_upload_mb,
                         max_pixels=args.max_pixels, max_files=args.max_files,
                         workers=args.workers, device=args.device)
    except (FileNotFoundError, ValueError) as exc:
        return error("serve", exc)
    if not _is_loopback(args.host):
        print(f"skfer serve: warning: listening on {args.host}: anyone who can reach this "
              "machine can send photos to it (there is no authentication).", file=sys.stderr)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"skfer serve: http://{shown}:{args.port} (model {app.state.service.default}; "
          f"API docs at /docs; Ctrl-C stops)", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                            access_log=False, ws_max_size=app.state.service.limits.max_upload_bytes)
    try:
        uvicorn.Server(config).run()
    finally:
        app.state.service.close()
    return 0
