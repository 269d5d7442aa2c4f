"""Every attribute rule of the metadata engine, on photos built by the test (both byte orders)."""

from __future__ import annotations

import datetime as dt
import io
import math
import re

import pytest

from conftest import ROOT
from xpgeo_core.metadata import ATTRIBUTE_KEYS, inspect_source
from xpgeo_core.sample_photos import make_jpeg
from xpgeo_core.schema import near_far
from xpgeo_core.settings import load_settings

ORDERS = ("little", "big")


@pytest.fixture
def settings():
    return load_settings(environ={})


@pytest.fixture
def inspect(tmp_path, settings):
    counter = iter(range(10 ** 6))

    def run(data: bytes, name: str = None, imagery_type=None):
        path = tmp_path / (name or "photo%d.jpg" % next(counter))
        path.write_bytes(data)
        return inspect_source(str(path), settings=settings, imagery_type=imagery_type)

    return run


def diag_fov(f35, w, h):
    long_side, short_side = max(w, h), min(w, h)
    w35 = 43.2666 * long_side / math.hypot(long_side, short_side)
    hfov = 2 * math.atan(w35 / (2 * f35))
    return math.degrees(hfov), math.degrees(2 * math.atan(math.tan(hfov / 2) * short_side / long_side))


def test_sample_photo_is_a_valid_jpeg_pillow_decodes():
    pil = pytest.importorskip("PIL.Image")
    for order in ORDERS:
        data = make_jpeg(lat=1, lon=2, byte_order=order, dji={"GimbalYawDegree": 1.0}, frame_size=(100, 60))
        image = pil.open(io.BytesIO(data))
        image.load()
        assert image.size == (100, 60)
    big = make_jpeg(lat=1, lon=2, target_size=2_500_000)
    assert len(big) == 2_500_000 and big.index(b"\xff\xda") < 4096
    pil.open(io.BytesIO(big)).load()


@pytest.mark.parametrize("order", ORDERS)
def test_phone_photo_all_attributes(inspect, order):
    data = make_jpeg(byte_order=order, lat=-33.856784, lon=151.215297, alt=42.25, heading=123.45, heading_ref="T",
                     datetime_original="2024:05:01 10:30:15", offset_time_original="+10:00",
                     gps_datetime=dt.datetime(2024, 5, 1, 0, 30, 14), make="Apple", model="iPhone 13",
                     orientation=1, focal_length=5.1, focal_length_35mm=26, pixel_size=(4032, 3024))
    info = inspect(data, "IMG_0001.JPG")
    assert info.ok, info.error
    a = info.attributes
    assert set(a) == set(ATTRIBUTE_KEYS) and len(a) == 17
    assert a["Y"] == pytest.approx(-33.856784, abs=1e-9)
    assert a["X"] == pytest.approx(151.215297, abs=1e-9)
    assert a["Z"] == pytest.approx(42.25)
    assert a["CameraHeading"] == pytest.approx(123.45) and a["CameraHeadingReference"] == "T"
    assert a["CameraPitch"] is None and a["CameraRoll"] is None and a["CameraHeight"] is None
    assert a["OrientedImageryType"] == "Horizontal"
    h, v = diag_fov(26, 4032, 3024)
    assert a["HorizontalFieldOfView"] == pytest.approx(h, abs=1e-4)
    assert a["VerticalFieldOfView"] == pytest.approx(v, abs=1e-4)
    assert a["AcquisitionDate"] == "2024-05-01T00:30:15Z"  # offset wins over GPS time
    assert a["ImageRotation"] == 0
    assert a["Name"] == "IMG_0001" and a["ImagePath"].endswith("IMG_0001.JPG")
    assert (a["NearDistance"], a["FarDistance"]) == tuple(near_far("Horizontal").values())
    assert info.warnings == []
    document = info.to_dict()
    assert list(document) == ["source", "ok", "error", "bytes_read", "warnings", "attributes"]
    assert document["bytes_read"] == len(data)


@pytest.mark.parametrize("order", ORDERS)
def test_southern_western_hemisphere_and_below_sea_level(inspect, order):
    a = inspect(make_jpeg(byte_order=order, lat=-20.5, lon=-43.25, alt=-8.5)).attributes
    assert (a["X"], a["Y"], a["Z"]) == (pytest.approx(-43.25), pytest.approx(-20.5), pytest.approx(-8.5))
    a = inspect(make_jpeg(byte_order=order, lat=1, lon=1, alt=8.5, alt_ref=1)).attributes
    assert a["Z"] == pytest.approx(-8.5)


def test_decimal_degree_gps_rationals(inspect):
    a = inspect(make_jpeg(lat=48.1234567, lon=-1.7654321, gps_dms=False)).attributes
    assert a["Y"] == pytest.approx(48.1234567, abs=1e-7) and a["X"] == pytest.approx(-1.7654321, abs=1e-7)


def test_no_gps_is_an_error_but_other_attributes_are_kept(inspect):
    info = inspect(make_jpeg(focal_length_35mm=26, pixel_size=(4000, 3000), orientation=6))
    assert not info.ok and info.error.startswith("no GPS position")
    assert info.error_code == "no_gps"
    assert info.attributes["HorizontalFieldOfView"] is not None
    info = inspect(make_jpeg())  # no metadata at all
    assert not info.ok and "no GPS position" in info.error


@pytest.mark.parametrize("lat,lon", [(91.0, 10.0), (10.0, 181.0), (-90.5, 0.0)])
def test_gps_out_of_range(inspect, lat, lon):
    info = inspect(make_jpeg(lat=lat, lon=lon))
    assert not info.ok and info.error.startswith("GPS position out of range")
    assert repr(lat) in info.error or repr(abs(lat)) in info.error or repr(lon) in info.error


def test_xmp_gps_when_exif_has_none(inspect):
    data = make_jpeg(xmp_exif={"GPSLatitude": -0.0702668, "GPSLongitude": 34.3819352, "GPSAltitude": "136169/100",
                               "GPSAltitudeRef": "0", "GPSImgDirection": "1763/10", "GPSImgDirectionRef": "T"})
    a = inspect(data).attributes
    assert a["Y"] == pytest.approx(-0.0702668, abs=1e-7) and a["X"] == pytest.approx(34.3819352, abs=1e-7)
    assert a["Z"] == pytest.approx(1361.69)
    assert a["CameraHeading"] == pytest.approx(176.3) and a["CameraHeadingReference"] == "T"


def test_xmp_as_elements(inspect):
    data = make_jpeg(lat=1, lon=2, dji={"GimbalYawDegree": 10.0, "GimbalPitchDegree": -45.0}, xmp_style="elements")
    a = inspect(data).attributes
    assert a["CameraHeading"] == pytest.approx(10.0) and a["CameraPitch"] == pytest.approx(45.0)


@pytest.mark.parametrize("order", ORDERS)
def test_dji_nadir(inspect, order):
    data = make_jpeg(byte_order=order, lat=40.3775, lon=-74.4899, alt=120.0,
                     dji={"GimbalYawDegree": -78.8, "GimbalPitchDegree": -89.9, "GimbalRollDegree": 0.0,
                          "RelativeAltitude": 62.5, "FlightYawDegree": 12.0})
    info = inspect(data)
    a = info.attributes
    assert a["OrientedImageryType"] == "Nadir"
    assert a["CameraHeading"] == pytest.approx(281.2) and a["CameraHeadingReference"] is None
    assert a["CameraPitch"] == pytest.approx(0.1) and a["CameraRoll"] == 0.0
    assert a["CameraHeight"] == pytest.approx(62.5)
    assert (a["NearDistance"], a["FarDistance"]) == tuple(near_far("Nadir").values())


def test_dji_oblique_uses_gimbal_not_flight_yaw(inspect):
    data = make_jpeg(lat=-20.23, lon=-43.49, dji={"GimbalYawDegree": 153.6, "GimbalPitchDegree": -8.3,
                                                  "GimbalRollDegree": 0.5, "FlightYawDegree": 66.6})
    a = inspect(data).attributes
    assert a["OrientedImageryType"] == "Oblique"
    assert a["CameraHeading"] == pytest.approx(153.6) and a["CameraPitch"] == pytest.approx(81.7)
    assert a["CameraRoll"] == pytest.approx(0.5)


def test_dji_pitch_boundary_is_nadir(inspect):
    assert inspect(make_jpeg(lat=1, lon=1, dji={"GimbalPitchDegree": -80.0})).attributes[
        "OrientedImageryType"] == "Nadir"
    assert inspect(make_jpeg(lat=1, lon=1, dji={"GimbalPitchDegree": -79.9})).attributes[
        "OrientedImageryType"] == "Oblique"


def test_exif_heading_wins_over_gimbal_yaw_and_gps_track_is_never_heading(inspect):
    a = inspect(make_jpeg(lat=1, lon=1, heading=200.0, dji={"GimbalYawDegree": 10.0})).attributes
    assert a["CameraHeading"] == pytest.approx(200.0)
    a = inspect(make_jpeg(lat=1, lon=1, track=270.9)).attributes
    assert a["CameraHeading"] is None and a["CameraHeadingReference"] is None


def test_heading_mod_360_and_missing_ref(inspect):
    a = inspect(make_jpeg(lat=1, lon=1, heading=360.0)).attributes
    assert a["CameraHeading"] == 0.0
    a = inspect(make_jpeg(lat=1, lon=1, heading=147.96, heading_ref=None)).attributes
    assert a["CameraHeading"] == pytest.approx(147.96) and a["CameraHeadingReference"] is None


def test_magnetic_heading_warns(inspect):
    info = inspect(make_jpeg(lat=60.1, lon=24.9, heading=56.0, heading_ref="M"))
    assert info.ok and info.attributes["CameraHeadingReference"] == "M"
    assert any("magnetic north" in w for w in info.warnings)


def test_gpano_equirectangular(inspect):
    data = make_jpeg(lat=53.18, lon=-2.86, focal_length_35mm=6, pixel_size=(7776, 3888),
                     gpano={"ProjectionType": "equirectangular", "PoseHeadingDegrees": 176.3,
                            "PosePitchDegrees": 2.0, "PoseRollDegrees": -1.5})
    a = inspect(data).attributes
    assert a["OrientedImageryType"] == "360"
    assert (a["HorizontalFieldOfView"], a["VerticalFieldOfView"]) == (360.0, 180.0)
    assert a["CameraHeading"] == pytest.approx(176.3) and a["CameraPitch"] == pytest.approx(92.0)
    assert a["CameraRoll"] == pytest.approx(-1.5)
    assert (a["NearDistance"], a["FarDistance"]) == tuple(near_far("360").values())


def test_gpano_pose_ignored_when_not_equirectangular(inspect):
    a = inspect(make_jpeg(lat=1, lon=1, gpano={"ProjectionType": "cylindrical", "PoseHeadingDegrees": 10})).attributes
    assert a["CameraHeading"] is None and a["OrientedImageryType"] == "Horizontal"


def test_partial_panorama_fov(inspect):
    data = make_jpeg(lat=1, lon=1, gpano={"ProjectionType": "equirectangular", "FullPanoWidthPixels": 8000,
                                          "CroppedAreaImageWidthPixels": 4000, "FullPanoHeightPixels": 4000,
                                          "CroppedAreaImageHeightPixels": 2000})
    a = inspect(data).attributes
    assert (a["HorizontalFieldOfView"], a["VerticalFieldOfView"]) == (180.0, 90.0)


def test_user_type_overrides(inspect):
    a = inspect(make_jpeg(lat=1, lon=1, dji={"GimbalPitchDegree": -90.0}), imagery_type="Inspection").attributes
    assert a["OrientedImageryType"] == "Inspection"
    assert (a["NearDistance"], a["FarDistance"]) == tuple(near_far("Inspection").values())


# EXIF Orientation -> (ImageRotation, HFOV/VFOV swapped), as docs/oriented-imagery-attributes.md states:
# 1/3/6/8 -> 0/180/90/270, mirrored 2/4/5/7 -> 0/180/270/90 (with a warning); 5-8 (portrait) swap the FOVs.
ORIENTATIONS = {1: (0, False), 2: (0, False), 3: (180, False), 4: (180, False),
                5: (270, True), 6: (90, True), 7: (90, True), 8: (270, True)}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_orientation_rotation_and_fov_swap(inspect, orientation):
    rotation, swapped = ORIENTATIONS[orientation]
    info = inspect(make_jpeg(lat=1, lon=1, orientation=orientation, focal_length_35mm=26, pixel_size=(4000, 3000)))
    a = info.attributes
    h, v = diag_fov(26, 4000, 3000)
    if swapped:
        h, v = v, h
    assert a["ImageRotation"] == rotation
    assert a["HorizontalFieldOfView"] == pytest.approx(h, abs=1e-4)
    assert a["VerticalFieldOfView"] == pytest.approx(v, abs=1e-4)
    assert any("mirrored" in w for w in info.warnings) == (orientation in (2, 4, 5, 7))


def test_orientation_table_is_the_documented_one():
    """The ORIENTATIONS table above is what the attributes doc promises (rotation mapping and the 5-8 swap)."""
    doc = (ROOT / "docs" / "oriented-imagery-attributes.md").read_text(encoding="utf-8")
    row = next(line for line in doc.splitlines() if line.startswith("| `ImageRotation` |"))
    plain = dict(map(int, pair.split(" → ")) for pair in re.findall(r"\d → \d+", row.split("(mirrored")[0]))
    mirrored = re.search(r"mirrored ([\d/]+) → ([\d/]+)", row).groups()
    documented = {**plain, **dict(zip(*(map(int, g.split("/")) for g in mirrored)))}
    assert documented == {o: rotation for o, (rotation, _) in ORIENTATIONS.items()}
    assert "EXIF Orientation 5–8 (shot in portrait) swaps HFOV and VFOV" in doc
    assert {o for o, (_, swapped) in ORIENTATIONS.items() if swapped} == {5, 6, 7, 8}


def test_fov_uses_long_side_even_if_exif_dims_are_portrait(inspect):
    a = inspect(make_jpeg(lat=1, lon=1, focal_length_35mm=28, pixel_size=(3000, 4000))).attributes
    h, v = diag_fov(28, 4000, 3000)
    assert a["HorizontalFieldOfView"] == pytest.approx(h, abs=1e-4)


def test_fov_falls_back_to_the_jpeg_frame_size(inspect):
    a = inspect(make_jpeg(lat=1, lon=1, focal_length_35mm=50, frame_size=(640, 512))).attributes
    h, v = diag_fov(50, 640, 512)
    assert a["HorizontalFieldOfView"] == pytest.approx(h, abs=1e-4)
    assert a["VerticalFieldOfView"] == pytest.approx(v, abs=1e-4)


def test_f35_zero_gives_no_fov(inspect):
    info = inspect(make_jpeg(lat=1, lon=1, focal_length_35mm=0, pixel_size=(1280, 720)))
    assert info.attributes["HorizontalFieldOfView"] is None and info.attributes["VerticalFieldOfView"] is None
    assert any("FocalLengthIn35mmFilm is 0" in w for w in info.warnings)


def test_fov_from_focal_plane_resolution(inspect):
    # 6.17 x 4.55 mm sensor (1/2.3"), 4000 x 2950 px, f = 4.5 mm: 648.3 px/mm.
    data = make_jpeg(lat=1, lon=1, focal_length=4.5, pixel_size=(4000, 2950), frame_size=(4000, 2950),
                     focal_plane_resolution=(4000 / 6.17, 2950 / 4.55), focal_plane_resolution_unit=4)
    a = inspect(data).attributes
    assert a["HorizontalFieldOfView"] == pytest.approx(math.degrees(2 * math.atan(6.17 / 9.0)), abs=1e-3)
    assert a["VerticalFieldOfView"] == pytest.approx(math.degrees(2 * math.atan(4.55 / 9.0)), abs=1e-3)


def test_implausible_focal_plane_is_refused(inspect):
    info = inspect(make_jpeg(lat=1, lon=1, focal_length=4.5, pixel_size=(100, 68), frame_size=(100, 68),
                             focal_plane_resolution=(4438.36, 4438.36), focal_plane_resolution_unit=2))
    assert info.attributes["HorizontalFieldOfView"] is None
    assert any("implausible" in w for w in info.warnings)


def test_date_gps_utc_when_no_offset(inspect):
    data = make_jpeg(lat=1, lon=1, datetime_original="2015:04:10 20:12:23",
                     gps_datetime=dt.datetime(2015, 4, 10, 18, 12, 22, 60000))
    info = inspect(data)
    assert info.attributes["AcquisitionDate"] == "2015-04-10T18:12:22.06Z"
    assert not any("time zone" in w for w in info.warnings)


def test_date_local_without_offset_or_gps_time_warns(inspect):
    info = inspect(make_jpeg(lat=1, lon=1, datetime_original="2019:04:30 15:56:18"))
    assert info.attributes["AcquisitionDate"] == "2019-04-30T15:56:18"
    assert any("time zone unknown" in w for w in info.warnings)


def test_negative_offset_and_invalid_date(inspect):
    a = inspect(make_jpeg(lat=1, lon=1, datetime_original="2024:12:31 22:00:00",
                          offset_time_original="-07:00")).attributes
    assert a["AcquisitionDate"] == "2025-01-01T05:00:00Z"
    info = inspect(make_jpeg(lat=1, lon=1, datetime_original="0000:00:00 00:00:00"))
    assert info.attributes["AcquisitionDate"] is None and any("not a valid date" in w for w in info.warnings)


def test_name_from_url_and_path():
    from xpgeo_core.metadata.rules import name_of

    assert name_of("https://h.example/a/b/IMG%20001.JPG?X-Amz-Signature=abc") == "IMG 001"
    assert name_of("C:\\photos\\DJI_0001.jpg") == "DJI_0001"
    assert name_of("file:///tmp/x.y.jpeg") == "x.y"
    assert name_of("https://h.example/noext") == "noext"


def test_negative_relative_altitude_is_not_a_height(inspect):
    info = inspect(make_jpeg(lat=1, lon=1, dji={"GimbalPitchDegree": -30.0, "RelativeAltitude": -5.0}))
    assert info.attributes["CameraHeight"] is None and any("take-off" in w for w in info.warnings)


def test_dji_xmp_position_fallback(inspect):
    data = make_jpeg(dji={"GpsLatitude": "40.5637811", "GpsLongtitude": "-79.7649628", "GimbalPitchDegree": -10.5})
    a = inspect(data).attributes
    assert a["Y"] == pytest.approx(40.5637811) and a["X"] == pytest.approx(-79.7649628)
