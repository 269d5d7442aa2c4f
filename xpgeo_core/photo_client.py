"""The HTTP client the metadata engine reads photo headers with: urllib3 directly, with
the REST session's policy (``xpgeo_core.http``).

Why not a ``requests.Session``: reading a photo's header is one small GET, repeated for
thousands of photos, and requests' per-request layers (cookie jars, netrc, hooks, header
merging, response wrapping) cost 0.25 ms of CPU per photo, most of the engine's CPU; at 8
workers that is 2–4 points of the latency bound (docs/performance.md). What a photo URL
needs of requests is kept, and tested in ``tests/test_photo_client.py``:

- the same time-out, retries (429/502/503/504 and dropped connections, Retry-After) and
  User-Agent as the REST session, and the same TLS decision (:func:`xpgeo_core.http.tls_verify`),
  its CA bundle loaded once per process into one SSL context, at the first https photo, instead
  of once per connection;
- proxies from the environment as requests reads them (``HTTP(S)_PROXY``, ``ALL_PROXY``,
  ``NO_PROXY``; on Windows the system settings), with proxy credentials, https tunnelled;
- credentials in the URL (``https://user:pass@host/...``) sent as Basic auth, and dropped
  when a redirect leaves that scheme, host and port;
- redirects followed (up to 10) with the Range kept, ``Location`` headers read as UTF-8 as
  requests does, and cookies set along a redirect chain sent back along it to the host that set
  them (bot checks and CDN hand-offs set one, then redirect); a long redirect body is not read.

What it leaves out: a cookie jar kept between photos, and netrc credentials.
One client per worker thread, as with sessions; :meth:`PhotoClient.close` drops its connections.
"""

from __future__ import annotations

import base64
import os
import ssl
import threading
import warnings
from typing import Any, Dict, Optional, Tuple
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import urllib3
from requests.utils import get_auth_from_url, get_environ_proxies, prepend_scheme_if_needed, select_proxy
from urllib3.util.ssl_ import create_urllib3_context

from xpgeo_core.http import USER_AGENT, ConnectionTracker, make_retry, origin, tls_verify
from xpgeo_core.urls import safe_url
from xpgeo_core.settings import Settings

MAX_REDIRECTS = 10


class TooManyRedirects(urllib3.exceptions.MaxRetryError):
    """A photo URL that redirects more than :data:`MAX_REDIRECTS` times."""


class PhotoResponse:
    """One answer to :meth:`PhotoClient.get`: status, headers, and the body as a stream."""

    def __init__(self, raw: Any, sent_cookies: bool = False) -> None:
        self._raw = raw
        self.status: int = raw.status
        self.reason: str = raw.reason or ""
        self.headers = raw.headers  # case-insensitive
        self.sent_cookies = sent_cookies
        """The last hop carried cookies set along the redirect chain (a viewer's fetch would not)."""

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
    """GETs for photo headers; see the module docstring for what it keeps of requests."""

    def __init__(self, settings: Settings, *, pool_size: int = 2, tracker: Optional[ConnectionTracker] = None) -> None:
        timeout = settings.timeout_seconds or None
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self.tracker = tracker or ConnectionTracker()
        self._retries = make_retry(settings.retries, settings.retry_backoff, cancel=self.tracker.cancel)
        self._verify = tls_verify(settings)
        self._pool_size = pool_size
        self._plain = self._tracked(urllib3.PoolManager(num_pools=4, maxsize=pool_size))  # http:// needs no TLS
        self._secure: Optional[urllib3.PoolManager] = None  # made at the first https:// photo
        self._proxied: Dict[str, urllib3.PoolManager] = {}
        self._proxy_of: Dict[Tuple[str, str], Optional[str]] = {}

    def get(self, url: str, headers: Dict[str, str], *, anonymous: bool = False) -> PhotoResponse:
        """GET *url*, following redirects; raises urllib3's errors (``urllib3.exceptions``).
        ``anonymous``: as a web page's viewer asks another site (a ``fetch`` without credentials):
        no Basic auth from the URL, no cookies, even those set along the redirect chain."""
        try:
            url, auth = _split_credentials(url)
            if anonymous:
                auth = None
            auth_origin = _origin(url) if auth else None
            jar = _RedirectCookies()
            for _ in range(MAX_REDIRECTS + 1):
                hop = dict(headers, **{"User-Agent": USER_AGENT})
                if auth and _origin(url) == auth_origin:  # credentials are for the host they were given for
                    hop["Authorization"] = auth
                cookie = jar.header_for(url)
                if cookie:
                    hop["Cookie"] = cookie
                sent_cookies = bool(cookie)
                raw = self._manager_for(url).urlopen("GET", url, headers=hop, redirect=False, retries=self._retries,
                                                     timeout=self._timeout, preload_content=False,
                                                     enforce_content_length=True)  # 1.26's default is off
                location = raw.get_redirect_location()
                if not location:
                    return PhotoResponse(raw, sent_cookies)
                if not anonymous:
                    jar.take(url, raw.headers)
                _discard(raw)
                url = urljoin(url, _as_utf8(location))
        except urllib3.exceptions.HTTPError:
            raise  # urllib3's own (proxy, connection, TLS...): the caller maps them
        except ValueError as exc:  # urlsplit/urljoin on a malformed URL or Location
            raise urllib3.exceptions.LocationParseError(safe_url(str(url))) from exc
        # No pool is involved: urllib3 raises MaxRetryError without one too (Retry.increment, with
        # the same ignore), its annotation being narrower than its use.
        raise TooManyRedirects(None, safe_url(url),  # type: ignore[arg-type]
                               urllib3.exceptions.ResponseError("more than %d redirects" % MAX_REDIRECTS))

    def _manager_for(self, url: str) -> urllib3.PoolManager:
        """The direct pool, or the one for the proxy the environment names for this origin
        (looked up once per origin: the environment does not change during a run)."""
        origin = urlsplit(url)[:2]
        if origin not in self._proxy_of:
            proxies = get_environ_proxies(url)
            self._proxy_of[origin] = select_proxy(url, proxies) if proxies else None
        proxy = self._proxy_of[origin]
        if not proxy:
            if origin[0].lower() != "https":
                return self._plain
            if self._secure is None:
                self._secure = self._tracked(urllib3.PoolManager(num_pools=4, maxsize=self._pool_size,
                                                                 **self._tls()))
            return self._secure
        manager = self._proxied.get(proxy)
        if manager is None:
            manager = self._proxied[proxy] = self._tracked(self._proxy_manager(proxy))
        return manager

    def _tracked(self, manager: urllib3.PoolManager) -> urllib3.PoolManager:
        """Pools whose in-flight connections Cancel can shut, quiet about TLS (xpgeo_core.http)."""
        return self.tracker.install(manager)

    def _proxy_manager(self, proxy_url: str) -> urllib3.PoolManager:
        try:
            return self._new_proxy_manager(prepend_scheme_if_needed(proxy_url, "http"))
        except urllib3.exceptions.LocationValueError as exc:  # a proxy address urllib3 cannot parse
            if isinstance(exc, urllib3.exceptions.ProxySchemeUnknown):
                raise
            raise urllib3.exceptions.ProxyError("the proxy address is malformed", exc) from None

    def _new_proxy_manager(self, proxy_url: str) -> urllib3.PoolManager:
        user, password = get_auth_from_url(proxy_url)  # unquoted, as requests passes them
        if proxy_url.lower().startswith("socks"):
            try:
                with warnings.catch_warnings():  # urllib3 warns before failing; the error below says it
                    warnings.simplefilter("ignore", urllib3.exceptions.DependencyWarning)
                    from urllib3.contrib.socks import SOCKSProxyManager
            except ImportError:
                raise urllib3.exceptions.ProxySchemeUnknown("socks (needs the PySocks package)") from None
            return SOCKSProxyManager(proxy_url, username=user or None, password=password or None, num_pools=4,
                                     maxsize=self._pool_size, **self._tls())
        extra: Dict[str, Any] = {}
        if user:
            extra["proxy_headers"] = urllib3.make_headers(proxy_basic_auth="%s:%s" % (user, password))
        if proxy_url.lower().startswith("https"):  # the hop to the proxy is TLS too: the same trust
            extra["proxy_ssl_context"] = self._tls().get("ssl_context") or _unverified_context()
        return urllib3.ProxyManager(proxy_url, num_pools=4, maxsize=self._pool_size, **extra, **self._tls())

    def _tls(self) -> Dict[str, Any]:
        """Pool options for the TLS decision."""
        if self._verify is False:
            return {"cert_reqs": "CERT_NONE", "assert_hostname": False}
        return {"cert_reqs": "CERT_REQUIRED", "ssl_context": _ssl_context(str(self._verify))}

    def close(self) -> None:
        for manager in (self._plain, self._secure, *self._proxied.values()):
            if manager is None:
                continue
            manager.clear()

    def __repr__(self) -> str:  # proxy URLs and photo URLs may carry credentials: never shown
        return "<PhotoClient>"


def make_photo_client(settings: Settings, *, pool_size: int = 2) -> PhotoClient:
    """The client the metadata engine reads photo headers with (one per worker thread)."""
    return PhotoClient(settings, pool_size=pool_size)


def _ssl_context(bundle: str) -> ssl.SSLContext:
    """One verifying SSL context per CA bundle (a file, or a hashed folder as requests accepts),
    shared by every client and worker of the process (an SSLContext serves many connections and
    threads). Why: loading a bundle costs about 20 ms of CPU, and urllib3 would load it again for
    each new connection; keyed by the bundle's size and time too, so an edited one is read again.
    Raises :class:`CaBundleError` when the bundle cannot be used."""
    try:
        stamp = os.stat(bundle)
    except OSError as exc:
        raise CaBundleError("missing") from exc
    key = (bundle, stamp.st_size, stamp.st_mtime_ns)
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(key)
        if context is None:
            context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
            try:
                if os.path.isdir(bundle):
                    context.load_verify_locations(capath=bundle)
                else:
                    context.load_verify_locations(cafile=bundle)
            except (ssl.SSLError, OSError) as exc:
                raise CaBundleError("unreadable") from exc
            if len(_CONTEXTS) >= 8:
                _CONTEXTS.clear()
            _CONTEXTS[key] = context
    return context


def _unverified_context() -> ssl.SSLContext:
    context = create_urllib3_context(cert_reqs=ssl.CERT_NONE)
    context.check_hostname = False
    return context


class CaBundleError(urllib3.exceptions.HTTPError):
    """The CA bundle (CA_BUNDLE, REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE) is missing or not PEM."""


_CONTEXTS: Dict[Tuple[str, int, int], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def _split_credentials(url: str) -> Tuple[str, Optional[str]]:
    """The URL without ``user:password@``, and the Basic ``Authorization`` value they make."""
    if "@" not in url:
        return url, None
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(("%s:%s" % (unquote(user), unquote(password))).encode("utf-8")).decode("ascii")
    return urlunsplit(parts._replace(netloc=hostport)), "Basic " + token


def _origin(url: str) -> Tuple[str, str, int]:
    """Where Basic credentials may go: :func:`xpgeo_core.http.origin` (scheme, host, port).
    Unlike requests, an http → https upgrade on the same host drops them too."""
    return origin(url)


def _discard(raw: Any) -> None:
    """Let go of a redirect answer: a short body is read so the connection can serve the next
    hop, a long or unknown one closes the connection instead of being read into memory."""
    remaining = raw.length_remaining
    if remaining is not None and remaining <= 64 * 1024:
        raw.drain_conn()
    else:
        raw.close()
    raw.release_conn()


def _as_utf8(location: str) -> str:
    """http.client reads headers as Latin-1; servers send a non-ASCII Location as UTF-8."""
    try:
        return location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return location


class _RedirectCookies:
    """Cookies set along one redirect chain (bot checks and CDN hand-offs set one, then
    redirect), sent back only to the host that set them, and a ``Secure`` one only over https.
    Domain and Path are not widened: the chain is short and a cookie stays with its own host."""

    def __init__(self) -> None:
        self._by_host: Dict[str, Dict[str, Tuple[str, bool]]] = {}

    def take(self, url: str, headers: Any) -> None:
        host = (urlsplit(url).hostname or "").lower()
        for line in headers.getlist("Set-Cookie") if hasattr(headers, "getlist") else ():
            pair, _, rest = line.partition(";")
            name, eq, value = pair.partition("=")
            name = name.strip()
            if not eq or not name:
                continue
            attributes = [a.strip().lower() for a in rest.split(";")]
            cookies = self._by_host.setdefault(host, {})
            if "max-age=0" in attributes or any(a.startswith("max-age=-") for a in attributes):
                cookies.pop(name, None)  # the server deletes it
            else:
                cookies[name] = (value.strip(), "secure" in attributes)

    def header_for(self, url: str) -> Optional[str]:
        if not self._by_host:  # the common case: no redirect, or none that set a cookie
            return None
        parts = urlsplit(url)
        cookies = self._by_host.get((parts.hostname or "").lower(), {})
        https = parts.scheme.lower() == "https"
        pairs = ["%s=%s" % (name, value) for name, (value, secure) in cookies.items() if https or not secure]
        return "; ".join(pairs) or None
