"""The geometry a feature layer's ``query`` honours, for the portal emulator.

What the REST reference documents for ``query`` (Query (Feature Service/Layer)):
``geometry`` as JSON or in the simple syntax (``x,y`` for a point,
``xmin,ymin,xmax,ymax`` for an envelope), ``geometryType``, ``inSR`` (or the
geometry's own ``spatialReference``), ``spatialRel``, ``distance`` with ``units``
(a buffer around the geometry), and ``outSR``. The emulator knows two spatial
references, WGS84 (4326) and Web Mercator (3857, alias 102100/102113/900913), which is
what hosted point layers and the browser clients use; any other is refused the way a
server refuses an unknown wkid.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

EARTH_RADIUS_M = 6378137.0  # the Web Mercator sphere; also the haversine radius used for distances
WEB_MERCATOR_ALIASES = {3857, 102100, 102113, 900913}
WGS84 = {"wkid": 4326, "latestWkid": 4326}
WEB_MERCATOR = {"wkid": 102100, "latestWkid": 3857}
UNIT_METRES = {
    "esriSRUnit_Meter": 1.0, "esriSRUnit_Kilometer": 1000.0, "esriSRUnit_Foot": 0.3048,
    "esriSRUnit_SurveyFoot": 1200.0 / 3937.0, "esriSRUnit_USFoot": 1200.0 / 3937.0,
    "esriSRUnit_StatuteMile": 1609.344, "esriSRUnit_NauticalMile": 1852.0, "esriSRUnit_InternationalYard": 0.9144,
    "esriSRUnit_Centimeter": 0.01, "esriSRUnit_Millimeter": 0.001,
    "9001": 1.0, "9036": 1000.0, "9002": 0.3048, "9003": 1200.0 / 3937.0, "9093": 1609.344, "9030": 1852.0,
}
Point = Tuple[float, float]


class GeometryError(ValueError):
    """A geometry, spatial reference or unit the server cannot use (answered as a 400)."""


def wkid_of(value: Any, default: int = 4326) -> int:
    """4326 or 3857 from a wkid number, its text, or a spatialReference object."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                raise GeometryError("Invalid spatial reference.") from None
        else:
            value = text
    if isinstance(value, dict):
        value = value.get("latestWkid") or value.get("wkid")
    try:
        wkid = int(value)
    except (TypeError, ValueError):
        raise GeometryError("Invalid spatial reference.") from None
    if wkid in WEB_MERCATOR_ALIASES:
        return 3857
    if wkid == 4326:
        return 4326
    raise GeometryError(f"Spatial reference {wkid} is not supported by this server.")


def spatial_reference(wkid: int) -> Dict[str, int]:
    return dict(WEB_MERCATOR if wkid == 3857 else WGS84)


def to_wgs84(x: float, y: float, wkid: int) -> Point:
    if wkid == 4326:
        return x, y
    lon = math.degrees(x / EARTH_RADIUS_M)
    lat = math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS_M)) - math.pi / 2)
    return lon, lat


def from_wgs84(lon: float, lat: float, wkid: int) -> Point:
    if wkid == 4326:
        return lon, lat
    lat = max(min(lat, 89.99999), -89.99999)
    return (math.radians(lon) * EARTH_RADIUS_M,
            math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * EARTH_RADIUS_M)


def project(x: float, y: float, source: int, target: int) -> Point:
    if source == target:
        return x, y
    return from_wgs84(*to_wgs84(x, y, source), target)


def haversine_m(a: Point, b: Point) -> float:
    """Distance in metres between two lon/lat points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _parse_geometry(text: str, geometry_type: str) -> Dict[str, Any]:
    text = text.strip()
    if text.startswith("{"):
        try:
            geometry = json.loads(text)
        except ValueError:
            raise GeometryError("Invalid geometry.") from None
        if not isinstance(geometry, dict):
            raise GeometryError("Invalid geometry.")
        return geometry
    try:
        numbers = [float(v) for v in text.split(",")]
    except ValueError:
        raise GeometryError("Invalid geometry.") from None
    if len(numbers) == 2:
        return {"x": numbers[0], "y": numbers[1]}
    if len(numbers) == 4:
        return {"xmin": numbers[0], "ymin": numbers[1], "xmax": numbers[2], "ymax": numbers[3]}
    raise GeometryError(f"Invalid geometry for {geometry_type}.")


def _inside_rings(x: float, y: float, rings: Sequence[Sequence[Sequence[float]]]) -> bool:
    """Even-odd rule over all rings (holes included)."""
    inside = False
    for ring in rings:
        for i in range(len(ring)):
            x1, y1 = ring[i][0], ring[i][1]
            x2, y2 = ring[i - 1][0], ring[i - 1][1]
            if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / ((y2 - y1) or 1e-300) + x1:
                inside = not inside
    return inside


def _ring_distance(x: float, y: float, rings: Sequence[Sequence[Sequence[float]]]) -> float:
    best = math.inf
    for ring in rings:
        for i in range(len(ring)):
            (x1, y1), (x2, y2) = ring[i - 1][:2], ring[i][:2]
            dx, dy = x2 - x1, y2 - y1
            t = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / ((dx * dx + dy * dy) or 1e-300)))
            best = min(best, math.hypot(x - (x1 + t * dx), y - (y1 + t * dy)))
    return best


def spatial_filter(params: Dict[str, str], layer_wkid: int) -> Optional[Callable[[float, float], bool]]:
    """A test ``keep(x, y)`` (coordinates in the layer's spatial reference) for the query's
    ``geometry``/``distance``/``spatialRel``, or None when the query has no geometry."""
    text = params.get("geometry") or ""
    if not text.strip():
        return None
    geometry_type = params.get("geometryType") or "esriGeometryEnvelope"
    geometry = _parse_geometry(text, geometry_type)
    in_wkid = wkid_of(params.get("inSR") or geometry.get("spatialReference"), layer_wkid)
    relation = params.get("spatialRel") or "esriSpatialRelIntersects"
    if relation not in ("esriSpatialRelIntersects", "esriSpatialRelContains", "esriSpatialRelWithin",
                        "esriSpatialRelEnvelopeIntersects", "esriSpatialRelIndexIntersects",
                        "esriSpatialRelDisjoint"):
        raise GeometryError(f"spatialRel {relation} is not supported for point layers.")
    try:
        distance = float(params.get("distance") or 0)
    except ValueError:
        raise GeometryError("Invalid distance.") from None
    units = params.get("units") or ""
    if distance and units:
        if units not in UNIT_METRES:
            raise GeometryError(f"Invalid units {units}.")
        metres = distance * UNIT_METRES[units]
    elif distance:  # no units: those of the geometry's spatial reference
        metres = distance * (1.0 if in_wkid == 3857 else math.pi * EARTH_RADIUS_M / 180)
    else:
        metres = 0.0

    def in_sr(x: float, y: float) -> Point:
        return project(x, y, layer_wkid, in_wkid)

    test: Callable[[float, float], bool]
    if "x" in geometry and "y" in geometry:
        centre = to_wgs84(float(geometry["x"]), float(geometry["y"]), in_wkid)
        if metres <= 0:
            def test(x: float, y: float) -> bool:
                return haversine_m(to_wgs84(x, y, layer_wkid), centre) < 0.01
        else:
            def test(x: float, y: float) -> bool:
                return haversine_m(to_wgs84(x, y, layer_wkid), centre) <= metres
    elif "points" in geometry:
        centres = [to_wgs84(float(p[0]), float(p[1]), in_wkid) for p in geometry["points"]]

        def test(x: float, y: float) -> bool:
            here = to_wgs84(x, y, layer_wkid)
            return any(haversine_m(here, c) <= max(metres, 0.01) for c in centres)
    elif all(k in geometry for k in ("xmin", "ymin", "xmax", "ymax")):
        box = [float(geometry[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
        if metres:
            if in_wkid == 3857:
                pad_x = pad_y = metres
            else:
                pad_y = math.degrees(metres / EARTH_RADIUS_M)
                mid = math.radians((box[1] + box[3]) / 2)
                pad_x = pad_y / max(math.cos(mid), 1e-6)
            box = [box[0] - pad_x, box[1] - pad_y, box[2] + pad_x, box[3] + pad_y]

        def test(x: float, y: float) -> bool:
            px, py = in_sr(x, y)
            return box[0] <= px <= box[2] and box[1] <= py <= box[3]
    elif "rings" in geometry:
        rings = geometry["rings"]
        pad = metres if in_wkid == 3857 else math.degrees(metres / EARTH_RADIUS_M)

        def test(x: float, y: float) -> bool:
            px, py = in_sr(x, y)
            return _inside_rings(px, py, rings) or (pad > 0 and _ring_distance(px, py, rings) <= pad)
    else:
        raise GeometryError(f"Invalid geometry for {geometry_type}.")
    if relation == "esriSpatialRelDisjoint":
        return lambda x, y: not test(x, y)
    return test


def extent_of(points: List[Point], wkid: int) -> Dict[str, Any]:
    if not points:
        return {"xmin": "NaN", "ymin": "NaN", "xmax": "NaN", "ymax": "NaN", "spatialReference": spatial_reference(wkid)}
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return {"xmin": min(xs), "ymin": min(ys), "xmax": max(xs), "ymax": max(ys),
            "spatialReference": spatial_reference(wkid)}
