"""File structures real cameras write that the engine must read: XMP inside the EXIF (tag 700, in
IFD0 or the Exif IFD),
sub-IFD pointers in every integer type, and long runs of large segments skipped unread."""

from __future__ import annotations

import io
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings as hsettings, strategies as st

from conftest import SAMPLES, requires_samples
from emulators.image_host import ImageHost
from xpgeo_core.metadata import fetch, inspect_bytes, inspect_source
from xpgeo_core.metadata.fetch import FIRST_READ, MAX_FETCHES, READ_BUDGET
from xpgeo_core.metadata.tiff import read_exif
from xpgeo_core.sample_photos import (EXIF_HEADER, XMP_HEADER, large_segments, make_exif, make_jpeg, make_xmp,
                                      segment)
from xpgeo_core.settings import load_settings

SETTINGS = load_settings(environ={}).replace(retry_backoff=0.0)
THERMAL = {"GimbalYawDegree": -78.8, "GimbalPitchDegree": -89.9, "GimbalRollDegree": 0.0,
           "RelativeAltitude": 62.5}


def run(data: bytes):
    return inspect_bytes(data, source="p.jpg", settings=SETTINGS)


# -- XMP in EXIF tag 700 (DJI Zenmuse XT2 and other thermal payloads) ------------------------------

@pytest.mark.parametrize("ifd", ["ifd0", "exif"])  # TIFF's place, and the Exif IFD where the Zenmuse XT2 writes it
@pytest.mark.parametrize("order", ["little", "big"])
def test_xmp_in_exif_tag_700_gives_the_gimbal_angles_height_and_type(order, ifd):
    data = make_jpeg(lat=45.5, lon=-73.6, make="DJI", model="XT2", byte_order=order,
                     xmp_in_exif=make_xmp(dji=THERMAL), xmp_in_exif_ifd=ifd)
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


# -- XMP in tag 700 of the Exif IFD (the Zenmuse XT2 writes it there, not in IFD0) --------------------

def test_the_exif_ifd_packet_sits_in_a_real_exif_ifd():
    """The structure the test photos carry is what an independent reader sees: exifread finds the
    packet as an EXIF (sub-IFD) tag, not an Image (IFD0) one; our reader files it under "exif"."""
    exifread = pytest.importorskip("exifread")
    packet = make_xmp(dji=THERMAL)
    data = make_jpeg(lat=1, lon=2, xmp_in_exif=packet, xmp_in_exif_ifd="exif")
    tags = exifread.process_file(io.BytesIO(data), details=True)
    assert "Image ApplicationNotes" not in tags and bytes(tags["EXIF ApplicationNotes"].values) == packet
    exif = read_exif(make_exif(lat=1, lon=2, xmp_in_exif=packet, xmp_in_exif_ifd="exif"))
    assert exif["exif"]["XMLPacket"] == packet and "XMLPacket" not in exif["ifd0"]


def test_packets_in_ifd0_and_the_exif_ifd_merge_ifd0_winning():
    ifd0 = make_xmp(dji={"GimbalYawDegree": 10.0})
    exif_ifd = make_xmp(dji=THERMAL)
    attrs = run(make_jpeg(lat=1, lon=2, xmp_in_exif=ifd0, extra_exif=[(0x02BC, "BYTE", exif_ifd)])).attributes
    assert attrs["CameraHeading"] == pytest.approx(10.0)  # IFD0's own value
    assert attrs["CameraHeight"] == pytest.approx(62.5) and attrs["OrientedImageryType"] == "Nadir"  # Exif IFD's


def test_an_app1_packet_still_wins_over_the_exif_ifd_one():
    data = make_jpeg(lat=1, lon=2, xmp_in_exif=make_xmp(dji=THERMAL), xmp_in_exif_ifd="exif",
                     dji={"GimbalYawDegree": 20.0})
    attrs = run(data).attributes
    assert attrs["CameraHeading"] == pytest.approx(20.0) and attrs["CameraHeight"] == pytest.approx(62.5)


def test_a_broken_exif_ifd_packet_is_a_warning_that_names_where_it_is():
    info = run(make_jpeg(lat=1, lon=2, xmp_in_exif=b"<x:xmpmeta <<<", xmp_in_exif_ifd="exif"))
    assert info.ok and any("XMP (in EXIF tag 700 of the Exif IFD) is not well-formed" in w for w in info.warnings)


def test_an_exif_ifd_packet_stands_for_the_xmp_so_the_xt2_is_one_request():
    """The XT2 layout: EXIF with the packet in its Exif IFD, then radiometric segments; the walk stops
    after the first read instead of hopping through them (the 128 KiB / 64-read cap is not approached)."""
    thermal = large_segments(12, marker=0xE3)
    data = make_jpeg(lat=1, lon=2, pixel_size=(640, 512), focal_length_35mm=40, make="DJI", model="XT2",
                     xmp_in_exif=make_xmp(dji=THERMAL), xmp_in_exif_ifd="exif", segments_after_xmp=thermal)
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


@pytest.mark.parametrize("count", [1, 12, 40, 100, 500])
def test_long_runs_of_large_segments_cost_their_headers_not_their_bodies(count):
    """Each skipped segment costs one small read (a segment chain cannot be walked in fewer); every
    photo stays within 128 KiB; a run longer than MAX_FETCHES reads is header_too_large."""
    data = _flir_like(count)
    assert len(data) > count * 65000
    with ImageHost() as host:
        info = inspect_source(host.add("flir.jpg", data), settings=SETTINGS)
        assert info.bytes_read <= READ_BUDGET, info.bytes_read
        assert all(r.range and r.range.startswith("bytes=") for r in host.requests)
        if count < MAX_FETCHES:
            assert info.ok and info.attributes["HorizontalFieldOfView"] is not None  # the SOF was reached
            assert len(host.requests) == count + 1  # the first 64 KiB, then one read per segment header
            assert info.bytes_read <= FIRST_READ + count * 1100  # about 1 KiB per jump
        else:
            assert info.error_code == "header_too_large" and "after %d reads" % MAX_FETCHES in info.error
            assert len(host.requests) == MAX_FETCHES


def test_a_dozen_thermal_segments_cost_13_requests_and_under_80_kib():
    """The common DJI thermal / FLIR layout: the figures docs/oriented-imagery-attributes.md states."""
    with ImageHost() as host:
        info = inspect_source(host.add("flir.jpg", _flir_like(12)), settings=SETTINGS)
        assert info.ok and len(host.requests) == 13 and info.bytes_read <= 80 * 1024


@pytest.mark.parametrize("count", [40, 500])
def test_a_run_before_the_exif_is_bounded_the_same_way(count):
    data = make_jpeg(lat=1, lon=2, focal_length_35mm=40, jfif=False)
    data = data[:2] + large_segments(count, marker=0xE2) + data[2:]
    with ImageHost() as host:
        info = inspect_source(host.add("icc.jpg", data), settings=SETTINGS)
        assert info.bytes_read <= READ_BUDGET
        if count < MAX_FETCHES:
            assert info.ok and info.attributes["Y"] == 1.0 and len(host.requests) == count + 1
        else:
            assert info.error_code == "header_too_large" and len(host.requests) == MAX_FETCHES


def test_metadata_past_the_read_budget_is_a_named_error():
    """A 64 KB XMP behind a large segment behind a 64 KiB first read: reading it would pass 128 KiB."""
    data = make_jpeg(lat=1, lon=2, xmp_padding=65000, dji={"GimbalYawDegree": 5.0},
                     extra_exif=[(0x927C, "UNDEFINED", b"n" * 64000)])
    data = data[:2] + large_segments(1, marker=0xE2, size=60000) + data[2:]
    with ImageHost() as host:
        info = inspect_source(host.add("big.jpg", data), settings=SETTINGS)
        assert info.error_code == "header_too_large" and "first 128 KiB read" in info.error
        assert info.bytes_read <= READ_BUDGET and info.source.endswith("/big.jpg")  # the report names the photo


def test_a_server_ignoring_range_is_bounded_by_max_header_bytes_only():
    """Streamed bodies cannot be skipped: the bytes in between arrive anyway, up to MAX_HEADER_BYTES."""
    with ImageHost(honour_range=False) as host:
        info = inspect_source(host.add("flir.jpg", _flir_like(12)), settings=SETTINGS)
        assert info.ok and len(host.requests) == 1 and READ_BUDGET < info.bytes_read <= SETTINGS.max_header_bytes


_SEGMENT = st.one_of(
    st.tuples(st.sampled_from([0xE1, 0xE2, 0xE3, 0xEB, 0xED, 0xFE]), st.just(65533)),  # large, skipped
    st.tuples(st.sampled_from([0xE2, 0xEC, 0xFE]), st.integers(0, 65533)),  # any size
    st.tuples(st.just("exif"), st.just(0)), st.tuples(st.just("xmp"), st.integers(0, 60000)),
)
# runs of one segment repeated, so that long runs of large segments (up to 120) are common
_LAYOUT = st.lists(st.tuples(_SEGMENT, st.integers(1, 120)), max_size=6).map(
    lambda runs: [seg for seg, count in runs for _ in range(count if seg[0] not in ("exif", "xmp") else 1)])


def _layout_photo(layout) -> bytes:
    tail = make_jpeg(jfif=False, frame_size=(640, 512))[2:]
    parts = [b"\xff\xd8"]
    for kind, size in layout:
        if kind == "exif":
            parts.append(segment(0xE1, EXIF_HEADER + make_exif(lat=1.0, lon=2.0, focal_length_35mm=40)))
        elif kind == "xmp":
            parts.append(segment(0xE1, XMP_HEADER + make_xmp(dji={"GimbalPitchDegree": -45.0}, padding=size)))
        else:
            parts.append(segment(kind, (b"FLIR\x00" if kind == 0xE1 else b"") + bytes(size - 5 * (kind == 0xE1))))
    return b"".join(parts) + tail


@hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_LAYOUT)
def test_no_layout_reads_more_than_128_kib(layout):
    """Whatever the segments before the frame: at most 128 KiB and 64 reads, and either the same
    attributes as a reader with no limits, or header_too_large."""
    data = _layout_photo(layout)
    info = run(data)
    event("ok" if info.ok else info.error_code)
    assert info.bytes_read <= READ_BUDGET
    with mock.patch.object(fetch, "READ_BUDGET", 1 << 30), mock.patch.object(fetch, "MAX_FETCHES", 1 << 20):
        unlimited = inspect_bytes(data, source="p.jpg", settings=SETTINGS.replace(max_header_bytes=1 << 30))
    if info.ok:
        assert info.attributes == unlimited.attributes and info.warnings == unlimited.warnings
    else:
        assert info.error_code == "header_too_large" or info.error == unlimited.error, info.error


def test_no_layout_reads_more_than_128_kib_over_http():
    """The same bound on the wire, for a few fixed layouts (Hypothesis above covers the walk itself)."""
    big = [(0xE3, 65533)]
    layouts = [big * 62 + [("exif", 0)], [("exif", 0)] + big * 30 + [("xmp", 60000)],
               [("xmp", 60000), ("exif", 0)] + big * 3, [(0xE2, 900)] * 300 + [("exif", 0)]]
    with ImageHost() as host:
        for i, layout in enumerate(layouts):
            info = inspect_source(host.add("l%d.jpg" % i, _layout_photo(layout)), settings=SETTINGS)
            assert info.bytes_read <= READ_BUDGET and (info.ok or info.error_code == "header_too_large")


def test_the_usual_photo_is_one_request():
    data = make_jpeg(lat=1, lon=2, heading=3, focal_length_35mm=26, datetime_original="2024:01:01 10:00:00",
                     dji={"GimbalPitchDegree": -30.0}, target_size=3_000_000)
    with ImageHost() as host:
        info = inspect_source(host.add("p.jpg", data), settings=SETTINGS)
        assert info.ok and len(host.requests) == 1 and info.bytes_read == 65536


def test_a_hostile_run_of_segments_stops_with_a_named_error():
    """Hundreds of large segments before the metadata: header_too_large after MAX_FETCHES reads, not a crawl."""
    data = make_jpeg(lat=1, lon=2, focal_length_35mm=40, xmp_first=True, dji={"GimbalYawDegree": 1.0},
                     jfif=True) 
    data = data[:2] + large_segments(MAX_FETCHES + 20) + data[2:]
    info = run(data)
    assert info.error_code == "header_too_large" and "reads" in info.error
    assert info.bytes_read <= READ_BUDGET


def test_local_files_skip_the_same_way(tmp_path):
    path = tmp_path / "flir.jpg"
    path.write_bytes(_flir_like(12))
    info = inspect_source(str(path), settings=SETTINGS)
    assert info.ok and info.bytes_read <= 128 * 1024


def test_make_exif_accepts_the_new_structure_keywords():
    assert make_exif(lat=1, lon=2, pointer_type="IFD", gps_pointer_in_exif=True, xmp_in_exif=b"<x/>")


def test_exifread_finds_the_same_tag_700_packet():
    exifread = pytest.importorskip("exifread")
    from xpgeo_core.metadata.fetch import BytesSource
    from xpgeo_core.metadata.jpeg import walk

    packet = make_xmp(dji=THERMAL)
    data = make_jpeg(lat=1, lon=2, xmp_in_exif=packet)
    tags = exifread.process_file(io.BytesIO(data), details=True)  # it names tag 700 ApplicationNotes
    theirs = tags["Image ApplicationNotes"]
    assert bytes(theirs.values) == packet == walk(BytesSource(data, 1 << 20)).exif["ifd0"]["XMLPacket"]


@requires_samples
def test_real_samples_read_in_one_request_each():
    photos = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() == ".jpg")
    assert photos
    with ImageHost() as host:
        for path in photos:
            before = len(host.requests)
            info = inspect_source(host.add(path.name, path.read_bytes()), settings=SETTINGS)
            assert len(host.requests) - before == 1 and info.bytes_read <= FIRST_READ, path.name
