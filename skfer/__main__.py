"""``python -m skfer``: the ``skfer`` command line (see :mod:`skfer.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
