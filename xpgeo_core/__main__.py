"""``python -m xpgeo_core`` is the ``xpgeo`` command line."""

import sys

from xpgeo_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
