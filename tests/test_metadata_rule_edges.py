"""Edges of the attribute rules and of XMP safety that a first reading of the rules misses:

- XMP that hides a DOCTYPE behind another encoding (UTF-16 with or without a BOM, a declared
  EBCDIC codec) is refused, never expanded;
- any DJI drone photo is a drone photo, not only one with gimbal angles;
- GPano pose pitch and roll count on any panorama, the user's "360" type gives 360 × 180;
- an impossible position names what the photo holds;
- the focal plane field of view works from the JPEG frame size when EXIF has no pixel size.
"""

from __future__ import annotations

import math

import pytest

from xpgeo_core.metadata import inspect_bytes
from xpgeo_core.metadata.xmp import XmpRefused, read_xmp
from xpgeo_core.sample_photos import make_jpeg
from xpgeo_core.settings import load_settings

SETTINGS = load_settings(environ={})
LAUGHS = ('<?xml version="1.0" encoding="{enc}"?><!DOCTYPE lolz [<!ENTITY lol "lololololololololo">'
          '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
          '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
          '<rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" drone-dji:GimbalYawDegree="&lol2;"/>'
          '</rdf:RDF></x:xmpmeta>')


def inspect(data: bytes, imagery_type=None):
    return inspect_bytes(data, source="https://photos.example.com/p.jpg", settings=SETTINGS,
                         imagery_type=imagery_type)


@pytest.mark.parametrize("packet", [
    b"\xfe\xff" + LAUGHS.format(enc="UTF-16").encode("utf-16-be"),
    b"\xff\xfe" + LAUGHS.format(enc="UTF-16").encode("utf-16-le"),
    LAUGHS.format(enc="UTF-16").encode("utf-16-be"),  # no BOM, the declaration alone
    LAUGHS.format(enc="UTF-32").encode("utf-32"),
    LAUGHS.format(enc="cp037").encode("cp037"),  # EBCDIC: no ASCII "<!DOCTYPE" for a byte check to see
    b" \r\n\xfe\xff" + LAUGHS.format(enc="UTF-16").encode("utf-16-be"),  # white space before the BOM
], ids=["utf16-be-bom", "utf16-le-bom", "utf16-declared", "utf32", "ebcdic", "space-then-bom"])
def test_xmp_in_another_encoding_is_refused_not_expanded(packet):
    with pytest.raises(XmpRefused):
        read_xmp(packet)
    info = inspect(make_jpeg(lat=1.0, lon=2.0, xmp=packet))
    assert info.ok and info.attributes["CameraHeading"] is None  # placed from EXIF, nothing expanded
    assert any("XMP" in w for w in info.warnings)


def test_utf8_xmp_with_a_declaration_still_reads():
    packet = LAUGHS.format(enc="UTF-8").replace(LAUGHS[LAUGHS.index("<!DOCTYPE"):LAUGHS.index("]>") + 2], "")
    packet = packet.replace("&lol2;", "12.5")
    assert read_xmp(packet.encode("utf-8")) == {"drone-dji:GimbalYawDegree": "12.5"}


@pytest.mark.parametrize("dji", [{"RelativeAltitude": 30.0}, {"FlightYawDegree": 120.0}])
def test_any_dji_drone_photo_is_oblique_without_gimbal_pitch(dji):
    info = inspect(make_jpeg(lat=1.0, lon=2.0, dji=dji))
    assert info.attributes["OrientedImageryType"] == "Oblique"


def test_dji_make_alone_is_not_a_drone_photo():
    info = inspect(make_jpeg(lat=1.0, lon=2.0, make="DJI", model="OsmoAction"))
    assert info.attributes["OrientedImageryType"] == "Horizontal"


def test_gpano_pose_pitch_and_roll_on_a_cylindrical_panorama():
    info = inspect(make_jpeg(lat=1.0, lon=2.0, gpano={"ProjectionType": "cylindrical", "PosePitchDegrees": -5.0,
                                                      "PoseRollDegrees": 1.5, "PoseHeadingDegrees": 40.0}))
    assert info.attributes["CameraPitch"] == pytest.approx(85.0)
    assert info.attributes["CameraRoll"] == pytest.approx(1.5)
    assert info.attributes["CameraHeading"] is None  # the pose heading counts for equirectangular photos only
    assert info.attributes["OrientedImageryType"] == "Horizontal"


def test_user_type_360_gives_a_full_sphere_field_of_view():
    photo = make_jpeg(lat=1.0, lon=2.0, focal_length_35mm=26, pixel_size=(4000, 3000))
    assert inspect(photo).attributes["HorizontalFieldOfView"] < 90
    typed = inspect(photo, imagery_type="360").attributes
    assert (typed["HorizontalFieldOfView"], typed["VerticalFieldOfView"]) == (360.0, 180.0)


def test_out_of_range_position_names_the_raw_values():
    info = inspect(make_jpeg(lat=90.5, lon=2.0))
    assert info.error_code == "gps_out_of_range"
    assert "EXIF GPSLatitude 90 30 0 N, EXIF GPSLongitude 2 0 0 E" in info.error


def test_out_of_range_message_cuts_long_xmp_values_and_names_each_source():
    huge = "1000." + "0" * 20_000
    info = inspect(make_jpeg(xmp_exif={"GPSLatitude": huge}, dji={"GpsLongitude": 2.0}))
    assert info.error_code == "gps_out_of_range" and len(info.error) < 400
    assert "XMP exif:GPSLatitude '1000.000" in info.error and "DJI XMP GpsLongitude '+2.00'" in info.error


def test_focal_plane_field_of_view_from_the_frame_size():
    # 4.5 mm lens, a 6.17 x 4.55 mm sensor (1/2.3"): 4000 x 3000 px at 648.3 px/mm, pixel size only in SOF
    photo = make_jpeg(lat=1.0, lon=2.0, focal_length=4.5, focal_plane_resolution=(648.3, 659.3),
                      focal_plane_resolution_unit=4, frame_size=(4000, 3000), xmp_exif={"GPSAltitude": "10/1"})
    attrs = inspect(photo).attributes
    assert attrs["HorizontalFieldOfView"] == pytest.approx(math.degrees(2 * math.atan(4000 / 648.3 / 9.0)), abs=0.01)
    assert attrs["VerticalFieldOfView"] == pytest.approx(math.degrees(2 * math.atan(3000 / 659.3 / 9.0)), abs=0.01)


def test_numeric_tags_stored_as_text_are_ignored_not_compared():
    # PixelXDimension/Y written with the ASCII type (found by the fuzz test): no crash, the frame size serves
    photo = make_jpeg(lat=1.0, lon=2.0, focal_length_35mm=26, frame_size=(4000, 3000),
                      extra_exif=[(0xA002, "ASCII", "4000"), (0xA003, "ASCII", "3000")])
    info = inspect(photo)
    assert info.ok, info.error
    w35 = 43.2666 * 4000 / 5000  # the frame size's diagonal share of the 35 mm diagonal
    assert info.attributes["HorizontalFieldOfView"] == pytest.approx(math.degrees(2 * math.atan(w35 / 52)), abs=0.01)
