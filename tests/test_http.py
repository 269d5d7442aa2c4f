"""The HTTP session: TLS verified by default, CA bundle, the explicit insecure switch,
retries on 503 with Retry-After, User-Agent, time-outs, proxies from the environment."""

from __future__ import annotations

import io
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from emulators.xpgeo_server import FakeXpgeoServer
from xpgeo_core import __version__
from xpgeo_core.cli import main
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from xpgeo_core.http import make_session, tls_verify
from xpgeo_core.settings import load_settings

from certs import make_cert


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    ca, cert, key = make_cert(tmp_path)
    # An unrelated CA in REQUESTS_CA_BUNDLE (as many machines have) must not override our settings.
    (tmp_path / "other").mkdir()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(make_cert(tmp_path / "other")[0]))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(make_cert(tmp_path / "other")[0]))
    server = FakeXpgeoServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    with server:
        yield server.url.replace("http://", "https://"), ca


def run(argv, env):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err, environ={"XPGEO_RETRIES": "0", **env})
    return code, out.getvalue(), err.getvalue()


def test_verification_is_on_by_default(monkeypatch):
    for key in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(key, raising=False)
    session = make_session(load_settings(environ={}))
    assert session.verify is True  # certifi's bundle, requests' own default
    assert session.headers["User-Agent"] == f"xpgeo/{__version__}"
    assert session.trust_env is True  # HTTP(S)_PROXY / NO_PROXY honoured


def test_ca_bundle_wins_then_the_environment_then_certifi(tmp_path):
    settings = load_settings(environ={})
    env = {"REQUESTS_CA_BUNDLE": "/env/requests.pem", "CURL_CA_BUNDLE": "/env/curl.pem"}
    assert tls_verify(settings, env) == "/env/requests.pem"
    assert tls_verify(settings, {"CURL_CA_BUNDLE": "/env/curl.pem"}) == "/env/curl.pem"
    assert tls_verify(settings, {}) == DEFAULT_CA_BUNDLE_PATH
    ca = tmp_path / "corp.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert tls_verify(settings.replace(ca_bundle=str(ca)), env) == str(ca)
    assert tls_verify(settings.replace(ca_bundle="~/corp.pem"), env) == str(Path.home() / "corp.pem")


def test_self_signed_server_is_refused_then_trusted_with_ca_bundle(tls_server):
    url, ca = tls_server
    code, out, err = run(["health-check"], {"XPGEO_REST_URL": url})
    assert code == 4
    assert "could not be verified" in err and "CA_BUNDLE" in err
    code, out, err = run(["health-check"], {"XPGEO_REST_URL": url, "XPGEO_CA_BUNDLE": str(ca)})
    assert code == 0, err
    assert "Warning" not in err


def test_insecure_switch_works_and_warns(tls_server):
    url, _ = tls_server
    code, out, err = run(["health-check", "--disable-ssl-verification"], {"XPGEO_REST_URL": url})
    assert code == 0, err
    assert "TLS certificate verification is OFF" in err
    code, out, err = run(["health-check"], {"XPGEO_REST_URL": url, "XPGEO_DISABLE_SSL_VERIFICATION": "true"})
    assert code == 0 and "verification is OFF" in err


class _Flaky(BaseHTTPRequestHandler):
    """503 with Retry-After: 0 twice, then 200."""

    hits = 0
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def do_GET(self):
        with self.lock:
            type(self).hits += 1
            n = type(self).hits
        if n <= 2:
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.headers.get("User-Agent", "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_retries_503_with_retry_after():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        session = make_session(load_settings(environ={"XPGEO_RETRY_BACKOFF": "0"}))
        response = session.get(f"http://127.0.0.1:{httpd.server_address[1]}/x")
        assert response.status_code == 200 and response.text.startswith("xpgeo/")
        assert _Flaky.hits == 3
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_default_timeout_is_applied(monkeypatch):
    session = make_session(load_settings(environ={"XPGEO_TIMEOUT_SECONDS": "12.5"}))
    seen = {}

    def fake_send(self, request, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop")

    monkeypatch.setattr("requests.adapters.HTTPAdapter.send", fake_send)
    with pytest.raises(RuntimeError):
        session.get("http://127.0.0.1:9/")
    assert seen["timeout"] == 12.5


def test_insecure_warning_once_per_run_not_per_session(caplog):
    settings = load_settings(environ={"XPGEO_DISABLE_SSL_VERIFICATION": "true"})
    with caplog.at_level("WARNING", logger="xpgeo"):
        sessions = [make_session(settings) for _ in range(8)]
    assert all(s.verify is False for s in sessions)
    assert caplog.text.count("verification is OFF") == 1


class _ForwardProxy(BaseHTTPRequestHandler):
    """A loopback forward proxy that answers every request itself (nothing leaves the machine)."""

    seen: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        type(self).seen.append((self.path, self.headers.get("User-Agent")))
        body = b"via proxy"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_proxy_from_the_environment_is_used_and_no_proxy_bypasses_it(monkeypatch):
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    target = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    for server in (proxy, target):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _ForwardProxy.seen = []
        for key in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(key, "")
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        session = make_session(load_settings(environ={}))
        response = session.get("http://photos.example.invalid/a.jpg")
        assert response.text == "via proxy"
        assert _ForwardProxy.seen == [("http://photos.example.invalid/a.jpg", f"xpgeo/{__version__}")]
        # NO_PROXY names the target: the request goes straight to it, not through the proxy.
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        _Flaky.hits = 2  # answer 200 at once
        direct = make_session(load_settings(environ={})).get(f"http://127.0.0.1:{target.server_address[1]}/x")
        assert direct.status_code == 200 and len(_ForwardProxy.seen) == 1
    finally:
        for server in (proxy, target):
            server.shutdown()
            server.server_close()
