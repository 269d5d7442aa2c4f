"""XPGEO-server reruns finish the job: what the server provably did not take is sent again, and what
nobody can prove is listed with the command that proves it.

* the transport tells a request cut off while it was being written (the server cannot have it) from
  one written whole whose answer was lost (the server may have it);
* a 500 to an append says the server failed, not where: its images are checked, not re-sent blind;
* without a portal, the unproven images are in the report, ``--json``, the messages (Pro's too), each
  with the exact command that settles them.
"""

from __future__ import annotations

import json
import shlex
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from emulators.fault_proxy import UNREAD, FaultProxy, Rule
from emulators.xpgeo_server import FakeXpgeoServer
from toolbox_harness import arcpy, load_toolbox, run_tool
from xpgeo_core import operations
from xpgeo_core.backends.xpgeo import PORTAL_PLACEHOLDER
from xpgeo_core.errors import AnswerLost, RequestError
from xpgeo_core.http import describe_request_failure, make_session
from xpgeo_core.results import APPENDED, FAILED, UNCONFIRMED
from xpgeo_core.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
BIG = 24 << 20
"""A body larger than what loopback's socket buffers hold: its write fails when the peer resets."""


class HeadThenReset:
    """A raw server that reads each request's head and resets the connection, its body unread."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.heads = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.sock.getsockname()[1]

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.heads += 1
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self) -> None:
        self.sock.close()


def failure(session, url: str, **kwargs):
    try:
        session.request("POST", url, **kwargs)
    except requests.RequestException as exc:
        return describe_request_failure(exc, url)
    raise AssertionError("the request did not fail")


def test_a_write_reset_while_it_is_being_sent_never_reached_the_server_and_is_retried():
    server = HeadThenReset()
    try:
        session = make_session(load_settings({"retries": 2, "retry_backoff": 0, "timeout_seconds": 10}, environ={}))
        error = failure(session, server.url + "/append-images", data=b"x" * BIG)
        assert type(error) is RequestError and "sent whole" in error.message
        assert server.heads == 3  # never received whole: safe to send again, even for a write
    finally:
        server.close()


def test_a_write_sent_whole_whose_answer_is_lost_is_not_retried():
    """The other side of the line: written whole, then the connection dropped: the server may have it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    seen = []

    def serve():
        conn, _ = listener.accept()
        data = b""
        while not data.endswith(b"xyz"):
            data += conn.recv(65536)
        seen.append(len(data))
        conn.close()  # read it all, then a close without an answer

    threading.Thread(target=serve, daemon=True).start()
    try:
        session = make_session(load_settings({"retries": 2, "retry_backoff": 0, "timeout_seconds": 10}, environ={}))
        error = failure(session, "http://127.0.0.1:%d/append-images" % listener.getsockname()[1], data=b"xyz")
        assert isinstance(error, AnswerLost) and len(seen) == 1
    finally:
        listener.close()


def _big_urls(count: int):
    pad = "p" * (BIG // 3)
    return [f"https://photos.example.com/{pad}/img_{i}.jpg" for i in range(count)]


def test_a_chunk_reset_before_the_server_read_it_is_sent_again_by_the_rerun(tmp_path):
    with FakeXpgeoServer() as server:
        operations.create_layer(load_settings(environ={"XPGEO_REST_URL": server.url}), "lyr")
        with FaultProxy(server.url, rules=[Rule("/append-images", [UNREAD], probability=1.0)]) as proxy:
            settings = load_settings(environ={"XPGEO_REST_URL": proxy.url, "XPGEO_RETRIES": "1",
                                              "XPGEO_RETRY_BACKOFF": "0", "XPGEO_MAX_IMAGE_LIST_SIZE": "3"})
            urls = _big_urls(3)
            report = operations.append_images(settings, "lyr", urls=urls)
            assert [r.status for r in report.results] == [FAILED] * 3  # provably not taken, not "unconfirmed"
            assert "sent whole" in report.results[0].reason
            assert server.state.layers["lyr"] == []
            proxy.state.rules = []
            report = operations.append_images(settings, "lyr", urls=urls)
            assert [r.status for r in report.results] == [APPENDED] * 3
            assert server.state.layers["lyr"] == urls


def _no_portal_world(tmp_path, **knobs):
    server = FakeXpgeoServer(**knobs).start()
    operations.create_layer(load_settings(environ={"XPGEO_REST_URL": server.url}), "lyr")
    urls = [f"https://photos.example.com/s/img_{i}.jpg" for i in range(6)]
    listing = tmp_path / "my list.txt"
    listing.write_text("\n".join(urls) + "\n", encoding="utf-8")
    env = {"XPGEO_REST_URL": server.url, "XPGEO_RETRY_BACKOFF": "0", "XPGEO_MAX_IMAGE_LIST_SIZE": "3"}
    return server, urls, listing, env


@pytest.mark.parametrize("server_error", ["before", "after", "partial"])
def test_a_500_is_checked_never_re_sent_blind_and_the_cli_names_the_command(tmp_path, server_error):
    server, urls, listing, env = _no_portal_world(tmp_path, fail_append_calls={1}, server_error=server_error)
    try:
        child_env = dict(env, PYTHONPATH=str(ROOT))
        for attempt in range(2):  # the rerun cannot prove them either: it does not send them again
            done = subprocess.run([sys.executable, "-m", "xpgeo_core", "--json", "append-images", "--name", "lyr",
                                   "--file", str(listing)], env=child_env, cwd=str(tmp_path), capture_output=True,
                                  text=True)
            assert done.returncode == 1, done.stderr
            doc = json.loads(done.stdout)
            assert [r["status"] for r in doc["results"]] == [UNCONFIRMED] * 3 + [
                APPENDED if attempt == 0 else "skipped"] * 3
            unproven = doc["extra"]["unproven"]
            assert unproven["images"] == urls[:3] and unproven["count"] == 3
            command = unproven["command"]
            assert shlex.split(command) == ["XPGEO_API_KEY=YOUR-KEY", "xpgeo", "--portal-url", PORTAL_PLACEHOLDER,
                                            "append-images", "--name", "lyr", "--file", str(listing)]
            assert command in done.stderr and command in " ".join(doc["messages"])
        stored = {"before": 0, "after": 3, "partial": 1}[server_error]
        assert server.state.layers["lyr"] == urls[:stored] + urls[3:]  # never twice
    finally:
        server.stop()


def test_pro_messages_name_the_unproven_images_and_how_to_prove_them(tmp_path, monkeypatch):
    server, urls, listing, env = _no_portal_world(tmp_path, fail_append_calls={2})
    try:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        arcpy.reset()
        result = run_tool(load_toolbox(), "AppendImages", {"layer_name": "lyr", "url_file": str(listing),
                                                          "image_urls": ["https://photos.example.com/extra.jpg"]})
        report = json.loads(result["out_report"])
        assert report["unconfirmed"] == 3 and report["extra"]["unproven"]["count"] == 3
        warnings = [text for kind, text in arcpy.MESSAGES if kind == "warning"]
        note = next(w for w in warnings if "cannot be proven" in w)
        assert "Portal URL" in note
        # the images came from a list and the tool's own URLs: the command takes a list of exactly them
        listed = Path(shlex.split(report["extra"]["unproven"]["command"])[-1])
        assert listed.read_text("utf-8").split() == report["extra"]["unproven"]["images"]
        assert str(listed) in note
    finally:
        server.stop()
        arcpy.reset()
