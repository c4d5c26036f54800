"""The ``skfer`` command line.

``skfer demo``: the shipped pretrained model on scikit-image's astronaut
photo, with nothing downloaded and no data needed (see :mod:`skfer._cli_demo`).
``skfer compare``: compare models on a dataset and write a report folder
(see :mod:`skfer._cli_compare`).
``skfer train`` and ``skfer predict``: save a trained model to a safe file,
then classify the faces in photos (see :mod:`skfer._cli_models`).
"""

from __future__ import annotations

import argparse
import sys


def build_parser():
    """The argument parser of the ``skfer`` command."""
    parser = argparse.ArgumentParser(
        prog="skfer", description="Facial expression recognition for the scikit-learn world."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    from ._cli_demo import add_parser as _add_demo_parser

    _add_demo_parser(sub)
    from ._cli_compare import add_parser as _add_compare_parser

    _add_compare_parser(sub)
    from ._cli_models import add_parsers as _add_model_parsers

    _add_model_parsers(sub)  # skfer train, skfer predict
    return parser


def main(argv=None):
    """Run the ``skfer`` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"skfer {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
