"""Shared test set-up: the checkout on sys.path, the shared samples, loopback servers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
SHARED = ROOT.parent / "shared"
SAMPLES = SHARED / "samples"

for path in (str(ROOT), str(TESTS)):
    if path not in sys.path:
        sys.path.insert(0, path)


def samples_available() -> bool:
    return (SAMPLES / "expected.json").is_file()


requires_samples = pytest.mark.skipif(not samples_available(), reason="../shared/samples is absent")


@pytest.fixture
def expected_samples() -> dict:
    if not samples_available():
        pytest.skip("../shared/samples is absent")
    return json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    """No test reads the developer's real config or XPGEO_* variables, or writes to cwd."""
    for key in list(os.environ):
        if key.startswith("XPGEO_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("APPDATA", str(tmp_path / "home" / "AppData"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "home" / "AppData" / "Local"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "home" / ".local" / "state"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.chdir(tmp_path)
