"""The one HTTP session factory every backend and the metadata engine use.

Why one factory: time-outs, retries, TLS verification, proxies and the User-Agent
must be the same for every request, and a person who turns certificate checks off
must be told so once, not find out from a packet capture.

Works with urllib3 1.26 (older ArcGIS Pro releases) and 2.x: only ``Retry``
arguments present in both are used.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, Mapping, Optional, Union
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.util.retry import Retry

from xpgeo_core import __version__
from xpgeo_core.errors import RequestError, redact
from xpgeo_core.urls import strip_query

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
    verify = tls_verify(settings)
    # certifi's bundle as True: requests then uses its preloaded SSL context instead of
    # reading the file for each new connection (tls_verify already read the environment).
    session.verify = True if verify == DEFAULT_CA_BUNDLE_PATH else verify
    # Proxies: requests reads HTTP(S)_PROXY / NO_PROXY from the environment (trust_env).
    return session


def tls_verify(settings: Any, environ: Optional[Mapping[str, str]] = None) -> Union[str, bool]:
    """The CA bundle file to verify servers with, or ``False`` (with the warning) when the
    person turned verification off.

    Every client, the REST session and the photo client alike, takes its TLS decision here,
    so both trust the same authorities and the insecure switch is warned about once per run
    (one Settings object), however many worker sessions and clients it makes. The bundle is
    ``CA_BUNDLE``, else ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` from the environment (what
    requests itself would use: machines behind a TLS-inspecting proxy often set them), else
    certifi's bundle, requests' default.
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
    environ = os.environ if environ is None else environ
    bundle = settings.ca_bundle or environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE")
    return os.path.expanduser(bundle) if bundle else DEFAULT_CA_BUNDLE_PATH


def describe_request_failure(exc: requests.RequestException, url: str, secrets: Any = ()) -> RequestError:
    """Turn a requests exception into a :class:`RequestError` a person can act on."""
    where = redact(strip_query(url), secrets)
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
