"""JPEG segment walker: finds the EXIF and XMP APP1 segments and the frame size.

It walks marker segments from SOI and stops as soon as the metadata is complete: at the
start of scan (SOS, after which no metadata may follow), or earlier when the EXIF and XMP
segments have been read and the frame size is known or not needed (EXIF holds the pixel
dimensions for the 35 mm formula, or there is no focal length formula to use it with; the
focal plane formula always wants it, to catch resized photos). Why stop early: DJI thermal photos carry 600 KB of radiometric APP segments
between the XMP and the frame header; reading them would cost ten times the bytes.
An XMP packet inside the EXIF (TIFF tag 700 in IFD0 or the Exif IFD, DJI's thermal payloads)
counts as the XMP once the walk reaches bytes not yet read: an APP1 XMP right behind the EXIF
is still read (the engine merges both), a search through megabytes of thermal data for one is
not made.

Segments it does not need are skipped by their length, unread: only their 4-byte header
(and, for APP1, the identifier after it) is looked at, so a long run of large segments costs
one small read each, never their bodies.

The walker reads through a :class:`ByteSource` (``read(offset, size)``), so the fetcher
decides how bytes arrive (range requests, a stream, a file) and never has to hold more
than the header.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Protocol, Tuple

from xpgeo_core.metadata.photo import PhotoError
from xpgeo_core.metadata.tiff import read_exif, xmp_packets

EXIF_ID = b"Exif\x00\x00"
XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}


class ByteSource(Protocol):
    def read(self, offset: int, size: int) -> bytes:
        """Up to *size* bytes at *offset*; fewer only at the end of the file."""

    def cached(self, offset: int, size: int) -> bool:
        """True when reading those bytes needs no fetch (optional: assumed False when absent)."""


@dataclass
class JpegHeader:
    """What the walk found. ``exif`` is the decoded IFDs (see :func:`read_exif`)."""

    exif: Optional[Dict[str, Dict[str, Any]]] = None
    xmp: Optional[bytes] = None
    frame_size: Optional[Tuple[int, int]] = None
    warnings: List[str] = field(default_factory=list)


def format_of(head: bytes) -> str:
    """What a body is, from its first bytes (the extension says nothing): ``jpeg``, ``tiff``, ``mrf``,
    ``png``, ``gif``, ``heic`` (the ISO-BMFF family: HEIC, AVIF, MP4), ``webp``, ``html``, ``xml``,
    ``json``, ``empty`` or ``unknown``."""
    stripped = head.lstrip()[:64].lower()
    if not head:
        return "empty"
    if head[:3] == b"\xff\xd8\xff" or head[:2] == b"\xff\xd8":
        return "jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "tiff"
    if stripped.startswith(b"<mrf_meta") or (stripped.startswith(b"<?xml") and b"<mrf_meta" in head.lower()):
        return "mrf"  # Esri's Meta Raster Format: an XML metadata file beside its index and data files
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in stripped:
        return "html"
    if stripped.startswith((b"<?xml", b"<")):
        return "xml"
    if stripped.startswith((b"{", b"[")):
        return "json"
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[4:8] == b"ftyp":
        return "heic"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return "unknown"


_NOT_JPEG = {
    "empty": "the file is empty%s",
    "html": "this is an HTML page, not a JPEG%s: the URL may point at a web page or an error page",
    "xml": "this is XML/text, not a JPEG%s (an error document from the server?)",
    "mrf": "this is an MRF raster's metadata file, not a JPEG%s; XPGEO reads JPEG photos",
    "json": "this is JSON/text, not a JPEG%s (an error document from the server?)",
    "png": "this is a PNG image, not a JPEG%s: PNG has no EXIF GPS for Oriented Imagery",
    "gif": "this is a GIF image, not a JPEG%s",
    "tiff": "this is a TIFF image, not a JPEG%s; XPGEO reads JPEG photos",
    "heic": "this is an HEIC/MP4-family file, not a JPEG%s; export the photos as JPEG",
    "webp": "this is a WebP image, not a JPEG%s; export the photos as JPEG",
}


def describe_non_jpeg(head: bytes, content_type: Optional[str] = None) -> str:
    """Name what a non-JPEG body is, so the person knows what the URL really serves."""
    served = " (served as %s)" % content_type if content_type else ""
    kind = format_of(head)
    return _NOT_JPEG.get(kind, "this is not a JPEG (it does not start with the JPEG SOI marker FF D8)%s") % served


def walk(source: ByteSource, content_type: Optional[str] = None) -> JpegHeader:
    """Read the header of the JPEG behind *source*. Raises :class:`PhotoError`."""
    head = source.read(0, 16)
    if len(head) < 2 or head[:2] != b"\xff\xd8":
        raise PhotoError("not_jpeg", describe_non_jpeg(head, content_type or getattr(source, "content_type", None)))
    found = JpegHeader()
    cached = getattr(source, "cached", None) or (lambda offset, size: False)
    pos = 2
    while True:
        marker = source.read(pos, 4)
        if len(marker) < 2:
            raise PhotoError("truncated", "the file ends at byte %d, inside the JPEG header (before the image data)"
                             % (pos + len(marker)))
        if marker[0] != 0xFF:
            raise PhotoError("bad_segment", "no JPEG marker at byte %d where a segment should start: "
                             "the file is corrupt" % pos)
        code = marker[1]
        if code == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if code in STANDALONE:
            pos += 2
            continue
        if code == 0xD9:
            found.warnings.append("the JPEG ends (EOI) before any image data")
            return found
        if code == 0xDA:
            return found
        if len(marker) < 4:
            raise PhotoError("truncated", "the file ends at byte %d, inside a JPEG segment header"
                             % (pos + len(marker)))
        (length,) = struct.unpack(">H", marker[2:4])
        if length < 2:
            raise PhotoError("bad_segment", "the JPEG segment at byte %d has an impossible length %d" % (pos, length))
        if code == 0xE1 and length - 2 >= len(EXIF_ID):
            # Only EXIF and XMP APP1s are read; others (FLIR, extended XMP) are skipped unread.
            # Only the first of each is used, so a second EXIF or XMP APP1 is skipped unread too.
            ident = source.read(pos + 4, len(XMP_ID))
            wanted = (ident.startswith(EXIF_ID) and found.exif is None) or (ident == XMP_ID and found.xmp is None)
        else:
            wanted = code in SOF_MARKERS
        if wanted:
            payload = source.read(pos + 4, length - 2)
            if len(payload) < length - 2:
                raise PhotoError("truncated", "the file ends at byte %d, inside the JPEG segment that starts at "
                                 "byte %d (%d bytes long)" % (pos + 4 + len(payload), pos, length + 2))
            _take(found, code, payload)
        pos += 2 + length
        if _complete(found) or (_complete(found, xmp_in_exif=True) and not cached(pos, 4)):
            return found


def _take(found: JpegHeader, code: int, payload: bytes) -> None:
    if code in SOF_MARKERS:
        if found.frame_size is None and len(payload) >= 5:
            height, width = struct.unpack(">HH", payload[1:5])
            if width and height:
                found.frame_size = (width, height)
    elif payload.startswith(EXIF_ID):
        if found.exif is None:
            found.exif = read_exif(payload[len(EXIF_ID):])
    elif payload.startswith(XMP_ID):
        if found.xmp is None:
            found.xmp = payload[len(XMP_ID):]


def _complete(found: JpegHeader, xmp_in_exif: bool = False) -> bool:
    """EXIF and XMP read (with *xmp_in_exif*, an EXIF tag 700 packet stands for the XMP), and the
    frame size known, or made unnecessary by EXIF pixel dimensions or by the absence of anything
    to compute a field of view from."""
    if found.exif is None:
        return False
    if found.xmp is None and not (xmp_in_exif and xmp_packets(found.exif)):
        return False
    if found.frame_size is not None:
        return True
    exif_ifd = found.exif.get("exif", {})
    f35 = exif_ifd.get("FocalLengthIn35mmFilm")
    if f35 and f35[0]:  # the 35 mm formula needs only the aspect ratio, which EXIF pixel sizes give
        return bool(exif_ifd.get("PixelXDimension") and exif_ifd.get("PixelYDimension"))
    # the focal plane formula checks EXIF's pixel size against the image's own (resized photos)
    return not exif_ifd.get("FocalPlaneXResolution")
