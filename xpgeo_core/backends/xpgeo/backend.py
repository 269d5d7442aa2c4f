"""The AerialSphere XPGEO REST server backend: health, create, and the sink its appends go through.

The server takes photo URLs and reads the photos itself; it cannot be asked what a layer holds, so
what landed is checked through the portal it writes to when XPGEO knows it (PORTAL_URL). Requests
are :mod:`~xpgeo_core.backends.xpgeo.client`'s; the sink is :mod:`~xpgeo_core.backends.xpgeo.sink`.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, Optional

from xpgeo_core.answers import object_at
from xpgeo_core.backends.base import Backend
from xpgeo_core.backends.xpgeo import client as api
from xpgeo_core.backends.xpgeo.client import LayerMissing, XpgeoClient
from xpgeo_core.backends.xpgeo.sink import XpgeoSink
from xpgeo_core.errors import ConfigError, ServerError, XpgeoError
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.results import CreateResult, HealthResult
from xpgeo_core.settings import BackendName, Settings

log = logging.getLogger("xpgeo.backends.xpgeo")


class XpgeoRestBackend(Backend):
    """Talks to an XPGEO REST server at ``settings.rest_url``."""

    name = BackendName.XPGEO

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        if not settings.rest_url:
            raise ConfigError("The XPGEO server URL is not set.",
                              hint="Set XPGEO_REST_URL in xpgeo.env (or the environment), or pass --rest-url.")
        self.base_url = settings.rest_url.rstrip("/")
        self._client: Optional[XpgeoClient] = None

    @property
    def client(self) -> XpgeoClient:
        """The server's API client, on this backend's session (made when first needed)."""
        if self._client is None:
            self._client = XpgeoClient(self.settings, self.session, self.base_url, self.secrets())
        return self._client

    # -- operations -----------------------------------------------------------------
    def health_check(self) -> HealthResult:
        alive = api.liveness(self.client)
        text, parsed = api.health(self.client)
        versions = parsed if isinstance(parsed, dict) else api.parse_json(text.split(api.HEALTH_PREFIX, 1)[-1].strip())
        if not isinstance(versions, dict):
            versions = {"response": text.strip()[:api.MESSAGE_LIMIT]}
        return HealthResult(backend=self.name, liveness_label="XPGEO REST", liveness_message=alive.strip(),
                            versions=versions, details={"server": self.base_url})

    def create_layer(self, name: str, imagery_type: Optional[str] = None, *,
                     options: Optional[LayerOptions] = None) -> CreateResult:
        # The server's create takes a name and an imagery type and shares with the organization.
        messages = (options or LayerOptions()).not_honoured("The XPGEO server", honoured=())
        for message in messages:
            log.warning(message)
        text, parsed = api.create_layer(self.client, name, imagery_type)
        if not isinstance(parsed, dict):
            raise ServerError(f"The XPGEO server's answer to {api.PATH_CREATE} is not JSON: {text[:200]!r}.",
                              hint="Check XPGEO_REST_URL points at an XPGEO REST server.")
        layer = object_at(parsed, api.R_LAYER)
        service_url = next((parsed[k] for k in api.R_SERVICE_URL if isinstance(parsed.get(k), str)), None)
        return CreateResult(backend=self.name, requested_name=name,
                            layer_name=str(parsed.get(api.R_SERVICE_NAME) or name),
                            item_id=parsed.get(api.R_SERVICE_ITEM_ID), service_url=service_url,
                            service_type=parsed.get(api.R_SERVICE_TYPE), layer=layer, response=parsed,
                            messages=messages)

    def _portal(self) -> Any:
        """The portal the server publishes to, when XPGEO knows it (PORTAL_URL): the XPGEO server's
        API lists no layer's photos and names no portal."""
        if not self.settings.portal_url:
            return None
        from xpgeo_core.backends.portal.backend import PortalBackend

        return PortalBackend(self.settings, token_provider=self.token_provider, session=self.session)

    def viewer_target(self) -> Any:
        from xpgeo_core.readiness import portal_target, unknown_portal_target

        if self.settings.portal_url:
            return portal_target(self.settings.portal_url)
        return unknown_portal_target(f"the portal of the XPGEO server {self.base_url}")

    def layer_image_paths(self, name: str) -> Iterator[str]:
        portal = self._portal()
        if portal is None:
            raise ConfigError(f"The photos of layer '{name}' on the XPGEO server can be read only through its "
                              "portal, and no portal URL is set.",
                              hint="Set PORTAL_URL (and the portal credentials) to the portal the XPGEO server "
                                   "publishes to.")
        return portal.layer_image_paths(name)

    def open_sink(self, name: str, *, imagery_type: Optional[str] = None, single: bool = False) -> "XpgeoSink":
        return XpgeoSink(self, name, imagery_type=imagery_type, single=single)

    def layer_missing(self, name: str, exc: XpgeoError) -> LayerMissing:
        """The one error for an append to a layer the server lacks (the run stops: nothing can land)."""
        return LayerMissing(f"Layer '{name}' does not exist on the XPGEO server {self.base_url}: create it first "
                            f"({exc.message}).", status=exc.status,
                            hint="Run xpgeo create-oi-layer --name NAME first, then append to the layer name it "
                                 "prints (a taken name gets a timestamp).")
