#!/usr/bin/env bash
# The README's test command and what .ci/run runs: install everything the tests need, then run them.
#
# A virtual environment is made first (XPGEO_TEST_VENV, default .venv), so this works on a system
# Python that refuses `pip install` outside one (Debian 12, Ubuntu 24.04). Esri's own clients, the
# oracles of the portal tests, are installed by tests/oracles/install.sh into XPGEO_ORACLE_DIR
# (default .oracles). mypy checks xpgeo_core before the tests run. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${XPGEO_TEST_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q -e ".[test]"
# The type checker first ([tool.mypy] in pyproject.toml): a type error in xpgeo_core fails the run
# before any test does.
"$venv/bin/python" -m mypy
bash tests/oracles/install.sh
# pytest exits 5 when it collected nothing: that is a failure here too.
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
