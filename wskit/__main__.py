"""``python -m wskit``: the command line (see :mod:`wskit.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
