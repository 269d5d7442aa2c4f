"""The photo client (``xpgeo_core.http.PhotoClient``) the metadata engine reads headers with.

It is built on urllib3 directly, so everything the REST session promises is checked again
here, over real loopback servers: TLS verified by default and a CA bundle or the explicit
insecure switch (warned once per run), proxies from the environment with NO_PROXY, https
photos tunnelled through a CONNECT proxy and still verified, proxy credentials kept out of messages, retries on 503 with Retry-After, redirects (Range kept, loops
stopped, non-ASCII targets read as UTF-8, cookies carried along the chain), credentials in the
URL sent as Basic auth but never to another host nor into logs, the User-Agent, and one
connection per worker reused for every photo.
"""

from __future__ import annotations

import base64
import importlib.util
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from certs import make_cert
from emulators.image_host import ImageHost
from xpgeo_core import __version__
from xpgeo_core.http import make_session
from xpgeo_core.photo_client import make_photo_client
from xpgeo_core.metadata import inspect_source
from xpgeo_core.operations import inspect_photos
from xpgeo_core.sample_photos import make_jpeg
from xpgeo_core.settings import load_settings

SETTINGS = load_settings(environ={}).replace(retry_backoff=0.0)
PHOTO = make_jpeg(lat=48.85, lon=2.29, heading=10.0, focal_length_35mm=26, pixel_size=(4000, 3000),
                  target_size=200_000)


@pytest.fixture
def host():
    with ImageHost() as h:
        yield h


@pytest.fixture
def tls_host(tmp_path, monkeypatch):
    """An image host behind TLS with a certificate from a CA made here; an unrelated CA in
    REQUESTS_CA_BUNDLE (as many machines have) must change nothing."""
    ca, cert, key = make_cert(tmp_path)
    (tmp_path / "other").mkdir()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(make_cert(tmp_path / "other")[0]))
    host = ImageHost().start()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    host._server.socket = context.wrap_socket(host._server.socket, server_side=True)
    try:
        yield host, host.add("a.jpg", PHOTO).replace("http://", "https://"), ca
    finally:
        host.stop()


def test_tls_is_verified_by_default_and_a_ca_bundle_is_trusted(tls_host):
    host, url, ca = tls_host
    refused = inspect_source(url, settings=SETTINGS.replace(retries=0))
    assert not refused.ok and "could not be verified" in refused.error and "CA_BUNDLE" in refused.error
    trusted = inspect_source(url, settings=SETTINGS.replace(ca_bundle=str(ca)))
    assert trusted.ok, trusted.error
    assert trusted.attributes["CameraHeading"] == pytest.approx(10.0)
    # the certificate names 127.0.0.1 only: the same server as "localhost" fails the host name check
    wrong_name = inspect_source(url.replace("127.0.0.1", "localhost"), settings=SETTINGS.replace(ca_bundle=str(ca)))
    assert not wrong_name.ok and "could not be verified" in wrong_name.error


def test_a_ca_from_requests_ca_bundle_is_trusted_by_photo_reads_and_rest_calls_alike(tls_host, monkeypatch):
    host, url, ca = tls_host
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))  # a TLS-inspecting corporate proxy's CA, say
    info = inspect_source(url, settings=SETTINGS)
    assert info.ok, info.error
    assert make_session(SETTINGS).get(url, headers={"Range": "bytes=0-15"}).status_code == 206


def test_a_missing_ca_bundle_from_the_environment_is_named(tls_host, monkeypatch):
    host, url, ca = tls_host
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca) + ".gone")
    info = inspect_source(url, settings=SETTINGS)
    assert info.error_code == "network" and "CA bundle file cannot be read" in info.error


def test_insecure_switch_reads_and_warns_once_per_run(tls_host, caplog):
    host, url, _ = tls_host
    settings = load_settings(environ={"XPGEO_DISABLE_SSL_VERIFICATION": "true"})
    with caplog.at_level("WARNING", logger="xpgeo"):
        results = list(inspect_photos(settings.replace(fetch_concurrency=4), [url] * 12))
    assert all(r.ok for r in results), [r.error for r in results]
    assert caplog.text.count("verification is OFF") == 1


def test_user_agent_and_one_connection_per_worker_reused(host):
    urls = [host.add("p%d.jpg" % i, PHOTO) for i in range(40)]
    results = list(inspect_photos(SETTINGS.replace(fetch_concurrency=4), urls))
    assert all(r.ok for r in results)
    assert {r.headers.get("User-Agent") for r in host.requests} == {f"xpgeo/{__version__}"}
    peers = {r.peer for r in host.requests}
    assert 1 <= len(peers) <= 4  # a connection per worker, reused: not one per photo


def test_503_with_retry_after_is_retried_then_read(host):
    url = host.add("busy.jpg", PHOTO, failures=2)
    info = inspect_source(url, settings=SETTINGS)
    assert info.ok, info.error
    assert [r.range for r in host.requests] == ["bytes=0-65535"] * 3
    host.add("down.jpg", PHOTO, failures=5)
    info = inspect_source(host.url_for("down.jpg"), settings=SETTINGS.replace(retries=1))
    assert not info.ok and info.error.startswith("HTTP 503") and "try again later" in info.error


def test_redirect_is_followed_with_its_range_and_loops_are_stopped(host):
    host.add("real.jpg", PHOTO)
    info = inspect_source(host.add("old.jpg", status=302, location="/real.jpg"), settings=SETTINGS)
    assert info.ok, info.error
    assert [(r.path, r.range) for r in host.requests] == [("/old.jpg", "bytes=0-65535"),
                                                         ("/real.jpg", "bytes=0-65535")]
    assert info.attributes["ImagePath"].endswith("/old.jpg")  # the URL as given
    host.add("ping.jpg", status=301, location="/pong.jpg")
    host.add("pong.jpg", status=301, location="/ping.jpg")
    looped = inspect_source(host.url_for("ping.jpg"), settings=SETTINGS)
    assert not looped.ok and "redirects too many times" in looped.error


def test_credentials_in_the_url_are_sent_as_basic_auth_and_not_to_another_origin(host, caplog):
    host.add("private.jpg", PHOTO)
    port = host.base_url.rsplit(":", 1)[1]
    url = "http://ann:s%%40fe-pw@127.0.0.1:%s/private.jpg" % port
    info = inspect_source(url, settings=SETTINGS)
    assert info.ok, info.error
    assert host.requests[0].headers["Authorization"] == "Basic " + base64.b64encode(b"ann:s@fe-pw").decode()
    # the layer gets the URL without them, and the person is told
    assert info.attributes["ImagePath"] == "http://127.0.0.1:%s/private.jpg" % port
    assert "fe-pw" not in repr(info.to_dict()["attributes"]) and any("user:password" in w for w in info.warnings)
    # a redirect to another port of the same host: the credentials stay behind
    with ImageHost() as other:
        other.add("private.jpg", PHOTO)
        host.requests.clear()
        host.add("moved.jpg", status=302, location=other.url_for("private.jpg"))
        moved = inspect_source("http://ann:s%%40fe-pw@127.0.0.1:%s/moved.jpg" % port, settings=SETTINGS)
        assert moved.ok, moved.error
        assert "Authorization" in host.requests[0].headers and "Authorization" not in other.requests[0].headers
    # nor do they reach the logs when a photo fails, even with a literal @ in the password
    with caplog.at_level("DEBUG", logger="xpgeo"):
        failed = inspect_source("http://ann:p@ss-w0rd@127.0.0.1:%s/missing.jpg" % port, settings=SETTINGS)
    assert not failed.ok and "w0rd" not in caplog.text and "w0rd" not in failed.error
    assert "127.0.0.1" in caplog.text  # the photo is still named


def test_a_non_ascii_redirect_target_is_read_as_utf8(host):
    host.add("café.jpg", PHOTO)
    # http.server writes header values as Latin-1: these are the UTF-8 bytes of "/café.jpg", as servers send them
    url = host.add("old.jpg", status=301, location="/café.jpg".encode("utf-8").decode("latin-1"))
    info = inspect_source(url, settings=SETTINGS)
    assert info.ok, info.error


def test_a_malformed_redirect_target_is_a_named_error(host):
    info = inspect_source(host.add("bad.jpg", status=302, location="http://[::1/x.jpg"), settings=SETTINGS)
    assert info.error_code == "network" and "malformed" in info.error


class _CookieGate(BaseHTTPRequestHandler):
    """/start sets a cookie and redirects to /photo, which redirects back unless the cookie
    came with the request: the bot-check / CDN hand-off pattern. /away sets one and sends the
    client to another host (``elsewhere``)."""

    seen: list = []
    elsewhere = None

    def log_message(self, *a):
        pass

    def do_GET(self):
        type(self).seen.append(self.headers.get("Cookie"))
        if self.path == "/away":
            self.send_response(302)
            self.send_header("Location", type(self).elsewhere)
            self.send_header("Set-Cookie", "gate=open; Path=/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/photo" and "gate=open" in (self.headers.get("Cookie") or ""):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PHOTO)))
            self.end_headers()
            self.wfile.write(PHOTO)
            return
        self.send_response(302)
        self.send_header("Location", "/photo")
        if self.path == "/start":
            self.send_header("Set-Cookie", "gate=open; Path=/; HttpOnly; Partitioned")
            self.send_header("Set-Cookie", "session=A-SECRET; Path=/; Secure")
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_cookie_set_along_a_redirect_chain_is_sent_on_along_it():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CookieGate)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        info = inspect_source("http://127.0.0.1:%d/start" % server.server_address[1], settings=SETTINGS)
        assert info.ok, info.error
        assert _CookieGate.seen[-1] == "gate=open"  # the Secure one stays off plain http; Partitioned parsed
    finally:
        server.shutdown()
        server.server_close()


def test_redirect_cookies_stay_with_the_host_that_set_them(host):
    """A cookie from one host is not handed to the next host of the chain."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CookieGate)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if "127.0.0.1" not in {info[4][0] for info in socket.getaddrinfo("localhost", None)}:
        pytest.skip("localhost does not name 127.0.0.1 here")
    # cookies are per host name, not per port (RFC 6265): the other host is "localhost"
    _CookieGate.elsewhere = host.add("p.jpg", PHOTO).replace("127.0.0.1", "localhost")
    try:
        info = inspect_source("http://127.0.0.1:%d/away" % server.server_address[1], settings=SETTINGS)
        assert info.ok, info.error
        assert host.requests[0].headers.get("Cookie") is None
    finally:
        _CookieGate.elsewhere = None
        server.shutdown()
        server.server_close()


class _LongRedirect(BaseHTTPRequestHandler):
    """A redirect that announces a 100 MB body and sends none: a client that reads redirect
    bodies to their end hangs on it."""

    target = ""

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", type(self).target)
        self.send_header("Content-Length", str(100_000_000))
        self.end_headers()
        self.wfile.write(b"x" * 1000)
        self.wfile.flush()
        threading.Event().wait(3)  # keeps the connection open, as a slow big body would


def test_a_long_redirect_body_is_not_read(host):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LongRedirect)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _LongRedirect.target = host.add("p.jpg", PHOTO)
    try:
        info = inspect_source("http://127.0.0.1:%d/r" % server.server_address[1],
                              settings=SETTINGS.replace(timeout_seconds=1.0, retries=0))
        assert info.ok, info.error  # reading the announced body would have timed out
    finally:
        server.shutdown()
        server.server_close()


def test_bad_ca_bundles_and_proxies_are_named_errors(tls_host, tmp_path, monkeypatch):
    host, url, ca = tls_host
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("this is not a certificate\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(not_pem))
    info = inspect_source(url, settings=SETTINGS)
    assert info.error_code == "network" and "cannot be read as PEM" in info.error
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    for key in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(key, raising=False)
    for proxy, expected in (("ftp://127.0.0.1:21", "proxy could not be used"),
                            ("http://bob:pw@127.0.0.1:notaport", "proxy could not be used"),
                            ("socks5://127.0.0.1:1080", "PySocks")):
        if expected == "PySocks" and importlib.util.find_spec("socks") is not None:
            continue
        monkeypatch.setenv("HTTP_PROXY", proxy)
        failed = inspect_source("http://photos.example.invalid/a.jpg", settings=SETTINGS.replace(retries=0))
        assert failed.error_code == "network" and expected in failed.error, (proxy, failed.error)


@pytest.mark.parametrize("url", ["http://[::1/x.jpg", "https://[::1", "http://127.0.0.1:99999/x.jpg"])
def test_odd_urls_are_named_errors_not_internal(url):
    info = inspect_source(url, settings=SETTINGS.replace(retries=0))
    assert not info.ok and info.error_code == "network", info.error


def test_inspect_source_still_accepts_a_session_and_says_it_is_ignored(host):
    with pytest.warns(DeprecationWarning, match="session"):
        info = inspect_source(host.add("a.jpg", PHOTO), settings=SETTINGS, session=make_session(SETTINGS))
    assert info.ok


class _PhotoProxy(BaseHTTPRequestHandler):
    """A loopback forward proxy that answers every request itself with the photo (nothing
    leaves the machine), and records what it was asked."""

    seen: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        type(self).seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(PHOTO)))
        self.end_headers()
        self.wfile.write(PHOTO)


@pytest.fixture
def proxy(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PhotoProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _PhotoProxy.seen = []
    for key in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(key, raising=False)
    try:
        yield "127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_proxy_from_the_environment_is_used_and_no_proxy_bypasses_it(proxy, host, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://" + proxy)
    info = inspect_source("http://photos.example.invalid/a.jpg", settings=SETTINGS)
    assert info.ok, info.error
    path, headers = _PhotoProxy.seen[0]
    assert path == "http://photos.example.invalid/a.jpg"
    assert headers["user-agent"] == f"xpgeo/{__version__}" and headers["range"] == "bytes=0-65535"
    # NO_PROXY names the image host: straight to it, not through the proxy.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = inspect_source(host.add("b.jpg", PHOTO), settings=SETTINGS)
    assert direct.ok and len(_PhotoProxy.seen) == 1 and len(host.requests) == 1


def test_proxy_credentials_are_sent_but_never_shown(proxy, monkeypatch):
    secret = "pr0xy-S3CRET"
    monkeypatch.setenv("HTTP_PROXY", "http://alice:%s@%s" % (secret, proxy))
    client = make_photo_client(SETTINGS)
    info = inspect_source("http://photos.example.invalid/a.jpg", settings=SETTINGS, client=client)
    assert info.ok, info.error
    expected = "Basic " + base64.b64encode(("alice:" + secret).encode()).decode()
    assert _PhotoProxy.seen[0][1]["proxy-authorization"] == expected
    assert secret not in repr(client)
    # a proxy that is not there: the error names the proxy settings, not the credentials
    monkeypatch.setenv("HTTP_PROXY", "http://alice:%s@127.0.0.1:9" % secret)
    failed = inspect_source("http://photos.example.invalid/b.jpg", settings=SETTINGS.replace(retries=0))
    assert not failed.ok and secret not in failed.error and secret not in repr(failed.to_dict())
    assert "proxy" in failed.error.lower()


class _ConnectProxy(BaseHTTPRequestHandler):
    """A loopback CONNECT proxy, as corporate networks put in front of https photo stores: it
    tunnels to 127.0.0.1 only (nothing leaves the machine) and records the tunnels asked for."""

    tunnels: list = []

    def log_message(self, *a):
        pass

    def do_CONNECT(self):
        import select
        import socket

        host, _, port = self.path.rpartition(":")
        type(self).tunnels.append((self.path, self.headers.get("Proxy-Authorization")))
        if host != "127.0.0.1":
            self.send_error(403)
            return
        upstream = socket.create_connection((host, int(port)))
        self.send_response(200, "Connection established")
        self.end_headers()
        sockets = [self.connection, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 5)
                if not readable:
                    break
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()
            self.close_connection = True


@pytest.fixture
def connect_proxy(monkeypatch):
    """Start a CONNECT proxy; ``start(tls_files=None)`` returns its port. The proxy settings of
    the environment are cleared first, so each test sets the one it means."""
    servers = []
    _ConnectProxy.tunnels = []
    for key in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(key, raising=False)

    def start(tls_files=None) -> int:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _ConnectProxy)
        if tls_files:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*map(str, tls_files))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_an_https_proxy_is_verified_with_the_same_ca_bundle(tls_host, connect_proxy, monkeypatch):
    """A proxy reached over TLS (HTTPS_PROXY=https://...) whose certificate comes from the internal
    CA: CA_BUNDLE covers that hop too, not only the photo host behind it."""
    host, url, ca = tls_host
    port = connect_proxy((ca.parent / "server.pem", ca.parent / "server.key"))
    monkeypatch.setenv("HTTPS_PROXY", "https://127.0.0.1:%d" % port)
    info = inspect_source(url, settings=SETTINGS.replace(ca_bundle=str(ca)))
    assert info.ok, info.error
    assert len(_ConnectProxy.tunnels) == 1
    refused = inspect_source(url, settings=SETTINGS.replace(retries=0))  # certifi does not know that CA
    assert not refused.ok and len(_ConnectProxy.tunnels) == 1


def test_https_photo_through_a_connect_proxy_is_tunnelled_and_verified(tls_host, connect_proxy, monkeypatch):
    host, url, ca = tls_host
    monkeypatch.setenv("HTTPS_PROXY", "http://bob:tunnel-pw@127.0.0.1:%d" % connect_proxy())
    info = inspect_source(url, settings=SETTINGS.replace(ca_bundle=str(ca)))
    assert info.ok, info.error
    target = url.split("/")[2]
    assert _ConnectProxy.tunnels == [(target, "Basic " + base64.b64encode(b"bob:tunnel-pw").decode())]
    assert len(host.requests) == 1 and host.requests[0].range == "bytes=0-65535"
    # the tunnel does not weaken verification: without the CA the photo is refused
    refused = inspect_source(url, settings=SETTINGS.replace(retries=0))
    assert not refused.ok and "could not be verified" in refused.error
