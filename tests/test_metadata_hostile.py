"""Hostile and broken inputs: every one becomes a named per-photo error, never an exception."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from conftest import SAMPLES, samples_available
from xpgeo_core.metadata import inspect_bytes
from xpgeo_core.metadata.jpeg import SOF_MARKERS
from xpgeo_core.metadata.xmp import MAX_XMP_BYTES, XmpRefused, read_xmp
from xpgeo_core.sample_photos import EXIF_HEADER, XMP_HEADER, make_exif, make_jpeg, make_xmp, segment
from xpgeo_core.settings import load_settings

SETTINGS = load_settings(environ={})


def run(data: bytes, **kw):
    return inspect_bytes(data, source="https://example.invalid/p.jpg", settings=kw.pop("settings", SETTINGS), **kw)


def segment_starts(data: bytes):
    """(offset, marker) of every segment up to and including SOS."""
    pos, out = 2, []
    while pos < len(data):
        marker = data[pos + 1]
        out.append((pos, marker))
        if marker == 0xDA:
            break
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    return out


def with_raw_exif(tiff: bytes) -> bytes:
    """A valid JPEG whose EXIF APP1 holds exactly *tiff*."""
    body = make_jpeg(jfif=False)
    return b"\xff\xd8" + segment(0xE1, EXIF_HEADER + tiff) + body[2:]


# -- truncation --------------------------------------------------------------------------------

def test_truncated_at_every_segment_boundary():
    data = make_jpeg(lat=1, lon=2, focal_length_35mm=26, dji={"GimbalYawDegree": 3.0}, frame_size=(640, 480))
    starts = segment_starts(data)
    sof_end = next(p + 2 + struct.unpack(">H", data[p + 2:p + 4])[0] for p, m in starts if m in SOF_MARKERS)
    cuts = set()
    for pos, _marker in starts:
        cuts.update({pos, pos + 1, pos + 2, pos + 3, pos + 4, pos + 10})
    cuts.update(range(0, 8))
    for cut in sorted(c for c in cuts if c < len(data)):
        info = run(data[:cut])
        if cut < sof_end:
            assert not info.ok, cut
            assert info.error_code in ("truncated", "not_jpeg"), (cut, info.error)
            assert info.bytes_read == cut
        else:
            assert info.ok, (cut, info.error)


def test_truncated_inside_exif_segment_names_the_byte():
    data = make_jpeg(lat=1, lon=2)
    exif_at = data.index(b"\xff\xe1")
    info = run(data[:exif_at + 40])
    assert info.error_code == "truncated" and "byte" in info.error


# -- EXIF structure ------------------------------------------------------------------------------

def test_ifd_offset_outside_the_data():
    info = run(with_raw_exif(b"II*\x00" + struct.pack("<I", 5000) + b"\x00" * 8))
    assert info.error_code == "bad_offset" and "outside" in info.error


def test_ifd_loop():
    # IFD0 at 8 with one entry: ExifIFD pointer -> 8 (itself).
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, 8) + b"\0" * 4
    info = run(with_raw_exif(tiff))
    assert info.error_code == "ifd_loop" and "loop" in info.error


def test_gps_and_exif_pointing_at_the_same_ifd_is_a_loop():
    tiff = (b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 2) + struct.pack(">HHII", 0x8769, 4, 1, 38)
            + struct.pack(">HHII", 0x8825, 4, 1, 38) + b"\0" * 4 + struct.pack(">H", 0) + b"\0" * 4)
    assert run(with_raw_exif(tiff)).error_code == "ifd_loop"


def test_huge_entry_count():
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 0xFFFF) + b"\0" * 20
    info = run(with_raw_exif(tiff))
    assert info.error_code == "bad_count"


def test_huge_value_count_for_a_wanted_tag():
    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHII", 0x010F, 2, 0x40000000, 26) + b"\0" * 4)
    info = run(with_raw_exif(tiff))
    assert info.error_code == "bad_count"


def test_value_offset_past_the_end():
    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHII", 0x010F, 2, 20, 60000) + b"\0" * 4)
    assert run(with_raw_exif(tiff)).error_code == "bad_offset"


def test_junk_in_unwanted_tags_is_ignored():
    # A maker-note-like tag pointing far past the data: nobody needs it, so it costs nothing.
    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHII", 0x927C, 7, 100, 60000) + b"\0" * 4)
    assert run(with_raw_exif(tiff)).error_code == "no_gps"


def test_bad_tiff_header_and_zero_denominators():
    assert run(with_raw_exif(b"XX*\x00\x08\x00\x00\x00")).error_code == "bad_exif"
    assert run(with_raw_exif(b"II*")).error_code == "truncated"
    info = run(make_jpeg(extra_gps=[(0x0001, "ASCII", "N"), (0x0002, "RATIONAL", [(1, 0), (2, 0), (3, 0)]),
                                    (0x0003, "ASCII", "E"), (0x0004, "RATIONAL", [(1, 1), (0, 1), (0, 1)])]))
    assert info.error_code == "no_gps"


# -- JPEG structure -------------------------------------------------------------------------------

@pytest.mark.parametrize("body,words", [
    (b"", "empty"),
    (b"<!DOCTYPE html><html><body>Not found</body></html>", "HTML page"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "PNG"),
    (b"II*\x00\x08\x00\x00\x00", "TIFF"),
    (b"\x00\x00\x00\x18ftypheic" + b"\0" * 20, "HEIC"),
    (b"GIF89a" + b"\0" * 10, "GIF"),
    (b'{"error": "nope"}', "JSON"),
    (b"random junk here", "not a JPEG"),
])
def test_not_a_jpeg(body, words):
    info = run(body)
    assert info.error_code == "not_jpeg" and words in info.error


def test_bad_segment_length_and_missing_marker():
    assert run(b"\xff\xd8\xff\xe1\x00\x01" + b"\0" * 20).error_code == "bad_segment"
    assert run(b"\xff\xd8\x00\x00\x00\x00").error_code == "bad_segment"


def test_eoi_before_scan_is_tolerated():
    data = make_jpeg(lat=1, lon=2)
    cut = data.index(b"\xff\xdb")
    info = run(data[:cut] + b"\xff\xd9")
    assert info.ok and any("EOI" in w for w in info.warnings)


# -- XMP -------------------------------------------------------------------------------------------

BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                  b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                  b'<rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
                  b'drone-dji:GimbalYawDegree="&lol3;"/></rdf:RDF></x:xmpmeta>')
EXTERNAL = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&ext;</x:xmpmeta>')


@pytest.mark.parametrize("packet", [BILLION_LAUGHS, EXTERNAL, BILLION_LAUGHS.replace(b"DOCTYPE", b"doctype")])
def test_xmp_with_entities_is_refused_and_photo_still_placed(packet):
    with pytest.raises(XmpRefused):
        read_xmp(packet)
    info = run(make_jpeg(lat=1, lon=2, xmp=packet))
    assert info.ok and any("refused for safety" in w for w in info.warnings)
    assert info.attributes["CameraHeading"] is None


def test_undeclared_entity_and_malformed_xmp_are_warnings():
    info = run(make_jpeg(lat=1, lon=2, xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&boom;</x:xmpmeta>'))
    assert info.ok and any("not well-formed" in w for w in info.warnings)
    info = run(make_jpeg(lat=1, lon=2, xmp=b"<x:xmpmeta <<<"))
    assert info.ok and any("not well-formed" in w for w in info.warnings)


def test_ten_megabytes_of_xmp():
    with pytest.raises(XmpRefused, match="larger"):
        read_xmp(b"<x:xmpmeta>" + b" " * (10 * 1024 * 1024) + b"</x:xmpmeta>")
    assert MAX_XMP_BYTES < 10 * 1024 * 1024
    # 10 MB of XMP-sized APP segments in front of the metadata: stops at MAX_HEADER_BYTES.
    data = make_jpeg(lat=1, lon=2, xmp_first=True, dji={"GimbalYawDegree": 1.0}, pad_before_xmp=10 * 1024 * 1024)
    small = SETTINGS.replace(max_header_bytes=256 * 1024)
    info = run(data, settings=small)
    assert info.ok or info.error_code == "header_too_large"
    assert info.bytes_read <= 256 * 1024


TEN_MB_XMP = make_xmp(dji={"GimbalYawDegree": 77.0}, exif={"UserComment": "x" * (10 * 1024 * 1024)})  # 10 MB of content
XMP_EXTENSION = b"http://ns.adobe.com/xmp/extension/\x00"


def xmp_split_naively(packet: bytes) -> bytes:
    """A packet too big for one APP1, cut into consecutive APP1s that each carry the main XMP identifier."""
    step = 65533 - len(XMP_HEADER)
    return b"".join(segment(0xE1, XMP_HEADER + packet[i:i + step]) for i in range(0, len(packet), step))


def xmp_extended(packet: bytes) -> bytes:
    """Adobe Extended XMP: APP1s with the extension identifier, GUID, full length and offset (XMP part 3)."""
    step = 65533 - len(XMP_EXTENSION) - 40
    return b"".join(segment(0xE1, XMP_EXTENSION + b"0" * 32 + struct.pack(">II", len(packet), i)
                            + packet[i:i + step]) for i in range(0, len(packet), step))


def photo_with(*segments: bytes) -> bytes:
    body = make_jpeg(jfif=False, frame_size=(64, 48))
    return b"\xff\xd8" + b"".join(segments) + body[2:]


EXIF_GPS = segment(0xE1, EXIF_HEADER + make_exif(lat=1.0, lon=2.0))
MAIN_XMP = segment(0xE1, XMP_HEADER + make_xmp(dji={"GimbalYawDegree": 33.0}))


def test_ten_megabyte_xmp_split_over_app1_segments():
    """Only the first XMP APP1 is read: a fragment is a not-well-formed warning; read past the cap it is an error."""
    assert len(TEN_MB_XMP) > 10 * 1024 * 1024
    cap = SETTINGS.max_header_bytes
    info = run(photo_with(EXIF_GPS, xmp_split_naively(TEN_MB_XMP)))  # EXIF first: the walk ends at the fragment
    assert info.ok and info.attributes["Y"] == 1.0 and info.attributes["CameraHeading"] is None
    assert any("not well-formed" in w for w in info.warnings) and info.bytes_read <= 128 * 1024
    info = run(photo_with(xmp_split_naively(TEN_MB_XMP), EXIF_GPS))  # the EXIF is 10 MB in
    assert info.error_code == "header_too_large" and info.bytes_read <= cap


def test_only_the_first_xmp_app1_is_read():
    """Two main XMP APP1s (f35 without pixel sizes keeps the walk going to the frame): the first one wins."""
    exif = segment(0xE1, EXIF_HEADER + make_exif(lat=1.0, lon=2.0, focal_length_35mm=26))
    second = segment(0xE1, XMP_HEADER + make_xmp(dji={"GimbalYawDegree": 44.0}))
    info = run(photo_with(exif, MAIN_XMP, second))
    assert info.ok and info.attributes["CameraHeading"] == pytest.approx(33.0)
    assert info.attributes["HorizontalFieldOfView"] is not None  # the frame size was reached


def test_ten_megabyte_extended_xmp_is_skipped_unread():
    """Extended XMP is not read (documented): the main packet is used; 10 MB of it before the EXIF hits the cap."""
    info = run(photo_with(EXIF_GPS, MAIN_XMP, xmp_extended(TEN_MB_XMP)))
    assert info.ok and info.attributes["CameraHeading"] == pytest.approx(33.0) and info.warnings == []
    assert info.bytes_read <= 128 * 1024
    info = run(photo_with(MAIN_XMP, xmp_extended(TEN_MB_XMP), EXIF_GPS))
    assert info.error_code == "header_too_large" and info.bytes_read <= SETTINGS.max_header_bytes
    info = run(photo_with(MAIN_XMP, xmp_extended(TEN_MB_XMP[:640 * 1024]), EXIF_GPS))  # jumped over, not read
    assert info.ok and info.attributes["Y"] == 1.0 and info.bytes_read < 320 * 1024


def test_header_larger_than_the_cap():
    data = make_jpeg(lat=1, lon=2, focal_length_35mm=26, pad_before_xmp=600 * 1024, dji={"GimbalYawDegree": 1.0})
    info = run(data, settings=SETTINGS.replace(max_header_bytes=64 * 1024 + 512))  # 512 bytes past the first read
    assert info.error_code == "header_too_large" and "MAX_HEADER_BYTES" in info.error
    assert info.bytes_read <= 64 * 1024 + 512
    info = run(data)  # the default reaches it, reading only the padding's segment headers
    assert info.ok and info.bytes_read <= 80 * 1024


# -- fuzzing -----------------------------------------------------------------------------------------

def _seed_headers():
    seeds = [make_jpeg(lat=1, lon=2, heading=3, focal_length_35mm=26, datetime_original="2020:01:01 00:00:00",
                       dji={"GimbalYawDegree": 1.0, "GimbalPitchDegree": -90.0}, byte_order=order)
             for order in ("little", "big")]
    seeds.append(make_jpeg(lat=1, lon=2, gpano={"ProjectionType": "equirectangular"}, xmp_exif={"GPSLatitude": 1.5}))
    if samples_available():
        for path in sorted(SAMPLES.glob("*.[jJ][pP][gG]"))[:6]:
            with open(path, "rb") as handle:
                seeds.append(handle.read(64 * 1024))
    return seeds


SEEDS = _seed_headers()


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(data):
    for blob in (data, b"\xff\xd8" + data, b"\xff\xd8\xff\xe1" + data):
        info = run(blob)
        assert info.error_code != "internal", info.error  # the engine's catch-all hides a bug
        assert info.ok in (True, False) and (info.ok or info.error)


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_real_headers(data):
    seed = bytearray(data.draw(st.sampled_from(SEEDS)))
    limit = min(len(seed), 40000) - 1
    for _ in range(data.draw(st.integers(1, 12))):
        pos = data.draw(st.integers(0, limit))
        seed[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(seed)))
    info = run(bytes(seed[:cut]))
    assert info.error_code != "internal", info.error
    assert set(info.to_dict()["attributes"]) and (info.ok or info.error)
