"""A fake AerialSphere XPGEO REST server: a real HTTP server on 127.0.0.1.

It implements the contract in ``docs/xpgeo-rest-api.md`` with the server's own error
wording, records every request (method, path, query, headers, body) so tests can
check what went over the wire, and has knobs for failures:

* ``api_key``: when set, requests must carry ``Authorization: Bearer <key>`` (else 401);
* ``max_list_size``: the server's maximum image-list size (422 above it);
* ``fail_append_calls``: 1-based numbers of ``/append-images`` calls answered with ``fail_status``
  (500; a 503 says the server is unavailable, and then it did nothing, whatever ``server_error``);
* ``server_error``: what such a call did before its 500, which the public contract does not say:
  ``before`` (nothing stored: the failure came first), ``after`` (all stored, then the extent
  update failed) or ``partial`` (the first half stored, then an image failed);
* ``duplicates``: whether the server de-duplicates on ImagePath, which the contract does not say:
  ``append`` (an image sent again is a second feature) or ``ignore`` (an ImagePath the layer holds
  is left out, and the answer is still ``true``);
* ``error_body_calls``: 1-based numbers of ``/append-images`` calls answered HTTP 200 with an
  ``{"error": ...}`` body (nothing stored), as some gateways and older servers do;
* ``taken``: layer names that already exist (create then adds a timestamp);
* ``on_append``: called with (layer name, image URLs) after each append is stored (a test
  mirrors the layer into a portal emulator, as the real server writes to its portal).

Run on its own: ``python tests/emulators/xpgeo_server.py --port 0`` prints its URL.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Set
from urllib.parse import parse_qs, urlsplit

try:
    from emulators.loopback import LoopbackServer
except ImportError:  # run as a script: python tests/emulators/<name>.py
    from loopback import LoopbackServer

VERSIONS = {"currentVersion": "2025.1", "enterpriseVersion": "11.5.0", "enterpriseBuild": "56755"}


@dataclass
class Recorded:
    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]
    body: bytes
    raw_path: str


@dataclass
class FakeXpgeoState:
    api_key: Optional[str] = None
    max_list_size: int = 100
    fail_append_calls: Set[int] = field(default_factory=set)
    error_body_calls: Set[int] = field(default_factory=set)
    on_append: Optional[Any] = None
    fail_status: int = 500
    server_error: str = "before"
    duplicates: str = "append"
    taken: Set[str] = field(default_factory=set)
    unknown_layer: str = "item_id_required"
    """How an append to a layer the server lacks is answered: ``item_id_required`` (the documented 400
    "Item ID is required when updating the extent") or ``not_found`` (a 404)."""
    layers: Dict[str, List[str]] = field(default_factory=dict)
    requests: List[Recorded] = field(default_factory=list)
    append_calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _url_ok(url: Any) -> bool:
    if not isinstance(url, str) or not url:
        return False
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeXPGEO/1.0"
    state: FakeXpgeoState

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else (
            json.dumps(body).encode() if content_type == "application/json" else str(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", content_type + "; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": message})

    def _unknown_layer(self, name: str) -> None:
        if self.state.unknown_layer == "not_found":
            return self._error(404, f"Layer {name} not found")
        return self._error(400, "Item ID is required when updating the extent")

    def _record(self, body: bytes) -> Recorded:
        parts = urlsplit(self.path)
        rec = Recorded(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body, self.path)
        with self.state.lock:
            self.state.requests.append(rec)
        return rec

    def _authorized(self) -> bool:
        if not self.state.api_key:
            return True
        return self.headers.get("Authorization") == f"Bearer {self.state.api_key}"

    def do_GET(self) -> None:
        rec = self._record(b"")
        if not self._authorized() and rec.path != "/":
            return self._error(401, "Invalid API key")
        q = {k: v[0] for k, v in rec.query.items()}
        if rec.path == "/":
            return self._send(200, "The app is running...", "text/plain")
        if rec.path == "/enterprise-server-health-check":
            return self._send(200, "Validation response: " + json.dumps(VERSIONS, separators=(",", ":")),
                              "text/plain")
        if rec.path == "/create-oi-layer":
            name = q.get("name", "").strip()
            if not name:
                return self._error(400, "Missing layer name")
            with self.state.lock:
                created = name
                if name in self.state.layers or name in self.state.taken:
                    created = name + time.strftime("_%Y%m%d_%H%M%S", time.gmtime())
                self.state.layers[created] = []
            item_id = ("%032x" % abs(hash(created)))[:32]
            return self._send(200, {"serviceName": created, "serviceItemId": item_id,
                                    "serviceType": "Feature Service", "layer": {"name": created, "id": 0}})
        if rec.path == "/append-image":
            name, url = q.get("name"), q.get("imageUrl")
            if not name or not url:
                return self._error(400, "Missing layer name or image URL")
            if not _url_ok(url):
                return self._error(422, "Malformed image URL string")
            if name not in self.state.layers:
                return self._unknown_layer(name)
            self._store(name, [url])
            return self._send(200, "response: true", "text/plain")
        return self._error(404, "Not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec = self._record(body)
        if not self._authorized():
            return self._error(401, "Invalid API key")
        if rec.path != "/append-images":
            return self._error(404, "Not found")
        with self.state.lock:
            self.state.append_calls += 1
            call = self.state.append_calls
        if not body:
            return self._error(400, "Missing JSON body")
        try:
            doc = json.loads(body)
        except ValueError:
            return self._error(400, "Missing JSON body")
        name, images = doc.get("name"), doc.get("imageList")
        if not name or images is None:
            return self._error(400, "Missing layer name or image list")
        if not isinstance(images, list) or len(images) > self.state.max_list_size:
            return self._error(422, "Image list is either not an array or exceeds maximum size")
        if not all(_url_ok(u) for u in images):
            return self._error(422, "Malformed image URL string in the list")
        if name not in self.state.layers:
            return self._unknown_layer(name)
        if call in self.state.fail_append_calls:
            done = {"before": 0, "after": len(images), "partial": len(images) // 2}[self.state.server_error]
            if self.state.fail_status == 500:
                self._store(name, images[:done])
                return self._error(500, "Internal Server Error")
            return self._error(self.state.fail_status, "Service Unavailable")
        if call in self.state.error_body_calls:
            return self._send(200, {"error": "Unable to add the images to the layer"})
        self._store(name, images)
        return self._send(200, "true", "application/json")

    def _store(self, name: str, images: List[str]) -> None:
        with self.state.lock:
            layer = self.state.layers[name]
            if self.state.duplicates == "ignore":
                images = [u for n, u in enumerate(images) if u not in layer and u not in images[:n]]
            layer.extend(images)
            if self.state.on_append and images:
                self.state.on_append(name, list(images))


class FakeXpgeoServer(LoopbackServer):
    """Context manager: ``with FakeXpgeoServer(api_key="k") as server: server.url``."""

    def __init__(self, **knobs: Any) -> None:
        self.state = FakeXpgeoState(**knobs)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key")
    parser.add_argument("--max-list-size", type=int, default=100)
    args = parser.parse_args()
    server = FakeXpgeoServer(api_key=args.api_key, max_list_size=args.max_list_size)
    if args.port:
        server.httpd.server_close()
        handler = type("Handler", (_Handler,), {"state": server.state})
        server.httpd = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    print(server.url, flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    _main()
