"""The one HTTP policy, and the two transports that apply it.

Why one module: time-outs, retries, TLS, redirects and the mapping of transport errors must
be the same for every request XPGEO makes, whether it goes through the REST session
(``requests``: the XPGEO server, the portal) or the photo client (``urllib3``: photo headers).
So both take from here:

* **time-outs**: ``TIMEOUT_SECONDS`` for connecting and for each read;
* **retries** (:func:`make_retry`): an idempotent request (GET, HEAD, OPTIONS, PUT, DELETE,
  and a POST marked idempotent such as the portal's existence query) is retried on
  :data:`RETRY_STATUSES` and on dropped connections; a write (POST, and the XPGEO server's
  ``GET /append-image``) only where the server did nothing: a connection never made, or a
  429/503 answer; ``Retry-After`` is honoured (at most :data:`RETRY_AFTER_MAX` seconds), and
  every back-off wait ends at once on Cancel;
* **redirects**: auth headers, the Referer and a ``token`` form field never follow a redirect
  to another origin (scheme, host, port); the photo client applies the same rule to the Basic
  credentials of a URL;
* **TLS**: one decision (:func:`tls_verify`), warned about once per run when it is off; urllib3's
  per-request ``InsecureRequestWarning`` is silenced only on XPGEO's own connection pools,
  never process-wide (ArcGIS Pro runs other code in the same process);
* **Cancel** (:class:`ConnectionTracker`): the connections a transport has in flight can be
  shut, so a request blocked on a silent server returns at once;
* **errors** (:func:`describe_request_failure`): one mapping from transport errors to
  :class:`~xpgeo_core.errors.RequestError` (nothing reached the server whole: a connection never
  made, or one that failed while the request was being written, :class:`RequestNotSent`) or
  :class:`~xpgeo_core.errors.AnswerLost` (the request went out, the answer did not come back).

Works with urllib3 1.26 (older ArcGIS Pro releases) and 2.x: only ``Retry`` arguments
present in both are used.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import threading
from typing import Any, Dict, Iterator, List, Mapping, Optional, Set, Tuple, Union
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from xpgeo_core import __version__
from xpgeo_core.errors import AnswerLost, Cancelled, RequestError, redact
from xpgeo_core.urls import safe_url
from xpgeo_core.settings import Settings

log = logging.getLogger("xpgeo.http")

USER_AGENT = f"xpgeo/{__version__}"
RETRY_STATUSES = (429, 502, 503, 504)
"""Answers worth another try of an idempotent request."""
NOT_PROCESSED_STATUSES = (429, 503)
"""Answers that say the server did nothing (RFC 6585, RFC 9110): a write may be sent again."""
IDEMPOTENT_METHODS = frozenset(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
ALL_METHODS = frozenset(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"])
RETRY_METHODS = ALL_METHODS
RETRY_AFTER_MAX = 120.0
"""A longer Retry-After is cut to this: a batch must not sleep for an hour on one answer."""
IDEMPOTENT_HEADER = "X-Xpgeo-Idempotent"
"""Internal marker the session puts on a request and the adapter takes off before sending."""
AUTH_HEADERS = ("Authorization", "X-Esri-Authorization", "Proxy-Authorization", "Referer", "Cookie")
"""Never sent to another origin on a redirect."""
TOKEN_FIELDS = ("token",)
INSECURE_WARNING = ("TLS certificate verification is OFF (DISABLE_SSL_VERIFICATION=true): "
                    "the server's identity is not checked. Use CA_BUNDLE for an internal CA instead.")


def origin(url: str) -> Tuple[str, str, int]:
    """(scheme, host, port) with the default port filled in: where credentials may go."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


# -- Cancel: in-flight connections ---------------------------------------------------------

class CancelledRequest(urllib3.exceptions.HTTPError):
    """A request stopped by Cancel (its connection shut, or its back-off wait ended)."""


class ConnectionTracker:
    """The connections a transport has checked out of its pools, so Cancel can shut them.

    Installed on urllib3 pool managers (:meth:`install`); after :meth:`abort`, in-flight
    sockets are shut (a blocked read returns at once) and no new request starts.
    """

    def __init__(self, cancel: Optional[threading.Event] = None) -> None:
        self.cancel = cancel if cancel is not None else threading.Event()
        self._live: Set[Any] = set()
        self._lock = threading.Lock()
        http_cls = type("XpgeoHTTPConnectionPool", (_TrackedHTTP,), {"tracker": self})
        https_cls = type("XpgeoHTTPSConnectionPool", (_TrackedHTTPS,), {"tracker": self})
        self.pool_classes = {"http": http_cls, "https": https_cls}

    def install(self, manager: Any) -> Any:
        """Make *manager* (a PoolManager or ProxyManager) build tracked pools."""
        if getattr(manager, "pool_classes_by_scheme", None) is not None and not _is_socks(manager):
            manager.pool_classes_by_scheme = dict(self.pool_classes)  # never the module's shared dict
        return manager

    def checkout(self, conn: Any) -> None:
        if self.cancel.is_set():
            raise CancelledRequest("cancelled")
        with self._lock:
            self._live.add(conn)

    def checkin(self, conn: Any) -> None:
        with self._lock:
            self._live.discard(conn)

    def abort(self) -> None:
        """Cancel: shut every in-flight socket; later requests fail at once."""
        self.cancel.set()
        with self._lock:
            live = list(self._live)
        for conn in live:
            sock = getattr(conn, "sock", None)
            if sock is None:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass


def _is_socks(manager: Any) -> bool:
    return type(manager).__name__.startswith("SOCKS")


class RequestNotSent(urllib3.exceptions.NewConnectionError):
    """The connection failed while the request was still being written: the server cannot have
    received it whole, so it cannot have carried it out (an HTTP server acts on a complete
    request only). For the retry policy and :func:`never_reached` it counts as a connection never
    made, so even a write is sent again."""


class _Tracked(HTTPConnectionPool):
    """The pool half of :class:`ConnectionTracker`: every connection checked out is known, so
    Cancel can shut its socket. Mixed before HTTP(S)ConnectionPool, so ``super()`` is theirs."""

    tracker: ConnectionTracker

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        """urllib3's, knowing whether the request left whole. urllib3 swallows a broken pipe or a
        reset while it writes (a server may answer early and close) and then fails on the read, as
        if the request had gone out: a failed write is noted here and the read's error becomes
        :class:`RequestNotSent`."""
        failed_write: List[BaseException] = []
        write = conn.send

        def send(data: Any) -> Any:
            try:
                return write(data)
            except OSError as exc:
                failed_write.append(exc)
                raise

        conn.send = send
        try:
            return super()._make_request(conn, *args, **kwargs)
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            if failed_write and not isinstance(exc, urllib3.exceptions.NewConnectionError):
                raise RequestNotSent(conn, f"the connection dropped while the request was being sent "
                                           f"({failed_write[0].__class__.__name__})") from exc
            raise
        finally:
            try:
                del conn.send
            except AttributeError:
                pass

    def _get_conn(self, timeout: Optional[float] = None) -> Any:
        conn = super()._get_conn(timeout)
        try:
            self.tracker.checkout(conn)
        except CancelledRequest:
            super()._put_conn(conn)
            raise
        return conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            self.tracker.checkin(conn)
        super()._put_conn(conn)


class _TrackedHTTP(_Tracked, HTTPConnectionPool):
    pass


class _TrackedHTTPS(_Tracked, HTTPSConnectionPool):
    def _validate_conn(self, conn: Any) -> None:
        """As urllib3's, without the per-request InsecureRequestWarning: XPGEO warned once
        itself (:data:`INSECURE_WARNING`), and only its own pools are quiet."""
        if getattr(conn, "is_closed", None) is not None:  # urllib3 2
            if conn.is_closed:
                conn.connect()
        elif not getattr(conn, "sock", None):  # urllib3 1.26
            conn.connect()


# -- retries ---------------------------------------------------------------------------------

class XpgeoRetry(Retry):
    """urllib3's Retry with a cap on Retry-After and a back-off wait that Cancel ends."""

    cancel: Optional[threading.Event] = None

    def new(self, **kw: Any) -> "XpgeoRetry":
        fresh = super().new(**kw)
        fresh.cancel = self.cancel
        return fresh

    def sleep(self, response: Any = None) -> None:
        delay = None
        if self.respect_retry_after_header and response is not None:
            delay = self.get_retry_after(response)
        if delay is None:
            delay = self.get_backoff_time()
        delay = max(0.0, min(float(delay), RETRY_AFTER_MAX))
        if delay <= 0:
            return
        cancel = self.cancel or threading.Event()
        if cancel.wait(delay):
            raise CancelledRequest("cancelled during a retry wait")


def back_off(attempt: int, backoff: float, cancel: Optional[threading.Event] = None) -> None:
    """Wait before attempt *attempt* + 1 of something the caller retries itself (the portal
    re-sending what a batch's lost answer did not land): the policy's doubling back-off, capped
    at :data:`RETRY_AFTER_MAX`, ended at once by Cancel (:class:`~xpgeo_core.errors.Cancelled`)."""
    delay = max(0.0, min(backoff * (2 ** max(0, attempt - 1)), RETRY_AFTER_MAX))
    if delay > 0 and (cancel or threading.Event()).wait(delay):
        raise Cancelled()


def make_retry(retries: int, backoff: float, *, write: bool = False, post: Optional[bool] = None,
               cancel: Optional[threading.Event] = None) -> XpgeoRetry:
    """The retry policy of one kind of request (see the module docstring).

    ``write``: the request changes something, so only "the server did nothing" is retried:
    a connection never made and :data:`NOT_PROCESSED_STATUSES`; a read error is raised at
    once (the caller finds out what landed). ``post`` is the old name of ``write``.
    """
    if post is not None:
        write = bool(post)
    retry = XpgeoRetry(
        total=retries,
        connect=retries,
        read=False if write else retries,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=NOT_PROCESSED_STATUSES if write else RETRY_STATUSES,
        allowed_methods=ALL_METHODS,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    retry.cancel = cancel
    return retry


class PolicyAdapter(HTTPAdapter):
    """requests' adapter with the policy: the retry of each request chosen by whether it is
    idempotent, and tracked, quiet-TLS connection pools."""

    def __init__(self, retries: int, backoff: float, tracker: ConnectionTracker, *, pool_size: int = 10) -> None:
        self._local = threading.local()
        self.tracker = tracker
        self.write_retries = make_retry(retries, backoff, write=True, cancel=tracker.cancel)
        super().__init__(max_retries=make_retry(retries, backoff, cancel=tracker.cancel),
                         pool_connections=pool_size, pool_maxsize=pool_size)

    @property
    def max_retries(self) -> Retry:
        return getattr(self._local, "retries", None) or self._idempotent_retries

    @max_retries.setter
    def max_retries(self, value: Retry) -> None:
        self._idempotent_retries = value

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.tracker.install(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return self.tracker.install(super().proxy_manager_for(proxy, **proxy_kwargs))

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        marker = request.headers.pop(IDEMPOTENT_HEADER, None)
        idempotent = marker == "1" if marker is not None else (request.method or "GET").upper() in IDEMPOTENT_METHODS
        self._local.retries = None if idempotent else self.write_retries
        try:
            return super().send(request, *args, **kwargs)
        finally:
            self._local.retries = None


# -- the REST transport ------------------------------------------------------------------------

class XpgeoSession(requests.Session):
    """A ``requests.Session`` with the policy: a default time-out on every request, the TLS
    decision on every request, ``idempotent=`` per request, credentials kept to their origin
    on redirects, and :attr:`tracker` for Cancel."""

    def __init__(self, timeout: Optional[float], tracker: Optional[ConnectionTracker] = None) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.tracker = tracker or ConnectionTracker()
        self._environment: Dict[Any, Dict[str, Any]] = {}

    def request(self, method: str, url: Union[str, bytes], *args: Any, idempotent: Optional[bool] = None,
                **kwargs: Any) -> requests.Response:
        """``idempotent``: None decides by the method (POST is a write); True for a POST that only
        reads (a query); False for a GET that writes (the XPGEO server's ``/append-image``)."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        if kwargs.get("verify") is None:
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override session.verify
            # (psf/requests#3829); our setting must win, so pass it on every request.
            kwargs["verify"] = self.verify
        if idempotent is not None:
            headers = dict(kwargs.get("headers") or {})
            headers[IDEMPOTENT_HEADER] = "1" if idempotent else "0"
            kwargs["headers"] = headers
        try:
            return super().request(method, url, *args, **kwargs)
        except CancelledRequest:
            raise Cancelled("Cancelled while waiting for " + safe_url(str(url))) from None

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        """Off the origin, a redirect carries no auth header, no Referer and no ``token`` field
        (a 307/308 re-sends the body: the token is taken out of it). requests itself only drops
        ``Authorization``, and only on a change of host."""
        before = response.request.url or ""
        after = prepared_request.url or ""
        if origin(before) != origin(after):
            for name in AUTH_HEADERS:
                prepared_request.headers.pop(name, None)
            _drop_token_fields(prepared_request)
            if "token=" in after.lower():
                log.debug("A redirect to %s asks for a token in its URL; none is added.", safe_url(after))
        super().rebuild_auth(prepared_request, response)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> Dict[str, Any]:
        """requests' merge of proxy and CA settings from the environment, done once per origin.

        Why: requests scans ``os.environ`` twice per request for proxies; for the metadata
        engine that was a fifth of the CPU per photo. The environment does not change during
        a session's life, so the answer for an origin is reused (a copy: callers may change it).
        """
        try:
            key = (urlsplit(url)[:2], stream, verify, cert,
                   tuple(sorted(proxies.items())) if proxies else None)
            hash(key)
        except (TypeError, ValueError):  # unhashable or odd arguments: no cache, requests' own answer
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            if len(self._environment) >= 256:  # many origins: keep the memory bounded
                self._environment.clear()
            settings = self._environment[key] = super().merge_environment_settings(url, proxies, stream, verify,
                                                                                   cert)
        return dict(settings, proxies=dict(settings["proxies"]))


def _drop_token_fields(prepared: requests.PreparedRequest) -> None:
    """Take ``token`` out of a url-encoded form body about to be re-sent to another origin."""
    body = prepared.body
    if not body:
        return
    content_type = prepared.headers.get("Content-Type", "")
    if "application/x-www-form-urlencoded" not in content_type:
        return
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    pairs = parse_qsl(text, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() not in TOKEN_FIELDS]
    if len(kept) != len(pairs):
        prepared.headers.pop("Content-Length", None)
        prepared.prepare_body(data=kept, files=None)


def make_session(settings: Settings, *, pool_size: int = 10, cancel: Optional[threading.Event] = None) -> XpgeoSession:
    """Build the session for one run from :class:`xpgeo_core.settings.Settings`."""
    timeout = settings.timeout_seconds or None
    session = XpgeoSession(timeout, ConnectionTracker(cancel))
    session.headers["User-Agent"] = USER_AGENT
    adapter = PolicyAdapter(settings.retries, settings.retry_backoff, session.tracker, pool_size=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    verify = tls_verify(settings)
    # certifi's bundle as True: requests then uses its preloaded SSL context instead of
    # reading the file for each new connection (tls_verify already read the environment).
    session.verify = True if verify == DEFAULT_CA_BUNDLE_PATH else verify
    # Proxies: requests reads HTTP(S)_PROXY / NO_PROXY from the environment (trust_env).
    return session


def tls_verify(settings: Settings, environ: Optional[Mapping[str, str]] = None) -> Union[str, bool]:
    """The CA bundle file to verify servers with, or ``False`` (with the warning) when the
    person turned verification off.

    Every client, the REST session and the photo client alike, takes its TLS decision here,
    so both trust the same authorities and the insecure switch is warned about once per run
    (one Settings object), however many worker sessions and clients it makes. The bundle is
    ``CA_BUNDLE``, else ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` from the environment (what
    requests itself would use: machines behind a TLS-inspecting proxy often set them), else
    certifi's bundle, requests' default. urllib3's own warnings are not turned off here: only
    XPGEO's connection pools are quiet (see :class:`ConnectionTracker`).
    """
    if settings.disable_ssl_verification:
        if not getattr(settings, "_insecure_warned", False):
            log.warning(INSECURE_WARNING)
            try:
                object.__setattr__(settings, "_insecure_warned", True)
            except AttributeError:  # a settings stand-in without attributes: warn every time
                pass
        return False
    environ = os.environ if environ is None else environ
    bundle = settings.ca_bundle or environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE")
    return os.path.expanduser(bundle) if bundle else DEFAULT_CA_BUNDLE_PATH


# -- one mapping of transport errors ----------------------------------------------------------

def _chain(exc: Optional[BaseException]) -> Iterator[BaseException]:
    seen = 0
    while exc is not None and seen < 8:
        yield exc
        exc = getattr(exc, "reason", None) or exc.__cause__ or exc.__context__ or (
            exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None)
        seen += 1


def never_reached(exc: BaseException) -> bool:
    """True when the request cannot have reached the server: the connection was never made."""
    for cause in _chain(exc):
        if isinstance(cause, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError,
                              requests.exceptions.ConnectTimeout, ConnectionRefusedError, socket.gaierror)):
            return True
        if isinstance(cause, (urllib3.exceptions.NameResolutionError if hasattr(
                urllib3.exceptions, "NameResolutionError") else ())):
            return True
    return False


def describe_request_failure(exc: BaseException, url: str, secrets: Any = ()) -> RequestError:
    """Turn a transport exception into a :class:`RequestError` a person can act on, or an
    :class:`AnswerLost` when the request went out and its answer did not come back whole."""
    where = redact(safe_url(url), secrets)
    if isinstance(exc, (requests.exceptions.SSLError, urllib3.exceptions.SSLError)):
        return RequestError(
            f"The TLS certificate of {where} could not be verified.",
            hint="If the server uses an internal certificate authority, set CA_BUNDLE to its PEM file; "
                 "only as a last resort set DISABLE_SSL_VERIFICATION=true.")
    if any(isinstance(cause, RequestNotSent) for cause in _chain(exc)):
        return RequestError(f"The connection to {where} dropped before the request was sent whole: the server "
                            f"did not get it.", hint="Check the network and any proxy; a rerun sends it again.")
    if never_reached(exc):
        if isinstance(exc, (requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)) or any(
                isinstance(c, urllib3.exceptions.ConnectTimeoutError) and "timed out" in str(c)
                for c in _chain(exc)):
            return RequestError(f"{where} did not accept the connection in time.",
                                hint="Check the server is up, or raise TIMEOUT_SECONDS.")
        return RequestError(f"Could not connect to {where}.",
                            hint="Check the URL, that the server is running, and any proxy settings.")
    if isinstance(exc, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError)):
        return AnswerLost(f"{where} did not answer in time.",
                          hint="Check the server is up, or raise TIMEOUT_SECONDS.")
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return AnswerLost(f"The answer from {where} was cut off.", hint="Check the network and any proxy.")
    if isinstance(exc, (requests.exceptions.ConnectionError, urllib3.exceptions.ProtocolError, ConnectionError)):
        return AnswerLost(f"The connection to {where} dropped before its answer came back.",
                          hint="Check the network and any proxy; a rerun finds out what landed.")
    return RequestError(f"The request to {where} failed: {exc.__class__.__name__}.")
