"""Image metadata engine: photo URL or path → Oriented Imagery attributes, reading header bytes only.

Public API (others call it; keep it stable):

* :func:`inspect_source` ``(source, *, settings, imagery_type=None, client=None) -> PhotoInfo``
  (``session=`` of earlier releases: accepted, ignored, DeprecationWarning)
* :func:`inspect_bytes` ``(data, *, source, settings, imagery_type=None) -> PhotoInfo`` (bytes in memory)
* :class:`PhotoInfo` (``.source .ok .error .bytes_read .warnings .attributes``, ``.to_dict()``)
* :data:`ATTRIBUTE_KEYS`: the 17 attribute names, in output order.

Modules: ``jpeg`` (segment walker), ``tiff`` (EXIF IFDs), ``xmp`` (safe XMP), ``rules``
(attribute rules), ``geomag`` (magnetic → true north), ``fetch`` (range reads, files), ``engine`` (one photo). Many photos are read by the one photo pass of the pipeline
(:mod:`xpgeo_core.pipeline.photos`: ``xpgeo inspect`` and every append).
"""

from xpgeo_core.metadata.engine import inspect_bytes, inspect_source
from xpgeo_core.metadata.photo import ATTRIBUTE_KEYS, PhotoError, PhotoInfo

__all__ = ["inspect_source", "inspect_bytes", "PhotoInfo", "PhotoError", "ATTRIBUTE_KEYS"]
