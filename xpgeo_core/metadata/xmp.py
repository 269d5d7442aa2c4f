"""XMP reader: the properties of the namespaces the attribute rules use, safely.

Safety (why this module refuses rather than parses): a photo's XMP comes from anyone on
the internet. A DOCTYPE can declare entities that expand a few bytes into gigabytes
("billion laughs") or pull in external files. The standard library's expat parser has no
switch to forbid them everywhere Pro runs, so any ``<!DOCTYPE`` or ``<!ENTITY`` is refused
before parsing; without a DOCTYPE no entity can be declared, and an undeclared one is a
parse error. That check only holds if the parser reads the same characters as the check:
XMP in a JPEG is UTF-8 (XMP specification part 3), so the packet is decoded as UTF-8 (or
refused), checked, and the parser is given that text, whatever BOM or ``encoding=``
declaration the packet carries (a UTF-16 or EBCDIC packet would otherwise hide a DOCTYPE from
a check on its bytes). Oversized packets are refused too.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Dict, Optional, Tuple

from xpgeo_core import safe_xml
from xpgeo_core.metadata import vendors

NAMESPACES = {
    "http://ns.google.com/photos/1.0/panorama/": "GPano",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    **vendors.namespaces(),  # drone-dji, drone-parrot, drone-skydio, Camera (Pix4D, senseFly)
}
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
MAX_XMP_BYTES = 2 * 1024 * 1024
_UNSAFE_BYTES = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)  # the plain case, outside the envelope too


class XmpRefused(ValueError):
    """The packet was not parsed; the message says why (it becomes a photo warning)."""


def read_xmp(packet: bytes) -> Dict[str, str]:
    """``{"drone-dji:GimbalYawDegree": "+12.30", "GPano:ProjectionType": ..., ...}``.

    Properties may be attributes of ``rdf:Description`` or child elements (the first
    ``rdf:li`` of an ``rdf:Seq``/``rdf:Alt`` stands for a list). A structure (Skydio's
    ``CameraOrientationNED``) gives one entry per field, ``prefix:Struct/Field``, whether its
    fields are attributes, ``rdf:parseType="Resource"`` children or an inner
    ``rdf:Description``. Unknown namespaces are dropped. Raises :class:`XmpRefused` for unsafe, oversized or malformed packets.
    """
    if len(packet) > MAX_XMP_BYTES:
        raise XmpRefused("XMP packet of %d bytes is larger than %d bytes; ignored" % (len(packet), MAX_XMP_BYTES))
    if _UNSAFE_BYTES.search(packet):
        raise XmpRefused("XMP declares a DOCTYPE or entities; refused for safety and ignored")
    try:
        # The check below and the parser must see the same characters: the parser gets the
        # decoded text, so no BOM or encoding= declaration can make it read other ones. Only
        # the envelope is decoded: padding or a cut character after it does not cost the packet.
        text = _envelope(packet).decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise XmpRefused("XMP is not UTF-8 text (XMP in a JPEG must be UTF-8); ignored") from None
    try:
        root = safe_xml.parse_text(text)
    except safe_xml.XmlRefused as exc:
        raise XmpRefused(f"XMP {exc} and ignored" if exc.unsafe else f"XMP {exc}; ignored") from None
    found: Dict[str, str] = {}
    for desc in root.iter("{%s}Description" % RDF):
        for key, value in desc.attrib.items():
            name = _short(key)
            if name:
                found.setdefault(name, value.strip())
        for child in desc:
            name = _short(child.tag)
            if name:
                value_text = _text(child)
                if value_text is not None:
                    found.setdefault(name, value_text)
                else:
                    _struct_fields(child, name, found)
    return found


def _struct_fields(element: ET.Element, name: str, found: Dict[str, str]) -> None:
    """The fields of a structure property, one level deep, as ``name/Field``."""
    holders = [element] + [d for d in element if d.tag == "{%s}Description" % RDF]
    for holder in holders:
        for key, value in holder.attrib.items():
            field = _short(key)
            if field:
                found.setdefault(name + "/" + field.partition(":")[2], value.strip())
        for child in holder:
            field = _short(child.tag)
            if field and child.text and child.text.strip():
                found.setdefault(name + "/" + field.partition(":")[2], child.text.strip())


def _envelope(packet: bytes) -> bytes:
    """The ``x:xmpmeta`` element (or ``rdf:RDF``), without xpacket wrappers or padding; the
    whole packet when neither is there (a UTF-16 one, say, which the decoding then refuses)."""
    for start_tag, end_tag in ((b"<x:xmpmeta", b"</x:xmpmeta>"), (b"<rdf:RDF", b"</rdf:RDF>")):
        start = packet.find(start_tag)
        end = packet.rfind(end_tag)
        if start >= 0 and end > start:
            return packet[start:end + len(end_tag)]
    return packet.strip(b"\x00 \r\n\t")


def _short(qualified: str) -> Optional[str]:
    if not qualified.startswith("{"):
        return None
    uri, _, local = qualified[1:].partition("}")
    prefix = NAMESPACES.get(uri)
    return prefix + ":" + local if prefix else None


def _text(element: ET.Element) -> Optional[str]:
    if element.text and element.text.strip():
        return element.text.strip()
    for li in element.iter("{%s}li" % RDF):
        if li.text and li.text.strip():
            return li.text.strip()
    return None


def parse_number(text: Optional[str]) -> Optional[float]:
    """XMP numbers: ``+12.30``, ``-89.9``, or rationals ``1763/10``. None when not a finite number."""
    if text is None:
        return None
    text = text.strip()
    try:
        if "/" in text:
            num, _, den = text.partition("/")
            den_value = float(den)
            if den_value == 0:
                return None
            value = float(num) / den_value
        else:
            value = float(text)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value


_ADOBE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*,\s*(\d+(?:\.\d+)?)\s*(?:,\s*(\d+(?:\.\d+)?)\s*)?([NSEWnsew])\s*$")


def parse_coordinate(text: Optional[str]) -> Tuple[Optional[float], Optional[str]]:
    """XMP ``exif:GPSLatitude``: Adobe's ``DDD,MM.mmmK`` or ``DDD,MM,SSK``; also plain decimal degrees.

    Returns (signed degrees, None) or (None, reason).
    """
    if text is None:
        return None, None
    match = _ADOBE.match(text)
    if match:
        deg, minutes, seconds, ref = match.groups()
        value = float(deg) + float(minutes) / 60 + (float(seconds) / 3600 if seconds else 0.0)
        return (-value if ref.upper() in "SW" else value), None
    number = parse_number(text)
    if number is None:
        return None, "unreadable XMP coordinate %r" % text[:40]
    return number, None
