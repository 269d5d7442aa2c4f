"""The attribute rules: EXIF/XMP values → Oriented Imagery fields.

Each rule is one function; the formulas and their public sources are written down in
``docs/oriented-imagery-attributes.md``. Rules never raise for odd values: an unusable
value becomes ``None`` (the layer default applies) plus a warning, so a person sees why.
Only the two position failures ("no GPS position", "GPS position out of range") make a
photo fail, because a layer cannot place it.
"""

from __future__ import annotations

import datetime as dt
import math
import posixpath
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import unquote, urlsplit

from xpgeo_core import schema
from xpgeo_core.urls import PhotoRef
from xpgeo_core.metadata import geomag
from xpgeo_core.metadata.photo import PhotoError, empty_attributes
from xpgeo_core.metadata.tiff import first, values
from xpgeo_core.metadata.vendors import NADIR_BELOW, RULES, OrientationRule
from xpgeo_core.metadata.xmp import parse_coordinate, parse_number

DIAGONAL_35MM = 43.2666  # mm: diagonal of the 36 x 24 mm frame, sqrt(36² + 24²)
MM_PER_UNIT = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # FocalPlaneResolutionUnit: inch, cm, mm, µm
SENSOR_DIAGONAL_MM = (4.0, 70.0)  # camera sensors: 1/4" (4.5 mm) phone sensors to 54 x 40 mm medium format
LENS_35MM = (8.0, 1200.0)         # 35 mm equivalent focal lengths of real lenses: fisheye to super-telephoto
ALTITUDE_RANGE = (-1000.0, 50000.0)  # metres: the Dead Sea shore (−430 m) to a stratospheric balloon
ZONE_DRIFT = 5 * 60.0             # seconds a camera clock may drift from a whole time-zone offset
MAX_HEIGHT = 10000.0              # metres above the take-off point: more is no drone's
ASPECT_TOLERANCE = 0.02           # EXIF and SOF aspect ratios this close are the same picture, rounding aside
ROTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 270, 6: 90, 7: 90, 8: 270}


@dataclass
class Facts:
    """What the header holds, gathered once: EXIF IFDs, XMP properties, the frame size."""

    ifd0: Dict[str, Any]
    exif: Dict[str, Any]
    gps: Dict[str, Any]
    xmp: Dict[str, str]
    frame_size: Optional[Tuple[int, int]]
    warnings: List[str] = field(default_factory=list)

    def xnum(self, name: str) -> Optional[float]:
        return parse_number(self.xmp.get(name))

    @cached_property
    def orientation(self) -> Optional["Orientation"]:
        """The camera angles of the first vendor row (:data:`vendors.RULES`) the photo has any of,
        each angle it lacks taken from a later row of the same namespace (Skydio's FLU angles
        complete its NED ones)."""
        found: Optional[Orientation] = None
        for rule in RULES:
            if found is not None and rule.namespace != found.rule.namespace:
                continue
            angles = self._angles(rule)
            if angles is not None:
                found = angles if found is None else found.completed_by(angles)
        return found

    def _angles(self, rule: OrientationRule) -> Optional["Orientation"]:
        """One row's angles, converted (None when the photo has none of them)."""
        yaw, pitch, roll = self.xnum(rule.yaw), self.xnum(rule.pitch), self.xnum(rule.roll)
        if yaw is None and pitch is None and roll is None:
            return None
        make = str(self.ifd0.get("Make") or self.xmp.get("tiff:Make") or "")
        not_heading = None if rule.yaw_is_heading or yaw is None else (rule, yaw)
        return Orientation(rule, yaw if rule.yaw_is_heading else None,
                           None if pitch is None else rule.oi_pitch(pitch), pitch,
                           None if roll is None else roll * rule.roll_factor(make), rule.pitch, not_heading)

    @cached_property
    def drone(self) -> Optional[OrientationRule]:
        """The vendor row of a drone photo: one with camera angles, or any property in a drone
        maker's own namespace (DJI's ``drone-dji``: gimbal angles, RelativeAltitude, flight
        angles...). EXIF Make "DJI" alone is not enough: DJI's handheld cameras write it too,
        and they shoot horizontally."""
        if self.orientation is not None:
            return self.orientation.rule
        for rule in RULES:
            if rule.marks_drone_photo and any(k.startswith(rule.prefix + ":") for k in self.xmp):
                return rule
        return None

    @property
    def equirectangular(self) -> bool:
        return self.xmp.get("GPano:ProjectionType", "").strip().lower() == "equirectangular"


@dataclass(frozen=True)
class Orientation:
    """A vendor's camera angles: yaw as written (only a yaw from north), pitch already as an OI
    pitch (0 down, 90 horizontal; ``raw_pitch`` as written in ``pitch_tag``), roll with the vendor's
    sign applied. ``unreferenced_yaw`` is a yaw that counts from something else than north (the
    row and the value), kept to say why no heading came of it."""

    rule: OrientationRule
    yaw: Optional[float]
    pitch: Optional[float]
    raw_pitch: Optional[float]
    roll: Optional[float]
    pitch_tag: str = ""
    unreferenced_yaw: Optional[Tuple[OrientationRule, float]] = None

    def completed_by(self, other: "Orientation") -> "Orientation":
        """These angles, each missing one taken from *other* (a later row of the same vendor)."""
        pitch_from = self if self.pitch is not None else other
        return replace(self, yaw=other.yaw if self.yaw is None else self.yaw,
                       pitch=pitch_from.pitch, raw_pitch=pitch_from.raw_pitch, pitch_tag=pitch_from.pitch_tag,
                       roll=other.roll if self.roll is None else self.roll,
                       unreferenced_yaw=self.unreferenced_yaw or other.unreferenced_yaw)


def build(facts: Facts, photo: PhotoRef, imagery_type: Optional[str], *,
          magnetic_correction: bool = True) -> Dict[str, Any]:
    """All 17 attributes. Raises PhotoError when the photo cannot be placed; the partial
    attributes are then on the exception as ``.attributes``. A magnetic heading (reference
    ``M``) is turned true unless *magnetic_correction* (the setting MAGNETIC_CORRECTION) is off."""
    attrs = empty_attributes()
    attrs["ImagePath"] = photo.image_path
    if photo.has_userinfo:
        facts.warnings.append("the URL's user:password was used to read the photo but is not written to the layer "
                              "(ImagePath); the layer's viewers must reach the photo without it")
    attrs["Name"] = name_of(photo.image_path)
    heading, reference = camera_heading(facts)
    attrs["CameraHeading"] = _round(heading, 6)
    attrs["CameraHeadingReference"] = reference
    attrs["CameraPitch"] = _round(camera_pitch(facts), 6)
    attrs["CameraRoll"] = _round(camera_roll(facts), 6)
    attrs["CameraHeight"] = _round(camera_height(facts), 3)
    kind = imagery_type or oriented_imagery_type(facts)
    attrs["OrientedImageryType"] = kind
    hfov, vfov = field_of_view(facts, kind)
    attrs["HorizontalFieldOfView"] = _round(hfov, 6)
    attrs["VerticalFieldOfView"] = _round(vfov, 6)
    attrs["ImageRotation"] = image_rotation(facts)
    attrs["AcquisitionDate"] = acquisition_date(facts)
    distances = schema.near_far(kind)
    attrs["NearDistance"] = distances["NearDistance"]
    attrs["FarDistance"] = distances["FarDistance"]
    attrs["Z"] = _round(altitude(facts), 3)
    try:
        lon, lat = position(facts)
    except PhotoError as exc:
        exc.attributes = attrs
        raise
    attrs["X"], attrs["Y"] = lon, lat
    true_north(facts, attrs, magnetic_correction)
    return attrs


def true_north(facts: Facts, attrs: Dict[str, Any], enabled: bool = True) -> None:
    """The place where a magnetic heading (``CameraHeadingReference`` "M") becomes a true one,
    once the position, height and date are known: the World Magnetic Model (``geomag.py``) at
    X, Y, Z and AcquisitionDate; or, when it cannot or *enabled* is off, it stays as recorded.
    Either way the photo's warnings say what happened. True headings cost nothing here."""
    if attrs["CameraHeadingReference"] != "M" or attrs["CameraHeading"] is None:
        return
    turned = geomag.true_north(attrs["CameraHeading"], lat=attrs["Y"], lon=attrs["X"], height_m=attrs["Z"],
                               when=attrs["AcquisitionDate"], enabled=enabled)
    attrs["CameraHeading"], attrs["CameraHeadingReference"] = _round(turned.heading, 6), turned.reference
    facts.warnings.extend(turned.warnings)


def _round(value: Optional[float], digits: int) -> Optional[float]:
    return None if value is None else round(value, digits)


def name_of(source: str) -> str:
    """File name without extension, from a URL path or a local path."""
    if "://" in source:
        path = unquote(urlsplit(source).path)
    else:
        path = source.replace("\\", "/")
    base = posixpath.basename(path.rstrip("/")) or path
    stem, dot, _ext = base.rpartition(".")
    return stem if dot and stem else base


# -- position ---------------------------------------------------------------------------------

def _dms(parts: List[Optional[float]]) -> Optional[float]:
    if not parts:
        return None
    value = 0.0
    for part, scale in zip(parts[:3], (1.0, 60.0, 3600.0)):
        if part is None:
            return None
        value += part / scale
    return value


def _exif_coordinate(facts: Facts, tag: str, negative: str) -> Optional[float]:
    value = _dms(values(facts.gps, tag))
    if value is None:
        return None
    ref = str(facts.gps.get(tag + "Ref") or "").strip().upper()
    return -value if ref.startswith(negative) and value else value  # 0 with S/W stays 0.0, not -0.0


def position(facts: Facts) -> Tuple[float, float]:
    """(lon, lat) in WGS84 degrees: EXIF GPS IFD, else XMP ``exif:GPSLatitude``, else DJI XMP."""
    lat = _exif_coordinate(facts, "GPSLatitude", "S")
    lon = _exif_coordinate(facts, "GPSLongitude", "W")
    where = ["exif", "exif"]  # which source gave each coordinate, for the out-of-range message
    if lat is None or lon is None:
        lat, lat_problem = parse_coordinate(facts.xmp.get("exif:GPSLatitude"))
        lon, lon_problem = parse_coordinate(facts.xmp.get("exif:GPSLongitude"))
        where = ["xmp", "xmp"]
        for problem in (lat_problem, lon_problem):
            if problem:
                facts.warnings.append(problem)
    if lat is None:
        lat, where[0] = facts.xnum("drone-dji:GpsLatitude"), "dji"
    if lon is None:
        lon, where[1] = facts.xnum("drone-dji:GpsLongitude"), "dji"
        if lon is None:
            lon = facts.xnum("drone-dji:GpsLongtitude")  # DJI's own misspelling
    if lat is None or lon is None:
        raise PhotoError("no_gps", "no GPS position: the photo has no GPS latitude/longitude in EXIF or XMP; "
                         "a layer cannot place it (turn on location for the camera, or geotag the photo)")
    if not (-90.0 <= lat <= 90.0) or not (-180.0 <= lon <= 180.0):
        raise PhotoError("gps_out_of_range", "GPS position out of range: latitude %r, longitude %r "
                         "(must be within ±90 and ±180; the photo holds %s, %s)"
                         % (lat, lon, _as_written(facts, where[0], "Latitude"), _as_written(facts, where[1], "Longitude")))
    if lat == 0.0 and lon == 0.0:
        facts.warnings.append("GPS position is exactly 0,0: cameras write that when they have no fix")
    return round(lon, 9) + 0.0, round(lat, 9) + 0.0  # + 0.0 turns a -0.0 (XMP "-0.0", or 0 W) into 0.0


def _as_written(facts: Facts, where: str, axis: str) -> str:
    """A coordinate as the photo wrote it, named by where it came from."""
    if where == "exif":
        return "EXIF GPS%s %s" % (axis, _raw_exif(facts, "GPS" + axis))
    if where == "xmp":
        return "XMP exif:GPS%s %s" % (axis, _raw_text(facts.xmp.get("exif:GPS" + axis)))
    name = "Gps" + axis if axis == "Latitude" or "drone-dji:GpsLongitude" in facts.xmp else "GpsLongtitude"
    return "DJI XMP %s %s" % (name, _raw_text(facts.xmp.get("drone-dji:" + name)))


def _raw_text(text: Optional[str]) -> str:
    """An XMP value as written, cut short: it ends up in an error message."""
    if text is None:
        return "absent"
    return repr(text[:40] + "…" if len(text) > 40 else text)


def _raw_exif(facts: Facts, tag: str) -> str:
    """A GPS coordinate as the photo wrote it: degrees, minutes, seconds and its reference."""
    parts = values(facts.gps, tag)
    text = " ".join("%g" % p if p is not None else "?" for p in parts[:3]) if parts else "absent"
    ref = str(facts.gps.get(tag + "Ref") or "").strip()
    return "%s %s" % (text, ref) if ref else text


def altitude(facts: Facts) -> Optional[float]:
    """Z: GPSAltitude (EXIF, else XMP), negative when GPSAltitudeRef is 1 (below sea level).

    A value out of a camera's reach is never written: an unsigned wrap of a small negative
    number (4294967284/1 is -12/1 written as unsigned) is read as that number, with a warning;
    anything else outside −1 000 to 50 000 m is left empty, with a warning."""
    value = first(facts.gps, "GPSAltitude")
    ref = first(facts.gps, "GPSAltitudeRef")
    signed = first(facts.gps, "GPSAltitudeAsSigned")
    written = "EXIF GPSAltitude"
    if value is None:
        text = facts.xmp.get("exif:GPSAltitude")
        value, signed = facts.xnum("exif:GPSAltitude"), _as_signed_rational(text)
        ref = facts.xnum("exif:GPSAltitudeRef")
        written = "XMP exif:GPSAltitude"
    if value is None:
        return None
    if not ALTITUDE_RANGE[0] <= value <= ALTITUDE_RANGE[1]:
        if signed is not None and signed < 0 and ALTITUDE_RANGE[0] <= signed:
            facts.warnings.append("%s %.0f is the unsigned wrap of %g (a negative number written as unsigned); "
                                  "Z uses %g m" % (written, value, signed, signed))
            return signed
        facts.warnings.append("%s %.6g m is out of a camera's reach (%g to %g m); Z left empty"
                              % ((written, value) + ALTITUDE_RANGE))
        return None
    return -abs(value) if ref == 1 else value


def _as_signed_rational(text: Optional[str]) -> Optional[float]:
    """An XMP rational ``n/d`` whose numerator is read as a signed 32-bit number."""
    match = re.match(r"^\s*(\d+)\s*/\s*(\d+)\s*$", text or "")
    if not match or not int(match.group(2)):
        return None
    num = int(match.group(1))
    if 2 ** 31 <= num < 2 ** 32:
        num -= 2 ** 32
    return num / int(match.group(2))


# -- orientation ------------------------------------------------------------------------------

def camera_heading(facts: Facts) -> Tuple[Optional[float], Optional[str]]:
    """(heading, 'T'|'M'|None): GPSImgDirection, else the vendor's camera yaw from north (DJI
    gimbal yaw, Parrot, Skydio NED, Pix4D ``Camera:Yaw``: :mod:`vendors`), else GPano pose heading.
    A yaw from another zero (Skydio's FLU) is never a heading: a warning says so.

    GPSTrack (direction of travel) is never used: a phone carried forward while shooting
    sideways would point every camera the wrong way.
    """
    direction = first(facts.gps, "GPSImgDirection")
    ref = str(facts.gps.get("GPSImgDirectionRef") or "").strip().upper()
    if direction is None:
        direction = facts.xnum("exif:GPSImgDirection")
        ref = (facts.xmp.get("exif:GPSImgDirectionRef") or "").strip().upper()
    if direction is not None and math.isfinite(direction):
        reference = ref if ref in ("T", "M") else None  # M: build() turns it true (geomag.true_north)
        return direction % 360.0, reference
    vendor = facts.orientation
    if vendor is not None and vendor.yaw is not None:
        return vendor.yaw % 360.0, None
    if facts.equirectangular:
        pose = facts.xnum("GPano:PoseHeadingDegrees")
        if pose is not None:
            return pose % 360.0, None
    if vendor is not None and vendor.unreferenced_yaw is not None:
        rule, value = vendor.unreferenced_yaw
        facts.warnings.append("%s %.2f counts from %s, not from north, and the photo holds no heading from north "
                              "(GPSImgDirection or a NED yaw): CameraHeading left empty" % (rule.yaw, value,
                                                                                          rule.yaw_zero))
    return None, None


def camera_pitch(facts: Facts) -> Optional[float]:
    """The vendor's camera pitch as an OI pitch (DJI: 90 + gimbal pitch, −90 nadir → 0; Skydio FLU:
    90 − pitch; Pix4D ``Camera:Pitch`` as written, 0 nadir), else 90 + GPano pose pitch; else None
    (layer default)."""
    vendor = facts.orientation
    if vendor is not None and vendor.pitch is not None:
        value, name = vendor.pitch, vendor.pitch_tag
        raw = value if vendor.raw_pitch is None else vendor.raw_pitch  # always given with the pitch
    else:
        pose = facts.xnum("GPano:PosePitchDegrees")
        if pose is None:
            return None
        value, name, raw = 90.0 + pose, "GPano:PosePitchDegrees", pose
    if not 0.0 <= value <= 180.0:
        facts.warnings.append("CameraPitch %.2f would be outside 0–180 (%s %.2f); left empty" % (value, name, raw))
        return None
    return value


def camera_roll(facts: Facts) -> Optional[float]:
    vendor = facts.orientation
    if vendor is not None and vendor.roll is not None:
        return vendor.roll
    return facts.xnum("GPano:PoseRollDegrees")


def camera_height(facts: Facts) -> Optional[float]:
    """The drone's height above its take-off point (DJI, Skydio RelativeAltitude): that is height
    above ground only on flat terrain."""
    tag = facts.drone.height if facts.drone is not None else None
    height = facts.xnum(tag) if tag else None
    if height is None:
        return None
    if height < 0:
        facts.warnings.append("%s %.2f m is below the take-off point; CameraHeight left empty" % (tag, height))
        return None
    if height > MAX_HEIGHT:
        facts.warnings.append("%s %.6g m is out of a drone's reach (over %g m); CameraHeight left empty"
                              % (tag, height, MAX_HEIGHT))
        return None
    return height


def oriented_imagery_type(facts: Facts) -> str:
    """360 for equirectangular photos; a drone photo is Nadir when its camera looks within 10° of
    straight down (DJI gimbal pitch ≤ −80), else Oblique; everything else Horizontal."""
    if facts.equirectangular:
        return "360"
    if facts.drone is not None:
        pitch = facts.orientation.pitch if facts.orientation is not None else None
        return "Nadir" if pitch is not None and 0.0 <= pitch <= NADIR_BELOW else "Oblique"
    return "Horizontal"


def image_rotation(facts: Facts) -> Optional[int]:
    orientation = first(facts.ifd0, "Orientation")
    if orientation is None:
        return None
    if orientation in (2, 4, 5, 7):
        facts.warnings.append("EXIF Orientation %d is mirrored; ImageRotation ignores the mirroring" % orientation)
    if orientation not in ROTATION:
        facts.warnings.append("EXIF Orientation %r is not 1–8; ignored" % orientation)
        return None
    return ROTATION[int(orientation)]


# -- field of view ----------------------------------------------------------------------------

def field_of_view(facts: Facts, kind: Optional[str] = None) -> Tuple[Optional[float], Optional[float]]:
    """(HFOV, VFOV) in degrees: 360×180 for 360° photos (equirectangular, or typed 360 by the
    person), else from the 35 mm equivalent focal length (diagonal definition), else from the
    focal plane resolution; swapped for photos shot in portrait (Orientation 5–8)."""
    if facts.equirectangular or kind == "360":
        return _panorama_fov(facts)
    fov = _fov_35mm(facts) or _fov_focal_plane(facts)
    if fov is None:
        return None, None
    orientation = first(facts.ifd0, "Orientation")
    if orientation in (5, 6, 7, 8):
        return fov[1], fov[0]
    return fov


def _panorama_fov(facts: Facts) -> Tuple[float, float]:
    crop_w, full_w = facts.xnum("GPano:CroppedAreaImageWidthPixels"), facts.xnum("GPano:FullPanoWidthPixels")
    crop_h, full_h = facts.xnum("GPano:CroppedAreaImageHeightPixels"), facts.xnum("GPano:FullPanoHeightPixels")
    hfov, vfov = 360.0, 180.0
    if crop_w and full_w and 0 < crop_w < full_w:
        hfov = 360.0 * crop_w / full_w
    if crop_h and full_h and 0 < crop_h < full_h:
        vfov = 180.0 * crop_h / full_h
    return hfov, vfov


def _image_size(facts: Facts) -> Optional[Tuple[float, float]]:
    width, height = _exif_size(facts)
    if width and height:
        return float(width), float(height)
    if facts.frame_size:
        return float(facts.frame_size[0]), float(facts.frame_size[1])
    return None


def _exif_size(facts: Facts) -> Tuple[Optional[float], Optional[float]]:
    width, height = first(facts.exif, "PixelXDimension"), first(facts.exif, "PixelYDimension")
    if width and height and width > 0 and height > 0:
        return width, height
    return None, None


def _resized(facts: Facts, same_aspect_is_enough: bool) -> Optional[str]:
    """Why the EXIF pixel size is not the image's own (SOF) size, or None when they agree (or
    either is unknown). Portrait swaps count as agreeing. With *same_aspect_is_enough*, a
    proportional resize agrees too (the 35 mm formula needs only the aspect ratio)."""
    width, height = _exif_size(facts)
    if not (width and height and facts.frame_size):
        return None
    exif_long, exif_short = max(width, height), min(width, height)
    own_long, own_short = max(facts.frame_size), min(facts.frame_size)
    if (exif_long, exif_short) == (own_long, own_short):
        return None
    if same_aspect_is_enough and abs(exif_long / exif_short / (own_long / own_short) - 1.0) <= ASPECT_TOLERANCE:
        return None
    return "EXIF gives %dx%d pixels but the image is %dx%d (resized or cropped after capture)" % (
        width, height, facts.frame_size[0], facts.frame_size[1])


def _fov_35mm(facts: Facts) -> Optional[Tuple[float, float]]:
    f35 = first(facts.exif, "FocalLengthIn35mmFilm")
    if not f35 or f35 <= 0:
        if f35 == 0:
            facts.warnings.append("FocalLengthIn35mmFilm is 0 (unknown)")
        return None
    size = _image_size(facts)
    if size is None:
        return None
    cropped = _resized(facts, same_aspect_is_enough=True)
    if cropped:
        facts.warnings.append("field of view left empty: %s, so the 35 mm focal length no longer describes the "
                              "picture" % cropped)
        return None
    long_side, short_side = max(size), min(size)
    w35 = DIAGONAL_35MM * long_side / math.hypot(long_side, short_side)
    hfov = 2.0 * math.atan(w35 / (2.0 * f35))
    vfov = 2.0 * math.atan(math.tan(hfov / 2.0) * short_side / long_side)
    return math.degrees(hfov), math.degrees(vfov)


def _fov_focal_plane(facts: Facts) -> Optional[Tuple[float, float]]:
    """Sensor size from FocalPlaneX/YResolution (pixels per unit on the sensor) and the capture size.

    Why so wary: a resized photo keeps the camera's resolution tags, so the sensor it implies
    shrinks with the picture (a resized Canon came out 3.6× to 10.9× too narrow). The estimate is
    refused when the EXIF pixel size is not the image's own (SOF) size, when the sensor it implies
    is not a camera sensor (diagonal 4–70 mm: a 1/4" phone sensor to medium format), or when the
    lens it implies is not a camera lens (35 mm equivalent 8–1200 mm)."""
    focal = first(facts.exif, "FocalLength")
    x_res = first(facts.exif, "FocalPlaneXResolution")
    y_res = first(facts.exif, "FocalPlaneYResolution") or x_res
    unit = first(facts.exif, "FocalPlaneResolutionUnit") or 2
    size = _image_size(facts)
    if not (focal and focal > 0 and x_res and x_res > 0 and y_res and y_res > 0 and size):
        return None
    width, height = size
    if unit not in MM_PER_UNIT:
        return None
    resized = _resized(facts, same_aspect_is_enough=False)
    if resized:
        facts.warnings.append("field of view from the focal plane resolution left empty: %s, and the resolution "
                              "tags still describe the original" % resized)
        return None
    sensor_w = width / x_res * MM_PER_UNIT[int(unit)]
    sensor_h = height / y_res * MM_PER_UNIT[int(unit)]
    diagonal = math.hypot(sensor_w, sensor_h)
    if not SENSOR_DIAGONAL_MM[0] <= diagonal <= SENSOR_DIAGONAL_MM[1]:
        facts.warnings.append("focal plane resolution gives an implausible %.1f x %.1f mm sensor (a camera's is "
                              "%g–%g mm across; resized?); FOV left empty" % ((sensor_w, sensor_h) + SENSOR_DIAGONAL_MM))
        return None
    f35 = focal * DIAGONAL_35MM / diagonal
    if not LENS_35MM[0] <= f35 <= LENS_35MM[1]:
        facts.warnings.append("FocalLength %g mm on the %.1f x %.1f mm sensor the focal plane resolution gives is a "
                              "%.0f mm lens in 35 mm terms, not a camera's; FOV left empty" % (focal, sensor_w,
                                                                                              sensor_h, f35))
        return None
    long_side, short_side = max(sensor_w, sensor_h), min(sensor_w, sensor_h)
    return (math.degrees(2.0 * math.atan(long_side / (2.0 * focal))),
            math.degrees(2.0 * math.atan(short_side / (2.0 * focal))))


# -- time -------------------------------------------------------------------------------------

_EXIF_DT = re.compile(r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?")
_OFFSET = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")


def _exif_datetime(text: Any, subsec: Any = None) -> Optional[dt.datetime]:
    if not isinstance(text, str):
        return None
    match = _EXIF_DT.match(text)
    if not match:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
        moment = dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    fraction = match.group(7)
    if not fraction and isinstance(subsec, str) and subsec.strip().isdigit():
        fraction = "." + subsec.strip()
    if fraction:
        moment = moment.replace(microsecond=int((fraction[1:] + "000000")[:6]))
    return moment


def _utc_text(moment: dt.datetime) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += (".%06d" % moment.microsecond).rstrip("0")
    return text


def _gps_datetime(facts: Facts) -> Optional[dt.datetime]:
    date = facts.gps.get("GPSDateStamp")
    stamp = values(facts.gps, "GPSTimeStamp")
    if not isinstance(date, str) or len(stamp) < 3 or any(v is None for v in stamp[:3]):
        return None
    match = re.match(r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})", date)
    if not match:
        return None
    try:
        year, month, date_of_month = (int(g) for g in match.groups())
        day = dt.datetime(year, month, date_of_month)
        micro = int(round((stamp[0] * 3600 + stamp[1] * 60 + stamp[2]) * 1e6))
        if not 0 <= micro < 86400 * 1000000:
            return None
        return day + dt.timedelta(microseconds=micro)
    except (ValueError, OverflowError):
        return None


def acquisition_date(facts: Facts) -> Optional[str]:
    """ISO 8601. DateTimeOriginal + OffsetTimeOriginal → UTC ``Z``; else the GPS date and
    time (always UTC) when it can be trusted (:func:`_gps_clock_problem`); else DateTimeOriginal
    as local time with a "time zone unknown" warning."""
    local = _exif_datetime(facts.exif.get("DateTimeOriginal"), facts.exif.get("SubSecTimeOriginal"))
    if facts.exif.get("DateTimeOriginal") and local is None:
        facts.warnings.append("DateTimeOriginal %r is not a valid date" % str(facts.exif.get("DateTimeOriginal"))[:40])
    offset = _OFFSET.match(str(facts.exif.get("OffsetTimeOriginal") or ""))
    if local is not None and offset:
        sign = 1 if offset.group(1) == "+" else -1
        delta = dt.timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
        return _utc_text(local - sign * delta) + "Z"
    gps = _gps_datetime(facts)
    if gps is not None:
        problem = _gps_clock_problem(facts, gps, local)
        if problem is None:
            return _utc_text(gps) + "Z"
        facts.warnings.append(problem)
    if local is not None:
        facts.warnings.append("time zone unknown: AcquisitionDate is the camera's local time "
                              "(no OffsetTimeOriginal or usable GPS time)")
        return _utc_text(local)
    return None


def _gps_clock_problem(facts: Facts, gps: dt.datetime, local: Optional[dt.datetime]) -> Optional[str]:
    """Why the GPS date and time cannot be trusted, or None.

    A receiver without a fix (GPSStatus V, or position 0,0) keeps whatever its clock held; and a
    GPS time that differs from the camera's clock by anything but a time-zone offset (a whole
    quarter hour within ±14 h, give or take ZONE_DRIFT of clock drift) is a stale fix, not
    the moment of the photo (seen: 27 hours, 9 days, 7 years)."""
    stamp = _utc_text(gps) + "Z"
    if str(facts.gps.get("GPSStatus") or "").strip().upper() == "V":
        return "GPS time %s ignored: the receiver reported no fix (GPSStatus V)" % stamp
    if _exif_coordinate(facts, "GPSLatitude", "S") == 0.0 and _exif_coordinate(facts, "GPSLongitude", "W") == 0.0:
        return "GPS time %s ignored: the receiver had no fix (position 0,0)" % stamp
    if local is None:
        return None
    difference = (local - gps).total_seconds()
    zone = round(difference / 900.0) * 900.0
    if abs(zone) <= 14 * 3600 and abs(difference - zone) <= ZONE_DRIFT:
        return None
    return ("GPS time %s ignored: it differs from the camera's clock (%s) by %s, which is no time-zone offset "
            "(a whole quarter hour within ±14 h): a stale GPS fix" % (stamp, _utc_text(local), _span(difference)))


def _span(seconds: float) -> str:
    """A clock difference in words: '27 h 3 min', '9 days', '7.0 years'."""
    seconds = abs(seconds)
    if seconds < 2 * 86400:
        return "%d h %d min" % (seconds // 3600, seconds % 3600 // 60)
    if seconds < 365 * 86400:
        return "%d days" % round(seconds / 86400)
    return "%.1f years" % (seconds / (365.25 * 86400))
