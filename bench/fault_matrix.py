"""The larger seeded fault matrix: ``tests/test_fault_matrix.py`` with many seeds per scenario.

CI runs one seed per scenario (about 40 runs, under a minute); this runs ``--runs`` seeds
(default 25: about a thousand appends with faults, reruns and ``kill -9``), each seed a
different random draw of which requests fail, how, and when the process is killed.

    python bench/fault_matrix.py             # 25 seeds
    python bench/fault_matrix.py --runs 100  # longer
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25)
    args, rest = parser.parse_known_args()
    env = dict(os.environ, XPGEO_FAULT_RUNS=str(args.runs))
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(ROOT / "tests" / "test_fault_matrix.py"), *rest], cwd=str(ROOT), env=env)


if __name__ == "__main__":
    sys.exit(main())
