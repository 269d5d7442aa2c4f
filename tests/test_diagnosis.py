"""Mistakes diagnosed as what they are: a wrong portal URL is a URL error (exit 4) that says the form
it should take, a 502 is a server error, and only a real credential refusal is exit 3; an XPGEO append
before create is one "create it first" error. Through the CLI and through the toolbox."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emulators.image_host import ImageHost
from emulators.portal import PASSWORD, USER, PortalEmulator
from emulators.xpgeo_server import FakeXpgeoServer
from portal_support import run_cli
from toolbox_harness import arcpy, load_toolbox, run_tool


@pytest.fixture(scope="module")
def portal():
    with PortalEmulator() as p:
        yield p


def _env(url: str, **extra: str) -> dict:
    env = {"XPGEO_PORTAL_URL": url, "XPGEO_USERNAME": USER, "XPGEO_PASSWORD": PASSWORD, "XPGEO_RETRY_BACKOFF": "0",
           "XPGEO_BACKEND": "portal"}
    env.update(extra)
    return env


def test_host_without_portal_path_is_a_url_error(portal):
    code, out, err = run_cli(["health-check"], _env(portal.base_url))
    assert code == 4, err
    assert "does not answer as an ArcGIS portal" in err and f"{portal.base_url}/portal" in err
    assert "USERNAME and PASSWORD" not in err
    assert PASSWORD not in out + err


def test_browser_address_is_refused_before_any_request(portal):
    before = len(portal.state.requests)
    code, _, err = run_cli(["health-check"], _env(portal.portal_url + "/home/index.html"))
    assert code == 4
    assert f"use '{portal.portal_url}'" in err and "page of the portal" in err
    assert len(portal.state.requests) == before


def test_a_url_that_is_not_a_portal(tmp_path):
    with ImageHost() as host:
        code, _, err = run_cli(["--json", "health-check"], _env(host.base_url + "/photos"))
    assert code == 4
    assert "does not answer as an ArcGIS portal" in err and "Check USERNAME" not in err


class _BadGateway(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"<html><body>502 Bad Gateway</body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


def test_502_on_generate_token_is_a_server_error():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _BadGateway)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = "http://127.0.0.1:%d/portal" % httpd.server_address[1]
        code, out, err = run_cli(["--json", "health-check"], _env(url, XPGEO_RETRIES="0"))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert code == 4
    doc = json.loads(out)
    assert doc["error"]["type"] == "server" and "not working" in doc["error"]["message"]


def test_wrong_password_is_still_exit_3(portal):
    code, _, err = run_cli(["health-check"], _env(portal.portal_url, XPGEO_PASSWORD="wrong-password-123"))
    assert code == 3 and "Check USERNAME and PASSWORD" in err


def test_the_toolbox_reports_the_url_problem(portal, monkeypatch):
    arcpy.reset()
    pyt = load_toolbox()
    monkeypatch.setenv("XPGEO_USERNAME", USER)
    monkeypatch.setenv("XPGEO_PASSWORD", PASSWORD)
    with pytest.raises(arcpy.ExecuteError, match="does not answer as an ArcGIS portal"):
        run_tool(pyt, "HealthCheck", {"backend": "Portal", "portal_url": portal.base_url})
    assert PASSWORD not in json.dumps(arcpy.MESSAGES)


@pytest.mark.parametrize("answer", ["item_id_required", "not_found"])
def test_xpgeo_append_before_create_is_one_error(tmp_path, answer):
    with FakeXpgeoServer(unknown_layer=answer) as server:
        env = {"XPGEO_REST_URL": server.url, "XPGEO_RETRY_BACKOFF": "0"}
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(f"https://photos.example.com/{i}.jpg\n" for i in range(250)), encoding="utf-8")
        code, out, err = run_cli(["append-images", "--name", "nope", "--file", str(listing)], env)
        assert code == 2, err
        assert err.count("Error:") == 1 and "Layer 'nope' does not exist" in err and "create it first" in err
        assert "xpgeo create-oi-layer" in err
        assert "failed line" not in out
        appends = [r for r in server.state.requests if r.path == "/append-images"]
        assert len(appends) == 1  # stopped at the first answer, the other chunks never sent
        code, _, err = run_cli(["append-image", "--name", "nope", "--image-url", "https://p.example.com/a.jpg"], env)
        assert code == 2 and "does not exist" in err


def test_xpgeo_append_before_create_in_pro_names_the_tool(monkeypatch):
    arcpy.reset()
    pyt = load_toolbox()
    with FakeXpgeoServer() as server:
        monkeypatch.setenv("XPGEO_RETRY_BACKOFF", "0")
        with pytest.raises(arcpy.ExecuteError):
            run_tool(pyt, "AppendImage", {"layer_name": "nope", "image_url": "https://p.example.com/a.jpg",
                                          "server_url": server.url})
    errors = [text for severity, text in arcpy.MESSAGES if severity == "error"]
    assert len(errors) == 1 and "create it first" in errors[0]
    assert "the Create Oriented Imagery Layer tool" in errors[0]
    assert "xpgeo " not in errors[0] and "--" not in errors[0]


def test_missing_layer_name_only_when_it_is_missing():
    from test_xpgeo_cli import run

    code, _, err = run(["create-oi-layer", "--name", "   "])
    assert code == 2 and "Missing layer name" in err
    code, _, err = run(["create-oi-layer", "--name", "site\tone"])
    assert code == 2 and "control character" in err and "Missing" not in err
