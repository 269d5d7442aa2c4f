"""Build small, valid JPEG photos with chosen EXIF, GPS and XMP metadata (standard library only).

Why this exists: tests, the demo and the benchmark need photos whose metadata is known
exactly (a walk around a block with headings, a drone grid with DJI gimbal angles, a 360°
photo) without shipping binary files or depending on an imaging library. Every photo is a
real baseline JPEG that Pillow, browsers and ArcGIS decode: a grey (optionally noisy)
greyscale frame encoded with the standard Huffman tables of ITU-T T.81 Annex K.

Stable API::

    from xpgeo_core.sample_photos import make_jpeg
    data = make_jpeg(lat=48.8584, lon=2.2945, alt=35.0, heading=123.4,
                     datetime_original="2024:05:01 10:30:00", offset_time_original="+02:00",
                     make="Apple", model="iPhone 13", focal_length=5.1, focal_length_35mm=26,
                     pixel_size=(4032, 3024))
    drone = make_jpeg(lat=..., lon=..., alt=120.0,
                      dji={"GimbalYawDegree": 45.0, "GimbalPitchDegree": -90.0,
                           "GimbalRollDegree": 0.0, "RelativeAltitude": 80.0, "FlightYawDegree": 44.0})
    pano = make_jpeg(lat=..., lon=..., gpano={"ProjectionType": "equirectangular", "PoseHeadingDegrees": 10.0})
    big = make_jpeg(lat=..., lon=..., target_size=4_000_000)   # header stays a few KB

Every keyword is optional; a photo made with no keywords has no metadata at all.
``make_jpeg`` is deterministic: the same keywords give the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import random
import struct
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = ["make_jpeg", "make_xmp", "make_exif", "large_segments", "dms", "Entry", "TIFF_TYPES"]

# -- TIFF / EXIF ------------------------------------------------------------------------------

# TIFF 6.0 field types used here: (code, bytes per value).
TIFF_TYPES = {"BYTE": (1, 1), "ASCII": (2, 1), "SHORT": (3, 2), "LONG": (4, 4), "RATIONAL": (5, 8),
              "UNDEFINED": (7, 1), "SLONG": (9, 4), "SRATIONAL": (10, 8), "IFD": (13, 4)}

Entry = Tuple[int, str, Any]
"""One IFD entry: (tag, TIFF type name, value). ASCII: str; BYTE/UNDEFINED: bytes or list of int;
SHORT/LONG/SLONG: int or list; RATIONAL/SRATIONAL: (num, den) or list of them, or float(s)."""

EXIF_HEADER = b"Exif\x00\x00"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "drone-dji": "http://www.dji.com/drone-dji/1.0/",
    "GPano": "http://ns.google.com/photos/1.0/panorama/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "Camera": "http://pix4d.com/camera/1.0/",
    "drone-parrot": "http://www.parrot.com/drone-parrot/1.0/",
    "drone-skydio": "https://www.skydio.com/drone-skydio/1.0/",
}


def _rational(value: Any, signed: bool) -> Tuple[int, int]:
    """A float or (num, den) as a 32-bit (s)rational, denominator as large as precision needs."""
    if isinstance(value, tuple):
        return int(value[0]), int(value[1])
    value = float(value)
    if value == int(value) and abs(value) < 2 ** 31:
        return int(value), 1
    den = 10000000
    limit = 2 ** 31 - 1 if signed else 2 ** 32 - 1
    while den > 1 and abs(value) * den > limit:
        den //= 10
    return int(round(value * den)), den


def _values(kind: str, value: Any) -> List[Any]:
    if kind in ("ASCII",):
        return [value]
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, (list, tuple)) and not (kind in ("RATIONAL", "SRATIONAL") and isinstance(value, tuple)
                                                  and len(value) == 2 and all(isinstance(v, int) for v in value)):
        return list(value)
    return [value]


def _pack_entry(kind: str, value: Any, bo: str) -> Tuple[int, bytes]:
    """(count, packed value bytes) of one entry."""
    if kind == "ASCII":
        raw = value.encode("latin-1") if isinstance(value, str) else bytes(value)
        if not raw.endswith(b"\x00"):
            raw += b"\x00"
        return len(raw), raw
    if kind in ("BYTE", "UNDEFINED") and isinstance(value, (bytes, bytearray)):
        return len(value), bytes(value)
    values = _values(kind, value)
    out = bytearray()
    for v in values:
        if kind in ("BYTE", "UNDEFINED"):
            out += struct.pack(bo + "B", int(v))
        elif kind == "SHORT":
            out += struct.pack(bo + "H", int(v))
        elif kind in ("LONG", "IFD"):
            out += struct.pack(bo + "I", int(v))
        elif kind == "SLONG":
            out += struct.pack(bo + "i", int(v))
        elif kind == "RATIONAL":
            out += struct.pack(bo + "II", *_rational(v, False))
        elif kind == "SRATIONAL":
            out += struct.pack(bo + "ii", *_rational(v, True))
        else:
            raise ValueError("unknown TIFF type " + kind)
    return len(values), bytes(out)


def _ifd(entries: Sequence[Entry], start: int, bo: str, next_ifd: int = 0) -> Tuple[bytes, bytes]:
    """(IFD bytes, data-area bytes) for an IFD placed at TIFF offset *start*; data follows it."""
    entries = sorted(entries, key=lambda e: e[0])
    table_len = 2 + 12 * len(entries) + 4
    data = bytearray()
    table = bytearray(struct.pack(bo + "H", len(entries)))
    for tag, kind, value in entries:
        code, _size = TIFF_TYPES[kind]
        count, packed = _pack_entry(kind, value, bo)
        if len(packed) <= 4:
            field = packed.ljust(4, b"\x00")
        else:
            field = struct.pack(bo + "I", start + table_len + len(data))
            data += packed
            if len(data) % 2:
                data += b"\x00"
        table += struct.pack(bo + "HHI", tag, code, count) + field
    table += struct.pack(bo + "I", next_ifd)
    return bytes(table), bytes(data)


def make_tiff(ifd0: Sequence[Entry], exif: Sequence[Entry] = (), gps: Sequence[Entry] = (),
              byte_order: str = "little", pointer_type: str = "LONG", gps_pointer_in_exif: bool = False) -> bytes:
    """A TIFF structure (the body of an EXIF APP1) with IFD0 and optional Exif and GPS sub-IFDs.

    ``pointer_type`` is the TIFF type the sub-IFD pointers are written in ("LONG" as EXIF says;
    "SLONG", "IFD" or "SHORT" as some cameras do); ``gps_pointer_in_exif`` puts the GPS pointer in
    the Exif IFD instead of IFD0 (a misplacement some writers make)."""
    bo = "<" if byte_order in ("little", "II", "<") else ">"
    header = (b"II" if bo == "<" else b"MM") + struct.pack(bo + "HI", 42, 8)
    gps_in_exif = gps_pointer_in_exif and bool(gps)
    exif = list(exif) if exif or gps_in_exif else []
    # Pointer values are only known after layout: lay everything out twice (same sizes both times).
    pointers: Dict[int, int] = {0x8769: 0, 0x8825: 0}
    for _ in range(2):
        own = [(tag, pointer_type, pointers[tag]) for tag, entries in ((0x8769, exif), (0x8825, gps))
               if entries and not (tag == 0x8825 and gps_in_exif)]
        table, data = _ifd(list(ifd0) + own, 8, bo)
        offset = 8 + len(table) + len(data)
        blobs = []
        for tag, entries in ((0x8769, exif), (0x8825, gps)):
            if not entries:
                continue
            if tag == 0x8769 and gps_in_exif:
                entries = list(entries) + [(0x8825, pointer_type, pointers[0x8825])]
            pointers[tag] = offset
            sub_table, sub_data = _ifd(entries, offset, bo)
            blobs.append(sub_table + sub_data)
            offset += len(sub_table) + len(sub_data)
    return header + table + data + b"".join(blobs)


def dms(value: float) -> List[Tuple[int, int]]:
    """|value| in degrees as EXIF degrees/minutes/seconds rationals (seconds to 1e-6″ ≈ 3e-11°)."""
    micro = int(round(abs(value) * 3600 * 1000000))
    deg, rest = divmod(micro, 3600 * 1000000)
    minutes, micro_sec = divmod(rest, 60 * 1000000)
    return [(deg, 1), (minutes, 1), (micro_sec, 1000000)]


def _coordinate(value: float, as_dms: bool) -> List[Any]:
    """A GPS coordinate's three rationals: degrees, minutes, seconds, or (some drones) the whole
    value as degrees with zero minutes and seconds."""
    return list(dms(value)) if as_dms else [abs(value), 0, 0]


def _exif_datetime(value: Union[str, _dt.datetime]) -> str:
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y:%m:%d %H:%M:%S")
    return value


def _given(entries: Iterable[Entry]) -> List[Entry]:
    """The entries whose value was given (not None)."""
    return [entry for entry in entries if entry[2] is not None]


def make_exif(*, lat: Optional[float] = None, lon: Optional[float] = None, alt: Optional[float] = None,
              alt_ref: Optional[int] = None, heading: Optional[float] = None, heading_ref: Optional[str] = "T",
              track: Optional[float] = None, track_ref: Optional[str] = "T",
              gps_datetime: Optional[_dt.datetime] = None, gps_dms: bool = True,
              datetime_original: Union[str, _dt.datetime, None] = None, offset_time_original: Optional[str] = None,
              make: Optional[str] = None, model: Optional[str] = None, orientation: Optional[int] = None,
              focal_length: Optional[float] = None, focal_length_35mm: Optional[int] = None,
              pixel_size: Optional[Tuple[int, int]] = None, focal_plane_resolution: Optional[Tuple[float, float]] = None,
              focal_plane_resolution_unit: Optional[int] = None, extra_ifd0: Sequence[Entry] = (),
              extra_exif: Sequence[Entry] = (), extra_gps: Sequence[Entry] = (), byte_order: str = "little",
              xmp_in_exif: Optional[bytes] = None, xmp_in_exif_ifd: str = "ifd0", pointer_type: str = "LONG",
              gps_pointer_in_exif: bool = False) -> bytes:
    """The TIFF body of an EXIF APP1 segment (without the ``Exif\\0\\0`` prefix).

    ``lat``/``lon`` signed degrees (refs N/S/E/W derived); ``alt`` metres, negative gives
    AltitudeRef 1 unless ``alt_ref`` is given; ``heading``/``track`` degrees with refs
    ``T``/``M`` (``None`` ref leaves the ref tag out); ``gps_datetime`` a UTC datetime for
    GPSDateStamp/GPSTimeStamp; ``gps_dms=False`` writes each coordinate as a single degree
    rational (some drones do). ``pixel_size`` = (PixelXDimension, PixelYDimension);
    ``focal_plane_resolution`` = (X, Y) pixels per ``focal_plane_resolution_unit``
    (2 inch, 3 cm, 4 mm, 5 µm). ``extra_*`` entries are added verbatim (tests use them for
    odd types and values). ``xmp_in_exif`` is an XMP packet written into tag 700 (``XMLPacket``,
    as BYTE) of IFD0, or of the Exif IFD with ``xmp_in_exif_ifd="exif"`` (the Zenmuse XT2's
    place), where DJI thermal payloads keep theirs. ``pointer_type`` and
    ``gps_pointer_in_exif``: see :func:`make_tiff`.
    """
    if xmp_in_exif_ifd not in ("ifd0", "exif"):
        raise ValueError("xmp_in_exif_ifd must be 'ifd0' or 'exif', not %r" % xmp_in_exif_ifd)
    packet_in = {xmp_in_exif_ifd: xmp_in_exif}
    ifd0 = _given([(0x010F, "ASCII", make), (0x0110, "ASCII", model), (0x0112, "SHORT", orientation),
                   (0x02BC, "BYTE", packet_in.get("ifd0"))])
    ifd0.extend(extra_ifd0)
    plane = focal_plane_resolution or (None, None)
    pixels = pixel_size or (None, None)
    exif = _given([
        (0x9003, "ASCII", None if datetime_original is None else _exif_datetime(datetime_original)),
        (0x9011, "ASCII", offset_time_original), (0x920A, "RATIONAL", focal_length),
        (0xA405, "SHORT", focal_length_35mm), (0xA002, "LONG", pixels[0]), (0xA003, "LONG", pixels[1]),
        (0xA20E, "RATIONAL", plane[0]), (0xA20F, "RATIONAL", plane[1]),
        (0xA210, "SHORT", focal_plane_resolution_unit), (0x02BC, "BYTE", packet_in.get("exif"))])
    exif.extend(extra_exif)

    gps: List[Entry] = []
    if lat is not None or lon is not None or alt is not None or heading is not None or gps_datetime is not None \
            or track is not None or extra_gps:
        gps.append((0x0000, "BYTE", [2, 3, 0, 0]))
    if lat is not None:
        gps.append((0x0001, "ASCII", "N" if lat >= 0 else "S"))
        gps.append((0x0002, "RATIONAL", _coordinate(lat, gps_dms)))
    if lon is not None:
        gps.append((0x0003, "ASCII", "E" if lon >= 0 else "W"))
        gps.append((0x0004, "RATIONAL", _coordinate(lon, gps_dms)))
    if alt is not None:
        ref = alt_ref if alt_ref is not None else (1 if alt < 0 else 0)
        gps.append((0x0005, "BYTE", [ref]))
        gps.append((0x0006, "RATIONAL", (int(round(abs(alt) * 1000)), 1000)))
    if gps_datetime is not None:
        t = gps_datetime
        gps.append((0x0007, "RATIONAL", [(t.hour, 1), (t.minute, 1), (t.second * 1000 + t.microsecond // 1000, 1000)]))
        gps.append((0x001D, "ASCII", t.strftime("%Y:%m:%d")))
    if track is not None:
        if track_ref is not None:
            gps.append((0x000E, "ASCII", track_ref))
        gps.append((0x000F, "RATIONAL", (int(round(track * 100)), 100)))
    if heading is not None:
        if heading_ref is not None:
            gps.append((0x0010, "ASCII", heading_ref))
        gps.append((0x0011, "RATIONAL", (int(round(heading * 100)), 100)))
    gps.extend(extra_gps)
    return make_tiff(ifd0, exif, gps, byte_order, pointer_type=pointer_type, gps_pointer_in_exif=gps_pointer_in_exif)


# -- XMP --------------------------------------------------------------------------------------

def xmp_gps(value: float, positive: str, negative: str) -> str:
    """A coordinate in the XMP/Adobe ``DDD,MM.mmmmmmmK`` form (exif:GPSLatitude)."""
    ref = positive if value >= 0 else negative
    value = abs(value)
    deg = int(value)
    minutes = (value - deg) * 60
    return "%d,%.8f%s" % (deg, minutes, ref)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "%+.2f" % value if abs(value) < 1e6 else repr(value)
    return str(value)


def make_xmp(*, dji: Optional[Mapping[str, Any]] = None, gpano: Optional[Mapping[str, Any]] = None,
             exif: Optional[Mapping[str, Any]] = None, tiff: Optional[Mapping[str, Any]] = None,
             camera: Optional[Mapping[str, Any]] = None, properties: Optional[Mapping[str, Any]] = None,
             namespaces: Optional[Mapping[str, str]] = None, style: str = "attributes", padding: int = 0) -> bytes:
    """An XMP packet (UTF-8 bytes) with ``drone-dji:``, ``GPano:``, ``exif:``, ``tiff:``, ``Camera:`` properties.

    ``properties`` maps full names (``"drone-parrot:CameraPitchDegree"``) of any prefix in
    :data:`NS` to values; a dict value is a structure (``{"Pitch": -60, "Yaw": 10}``), written
    as a child element whose fields are attributes (``style="attributes"``) or
    ``rdf:parseType="Resource"`` child elements (``style="elements"``), as Skydio writes its
    ``CameraOrientationNED``. ``namespaces`` overrides prefix URIs (senseFly writes ``Camera:``
    with its own URI).

    Dict keys are property names without prefix, e.g. ``{"GimbalYawDegree": -78.8}``; floats
    are written DJI-style (``+12.30``, two decimals) for ``dji``, plain otherwise; strings are
    written verbatim. ``exif`` accepts
    ``GPSLatitude``/``GPSLongitude`` as floats (written ``DDD,MM.mmK``) or strings.
    ``style="elements"`` writes properties as child elements instead of attributes.
    ``padding`` adds that many bytes of whitespace (XMP's in-place-edit padding).
    """
    props: List[Tuple[str, str]] = []
    for key, value in (dji or {}).items():
        props.append(("drone-dji:" + key, _fmt(value)))
    for key, value in (gpano or {}).items():
        props.append(("GPano:" + key, str(value)))
    for key, value in (exif or {}).items():
        if key == "GPSLatitude" and isinstance(value, (int, float)):
            value = xmp_gps(value, "N", "S")
        elif key == "GPSLongitude" and isinstance(value, (int, float)):
            value = xmp_gps(value, "E", "W")
        props.append(("exif:" + key, str(value)))
    for key, value in (tiff or {}).items():
        props.append(("tiff:" + key, str(value)))
    for key, value in (camera or {}).items():
        props.append(("Camera:" + key, str(value)))
    structs: List[Tuple[str, Mapping[str, Any]]] = []
    for name, value in (properties or {}).items():
        if isinstance(value, Mapping):
            structs.append((name, value))
        else:
            props.append((name, str(value)))
    uris = dict(NS, **(namespaces or {}))
    used = sorted({name.split(":")[0] for name, _ in props} | {name.split(":")[0] for name, _ in structs})
    xmlns = " ".join('xmlns:%s="%s"' % (p, uris[p]) for p in used)
    children = []
    for name, fields in structs:
        prefix = name.split(":")[0]
        if style == "elements":
            inner = "".join("<%s:%s>%s</%s:%s>" % (prefix, k, _esc(str(v)), prefix, k) for k, v in fields.items())
            children.append('<%s rdf:parseType="Resource">%s</%s>' % (name, inner, name))
        else:
            attrs = " ".join('%s:%s="%s"' % (prefix, k, _esc(str(v))) for k, v in fields.items())
            children.append("<%s %s/>" % (name, attrs))
    if style == "elements":
        body = "".join("<%s>%s</%s>" % (n, _esc(v), n) for n, v in props) + "".join(children)
        desc = '<rdf:Description rdf:about="" %s>%s</rdf:Description>' % (xmlns, body)
    else:
        attrs = " ".join('%s="%s"' % (n, _esc(v)) for n, v in props)
        if children:
            desc = '<rdf:Description rdf:about="" %s %s>%s</rdf:Description>' % (xmlns, attrs, "".join(children))
        else:
            desc = '<rdf:Description rdf:about="" %s %s/>' % (xmlns, attrs)
    packet = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
              '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="%s">%s</rdf:RDF></x:xmpmeta>'
              % (NS["rdf"], desc))
    pad = ""
    if padding > 0:
        line = " " * 99 + "\n"
        pad = line * (padding // 100) + " " * (padding % 100)
    return (packet + pad + '<?xpacket end="w"?>').encode("utf-8")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


# -- JPEG -------------------------------------------------------------------------------------

# Standard luminance Huffman tables (ITU-T T.81 Annex K, tables K.3 and K.5): DHT payloads.
_DHT_DC = bytes.fromhex("00" "00010501010101010100000000000000" "000102030405060708090a0b")
_DHT_AC = bytes.fromhex(
    "10" "0002010303020403050504040000017d"
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728"
    "292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a83848586878889"
    "8a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2"
    "e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa")
_DQT = b"\x00" + bytes([16] * 64)  # table 0, 8-bit, flat: the picture is synthetic anyway


def _huffman_codes(table: bytes) -> Dict[int, Tuple[int, int]]:
    """symbol -> (code, length) of a DHT payload (class/id byte first)."""
    counts = table[1:17]
    symbols = table[17:]
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(counts[length - 1]):
            codes[symbols[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


_AC_CODES = _huffman_codes(_DHT_AC)
_DC_ZERO = (0b00, 2)           # DC difference category 0
_EOB = _AC_CODES[0x00]         # 1010


class _Bits:
    def __init__(self) -> None:
        self.acc = 0
        self.n = 0

    def put(self, code: int, length: int) -> None:
        self.acc = (self.acc << length) | code
        self.n += length

    def to_bytes(self) -> bytes:
        """Pad with 1-bits to a byte boundary (T.81 F.1.2.3) and stuff 0xFF bytes."""
        pad = (-self.n) % 8
        acc = (self.acc << pad) | ((1 << pad) - 1)
        raw = acc.to_bytes((self.n + pad) // 8, "big") if self.n + pad else b""
        return raw.replace(b"\xff", b"\xff\x00")


def _put_block(bits: _Bits, coeffs: Sequence[int]) -> None:
    """One 8x8 block with DC difference 0 and the given 63 AC coefficients (zig-zag order)."""
    bits.put(*_DC_ZERO)
    run = 0
    last = max([i for i, c in enumerate(coeffs) if c] or [-1])
    for i in range(last + 1):
        c = coeffs[i]
        if c == 0:
            run += 1
            continue
        while run > 15:
            bits.put(*_AC_CODES[0xF0])
            run -= 16
        size = abs(c).bit_length()
        bits.put(*_AC_CODES[(run << 4) | size])
        bits.put(c if c > 0 else c + (1 << size) - 1, size)
        run = 0
    if last < 62:
        bits.put(*_EOB)


@lru_cache(maxsize=8)
def _grey_group() -> bytes:
    bits = _Bits()
    for _ in range(8):
        _put_block(bits, [0] * 63)
    return bits.to_bytes()  # 8 blocks x 6 bits = 6 bytes, byte aligned


@lru_cache(maxsize=8)
def _noise_groups(seed: int) -> Tuple[bytes, ...]:
    """Byte-aligned groups of 8 noisy blocks (8 copies of one block: 8·L bits is whole bytes)."""
    rng = random.Random(seed)
    groups = []
    for _ in range(16):
        coeffs = [rng.randint(-255, 255) for _ in range(63)]
        bits = _Bits()
        for _ in range(8):
            _put_block(bits, coeffs)
        groups.append(bits.to_bytes())
    return tuple(groups)


@lru_cache(maxsize=16)
def _scan_data(width: int, height: int, noisy_groups: int, seed: int) -> bytes:
    """Entropy-coded data for a greyscale frame; the first *noisy_groups* groups are noise."""
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    groups, rest = divmod(blocks, 8)
    noise = _noise_groups(seed)
    parts = [noise[i % len(noise)] for i in range(noisy_groups)]
    parts.append(_grey_group() * (groups - noisy_groups))
    tail = _Bits()
    for _ in range(rest):
        _put_block(tail, [0] * 63)
    parts.append(tail.to_bytes())
    return b"".join(parts)


def segment(marker: int, payload: bytes) -> bytes:
    """One JPEG marker segment (length counts itself, not the marker)."""
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("JPEG segment payload too long: %d bytes" % len(payload))
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _frame_segments(width: int, height: int) -> bytes:
    sof = struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0])
    return (segment(0xDB, _DQT) + segment(0xC0, sof) + segment(0xC4, _DHT_DC) + segment(0xC4, _DHT_AC))


_SOS = segment(0xDA, bytes([1, 1, 0x00, 0, 63, 0]))
_JFIF = segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")


def _padding_segments(size: int) -> bytes:
    """About *size* bytes of APP2 segments (a late-XMP test: they push what follows further in)."""
    out = bytearray()
    while size > 0:
        payload = max(10, min(size - 4, 65533))
        out += segment(0xE2, b"XPGEO-PAD\x00" + b"\x00" * (payload - 10))
        size -= payload + 4
    return bytes(out)


def large_segments(count: int, size: int = 65533, marker: int = 0xE3, ident: bytes = b"") -> bytes:
    """*count* APPn segments of *size* payload bytes each (DJI thermal R-JPEGs carry runs of
    APP3 segments, FLIR files APP1 ``FLIR`` ones): what a reader should skip without reading."""
    body = ident + bytes((i * 7) & 0xFF for i in range(size - len(ident)))
    return segment(marker, body) * count


def make_jpeg(*, frame_size: Tuple[int, int] = (64, 48), byte_order: str = "little", exif: Optional[bool] = None,
              xmp: Union[bool, bytes, None] = None, dji: Optional[Mapping[str, Any]] = None,
              gpano: Optional[Mapping[str, Any]] = None, xmp_exif: Optional[Mapping[str, Any]] = None,
              xmp_props: Optional[Mapping[str, Any]] = None,
              xmp_style: str = "attributes", xmp_padding: int = 0, pad_before_xmp: int = 0,
              xmp_first: bool = False, jfif: bool = True, comment: Optional[bytes] = None,
              segments_after_xmp: bytes = b"", target_size: Optional[int] = None, seed: int = 0,
              **exif_fields: Any) -> bytes:
    """A valid baseline JPEG with the given metadata. Returns the file's bytes.

    Segments, in order: SOI, APP0 JFIF (``jfif``), APP1 EXIF (when any EXIF field is given,
    or ``exif=True``), padding APP2 segments (``pad_before_xmp`` bytes, to make the XMP late),
    APP1 XMP (when ``dji``/``gpano``/``xmp_exif``/``xmp_props`` is given or ``xmp`` is raw bytes),
    ``segments_after_xmp`` (raw segments, e.g. :func:`large_segments`), COM (``comment``), DQT,
    SOF0, DHT, SOS, scan data, EOI. ``xmp_first`` puts XMP before EXIF. ``xmp_props`` takes any
    ``prefix:Name`` of :data:`NS` (see :func:`make_xmp`).

    EXIF keywords (see :func:`make_exif`): lat, lon, alt, alt_ref, heading, heading_ref, track,
    track_ref, gps_datetime, gps_dms, datetime_original, offset_time_original, make, model,
    orientation, focal_length, focal_length_35mm, pixel_size, focal_plane_resolution,
    focal_plane_resolution_unit, extra_ifd0, extra_exif, extra_gps.

    ``frame_size`` is the decoded picture's (width, height). ``target_size`` (about 20 KB to
    25 MB) pads the file to exactly that many bytes (rarely up to 3 fewer) with noise in the entropy-coded data (so the header stays small):
    the frame grows as needed (4000x3000 up to ~8 MB). ``seed`` varies the noise.
    """
    unknown = set(exif_fields) - set(make_exif.__code__.co_varnames[:make_exif.__code__.co_kwonlyargcount])
    if unknown:
        raise TypeError("make_jpeg() got unexpected keyword(s): " + ", ".join(sorted(unknown)))
    head = bytearray(b"\xff\xd8")
    if jfif:
        head += _JFIF
    exif_seg = b""
    if exif or (exif is None and exif_fields):
        exif_seg = segment(0xE1, EXIF_HEADER + make_exif(byte_order=byte_order, **exif_fields))
    xmp_seg = b""
    if isinstance(xmp, (bytes, bytearray)):
        xmp_seg = segment(0xE1, XMP_HEADER + bytes(xmp))
    elif xmp or dji or gpano or xmp_exif or xmp_props:
        xmp_seg = segment(0xE1, XMP_HEADER + make_xmp(dji=dji, gpano=gpano, exif=xmp_exif, properties=xmp_props,
                                                      style=xmp_style, padding=xmp_padding))
    if xmp_first:
        head += xmp_seg + exif_seg + _padding_segments(pad_before_xmp)
    else:
        head += exif_seg + _padding_segments(pad_before_xmp) + xmp_seg
    head += segments_after_xmp
    if comment is not None:
        head += segment(0xFE, comment)
    width, height = frame_size
    noisy = 0
    if target_size is not None:
        width, height, noisy = _fit(len(head), width, height, target_size, seed)
    head += _frame_segments(width, height) + _SOS
    scan = _scan_data(width, height, noisy, seed)
    size = len(head) + len(scan) + 2
    if target_size is not None and size < target_size:
        # Make it exact with a COM segment just before the frame (still in the small header).
        gap = target_size - size
        insert_at = len(head) - len(_frame_segments(width, height)) - len(_SOS)
        head[insert_at:insert_at] = segment(0xFE, b"\x00" * (gap - 4)) if gap >= 4 else b""
    return bytes(head) + scan + b"\xff\xd9"


def _fit(header: int, width: int, height: int, target: int, seed: int) -> Tuple[int, int, int]:
    """(width, height, noisy groups) whose file is at most *target* bytes and within 4+ bytes of it."""
    grey = len(_grey_group())
    noise = _noise_groups(seed)
    fixed = header + len(_frame_segments(width, height)) + len(_SOS) + 2
    for w, h in ((width, height), (1024, 768), (2048, 1536), (4000, 3000), (8000, 6000)):
        if w < width or h < height:
            continue
        groups = ((w + 7) // 8) * ((h + 7) // 8) // 8
        base = fixed + len(_scan_data(w, h, 0, seed))
        if base + 4 > target and (w, h) == (width, height) and base <= target:
            return w, h, 0
        if base > target:
            continue
        # Fill noise groups until the next one would overshoot by more than the COM can absorb.
        n, size = 0, base
        while n < groups:
            step = len(noise[n % len(noise)]) - grey
            if size + step + 4 > target:
                break
            size += step
            n += 1
        if n < groups or size + 4 <= target:
            if target - size < 65000 and (target - size >= 4 or target == size):
                return w, h, n
    raise ValueError("target_size %d is out of reach for make_jpeg (about 20 KB to 25 MB)" % target)
