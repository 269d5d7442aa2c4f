"""Byte sources for the JPEG walker: HTTP(S) range reads, local files, in-memory bytes.

Why range reads: a photo is 2–8 MB, its metadata is the first few tens of KB. The HTTP
source asks for ``bytes=0-65535`` first and only asks for more when the walker needs it
(a late XMP segment, the next segment header past a skipped one). Large segments the walker
only skips (DJI thermal data, FLIR records) are never downloaded: the next read starts at the
following segment's header.

The cost model: every request costs a round trip, bytes are cheap but capped. A photo whose
reads can seek (ranges, a local file) reads at most ``READ_BUDGET`` (128 KiB) in all, and at
most ``MAX_FETCHES`` reads. A run of N large segments costs N reads whatever their size (a
JPEG's segments are a chain: each header says where the next one is), so the read size only
decides which small segments after a jump come for free. Each jump reads an equal share of
the bytes left among the reads left (the first: 64 KiB left over 63 reads, about 1 KiB: a
segment header, an APP1's identifier, and the DQT, SOF and DHT that usually follow a thermal
run). The shares never run the bytes out before the reads: a dozen 64 KB thermal segments cost
about 76 KiB in 13 requests, forty about 105 KiB in 41, and any longer run ends, at the latest
after 64 reads and within 128 KiB, with ``header_too_large``. If the server ignores Range (200
with the whole file) the body is streamed, the bytes in between cannot be skipped, and only
``MAX_HEADER_BYTES`` bounds it; the connection is closed as soon as the header is complete. It
never sends HEAD: presigned S3 URLs are signed for GET only. When a presigned URL signed the
Range header itself (``X-Amz-SignedHeaders`` includes ``range``), no Range is added and the
body is streamed.

Every failure is a :class:`PhotoError` whose message names no URL (URLs may carry
signatures); the caller knows which photo it was.
"""

from __future__ import annotations

import os
import re
import ssl
from typing import Any, List, Optional, Tuple
from urllib.parse import unquote

import urllib3

from xpgeo_core.urls import PhotoRef, file_path as local_path, is_web as is_remote
from xpgeo_core.photo_client import MAX_REDIRECTS, CaBundleError, PhotoClient, PhotoResponse, TooManyRedirects
from xpgeo_core.metadata.photo import PhotoError

FIRST_READ = 64 * 1024
READ_BUDGET = 128 * 1024  # most bytes read from one photo whose reads can seek (MAX_HEADER_BYTES if lower)
MIN_READ_AHEAD = 64       # a segment header and an APP1's identifier (4 + 29 bytes), with room to spare
MAX_FETCHES = 64          # reads of one photo; more means a hostile run of segments before the metadata
STREAM_CHUNK = 16 * 1024
CONNECT_FAILED = ("could not connect to the server, or the connection dropped; check the URL and any proxy "
                  "settings")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_STATUS_HINTS = {
    401: "the server wants a sign-in; use a URL that is public or presigned",
    403: "access denied; a presigned URL may have expired",
    404: "no photo at this URL; check it",
    410: "the photo was removed from this URL",
}


class _Cache:
    """Fetched byte ranges (merged when adjacent); bytes_read counts every byte received.

    ``cap`` is MAX_HEADER_BYTES; ``limit`` what this photo may read: ``READ_BUDGET`` (or the
    cap if lower) while reads can seek, the cap once a server streams the whole body."""

    def __init__(self, cap: int) -> None:
        self.blocks: List[Tuple[int, bytearray]] = []
        self.cap = cap
        self.limit = min(cap, READ_BUDGET)
        self.bytes_read = 0
        self.size: Optional[int] = None  # total file size when known

    def add(self, start: int, data: bytes) -> None:
        for i, (s, block) in enumerate(self.blocks):
            if s + len(block) == start:
                block.extend(data)
                return
        self.blocks.append((start, bytearray(data)))
        self.blocks.sort(key=lambda b: b[0])

    def contiguous(self, offset: int, size: int) -> bytes:
        """Up to *size* cached bytes from *offset* (fewer when the cached run ends)."""
        for s, block in self.blocks:
            if s <= offset < s + len(block):
                return bytes(memoryview(block)[offset - s:offset - s + size])  # one copy, not two
        return b""

    @property
    def left(self) -> int:
        return self.limit - self.bytes_read

    def budget(self, want: int) -> int:
        if self.left <= 0:
            raise self.exhausted()
        return min(want, self.left)

    def exhausted(self) -> PhotoError:
        if self.limit >= self.cap:
            return PhotoError("header_too_large", "the metadata was not complete within the first %d bytes read "
                              "(MAX_HEADER_BYTES); the photo's header is unusually large or corrupt" % self.cap)
        return PhotoError("header_too_large", "the metadata was not within the first %d KiB read from the photo "
                          "(the per-photo read budget; skipped segments cost only their headers): the photo has an "
                          "unusually long run of segments before its metadata, or is corrupt" % (self.limit // 1024))


class _Source:
    """Shared read loop: serve from the cache, fetch what is missing, stop at end of file."""

    content_type: Optional[str] = None

    def __init__(self, cap: int) -> None:
        self.cache = _Cache(cap)
        self.fetches = 0

    @property
    def bytes_read(self) -> int:
        return self.cache.bytes_read

    def cached(self, offset: int, size: int) -> bool:
        """True when reading *size* bytes at *offset* needs no fetch (they are here, or the file ends)."""
        have = len(self.cache.contiguous(offset, size))
        return have >= size or (self.cache.size is not None and offset + have >= self.cache.size)

    def read(self, offset: int, size: int) -> bytes:
        while True:
            data = self.cache.contiguous(offset, size)
            if len(data) >= size:
                return data[:size]
            end = offset + len(data)
            if self.cache.size is not None and end >= self.cache.size:
                return data
            missing = size - len(data)
            want = max(missing, FIRST_READ) if end == 0 else missing + self._read_ahead()
            self.fetches += 1
            if self.fetches > MAX_FETCHES:
                raise PhotoError("header_too_large", "the metadata was not complete after %d reads: the photo has "
                                 "an unusually long run of segments before it, or is corrupt" % MAX_FETCHES)
            got = self._fetch(end, self.cache.budget(want))
            if got == 0 and self.cache.left <= 0:
                raise self.cache.exhausted()
            if got == 0:
                self.cache.size = end if self.cache.size is None else self.cache.size
                return data

    def _read_ahead(self) -> int:
        """Bytes to read past what the walker asked for: an equal share of the bytes left among
        the reads left, so a run of skipped segments runs out of reads (MAX_FETCHES) before it
        runs out of bytes, and never reads more than the budget."""
        reads_left = max(1, MAX_FETCHES - self.fetches)
        return max(MIN_READ_AHEAD, self.cache.left // reads_left)

    def _fetch(self, start: int, length: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass


class BytesSource(_Source):
    """Photo bytes already in memory (tests, callers that hold the file)."""

    def __init__(self, data: bytes, cap: int) -> None:
        super().__init__(cap)
        self._data = data
        self.cache.size = len(data)

    def _fetch(self, start: int, length: int) -> int:
        chunk = self._data[start:start + length]
        self.cache.bytes_read += len(chunk)
        self.cache.add(start, chunk)
        return len(chunk)


class FileSource(_Source):
    """A local file, read the same way as a URL: only the header, in chunks."""

    def __init__(self, source: str, cap: int) -> None:
        super().__init__(cap)
        path = local_path(source)
        try:
            self._handle = open(path, "rb")
            self.cache.size = os.fstat(self._handle.fileno()).st_size
        except FileNotFoundError:
            raise PhotoError("file_not_found", "no such file: %s; check the path" % path) from None
        except IsADirectoryError:
            raise PhotoError("file_not_found", "%s is a folder, not a photo" % path) from None
        except OSError as exc:
            raise PhotoError("file_unreadable", "the file %s cannot be read: %s" % (path, exc.strerror)) from None

    def _fetch(self, start: int, length: int) -> int:
        try:
            self._handle.seek(start)
            chunk = self._handle.read(length)
        except OSError as exc:
            raise PhotoError("file_unreadable", "reading the file failed: %s" % exc.strerror) from None
        self.cache.bytes_read += len(chunk)
        self.cache.add(start, chunk)
        return len(chunk)

    def close(self) -> None:
        self._handle.close()


def range_is_signed(url: str) -> bool:
    """True when a presigned S3 URL signed the Range header (adding one would break the signature)."""
    query = url.partition("?")[2].partition("#")[0].lower()
    match = re.search(r"x-amz-signedheaders=([^&]*)", query)
    return bool(match and "range" in unquote(match.group(1)).split(";"))


class HttpSource(_Source):
    """A photo behind an http(s) URL, read with ranged GETs through the worker's client.

    ``origin``: the first GET also carries ``Origin: <origin>``, and :attr:`allow_origin` keeps the
    ``Access-Control-Allow-Origin`` of its answer, so the viewer-readiness check learns the photo's CORS
    from the header read itself (:mod:`xpgeo_core.readiness`), not from a second request."""

    def __init__(self, url: str, client: PhotoClient, cap: int, origin: Optional[str] = None) -> None:
        super().__init__(cap)
        self.url = url
        self.client = client
        self.origin = origin
        self.allow_origin: Optional[str] = None
        self.read_as_viewer = False
        """The first GET was the viewer's kind of request (asked with *origin*, no cookies along a redirect)."""
        self.use_range = not range_is_signed(url)
        self._stream: Optional[PhotoResponse] = None
        self._stream_pos = 0
        self.requests = 0

    def _fetch(self, start: int, length: int) -> int:
        if self._stream is not None:
            return self._from_stream(start, length)
        headers = {"Accept-Encoding": "identity"}
        if self.use_range:
            headers["Range"] = "bytes=%d-%d" % (start, start + length - 1)
        first = self.requests == 0
        if first and self.origin:
            headers["Origin"] = self.origin
        response = self._get(headers)
        status = response.status
        if first and self.origin is not None:
            # what a viewer's fetch would get: not when the answer needed cookies set on the way
            self.allow_origin = None if response.sent_cookies else response.headers.get("Access-Control-Allow-Origin")
            self.read_as_viewer = not response.sent_cookies
        if self.content_type is None:
            self.content_type = response.headers.get("Content-Type")
        if status == 206:
            return self._from_partial(response, start, length)
        if status == 200:
            self._stream = response
            self._stream_pos = 0
            self.cache.limit = self.cache.cap  # the server sends the bytes in between: only the cap bounds them
            if re.fullmatch(r"[0-9]+", response.headers.get("Content-Length", "")):
                self.cache.size = int(response.headers["Content-Length"])
            return self._from_stream(start, length)
        if status == 416:
            response.close()
            match = re.search(r"\*/(\d+)", response.headers.get("Content-Range", ""))
            self.cache.size = int(match.group(1)) if match else start
            if start == 0 and self.cache.size == 0:
                raise PhotoError("not_jpeg", "the file is empty")
            return 0
        response.close()
        reason = response.reason
        hint = _STATUS_HINTS.get(status, "the server failed; try again later" if status >= 500 else "")
        raise PhotoError("http_status", "HTTP %d %s%s" % (status, reason, ": " + hint if hint else "")
                         if reason else "HTTP %d%s" % (status, ": " + hint if hint else ""))

    def _get(self, headers: dict) -> PhotoResponse:
        self.requests += 1
        try:
            return self.client.get(self.url, headers)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _network_error(exc) from None

    def _from_partial(self, response: PhotoResponse, start: int, length: int) -> int:
        match = _CONTENT_RANGE.search(response.headers.get("Content-Range", ""))
        if match:
            if int(match.group(1)) != start:
                response.close()
                raise PhotoError("http_range", "the server answered bytes %s-%s when asked for bytes from %d"
                                 % (match.group(1), match.group(2), start))
            if match.group(3) != "*":
                self.cache.size = int(match.group(3))
        try:
            data = response.read(length)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _network_error(exc) from None
        finally:
            response.close()
        self.cache.bytes_read += len(data)
        self.cache.add(start, data)
        if len(data) < length and self.cache.size is None:
            self.cache.size = start + len(data)
        return len(data)

    def _from_stream(self, start: int, length: int) -> int:
        """Read on in a body the server sends whole; bytes before *start* are read and dropped."""
        assert self._stream is not None
        got = 0
        stop = start + length
        try:
            while self._stream_pos < stop:
                chunk = self._stream.read(STREAM_CHUNK)
                if not chunk:
                    self.cache.size = self._stream_pos
                    break
                chunk_start = self._stream_pos
                self._stream_pos += len(chunk)
                self.cache.bytes_read += len(chunk)
                lo = max(start, chunk_start)
                if self._stream_pos > lo:
                    piece = chunk[lo - chunk_start:]
                    self.cache.add(lo, piece)
                    got += len(piece)
                if self.cache.left <= 0 and self._stream_pos < stop:
                    break
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self.close()
            raise _network_error(exc) from None
        return got

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def _network_error(exc: BaseException) -> PhotoError:
    """urllib3's error (often a MaxRetryError wrapping the last cause) as a PhotoError."""
    if isinstance(exc, TooManyRedirects):
        return PhotoError("network", "the URL redirects too many times (more than %d); check it" % MAX_REDIRECTS)
    cause = getattr(exc, "reason", None) if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    cause = cause if cause is not None else exc
    errors = urllib3.exceptions
    if isinstance(cause, (errors.SSLError, ssl.SSLError, ssl.CertificateError)):
        return PhotoError("network", "the server's TLS certificate could not be verified (set CA_BUNDLE for an "
                          "internal certificate authority)")
    if isinstance(exc, CaBundleError):
        return PhotoError("network", "the CA bundle file cannot be read as PEM certificates; check CA_BUNDLE, or "
                          "REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment")
    if isinstance(cause, errors.ProxySchemeUnknown) and "socks" in str(cause).lower():
        return PhotoError("network", "a SOCKS proxy needs the PySocks package, which ArcGIS Pro does not ship; "
                          "use an HTTP proxy in HTTPS_PROXY / HTTP_PROXY")
    if isinstance(cause, (errors.ProxyError, errors.ProxySchemeUnknown)):
        return PhotoError("network", "the proxy could not be used (check HTTPS_PROXY / HTTP_PROXY and NO_PROXY)")
    if isinstance(cause, errors.LocationParseError):
        return PhotoError("network", "the URL, or the address the server redirected to, is malformed; check it")
    timed_out = "timed out" in str(cause).lower()
    # NewConnectionError is a ConnectTimeoutError to urllib3: ask for it first.
    if isinstance(cause, errors.NewConnectionError) and not timed_out:
        return PhotoError("network", CONNECT_FAILED)
    if isinstance(cause, errors.TimeoutError) or timed_out:
        return PhotoError("network", "the server did not answer in time (TIMEOUT_SECONDS)")
    if isinstance(cause, (errors.ProtocolError, ConnectionError)) or isinstance(exc, errors.MaxRetryError):
        return PhotoError("network", CONNECT_FAILED)
    return PhotoError("network", "the request failed: %s" % cause.__class__.__name__)


def open_source(photo: PhotoRef, cap: int, client: Optional[PhotoClient] = None, origin: Optional[str] = None) -> Any:
    """The byte source for a photo (``client`` is required for http(s); ``origin``: see :class:`HttpSource`)."""
    if not photo.fetch:
        raise PhotoError("unsupported_source", "the source is empty; give an http(s) URL or a local path")
    if not photo.is_web:
        return FileSource(photo.fetch, cap)
    if not is_remote(photo.fetch):
        scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):", photo.fetch)
        raise PhotoError("unsupported_source", "%s: URLs are not supported; give an http(s) URL or a local path"
                         % (scheme.group(1).lower() if scheme else photo.display))
    if client is None:
        raise ValueError("an HTTP client is needed for " + photo.display)
    return HttpSource(photo.fetch, client, cap, origin)
