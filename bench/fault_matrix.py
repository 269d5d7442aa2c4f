"""The larger seeded fault matrix: ``tests/test_fault_matrix.py`` with many seeds per scenario.

CI runs one seed per scenario (about 90 runs, a minute or two); this runs ``--runs`` seeds
(default 25), each seed a different random draw of which requests fail, how, and when the process
is killed, then prints the XPGEO server's numbers per scenario: image-runs, images missing after the
rerun, how many of those the report listed as unproven (with the command that proves them), how many
were missing though provable (must be 0), and duplicated (must be 0).

    python bench/fault_matrix.py                 # 25 seeds
    python bench/fault_matrix.py --runs 100      # longer
    python bench/fault_matrix.py --runs 5 -k xpgeo
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("images", "missing", "unproven_missing", "unproven", "missing_after_proof", "duplicated")


def table(lines):
    """Rows per scenario, and the totals with and without a portal."""
    rows = defaultdict(lambda: dict.fromkeys(COLUMNS, 0))
    for line in lines:
        row = rows[line["scenario"]]
        for key in COLUMNS:
            row[key] += line.get(key, 0)
    totals = defaultdict(lambda: dict.fromkeys(COLUMNS, 0))
    for scenario, row in rows.items():
        group = "total, no portal" if "no portal" in scenario else "total, portal known"
        for key in COLUMNS:
            totals[group][key] += row[key]
    return sorted(rows.items()) + sorted(totals.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25)
    args, rest = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as folder:
        tally = Path(folder) / "tally.jsonl"
        env = dict(os.environ, XPGEO_FAULT_RUNS=str(args.runs), XPGEO_FAULT_TALLY=str(tally))
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                str(ROOT / "tests" / "test_fault_matrix.py"), *rest], cwd=str(ROOT), env=env)
        lines = [json.loads(line) for line in tally.read_text("utf-8").splitlines()] if tally.exists() else []
    print(f"\nXPGEO server, {args.runs} seed(s) per scenario. images: image-runs; missing: after the rerun; "
          f"listed: of those, listed unproven; provable: missing though provable (0); unproven: listed in all; "
          f"proved: missing after running the listed command; dup: duplicated (0)")
    print(f"{'scenario':34} {'images':>7} {'missing':>8} {'listed':>7} {'provable':>9} {'unproven':>9} "
          f"{'proved':>7} {'dup':>4}")
    for scenario, row in table(lines):
        provable = row["missing"] - row["unproven_missing"]
        print(f"{scenario:34} {row['images']:7d} {row['missing']:8d} {row['unproven_missing']:7d} {provable:9d} "
              f"{row['unproven']:9d} {row['missing_after_proof']:7d} {row['duplicated']:4d}")
    return code


if __name__ == "__main__":
    sys.exit(main())
