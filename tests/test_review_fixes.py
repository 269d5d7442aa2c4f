"""Defects found by a user-style review of the command line, each pinned by a test."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from test_xpgeo_cli import run  # the CLI runner: argv -> (exit code, stdout, stderr)
from xpgeo_core.errors import ConfigError
from xpgeo_core.settings import load_settings

CANARY = "CANARY-review-key-4d2a9c"


class _WebPage(BaseHTTPRequestHandler):
    """A plain web site: every path, GET or POST, is an HTML page with the server's status."""

    status = 200

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Company sign-in</body></html>"
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:  # quiet test output
        pass


@pytest.fixture(params=[200])
def web_page(request) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _WebPage)
    httpd.status = request.param  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# -- --json stays one JSON document, even when argparse refuses the command line ------

@pytest.mark.parametrize("argv", [
    ["--json"],
    ["--json", "create-oi-layer"],
    ["create-oi-layer", "--json", "--name"],
    ["--json", "no-such-command"],
    ["--json", "--backend", "nope", "health-check"],
    ["append-images", "--name", "x", "--json"],
])
def test_usage_errors_under_json_give_one_json_document(argv):
    code, out, err = run(argv)
    assert code == 2
    document = json.loads(out)  # exactly one document, nothing else on stdout
    assert document["ok"] is False and document["error"]["type"] == "usage"
    assert document["error"]["message"] and document["error"]["hint"]
    assert "Traceback" not in err and "Error:" in err


def test_usage_errors_without_json_keep_stdout_empty_and_say_what_to_do():
    code, out, err = run(["create-oi-layer"])
    assert code == 2 and out == ""
    assert "usage: xpgeo create-oi-layer" in err and "--name" in err and "--help" in err


def test_help_and_version_still_exit_0():
    assert run(["--help"])[0] == 0
    assert run(["--version"])[0] == 0


# -- settings: numbers that parse but cannot be used ------------------------------------

@pytest.mark.parametrize("key,value", [
    ("XPGEO_TIMEOUT_SECONDS", "nan"), ("XPGEO_TIMEOUT_SECONDS", "inf"), ("XPGEO_TIMEOUT_SECONDS", "-1"),
    ("XPGEO_RETRY_BACKOFF", "nan"), ("XPGEO_RETRIES", "-5"), ("XPGEO_RETRIES", "two"),
    ("XPGEO_MAX_IMAGE_LIST_SIZE", "abc"),
])
def test_unusable_numbers_are_config_errors_naming_the_setting(key, value):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={key: value})
    assert key in caught.value.message and "expected" in caught.value.message
    assert "invalid literal" not in caught.value.message  # Python's words, not ours


def test_nan_timeout_is_a_usage_error_not_an_internal_one():
    code, out, err = run(["--json", "--output-dir", "layers", "health-check"], {"XPGEO_TIMEOUT_SECONDS": "nan"})
    assert code == 2
    assert json.loads(out)["error"]["type"] == "config"
    assert "Unexpected error" not in err


def test_zero_retries_and_zero_timeout_are_allowed():
    settings = load_settings(environ={"XPGEO_RETRIES": "0", "XPGEO_TIMEOUT_SECONDS": "0"})
    assert settings.retries == 0 and settings.timeout_seconds == 0


# -- a folder where a file was expected -------------------------------------------------

def test_folder_given_as_url_list_says_it_is_a_folder(tmp_path):
    (tmp_path / "photos").mkdir()
    code, out, err = run(["--json", "--output-dir", "layers", "append-images", "--name", "x", "--file", "photos"])
    assert code == 2
    assert "is a folder, not a file" in json.loads(out)["error"]["message"]


def test_folder_given_as_config_says_it_is_a_folder(tmp_path):
    (tmp_path / "conf").mkdir()
    code, _, err = run(["--config", "conf", "health-check"])
    assert code == 2 and "'conf' is a folder, not a file" in err


def test_folder_given_as_inspect_list_says_it_is_a_folder(tmp_path):
    (tmp_path / "lists").mkdir()
    code, _, err = run(["inspect", "--file", "lists"])
    assert code == 2 and "'lists' is a folder, not a file" in err


# -- a URL that is a web page, not the server ------------------------------------------

def test_xpgeo_health_check_against_a_web_page_fails(web_page):
    code, out, err = run(["--json", "--rest-url", web_page, "health-check"], {"XPGEO_API_KEY": CANARY})
    assert code == 4
    error = json.loads(out)["error"]
    assert "HTML page" in error["message"] and "XPGEO_REST_URL" in error["hint"]
    assert CANARY not in out + err


def test_xpgeo_append_to_a_web_page_is_never_counted_nor_remembered(web_page, tmp_path):
    """A sign-in page answering 200 must not mark images appended: the ledger would skip them forever."""
    path = tmp_path / "urls.txt"
    path.write_text("https://photos.example.com/a.jpg\nhttps://photos.example.com/b.jpg\n", encoding="utf-8")
    env = {"XPGEO_API_KEY": CANARY, "XPGEO_RETRY_BACKOFF": "0"}
    for _ in range(2):  # the rerun must try again, not skip
        code, out, _ = run(["--json", "--rest-url", web_page, "append-images", "--name", "lyr", "--file",
                            str(path)], env)
        document = json.loads(out)
        assert code == 1
        assert (document["appended"], document["skipped"], document["failed"]) == (0, 0, 2)
        assert all("HTML page" in r["reason"] for r in document["results"])
    code, out, _ = run(["--json", "--rest-url", web_page, "append-image", "--name", "lyr", "--image-url",
                        "https://photos.example.com/a.jpg"], env)
    assert code == 4 and "HTML page" in json.loads(out)["error"]["message"]


@pytest.mark.parametrize("web_page", [404], indirect=True)
def test_portal_url_that_is_a_web_page_says_to_check_portal_url(web_page):
    code, out, _ = run(["--json", "--portal-url", web_page, "health-check"], {"XPGEO_API_KEY": CANARY})
    assert code == 4
    assert "PORTAL_URL" in (json.loads(out)["error"]["hint"] or "")


# -- --verbose shows every setting and its source (docs/troubleshooting.md says so) ------

def test_verbose_lists_settings_with_sources_and_masks_secrets(tmp_path):
    code, out, err = run(["--verbose", "--output-dir", "layers", "health-check"],
                         {"XPGEO_PASSWORD": CANARY, "XPGEO_MAX_IMAGE_LIST_SIZE": "7"})
    assert code == 0
    assert "MAX_IMAGE_LIST_SIZE = 7 (environment)" in err
    assert "XPGEO_OUTPUT_DIR = layers (parameter)" in err
    assert "PASSWORD = ******** (environment)" in err
    assert "Checking the local backend" in err
    assert CANARY not in out + err


# -- local layer files: a failed write leaves the old file and no temporary ------------

def test_atomic_write_that_fails_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    from xpgeo_core.backends.local import backend as local

    target = tmp_path / "features.geojson"
    target.write_text("old", encoding="utf-8")

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local.os, "replace", disk_full)
    with pytest.raises(OSError):
        local.atomic_write(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["features.geojson"]


def test_inspect_names_unsupported_schemes_and_empty_sources(tmp_path):
    from xpgeo_core.metadata import inspect_source
    from xpgeo_core.settings import load_settings

    settings = load_settings(environ={})
    for source, words in (("ftp://host/a.jpg", "ftp: URLs are not supported"), ("", "empty"),
                          ("s3://bucket/key.jpg", "s3: URLs")):
        info = inspect_source(source, settings=settings)
        assert not info.ok and words in info.error
    missing = inspect_source(str(tmp_path / "none.jpg"), settings=settings)
    assert "no such file" in missing.error


def test_retries_are_capped():
    import pytest as _pytest

    from xpgeo_core.errors import ConfigError
    from xpgeo_core.settings import load_settings

    assert load_settings(environ={"XPGEO_RETRIES": "10"}).retries == 10
    with _pytest.raises(ConfigError, match="0 to 10"):
        load_settings(environ={"XPGEO_RETRIES": "100000000000"})


def test_toolbox_says_a_folder_is_not_a_url_list(tmp_path):
    from xpgeo_core.toolbox import validate_tool

    problems = validate_tool("AppendImages", {"layer_name": "a", "url_file": str(tmp_path)})
    assert "is a folder" in problems["url_file"]


def test_ledger_is_the_same_for_every_spelling_of_the_server(tmp_path):
    from xpgeo_core.ledger import Ledger

    a = Ledger("https://XPGEO.example.com:443/api/", "lyr", folder=tmp_path)
    b = Ledger("https://xpgeo.example.com/api", "lyr", folder=tmp_path)
    c = Ledger("https://xpgeo.example.com:8443/api", "lyr", folder=tmp_path)
    assert a.path == b.path != c.path
    a.record(["https://h/1.jpg"])
    assert "https://h/1.jpg" in Ledger("https://xpgeo.example.com/api", "lyr", folder=tmp_path)


# -- a line the command prints itself is not logged a second time ---------------------

def test_create_announces_itself_once_on_the_command_line_and_once_in_pro(tmp_path):
    from toolbox_harness import arcpy, load_toolbox, run_tool  # the fake arcpy

    code, out, err = run(["--output-dir", str(tmp_path / "cli"), "create-oi-layer", "--name=once"])
    assert code == 0
    assert (out + err).count("Starting layer creation for 'once'...") == 1
    assert out.splitlines()[0] == "Starting layer creation for 'once'..."
    arcpy.reset()
    run_tool(load_toolbox(), "CreateOrientedImageryLayer",
             {"layer_name": "pro_once", "backend": "Local folder", "output_folder": str(tmp_path / "pro")})
    assert [t for _, t in arcpy.MESSAGES].count("Starting layer creation for 'pro_once'...") == 1


def test_usage_errors_end_their_sentence_before_the_hint():
    code, _, err = run(["health-check", "--backend", "nope"])
    assert code == 2 and "'local'). Run xpgeo --help" in err
    code, _, err = run(["append-images", "--name", "x"])
    assert code == 2 and err.rstrip().endswith("give --file, --photo-folder or --source. Run xpgeo append-images --help.")
