"""What each camera sees on the ground, as a polygon in metres around the camera (pure math).

The preview draws these shapes and uses them to answer "which photos show this spot?".
Three kinds, chosen from the photo's Oriented Imagery attributes:

* ``footprint``: a nadir or oblique frame camera at a known height above the ground. The
  four corner rays of the image frame (from both fields of view, turned by heading, pitch
  and roll as the OI convention defines them) are intersected with flat ground; where a
  ray misses the ground (above the horizon) or lands beyond ``FarDistance``, the edge is
  cut at the far distance. A nadir photo at 80 m with a 24 mm (35 mm equivalent) lens
  covers 120 x 80 m centred under the camera.
* ``cone``: a horizontal (street-level) or inspection photo: a wedge from the camera,
  ``HorizontalFieldOfView`` wide around the heading, out to ``FarDistance``.
* ``circle``: a 360 photo, or any photo whose heading is unknown: a disc of radius
  ``FarDistance`` (for a nadir photo of unknown heading, the frame's half diagonal).

Angles follow Esri's OI convention: heading clockwise from north; pitch 0 = straight
down, 90 = horizon, 180 = straight up; roll clockwise about the optical axis. Positions
are local east/north metres on a flat earth around the camera, which is exact enough for
the few hundred metres a photo covers; :func:`to_metres` and :func:`to_lonlat` convert.

Why a module of its own: the numbers can be checked exactly (tests), and the page's
script only draws what this module computed and tests points against those polygons.

The footprints a layer gets (``footprints.geojson``, the portal's footprint layer) are not these shapes but
the coverage polygons Esri's viewer computes: :mod:`xpgeo_core.footprints`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence, Tuple

Point = Tuple[float, float]  # (east, north) metres

EARTH_RADIUS = 6378137.0  # WGS84 semi-major axis, metres (the radius Web Mercator uses too)
UNKNOWN_HEADING = -999.0
ARC_STEP = 5.0  # degrees between the points of a drawn arc
EDGE_SAMPLES = 8  # points per image edge when the far distance cuts the footprint
FOOTPRINT_TYPES = ("Nadir", "Oblique")
_DEFAULTS = {"hfov": 60.0, "vfov": 40.0, "far": 50.0, "pitch": 90.0}  # Esri's OI defaults


@dataclass(frozen=True)
class View:
    """The ground a photo covers: *ring* (no repeated last point), its centre and size, metres."""

    kind: str  # "footprint", "cone" or "circle"
    ring: Tuple[Point, ...]
    centre: Point  # where the view is centred on the ground (best-image ranking)
    reach: float  # farthest ring point from the centre: distances from it are scaled by this
    far: float

    def covers(self, east: float, north: float) -> bool:
        return contains(self.ring, east, north)

    def score(self, east: float, north: float) -> float:
        """Lower is better: how far off the view's centre (0 at the centre, about 1 at its
        edge) plus how far from the camera (1 at the far distance)."""
        off_centre = math.hypot(east - self.centre[0], north - self.centre[1]) / max(self.reach, 1e-9)
        return off_centre + math.hypot(east, north) / max(self.far, 1e-9)


# -- conversions ----------------------------------------------------------------------

def to_metres(lon0: float, lat0: float, lon: float, lat: float) -> Point:
    """(east, north) metres of (lon, lat) from (lon0, lat0): local equirectangular."""
    k = EARTH_RADIUS * math.pi / 180.0
    return (lon - lon0) * k * math.cos(math.radians(lat0)), (lat - lat0) * k


def to_lonlat(lon0: float, lat0: float, east: float, north: float) -> Tuple[float, float]:
    """The inverse of :func:`to_metres`."""
    k = EARTH_RADIUS * math.pi / 180.0
    return lon0 + east / (k * math.cos(math.radians(lat0))), lat0 + north / k


# -- shapes ---------------------------------------------------------------------------

def camera_axes(heading: float, pitch: float, roll: float):
    """The camera's forward, right and up unit vectors (east, north, up) for OI angles: the
    ray through the image point (a, b) (tangents of the angles off the centre, b up) is
    ``forward + a * right + b * up``."""
    h, p, r = (math.radians(v) for v in (heading, pitch, roll))
    forward = (math.sin(p) * math.sin(h), math.sin(p) * math.cos(h), -math.cos(p))
    right0 = (math.cos(h), -math.sin(h), 0.0)
    up0 = (right0[1] * forward[2] - right0[2] * forward[1],  # right x forward
           right0[2] * forward[0] - right0[0] * forward[2],
           right0[0] * forward[1] - right0[1] * forward[0])
    # Roll clockwise (as the photographer sees the frame): the right side dips.
    right = tuple(a * math.cos(r) - b * math.sin(r) for a, b in zip(right0, up0))
    up = tuple(b * math.cos(r) + a * math.sin(r) for a, b in zip(right0, up0))
    return forward, right, up


def _ground(ray: Sequence[float], height: float, far: float) -> Optional[Point]:
    """Where *ray* from the camera meets the ground, cut at *far* metres; None if it points straight up."""
    dx, dy, dz = ray
    flat = math.hypot(dx, dy)
    if dz < 0:
        t = height / -dz
        east, north = dx * t, dy * t
        distance = math.hypot(east, north)
        if distance <= far:
            return east, north
    if flat < 1e-12:
        return None
    return dx / flat * far, dy / flat * far


def ground_footprint(height: float, heading: float, pitch: float, roll: float, hfov: float, vfov: float,
                     far: float) -> Tuple[Tuple[Point, ...], Point]:
    """The frame's ground polygon and the ground point at its centre (see the module docstring)."""
    forward, right, up = camera_axes(heading, pitch, roll)
    tx, ty = math.tan(math.radians(hfov) / 2), math.tan(math.radians(vfov) / 2)
    corners = [(-tx, ty), (tx, ty), (tx, -ty), (-tx, -ty)]  # top left, clockwise as seen in the photo

    def ray(a: float, b: float) -> Tuple[float, float, float]:
        return tuple(f + a * rr + b * u for f, rr, u in zip(forward, right, up))

    def hits(a: float, b: float) -> bool:
        dx, dy, dz = ray(a, b)
        return dz < 0 and math.hypot(dx, dy) * height / -dz <= far

    if all(hits(a, b) for a, b in corners):  # straight edges stay straight on flat ground
        samples = corners
    else:  # the far distance cuts the frame: follow each edge
        samples = []
        for (a0, b0), (a1, b1) in zip(corners, corners[1:] + corners[:1]):
            samples += [(a0 + (a1 - a0) * k / EDGE_SAMPLES, b0 + (b1 - b0) * k / EDGE_SAMPLES)
                        for k in range(EDGE_SAMPLES)]
    ring = [p for p in (_ground(ray(a, b), height, far) for a, b in samples) if p is not None]
    centre = _ground(forward, height, far) or (0.0, 0.0)
    return _dedupe(ring), centre


def view_cone(heading: float, hfov: float, far: float) -> Tuple[Point, ...]:
    """The camera, then an arc at *far* from heading - hfov/2 to heading + hfov/2."""
    steps = max(1, int(math.ceil(hfov / ARC_STEP)))
    start = heading - hfov / 2
    arc = [_polar(start + hfov * k / steps, far) for k in range(steps + 1)]
    return ((0.0, 0.0), *arc)


def view_circle(radius: float) -> Tuple[Point, ...]:
    steps = int(round(360 / ARC_STEP))
    return tuple(_polar(360.0 * k / steps, radius) for k in range(steps))


def _polar(bearing: float, distance: float) -> Point:
    b = math.radians(bearing)
    return distance * math.sin(b), distance * math.cos(b)


def _dedupe(points: Sequence[Point]) -> Tuple[Point, ...]:
    """The ring without repeated points, nor points on the straight line between their neighbours."""
    out: List[Point] = []
    for p in points:
        if not out or math.hypot(p[0] - out[-1][0], p[1] - out[-1][1]) > 1e-6:
            out.append(p)
    if len(out) > 1 and math.hypot(out[0][0] - out[-1][0], out[0][1] - out[-1][1]) <= 1e-6:
        out.pop()
    k = 0
    while len(out) > 3 and k < len(out):
        (ax, ay), (bx, by), (cx, cy) = out[k - 1], out[k], out[(k + 1) % len(out)]
        if abs((bx - ax) * (cy - by) - (by - ay) * (cx - bx)) <= 1e-9 * max(1.0, math.hypot(cx - ax, cy - ay)) ** 2:
            del out[k]
        else:
            k += 1
    return tuple(out)


def contains(ring: Sequence[Point], east: float, north: float) -> bool:
    """Point in polygon (even-odd rule), the same test the page's script makes."""
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        (xi, yi), (xj, yj) = ring[i], ring[j]
        if (yi > north) != (yj > north) and east < (xj - xi) * (north - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


# -- from a photo's attributes ----------------------------------------------------------

def number(value: Any) -> Optional[float]:
    """*value* as a finite float (text too), or None: an attribute that is empty, not a number or NaN."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def camera_view(attributes: Mapping[str, Any], defaults: Optional[Mapping[str, Any]] = None) -> View:
    """The :class:`View` of one photo from its OI fields; *defaults* are the layer's
    ``orientedImageryProperties`` (camelCase keys), used where a field is empty."""
    defaults = defaults or {}

    def value(field: str, key: str, fallback: Optional[float] = None) -> Optional[float]:
        own = number(attributes.get(field))
        return own if own is not None else number(defaults.get(key, fallback))

    kind = str(attributes.get("OrientedImageryType") or defaults.get("orientedImageryType") or "")
    heading = value("CameraHeading", "cameraHeading")
    if heading is not None and heading == UNKNOWN_HEADING:
        heading = None
    pitch = value("CameraPitch", "cameraPitch", _DEFAULTS["pitch"])
    roll = value("CameraRoll", "cameraRoll", 0.0) or 0.0
    height = value("CameraHeight", "cameraHeight")
    hfov = value("HorizontalFieldOfView", "horizontalFieldOfView", _DEFAULTS["hfov"])
    vfov = value("VerticalFieldOfView", "verticalFieldOfView", _DEFAULTS["vfov"])
    far = value("FarDistance", "farDistance", _DEFAULTS["far"])
    far = far if far and far > 0 else _DEFAULTS["far"]
    hfov = min(max(hfov or _DEFAULTS["hfov"], 0.1), 360.0)
    vfov = min(max(vfov or _DEFAULTS["vfov"], 0.1), 179.0)

    frame = kind in FOOTPRINT_TYPES or (not kind and pitch is not None and pitch < 80)
    if kind == "360" or hfov >= 360:
        return _circle(far)
    if frame and height and height > 0 and pitch is not None and pitch < 90 and hfov < 180:
        if heading is None:
            if pitch > 5:  # an oblique of unknown heading could look any way
                return _circle(far)
            half_diagonal = height * math.hypot(math.tan(math.radians(hfov) / 2), math.tan(math.radians(vfov) / 2))
            return _circle(min(half_diagonal, far), far)
        ring, centre = ground_footprint(height, heading, pitch, roll, hfov, vfov, far)
        if len(ring) >= 3:
            return View("footprint", ring, centre, _reach(ring, centre), far)
    if heading is None:
        return _circle(far)
    ring = view_cone(heading, hfov, far)
    centre = _polar(heading, far / 2)
    return View("cone", ring, centre, _reach(ring, centre), far)


def _circle(radius: float, far: Optional[float] = None) -> View:
    return View("circle", view_circle(radius), (0.0, 0.0), radius, far or radius)


def _reach(ring: Sequence[Point], centre: Point) -> float:
    return max(math.hypot(x - centre[0], y - centre[1]) for x, y in ring)


def best_first(views: Sequence[Tuple[Any, Point, View]], lon: float, lat: float) -> List[Any]:
    """The keys of the views that cover (lon, lat), best first (lowest :meth:`View.score`).

    *views* holds ``(key, (camera lon, camera lat), view)``; ties keep the input order.
    """
    hits = []
    for order, (key, (clon, clat), view) in enumerate(views):
        east, north = to_metres(clon, clat, lon, lat)
        if view.covers(east, north):
            hits.append((view.score(east, north), order, key))
    return [key for _, _, key in sorted(hits)]
