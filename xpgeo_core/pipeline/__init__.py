"""The one image pipeline: each photo identified once, its header read once, sent in one append loop.

* :mod:`~xpgeo_core.pipeline.identity` — list entries (line number + text) become :class:`Image`
  values, each holding its :class:`~xpgeo_core.urls.PhotoRef` (web or file, the address to fetch,
  the ImagePath the layer stores, the form shown); de-duplicated on the ImagePath.
* :mod:`~xpgeo_core.pipeline.photos` — the one pass over the photos (metadata read once;
  ``--preflight`` is the same pass, reused), cancellable, in-flight sockets closed on cancel.
* :mod:`~xpgeo_core.pipeline.sink` — what a backend is to the loop: a sink that takes photos with
  their attributes (portal, local) or URLs (XPGEO server).
* :mod:`~xpgeo_core.pipeline.accounting` — the loop's books: one result per image, pure.
* :mod:`~xpgeo_core.pipeline.loop` — the one append loop: chunks, per-image progress and results,
  a fatal error stops it, no image is ever lost, Cancel stops it within two seconds.
"""

from xpgeo_core.pipeline.identity import Gathered, Image, gather
from xpgeo_core.pipeline.loop import run_append
from xpgeo_core.pipeline.sink import Item, Sink, Stop

__all__ = ["Image", "Gathered", "gather", "run_append", "Item", "Sink", "Stop"]
