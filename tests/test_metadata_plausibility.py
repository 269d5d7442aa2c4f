"""No confidently wrong values: where a rule would compute something implausible, the attribute is
null and the photo's warnings say why (resized photos, wrapped altitudes, stale GPS clocks, -0.0)."""

from __future__ import annotations

import datetime as dt
import io
import math

import pytest

from xpgeo_core.metadata import inspect_bytes
from xpgeo_core.sample_photos import EXIF_HEADER, make_jpeg, make_tiff, segment
from xpgeo_core.settings import load_settings

SETTINGS = load_settings(environ={})
CANON = dict(make="Canon", focal_length=6.2, focal_plane_resolution=(4000 / 0.2421, 3000 / 0.1791),
             focal_plane_resolution_unit=2)  # a 1/2.3" sensor (6.15 x 4.55 mm), 4000 x 3000 pixels


def run(data: bytes):
    info = inspect_bytes(data, source="p.jpg", settings=SETTINGS)
    assert info.ok, info.error
    return info.attributes, info.warnings


def hfov(sensor_mm: float, focal: float) -> float:
    return math.degrees(2 * math.atan(sensor_mm / (2 * focal)))


# -- field of view on resized photos -----------------------------------------------------------------

def test_focal_plane_fov_of_the_original_photo():
    a, warnings = run(make_jpeg(lat=1, lon=2, pixel_size=(4000, 3000), frame_size=(4000, 3000), **CANON))
    assert a["HorizontalFieldOfView"] == pytest.approx(hfov(6.149, 6.2), abs=0.05) and warnings == []


@pytest.mark.parametrize("factor", [3.6, 10.9])
def test_resized_photo_with_the_original_exif_size_gives_no_fov(factor):
    """The resolution tags and PixelX/YDimension say 4000 x 3000, the picture is smaller."""
    small = (int(4000 / factor), int(3000 / factor))
    a, warnings = run(make_jpeg(lat=1, lon=2, pixel_size=(4000, 3000), frame_size=small, **CANON))
    assert a["HorizontalFieldOfView"] is None and a["VerticalFieldOfView"] is None
    assert any("EXIF gives 4000x3000 pixels but the image is %dx%d" % small in w for w in warnings)


@pytest.mark.parametrize("factor", [3.6, 10.9])
def test_resized_photo_whose_exif_size_was_updated_gives_no_fov(factor):
    """An editor updated PixelX/YDimension but kept the resolution: the sensor shrinks with the picture."""
    small = (int(4000 / factor), int(3000 / factor))
    a, warnings = run(make_jpeg(lat=1, lon=2, pixel_size=small, frame_size=small, **CANON))
    assert a["HorizontalFieldOfView"] is None
    assert any("implausible" in w and "sensor" in w for w in warnings)


def test_a_sensor_that_implies_no_real_lens_gives_no_fov():
    a, warnings = run(make_jpeg(lat=1, lon=2, pixel_size=(4000, 3000), frame_size=(4000, 3000),
                                **dict(CANON, focal_length=0.9)))
    assert a["HorizontalFieldOfView"] is None and any("35 mm terms" in w for w in warnings)


def test_the_35mm_formula_survives_a_proportional_resize_but_not_a_crop():
    a, warnings = run(make_jpeg(lat=1, lon=2, focal_length_35mm=28, pixel_size=(4000, 3000), frame_size=(800, 600)))
    assert a["HorizontalFieldOfView"] is not None and warnings == []
    a, warnings = run(make_jpeg(lat=1, lon=2, focal_length_35mm=28, pixel_size=(4000, 3000), frame_size=(800, 800)))
    assert a["HorizontalFieldOfView"] is None and any("cropped" in w for w in warnings)
    a, _ = run(make_jpeg(lat=1, lon=2, focal_length_35mm=28, pixel_size=(3000, 4000), frame_size=(400, 300)))
    assert a["HorizontalFieldOfView"] is not None  # a portrait EXIF size against a landscape frame is one picture


# -- altitudes out of reach --------------------------------------------------------------------------

def _gps_altitude(num: int, den: int = 1, ref: int = 0) -> bytes:
    return make_jpeg(lat=1, lon=2, extra_gps=[(0x0005, "BYTE", [ref]), (0x0006, "RATIONAL", (num, den))])


@pytest.mark.parametrize("num, den, meters", [(4294967284, 1, -12.0), (4294955296, 1000, -12.0),
                                              (2 ** 32 - 1, 10, -0.1)])
def test_an_unsigned_wrap_is_recognised(num, den, meters):
    a, warnings = run(_gps_altitude(num, den))
    assert a["Z"] == pytest.approx(meters)
    assert any("unsigned wrap" in w for w in warnings)


def test_an_altitude_out_of_reach_is_left_empty():
    a, warnings = run(_gps_altitude(123456789))
    assert a["Z"] is None and any("out of a camera's reach" in w for w in warnings)
    a, warnings = run(_gps_altitude(8848, ref=0))
    assert a["Z"] == pytest.approx(8848.0) and warnings == []


def test_a_wrapped_xmp_altitude_is_recognised_too():
    a, warnings = run(make_jpeg(xmp_exif={"GPSLatitude": 1.0, "GPSLongitude": 2.0, "GPSAltitude": "4294967284/1"}))
    assert a["Z"] == pytest.approx(-12.0) and any("XMP exif:GPSAltitude" in w for w in warnings)


def test_exifread_reads_the_same_wrapped_numerator():
    exifread = pytest.importorskip("exifread")
    tags = exifread.process_file(io.BytesIO(_gps_altitude(4294967284)), details=False)
    assert tags["GPS GPSAltitude"].values[0].num == 4294967284  # the raw value we recognise as -12


def test_a_drone_height_out_of_reach_is_left_empty():
    a, warnings = run(make_jpeg(lat=1, lon=2, dji={"RelativeAltitude": 4294967.0}))
    assert a["CameraHeight"] is None and any("out of a drone's reach" in w for w in warnings)


# -- stale GPS clocks ----------------------------------------------------------------------------------

CAMERA = dt.datetime(2024, 6, 1, 14, 30, 0)


def _dated(gps: dt.datetime, **kw) -> bytes:
    kw.setdefault("lat", 46.5)
    kw.setdefault("lon", 6.6)
    return make_jpeg(datetime_original=CAMERA, gps_datetime=gps, **kw)


@pytest.mark.parametrize("gps", [CAMERA - dt.timedelta(hours=2), CAMERA + dt.timedelta(hours=7),
                                 CAMERA - dt.timedelta(hours=5, minutes=45, seconds=-90),  # Nepal, 90 s drift
                                 CAMERA + dt.timedelta(hours=9, minutes=30), CAMERA - dt.timedelta(hours=14),
                                 CAMERA - dt.timedelta(hours=3, minutes=4)])  # 4 minutes of drift
def test_gps_time_is_used_when_the_clocks_differ_by_a_time_zone(gps):
    a, warnings = run(_dated(gps))
    assert a["AcquisitionDate"] == gps.strftime("%Y-%m-%dT%H:%M:%SZ") and warnings == []


@pytest.mark.parametrize("gps, words", [(CAMERA - dt.timedelta(hours=27), "27 h 0 min"),
                                        (CAMERA - dt.timedelta(days=9, hours=2), "9 days"),
                                        (CAMERA - dt.timedelta(days=7 * 365 + 2), "7.0 years"),
                                        (CAMERA - dt.timedelta(hours=14, minutes=15), "14 h 15 min"),
                                        (CAMERA - dt.timedelta(hours=2, minutes=8), "2 h 8 min")])
def test_a_stale_gps_clock_gives_the_camera_time_flagged_local(gps, words):
    a, warnings = run(_dated(gps))
    assert a["AcquisitionDate"] == "2024-06-01T14:30:00"
    assert any("ignored" in w and words in w and "no time-zone offset" in w for w in warnings)
    assert any("time zone unknown" in w for w in warnings)


def test_a_receiver_without_a_fix_gives_no_gps_time():
    a, warnings = run(_dated(CAMERA - dt.timedelta(hours=2), lat=0.0, lon=0.0))
    assert a["AcquisitionDate"] == "2024-06-01T14:30:00" and any("no fix (position 0,0)" in w for w in warnings)
    a, warnings = run(_dated(CAMERA - dt.timedelta(hours=2), extra_gps=[(0x0009, "ASCII", "V")]))
    assert a["AcquisitionDate"] == "2024-06-01T14:30:00" and any("GPSStatus V" in w for w in warnings)
    a, warnings = run(make_jpeg(lat=0.0, lon=0.0, gps_datetime=CAMERA))
    assert a["AcquisitionDate"] is None  # nothing else to go by


def test_gps_time_alone_is_used_as_recorded():
    a, warnings = run(make_jpeg(lat=1, lon=2, gps_datetime=CAMERA))
    assert a["AcquisitionDate"] == "2024-06-01T14:30:00Z" and warnings == []


def test_an_offset_still_wins_over_both():
    a, _ = run(_dated(CAMERA - dt.timedelta(days=9), offset_time_original="+02:00"))
    assert a["AcquisitionDate"] == "2024-06-01T12:30:00Z"


# -- -0.0 ------------------------------------------------------------------------------------------------

def test_zero_with_south_and_west_refs_is_plain_zero():
    gps = [(0x0001, "ASCII", "S"), (0x0002, "RATIONAL", [0, 0, 0]), (0x0003, "ASCII", "W"),
           (0x0004, "RATIONAL", [0, 0, 0])]
    data = b"\xff\xd8" + segment(0xE1, EXIF_HEADER + make_tiff([], gps=gps)) + make_jpeg(jfif=False)[2:]
    a, warnings = run(data)
    assert (math.copysign(1.0, a["X"]), math.copysign(1.0, a["Y"])) == (1.0, 1.0)
    assert any("exactly 0,0" in w for w in warnings)
    a, _ = run(make_jpeg(xmp_exif={"GPSLatitude": "0,0.0S", "GPSLongitude": "-0.0"}))
    assert (math.copysign(1.0, a["X"]), math.copysign(1.0, a["Y"])) == (1.0, 1.0)
