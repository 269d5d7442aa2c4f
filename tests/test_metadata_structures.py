"""File structures real cameras write that the engine must read: XMP inside the EXIF (tag 700),
sub-IFD pointers in every integer type, and long runs of large segments skipped unread."""

from __future__ import annotations

import io

import pytest

from emulators.image_host import ImageHost
from xpgeo_core.metadata import inspect_bytes, inspect_source
from xpgeo_core.metadata.tiff import read_exif
from xpgeo_core.sample_photos import large_segments, make_exif, make_jpeg, make_xmp
from xpgeo_core.settings import load_settings

SETTINGS = load_settings(environ={}).replace(retry_backoff=0.0)
THERMAL = {"GimbalYawDegree": -78.8, "GimbalPitchDegree": -89.9, "GimbalRollDegree": 0.0,
           "RelativeAltitude": 62.5}


def run(data: bytes):
    return inspect_bytes(data, source="p.jpg", settings=SETTINGS)


# -- XMP in EXIF tag 700 (DJI Zenmuse XT2 and other thermal payloads) ------------------------------

@pytest.mark.parametrize("order", ["little", "big"])
def test_xmp_in_exif_tag_700_gives_the_gimbal_angles_height_and_type(order):
    data = make_jpeg(lat=45.5, lon=-73.6, make="DJI", model="XT2", byte_order=order,
                     xmp_in_exif=make_xmp(dji=THERMAL))
    info = run(data)
    assert info.ok, info.error
    attrs = info.attributes
    assert attrs["CameraHeading"] == pytest.approx(281.2) and attrs["CameraPitch"] == pytest.approx(0.1)
    assert attrs["CameraRoll"] == 0.0 and attrs["CameraHeight"] == pytest.approx(62.5)
    assert attrs["OrientedImageryType"] == "Nadir" and info.warnings == []


def test_app1_xmp_and_tag_700_are_merged_app1_winning():
    data = make_jpeg(lat=1, lon=2, xmp_in_exif=make_xmp(dji=THERMAL), dji={"GimbalYawDegree": 10.0})
    attrs = run(data).attributes
    assert attrs["CameraHeading"] == pytest.approx(10.0)  # the APP1 packet's own value
    assert attrs["CameraHeight"] == pytest.approx(62.5) and attrs["OrientedImageryType"] == "Nadir"  # from tag 700


def test_a_broken_tag_700_packet_is_a_warning_that_names_it():
    info = run(make_jpeg(lat=1, lon=2, xmp_in_exif=b"<x:xmpmeta <<<"))
    assert info.ok and any("XMP (in EXIF tag 700) is not well-formed" in w for w in info.warnings)


def test_tag_700_stands_for_the_xmp_so_thermal_data_is_not_searched():
    """The walk stops at the thermal segments when EXIF carries the packet, instead of hopping through them."""
    thermal = large_segments(12, marker=0xE3)
    data = make_jpeg(lat=1, lon=2, pixel_size=(640, 512), focal_length_35mm=40,
                     xmp_in_exif=make_xmp(dji=THERMAL), segments_after_xmp=thermal)
    with ImageHost() as host:
        info = inspect_source(host.add("xt2.jpg", data), settings=SETTINGS)
        assert info.ok and info.attributes["OrientedImageryType"] == "Nadir"
        assert len(host.requests) == 1 and info.bytes_read == 65536


# -- pointers in every integer type ----------------------------------------------------------------

@pytest.mark.parametrize("pointer_type", ["LONG", "SLONG", "IFD", "SHORT"])
@pytest.mark.parametrize("order", ["little", "big"])
def test_sub_ifd_pointers_in_any_integer_type(pointer_type, order):
    """A Canon S5 IS writes its GPS pointer as SLONG; TIFF Technical Note 1 allows IFD (13)."""
    data = make_jpeg(lat=-33.5, lon=151.25, heading=90.0, focal_length_35mm=28, pixel_size=(4000, 3000),
                     byte_order=order, pointer_type=pointer_type)
    info = run(data)
    assert info.ok, info.error
    assert info.attributes["Y"] == pytest.approx(-33.5) and info.attributes["X"] == pytest.approx(151.25)
    assert info.attributes["HorizontalFieldOfView"] is not None  # the Exif IFD was followed too


def test_gps_pointer_misplaced_in_the_exif_ifd_is_followed():
    info = run(make_jpeg(lat=10.0, lon=20.0, focal_length_35mm=28, gps_pointer_in_exif=True))
    assert info.ok and info.attributes["Y"] == pytest.approx(10.0)


def test_a_zero_or_negative_pointer_means_no_sub_ifd():
    from xpgeo_core.sample_photos import make_tiff

    tiff = make_tiff([(0x8825, "SLONG", -8), (0x8769, "LONG", 0), (0x010F, "ASCII", "Canon")])
    assert read_exif(tiff) == {"ifd0": {"Make": "Canon"}, "exif": {}, "gps": {}}


def test_exifread_reads_the_slong_pointer_photo_the_same_way():
    exifread = pytest.importorskip("exifread")
    data = make_jpeg(lat=48.125, lon=-1.5, pointer_type="SLONG")
    tags = exifread.process_file(io.BytesIO(data), details=False)
    lat = [float(v.num) / float(v.den) for v in tags["GPS GPSLatitude"].values]
    assert lat[0] + lat[1] / 60 + lat[2] / 3600 == pytest.approx(run(data).attributes["Y"], abs=1e-9)


def test_integer_values_in_ifd_or_long8_types_decode():
    from xpgeo_core.sample_photos import make_tiff

    tiff = make_tiff([], exif=[(0xA002, "IFD", 4000), (0xA003, "LONG", 3000)])
    assert read_exif(tiff)["exif"] == {"PixelXDimension": [4000], "PixelYDimension": [3000]}


# -- long runs of large segments ---------------------------------------------------------------------

def _flir_like(count: int) -> bytes:
    """EXIF and XMP, then *count* 64 KB FLIR-style APP1 segments, then the frame the FOV needs
    (f35 without pixel dimensions: the walk must reach the SOF)."""
    return make_jpeg(lat=1, lon=2, focal_length_35mm=40, dji={"GimbalPitchDegree": -45.0},
                     segments_after_xmp=large_segments(count, marker=0xE1, ident=b"FLIR\x00"), frame_size=(640, 512))


@pytest.mark.parametrize("count", [1, 4, 12, 24])
def test_long_runs_of_large_segments_cost_their_headers_not_their_bodies(count):
    data = _flir_like(count)
    assert len(data) > count * 65000
    with ImageHost() as host:
        info = inspect_source(host.add("flir.jpg", data), settings=SETTINGS)
        assert info.ok and info.attributes["HorizontalFieldOfView"] is not None  # the SOF was reached
        assert info.bytes_read <= 128 * 1024, info.bytes_read
        assert len(host.requests) <= count + 1  # one small read per skipped segment at most
        assert all(r.range and r.range.startswith("bytes=") for r in host.requests)


def test_the_usual_photo_is_one_request():
    data = make_jpeg(lat=1, lon=2, heading=3, focal_length_35mm=26, datetime_original="2024:01:01 10:00:00",
                     dji={"GimbalPitchDegree": -30.0}, target_size=3_000_000)
    with ImageHost() as host:
        info = inspect_source(host.add("p.jpg", data), settings=SETTINGS)
        assert info.ok and len(host.requests) == 1 and info.bytes_read == 65536


def test_a_hostile_run_of_segments_stops_with_a_named_error():
    """Hundreds of large segments before the metadata: header_too_large after MAX_FETCHES reads, not a crawl."""
    from xpgeo_core.metadata.fetch import MAX_FETCHES

    data = make_jpeg(lat=1, lon=2, focal_length_35mm=40, xmp_first=True, dji={"GimbalYawDegree": 1.0},
                     jfif=True) 
    data = data[:2] + large_segments(MAX_FETCHES + 20) + data[2:]
    info = run(data)
    assert info.error_code == "header_too_large" and "reads" in info.error
    assert info.bytes_read <= 256 * 1024


def test_local_files_skip_the_same_way(tmp_path):
    path = tmp_path / "flir.jpg"
    path.write_bytes(_flir_like(12))
    info = inspect_source(str(path), settings=SETTINGS)
    assert info.ok and info.bytes_read <= 128 * 1024


def test_make_exif_accepts_the_new_structure_keywords():
    assert make_exif(lat=1, lon=2, pointer_type="IFD", gps_pointer_in_exif=True, xmp_in_exif=b"<x/>")
