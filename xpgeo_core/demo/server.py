"""A loopback HTTP server for in-memory photos (standard library only).

Why byte ranges: the metadata engine reads only a photo's header with ``Range``
requests, as it would from S3 or a web server, so the demo exercises that path too.
Bound to 127.0.0.1 on a free port chosen by the system: nothing is exposed to the
network, and two demos never collide.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Mapping, Optional, Tuple
from urllib.parse import quote, unquote, urlsplit

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    server_version = "xpgeo-demo"
    protocol_version = "HTTP/1.1"  # keep-alive: the engine reads each header with a few range requests
    disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart (delayed ACK)
    files: Mapping[str, bytes] = {}

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(send_body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(send_body=True)

    def _answer(self, send_body: bool) -> None:
        name = unquote(urlsplit(self.path).path.lstrip("/"))
        data = self.files.get(name)
        if data is None:
            self._send(404, b"not found\n", "text/plain", send_body)
            return
        wanted = _byte_range(self.headers.get("Range"), len(data))
        if wanted == "unsatisfiable":
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if wanted is None:
            self._send(200, data, "image/jpeg", send_body)
            return
        start, end = wanted
        self._send(206, data[start:end + 1], "image/jpeg", send_body,
                   {"Content-Range": f"bytes {start}-{end}/{len(data)}"})

    def _send(self, status: int, body: bytes, content_type: str, send_body: bool,
              extra: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Access-Control-Allow-Origin", "*")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # quiet: the demo prints its own lines
        pass


def _byte_range(header: Optional[str], size: int):
    """(start, end) inclusive for one ``bytes=`` range, None for the whole file, or "unsatisfiable"."""
    match = _RANGE.match((header or "").strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    else:  # a suffix: the last N bytes
        start, end = max(0, size - int(last)), size - 1
    if start >= size or start > end:
        return "unsatisfiable"
    return start, end


class _LoopbackServer:
    """An HTTP server on 127.0.0.1 in a daemon thread; a context manager (:meth:`stop` frees the port)."""

    def __init__(self, handler, port: int, thread_name: str) -> None:
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError:  # the port is taken: any free one
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=thread_name, daemon=True)

    @property
    def address(self) -> Tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def base_url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}/"

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class PhotoServer(_LoopbackServer):
    """Serves ``{file name: bytes}`` at ``http://127.0.0.1:<port>/<name>`` from a thread."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        handler = type("DemoHandler", (_Handler,), {"files": dict(files)})
        super().__init__(handler, 0, "xpgeo-demo-photos")
        self.names = list(files)

    def url_for(self, name: str) -> str:
        return self.base_url + quote(name)

    def urls(self) -> list:
        return [self.url_for(name) for name in self.names]


class FolderServer(_LoopbackServer):
    """Serves one folder's files read-only at ``http://127.0.0.1:<port>/`` (``xpgeo demo --serve``).

    Why: some browsers (and some company policies) block ``file://`` pages from loading
    images; the layer folder over loopback HTTP shows the same page and photos. *port* 0
    picks a free port; a taken port falls back to a free one.
    """

    def __init__(self, folder, port: int = 0) -> None:
        import functools
        from http.server import SimpleHTTPRequestHandler

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args) -> None:  # quiet: the demo prints its own lines
                pass

            def list_directory(self, path):  # the layer's files, not a browsable tree
                self.send_error(404, "No index here: open preview.html")
                return None

        super().__init__(functools.partial(Handler, directory=str(folder)), port, "xpgeo-demo-folder")
