"""How a photo's attributes become an ArcGIS feature of the OI layer (the portal's side of the pipeline)."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Sequence, Set

from xpgeo_core.schema import acquisition_ms, complete_photo, field_names

WGS84 = {"wkid": 4326}
IMAGE_PATH = "ImagePath"


def epoch_ms(text: Any) -> Optional[int]:
    """An ISO 8601 ``AcquisitionDate`` as ArcGIS date milliseconds (UTC); see
    :func:`xpgeo_core.schema.acquisition_ms`."""
    return acquisition_ms(text)


def feature_of(attributes: Dict[str, Any], fields: Optional[Set[str]] = None) -> Dict[str, Any]:
    """An ArcGIS feature (WGS84 point, Z when known) with the layer's OI fields (of the schema's, those
    in *fields*, lower case, when given: a layer made by an earlier release lacks the newer ones)."""
    geometry: Dict[str, Any] = {"x": attributes["X"], "y": attributes["Y"], "spatialReference": WGS84}
    if attributes.get("Z") is not None:
        geometry["z"] = attributes["Z"]
    attributes = complete_photo(attributes)  # every per-photo value, from the photo's own imagery type
    values = {name: attributes.get(name) for name in field_names()
              if name != "OBJECTID" and (fields is None or name.lower() in fields)}
    values["AcquisitionDate"] = epoch_ms(attributes.get("AcquisitionDate"))
    return {"geometry": geometry, "attributes": values}


QUERY_CHUNK_URLS = 50
"""ImagePaths per ``IN (...)`` query, and at most this many characters of them: a URL query stays short."""
QUERY_CHUNK_CHARS = 12000
def query_chunks(urls: Sequence[str]) -> Iterator[List[str]]:
    chunk: List[str] = []
    size = 0
    for url in urls:
        if chunk and (len(chunk) >= QUERY_CHUNK_URLS or size + len(url) > QUERY_CHUNK_CHARS):
            yield chunk
            chunk, size = [], 0
        chunk.append(url)
        size += len(url) + 3
    if chunk:
        yield chunk
