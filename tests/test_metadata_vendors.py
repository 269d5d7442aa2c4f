"""Each vendor's orientation tags (xpgeo_core/metadata/vendors.py) on synthetic photos built the way
that vendor writes them: yaw, pitch, roll, height and the Nadir/Oblique type."""

from __future__ import annotations

import pytest

from xpgeo_core.metadata import inspect_bytes
from xpgeo_core.metadata.vendors import RULES, namespaces
from xpgeo_core.metadata.xmp import NAMESPACES
from xpgeo_core.sample_photos import make_jpeg
from xpgeo_core.settings import load_settings

SETTINGS = load_settings(environ={})
SENSEFLY_URI = "http://ns.sensefly.com/Camera/1.0/"


def attrs(**kw):
    info = inspect_bytes(make_jpeg(lat=46.5, lon=6.6, **kw), source="v.jpg", settings=SETTINGS)
    assert info.ok, info.error
    return info.attributes, info.warnings


def angles(a):
    return a["CameraHeading"], a["CameraPitch"], a["CameraRoll"], a["OrientedImageryType"]


@pytest.mark.parametrize("style", ["attributes", "elements"])
def test_parrot_anafi(style):
    a, _ = attrs(xmp_style=style, xmp_props={"drone-parrot:CameraYawDegree": -45.0,
                                              "drone-parrot:CameraPitchDegree": -30.0,
                                              "drone-parrot:CameraRollDegree": 1.5})
    assert angles(a) == (pytest.approx(315.0), pytest.approx(60.0), pytest.approx(1.5), "Oblique")
    a, _ = attrs(xmp_props={"drone-parrot:CameraPitchDegree": -90.0, "drone-parrot:CameraYawDegree": 10.0})
    assert a["CameraPitch"] == pytest.approx(0.0) and a["OrientedImageryType"] == "Nadir"


@pytest.mark.parametrize("style", ["attributes", "elements"])
def test_skydio_looking_60_degrees_down_is_oblique_not_horizontal(style):
    a, _ = attrs(xmp_style=style, xmp_props={
        "drone-skydio:CameraOrientationNED": {"Pitch": -60.0, "Yaw": 200.0, "Roll": 0.0},
        "drone-skydio:CameraOrientationFLU": {"Pitch": 5.0, "Yaw": 7.0, "Roll": 9.0},  # not north-referenced
        "drone-skydio:RelativeAltitude": 42.5})
    assert angles(a) == (pytest.approx(200.0), pytest.approx(30.0), 0.0, "Oblique")
    assert a["CameraHeight"] == pytest.approx(42.5)


def test_skydio_nadir():
    a, _ = attrs(xmp_props={"drone-skydio:CameraOrientationNED": {"Pitch": -89.5, "Yaw": -90.0}})
    assert a["OrientedImageryType"] == "Nadir" and a["CameraHeading"] == pytest.approx(270.0)


# -- Skydio's Front-Left-Up angles (CameraOrientationFLU) ---------------------------------------------

def _flu(**fields):
    return {"drone-skydio:CameraOrientationFLU": fields, "drone-skydio:RelativeAltitude": 30.0}


@pytest.mark.parametrize("style", ["attributes", "elements"])
def test_skydio_flu_alone_gives_pitch_and_roll_but_no_heading(style):
    """FLU is z up: a camera 30° below the horizon has FLU pitch +30 (OI 60); its yaw counts from the
    FLU frame's front axis, not north, so it is no CameraHeading, and a warning says why."""
    a, warnings = attrs(xmp_style=style, xmp_props=_flu(Pitch=30.0, Yaw=40.0, Roll=2.0))
    assert angles(a) == (None, pytest.approx(60.0), pytest.approx(2.0), "Oblique")
    assert a["CameraHeight"] == pytest.approx(30.0) and a["CameraHeadingReference"] is None
    assert any("drone-skydio:CameraOrientationFLU/Yaw 40.00" in w and "not from north" in w
               and "CameraHeading left empty" in w for w in warnings), warnings


@pytest.mark.parametrize("flu_pitch, oi_pitch, kind", [(90.0, 0.0, "Nadir"), (85.0, 5.0, "Nadir"),
                                                      (0.0, 90.0, "Oblique"), (-20.0, 110.0, "Oblique")])
def test_skydio_flu_pitch_is_90_minus_the_flu_pitch(flu_pitch, oi_pitch, kind):
    a, _ = attrs(xmp_props=_flu(Pitch=flu_pitch, Roll=0.0))
    assert a["CameraPitch"] == pytest.approx(oi_pitch) and a["OrientedImageryType"] == kind


def test_skydio_flu_and_ned_of_one_camera_give_the_same_pitch_and_roll():
    """The same pose written both ways (FLU = NED with pitch and yaw negated, roll kept)."""
    ned, _ = attrs(xmp_props={"drone-skydio:CameraOrientationNED": {"Pitch": -37.5, "Yaw": 140.0, "Roll": 1.25}})
    flu, _ = attrs(xmp_props=_flu(Pitch=37.5, Yaw=-140.0, Roll=1.25))
    assert (ned["CameraPitch"], ned["CameraRoll"]) == (flu["CameraPitch"], flu["CameraRoll"])
    assert ned["CameraHeading"] == pytest.approx(140.0) and flu["CameraHeading"] is None


def test_skydio_ned_wins_and_flu_fills_only_what_ned_lacks():
    """Some Skydio photos carry no NED Roll (OpenAthenaIOS issue 11): the FLU roll, the same angle, fills it."""
    a, warnings = attrs(xmp_props={"drone-skydio:CameraOrientationNED": {"Pitch": -60.0, "Yaw": 200.0},
                                   "drone-skydio:CameraOrientationFLU": {"Pitch": 50.0, "Yaw": 7.0, "Roll": 3.0}})
    assert angles(a) == (pytest.approx(200.0), pytest.approx(30.0), pytest.approx(3.0), "Oblique")
    assert not any("FLU" in w for w in warnings)


def test_skydio_flu_with_a_gps_img_direction_takes_that_heading_without_a_warning():
    a, warnings = attrs(heading=123.0, xmp_props=_flu(Pitch=45.0, Yaw=10.0, Roll=0.0))
    assert (a["CameraHeading"], a["CameraHeadingReference"]) == (pytest.approx(123.0), "T")
    assert a["CameraPitch"] == pytest.approx(45.0) and not any("FLU" in w for w in warnings)


def test_skydio_flu_under_the_http_namespace_uri_reads_the_same():
    from xpgeo_core.sample_photos import make_xmp

    packet = make_xmp(properties=_flu(Pitch=80.0, Roll=-1.0),
                      namespaces={"drone-skydio": "http://www.skydio.com/drone-skydio/1.0/"})
    a, _ = attrs(xmp=packet)
    assert a["CameraPitch"] == pytest.approx(10.0) and a["CameraRoll"] == pytest.approx(-1.0)
    assert a["OrientedImageryType"] == "Nadir"


def test_pix4d_camera_namespace_counts_pitch_from_nadir():
    """Parrot Sequoia, MicaSense, Autel's older firmware: Camera:Pitch 0 is straight down."""
    a, _ = attrs(xmp_props={"Camera:Yaw": 12.0, "Camera:Pitch": 0.0, "Camera:Roll": 2.0})
    assert angles(a) == (pytest.approx(12.0), 0.0, pytest.approx(2.0), "Nadir")
    a, _ = attrs(xmp_props={"Camera:Yaw": 12.0, "Camera:Pitch": 45.0, "Camera:Roll": 0.0})
    assert a["CameraPitch"] == pytest.approx(45.0) and a["OrientedImageryType"] == "Oblique"


def test_sensefly_writes_its_own_uri_and_the_opposite_roll():
    a, _ = attrs(make="senseFly", xmp=_sensefly_packet())
    assert angles(a) == (pytest.approx(90.0), pytest.approx(5.0), pytest.approx(-3.0), "Nadir")


def _sensefly_packet() -> bytes:
    from xpgeo_core.sample_photos import make_xmp

    return make_xmp(properties={"Camera:Yaw": 90.0, "Camera:Pitch": 5.0, "Camera:Roll": 3.0},
                    namespaces={"Camera": SENSEFLY_URI})


def test_autel_newer_firmware_writes_dji_tags_under_another_prefix():
    from xpgeo_core.sample_photos import make_xmp

    packet = make_xmp(dji={"GimbalYawDegree": 33.0, "GimbalPitchDegree": -85.0, "RelativeAltitude": 50.0})
    packet = packet.replace(b"drone-dji:", b"drone:").replace(b"xmlns:drone-dji=", b"xmlns:drone=")
    a, _ = attrs(make="Autel Robotics", xmp=packet)
    assert angles(a)[:2] == (pytest.approx(33.0), pytest.approx(5.0)) and a["OrientedImageryType"] == "Nadir"
    assert a["CameraHeight"] == pytest.approx(50.0)


def test_dji_still_comes_first_and_gps_img_direction_still_wins():
    a, _ = attrs(dji={"GimbalYawDegree": 10.0, "GimbalPitchDegree": -20.0},
                 xmp_props={"Camera:Yaw": 99.0, "Camera:Pitch": 0.0})
    assert angles(a)[:2] == (pytest.approx(10.0), pytest.approx(70.0))
    a, _ = attrs(heading=250.0, xmp_props={"drone-parrot:CameraYawDegree": 10.0})
    assert a["CameraHeading"] == pytest.approx(250.0) and a["CameraHeadingReference"] == "T"


def test_a_pix4d_namespace_without_angles_is_not_a_drone_photo():
    """Camera: is shared (band names, calibration): only its angles make a photo Nadir/Oblique."""
    a, _ = attrs(xmp_props={"Camera:BandName": "Red"})
    assert a["OrientedImageryType"] == "Horizontal" and a["CameraPitch"] is None
    a, _ = attrs(xmp_props={"drone-parrot:Version": "1.0"})  # Parrot's own namespace: a drone photo
    assert a["OrientedImageryType"] == "Oblique"


def test_an_impossible_vendor_pitch_is_left_empty_with_a_warning_naming_the_tag():
    a, warnings = attrs(xmp_props={"drone-parrot:CameraPitchDegree": -120.0})
    assert a["CameraPitch"] is None and a["OrientedImageryType"] == "Oblique"  # not a confident "Nadir"
    assert any("drone-parrot:CameraPitchDegree -120.00" in w and "left empty" in w for w in warnings)


def test_every_row_has_a_source_conventions_and_a_namespace_the_reader_keeps():
    for rule in RULES:
        assert rule.source and rule.frame in ("NED", "FLU", "Pix4D") and rule.pitch_nadir != rule.pitch_horizon
        assert rule.yaw_is_heading == (rule.frame != "FLU")  # a FLU yaw counts from the drone, not north
        for name in (rule.yaw, rule.pitch, rule.roll) + ((rule.height,) if rule.height else ()):
            assert name.startswith(rule.prefix + ":"), name
        assert rule.oi_pitch(rule.pitch_nadir) == 0.0 and rule.oi_pitch(rule.pitch_horizon) == 90.0
    assert set(namespaces().items()) <= set(NAMESPACES.items())


def test_the_attribute_doc_lists_every_vendor_row():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "oriented-imagery-attributes.md").read_text("utf-8")
    section = doc.split("## Camera orientation by vendor", 1)[1].split("\n## ", 1)[0]
    for rule in RULES:
        assert "`%s`" % rule.namespace in section, rule.vendor
        for name in (rule.yaw, rule.pitch, rule.roll):
            assert name.rpartition(":")[2].rpartition("/")[2] in section, name
