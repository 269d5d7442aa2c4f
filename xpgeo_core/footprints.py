"""The footprint of each photo: the ground polygon Esri's viewer computes as the photo's coverage.

Why this model and not another: the ArcGIS Maps SDK's ``OrientedImageryViewer`` picks the photos of a
clicked point by testing the point against each photo's coverage polygon (``coverageUtils``
``createCoveragePolygon`` in @arcgis/core 5.1). A footprint layer that draws anything else would show
coverage the viewer does not have. So the footprint is that polygon, computed here the same way
(``tests/test_oracle_sdk.py`` compares the two in the browser):

* **frame** (every type but 360 and Inspection, with a known heading): the camera's view frustum, cut by
  a far plane ``FarDistance`` along the optical axis (when the photo has none: CameraHeight / cos(pitch);
  a frame reaching the horizon: FarDistance, else 20 m). Each corner of the far plane that lies below the
  ground becomes the point where its ray meets the ground; one above it is dropped onto the ground where
  it stands. One quadrilateral per image; a frame wider than 150° is cut into 5° slices looking level,
  one quadrilateral each (the rings of one polygon), as the viewer does.
* **spherical** (OrientedImageryType 360): a circle of radius FarDistance around the camera (60 points,
  a hole of radius NearDistance when there is one): what Build Oriented Imagery Footprint also documents
  ("for 360 degree images, the extent depends only on the Far Distance value").
* **inspection**: the viewer's inspection quadrilateral, 1.44 x FarDistance ahead at ±45°, 1.44 x
  NearDistance behind (FarDistance too when pitch < 20°).
* **buffer**: a photo whose heading is unknown (-999 or none), which the viewer cannot place: a circle
  of FarDistance (Build Oriented Imagery Footprint's "buffer each camera location").

Angles follow the OI convention (heading clockwise from north, pitch 0 down / 90 horizon, roll clockwise),
the rotation being the SDK's ``createRotationMatrixFromHPR`` (Rz(-heading) Rx(pitch) Rz(-roll)). The
ground is flat at the camera's foot (CameraHeight below it): no elevation service is asked, so the
footprint is what the viewer computes before it samples elevation. Positions are worked out in local
metres around the camera and turned into WGS84 with :func:`~xpgeo_core.preview.footprint.to_lonlat`.

Documents: an Esri JSON polygon (``rings``, outer rings clockwise, holes anticlockwise, each ring closed)
for the portal's footprint layer, and the same rings as an RFC 7946 polygon (the right-hand rule:
outer rings anticlockwise) for the local backend's ``footprints.geojson``.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from xpgeo_core import schema
from xpgeo_core.preview.footprint import number, to_lonlat

Vector = Tuple[float, float, float]
Ring = List[Tuple[float, float]]  # (east, north) metres, or (lon, lat), closed

CIRCLE_POINTS = 60  # the SDK's Circle default
WIDE_FRAME = 150.0  # degrees: a wider frame is cut into level slices
SLICE = 5.0  # degrees of each slice of a wide frame
LEVEL_FAR_DEFAULT = 20.0  # metres: the viewer's far distance for a frame reaching the horizon, without one
UNKNOWN_HEADING = -999.0
WGS84 = {"wkid": 4326}
METHODS = ("frame", "spherical", "inspection", "buffer")


# -- the rotation and the frame, as the viewer computes them ----------------------------------

def _rotation(heading: float, pitch: float, roll: float) -> List[float]:
    """Row-major Rz(-heading) · Rx(pitch) · Rz(-roll): the SDK's HPR rotation matrix."""
    def rz(degrees: float) -> List[float]:
        c, s = math.cos(math.radians(-degrees)), math.sin(math.radians(-degrees))
        return [c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0]

    c, s = math.cos(math.radians(pitch)), math.sin(math.radians(pitch))
    rx = [1.0, 0.0, 0.0, 0.0, c, -s, 0.0, s, c]

    def mul(a: List[float], b: List[float]) -> List[float]:
        return [sum(a[i * 3 + k] * b[k * 3 + j] for k in range(3)) for i in range(3) for j in range(3)]

    return mul(mul(rz(heading), rx), rz(roll))


def _apply(m: List[float], v: Vector) -> Vector:
    return (m[0] * v[0] + m[1] * v[1] + m[2] * v[2], m[3] * v[0] + m[4] * v[1] + m[5] * v[2],
            m[6] * v[0] + m[7] * v[1] + m[8] * v[2])


def _slice_headings(count: int, heading: float, hfov: float) -> List[float]:
    """The centre heading of each of *count* slices of a frame *hfov* wide around *heading*."""
    step = hfov / count
    if count % 2 == 0:
        out = []
        for k in range(count // 2):
            out += [heading - step * (k + 0.5), heading + step * (k + 0.5)]
    else:
        out = [heading] + [h for k in range(1, (count + 1) // 2) for h in (heading - step * k, heading + step * k)]
    return sorted(out)


def _on_ground(corner: Vector, height: float) -> Tuple[float, float]:
    """Where the ray from the camera (0, 0, *height*) through *corner* meets the ground, when the corner
    lies below it; else the corner dropped onto the ground."""
    if corner[2] >= 0 or height <= 0:
        return corner[0], corner[1]
    k = height / (height - corner[2])
    return k * corner[0], k * corner[1]


def frame_rings(heading: float, pitch: float, roll: float, hfov: float, vfov: float, height: float,
                far: Optional[float]) -> List[Ring]:
    """The viewer's coverage of a frame photo: one closed quadrilateral (metres) per slice."""
    look_pitch, look_roll, width = pitch, roll, WIDE_FRAME
    if hfov > WIDE_FRAME:
        look_pitch, look_roll, width = 90.0, 0.0, SLICE
    count = max(1, int(math.ceil(hfov / width)))
    if far:
        distance = far
    else:
        distance = height / math.cos(math.radians(look_pitch)) if math.cos(math.radians(look_pitch)) else 0.0
    if pitch + vfov / 2 >= 90:
        distance = far or LEVEL_FAR_DEFAULT
    half_up = math.tan(math.radians(vfov) / 2) * distance
    half_right = math.tan(math.radians(hfov / count) / 2) * distance
    rings = []
    for centre in _slice_headings(count, heading, hfov):
        m = _rotation(centre, look_pitch, look_roll)
        forward, up, right = _apply(m, (0.0, 0.0, -1.0)), _apply(m, (0.0, 1.0, 0.0)), _apply(m, (1.0, 0.0, 0.0))
        far_centre = tuple(f * distance for f in forward)
        corners = []
        for su, sr in ((1, -1), (1, 1), (-1, 1), (-1, -1)):  # top left, top right, bottom right, bottom left
            point = tuple(c + su * u * half_up + sr * r * half_right for c, u, r in zip(far_centre, up, right))
            corners.append(_on_ground((point[0], point[1], height + point[2]), height))
        rings.append(corners + [corners[0]])
    return rings


def circle_ring(radius: float, clockwise: bool = True) -> Ring:
    """A closed circle of *radius* metres around the camera, from north."""
    step = 360.0 / CIRCLE_POINTS * (1 if clockwise else -1)
    points = [(radius * math.sin(math.radians(step * k)), radius * math.cos(math.radians(step * k)))
              for k in range(CIRCLE_POINTS)]
    return points + [points[0]]


def inspection_ring(heading: float, pitch: float, far: float, near: float) -> Ring:
    """The viewer's inspection coverage: 1.44 x far ahead at ±45°, 1.44 x near behind (far when pitch < 20°)."""
    ahead = abs(1.44 * far)
    behind = ahead if pitch < 20 else abs(1.44 * near)
    points = [(d * math.sin(math.radians(heading + a)), d * math.cos(math.radians(heading + a)))
              for a, d in ((-45, ahead), (45, ahead), (135, behind), (225, behind))]
    return points + [points[0]]


# -- from a photo's attributes ------------------------------------------------------------------

def footprint_rings(attributes: Mapping[str, Any]) -> Tuple[str, List[Ring]]:
    """(method, rings in metres around the camera) for a photo's OI attributes; each value the photo
    lacks is its imagery type's default (:func:`xpgeo_core.schema.complete_photo`, what XPGEO writes)."""
    values = schema.complete_photo(attributes)
    kind = str(values.get("OrientedImageryType") or "")
    heading = number(values.get("CameraHeading"))
    if heading is not None and heading == UNKNOWN_HEADING:
        heading = None
    pitch = number(values.get("CameraPitch"))
    pitch = 90.0 if pitch is None else pitch
    roll = number(values.get("CameraRoll")) or 0.0
    height = number(values.get("CameraHeight")) or 0.0
    hfov = number(values.get("HorizontalFieldOfView")) or 60.0
    vfov = number(values.get("VerticalFieldOfView")) or 40.0
    far = number(values.get("FarDistance"))
    near = number(values.get("NearDistance")) or 0.0
    radius = far if far and far > 0 else LEVEL_FAR_DEFAULT
    if "360" in kind:
        rings = [circle_ring(radius)]
        if near > 0:
            rings.append(circle_ring(near, clockwise=False))  # the viewer's hole: nothing that close
        return "spherical", rings
    if heading is None:
        return "buffer", [circle_ring(radius)]
    if kind == "Inspection":
        return "inspection", [inspection_ring(heading, pitch, radius, near)]
    hfov = min(max(hfov, 0.1), 360.0)
    vfov = min(max(vfov, 0.1), 179.0)
    return "frame", frame_rings(heading, pitch, roll, hfov, vfov, height, far if far and far > 0 else None)


def _signed_area(ring: Sequence[Tuple[float, float]]) -> float:
    """Shoelace sum: positive for an anticlockwise ring."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:])) / 2


def _oriented(ring: Ring, clockwise: bool) -> Ring:
    area = _signed_area(ring)
    return list(reversed(ring)) if (area > 0) == clockwise and area != 0 else ring


def lonlat_rings(lon: float, lat: float, attributes: Mapping[str, Any]) -> Tuple[str, List[Ring]]:
    """(method, Esri-oriented WGS84 rings): outer rings clockwise; the 360 hole anticlockwise."""
    method, rings = footprint_rings(attributes)
    out: List[Ring] = []
    for index, ring in enumerate(rings):
        hole = method == "spherical" and index > 0
        placed = []
        for east, north in _oriented(ring, clockwise=not hole):
            x, y = to_lonlat(lon, lat, east, north)
            placed.append((round(x, 9), round(y, 9)))
        out.append(placed)
    return method, out


def _name(attributes: Mapping[str, Any], image_path: str) -> str:
    return str(attributes.get("Name") or image_path.rsplit("/", 1)[-1].split("?", 1)[0] or image_path)[:255]


def esri_feature(image_path: str, lon: float, lat: float, attributes: Mapping[str, Any]) -> Dict[str, Any]:
    """The footprint layer's feature for one photo (Esri JSON polygon, WGS84)."""
    method, rings = lonlat_rings(lon, lat, attributes)
    return {"geometry": {"rings": [[list(p) for p in ring] for ring in rings], "spatialReference": dict(WGS84)},
            "attributes": {"ImagePath": image_path, "Name": _name(attributes, image_path), "FootprintMethod": method}}


def geojson_feature(image_path: str, lon: float, lat: float, attributes: Mapping[str, Any],
                    object_id: int) -> Dict[str, Any]:
    """The same footprint as an RFC 7946 feature: a Polygon, or a MultiPolygon for a sliced wide frame
    (the right-hand rule: outer rings anticlockwise, holes clockwise)."""
    method, rings = lonlat_rings(lon, lat, attributes)
    flipped = [[list(p) for p in reversed(ring)] for ring in rings]
    if method == "frame" and len(flipped) > 1:
        geometry: Dict[str, Any] = {"type": "MultiPolygon", "coordinates": [[ring] for ring in flipped]}
    else:
        geometry = {"type": "Polygon", "coordinates": flipped}
    return {"type": "Feature", "id": object_id, "geometry": geometry,
            "properties": {"OBJECTID": object_id, "ImagePath": image_path, "Name": _name(attributes, image_path),
                           "FootprintMethod": method}}
