"""The interface every backend implements.

Operations validate inputs first (layer name, URLs, duplicates on the ImagePath). For
appends a backend is a sink (:meth:`Backend.open_sink`, see :mod:`xpgeo_core.pipeline.sink`):
the one append loop (:mod:`xpgeo_core.pipeline.loop`) does the chunking, progress and
accounting for every backend alike.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Optional

from xpgeo_core.http import XpgeoSession, make_session
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.results import AppendReport, CreateResult, HealthResult
from xpgeo_core.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from xpgeo_core.pipeline.sink import Sink
    from xpgeo_core.readiness import ViewerTarget

TokenInfo = Dict[str, Any]
"""``{"token": str, "referer": str | None, "expires": epoch seconds | None}``."""
TokenProvider = Callable[[], Optional[TokenInfo]]
"""Called whenever a fresh token is needed (ArcGIS Pro's ``GetSigninToken``)."""


class Backend(abc.ABC):
    """One place layers are made. Subclasses: XPGEO REST, portal, local folder."""

    name: str = "backend"  # a BackendName in each backend

    def __init__(self, settings: Settings, *, session: Optional[XpgeoSession] = None,
                 token_provider: Optional[TokenProvider] = None, portal_url: Optional[str] = None) -> None:
        self.settings = settings
        self._session = session
        self.token_provider = token_provider
        self.portal_url = portal_url or settings.portal_url

    @property
    def session(self) -> XpgeoSession:
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
    def open_sink(self, name: str, *, imagery_type: Optional[str] = None, single: bool = False) -> "Sink":
        """The sink that appends to layer *name* (a 404 when there is no such layer).
        ``single``: one image (the XPGEO server has an endpoint for that)."""

    def viewer_target(self) -> "ViewerTarget":
        """Where this backend's layers are viewed: the web origins Esri's viewer fetches the photos
        from, and whether they must be https (the viewer-readiness check, :mod:`xpgeo_core.readiness`)."""
        from xpgeo_core.readiness import unknown_portal_target

        return unknown_portal_target(f"the portal of the {self.name} backend")

    def layer_image_paths(self, name: str) -> Iterator[str]:
        """Every ImagePath of layer *name*, in the layer's order (``xpgeo check-layer``)."""
        raise NotImplementedError(f"the {self.name} backend cannot list a layer's photos")

    def abort(self) -> None:
        """Cancel: shut the in-flight connections of this backend's session."""
        if self._session is not None:
            tracker = getattr(self._session, "tracker", None)
            if tracker is not None:
                tracker.abort()

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
