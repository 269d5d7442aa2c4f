"""Real photos (../shared/samples) against expected.json, and agreement with exifread on the same bytes."""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any, Dict, Optional

import pytest

from conftest import SAMPLES, requires_samples
from xpgeo_core.metadata import inspect_bytes, inspect_source
from xpgeo_core.sample_photos import make_jpeg
from xpgeo_core.settings import load_settings

exifread = pytest.importorskip("exifread")
# expected.json holds headings as recorded; test_geomag.py checks the true-north correction of its magnetic one.
SETTINGS = load_settings(environ={}).replace(magnetic_correction=False)
POSITION_TOL = 1e-7
ANGLE_TOL = 0.01
FOV_TOL = 0.1
FIELDS = {  # our attribute -> expected.json key, tolerance (expected.json rounds positions to 1e-6)
    "X": ("X", 1e-6), "Y": ("Y", 1e-6), "Z": ("Z", 1e-3),
    "CameraHeading": ("CameraHeading", ANGLE_TOL), "CameraHeadingReference": ("heading_ref", None),
    "CameraPitch": ("CameraPitch", ANGLE_TOL), "CameraRoll": ("CameraRoll", ANGLE_TOL),
    "CameraHeight": ("CameraHeight", 1e-3), "OrientedImageryType": ("OrientedImageryType", None),
    "HorizontalFieldOfView": ("HFOV", FOV_TOL), "VerticalFieldOfView": ("VFOV", FOV_TOL),
}


def _instant(text: Optional[str]) -> Optional[dt.datetime]:
    """ISO text as a comparable instant; naive times stay naive (local, time zone unknown)."""
    if text is None:
        return None
    text = text.replace("Z", "+00:00")
    moment = dt.datetime.fromisoformat(text[:19] + text[text.find("+", 19):] if "+" in text[19:] else
                                       (text[:19] + text[text.find("-", 19):] if "-" in text[19:] else text[:19]))
    return moment


def _matches(ours: Any, wanted: Any, tol: Optional[float]) -> bool:
    if wanted is None or ours is None:
        return ours is wanted
    if tol is None:
        return ours == wanted
    return abs(float(ours) - float(wanted)) <= tol + 1e-12


def _date_ok(ours: Optional[str], image: Dict[str, Any]) -> bool:
    """The expected local time (with its offset when recorded), or the GPS UTC time: within a second."""
    mine = _instant(ours)
    for candidate in (image.get("AcquisitionDate"), image.get("gps_datetime_utc_info")):
        theirs = _instant(candidate)
        if mine is None or theirs is None:
            if mine is None and theirs is None and candidate is image.get("AcquisitionDate"):
                return True
            continue
        if (mine.tzinfo is None) != (theirs.tzinfo is None):
            continue
        if abs((mine - theirs).total_seconds()) < 1.0:
            return True
    return False


def _oracle_positions() -> Dict[str, Dict[str, float]]:
    """Full-precision positions from manifest.json (exiftool -n): expected.json rounds to 1e-6."""
    import json

    manifest = json.loads((SAMPLES / "manifest.json").read_text(encoding="utf-8"))
    out = {}
    for entry in manifest.get("images", []):
        oracle = entry.get("oracle", {})
        # Composite:* (from EXIF GPS); an XMP-only position (adobe_coords.jpg) is in XMP-exif:* (signed, -n)
        for prefix in ("Composite:", "XMP-exif:"):
            lat, lon = oracle.get(prefix + "GPSLatitude"), oracle.get(prefix + "GPSLongitude")
            if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
                out[entry["file"]] = {"Y": float(lat), "X": float(lon)}
                break
    return out


@requires_samples
def test_every_sample_matches_expected(expected_samples):
    problems = []
    oracle = _oracle_positions()
    # every photo with a position is checked to 1e-7 degrees, including the XMP-only one
    assert {i["file"] for i in expected_samples["images"] if i["has_gps"]} <= set(oracle)
    for image in expected_samples["images"]:
        info = inspect_source(str(SAMPLES / image["file"]), settings=SETTINGS)
        for key in ("X", "Y"):
            if image["file"] in oracle and info.attributes[key] is not None:
                if abs(info.attributes[key] - oracle[image["file"]][key]) > POSITION_TOL:
                    problems.append((image["file"], key, info.attributes[key], oracle[image["file"]][key]))
        assert info.bytes_read <= 128 * 1024, image["file"]
        alternatives = image.get("acceptable_alternatives") or {}
        if not image["has_gps"]:
            if info.ok or not info.error.startswith("no GPS position"):
                problems.append((image["file"], "has_gps", info.error))
        elif not info.ok:
            problems.append((image["file"], "ok", info.error))
        for ours_key, (their_key, tol) in FIELDS.items():
            ours = info.attributes[ours_key]
            accepted = [image.get(their_key)] + list(alternatives.get(their_key, [])) + list(
                alternatives.get(ours_key, []))
            if not any(_matches(ours, wanted, tol) for wanted in accepted):
                problems.append((image["file"], ours_key, ours, accepted))
        if not _date_ok(info.attributes["AcquisitionDate"], image):
            problems.append((image["file"], "AcquisitionDate", info.attributes["AcquisitionDate"]))
        assert info.attributes["Name"] == image["file"].rsplit(".", 1)[0]
    assert not problems, problems


@requires_samples
def test_samples_read_with_a_1_mib_cap_and_in_64k_prefixes(expected_samples):
    for image in expected_samples["images"]:
        data = (SAMPLES / image["file"]).read_bytes()[:64 * 1024]
        full = inspect_source(str(SAMPLES / image["file"]), settings=SETTINGS)
        prefix = inspect_bytes(data, source=image["file"], settings=SETTINGS)
        assert prefix.attributes["X"] == full.attributes["X"] and prefix.error == full.error


# -- exifread agreement ----------------------------------------------------------------------------

def _ratio(value) -> float:
    return float(value.num) / float(value.den)


def _exifread_view(data: bytes) -> Dict[str, Any]:
    tags = exifread.process_file(io.BytesIO(data), details=False)
    out: Dict[str, Any] = {}

    def coordinate(name: str, negative: str) -> Optional[float]:
        if "GPS " + name not in tags:
            return None
        parts = tags["GPS " + name].values
        if any(p.den == 0 for p in parts):
            return None
        value = sum(_ratio(p) / scale for p, scale in zip(parts, (1, 60, 3600)))
        ref = str(tags.get("GPS %sRef" % name, "")).strip().upper()
        return -value if ref.startswith(negative) else value

    if "GPS GPSLatitude" in tags:
        out["Y"], out["X"] = coordinate("GPSLatitude", "S"), coordinate("GPSLongitude", "W")
    if "GPS GPSImgDirection" in tags and tags["GPS GPSImgDirection"].values[0].den:
        out["CameraHeading"] = _ratio(tags["GPS GPSImgDirection"].values[0]) % 360
    if "EXIF FocalLength" in tags:
        out["FocalLength"] = _ratio(tags["EXIF FocalLength"].values[0])
    if "EXIF FocalLengthIn35mmFilm" in tags:
        out["f35"] = tags["EXIF FocalLengthIn35mmFilm"].values[0]
    if "EXIF DateTimeOriginal" in tags:
        out["DateTimeOriginal"] = str(tags["EXIF DateTimeOriginal"]).strip()
    if "GPS GPSDate" in tags:
        out["GPSDateStamp"] = str(tags["GPS GPSDate"]).strip()
    if "GPS GPSTimeStamp" in tags and all(p.den for p in tags["GPS GPSTimeStamp"].values):
        out["GPSTimeStamp"] = [_ratio(p) for p in tags["GPS GPSTimeStamp"].values]
    return out


def _our_view(data: bytes) -> Dict[str, Any]:
    from xpgeo_core.metadata.fetch import BytesSource
    from xpgeo_core.metadata.jpeg import walk

    header = walk(BytesSource(data, 1 << 20))
    exif = header.exif or {"exif": {}, "gps": {}}
    info = inspect_bytes(data, source="x.jpg", settings=SETTINGS)
    out: Dict[str, Any] = {}
    if exif["gps"].get("GPSLatitude"):  # exifread reads EXIF only; XMP-only positions are ours alone
        out["Y"], out["X"] = info.attributes["Y"], info.attributes["X"]
    if exif["gps"].get("GPSImgDirection"):
        out["CameraHeading"] = info.attributes["CameraHeading"]
    if exif["exif"].get("FocalLength"):
        out["FocalLength"] = exif["exif"]["FocalLength"][0]
    if exif["exif"].get("FocalLengthIn35mmFilm"):
        out["f35"] = exif["exif"]["FocalLengthIn35mmFilm"][0]
    if exif["exif"].get("DateTimeOriginal"):
        out["DateTimeOriginal"] = exif["exif"]["DateTimeOriginal"]
    if exif["gps"].get("GPSDateStamp"):
        out["GPSDateStamp"] = exif["gps"]["GPSDateStamp"]
    if exif["gps"].get("GPSTimeStamp") and None not in exif["gps"]["GPSTimeStamp"]:
        out["GPSTimeStamp"] = exif["gps"]["GPSTimeStamp"]
    return out


def _agree(data: bytes) -> None:
    theirs, ours = _exifread_view(data), _our_view(data)
    for key in set(theirs) | set(ours):
        a, b = ours.get(key), theirs.get(key)
        if key == "GPSTimeStamp":  # hours, minutes, seconds
            assert a is not None and b is not None and len(a) == len(b), (key, a, b)
            assert all(math.isclose(x, y, abs_tol=1e-6) for x, y in zip(a, b)), (key, a, b)
        elif isinstance(a, float) or isinstance(b, float):
            assert a is not None and b is not None and math.isclose(a, b, abs_tol=1e-8 if key in ("X", "Y") else 1e-5), (key, a, b)
        else:
            assert a == b, (key, a, b)


@pytest.mark.parametrize("order", ["little", "big"])
def test_exifread_agrees_on_synthetic_photos(order):
    for kw in ({"lat": -33.8568, "lon": 151.2153, "heading": 212.87, "focal_length": 4.15, "focal_length_35mm": 29,
                "datetime_original": "2015:04:10 20:12:23",
                "gps_datetime": dt.datetime(2015, 4, 10, 18, 12, 22, 60000)},
               {"lat": 0.5, "lon": -0.25, "heading": 359.99, "heading_ref": "M", "focal_length": 13.5},
               {"lat": 89.9999999, "lon": -179.9999999, "gps_dms": False}):
        _agree(make_jpeg(byte_order=order, **kw))


@requires_samples
def test_exifread_agrees_on_the_samples(expected_samples):
    for image in expected_samples["images"]:
        _agree((SAMPLES / image["file"]).read_bytes()[:128 * 1024])
