"""The interface every backend implements.

Operations validate inputs first (layer name, URLs, duplicates), so a backend only
sees clean, distinct URLs and returns one :class:`ImageResult` for each of them.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Dict, Optional, Sequence

import requests

from xpgeo_core.http import make_session
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.results import AppendReport, CreateResult, HealthResult, ProgressCallback, no_progress
from xpgeo_core.settings import Settings

TokenInfo = Dict[str, Any]
"""``{"token": str, "referer": str | None, "expires": epoch seconds | None}``."""
TokenProvider = Callable[[], Optional[TokenInfo]]
"""Called whenever a fresh token is needed (ArcGIS Pro's ``GetSigninToken``)."""


class Backend(abc.ABC):
    """One place layers are made. Subclasses: XPGEO REST, portal, local folder."""

    name: str = "backend"

    def __init__(self, settings: Settings, *, session: Optional[requests.Session] = None,
                 token_provider: Optional[TokenProvider] = None, portal_url: Optional[str] = None) -> None:
        self.settings = settings
        self._session = session
        self.token_provider = token_provider
        self.portal_url = portal_url or settings.portal_url

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = make_session(self.settings)
        return self._session

    def secrets(self) -> list:
        """Every secret this backend may put on the wire, for redaction."""
        return self.settings.secrets()

    @abc.abstractmethod
    def health_check(self) -> HealthResult:
        """Is the target reachable and are the credentials good enough to publish?"""

    @abc.abstractmethod
    def create_layer(self, name: str, imagery_type: Optional[str] = None, *,
                     options: Optional[LayerOptions] = None) -> CreateResult:
        """Create an empty OI layer named *name* (or *name* plus a timestamp when taken), with
        *options* (sharing, folder, tags, summary, elevation source) as far as the backend can
        honour them; what it cannot is said in ``CreateResult.messages`` and a warning."""

    @abc.abstractmethod
    def append_images(self, name: str, urls: Sequence[str], *,
                      progress: ProgressCallback = no_progress,
                      imagery_type: Optional[str] = None) -> AppendReport:
        """Append distinct, valid *urls* to layer *name*; one result per URL, in order."""

    def append_image(self, name: str, url: str, *, imagery_type: Optional[str] = None) -> AppendReport:
        """Append one URL. Backends with a single-image endpoint override this."""
        return self.append_images(name, [url], imagery_type=imagery_type)

    def record_report(self, report: AppendReport) -> None:
        """Told the final report of an append, with the list's rejected lines and line numbers
        merged in by the operations; a backend that keeps a report (local) rewrites it. No-op here."""

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
