#!/usr/bin/env python3
"""The AerialSphere reference client's name for the ``xpgeo`` command line.

Scripts written for the reference client (``python xpgeo-client.py append-images --name=... --file=...``)
run unchanged: same commands, flags, output lines and ``.env`` in the current folder. It runs the
``xpgeo_core`` beside it (this checkout or an unpacked toolbox folder).
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.isdir(os.path.join(_HERE, "xpgeo_core")) and _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from xpgeo_core.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
