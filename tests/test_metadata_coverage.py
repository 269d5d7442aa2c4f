"""Review gaps of the metadata engine: TIFF types, XMP namespaces, standard-library-only, near/far defaults."""

from __future__ import annotations

import json
import math
import os
import re
import struct
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from xpgeo_core.metadata import inspect_bytes
from xpgeo_core.metadata.tiff import read_exif
from xpgeo_core.metadata.xmp import read_xmp
from xpgeo_core.sample_photos import EXIF_HEADER, make_jpeg, make_xmp, segment
from xpgeo_core.settings import load_settings

SETTINGS = load_settings(environ={})
ORDERS = {"little": "<", "big": ">"}


# -- (b) SRATIONAL and SHORT pixel dimensions, built byte by byte ---------------------------------

def hand_built_tiff(bo: str) -> bytes:
    """IFD0 -> Exif IFD (PixelX/YDimension and f35 as inline SHORTs) and GPS IFD (GPSAltitude: 2 SRATIONALs)."""
    header = (b"II" if bo == "<" else b"MM") + struct.pack(bo + "HI", 42, 8)
    ifd0 = (struct.pack(bo + "H", 2) + struct.pack(bo + "HHII", 0x8769, 4, 1, 38)
            + struct.pack(bo + "HHII", 0x8825, 4, 1, 80) + struct.pack(bo + "I", 0))        # 8..38

    def short(tag: int, value: int) -> bytes:  # a SHORT sits in the first 2 bytes of the value field
        return struct.pack(bo + "HHIH", tag, 3, 1, value) + b"\0\0"

    exif = (struct.pack(bo + "H", 3) + short(0xA002, 4000) + short(0xA003, 3000) + short(0xA405, 26)
            + struct.pack(bo + "I", 0))                                                        # 38..80
    gps = struct.pack(bo + "H", 1) + struct.pack(bo + "HHII", 0x0006, 10, 2, 98) + struct.pack(bo + "I", 0)
    data = struct.pack(bo + "iiii", -5, 2, 3, -4)                                              # 98..114
    tiff = header + ifd0 + exif + gps + data
    assert len(header + ifd0) == 38 and len(header + ifd0 + exif) == 80 and len(tiff) == 114
    return tiff


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_srational_and_short_pixel_dimensions_decode(order):
    """SRATIONAL keeps its sign (num or den negative); SHORT PixelX/YDimension is read from the right half."""
    out = read_exif(hand_built_tiff(ORDERS[order]))
    assert out["exif"] == {"PixelXDimension": [4000], "PixelYDimension": [3000], "FocalLengthIn35mmFilm": [26]}
    assert out["gps"] == {"GPSAltitude": [-2.5, -0.75]}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_short_pixel_dimensions_drive_the_fov_in_a_photo(order):
    """The SHORT EXIF size (4:3) wins over a smaller 4:3 JPEG frame (a proportional resize); a negative
    SRATIONAL altitude is kept."""
    body = make_jpeg(jfif=False, frame_size=(64, 48))
    info = inspect_bytes(b"\xff\xd8" + segment(0xE1, EXIF_HEADER + hand_built_tiff(ORDERS[order])) + body[2:],
                         source="p.jpg", settings=SETTINGS)
    assert info.error_code == "no_gps"
    a = info.attributes
    hfov = 2 * math.atan(43.2666 * 4000 / 5000 / (2 * 26))
    assert a["HorizontalFieldOfView"] == pytest.approx(math.degrees(hfov), abs=1e-4)
    assert a["VerticalFieldOfView"] == pytest.approx(math.degrees(2 * math.atan(math.tan(hfov / 2) * 0.75)), abs=1e-4)
    assert a["Z"] == pytest.approx(-2.5)


# -- (c) tiff and Camera XMP namespaces -------------------------------------------------------------

def test_xmp_tiff_and_camera_namespaces_are_read():
    """tiff:* and Camera:* (pix4d, with or without the trailing slash) come back as prefix:Name keys."""
    found = read_xmp(make_xmp(tiff={"Orientation": 6}, camera={"Yaw": "12.5", "Pitch": "-3"}))
    assert found == {"tiff:Orientation": "6", "Camera:Yaw": "12.5", "Camera:Pitch": "-3"}
    packet = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description xmlns:Camera="http://pix4d.com/camera/1.0" xmlns:other="urn:x:other" '
              b'Camera:Roll="1.5" other:Yaw="9"><tiff:Make xmlns:tiff="http://ns.adobe.com/tiff/1.0/">DJI</tiff:Make>'
              b'</rdf:Description></rdf:RDF></x:xmpmeta>')
    assert read_xmp(packet) == {"Camera:Roll": "1.5", "tiff:Make": "DJI"}


# -- (d) standard library + urllib3/requests only ---------------------------------------------------

BLOCKED_IMPORTS = textwrap.dedent("""
    import sys
    BLOCKED = {"exifread", "PIL", "defusedxml", "lxml"}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ImportError("blocked by the test: " + name)
            return None

    sys.meta_path.insert(0, Blocker())
    try:
        import PIL  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the import blocker does not work")
    import xpgeo_core.metadata as metadata
    from xpgeo_core.sample_photos import make_jpeg
    from xpgeo_core.settings import load_settings

    data = make_jpeg(lat=1.5, lon=2.5, focal_length_35mm=26, dji={"GimbalYawDegree": 10.0, "GimbalPitchDegree": -90.0})
    info = metadata.inspect_bytes(data, source="x.jpg", settings=load_settings(environ={}))
    assert info.ok, info.error
    assert info.attributes["Y"] == 1.5 and info.attributes["OrientedImageryType"] == "Nadir", info.attributes
    loaded = {name.partition(".")[0] for name in sys.modules}
    assert not loaded & BLOCKED, loaded & BLOCKED
    print("OK")
""")


def test_engine_needs_no_imaging_or_xml_library():
    """With exifread, PIL, defusedxml and lxml unimportable the engine still reads a photo."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", BLOCKED_IMPORTS], cwd=str(ROOT), env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "OK", done.stderr


# -- (i) NearDistance / FarDistance defaults --------------------------------------------------------

def documented_near_far():
    """{type: (near, far)} from the table under '## Near and far distances per imagery type'."""
    doc = (ROOT / "docs" / "oriented-imagery-attributes.md").read_text(encoding="utf-8")
    section = doc.split("## Near and far distances per imagery type", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\w+) \| ([\d.]+) \| ([\d.]+) \|", section, re.MULTILINE)
    return {kind: (float(near), float(far)) for kind, near, far in rows}


def test_documented_near_far_table_matches_the_layer_template():
    """docs table == layer_templates/imagery_types.json, type for type."""
    template = json.loads((ROOT / "layer_templates" / "imagery_types.json").read_text(encoding="utf-8"))
    in_json = {kind: (float(t["nearDistance"]), float(t["farDistance"])) for kind, t in template["types"].items()}
    assert documented_near_far() == in_json
    assert set(in_json) == {"Horizontal", "Oblique", "Nadir", "360", "Inspection"}


@pytest.mark.parametrize("kw,kind,near,far", [
    ({"dji": {"GimbalPitchDegree": -30.0}}, "Oblique", 5, 250),
    ({"dji": {"GimbalPitchDegree": -90.0}}, "Nadir", 0, 150),
    ({}, "Horizontal", 1, 50),
    ({"gpano": {"ProjectionType": "equirectangular"}}, "360", 0, 30),
])
def test_near_far_literal_values_on_inspected_photos(kw, kind, near, far):
    """The per-type defaults land on a real inspect result (literal numbers, not near_far())."""
    a = inspect_bytes(make_jpeg(lat=1, lon=2, **kw), source="p.jpg", settings=SETTINGS).attributes
    assert a["OrientedImageryType"] == kind
    assert (a["NearDistance"], a["FarDistance"]) == (near, far)
    assert documented_near_far()[kind] == (near, far)
