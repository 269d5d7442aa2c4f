"""The demo's sample photos: what a small survey of one city block looks like.

24 geotagged JPEGs: the metadata made with :func:`xpgeo_core.sample_photos.make_jpeg`,
the picture what each camera sees of the demo's town (:mod:`xpgeo_core.demo.scene`,
encoded by :mod:`xpgeo_core.demo.jpeg_encoder`); standard library only, deterministic,
so every metadata path of a real job is exercised:

* a walk around the block with a phone: GPS position and altitude, GPSImgDirection
  (true north), local time with its offset, 35 mm focal length -> Horizontal;
* a drone nadir grid: DJI XMP gimbal pitch -90, RelativeAltitude 80 m -> Nadir;
* four oblique drone shots from the corners, looking at the block -> Oblique;
* one 360 photo with GPano XMP (equirectangular) -> 360.

The block is in downtown Redlands, California (a grid of streets, near Esri's campus).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import List, Tuple

from functools import lru_cache

from xpgeo_core.demo.jpeg_encoder import with_pixels
from xpgeo_core.demo.scene import frame_picture, panorama_picture
from xpgeo_core.sample_photos import make_jpeg

CENTRE = (34.0556, -117.1826)  # latitude, longitude
GROUND_ALTITUDE = 410.0  # metres above sea level, about Redlands' elevation
BLOCK = (150.0, 110.0)  # east-west, north-south extent of the walk, metres
START = dt.datetime(2024, 5, 14, 9, 30, 0)  # local time, Pacific Daylight Time
OFFSET = "-07:00"

_M_PER_DEG_LAT = 111_320.0
PHONE_FRAME, DRONE_FRAME, PANO_FRAME = (144, 108), (162, 108), (224, 112)  # decoded pictures, 4:3, 3:2, 2:1


def _fov(f35: float) -> Tuple[float, float]:
    """Horizontal and vertical field of view of a 35 mm-equivalent focal length (36 x 24 mm frame)."""
    return math.degrees(2 * math.atan(18 / f35)), math.degrees(2 * math.atan(12 / f35))


def offset_position(north_m: float, east_m: float) -> Tuple[float, float]:
    """(lat, lon) a few hundred metres from the centre (a flat earth is fine at this size)."""
    lat = CENTRE[0] + north_m / _M_PER_DEG_LAT
    lon = CENTRE[1] + east_m / (_M_PER_DEG_LAT * math.cos(math.radians(CENTRE[0])))
    return round(lat, 7), round(lon, 7)


def _bearing(north_m: float, east_m: float) -> float:
    return math.degrees(math.atan2(east_m, north_m)) % 360.0


def _stamp(minutes: float) -> str:
    return (START + dt.timedelta(minutes=minutes)).strftime("%Y:%m:%d %H:%M:%S")


def _walk() -> List[Tuple[str, bytes]]:
    """Ten phone photos walking clockwise around the block, camera along the street."""
    half_e, half_n = BLOCK[0] / 2, BLOCK[1] / 2
    corners = [(-half_n, -half_e), (half_n, -half_e), (half_n, half_e), (-half_n, half_e)]
    route = []
    for k in range(4):  # 2-3 photos per side, clockwise: north, east, south, west legs
        (n0, e0), (n1, e1) = corners[k], corners[(k + 1) % 4]
        heading = _bearing(n1 - n0, e1 - e0)
        steps = 3 if k % 2 == 0 else 2
        for s in range(steps):
            f = s / steps
            route.append((n0 + (n1 - n0) * f, e0 + (e1 - e0) * f, heading))
    photos = []
    for number, (north, east, heading) in enumerate(route, start=1):
        lat, lon = offset_position(north, east)
        data = make_jpeg(lat=lat, lon=lon, alt=GROUND_ALTITUDE + 1.5, heading=round(heading, 1),
                         datetime_original=_stamp(number * 0.75), offset_time_original=OFFSET,
                         make="Apple", model="iPhone 13", focal_length=5.1, focal_length_35mm=26,
                         pixel_size=(4032, 3024), frame_size=(96, 72))
        picture = frame_picture((east, north, 1.5), round(heading, 1), 90.0, *_fov(26), PHONE_FRAME, True)
        data = with_pixels(data, *PHONE_FRAME, picture)
        photos.append((f"walk/IMG_{4100 + number:04d}.jpg", data))
    return photos


def _drone(name: str, north: float, east: float, yaw: float, pitch: float, minutes: float,
           height: float = 80.0) -> Tuple[str, bytes]:
    lat, lon = offset_position(north, east)
    data = make_jpeg(lat=lat, lon=lon, alt=GROUND_ALTITUDE + height, datetime_original=_stamp(minutes),
                     gps_datetime=START + dt.timedelta(hours=7, minutes=minutes),  # UTC: PDT is UTC-7
                     make="DJI", model="FC6310", focal_length=8.8, focal_length_35mm=24,
                     pixel_size=(5472, 3648), frame_size=(96, 64),
                     dji={"AbsoluteAltitude": GROUND_ALTITUDE + height, "RelativeAltitude": height,
                          "GimbalYawDegree": yaw, "GimbalPitchDegree": pitch, "GimbalRollDegree": 0.0,
                          "FlightYawDegree": yaw, "FlightPitchDegree": 0.0, "FlightRollDegree": 0.0})
    picture = frame_picture((east, north, height), yaw % 360.0, 90.0 + pitch, *_fov(24), DRONE_FRAME, False)
    return name, with_pixels(data, *DRONE_FRAME, picture)


def _nadir_grid() -> List[Tuple[str, bytes]]:
    """A 3 x 3 lawnmower grid at 80 m over the block, camera straight down."""
    photos = []
    number = 0
    for row, north in enumerate((-60.0, 0.0, 60.0)):
        easts = (-70.0, 0.0, 70.0) if row % 2 == 0 else (70.0, 0.0, -70.0)
        yaw = 90.0 if row % 2 == 0 else 270.0
        for east in easts:
            number += 1
            photos.append(_drone(f"drone/DJI_{number:04d}.JPG", north, east, yaw, -90.0, 20 + number * 0.2))
    return photos


OBLIQUE_HEIGHT = 60.0


def _obliques() -> List[Tuple[str, bytes]]:
    """Four shots from beyond each corner at 60 m, the camera aimed at the block's centre
    (a gimbal pitch of about -18 degrees: the horizon is in the top of the frame)."""
    photos = []
    for number, (corner, north, east) in enumerate(
            (("NE", 120.0, 140.0), ("SE", -120.0, 140.0), ("SW", -120.0, -140.0), ("NW", 120.0, -140.0)), start=1):
        yaw = _bearing(-north, -east)
        yaw = yaw - 360.0 if yaw > 180.0 else yaw  # DJI writes yaw in -180..180
        pitch = -math.degrees(math.atan2(OBLIQUE_HEIGHT, math.hypot(north, east)))
        photos.append(_drone(f"drone/DJI_{100 + number:04d}_{corner}.JPG", north, east, round(yaw, 1),
                             round(pitch, 1), 30 + number, height=OBLIQUE_HEIGHT))
    return photos


def _panorama() -> Tuple[str, bytes]:
    """One 360 photo at the block's north-west corner, on a 2.5 m pole."""
    north, east = BLOCK[1] / 2 + 8.0, -BLOCK[0] / 2 - 8.0
    lat, lon = offset_position(north, east)
    data = make_jpeg(lat=lat, lon=lon, alt=GROUND_ALTITUDE + 2.5, datetime_original=_stamp(45),
                     offset_time_original=OFFSET, make="RICOH", model="RICOH THETA Z1",
                     pixel_size=(6720, 3360), frame_size=(128, 64),
                     gpano={"ProjectionType": "equirectangular", "UsePanoramaViewer": "True",
                            "PoseHeadingDegrees": "90.0", "FullPanoWidthPixels": "6720",
                            "FullPanoHeightPixels": "3360", "CroppedAreaImageWidthPixels": "6720",
                            "CroppedAreaImageHeightPixels": "3360", "CroppedAreaLeftPixels": "0",
                            "CroppedAreaTopPixels": "0"})
    return "pano/R0010042.JPG", with_pixels(data, *PANO_FRAME, panorama_picture((east, north, 2.5), 90.0, PANO_FRAME))


def demo_photos() -> List[Tuple[str, bytes]]:
    """(file name, JPEG bytes) of the 24 demo photos, in survey order."""
    return list(_all_photos())


@lru_cache(maxsize=1)
def _all_photos() -> Tuple[Tuple[str, bytes], ...]:
    """Drawn once per process (a few seconds of pure Python), then shared."""
    return tuple(_walk() + _nadir_grid() + _obliques() + [_panorama()])
