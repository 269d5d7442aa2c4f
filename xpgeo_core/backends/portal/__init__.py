"""The ``portal`` backend: ArcGIS Online / Enterprise straight through the ArcGIS REST API.

Modules: ``auth`` (API key, username/password, ArcGIS Pro sign-in), ``rest`` (the one
request helper and error check), ``api`` (one function per REST operation),
``backend`` (health check, create layer, append images).
"""

from xpgeo_core.backends.portal.backend import PortalBackend

__all__ = ["PortalBackend"]
