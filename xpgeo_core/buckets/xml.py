"""A store's XML answer (S3 ListObjectsV2, Azure List Blobs, their error bodies), parsed safely.

The answer comes from a server named by the person, possibly not the store it claims to be: it is
decoded as UTF-8 (as both stores send it) and parsed by :mod:`xpgeo_core.safe_xml`, which refuses a
DOCTYPE or entity declaration before parsing, as for a photo's XMP; an oversized answer is refused too.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from xpgeo_core import safe_xml

MAX_ANSWER_BYTES = 32 * 1024 * 1024
"""A page of 1,000 keys is well under 1 MB; more than this is not a listing."""


class UnsafeXml(ValueError):
    """The answer was not parsed; the message says why."""


def parse(data: bytes) -> ET.Element:
    """The root element of *data* (tags keep their namespace: see :func:`namespace`)."""
    if len(data) > MAX_ANSWER_BYTES:
        raise UnsafeXml(f"the answer is {len(data)} bytes, more than a listing page can be")
    try:
        text = data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise UnsafeXml("the answer is not UTF-8 XML") from None
    try:
        return safe_xml.parse_text(text)
    except safe_xml.XmlRefused as exc:
        raise UnsafeXml(f"the answer {exc}") from None


def namespace(root: ET.Element) -> str:
    """``{uri}`` of the root's tag (S3 answers carry one, Azure none), to prefix the tags looked for."""
    tag = root.tag if isinstance(root.tag, str) else ""
    return tag[: tag.index("}") + 1] if tag.startswith("{") else ""
