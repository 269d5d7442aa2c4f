"""A loopback image host: serves in-memory photos over real HTTP on 127.0.0.1, port 0.

Why: the metadata engine's promises (range reads, never HEAD, streaming when Range is
ignored, clear errors for 404/500/HTML/time-outs) can only be checked against a server
that behaves in each of those ways on demand. Other tests and the benchmark reuse it to
serve photos.

API (small on purpose)::

    with ImageHost() as host:                 # start() / stop() also work
        url = host.add("a.jpg", data)         # -> host.url_for("a.jpg")
        host.add("gone.jpg", b"", status=404)
        host.add("page.jpg", b"<html>...", content_type="image/jpeg")
        host.add("slow.jpg", data, stall=True)   # never answers: use a tiny client time-out
        host.add("old.jpg", status=302, location="/a.jpg")   # a redirect
        host.add("busy.jpg", data, failures=2)   # 503 (Retry-After: 0) twice, then the photo
        host.add("private.jpg", data, auth="u:p")    # 403 without that Basic user:password
        host.add("signed.jpg", data, signed=True)    # 403 without an X-Amz-Signature in the query
        host.add("gate.jpg", status=302, location="/kept.jpg", set_cookie="pass=1")  # a bot check's cookie
        host.add("kept.jpg", data, cookie="pass=1")  # 403 without that cookie
        ...
        host.requests                          # [Request(method, path, range, headers, peer), ...]

Knobs on the host: ``cors`` (True: every answer carries ``Access-Control-Allow-Origin: *``, as
an S3 bucket or CDN with a CORS rule does; Esri's web viewer fetches photos with ``fetch``, so a
browser refuses a photo from a host without it; a string: that value, whatever the request's
``Origin``, as a host configured for another site; a sequence of origins: the request's ``Origin``
echoed when it is one of them, with ``Vary: Origin``, as S3 answers a CORS rule that lists origins),
``tls`` (``(cert.pem, key.pem)`` from ``tests/certs.py``: serve https), ``honour_range`` (False:
answer 200 with the whole body, as Python's ``http.server`` does), ``latency`` seconds from a
request's arrival to its answer's first byte, headers included (its own parsing happens inside it), ``bandwidth`` bytes/s shared by all
connections (one link), ``burst`` the depth in bytes of that link's token bucket (0, the default:
a serialised wire where every byte waits its turn; the benchmark's 50 MB/s cap uses one 64 KiB
write), ``sleep`` and ``clock`` (the functions used to wait and to tell
the time; tests pass a recorder and a frozen clock so nothing depends on wall-clock time).
``data`` may be ``bytes`` or a sequence of ``bytes`` parts served back to back (the
benchmark shares one large body between many photos without copying it).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import quote, unquote, urlsplit

Body = Union[bytes, Sequence[bytes]]
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
CHUNK = 64 * 1024


@dataclass
class Photo:
    parts: Tuple[bytes, ...]
    content_type: str = "image/jpeg"
    status: int = 200
    stall: bool = False
    location: Optional[str] = None
    failures: int = 0  # answers 503 this many more times before serving the photo
    auth: Optional[str] = None  # "user:password" a request must carry as Basic auth, else 403
    signed: bool = False  # a request must carry X-Amz-Signature in its query, else 403
    cookie: Optional[str] = None  # "name=value" a request must carry in its Cookie header, else 403
    set_cookie: Optional[str] = None  # a redirect's Set-Cookie

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.parts)

    def slices(self, start: int, stop: int):
        """memoryview pieces of bytes [start, stop) across the parts."""
        offset = 0
        for part in self.parts:
            end = offset + len(part)
            if end > start and offset < stop:
                yield memoryview(part)[max(start - offset, 0):min(stop, end) - offset]
            offset = end
            if offset >= stop:
                break


@dataclass
class Request:
    method: str
    path: str
    range: Optional[str]
    headers: Dict[str, str] = field(default_factory=dict)
    peer: Tuple[str, int] = ("", 0)  # the client's address: one per connection


class _Link:
    """A link of *rate* bytes/s shared by every connection, with a token bucket *burst* bytes deep.

    ``burst=0`` is a serialised link: every chunk waits for its own transfer time behind the
    bytes reserved before it (a 50 MB/s wire). ``burst>0`` is a rate cap on a faster wire (a
    cloud egress or CDN limit, ``tc tbf``): an answer leaves at once while no more than *burst*
    bytes are queued, and the average rate still never exceeds *rate*.
    """

    def __init__(self, rate: Optional[float], sleep: Callable[[float], None], clock: Callable[[], float],
                 burst: int = 0) -> None:
        self.rate = rate
        self.burst = burst
        self.sleep = sleep
        self.clock = clock
        self.lock = threading.Lock()
        self.free_at = 0.0  # when every byte reserved so far has drained at *rate*

    def send(self, n: int, not_before: float = 0.0) -> None:
        """Wait until *n* bytes may leave: not before *not_before* (the request's arrival plus
        its latency, on ``clock``) and not while more than ``burst`` bytes are queued ahead of
        them. One sleep per call, so sleep overshoot is paid once."""
        with self.lock:
            now = self.clock()
            start = max(now, not_before)
            if self.rate:
                self.free_at = max(self.free_at, start) + n / self.rate
                start = max(start, self.free_at - self.burst / self.rate)
            wait = start - now
        if wait > 0:
            self.sleep(wait)


class ImageHost:
    def __init__(self, *, cors: Union[bool, str, Sequence[str]] = False, honour_range: bool = True,
                 latency: float = 0.0, bandwidth: Optional[float] = None, burst: int = 0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 tls: Optional[Tuple[str, str]] = None) -> None:
        self.cors = cors
        self.tls = tls
        self.honour_range = honour_range
        self.latency = latency
        self.sleep = sleep
        self.link = _Link(bandwidth, sleep, clock, burst)
        self.photos: Dict[str, Photo] = {}
        self.requests: List[Request] = []
        self._log_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.log_requests = True

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> "ImageHost":
        host = self

        class Handler(_Handler):
            owner = host

        self._server = _Server(("127.0.0.1", 0), Handler)
        if self.tls:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="image-host", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "ImageHost":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- content --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("ImageHost is not started")
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self._server.server_address[1])

    def url_for(self, name: str) -> str:
        return self.base_url + "/" + quote(name)

    def add(self, name: str, data: Body = b"", *, content_type: str = "image/jpeg", status: int = 200,
            stall: bool = False, location: Optional[str] = None, failures: int = 0, auth: Optional[str] = None,
            signed: bool = False, cookie: Optional[str] = None, set_cookie: Optional[str] = None) -> str:
        parts = (bytes(data),) if isinstance(data, (bytes, bytearray, memoryview)) else tuple(data)
        self.photos[name] = Photo(parts, content_type, status, stall, location, failures, auth, signed, cookie,
                                  set_cookie)
        return self.url_for(name)

    def _log(self, request: Request) -> None:
        with self._log_lock:
            self.requests.append(request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connection attempts when 32 workers connect at once;
    # each dropped SYN costs the client a one-second retransmit, which is not the client's doing.
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    owner: ImageHost
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and small bodies leave at once, as from a real CDN

    def log_message(self, format, *args):  # keep test output clean
        pass

    def parse_request(self) -> bool:
        # The latency runs from the moment the request line arrived, so the host's own
        # parsing and header formatting happen inside it instead of adding to it (a real
        # server's think time is part of the latency it shows).
        self._arrived = self.owner.link.clock()
        return super().parse_request()

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        host = self.owner
        name = unquote(urlsplit(self.path).path.lstrip("/"))
        if host.log_requests:
            host._log(Request(self.command, self.path, self.headers.get("Range"), dict(self.headers.items()),
                              self.client_address[:2]))
        photo = host.photos.get(name)
        if photo is not None and photo.stall:
            host._stopping.wait()
            self.close_connection = True
            return
        if photo is not None and photo.location is not None:
            extra = {"Location": photo.location}
            if photo.set_cookie:
                extra["Set-Cookie"] = photo.set_cookie + "; Path=/"
            self._answer(photo.status, "text/html", 0, extra)
            return
        if photo is not None and photo.failures > 0:
            with host._log_lock:
                photo.failures -= 1
            self._answer(503, "text/plain", 0, {"Retry-After": "0"})
            return
        if photo is not None and not _authorised(photo, self.path, self.headers):
            body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            self._answer(403, "application/xml", len(body), {}, () if head else [memoryview(body)])
            return
        if photo is None or photo.status != 200:
            status = 404 if photo is None else photo.status
            body = ("<html><body><h1>%d</h1></body></html>" % status).encode()
            self._answer(status, "text/html", len(body), {}, () if head else [memoryview(body)])
            return
        size = photo.size
        start, stop, status = 0, size, 200
        wanted = self.headers.get("Range")
        if wanted and host.honour_range:
            match = _RANGE.match(wanted)
            if match and (match.group(1) or match.group(2)):
                first, last = match.groups()
                if first:
                    start = int(first)
                    stop = min(size, int(last) + 1) if last else size
                else:  # suffix range: the last N bytes
                    start = max(0, size - int(last))
                if start >= size:
                    self._answer(416, "text/plain", 0, {"Content-Range": "bytes */%d" % size})
                    return
                status = 206
        extra = {"Accept-Ranges": "bytes"} if host.honour_range else {}
        if status == 206:
            extra["Content-Range"] = "bytes %d-%d/%d" % (start, stop - 1, size)
        self._answer(status, photo.content_type, stop - start, extra, () if head else photo.slices(start, stop))

    def flush_headers(self) -> None:
        if not getattr(self, "_holding_headers", False):  # http.server's own error pages go at once
            super().flush_headers()

    def _answer(self, status: int, content_type: str, length: int, extra: Dict[str, str], pieces=()) -> None:
        """Send the headers and the body in CHUNK-sized writes. The latency is paid with the
        first chunk's slot on the link (one sleep), and the headers leave with that chunk: a
        real server's first byte, headers included, comes after the latency. Pieces of a
        multi-part photo are joined, so a small first part does not cost an extra link slot."""
        self._holding_headers = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(length))
            for key, value in extra.items():
                self.send_header(key, value)
            for key, value in _cors_headers(self.owner.cors, self.headers.get("Origin")).items():
                self.send_header(key, value)
            self.end_headers()
        finally:
            self._holding_headers = False
        head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        due = self._arrived + self.owner.latency
        try:
            for chunk in _rechunk(pieces, CHUNK):
                self.owner.link.send(len(chunk), due)
                self.wfile.write(head + chunk if head else chunk)
                head, due = b"", 0.0
            if head:  # no body: HEAD, 416, an empty photo
                self.owner.link.send(0, due)
                self.wfile.write(head)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client stopped reading: expected when Range is ignored


def _authorised(photo: Photo, path: str, headers) -> bool:
    import base64

    if photo.signed and "x-amz-signature=" not in urlsplit(path).query.lower():
        return False
    if photo.cookie and photo.cookie not in [c.strip() for c in (headers.get("Cookie") or "").split(";")]:
        return False
    if photo.auth is not None:
        return headers.get("Authorization") == "Basic " + base64.b64encode(photo.auth.encode()).decode()
    return True


def _cors_headers(cors: Union[bool, str, Sequence[str]], origin: Optional[str]) -> Dict[str, str]:
    """The CORS answer headers of the ``cors`` knob (see the module docstring)."""
    if cors is True:
        return {"Access-Control-Allow-Origin": "*"}
    if not cors:
        return {}
    if isinstance(cors, str):
        return {"Access-Control-Allow-Origin": cors}
    if origin and origin in cors:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {"Vary": "Origin"}


def _rechunk(pieces, size: int):
    buffer = bytearray()
    for piece in pieces:
        for i in range(0, len(piece), size):
            part = piece[i:i + size]
            if not buffer and len(part) == size:
                yield part
                continue
            buffer += part
            if len(buffer) >= size:
                yield bytes(buffer[:size])
                del buffer[:size]
    if buffer:
        yield bytes(buffer)
