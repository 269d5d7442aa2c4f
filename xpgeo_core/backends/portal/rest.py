"""The one request helper and the one error check for every ArcGIS REST call.

ArcGIS answers most errors with HTTP 200 and an ``error`` body, some with
``success: false`` (createService), some with ``status: failed`` (jobs), and proxies
or newer services with real 4xx/5xx statuses. :func:`check_for_errors` turns every
one of those into an :mod:`xpgeo_core.errors` exception, so no caller ever looks at a
raw answer for failure. A rejected token (498/499) is refreshed and the request
replayed exactly once by :meth:`PortalClient.call` (the portal did nothing with a request
it refused); it never loops. Retries and time-outs are the HTTP policy's (:mod:`xpgeo_core.http`),
not this module's: a read (GET, or a POST ``idempotent=True`` such as ``query``) is retried on
the policy's statuses, a write only where the portal did nothing.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional

import requests

from xpgeo_core.backends.portal.auth import PortalAuth
from xpgeo_core.errors import AnswerLost, AuthError, RequestError, ServerError, XpgeoError, redact
from xpgeo_core.http import RETRY_STATUSES, XpgeoSession, describe_request_failure

log = logging.getLogger("xpgeo.backends.portal")

TOKEN_CODES = (498, 499)
AUTH_CODES = (401, 403) + TOKEN_CODES
TRANSIENT_STATUSES = (500,) + RETRY_STATUSES
"""An answer worth finding out what landed and trying again: the policy's statuses, and the
portal's own ``error 500`` ("Unable to complete operation") it gives for a passing failure."""
_LIMIT = 400


class TokenRejected(AuthError):
    """498 (invalid or expired token) or 499 (token required): worth one refresh."""


def encode_params(params: Mapping[str, Any]) -> Dict[str, str]:
    """ArcGIS parameter encoding (as arcgis-rest-js does it): objects and lists of objects
    as JSON, lists of plain values comma-joined, booleans as ``true``/``false``, None dropped."""
    out: Dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, dict):
            out[key] = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, (list, tuple)):
            if all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
                out[key] = ",".join(str(v) for v in value)
            else:
                out[key] = json.dumps(list(value), separators=(",", ":"))
        else:
            out[key] = str(value)
    out.setdefault("f", "json")
    return out


def _said(error: Mapping[str, Any]) -> str:
    """The portal's words: message plus details that add something."""
    message = str(error.get("message") or error.get("description") or "").strip()
    details = [str(d).strip() for d in (error.get("details") or []) if str(d).strip()]
    extra = [d for d in details if d and d != message]
    text = "; ".join([message] + extra) if message else "; ".join(extra)
    return text[:_LIMIT] or "(no message)"


def _code(error: Mapping[str, Any]) -> Optional[int]:
    try:
        return int(error["code"])
    except (KeyError, TypeError, ValueError):
        return None


NOT_A_PORTAL_HINT = "Check PORTAL_URL names the portal, e.g. https://gis.example.com/portal."


def check_for_errors(status: int, text: str, what: str, secrets: Iterable[str] = ()) -> Dict[str, Any]:
    """The parsed JSON of a successful answer, else the typed error it amounts to.

    *what* names the operation for the message ("createService", "query of layer 0").
    """
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    secrets = list(secrets)

    def fail(code: Optional[int], message: str, message_code: Optional[str] = None) -> XpgeoError:
        message = redact(message, secrets)
        said = f"The portal refused {what}" + (f" (error {code})" if code else "") + f": {message}"
        if code in TOKEN_CODES or message_code == "GWM_0003":
            return TokenRejected(said, status=code,
                                 hint="The token or API key is invalid or has expired; check the credentials.")
        if code in AUTH_CODES:
            return AuthError(said, status=code,
                             hint="The account must be able to create content and publish hosted feature "
                                  "layers (Creator user type, Publisher role or above).")
        return ServerError(said, status=code,
                           hint="Try again later; if it persists, check the portal's logs." if (
                               code in TRANSIENT_STATUSES) else None)

    body_error = parsed.get("error") if isinstance(parsed, dict) else None
    if status >= 400:
        if isinstance(body_error, dict):
            raise fail(_code(body_error) or status, _said(body_error), body_error.get("messageCode"))
        if text.lstrip().startswith("<") and status not in TRANSIENT_STATUSES:
            # A web server's own page, not ArcGIS: the URL is most likely not the portal's.
            raise ServerError(f"The portal refused {what} (error {status}): HTTP {status} (an HTML page)",
                              status=status, hint=NOT_A_PORTAL_HINT)
        snippet = "(an HTML page)" if text.lstrip().startswith("<") else (text.strip()[:200] or "(no body)")
        raise fail(status, f"HTTP {status} {snippet}")
    if not isinstance(parsed, dict) and text.lstrip()[:1] in ("{", "[", ""):
        # Cut off (no Content-Length, the connection closed early) or empty: not an answer. For a
        # write the portal may have done it; the caller asks the layer before sending again.
        raise AnswerLost(f"The answer to {what} was empty or cut off.",
                         hint="Check the network and any proxy; a rerun finds out what landed.")
    if not isinstance(parsed, dict):
        raise ServerError(f"The answer to {what} is not ArcGIS JSON: "
                          f"{redact(text.strip()[:120], secrets)!r}.",
                          hint=NOT_A_PORTAL_HINT)
    if body_error is not None:
        if isinstance(body_error, dict):
            raise fail(_code(body_error), _said(body_error), body_error.get("messageCode"))
        raise fail(None, str(body_error)[:_LIMIT])
    if parsed.get("success") is False:
        raise fail(None, "success is false" + (f": {_said(parsed)}" if parsed.get("message") else ""))
    if str(parsed.get("status", "")).lower() in ("failed", "failure"):
        raise fail(_code(parsed), str(parsed.get("statusMessage") or parsed.get("message") or "status failed"))
    return parsed


def is_transient(exc: BaseException) -> bool:
    """Worth another try: no answer at all, or a 429/5xx the portal may not repeat."""
    if isinstance(exc, RequestError):
        return True
    return isinstance(exc, ServerError) and exc.status in TRANSIENT_STATUSES


UPLOAD_CHUNK = 4 << 20
"""Bytes of a file read (and written to the socket) at a time by an upload: memory stays flat (a few
megabytes per upload in flight), and few enough pieces that the photo-header threads of the same run, taking
Python's lock in between, do not hold up the link (bench/attach_upload.py)."""


@dataclass(frozen=True)
class FilePart:
    """The file of a multipart upload: read from *path* as it is sent, never whole in memory."""

    field: str
    path: str
    filename: str
    content_type: str
    size: int


def _quoted(text: str) -> str:
    """A multipart header parameter as browsers write it (HTML's form encoding): UTF-8, with the quote and
    line breaks percent-encoded."""
    return text.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


class MultipartBody:
    """A ``multipart/form-data`` body (RFC 7578) of small fields and one file, streamed: its length is known
    before a byte is read (``Content-Length``, no chunked encoding, which ArcGIS's upload handlers do not all
    take), and each iteration reads the file afresh in :data:`UPLOAD_CHUNK` pieces, so a retry of a request
    that never arrived sends it whole again. The file is checked against its announced size as it goes: a
    file that changed under the upload fails it instead of sending a body shorter or longer than announced."""

    def __init__(self, fields: Mapping[str, str], part: FilePart) -> None:
        self.boundary = "xpgeo-" + uuid.uuid4().hex
        head = b"".join(
            (f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'
             ).encode("utf-8") + str(value).encode("utf-8") + b"\r\n" for name, value in fields.items())
        head += (f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quoted(part.field)}"; '
                 f'filename="{_quoted(part.filename)}"\r\nContent-Type: {part.content_type}\r\n\r\n').encode("utf-8")
        self._head = head
        self._tail = f"\r\n--{self.boundary}--\r\n".encode("ascii")
        self.part = part

    @property
    def content_type(self) -> str:
        return "multipart/form-data; boundary=" + self.boundary

    def __len__(self) -> int:
        return len(self._head) + self.part.size + len(self._tail)

    def __iter__(self) -> Iterator[Any]:
        """The head, the file's pieces, the tail. The pieces are views of one buffer read into again for the next
        (the sender has written a piece before it asks for the next one), so a gigabyte costs no allocation."""
        yield self._head
        sent = 0
        buffer = bytearray(min(UPLOAD_CHUNK, max(1, self.part.size)))
        with open(self.part.path, "rb", buffering=0) as source, memoryview(buffer) as view:
            while sent < self.part.size:
                count = source.readinto(view[:min(len(buffer), self.part.size - sent)])
                if not count:
                    break
                sent += count
                yield view[:count]
            if sent != self.part.size or source.read(1):
                raise OSError(f"{os.path.basename(self.part.path)} changed while it was being sent "
                              f"({self.part.size} bytes announced)")
        yield self._tail


class PortalClient:
    """Sends ArcGIS REST requests with the run's session and credentials."""

    def __init__(self, session: XpgeoSession, auth: PortalAuth, extra_secrets: Iterable[str] = ()) -> None:
        self.session = session
        self.auth = auth
        self._extra_secrets = [s for s in extra_secrets if s]

    def secrets(self) -> List[str]:
        return self.auth.secrets() + self._extra_secrets

    def call(self, method: str, url: str, params: Optional[Mapping[str, Any]] = None, *,
             authenticate: bool = True, what: Optional[str] = None,
             idempotent: Optional[bool] = None) -> Dict[str, Any]:
        """One ArcGIS request; the checked JSON answer. Reads may be GET; writes are POST.
        ``idempotent=True`` marks a POST that only reads (the policy then retries it)."""
        what = what or url.rstrip("/").rsplit("/", 1)[-1]
        return self._refreshing(lambda: self._once(method, url, params, authenticate, what, idempotent),
                                authenticate, what)

    def upload(self, url: str, params: Mapping[str, Any], part: FilePart, *, what: str) -> Dict[str, Any]:
        """One multipart POST of *params* and a file (addAttachment), streamed from disk; the checked JSON
        answer. The credential goes in a header only, never in the body (a header does not follow a
        redirect to another origin). A rejected token is refreshed and the upload sent once more, as
        :meth:`call` does: the portal did nothing with a request it refused."""
        return self._refreshing(lambda: self._once("POST", url, params, True, what, part=part), True, what)

    def _refreshing(self, send: Callable[[], Dict[str, Any]], authenticate: bool, what: str) -> Dict[str, Any]:
        """*send*, and once more with a new token when the portal rejected the one it was sent with."""
        try:
            return send()
        except TokenRejected as first:
            if not authenticate or not self.auth.refresh(self):
                raise AuthError(first.message, status=first.status, hint=self.auth.rejected_hint) from None
            log.debug("The portal rejected the token (%s); replaying %s once with a new one.", first.status, what)
            try:
                return send()
            except TokenRejected as second:
                raise AuthError(second.message, status=second.status, hint=self.auth.rejected_hint) from None

    def _once(self, method: str, url: str, params: Optional[Mapping[str, Any]], authenticate: bool,
              what: str, idempotent: Optional[bool] = None, part: Optional[FilePart] = None) -> Dict[str, Any]:
        fields = encode_params(params or {})
        headers = {"Accept": "application/json"}
        if authenticate:
            auth_headers, auth_fields = self.auth.credentials(self)
            headers.update(auth_headers)
            if method == "POST" and part is None:
                fields.update(auth_fields)
        if self.auth.referer:
            headers["Referer"] = self.auth.referer
        try:
            extra: Dict[str, Any] = {"idempotent": idempotent} if idempotent is not None else {}
            if part is not None:
                body = MultipartBody(fields, part)
                headers["Content-Type"] = body.content_type
                response = self.session.request(method, url, data=body, headers=headers, **extra)
            elif method == "GET":
                response = self.session.request("GET", url, params=fields, headers=headers, **extra)
            else:
                response = self.session.request(method, url, data=fields, headers=headers, **extra)
        except requests.RequestException as exc:
            raise describe_request_failure(exc, url, self.secrets()) from None
        return check_for_errors(response.status_code, response.text or "", what, self.secrets())
