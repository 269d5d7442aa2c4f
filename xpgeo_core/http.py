"""The one HTTP session factory every backend and the metadata engine use.

Why one factory: time-outs, retries, TLS verification, proxies and the User-Agent
must be the same for every request, and a person who turns certificate checks off
must be told so once, not find out from a packet capture.

Works with urllib3 1.26 (older ArcGIS Pro releases) and 2.x: only ``Retry``
arguments present in both are used.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Union
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import (DEFAULT_CA_BUNDLE_PATH, get_auth_from_url, get_environ_proxies,
                            prepend_scheme_if_needed, select_proxy)
from urllib3.util.retry import Retry

from xpgeo_core import __version__
from xpgeo_core.errors import RequestError, redact

log = logging.getLogger("xpgeo.http")

USER_AGENT = f"xpgeo/{__version__}"
RETRY_STATUSES = (429, 502, 503, 504)
# POST is retried only on statuses that mean "not processed" (429/503 with
# Retry-After); idempotency of appends is handled by the backends themselves.
RETRY_METHODS = frozenset(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST"])
INSECURE_WARNING = ("TLS certificate verification is OFF (DISABLE_SSL_VERIFICATION=true): "
                    "the server's identity is not checked. Use CA_BUNDLE for an internal CA instead.")


class XpgeoSession(requests.Session):
    """A ``requests.Session`` with a default time-out on every request."""

    def __init__(self, timeout: Optional[float]) -> None:
        super().__init__()
        self.default_timeout = timeout
        self._environment: Dict[Any, Dict[str, Any]] = {}

    def request(self, method: str, url: Union[str, bytes], *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        if kwargs.get("verify") is None:
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override session.verify
            # (psf/requests#3829); our setting must win, so pass it on every request.
            kwargs["verify"] = self.verify
        return super().request(method, url, *args, **kwargs)

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


def make_retry(retries: int, backoff: float, *, post: bool = False) -> Retry:
    """urllib3 retry policy: 429/502/503/504 and dropped connections, honouring Retry-After."""
    methods = RETRY_METHODS if post else RETRY_METHODS - {"POST"}
    return Retry(
        total=retries,
        connect=retries,
        read=retries if not post else 0,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=methods,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def make_session(settings: Any, *, pool_size: int = 10) -> XpgeoSession:
    """Build the session for one run from :class:`xpgeo_core.settings.Settings`."""
    timeout = settings.timeout_seconds or None
    session = XpgeoSession(timeout)
    session.headers["User-Agent"] = USER_AGENT
    adapter = HTTPAdapter(max_retries=make_retry(settings.retries, settings.retry_backoff),
                          pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = tls_verify(settings)
    # Proxies: requests reads HTTP(S)_PROXY / NO_PROXY from the environment (trust_env).
    return session


def tls_verify(settings: Any) -> Union[bool, str]:
    """``True`` (the default CA bundle), a CA bundle path, or ``False`` with the warning.

    Every client, the REST session and the photo client alike, takes its TLS decision here,
    so the insecure switch is warned about once per run (one Settings object), however many
    worker sessions and clients it makes.
    """
    if settings.disable_ssl_verification:
        if not getattr(settings, "_insecure_warned", False):
            log.warning(INSECURE_WARNING)
            try:
                object.__setattr__(settings, "_insecure_warned", True)
            except AttributeError:  # a settings stand-in without attributes: warn every time
                pass
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # replaced by the warning above
        return False
    return settings.ca_bundle or True


class TooManyRedirects(urllib3.exceptions.MaxRetryError):
    """A photo URL that redirects more than :attr:`PhotoClient.MAX_REDIRECTS` times."""


class PhotoResponse:
    """One answer to :meth:`PhotoClient.get`: status, headers, and the body as a stream."""

    def __init__(self, raw: Any, url: str) -> None:
        self._raw = raw
        self.url = url  # after redirects
        self.status: int = raw.status
        self.reason: str = raw.reason or ""
        self.headers = raw.headers  # case-insensitive

    def read(self, size: int) -> bytes:
        """Up to *size* bytes of the body (fewer only at its end)."""
        return self._raw.read(size)

    def close(self) -> None:
        """Give the connection back to the pool when the body was read to its end, else drop
        it: a connection with unread body bytes cannot carry the next request."""
        if self._raw.length_remaining != 0:
            self._raw.close()
        self._raw.release_conn()


class PhotoClient:
    """GET requests for photo headers, on urllib3 directly, with the REST session's policy:
    the same time-out, retries (429/502/503/504, Retry-After), TLS decision
    (:func:`tls_verify`), User-Agent, and proxies from the environment (``HTTP(S)_PROXY``,
    ``NO_PROXY``; on Windows the system settings too, as requests reads them).

    Why not a ``requests.Session``: reading a photo's header is one small GET, repeated for
    thousands of photos, and requests' per-request layers (cookie jars, netrc, hooks,
    header merging, response wrapping) cost 0.25 ms of CPU per photo, most of the engine's
    CPU. At 8 workers that is 2–3 points of the latency bound (docs/performance.md).
    What it leaves out on purpose: cookies and netrc credentials (a photo URL carries its
    own access, presigned or public). Redirects are followed (up to 10), Range kept.

    One client per worker thread, as with sessions; :meth:`close` drops its connections.
    """

    MAX_REDIRECTS = 10

    def __init__(self, settings: Any, *, pool_size: int = 2) -> None:
        timeout = settings.timeout_seconds or None
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._retries = make_retry(settings.retries, settings.retry_backoff)
        verify = tls_verify(settings)
        if verify is False:
            self._tls: Dict[str, Any] = {"cert_reqs": "CERT_NONE", "assert_hostname": False}
        else:
            self._tls = {"cert_reqs": "CERT_REQUIRED",
                         "ca_certs": DEFAULT_CA_BUNDLE_PATH if verify is True else verify}
        self._pool_size = pool_size
        self._headers = {"User-Agent": USER_AGENT}
        self._direct = urllib3.PoolManager(num_pools=4, maxsize=pool_size, **self._tls)
        self._proxied: Dict[str, urllib3.PoolManager] = {}
        self._proxy_of: Dict[Any, Optional[str]] = {}

    def get(self, url: str, headers: Dict[str, str]) -> PhotoResponse:
        """GET *url*, following redirects; raises urllib3's errors (``urllib3.exceptions``)."""
        headers = dict(self._headers, **headers)
        for _ in range(self.MAX_REDIRECTS + 1):
            raw = self._manager_for(url).urlopen("GET", url, headers=headers, redirect=False,
                                                 retries=self._retries, timeout=self._timeout,
                                                 preload_content=False)
            location = raw.get_redirect_location()
            if not location:
                return PhotoResponse(raw, url)
            raw.drain_conn()
            raw.release_conn()
            url = urljoin(url, location)
        raise TooManyRedirects(None, _strip_query(url), "more than %d redirects" % self.MAX_REDIRECTS)

    def _manager_for(self, url: str) -> urllib3.PoolManager:
        """The direct pool, or the one for the proxy the environment names for this origin
        (looked up once per origin: the environment does not change during a run)."""
        origin = urlsplit(url)[:2]
        if origin not in self._proxy_of:
            proxies = get_environ_proxies(url)
            self._proxy_of[origin] = select_proxy(url, proxies) if proxies else None
        proxy = self._proxy_of[origin]
        if not proxy:
            return self._direct
        manager = self._proxied.get(proxy)
        if manager is None:
            proxy_url = prepend_scheme_if_needed(proxy, "http")
            user, password = get_auth_from_url(proxy_url)
            extra = {"proxy_headers": urllib3.make_headers(proxy_basic_auth="%s:%s" % (user, password))} \
                if user else {}
            if proxy_url.lower().startswith("socks"):
                try:
                    from urllib3.contrib.socks import SOCKSProxyManager
                except ImportError:
                    raise urllib3.exceptions.ProxySchemeUnknown("socks (needs the PySocks package)") from None
                manager = SOCKSProxyManager(proxy_url, num_pools=4, maxsize=self._pool_size, **self._tls)
            else:
                manager = urllib3.ProxyManager(proxy_url, num_pools=4, maxsize=self._pool_size, **extra,
                                               **self._tls)
            self._proxied[proxy] = manager
        return manager

    def close(self) -> None:
        for manager in (self._direct, *self._proxied.values()):
            manager.clear()

    def __repr__(self) -> str:  # proxy URLs may carry credentials: never shown
        return "<PhotoClient>"


def make_photo_client(settings: Any, *, pool_size: int = 2) -> PhotoClient:
    """The client the metadata engine reads photo headers with (one per worker thread)."""
    return PhotoClient(settings, pool_size=pool_size)


def describe_request_failure(exc: requests.RequestException, url: str, secrets: Any = ()) -> RequestError:
    """Turn a requests exception into a :class:`RequestError` a person can act on."""
    where = redact(_strip_query(url), secrets)
    if isinstance(exc, requests.exceptions.SSLError):
        return RequestError(
            f"The TLS certificate of {where} could not be verified.",
            hint="If the server uses an internal certificate authority, set CA_BUNDLE to its PEM file; "
                 "only as a last resort set DISABLE_SSL_VERIFICATION=true.")
    if isinstance(exc, requests.exceptions.Timeout):
        return RequestError(f"{where} did not answer in time.",
                            hint="Check the server is up, or raise TIMEOUT_SECONDS.")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return RequestError(f"Could not connect to {where}.",
                            hint="Check the URL, that the server is running, and any proxy settings.")
    return RequestError(f"The request to {where} failed: {exc.__class__.__name__}.")


def _strip_query(url: str) -> str:
    """Drop the query string: it may hold signatures (presigned S3) or, from other clients, tokens."""
    return url.split("?", 1)[0]
