"""The metadata engine over real loopback HTTP: range reads, never HEAD, errors, order, CLI, preflight."""

from __future__ import annotations

import errno
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List

import pytest

import test_xpgeo_cli
from emulators.image_host import ImageHost
from xpgeo_core.metadata import inspect_source
from xpgeo_core.operations import inspect_photos
from xpgeo_core.sample_photos import make_jpeg
from xpgeo_core.settings import load_settings

SETTINGS = load_settings(environ={}).replace(retry_backoff=0.0)
BIG = make_jpeg(lat=48.85, lon=2.29, heading=10.0, focal_length_35mm=26, pixel_size=(4000, 3000),
                target_size=3_000_000)
SECRET = "SIG-5e1c7a9b3d"


@pytest.fixture
def host():
    with ImageHost() as h:
        yield h


def gets(host: ImageHost) -> List[str]:
    assert all(r.method == "GET" for r in host.requests), [r.method for r in host.requests]
    return [r.range for r in host.requests]


def test_first_read_is_a_64k_range_and_nothing_more(host):
    info = inspect_source(host.add("big.jpg", BIG), settings=SETTINGS)
    assert info.ok, info.error
    assert info.bytes_read == 65536
    assert gets(host) == ["bytes=0-65535"]
    assert info.attributes["CameraHeading"] == pytest.approx(10.0)


def test_late_xmp_fetches_more_ranges_but_skips_the_padding(host):
    data = make_jpeg(lat=1, lon=2, pad_before_xmp=300_000, dji={"GimbalYawDegree": 33.0}, target_size=2_000_000)
    info = inspect_source(host.add("late.jpg", data), settings=SETTINGS)
    assert info.ok and info.attributes["CameraHeading"] == pytest.approx(33.0)
    ranges = gets(host)
    assert ranges[0] == "bytes=0-65535" and len(ranges) > 1
    assert all(r and r.startswith("bytes=") for r in ranges)
    assert info.bytes_read < 300_000  # the padding segments were jumped over, not downloaded


def test_server_ignoring_range_is_streamed_and_closed_early():
    with ImageHost(honour_range=False) as host:
        info = inspect_source(host.add("big.jpg", BIG), settings=SETTINGS)
        assert info.ok, info.error
        assert 0 < info.bytes_read <= 65536 + 16384
        assert len(gets(host)) == 1


def test_late_xmp_when_range_is_ignored():
    data = make_jpeg(lat=1, lon=2, pad_before_xmp=300_000, dji={"GimbalYawDegree": 33.0}, target_size=1_000_000)
    with ImageHost(honour_range=False) as host:
        info = inspect_source(host.add("late.jpg", data), settings=SETTINGS)
        assert info.ok and info.attributes["CameraHeading"] == pytest.approx(33.0)
        assert len(gets(host)) == 1 and info.bytes_read < len(data)


@pytest.mark.parametrize("honour_range", [True, False])
def test_max_header_bytes_cap_over_http(honour_range):
    """A header running past MAX_HEADER_BYTES is header_too_large, with at most one read chunk past the cap."""
    from xpgeo_core.metadata.fetch import STREAM_CHUNK

    cap = 64 * 1024 + 512  # the ten padding segments' headers and the XMP cost more than the 512 bytes left
    data = make_jpeg(lat=1, lon=2, pad_before_xmp=600 * 1024, dji={"GimbalYawDegree": 1.0}, target_size=1_000_000)
    with ImageHost(honour_range=honour_range) as host:
        url = host.add("late.jpg", data)
        info = inspect_source(url, settings=SETTINGS.replace(max_header_bytes=cap))
        assert info.error_code == "header_too_large" and "MAX_HEADER_BYTES" in info.error
        assert 0 < info.bytes_read <= cap + (0 if honour_range else STREAM_CHUNK)
        info = inspect_source(url, settings=SETTINGS)  # the default 1 MiB cap reaches the XMP
        assert info.ok and (info.bytes_read <= 128 * 1024 if honour_range else info.bytes_read > 600 * 1024)
        gets(host)


class _WrongOffsetHandler(BaseHTTPRequestHandler):
    """Answers every GET with 206 for bytes 100-... whatever range was asked for."""

    def do_GET(self):
        body = BIG[100:100 + 65536]
        self.send_response(206)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Range", "bytes 100-%d/%d" % (100 + len(body) - 1, len(BIG)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


def test_206_at_the_wrong_offset_is_http_range():
    """A 206 whose Content-Range does not start where asked is error_code http_range, not misread bytes."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WrongOffsetHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        info = inspect_source("http://127.0.0.1:%d/p.jpg" % server.server_address[1],
                              settings=SETTINGS.replace(retries=0))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert not info.ok and info.error_code == "http_range", info.error
    assert "bytes 100-" in info.error and "from 0" in info.error


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads a chmod-000 file")
def test_file_without_read_permission_is_file_unreadable(tmp_path):
    """chmod 000 on a local photo gives file_unreadable."""
    path = tmp_path / "locked.jpg"
    path.write_bytes(make_jpeg(lat=1, lon=2))
    path.chmod(0)
    try:
        info = inspect_source(str(path), settings=SETTINGS)
    finally:
        path.chmod(0o600)
    assert info.error_code == "file_unreadable" and "cannot be read" in info.error


def test_open_or_read_failing_is_file_unreadable(tmp_path, monkeypatch):
    """PermissionError on open, and an I/O error while reading, are file_unreadable (works as root too)."""
    from xpgeo_core.metadata import fetch

    path = tmp_path / "photo.jpg"
    path.write_bytes(make_jpeg(lat=1, lon=2))
    real_open = open

    class FailingReads:
        def __init__(self, handle):
            self.handle = handle

        def fileno(self):
            return self.handle.fileno()

        def seek(self, offset):
            return self.handle.seek(offset)

        def read(self, size):
            raise OSError(errno.EIO, "Input/output error")

        def close(self):
            self.handle.close()

    def denied(file, *args, **kw):
        if str(file) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kw)

    monkeypatch.setattr(fetch, "open", denied, raising=False)
    info = inspect_source(str(path), settings=SETTINGS)
    assert info.error_code == "file_unreadable" and "Permission denied" in info.error
    monkeypatch.setattr(fetch, "open", lambda file, *a, **kw: FailingReads(real_open(file, *a, **kw)), raising=False)
    info = inspect_source(str(path), settings=SETTINGS)
    assert info.error_code == "file_unreadable" and "Input/output error" in info.error


@pytest.mark.parametrize("status", [404, 500, 403])
def test_http_errors(host, status):
    url = host.add("x.jpg", b"", status=status) + "?X-Amz-Signature=" + SECRET
    info = inspect_source(url, settings=SETTINGS)
    assert not info.ok and info.error_code == "http_status" and info.error.startswith("HTTP %d" % status)
    assert SECRET not in json.dumps(info.to_dict()["error"])
    gets(host)


def test_unknown_path_is_404(host):
    host.add("a.jpg", BIG)
    info = inspect_source(host.url_for("missing.jpg"), settings=SETTINGS)
    assert "HTTP 404" in info.error


def test_html_served_as_jpeg(host):
    url = host.add("page.jpg", b"<!DOCTYPE html><html><body>Sign in</body></html>", content_type="image/jpeg")
    info = inspect_source(url, settings=SETTINGS)
    assert info.error_code == "not_jpeg" and "HTML page" in info.error and "image/jpeg" in info.error


def test_empty_file_416(host):
    info = inspect_source(host.add("empty.jpg", b""), settings=SETTINGS)
    assert not info.ok and info.error_code == "not_jpeg" and "empty" in info.error


def test_stalled_server_times_out():
    fast = SETTINGS.replace(timeout_seconds=0.2, retries=0)
    with ImageHost() as host:
        info = inspect_source(host.add("stall.jpg", BIG, stall=True), settings=fast)
    assert info.error_code == "network" and "did not answer in time" in info.error


def test_connection_refused():
    with ImageHost() as host:
        url = host.url_for("gone.jpg")
    info = inspect_source(url, settings=SETTINGS.replace(retries=0))
    assert info.error_code == "network" and "could not connect" in info.error


def test_presigned_url_that_signed_range_gets_no_range_header(host):
    url = host.add("s3.jpg", BIG) + "?X-Amz-SignedHeaders=host%3Brange&X-Amz-Signature=abc"
    info = inspect_source(url, settings=SETTINGS)
    assert info.ok and gets(host) == [None]
    assert info.bytes_read <= 65536 + 16384


def test_local_paths_and_file_urls(tmp_path):
    path = tmp_path / "my photo.jpg"
    path.write_bytes(BIG)
    for source in (str(path), path.as_uri()):
        info = inspect_source(source, settings=SETTINGS)
        assert info.ok and info.bytes_read == 65536 and info.attributes["Name"] == "my photo"
    info = inspect_source(str(tmp_path / "nope.jpg"), settings=SETTINGS)
    assert info.error_code == "file_not_found"
    assert inspect_source(str(tmp_path), settings=SETTINGS).error_code == "file_not_found"


def test_the_photo_pass_keeps_input_order_and_uses_only_get(host, tmp_path):
    local = tmp_path / "local.jpg"
    local.write_bytes(make_jpeg(lat=5, lon=6))
    sources = []
    for i in range(40):
        if i % 7 == 3:
            sources.append(host.add("bad%d.jpg" % i, b"", status=404))
        elif i % 11 == 5:
            sources.append(str(local))
        else:
            sources.append(host.add("p%d.jpg" % i, make_jpeg(lat=i * 0.5, lon=1.0)))
    results = list(inspect_photos(SETTINGS.replace(fetch_concurrency=4), sources))
    assert [r.source for r in results] == sources
    for i, info in enumerate(results):
        if i % 7 == 3:
            assert not info.ok
        elif i % 11 == 5:
            assert info.attributes["Y"] == pytest.approx(5)
        else:
            assert info.ok and info.attributes["Y"] == pytest.approx(i * 0.5)
    gets(host)


def test_the_photo_pass_consumes_inputs_lazily(host):
    url = host.add("a.jpg", make_jpeg(lat=1, lon=1))
    pulled = []

    def sources():
        for i in range(1000):
            pulled.append(i)
            yield url

    settings = SETTINGS.replace(fetch_concurrency=2)
    results = inspect_photos(settings, sources())
    first = next(results)
    assert first.ok and len(pulled) <= 2 * 4 + 1  # the bounded window, not the whole list
    results.close()


def test_host_latency_and_bandwidth_use_the_injected_sleep():
    waits = []
    with ImageHost(latency=0.02, bandwidth=1_000_000, sleep=waits.append, clock=lambda: 100.0) as host:
        inspect_source(host.add("a.jpg", BIG), settings=SETTINGS)
        inspect_source(host.add("b.jpg", BIG), settings=SETTINGS)
    # frozen clock: latency then 64 KiB at 1 MB/s; the second answer also queues behind the first
    assert waits == [pytest.approx(0.02 + 0.065536), pytest.approx(0.02 + 2 * 0.065536)]
    waits.clear()
    # a token bucket one answer deep: the first answer leaves after the latency alone, the second
    # still waits for the first one's bytes to drain at 1 MB/s
    with ImageHost(latency=0.02, bandwidth=1_000_000, burst=65536, sleep=waits.append, clock=lambda: 100.0) as host:
        inspect_source(host.add("a.jpg", BIG), settings=SETTINGS)
        inspect_source(host.add("b.jpg", BIG), settings=SETTINGS)
        inspect_source(host.add("c.jpg", BIG), settings=SETTINGS)
    assert waits == [pytest.approx(0.02), pytest.approx(0.02 + 0.065536), pytest.approx(0.02 + 2 * 0.065536)]
    waits.clear()
    with ImageHost(latency=0.02, sleep=waits.append, clock=lambda: 0.0) as host:
        inspect_source(host.add("a.jpg", BIG), settings=SETTINGS)
        inspect_source(host.url_for("missing.jpg"), settings=SETTINGS)
    assert waits == [0.02, 0.02]


# -- command line ---------------------------------------------------------------------------------

run_cli = test_xpgeo_cli.run  # one way to call the CLI in tests

def test_cli_inspect_json_array_in_input_order(host, tmp_path):
    good = host.add("good.jpg", make_jpeg(lat=1, lon=2, dji={"GimbalPitchDegree": -90.0}))
    bad = host.add("bad.jpg", b"<html>", content_type="image/jpeg")
    listing = tmp_path / "list.txt"
    listing.write_text("# photos\n\n%s\n" % bad, encoding="utf-8")
    code, out, err = run_cli(["inspect", "--json", good, "--file", str(listing)])
    assert code == 1, err
    document = json.loads(out)
    assert [d["source"] for d in document] == [good, bad]
    assert document[0]["ok"] and document[0]["attributes"]["OrientedImageryType"] == "Nadir"
    assert not document[1]["ok"] and "HTML" in document[1]["error"]
    assert set(document[0]) == {"source", "ok", "error", "bytes_read", "warnings", "attributes"}
    assert len(document[0]["attributes"]) == 17

    code, out, _ = run_cli(["inspect", good, "--imagery-type", "oblique"])
    assert code == 0 and "Oblique" in out and out.splitlines()[0].startswith("Name")


def test_cli_inspect_usage_errors(tmp_path):
    assert run_cli(["inspect"])[0] == 2
    assert run_cli(["inspect", "--file", str(tmp_path / "missing.txt")])[0] == 2
    assert run_cli(["inspect", "x.jpg", "--imagery-type", "sideways"])[0] == 2


def test_preflight_unit(host):
    """--preflight is the pipeline's one pass: photos that cannot be placed fail and are not sent."""
    from xpgeo_core.pipeline import gather, run_append
    from xpgeo_core.pipeline.sink import Sink, result

    class UrlSink(Sink):
        takes_photos = False

        def __init__(self):
            super().__init__("lyr", 10)
            self.sent = []

        def send(self, items):
            self.sent += [i.image.fetch_url for i in items]
            return {i.image.image_path: result(i.image, "appended") for i in items}

    good = host.add("good.jpg", make_jpeg(lat=1, lon=2))
    nogps = host.add("nogps.jpg", make_jpeg(datetime_original="2020:01:01 00:00:00"))
    missing = host.url_for("missing.jpg")
    sink = UrlSink()
    report = run_append(sink, gather([(None, good), (None, nogps), (None, missing)]).images, settings=SETTINGS,
                        preflight=True)
    assert sink.sent == [good]
    reasons = {r.url: r.reason for r in report.failures()}
    assert reasons[nogps].startswith("preflight: no GPS position")
    assert reasons[missing].startswith("preflight: HTTP 404")
    assert len([r for r in host.requests if r.path.endswith("good.jpg")]) == 1  # read once


def test_append_images_preflight_end_to_end(host, tmp_path):
    server_mod = pytest.importorskip("emulators.xpgeo_server")
    good = [host.add("g%d.jpg" % i, make_jpeg(lat=1 + i, lon=2)) for i in range(3)]
    bad = host.add("html.jpg", b"<html></html>", content_type="image/jpeg")
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(good[:2] + [bad] + good[2:]) + "\n", encoding="utf-8")
    with server_mod.FakeXpgeoServer() as server:
        env = {"XPGEO_REST_URL": server.url, "XPGEO_API_KEY": "k-123456", "XPGEO_RETRY_BACKOFF": "0"}
        assert run_cli(["create-oi-layer", "--name", "lyr"], env)[0] == 0
        code, out, err = run_cli(["--json", "append-images", "--name", "lyr", "--file", str(listing),
                                  "--preflight"], env)
        sent = [json.loads(r.body) for r in server.state.requests if r.path == "/append-images"]
    assert code == 1, err
    report = json.loads(out)
    assert report["appended"] == 3 and report["failed"] == 1
    sent_urls = [u for body in sent for u in (body.get("imageUrls") or body.get("image_urls") or
                                             body.get("urls") or [])]
    assert bad not in json.dumps(sent) and all(u in json.dumps(sent) for u in good), sent_urls
    failures = [r for r in report["results"] if r.get("status") == "failed"]
    assert failures and "preflight" in json.dumps(failures) and "HTML" in json.dumps(failures)
    gets(host)


def test_cli_inspect_never_shows_a_urls_password_or_signature(host):
    """A photo that cannot be read has no Name: the table and --json name it by its URL, which must
    lose its user:password and its presigned signature (both)."""
    base = host.url_for("gone.jpg")
    url = base.replace("http://", "http://alice:PW-" + SECRET + "@") + "?X-Amz-Signature=SIG-" + SECRET
    code, out, err = run_cli(["inspect", url])
    assert code == 1 and SECRET not in out + err
    assert out.splitlines()[1].startswith("!" + base[:22])
    code, out, err = run_cli(["inspect", "--json", url])
    assert code == 1 and SECRET not in out + err
    assert json.loads(out)[0]["source"] == base
