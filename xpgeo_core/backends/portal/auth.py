"""How the portal backend proves who it is: one object per kind of credential.

Like arcgis-rest-js's ``ApiKeyManager`` / ``ArcGISIdentityManager``, each object knows how
to put its credential on a request and, where possible, how to get a fresh one:

* :class:`ApiKeyAuth`: an API key as ``X-Esri-Authorization: Bearer <key>``; cannot refresh.
* :class:`UserPasswordAuth`: ``generateToken`` with ``client=referer``; the token is bound
  to that Referer, so the same Referer goes on every later call. Refreshed shortly
  before it expires, and once when the portal answers 498/499.
* :class:`ProSignInAuth`: ArcGIS Pro's own sign-in (``arcpy.GetSigninToken()``) through a
  token provider callable, so a signed-in Pro user types nothing.

Tokens go in headers (and, on POST, the form body); never in a URL. None of these
objects shows its secret in ``repr``.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from xpgeo_core.errors import AuthError, ConfigError, RequestError, ServerError, XpgeoError
from xpgeo_core.urls import safe_url
from xpgeo_core.settings import Settings

log = logging.getLogger("xpgeo.backends.portal")

HEADER = "X-Esri-Authorization"
REFRESH_AHEAD_SECONDS = 300.0
"""Refresh this long before expiry (arcgis-rest-js uses five minutes)..."""
REFRESH_AHEAD_FRACTION = 0.1
"""...or a tenth of the token's lifetime, whichever is shorter (short-lived test tokens)."""

Clock = Callable[[], float]
Credentials = Tuple[Dict[str, str], Dict[str, str]]
"""(headers, form fields) to add to one request."""


def epoch_seconds(value: Any) -> Optional[float]:
    """An ``expires`` value in seconds. Portals give epoch milliseconds (sometimes as a
    string); ArcGIS Pro's unit is undocumented, so anything past the year 5138 in
    seconds is read as milliseconds."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number / 1000.0 if number > 1e11 else number


PORTAL_URL_FORM = ("A portal URL is the portal's root: https://<host>/<web adaptor> for ArcGIS Enterprise, "
                   "usually https://gis.example.com/portal, or https://www.arcgis.com (or "
                   "https://<org>.maps.arcgis.com) for ArcGIS Online.")
_BROWSER_PAGE = re.compile(r"/(home/.+|apps(/.*)?|portaladmin(/.*)?|[^/]+\.(html?|aspx|jsp))$", re.I)
"""A page of a portal (``/home/index.html``, ``/apps/…``, ``/portaladmin``); ``…/home`` alone is accepted."""


class PortalUrlError(ServerError):
    """The portal URL does not name a portal: says what is wrong with it and the form it should take
    (exit 4, like any server that is not the one we expected; never reported as a wrong password)."""

    kind = "portal_url"


def check_portal_url(portal_url: str) -> None:
    """Refuse, before any request, a portal URL that is a page of the portal rather than the portal:
    ``…/portal/home/index.html`` copied from a browser's address bar, an app or admin page."""
    parts = urlsplit(portal_url)
    path = parts.path.rstrip("/")
    match = _BROWSER_PAGE.search(path)
    if match is None:
        return
    root = f"{parts.scheme}://{parts.netloc}{path[:match.start()]}"
    raise PortalUrlError(f"The portal URL {safe_url(portal_url)!r} is the address of a page of the portal (as a browser "
                         f"shows it), not the portal itself; use {root!r}.", hint=PORTAL_URL_FORM)


def _probe_portal(client: Any, sharing_root: str) -> Optional[str]:
    """Why the URL is not an ArcGIS portal, or None when ``…/sharing/rest`` answers as one
    (an unauthenticated GET of the REST root gives ``currentVersion``). A 5xx or no answer
    says nothing about the URL: reported as ``"unavailable"``."""
    try:
        answer = client.call("GET", sharing_root, authenticate=False, what="the portal's REST root")
    except RequestError:
        return "unavailable"
    except XpgeoError as exc:
        if exc.status is not None and exc.status >= 500:
            return "unavailable"
        return exc.message
    if isinstance(answer, dict) and answer.get("currentVersion") is not None:
        return None
    return f"{sharing_root} answered JSON without the portal's currentVersion"


def not_a_portal(portal_url: str, why: str) -> PortalUrlError:
    """The error for a URL that does not answer as a portal: the answer, and the URL's likely fault."""
    parts = urlsplit(portal_url)
    fault = ""
    if parts.path.strip("/") == "" and not parts.netloc.lower().endswith("arcgis.com"):
        fault = (f" It has no path: an ArcGIS Enterprise portal sits under its web adaptor name, usually "
                 f"{portal_url.rstrip('/')}/portal.")
    return PortalUrlError(f"The portal URL {safe_url(portal_url)!r} does not answer as an ArcGIS portal ({why}).{fault}",
                          hint=PORTAL_URL_FORM)


class PortalAuth:
    """The interface: credentials for a request, a refresh, the secrets to redact."""

    kind = "none"
    referer: Optional[str] = None

    def credentials(self, client: Any) -> Credentials:
        return {}, {}

    def refresh(self, client: Any) -> bool:
        """Get a new credential after the portal rejected the current one.
        False when there is nothing better to try (the caller then gives up)."""
        return False

    def secrets(self) -> List[str]:
        return []

    def describe(self) -> str:
        return self.kind

    rejected_hint = "Check the portal credentials."
    """What to do when the portal still rejects the credential after a refresh."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.describe()})"


class ApiKeyAuth(PortalAuth):
    """An ArcGIS API key (developer credential): a long-lived bearer credential."""

    kind = "API key"
    rejected_hint = ("Check CLIENT_ESRI_API_KEY (XPGEO_API_KEY): it may have expired or been revoked, or be for "
                     "another portal.")

    def __init__(self, key: str) -> None:
        self._key = key

    def credentials(self, client: Any) -> Credentials:
        return {HEADER: "Bearer " + self._key}, {}

    def secrets(self) -> List[str]:
        return [self._key]


class _TokenAuth(PortalAuth):
    """A short-lived token, cached with its expiry and fetched again ahead of it."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._token: Optional[str] = None
        self._expires: Optional[float] = None
        self._refresh_at: Optional[float] = None
        self._old: List[str] = []

    def _fetch(self, client: Any) -> Tuple[str, Optional[float]]:
        raise NotImplementedError

    def _store(self, token: str, expires: Optional[float]) -> None:
        if self._token:
            self._old.append(self._token)  # still redacted if a server echoes it later
        now = self._clock()
        self._token, self._expires = token, expires
        if expires is None:
            self._refresh_at = None
        else:
            ahead = min(REFRESH_AHEAD_SECONDS, max(0.0, expires - now) * REFRESH_AHEAD_FRACTION)
            self._refresh_at = expires - ahead

    def _stale(self) -> bool:
        return self._token is None or (self._refresh_at is not None and self._clock() >= self._refresh_at)

    def token(self, client: Any) -> str:
        if self._stale():
            if self._token is not None:
                log.debug("The portal token is about to expire; getting a new one.")
            self._store(*self._fetch(client))
        assert self._token is not None
        return self._token

    def credentials(self, client: Any) -> Credentials:
        token = self.token(client)
        return {HEADER: "Bearer " + token}, {"token": token}

    def refresh(self, client: Any) -> bool:
        old = self._token
        self._store(*self._fetch(client))
        return self._token != old

    def secrets(self) -> List[str]:
        return [t for t in [self._token] + self._old if t]


class UserPasswordAuth(_TokenAuth):
    """A built-in portal account: ``generateToken`` with ``client=referer``."""

    kind = "username/password"
    rejected_hint = "Check USERNAME and PASSWORD, and that REFERER (if set) is allowed by the portal."

    def __init__(self, sharing_root: str, username: str, password: str, *, referer: str, minutes: int,
                 clock: Clock = time.time, portal_url: Optional[str] = None) -> None:
        super().__init__(clock)
        self.sharing_root = sharing_root
        self.portal_url = portal_url or sharing_root
        self.username = username
        self._password = password
        self.referer = referer
        self.minutes = minutes

    def describe(self) -> str:
        return f"username/password ({self.username})"

    def _fetch(self, client: Any) -> Tuple[str, Optional[float]]:
        url = self.sharing_root + "/generateToken"
        form = {"username": self.username, "password": self._password, "client": "referer",
                "referer": self.referer, "expiration": str(self.minutes)}
        try:
            answer = client.call("POST", url, form, authenticate=False, what="generateToken")
        except RequestError:
            raise
        except XpgeoError as exc:
            raise self._refusal(client, exc) from None
        token = answer.get("token")
        if not isinstance(token, str) or not token:
            raise AuthError("The portal's generateToken answer holds no token.",
                            hint="Check PORTAL_URL names the portal (e.g. https://gis.example.com/portal).")
        if answer.get("ssl") and not url.lower().startswith("https://"):
            log.warning("The portal requires HTTPS for its tokens (ssl: true); set PORTAL_URL to https://...")
        return token, epoch_seconds(answer.get("expires"))

    def _refusal(self, client: Any, exc: XpgeoError) -> XpgeoError:
        """What a failed generateToken means. Only a portal that answers as a portal can say the
        credentials are wrong: a URL that is not a portal is a URL error, a 5xx a server error."""
        why = _probe_portal(client, self.sharing_root)
        if why == "unavailable" or (why is None and exc.status is not None and exc.status >= 500):
            return ServerError(f"The portal's generateToken failed ({exc.message}); the portal or a proxy in "
                               "front of it is not working.", status=exc.status,
                               hint="Try again later; if it persists, ask the portal's administrator.")
        if why is not None:
            return not_a_portal(self.portal_url, why)
        return AuthError(f"The portal did not give a token to {self.username!r}: {exc.message}",
                         status=exc.status,
                         hint="Check USERNAME and PASSWORD (XPGEO_USERNAME / XPGEO_PASSWORD). Accounts that "
                              "sign in through SAML or OAuth have no password here: use an API key or "
                              "ArcGIS Pro's sign-in instead.")


class ProSignInAuth(_TokenAuth):
    """ArcGIS Pro's active portal sign-in, through ``token_provider`` (asked again on
    every refresh, never cached across runs: Pro renews its own token)."""

    kind = "ArcGIS Pro sign-in"
    rejected_hint = "Sign in to the portal again in ArcGIS Pro (Project > Portals), then rerun the tool."

    def __init__(self, provider: Callable[[], Optional[Dict[str, Any]]], clock: Clock = time.time) -> None:
        super().__init__(clock)
        self._provider = provider

    def _fetch(self, client: Any) -> Tuple[str, Optional[float]]:
        try:
            info = self._provider()
        except Exception as exc:  # arcpy raises its own types
            raise AuthError(f"ArcGIS Pro did not give its sign-in token ({exc.__class__.__name__}).",
                            hint="Sign in to your portal in ArcGIS Pro (Project > Portals), or set an API key "
                                 "or USERNAME/PASSWORD.") from None
        if not isinstance(info, dict) or not info.get("token"):
            raise AuthError("ArcGIS Pro is not signed in to a portal.",
                            hint="Sign in to your portal in ArcGIS Pro (Project > Portals), or set an API key "
                                 "or USERNAME/PASSWORD.")
        self.referer = info.get("referer") or self.referer
        return str(info["token"]), epoch_seconds(info.get("expires"))


def make_auth(settings: Settings, sharing_root: str, portal_url: str, token_provider: Optional[Callable] = None,
              clock: Clock = time.time) -> PortalAuth:
    """The credential the settings call for. Precedence: an API key, then a username and
    password, then ArcGIS Pro's sign-in (the tools' default when nothing is configured)."""
    check_portal_url(portal_url)
    if settings.api_key:
        return ApiKeyAuth(settings.api_key.reveal())
    if settings.username or settings.password:
        if not (settings.username and settings.password):
            missing = "PASSWORD" if settings.username else "USERNAME"
            raise ConfigError(f"{missing} is not set, but the other half of the portal login is.",
                              hint="Set both USERNAME and PASSWORD (XPGEO_USERNAME / XPGEO_PASSWORD), "
                                   "or use CLIENT_ESRI_API_KEY.")
        return UserPasswordAuth(sharing_root, settings.username, settings.password.reveal(),
                                referer=settings.referer or portal_url, minutes=settings.token_minutes, clock=clock,
                                portal_url=portal_url)
    if token_provider is not None:
        return ProSignInAuth(token_provider, clock)
    raise ConfigError("No portal credentials are set.",
                      hint="Set CLIENT_ESRI_API_KEY (XPGEO_API_KEY), or USERNAME and PASSWORD, or run the tool "
                           "in ArcGIS Pro signed in to the portal.")
