"""The AerialSphere XPGEO REST server backend, in the same parts as every backend.

* :mod:`~xpgeo_core.backends.xpgeo.client` — the server's API: its contract (every path, parameter
  and field name), one request helper, one function per operation, how its answers are read;
* :mod:`~xpgeo_core.backends.xpgeo.backend` — :class:`XpgeoRestBackend`: health check, create,
  the portal it writes to (for the viewer check and for proving what landed);
* :mod:`~xpgeo_core.backends.xpgeo.sink` — :class:`XpgeoSink`: the append loop's sink (URLs, chunked,
  the ledger, lost answers checked before anything is sent again).

Layer names: the server's own rule is not published (:mod:`xpgeo_core.backends.names`).
"""

from xpgeo_core.backends.xpgeo.backend import XpgeoRestBackend
from xpgeo_core.backends.xpgeo.sink import PORTAL_PLACEHOLDER, XpgeoSink

__all__ = ["XpgeoRestBackend", "XpgeoSink", "PORTAL_PLACEHOLDER"]
