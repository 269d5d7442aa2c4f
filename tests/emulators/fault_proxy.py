"""A fault-injecting reverse proxy on 127.0.0.1: what a flaky network does to XPGEO's requests.

It forwards each request to one upstream server (the fake XPGEO server, the portal emulator, a
photo host) and, for requests a rule matches, does one of these instead, chosen with a seeded
random generator so every run of a test is the same run:

==================  ==========================================================  =================
kind                what the client sees                                         the server...
==================  ==========================================================  =================
``http503``         503 with ``Retry-After: 0``                                  did nothing
``http429``         429 with ``Retry-After: 0``                                  did nothing
``http500``         a proxy's 500 page                                           did nothing
``http502``         a gateway's 502 page                                         did it
``reset_before``    the connection closed, no answer                             did nothing
``reset_unread``    a reset after the request's head, its body left unread       did nothing
``reset_after``     the connection closed, no answer                             did it
``hang_before``     no answer for ``hang`` seconds, then a close                 did nothing
``hang_after``      no answer for ``hang`` seconds, then a close                 did it
``cut_length``      the headers (true Content-Length), half the body, a close    did it
``cut_close``       no Content-Length, half the body, a close                    did it
``partial``         a JSON answer whose ``addResults`` lost its second half      did it
==================  ==========================================================  =================

A :class:`Rule` names a path substring, the kinds to pick from, a probability and a burst
length (a picked fault repeats for that many matching requests). ``latency`` delays every
answer (the ``kill -9`` tests); ``delay(method, path, body) -> seconds`` delays one answer by what
the request costs (the benchmark's addFeatures: a fixed cost plus a cost per feature). ``log``
records (path, kind) per request.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

try:
    from emulators.loopback import LoopbackServer
except ImportError:  # run as a script
    from loopback import LoopbackServer

DID_NOTHING = {"http503", "http429", "http500", "reset_before", "hang_before"}
DID_IT = {"http502", "reset_after", "hang_after", "cut_length", "cut_close", "partial"}
ALL_KINDS = tuple(sorted(DID_NOTHING | DID_IT))
UNREAD = "reset_unread"
"""Not in :data:`ALL_KINDS`: the XPGEO server's matrix adds it (a reset while the request is still being
written is the one reset a client can tell apart, when its write fails; a small request may be
written whole before the reset arrives, and is then as unsure as any other)."""
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade", "host",
               "content-length"}


@dataclass
class Rule:
    path: str
    """A substring of the request path (``/append-images``, ``addFeatures``, ``query``, ``.jpg``)."""
    kinds: Sequence[str]
    probability: float = 0.3
    burst: int = 1
    method: Optional[str] = None


@dataclass
class ProxyState:
    rules: List[Rule] = field(default_factory=list)
    seed: int = 0
    hang: float = 1.0
    latency: float = 0.0
    delay: Any = None
    log: List[Tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.Random)
    bursts: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)

    def pick(self, method: str, path: str) -> str:
        with self.lock:
            for index, rule in enumerate(self.rules):
                if rule.path not in path or (rule.method and rule.method != method):
                    continue
                kind, left = self.bursts.get(index, (None, 0))
                if left > 0:
                    self.bursts[index] = (kind, left - 1)
                elif self.rng.random() < rule.probability:
                    kind = self.rng.choice(list(rule.kinds))
                    self.bursts[index] = (kind, max(0, rule.burst - 1))
                else:
                    kind = None
                if kind:
                    self.log.append((path, kind))
                    return kind
            self.log.append((path, "ok"))
            return "ok"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: a cut body is delimited by the close
    state: ProxyState
    upstream: Tuple[str, int]

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _close(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _reply(self, status: int, body: bytes, headers: Sequence[Tuple[str, str]] = (),
               length: Optional[int] = None) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _forward(self, body: bytes) -> Tuple[int, List[Tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            headers["Host"] = "%s:%d" % self.upstream
            conn.request(self.command, self.path, body=body or None, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_HEADERS]
            return answer.status, kept, data
        finally:
            conn.close()

    def _handle(self) -> None:
        state = self.state
        kind = state.pick(self.command, urlsplit(self.path).path)
        if kind == UNREAD:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()  # an RST: the body is never read
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if state.latency:
            time.sleep(state.latency)
        if state.delay is not None:
            time.sleep(state.delay(self.command, urlsplit(self.path).path, body))
        if kind == "http503":
            return self._reply(503, b"busy", [("Retry-After", "0")], 4)
        if kind == "http429":
            return self._reply(429, b"slow down", [("Retry-After", "0")], 9)
        if kind == "http500":
            return self._reply(500, b"<html>500 Internal Server Error</html>", [("Content-Type", "text/html")], 38)
        if kind == "reset_before":
            return self._close()
        if kind == "hang_before":
            time.sleep(state.hang)
            return self._close()
        status, headers, data = self._forward(body)
        if kind == "ok":
            return self._reply(status, data, headers, len(data))
        if kind == "http502":
            return self._reply(502, b"<html>502 Bad Gateway</html>", [("Content-Type", "text/html")], 28)
        if kind == "reset_after":
            return self._close()
        if kind == "hang_after":
            time.sleep(state.hang)
            return self._close()
        if kind == "cut_length":
            self._reply(status, data[:len(data) // 2], headers, len(data))
            return self._close()
        if kind == "cut_close":
            self._reply(status, data[:len(data) // 2], headers)
            return self._close()
        if kind == "partial":
            try:
                document = json.loads(data)
                adds = document.get("addResults")
                if isinstance(adds, list) and len(adds) > 1:
                    document["addResults"] = adds[:len(adds) // 2]
                data = json.dumps(document).encode("utf-8")
            except (ValueError, AttributeError):
                pass
            return self._reply(status, data, headers, len(data))
        raise AssertionError(kind)


class FaultProxy(LoopbackServer):
    """``with FaultProxy(upstream_url, rules=[...], seed=7) as proxy: proxy.url``."""

    def __init__(self, upstream: str, **knobs: Any) -> None:
        parts = urlsplit(upstream)
        self.state = ProxyState(**knobs)
        handler = type("Handler", (_Handler,), {"state": self.state,
                                                 "upstream": (parts.hostname, parts.port or 80)})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def faults(self) -> List[str]:
        return [kind for _, kind in self.state.log if kind != "ok"]
