"""The ``skfer`` command line: a small entry point and one module per command.

Each command module has ``format_parser(subparsers)``, which registers its
sub-parser, and ``main(args)``, which runs it and returns the exit status;
they parse arguments, call the library and print. Shared pieces:
:mod:`skfer.cli._common` (usage errors, model specs, ``--param``, dataset
loading) and, shared with ``skfer serve``, :mod:`skfer._annotate` (JSON lines
of faces, annotated images, Grad-CAM pictures).

* ``skfer demo`` (:mod:`skfer.cli._demo`): the shipped model on a photo.
* ``skfer compare`` (:mod:`skfer.cli._compare`): models on the same folds, a report.
* ``skfer train`` (:mod:`skfer.cli._train`): one model, saved to a model file.
* ``skfer predict`` (:mod:`skfer.cli._predict`, videos in
  :mod:`skfer.cli._video`): every face of photos and videos, as JSON lines.
* ``skfer serve`` (:mod:`skfer.cli._serve`): the web page and REST API of
  :mod:`skfer.serve`.
* ``skfer recipe`` (:mod:`skfer.cli._recipe`): reproduce a shipped model
  (the recipes of :mod:`skfer.pretrained.train`).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["build_parser", "main"]


def build_parser():
    """The argument parser of the ``skfer`` command.

    Examples
    --------
    >>> from skfer.cli import build_parser
    >>> build_parser().parse_args(["predict", "photo.jpg"]).paths
    ['photo.jpg']
    """
    from . import _compare, _demo, _predict, _recipe, _serve, _train

    parser = argparse.ArgumentParser(
        prog="skfer", description="Facial expression recognition for the scikit-learn world."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--debug", action="store_true",
                        help="on an unexpected error, print the full traceback (by "
                             "default: one line naming the problem)")
    sub = parser.add_subparsers(dest="command")
    for command in (_demo, _compare, _train, _predict, _serve, _recipe):
        command.format_parser(sub)
    return parser


def main(argv=None):
    """Run the ``skfer`` command line; returns the exit status.

    Examples
    --------
    >>> from skfer.cli import main
    >>> main(["--version"])  # doctest: +ELLIPSIS
    0...
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from .. import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"skfer {args.command}: interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # every error a user can cause: one line, not a traceback
        if args.debug:
            raise
        print(f"skfer {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc):
    """``exc`` as one line: its type when the message alone would not say what it is."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (ValueError, OSError)):
        return text
    return f"{type(exc).__name__}: {text} (run with --debug for the traceback)"
