"""The demo's town, and what a camera in it sees (standard library only, deterministic).

One world serves every photo, so the pictures agree with each other and with the map:
a grid of streets (150 x 110 m blocks, like the walk in :mod:`xpgeo_core.demo.photos`),
the surveyed block in the middle a park with crossing paths, a ring of trees and a round
fountain at its centre, and the blocks around it rows of buildings with coloured roofs
around courtyards. A drone photo looks at the ground through the same camera model the
preview's footprints use (:func:`xpgeo_core.preview.footprint.camera_axes`), so the
fountain is in the middle of the nadir photo taken above it; a street photo or the 360
photo also sees the facades (a 2D ray march), the trees and the sky.

Positions are (east, north) metres from the block's centre.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

from xpgeo_core.preview.footprint import camera_axes

Colour = Tuple[int, int, int]

BLOCK_E, BLOCK_N = 150.0, 110.0  # street spacing; the streets run along the block's edges
ROAD_HALF, SIDEWALK = 6.0, 3.0
BUILDING_DEPTH = 22.0  # from the sidewalk into the block; the rest is a courtyard
LOT = 20.0
FOUNTAIN_R = 6.0
TREE_RING, TREE_R, TREE_H = 32.0, 4.0, 9.0

ASPHALT, LINE, CROSSING, SIDEWALK_C = (68, 70, 76), (226, 196, 70), (232, 232, 228), (188, 184, 176)
LAWN, PATH, WATER, RIM, TREE = (96, 150, 72), (206, 190, 150), (72, 138, 196), (205, 205, 200), (46, 100, 48)
COURTYARD = (120, 146, 96)
ROOFS = [(176, 88, 62), (182, 182, 176), (112, 112, 118), (204, 186, 150), (226, 224, 216), (150, 70, 52)]
WALLS = [(196, 170, 140), (170, 96, 74), (214, 206, 186), (150, 150, 156), (222, 196, 150), (186, 120, 90)]
WINDOW, SHOP = (62, 78, 98), (40, 52, 66)
SKY_TOP, SKY_HORIZON = (70, 122, 200), (186, 212, 236)


def _hash(*values: int) -> int:
    h = 2166136261
    for v in values:
        h = ((h ^ (v & 0xFFFFFFFF)) * 16777619) & 0xFFFFFFFF
    return h


def _street_distance(east: float, north: float) -> Tuple[float, float]:
    """Distances to the nearest north-south and east-west street centre lines."""
    fe = (east + BLOCK_E / 2) % BLOCK_E
    fn = (north + BLOCK_N / 2) % BLOCK_N
    return min(fe, BLOCK_E - fe), min(fn, BLOCK_N - fn)


def _block(east: float, north: float) -> Tuple[int, int, float, float]:
    """The block's grid index and the position inside it (from its south-west street corner)."""
    be = math.floor((east + BLOCK_E / 2) / BLOCK_E)
    bn = math.floor((north + BLOCK_N / 2) / BLOCK_N)
    return be, bn, east + BLOCK_E / 2 - be * BLOCK_E, north + BLOCK_N / 2 - bn * BLOCK_N


def _lot(be: int, bn: int, le: float, ln: float) -> Optional[int]:
    """The building lot's seed at a spot inside block (be, bn), or None in the courtyard."""
    edge = ROAD_HALF + SIDEWALK
    inner_e, inner_n = min(le, BLOCK_E - le) - edge, min(ln, BLOCK_N - ln) - edge
    if min(inner_e, inner_n) > BUILDING_DEPTH:
        return None
    along = le if inner_n <= inner_e else ln  # along the street the building faces
    side = (0 if ln < BLOCK_N / 2 else 1) if inner_n <= inner_e else (2 if le < BLOCK_E / 2 else 3)
    return _hash(be, bn, side, int(along // LOT))


_TREES = [(TREE_RING * math.sin(math.radians(k * 30 + 15)), TREE_RING * math.cos(math.radians(k * 30 + 15)))
          for k in range(12)]
_LAWNS = (LAWN, (LAWN[0] - 8, LAWN[1] - 8, LAWN[2] - 8))


def _park(le: float, ln: float) -> Tuple[Colour, float]:
    """The surveyed block: (colour, height of what stands there: trees)."""
    x, y = le - BLOCK_E / 2, ln - BLOCK_N / 2
    r = math.hypot(x, y)
    if r < FOUNTAIN_R - 1:
        return WATER, 0.0
    if r < FOUNTAIN_R:
        return RIM, 0.0
    if abs(r - TREE_RING) < TREE_R:
        for tx, ty in _TREES:
            if abs(x - tx) < TREE_R and abs(y - ty) < TREE_R and (x - tx) ** 2 + (y - ty) ** 2 < TREE_R ** 2:
                return TREE, TREE_H
    diagonal = BLOCK_N / BLOCK_E
    if abs(y - x * diagonal) < 2.2 or abs(y + x * diagonal) < 2.2 or abs(r - 12.0) < 1.6:
        return PATH, 0.0
    return _LAWNS[(int(le // 3) * 7 + int(ln // 3) * 3) % 5 == 0], 0.0  # mown stripes of a lighter green


def ground(east: float, north: float) -> Tuple[Colour, float, int]:
    """(colour from above, height of what stands there, seed of its building or 0)."""
    de, dn = _street_distance(east, north)
    if min(de, dn) < ROAD_HALF:
        road_along_ns = de < dn  # on a north-south street (or the crossing)
        if de < ROAD_HALF and dn < ROAD_HALF:
            return ASPHALT, 0.0, 0
        across, other = (de, dn) if road_along_ns else (dn, de)
        along = north if road_along_ns else east
        if other < ROAD_HALF + SIDEWALK + 4 and (int(math.floor((east if road_along_ns else north) * 2)) % 2):
            return CROSSING, 0.0, 0  # zebra stripes at the corner
        if across < 0.18 and (along % 6.0) < 3.0:
            return LINE, 0.0, 0
        return ASPHALT, 0.0, 0
    if min(de, dn) < ROAD_HALF + SIDEWALK:
        return SIDEWALK_C, 0.0, 0
    be, bn, le, ln = _block(east, north)
    if (be, bn) == (0, 0):
        colour, height = _park(le, ln)
        return colour, height, 0
    seed = _lot(be, bn, le, ln)
    if seed is None:
        return COURTYARD, 0.0, 0
    height = 9.0 + (seed >> 8) % 5 * 4.0
    return ROOFS[seed % len(ROOFS)], height, seed


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    if t < 0.02:
        return a
    if t >= 1.0:
        return b
    return int(a[0] + (b[0] - a[0]) * t), int(a[1] + (b[1] - a[1]) * t), int(a[2] + (b[2] - a[2]) * t)


def sky(elevation: float) -> Colour:
    return _mix(SKY_HORIZON, SKY_TOP, math.sin(max(elevation, 0.0)) ** 0.6)


def _facade(seed: int, along: float, height: float, facing_ns: bool) -> Colour:
    if not seed:  # a tree seen from the side
        return TREE if (int(along * 2) + int(height * 2)) % 3 else (36, 84, 40)
    wall = WALLS[(seed >> 4) % len(WALLS)]
    if facing_ns:
        wall = (int(wall[0] * 0.86), int(wall[1] * 0.86), int(wall[2] * 0.86))
    if height < 3.2:
        return SHOP if 0.6 < along % 5.0 < 4.2 and height > 0.3 else wall
    if 0.9 < along % 3.5 < 2.5 and 0.9 < height % 3.2 < 2.4:
        return WINDOW
    return wall


class _Column:
    """What one horizontal direction from the camera meets first: a building or a tree."""

    __slots__ = ("distance", "height", "seed", "along", "facing_ns")

    def __init__(self, east: float, north: float, azimuth: float, limit: float = 160.0, step: float = 0.5):
        self.distance = math.inf
        self.height = 0.0
        de, dn = math.sin(azimuth), math.cos(azimuth)
        previous = (east, north)
        d = step
        while d < limit:
            e, n = east + de * d, north + dn * d
            _, height, seed = ground(e, n)
            if height > 0:
                # Which wall was crossed: the one whose coordinate changed into the obstacle.
                self.facing_ns = ground(previous[0], n)[1] > 0
                self.along = e if self.facing_ns else n
                self.distance, self.height, self.seed = d, height, seed
                return
            previous = (e, n)
            d += step if d < 40 else step * 2


def _view(ray: Tuple[float, float, float], camera: Tuple[float, float, float],
          column: Optional[_Column]) -> Colour:
    dx, dy, dz = ray
    flat = math.hypot(dx, dy)
    elevation = math.atan2(dz, flat)
    east, north, height = camera
    if column is not None and column.distance < math.inf:
        at = height + column.distance * dz / max(flat, 1e-9)  # the ray's height where it meets the obstacle
        if 0.0 <= at <= column.height:
            colour = _facade(column.seed, column.along, at, column.facing_ns)
            return _mix(colour, SKY_HORIZON, column.distance / 500)
    if dz >= 0:
        return sky(elevation)
    t = height / -dz
    distance = flat * t
    colour = ground(east + dx * t, north + dy * t)[0]
    return _mix(colour, SKY_HORIZON, (distance / 900) ** 1.2)


def frame_picture(camera: Tuple[float, float, float], heading: float, pitch: float, hfov: float, vfov: float,
                  size: Tuple[int, int], street_level: bool) -> List[Colour]:
    """A frame camera's picture, row by row: OI heading/pitch (0 down, 90 horizon), both fields of view.

    *street_level* adds facades and trees (a photo from the street); a drone sees the ground from above."""
    width, height = size
    forward, right, up = camera_axes(heading, pitch, 0.0)
    tx, ty = math.tan(math.radians(hfov) / 2), math.tan(math.radians(vfov) / 2)
    pixels: List[Colour] = []
    columns = []
    for x in range(width):
        a = (2 * (x + 0.5) / width - 1) * tx
        direction = [f + a * r for f, r in zip(forward, right)]
        columns.append(_Column(camera[0], camera[1], math.atan2(direction[0], direction[1]))
                       if street_level else None)
    for y in range(height):
        b = (1 - 2 * (y + 0.5) / height) * ty
        for x in range(width):
            a = (2 * (x + 0.5) / width - 1) * tx
            ray = tuple(f + a * r + b * u for f, r, u in zip(forward, right, up))
            pixels.append(_view(ray, camera, columns[x]))
    return pixels


def panorama_picture(camera: Tuple[float, float, float], heading: float, size: Tuple[int, int]) -> List[Colour]:
    """An equirectangular 360 picture whose centre column looks along *heading*."""
    width, height = size
    columns = []
    for x in range(width):
        azimuth = math.radians(heading + ((x + 0.5) / width - 0.5) * 360.0)
        columns.append((azimuth, _Column(camera[0], camera[1], azimuth)))
    pixels: List[Colour] = []
    for y in range(height):
        elevation = math.radians(90.0 - (y + 0.5) / height * 180.0)
        for azimuth, column in columns:
            flat = math.cos(elevation)
            ray = (flat * math.sin(azimuth), flat * math.cos(azimuth), math.sin(elevation))
            pixels.append(_view(ray, camera, column))
    return pixels
