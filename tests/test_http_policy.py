"""The one HTTP policy on both transports: which requests are retried, redirects that leave the
origin carry no credential, warnings scoped to XPGEO's pools, and Cancel shutting in-flight sockets."""

from __future__ import annotations

import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional
from urllib.parse import parse_qs

import pytest
import urllib3

from emulators.image_host import ImageHost
from xpgeo_core import operations
from xpgeo_core.errors import AnswerLost, Cancelled, RequestError
from xpgeo_core.http import describe_request_failure, make_session
from xpgeo_core.photo_client import PhotoClient
from xpgeo_core.results import FAILED, TICK, UNCONFIRMED
from xpgeo_core.sample_photos import make_jpeg
from xpgeo_core.settings import load_settings

SETTINGS = load_settings({"retries": 3, "retry_backoff": 0, "timeout_seconds": 5}, environ={})


class Recorder:
    """A loopback server answering from a script: ``answers`` (status, headers, body) one per request,
    the last one repeated; every request recorded."""

    def __init__(self, answers) -> None:
        self.answers = list(answers)
        self.requests: List[Dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                          "body": body.decode("utf-8", "replace")})
                status, headers, data = (recorder.answers.pop(0) if len(recorder.answers) > 1
                                         else recorder.answers[0])
                if callable(data):
                    data = data()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recorder():
    made: List[Recorder] = []

    def make(*answers):
        made.append(Recorder(answers))
        return made[-1]

    yield make
    for r in made:
        r.close()


OK = (200, {"Content-Type": "application/json"}, b'{"ok": true}')


@pytest.mark.parametrize("status", [429, 503])
def test_a_post_is_retried_where_the_server_did_nothing(recorder, status):
    server = recorder((status, {"Retry-After": "0"}, b"busy"), OK)
    response = make_session(SETTINGS).post(server.url + "/addFeatures", data={"f": "json"})
    assert response.status_code == 200 and len(server.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_post_is_not_retried_where_the_server_may_have_done_it(recorder, status):
    server = recorder((status, {}, b"oops"), OK)
    response = make_session(SETTINGS).post(server.url + "/addFeatures", data={"f": "json"})
    assert response.status_code == status and len(server.requests) == 1


def test_a_get_that_writes_is_not_retried_on_a_gateway_error(recorder):
    server = recorder((502, {}, b"bad gateway"), OK)
    response = make_session(SETTINGS).get(server.url + "/append-image", params={"name": "x"}, idempotent=False)
    assert response.status_code == 502 and len(server.requests) == 1


def test_a_post_that_only_reads_is_retried_like_a_get(recorder):
    server = recorder((502, {}, b"bad gateway"), (504, {}, b"gateway time-out"), OK)
    response = make_session(SETTINGS).post(server.url + "/query", data={"where": "1=1"}, idempotent=True)
    assert response.status_code == 200 and len(server.requests) == 3


def test_the_marker_never_reaches_the_server(recorder):
    server = recorder(OK)
    make_session(SETTINGS).post(server.url + "/query", data={"a": "b"}, idempotent=True)
    assert not any(k.lower().startswith("x-xpgeo") for k in server.requests[0]["headers"])


@pytest.mark.parametrize("status", [302, 307, 308])
def test_no_credential_token_or_referer_crosses_origins_on_a_redirect(recorder, status):
    other = recorder(OK)
    portal = recorder((status, {"Location": other.url + "/elsewhere"}, b""))
    session = make_session(SETTINGS)
    session.post(portal.url + "/sharing/rest/content/users/u/addItem",
                 data={"f": "json", "title": "t", "token": "SECRET-TOKEN-123"},
                 headers={"X-Esri-Authorization": "Bearer SECRET-TOKEN-123", "Authorization": "Bearer SECRET-TOKEN-123",
                          "Referer": "https://my.app/"})
    assert len(other.requests) == 1
    seen = other.requests[0]
    assert "SECRET-TOKEN-123" not in str(seen["headers"]) + seen["body"] + seen["path"]
    assert "Referer" not in seen["headers"]
    if status in (307, 308):  # the body is re-sent, less its token
        assert parse_qs(seen["body"]) == {"f": ["json"], "title": ["t"]}


def test_a_redirect_on_the_same_origin_keeps_the_credentials(recorder):
    server = recorder((307, {"Location": "/moved"}, b""), OK)
    make_session(SETTINGS).post(server.url + "/a", data={"token": "T0KEN"}, headers={"X-Esri-Authorization": "Bearer T0KEN"})
    assert server.requests[1]["headers"].get("X-Esri-Authorization") == "Bearer T0KEN"
    assert "token=T0KEN" in server.requests[1]["body"]


def test_photo_client_sends_no_credential_to_another_origin(recorder):
    other = recorder((200, {"Content-Type": "image/jpeg"}, b"\xff\xd8"))
    host = recorder((302, {"Location": other.url + "/a.jpg"}, b""))
    client = PhotoClient(SETTINGS)
    url = host.url.replace("http://", "http://crew:SECRET-PW@") + "/a.jpg"
    client.get(url, {}).close()
    assert "Authorization" in host.requests[0]["headers"]
    assert "Authorization" not in other.requests[0]["headers"] and "Referer" not in other.requests[0]["headers"]


def test_insecure_runs_do_not_silence_urllib3_for_the_whole_process():
    before = list(warnings.filters)
    settings = load_settings({"disable_ssl_verification": True}, environ={})
    make_session(settings)
    PhotoClient(settings)
    assert warnings.filters == before
    assert not any(f[2] is urllib3.exceptions.InsecureRequestWarning and f[0] == "ignore" for f in warnings.filters)


def test_transport_errors_map_to_not_sent_or_answer_lost(recorder):
    import requests

    dead = recorder(OK)
    url = dead.url
    dead.close()
    try:
        make_session(load_settings({"retries": 0}, environ={})).post(url + "/x", data={})
    except requests.RequestException as exc:
        mapped = describe_request_failure(exc, url)
    assert type(mapped) is RequestError and "Could not connect" in mapped.message
    lost = describe_request_failure(requests.exceptions.ReadTimeout("x"), url + "/x?token=abc")
    assert isinstance(lost, AnswerLost) and "token" not in lost.message


# -- Cancel ----------------------------------------------------------------------------------------------------------

def _stalled_world(tmp_path, good: int, stalled: int):
    host = ImageHost().start()
    urls = [host.add(f"g{i}.jpg", make_jpeg(lat=45 + i / 100, lon=4)) for i in range(good)]
    urls += [host.add(f"s{i}.jpg", b"", stall=True) for i in range(stalled)]
    # No time-out at all: only Cancel shutting the sockets can end these reads.
    settings = load_settings({"backend": "local", "output_dir": str(tmp_path / "layers"), "timeout_seconds": 0,
                              "fetch_concurrency": 4}, environ={})
    operations.create_layer(settings, "c")
    return host, urls, settings


@pytest.mark.parametrize("how", [Cancelled, KeyboardInterrupt])
def test_cancel_against_stalled_photo_hosts_stops_and_reports_what_landed(tmp_path, how):
    host, urls, settings = _stalled_world(tmp_path, good=2, stalled=10)
    events = []

    def progress(p):
        events.append(p)
        if p.kind == TICK and len(events) > 3:
            raise how()

    try:
        report = operations.append_images(settings, "c", urls=urls, progress=progress)
    finally:
        host.stop()
    assert report.cancelled and not report.ok
    assert report.total == 12
    stalled = [r for r in report.results if "/s" in r.url]
    assert all(r.status in (FAILED, UNCONFIRMED) and "cancelled" in r.reason for r in stalled)
    import json
    features = json.loads((tmp_path / "layers" / "c" / "features.geojson").read_text("utf-8"))["features"]
    landed = {f["properties"]["ImagePath"] for f in features}
    assert landed == {r.url for r in report.results if r.status == "appended"}
    assert any("Cancelled" in m for m in report.messages)


def test_cli_exit_code_after_ctrl_c_is_130(tmp_path, monkeypatch):
    from xpgeo_core.commands import _report
    from xpgeo_core.results import AppendReport

    assert _report.exit_code(AppendReport("local", "x", cancelled=True)) == 130


def test_pro_cancel_button_stops_the_append_images_tool(tmp_path, monkeypatch):
    from toolbox_harness import arcpy, load_toolbox, run_tool

    arcpy.reset()
    host, urls, _ = _stalled_world(tmp_path, good=2, stalled=6)
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(urls) + "\n", encoding="utf-8")
    # The person presses Cancel while every read is stalled (no time-out: only Cancel can end them).
    threading.Timer(0.5, setattr, (arcpy.env, "isCancelled", True)).start()
    monkeypatch.setenv("XPGEO_TIMEOUT_SECONDS", "0")
    try:
        out = run_tool(load_toolbox(), "AppendImages", {"layer_name": "c", "url_file": str(listing),
                                                        "backend": "Local folder",
                                                        "output_folder": str(tmp_path / "layers")})
    finally:
        host.stop()
        arcpy.reset()
    import json
    report = json.loads(out["out_report"])
    assert report["cancelled"] is True and report["total"] == 8
    assert any(sev == "warning" and "Cancelled" in text for sev, text in arcpy.MESSAGES) or report["messages"]


def test_cancel_while_a_batch_hangs_shuts_its_socket_and_calls_it_not_confirmed(tmp_path):
    """addFeatures hangs (the portal did the work, its answer never comes; no time-out set): Cancel
    closes the socket, and the batch is reported not confirmed, never failed or appended."""
    from emulators.fault_proxy import FaultProxy, Rule
    from emulators.portal import PASSWORD, USER
    from portal_support import synthetic_photos
    from test_fault_matrix import ProxiedPortal

    host = ImageHost().start()
    portal = ProxiedPortal().start()
    proxy = FaultProxy(f"http://127.0.0.1:{portal.httpd.server_address[1]}", hang=60.0).start()
    portal.front = proxy.url
    settings = load_settings(environ={"XPGEO_PORTAL_URL": portal.portal_url, "XPGEO_USERNAME": USER,
                                      "XPGEO_PASSWORD": PASSWORD, "XPGEO_TIMEOUT_SECONDS": "0",
                                      "XPGEO_BATCH_SIZE": "3"})
    try:
        operations.create_layer(settings, "hang")
        urls = synthetic_photos(host, 6)
        proxy.state.rules = [Rule("addFeatures", ["hang_after"], probability=1.0)]
        ticks = []

        def progress(p):
            if p.kind == TICK:
                ticks.append(p)
                if len(ticks) == 8:
                    raise Cancelled()

        report = operations.append_images(settings, "hang", urls=urls, progress=progress)
        in_layer = {f["attributes"].get("ImagePath") for f in portal.features("hang")}
    finally:
        proxy.state.hang = 0
        proxy.stop(), portal.stop(), host.stop()
    assert report.cancelled
    for r in report.results:
        assert r.status in (UNCONFIRMED, FAILED), r
        if r.status == FAILED:
            assert r.url not in in_layer
    assert any(r.status == UNCONFIRMED for r in report.results)


def test_inspect_stopped_early_does_not_wait_for_stalled_photos(tmp_path):
    host, urls, settings = _stalled_world(tmp_path, good=1, stalled=6)
    try:
        infos = operations.inspect_photos(settings, urls)
        first = next(infos)
        infos.close()  # what Ctrl+C does to the command's loop: the stalled reads end now, not after a time-out
    finally:
        host.stop()
    assert first.ok
