"""The reference client's habits work unchanged: ``python xpgeo-client.py ...``, its ``.env`` in the
current folder (after ``xpgeo.env``), a warning when Auto ignores its settings, and no invented server
answer on a rerun that sent nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emulators.xpgeo_server import FakeXpgeoServer
from test_xpgeo_cli import run

ROOT = Path(__file__).resolve().parents[1]
KEY = "CANARY-dotenv-key-0b7d2e"


def _client(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "NO_PROXY": "127.0.0.1", "XPGEO_RETRY_BACKOFF": "0"}
    return subprocess.run([sys.executable, str(ROOT / "xpgeo-client.py"), *args], cwd=str(cwd),
                          capture_output=True, text=True, env=env, timeout=120)


def test_xpgeo_client_py_reads_the_reference_dotenv(tmp_path):
    with FakeXpgeoServer(api_key=KEY) as server:
        (tmp_path / ".env").write_text(f"REST_URL={server.url}\nCLIENT_ESRI_API_KEY={KEY}\nNODE_ENV=production\n",
                                       encoding="utf-8")
        proc = _client(tmp_path, "health-check")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[0] == "XPGEO REST response: The app is running..."
        assert "NODE_ENV" not in proc.stderr  # another program's key in a shared .env is not ours to warn about
        proc = _client(tmp_path, "create-oi-layer", "--name=demo_20260406")
        assert proc.returncode == 0 and proc.stdout.startswith("Starting layer creation for 'demo_20260406'...")
        assert "demo_20260406" in server.state.layers
    assert KEY not in proc.stdout + proc.stderr


def test_xpgeo_env_wins_over_the_dotenv(tmp_path):
    with FakeXpgeoServer() as right, FakeXpgeoServer() as wrong:
        (tmp_path / "xpgeo.env").write_text(f"XPGEO_REST_URL={right.url}\n", encoding="utf-8")
        (tmp_path / ".env").write_text(f"REST_URL={wrong.url}\n", encoding="utf-8")
        proc = _client(tmp_path, "create-oi-layer", "--name", "lyr")
        assert proc.returncode == 0, proc.stderr
        assert "lyr" in right.state.layers and not wrong.state.requests


def test_auto_falling_back_to_a_folder_warns_when_server_settings_are_there(tmp_path):
    (tmp_path / ".env").write_text(f"CLIENT_ESRI_API_KEY={KEY}\n", encoding="utf-8")
    proc = _client(tmp_path, "create-oi-layer", "--name", "lyr")
    assert proc.returncode == 0, proc.stderr
    assert "CLIENT_ESRI_API_KEY is set, but no XPGEO server URL" in proc.stderr
    assert "Auto chose the local folder" in proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    quiet = _client(tmp_path, "--backend", "local", "create-oi-layer", "--name", "lyr2")
    assert "Auto chose" not in quiet.stderr


def test_rerun_that_sends_nothing_prints_no_server_answer(tmp_path):
    with FakeXpgeoServer() as server:
        env = {"XPGEO_REST_URL": server.url, "XPGEO_RETRY_BACKOFF": "0"}
        run(["create-oi-layer", "--name=lyr"], env)
        listing = tmp_path / "urls.txt"
        listing.write_text("https://p.example.com/a.jpg\nhttps://p.example.com/b.jpg\n", encoding="utf-8")
        code, out, _ = run(["append-images", "--name=lyr", f"--file={listing}"], env)
        assert code == 0 and "Append images response: true" in out.splitlines()
        code, out, _ = run(["append-images", "--name=lyr", f"--file={listing}"], env)
        assert code == 0
        assert "Append images response: nothing sent (2 image(s) already in the layer)" in out.splitlines()
        assert "Append images response: true" not in out
        assert len([r for r in server.state.requests if r.path == "/append-images"]) == 1


@pytest.mark.parametrize("scheme", ["HTTP", "Http"])
def test_url_schemes_are_case_insensitive(scheme):
    with FakeXpgeoServer() as server:
        code, out, err = run(["--rest-url", server.url.replace("http", scheme, 1), "health-check"])
        assert code == 0, err
