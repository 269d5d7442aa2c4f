"""TIFF/EXIF IFD reader for the body of an EXIF APP1 segment (standard library only).

Reads IFD0 and the Exif and GPS sub-IFDs, both byte orders, and decodes only the tags the
attribute rules use (see :data:`WANTED`), and the XMP packet in tag 700 (``XMLPacket``, where
DJI's thermal payloads keep their gimbal angles) as raw bytes, from IFD0 or the Exif IFD: TIFF
puts tag 700 in IFD0, but some payloads (the Zenmuse XT2) write it into the Exif IFD, and
readers such as metadata-extractor accept it there too. Pointers to sub-IFDs
and numeric tags are taken in whatever integer type the camera wrote them (SHORT, LONG,
SLONG, IFD: a Canon S5 IS writes its GPS pointer as SLONG); a GPS pointer found in the Exif
IFD instead of IFD0 is followed too. Why so narrow: real files carry junk in tags
nobody needs (maker notes with offsets into nowhere); refusing a photo for those would
lose good positions. A wanted tag whose data is out of bounds, an IFD outside the buffer,
an IFD pointing back at one already read, or an entry count past the buffer is a
:class:`PhotoError` with a stable code.
"""

from __future__ import annotations

import math
import struct
from typing import Any, Dict, List, Optional, Set, Tuple

from xpgeo_core.metadata.photo import PhotoError

EXIF_POINTER = 0x8769
GPS_POINTER = 0x8825
INTEROP_POINTER = 0xA005
XML_PACKET = 0x02BC
POINTERS = frozenset((EXIF_POINTER, GPS_POINTER, INTEROP_POINTER))

# tag -> name, per IFD. Names follow the EXIF 2.32 / TIFF 6.0 specifications.
WANTED = {
    "ifd0": {0x010F: "Make", 0x0110: "Model", 0x0112: "Orientation", 0x0132: "DateTime", XML_PACKET: "XMLPacket"},
    "exif": {0x9003: "DateTimeOriginal", 0x9011: "OffsetTimeOriginal", 0x9291: "SubSecTimeOriginal",
             0x920A: "FocalLength", 0xA405: "FocalLengthIn35mmFilm", 0xA002: "PixelXDimension",
             0xA003: "PixelYDimension", 0xA20E: "FocalPlaneXResolution", 0xA20F: "FocalPlaneYResolution",
             0xA210: "FocalPlaneResolutionUnit", XML_PACKET: "XMLPacket"},
    "gps": {0x0001: "GPSLatitudeRef", 0x0002: "GPSLatitude", 0x0003: "GPSLongitudeRef", 0x0004: "GPSLongitude",
            0x0005: "GPSAltitudeRef", 0x0006: "GPSAltitude", 0x0007: "GPSTimeStamp", 0x0009: "GPSStatus", 0x000E: "GPSTrackRef",
            0x000F: "GPSTrack", 0x0010: "GPSImgDirectionRef", 0x0011: "GPSImgDirection", 0x001D: "GPSDateStamp"},
}

BLOBS = frozenset(("XMLPacket",))
XMP_IFDS = ("ifd0", "exif")  # the IFDs tag 700 is read from, in the order their packets count
# Unsigned rationals some firmware fills with a signed number: also kept read as signed, as
# ``<name>AsSigned``, so a rule can recognise the wrap (4294967284/1 is -12/1).
SIGNED_VIEWS = frozenset(("GPSAltitude",))  # tags kept as raw bytes whatever their type (BYTE, UNDEFINED or ASCII)

# TIFF type -> (struct code, size). 2 = ASCII and 7 = UNDEFINED are bytes. 13 = IFD (an offset,
# TIFF Technical Note 1), 16-18 = BigTIFF's LONG8, SLONG8, IFD8 (seen in files converted by odd tools).
_TYPES = {1: ("B", 1), 2: ("s", 1), 3: ("H", 2), 4: ("I", 4), 5: ("II", 8), 6: ("b", 1), 7: ("s", 1),
          8: ("h", 2), 9: ("i", 4), 10: ("ii", 8), 11: ("f", 4), 12: ("d", 8), 13: ("I", 4), 16: ("Q", 8),
          17: ("q", 8), 18: ("Q", 8)}
_INTEGER_TYPES = frozenset((1, 3, 4, 6, 8, 9, 13, 16, 17, 18))
MAX_ENTRIES = 1000  # real IFDs hold tens of entries; more means a corrupt count
_ENTRY = {bo: struct.Struct(bo + "HHI") for bo in "<>"}  # tag, type, count of a 12-byte IFD entry
_WORD = {bo: struct.Struct(bo + "I") for bo in "<>"}


def read_exif(data: bytes) -> Dict[str, Dict[str, Any]]:
    """``{"ifd0": {...}, "exif": {...}, "gps": {...}}`` with wanted tags by name.

    Numeric values are lists (rationals as floats, ``None`` where the denominator is 0);
    ASCII values are stripped strings.
    """
    if len(data) < 8:
        raise PhotoError("truncated", "the EXIF data is cut short (%d bytes)" % len(data))
    order = data[:2]
    if order == b"II":
        bo = "<"
    elif order == b"MM":
        bo = ">"
    else:
        raise PhotoError("bad_exif", "the EXIF data does not start with a TIFF header (II or MM)")
    magic, ifd0_offset = struct.unpack(bo + "HI", data[2:8])
    if magic != 42:
        raise PhotoError("bad_exif", "the EXIF TIFF header has magic %d, not 42" % magic)
    seen: Set[int] = set()
    out: Dict[str, Dict[str, Any]] = {"ifd0": {}, "exif": {}, "gps": {}}
    pointers = _read_ifd(data, bo, ifd0_offset, "ifd0", out["ifd0"], seen)
    if EXIF_POINTER in pointers:
        for tag, offset in _read_ifd(data, bo, pointers[EXIF_POINTER], "exif", out["exif"], seen).items():
            pointers.setdefault(tag, offset)  # a GPS pointer misplaced in the Exif IFD still counts
    if GPS_POINTER in pointers:
        _read_ifd(data, bo, pointers[GPS_POINTER], "gps", out["gps"], seen)
    return out


def xmp_packets(exif: Dict[str, Dict[str, Any]]) -> List[Tuple[str, bytes]]:
    """The XMP packets of tag 700, as (IFD name, bytes), IFD0's first: every IFD the packet is
    found in (:data:`XMP_IFDS`), so a photo that carries it in either gives its properties."""
    found = []
    for name in XMP_IFDS:
        packet = exif.get(name, {}).get("XMLPacket")
        if packet:
            found.append((name, packet))
    return found


def _read_ifd(data: bytes, bo: str, offset: int, name: str, into: Dict[str, Any], seen: Set[int]) -> Dict[int, int]:
    """Decode one IFD's wanted tags into *into*; return the sub-IFD pointers found in it."""
    if offset in seen:
        raise PhotoError("ifd_loop", "the EXIF %s IFD at offset %d points back to an IFD already read (a loop)"
                         % (name, offset))
    seen.add(offset)
    if offset < 8 or offset + 2 > len(data):
        raise PhotoError("bad_offset", "the EXIF %s IFD offset %d is outside the %d-byte EXIF data"
                         % (name, offset, len(data)))
    (count,) = struct.unpack(bo + "H", data[offset:offset + 2])
    if count > MAX_ENTRIES or offset + 2 + 12 * count > len(data):
        raise PhotoError("bad_count", "the EXIF %s IFD at offset %d claims %d entries, past the end of the data"
                         % (name, offset, count))
    wanted = WANTED[name]
    pointers: Dict[int, int] = {}
    entry, word = _ENTRY[bo], _WORD[bo]
    for pos in range(offset + 2, offset + 2 + 12 * count, 12):
        tag, kind, n = entry.unpack_from(data, pos)  # no slice copies: this loop runs for every photo
        if tag in POINTERS and name != "gps":
            target = _pointer(data, bo, pos, kind, n)
            if target is not None:
                pointers[tag] = target
            continue
        if tag not in wanted or kind not in _TYPES:
            continue
        into[wanted[tag]] = _value(data, bo, pos, kind, n, name, wanted[tag])
        if kind == 5 and wanted[tag] in SIGNED_VIEWS:
            into[wanted[tag] + "AsSigned"] = _value(data, bo, pos, 10, n, name, wanted[tag])
    return pointers


def _pointer(data: bytes, bo: str, pos: int, kind: int, n: int) -> Optional[int]:
    """A sub-IFD offset in any integer type it is written in; None when it is not one (a pointer
    that is 0, negative or of a non-integer type points nowhere: the sub-IFD is absent)."""
    if kind not in _INTEGER_TYPES or n < 1:
        return None
    code, size = _TYPES[kind]
    if size > 4:  # an 8-byte offset does not fit the entry: it sits where the field points
        (where,) = _WORD[bo].unpack_from(data, pos + 8)
        if where + size > len(data):
            return None
        (value,) = struct.unpack_from(bo + code, data, where)
    else:
        (value,) = struct.unpack_from(bo + code, data, pos + 8)
    return value if value > 0 else None


def _value(data: bytes, bo: str, pos: int, kind: int, n: int, ifd: str, tag: str) -> Any:
    code, size = _TYPES[kind]
    total = size * n
    if total > len(data):
        raise PhotoError("bad_count", "EXIF tag %s claims %d values, more than the %d-byte EXIF data holds"
                         % (tag, n, len(data)))
    if total <= 4:
        raw = data[pos + 8:pos + 8 + total]
    else:
        (where,) = _WORD[bo].unpack_from(data, pos + 8)
        if where + total > len(data):
            raise PhotoError("bad_offset", "EXIF tag %s points at offset %d, past the end of the %d-byte EXIF data"
                             % (tag, where, len(data)))
        raw = data[where:where + total]
    if tag in BLOBS:
        return bytes(raw) if kind in (1, 2, 6, 7) else None
    if kind in (2, 7):
        if kind == 2:
            return raw.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()
        return raw
    if kind in (5, 10):
        pairs = struct.unpack(bo + code[0] * (2 * n), raw)
        return [(pairs[2 * i] / pairs[2 * i + 1]) if pairs[2 * i + 1] else None for i in range(n)]
    return list(struct.unpack(bo + code * n, raw))


def first(ifd: Dict[str, Any], name: str) -> Optional[float]:
    """The first value of a numeric tag, or None: also when the photo stored the tag with a
    text or byte type, or as a float that is not finite (a rule must never compare a string
    with a number, nor write NaN into a layer)."""
    value = ifd.get(name)
    if isinstance(value, list) and value:
        head = value[0]
        if isinstance(head, (int, float)) and not isinstance(head, bool) and math.isfinite(head):
            return head
    return None


def values(ifd: Dict[str, Any], name: str) -> List[Any]:
    value = ifd.get(name)
    return value if isinstance(value, list) else []
