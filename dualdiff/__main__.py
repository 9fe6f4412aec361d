"""``python -m dualdiff``: the demo, or ``check`` (see :mod:`dualdiff.cli.demo`)."""

import sys

from .cli.demo import main

if __name__ == "__main__":
    sys.exit(main())
