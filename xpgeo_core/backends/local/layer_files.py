"""The files of a local layer folder, and how a photo's attributes become each of them.

``features.geojson`` (RFC 7946 points) is the layer's source of truth; ``oi_table.csv`` (Esri's
oriented imagery table) and ``footprints.geojson`` are derived from its features. Pure functions:
the backend (:mod:`~xpgeo_core.backends.local.backend`) decides when each file is written.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Dict, Iterable, List, Optional, Sequence

from xpgeo_core import footprints, schema

LAYER_FILE = "layer.json"
FEATURES_FILE = "features.geojson"
FOOTPRINTS_FILE = "footprints.geojson"
OI_TABLE_FILE = "oi_table.csv"
PREVIEW_FILE = "preview.html"
REPORT_FILE = "report.json"
SRS_WGS84 = "4326"
ALREADY_PRESENT = "already in the layer"
NO_POSITION = "the photo has no usable GPS position"

def finite(value: Any) -> Any:
    """JSON has no NaN or infinity; an unknown number is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def feature_from_attributes(attributes: Dict[str, Any], object_id: int) -> Dict[str, Any]:
    """One RFC 7946 point feature (lon, lat[, z] in WGS84) carrying the layer's fields: every
    per-photo value filled (:func:`xpgeo_core.schema.complete_photo`), AcquisitionDate as ISO
    8601 UTC with ``Z`` (one form, so no reader takes it for its own local time)."""
    x, y, z = (finite(attributes.get(k)) for k in ("X", "Y", "Z"))
    coordinates = [float(x), float(y)] + ([float(z)] if z is not None else [])
    attributes = schema.complete_photo(attributes)
    properties: Dict[str, Any] = {"OBJECTID": object_id}
    for name in schema.field_names():
        if name != "OBJECTID":
            properties[name] = finite(attributes.get(name))
    properties["AcquisitionDate"] = schema.acquisition_iso(attributes.get("AcquisitionDate"))
    return {"type": "Feature", "id": object_id, "geometry": {"type": "Point", "coordinates": coordinates},
            "properties": properties}


def feature_collection(features: List[Dict[str, Any]]) -> Dict[str, Any]:
    collection: Dict[str, Any] = {"type": "FeatureCollection", "features": features}
    extent = extent_of(features)
    if extent:
        collection["bbox"] = [extent["xmin"], extent["ymin"], extent["xmax"], extent["ymax"]]
    return collection


def extent_of(features: Sequence[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The layer extent (WGS84) of the features, or None when there are none."""
    if not features:
        return None
    xs = [f["geometry"]["coordinates"][0] for f in features]
    ys = [f["geometry"]["coordinates"][1] for f in features]
    return {"xmin": min(xs), "ymin": min(ys), "xmax": max(xs), "ymax": max(ys), "spatialReference": {"wkid": 4326}}


def oi_table_csv(features: Iterable[Dict[str, Any]]) -> str:
    """Esri's oriented imagery table, one row per feature, columns from the schema."""
    columns = schema.oi_table_columns()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for feature in features:
        coordinates = feature["geometry"]["coordinates"]
        row = dict(feature["properties"])
        row["X"], row["Y"] = coordinates[0], coordinates[1]
        row["Z"] = coordinates[2] if len(coordinates) > 2 else None
        row["SRS"] = SRS_WGS84
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()


def footprint_collection(features: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """``footprints.geojson``: each photo's footprint polygon, with the photo's OBJECTID and ImagePath."""
    out = []
    for feature in features:
        coordinates = feature["geometry"]["coordinates"]
        properties = feature["properties"]
        out.append(footprints.geojson_feature(str(properties.get("ImagePath") or ""), coordinates[0], coordinates[1],
                                              properties, int(feature.get("id") or properties.get("OBJECTID") or 0)))
    return {"type": "FeatureCollection", "features": out}


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"
