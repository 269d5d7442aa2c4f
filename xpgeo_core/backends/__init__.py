"""Backends, chosen by the ``backend`` setting.

``auto`` (the default): ``xpgeo`` when an XPGEO server URL is set; else ``portal``
when a portal URL or an ArcGIS Pro sign-in is available; else ``local``.
"""

from __future__ import annotations

import logging
from typing import Optional

from xpgeo_core.backends.base import Backend, TokenProvider
from xpgeo_core.errors import ConfigError
from xpgeo_core.settings import BACKENDS, SETTINGS, BackendName, Settings

log = logging.getLogger("xpgeo")

BACKEND_NAMES = tuple(name for name in BACKENDS if name != "auto")


def _backend_class(name: str) -> type:
    # Static import statements (not importlib) so ArcGIS Pro's web-tool publisher,
    # which follows static imports only, copies every backend module to the server.
    if name == "xpgeo":
        from xpgeo_core.backends.xpgeo import XpgeoRestBackend
        return XpgeoRestBackend
    if name == "portal":
        from xpgeo_core.backends.portal import PortalBackend
        return PortalBackend
    if name == "local":
        from xpgeo_core.backends.local import LocalBackend
        return LocalBackend
    raise ConfigError(f"Unknown backend {name!r}.", hint="Use one of: auto, " + ", ".join(BACKEND_NAMES) + ".")


def choose_backend_name(settings: Settings, *, token_provider: Optional[TokenProvider] = None,
                        portal_url: Optional[str] = None) -> BackendName:
    """Which backend a run uses (see module docstring)."""
    if settings.backend != BackendName.AUTO:
        return BackendName(settings.backend)
    if settings.rest_url:
        return BackendName.XPGEO
    if settings.portal_url or (token_provider is not None and portal_url):
        return BackendName.PORTAL
    return BackendName.LOCAL


def _warn_if_server_settings_unused(settings: Settings) -> None:
    """Auto fell back to a local folder although XPGEO server or portal credentials are set: say so,
    or a person believes the photos went to the server (a reference-client .env without a server URL)."""
    given = [spec.keys[0] for spec in SETTINGS if spec.attr in ("api_key", "username", "password")
             and settings.values.get(spec.attr) and settings.source_of(spec.attr) != "default"]
    if given:
        log.warning("%s %s set, but no XPGEO server URL (XPGEO_REST_URL) or portal URL (PORTAL_URL) is: Auto "
                    "chose the local folder %s. Set XPGEO_REST_URL (or PORTAL_URL) to send the layer there, or "
                    "set the backend to local to silence this.", " and ".join(given),
                    "is" if len(given) == 1 else "are", settings.output_dir)


def get_backend(settings: Settings, *, token_provider: Optional[TokenProvider] = None,
                portal_url: Optional[str] = None, session=None) -> Backend:
    """Build the backend the settings call for."""
    name = choose_backend_name(settings, token_provider=token_provider, portal_url=portal_url)
    if name == "local" and settings.backend == "auto":
        _warn_if_server_settings_unused(settings)
    cls = _backend_class(name)
    return cls(settings, session=session, token_provider=token_provider, portal_url=portal_url)


__all__ = ["Backend", "BackendName", "TokenProvider", "choose_backend_name", "get_backend", "BACKEND_NAMES"]
