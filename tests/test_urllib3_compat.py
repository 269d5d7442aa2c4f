"""The HTTP layer (REST session, photo client, the streamed attachment upload) with the urllib3 1.26 /
requests 2.28 that ArcGIS Pro 3.0–3.2 ship.

This machine has urllib3 2.x; a throw-away virtual environment (seeing the installed
test packages) pins the older pair and runs the HTTP and CLI tests again in it.
Skipped when the package index cannot be reached.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OLD = ["urllib3==1.26.18", "requests==2.28.2", "chardet<5"]


def test_http_and_cli_under_urllib3_1_26(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    python = env_dir / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *OLD],
                             capture_output=True, text=True)
    if install.returncode != 0:
        pytest.skip("cannot install urllib3 1.26 here: " + install.stderr.strip().splitlines()[-1:][0]
                    if install.stderr.strip() else "pip failed")
    probe = subprocess.run([str(python), "-c", "import urllib3, requests; print(urllib3.__version__)"],
                           capture_output=True, text=True)
    assert probe.stdout.startswith("1.26"), probe.stdout + probe.stderr
    run = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/test_http.py", "tests/test_photo_client.py", "tests/test_metadata_http.py",
                          "tests/test_xpgeo_cli.py", "tests/test_portal_attachments.py"],
                         cwd=str(ROOT), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
