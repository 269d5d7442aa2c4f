"""Every CLI command end to end against the fake XPGEO REST server."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from emulators.xpgeo_server import FakeXpgeoServer
from xpgeo_core.cli import main

CANARY = "CANARY-key-7f3e9d1c5b"


def run(argv: List[str], env: Optional[Dict[str, str]] = None) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("XPGEO_")}
    environ.update(env or {})
    code = main(argv, stdout=out, stderr=err, environ=environ)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def server():
    with FakeXpgeoServer(api_key=CANARY) as s:
        yield s


@pytest.fixture
def env(server) -> Dict[str, str]:
    return {"XPGEO_REST_URL": server.url, "XPGEO_API_KEY": CANARY, "XPGEO_RETRY_BACKOFF": "0"}


def write_list(tmp_path: Path, lines: List[str], name: str = "urls.txt", *, bom: bool = False,
               newline: str = "\n") -> str:
    path = tmp_path / name
    data = newline.join(lines) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8"))
    return str(path)


def urls(n: int, prefix: str = "img") -> List[str]:
    return [f"https://photos.example.com/{prefix}_{i:04d}.jpg" for i in range(n)]


def assert_no_canary(server: FakeXpgeoServer, *texts: str) -> None:
    for r in server.state.requests:
        assert CANARY not in r.raw_path
    for text in texts:
        assert CANARY not in text


def test_health_check_prints_reference_lines(server, env):
    code, out, err = run(["health-check"], env)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "XPGEO REST response: The app is running..."
    assert lines[1] == ('Health check response: Validation response: '
                        '{"currentVersion":"2025.1","enterpriseVersion":"11.5.0","enterpriseBuild":"56755"}')
    auth = [r.headers.get("Authorization") for r in server.state.requests if r.path != "/"]
    assert auth == [f"Bearer {CANARY}"]
    assert_no_canary(server, out, err)


def test_create_layer_and_taken_name(server, env):
    code, out, _ = run(["create-oi-layer", "--name=demo_20260406"], env)
    assert code == 0
    assert out.splitlines()[0] == "Starting layer creation for 'demo_20260406'..."
    response = json.loads(out.splitlines()[1].split("Create layer response: ", 1)[1])
    assert response["serviceName"] == "demo_20260406"
    create = [r for r in server.state.requests if r.path == "/create-oi-layer"][0]
    assert "imageryType" not in create.query  # only when given

    code, out, _ = run(["--json", "create-oi-layer", "--name", "demo_20260406", "--imagery-type", "nadir"], env)
    assert code == 0
    doc = json.loads(out)
    assert doc["layer_name"].startswith("demo_20260406_") and doc["renamed"] is True
    assert doc["requested_name"] == "demo_20260406"
    last = [r for r in server.state.requests if r.path == "/create-oi-layer"][-1]
    assert last.query["imageryType"] == ["Nadir"]


def test_create_rejects_bad_imagery_type_before_any_request(server, env):
    code, _, err = run(["create-oi-layer", "--name=x", "--imagery-type=Sideways"], env)
    assert code == 2
    assert "Sideways" in err and "Horizontal" in err
    assert not [r for r in server.state.requests if r.path == "/create-oi-layer"]


def test_append_image_and_rerun_is_skipped(server, env):
    run(["create-oi-layer", "--name=lyr"], env)
    url = "https://bucket.s3.us-west-2.amazonaws.com/a/IMG_2938.jpg"
    code, out, err = run(["append-image", "--name=lyr", f"--image-url={url}"], env)
    assert code == 0, err
    assert out.splitlines()[0] == "Append image response: response: true"
    assert server.state.layers["lyr"] == [url]
    code, out, _ = run(["--json", "append-image", "--name=lyr", "--image-url", url], env)
    assert code == 0
    assert json.loads(out)["results"][0]["status"] == "skipped"
    assert server.state.layers["lyr"] == [url]


@pytest.mark.parametrize("bad", ["ftp://host/a.jpg", "https://host/a b.jpg", "not a url", "https:///nohost.jpg"])
def test_append_image_malformed_url_is_422_wording_and_never_sent(server, env, bad):
    code, _, err = run(["append-image", "--name=lyr", "--image-url", bad], env)
    assert code == 2
    assert "Malformed image URL string" in err
    assert not [r for r in server.state.requests if r.path == "/append-image"]


def test_append_images_reads_file_dedupes_reports_malformed(server, env, tmp_path):
    run(["create-oi-layer", "--name=lyr"], env)
    good = urls(5)
    lines = ["# field crew 7", "", good[0], good[1], good[0], "   ", "https://bad host/x.jpg", good[2], good[3],
             good[4], "ftp://nope/x.jpg"]
    path = write_list(tmp_path, lines, bom=True, newline="\r\n")
    code, out, err = run(["append-images", "--name=lyr", f"--file={path}"], env)
    assert code == 1  # two malformed lines failed
    head = out.splitlines()[:4]
    assert head == [f"Appending images from {path} to layer lyr...", "Reading image URLs from file...",
                    f"File location: {path}", "Append images response: true"]
    assert server.state.layers["lyr"] == good
    assert "line 7" in out and "line 11" in out
    assert "duplicate" in err.lower() and "line 5" in err
    code, out, _ = run(["--json", "append-images", "--name=lyr", f"--file={path}"], env)
    doc = json.loads(out)
    assert (doc["appended"], doc["skipped"], doc["failed"], doc["total"]) == (0, 5, 2, 7)
    assert doc["duplicates_removed"] == 1
    assert server.state.layers["lyr"] == good  # the rerun sent nothing again


def test_append_images_chunks_and_one_failed_chunk_does_not_stop_the_others(tmp_path):
    # 503: the server says it did nothing, so the chunk is failed and the rerun sends it (a 500 says
    # less: tests/test_rerun_proof.py)
    with FakeXpgeoServer(fail_append_calls={2}, fail_status=503) as server:
        env = {"XPGEO_REST_URL": server.url, "XPGEO_MAX_IMAGE_LIST_SIZE": "4", "XPGEO_RETRY_BACKOFF": "0",
               "XPGEO_RETRIES": "0"}
        run(["create-oi-layer", "--name=lyr"], env)
        all_urls = urls(10)
        path = write_list(tmp_path, all_urls)
        code, out, err = run(["--json", "append-images", "--name", "lyr", "--file", path], env)
        assert code == 1
        doc = json.loads(out)
        bodies = [json.loads(r.body) for r in server.state.requests if r.path == "/append-images"]
        assert [len(b["imageList"]) for b in bodies] == [4, 4, 2]
        assert all("Authorization" not in r.headers for r in server.state.requests)  # no key: server's own auth
        assert doc["appended"] == 6 and doc["failed"] == 4 and doc["total"] == 10
        failed = [r["url"] for r in doc["results"] if r["status"] == "failed"]
        assert failed == all_urls[4:8]
        assert all("HTTP 503" in r["reason"] for r in doc["results"] if r["status"] == "failed")
        assert server.state.layers["lyr"] == all_urls[:4] + all_urls[8:]
        # the rerun sends exactly the failed chunk
        code, out, _ = run(["--json", "append-images", "--name", "lyr", "--file", path], env)
        assert code == 0
        assert sorted(server.state.layers["lyr"]) == sorted(all_urls)


def test_server_limit_below_ours_splits_instead_of_failing(tmp_path):
    with FakeXpgeoServer(max_list_size=3) as server:
        env = {"XPGEO_REST_URL": server.url, "XPGEO_RETRY_BACKOFF": "0"}
        run(["create-oi-layer", "--name=lyr"], env)
        path = write_list(tmp_path, urls(10))
        code, out, err = run(["append-images", "--name=lyr", "--file", path, "--max-image-list-size", "8"], env)
        assert code == 0, out + err
        assert server.state.layers["lyr"] == urls(10)


def test_bad_key_is_an_auth_error_exit_3(server, tmp_path):
    env = {"XPGEO_REST_URL": server.url, "XPGEO_API_KEY": "wrong-key-123456"}
    code, out, err = run(["health-check"], env)
    assert code == 3
    assert "Invalid API key" in err and "CLIENT_ESRI_API_KEY" in err
    assert "Traceback" not in err and "wrong-key-123456" not in out + err
    path = write_list(tmp_path, urls(3))
    code, _, err = run(["append-images", "--name=lyr", "--file", path], env)
    assert code == 3


def test_server_down_is_exit_4_with_a_clear_message(tmp_path):
    with FakeXpgeoServer() as server:
        dead = server.url
    env = {"XPGEO_REST_URL": dead, "XPGEO_RETRIES": "0"}
    code, out, err = run(["health-check"], env)
    assert code == 4
    assert "Could not connect to" in err and "Traceback" not in err
    path = write_list(tmp_path, urls(250))
    code, out, err = run(["--json", "append-images", "--name=lyr", "--file", path], env)
    assert code == 1
    doc = json.loads(out)
    assert doc["failed"] == 250 and doc["total"] == 250  # every image reported, none lost


def test_global_options_before_or_after_the_command(server, env, tmp_path):
    cfg = tmp_path / "other.env"
    cfg.write_text(f"XPGEO_REST_URL={server.url}\n", encoding="utf-8")
    env = {"XPGEO_API_KEY": CANARY}
    for argv in (["--json", "--config", str(cfg), "health-check"], ["health-check", "--json", "--config", str(cfg)]):
        code, out, err = run(argv, env)
        assert code == 0, err
        assert json.loads(out)["versions"]["enterpriseVersion"] == "11.5.0"


def test_missing_file_and_missing_name_are_usage_errors(server, env):
    code, _, err = run(["append-images", "--name=lyr", "--file=/nonexistent/list.txt"], env)
    assert code == 2 and "/nonexistent/list.txt" in err and "was not found" in err
    code, _, err = run(["append-image", "--name=  ", "--image-url=https://h/a.jpg"], env)
    assert code == 2 and "Missing layer name or image URL" in err
    code, _, err = run(["create-oi-layer"], env)
    assert code == 2


def test_canary_key_never_leaks_anywhere(server, env, tmp_path):
    run(["create-oi-layer", "--name=lyr"], env)
    path = write_list(tmp_path, urls(3) + ["https://bad host/x.jpg"])
    captured = []
    for argv in (["health-check", "--verbose"], ["append-images", "--name=lyr", "--file", path, "--verbose"],
                 ["--json", "append-image", "--name=nolayer", "--image-url=https://h/x.jpg"]):
        code, out, err = run(argv, env)
        captured += [out, err]
    assert_no_canary(server, *captured)
    for p in Path(os.environ["HOME"]).rglob("*"):
        if p.is_file():
            assert CANARY not in p.read_text(encoding="utf-8", errors="replace")


def test_python_dash_m_entry_point(server, env):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "xpgeo_core", "health-check"], cwd=str(root),
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("XPGEO REST response: The app is running...")
