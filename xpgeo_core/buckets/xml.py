"""A store's XML answer (S3 ListObjectsV2, Azure List Blobs, their error bodies), parsed safely.

Why refuse rather than parse: the answer comes from a server named by the person, possibly not
the store it claims to be. A DOCTYPE can declare entities that grow a few bytes into gigabytes or
pull in files, and the standard library's expat has no switch to forbid them on every Python
XPGEO runs on; so, as :mod:`xpgeo_core.metadata.xmp` does, any ``<!DOCTYPE``/``<!ENTITY`` is
refused before parsing, the parser is given the very text that was checked (decoded as UTF-8, as
both stores send it), and an oversized answer is refused too.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

MAX_ANSWER_BYTES = 32 * 1024 * 1024
"""A page of 1,000 keys is well under 1 MB; more than this is not a listing."""
_UNSAFE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


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
    if _UNSAFE.search(text):
        raise UnsafeXml("the answer declares a DOCTYPE or entities; refused for safety")
    try:
        parser = ET.XMLParser(encoding="utf-8")
        parser.feed(text)
        root = parser.close()
    except (ET.ParseError, ValueError) as exc:
        raise UnsafeXml(f"the answer is not well-formed XML ({exc})") from None
    return root


def namespace(root: ET.Element) -> str:
    """``{uri}`` of the root's tag (S3 answers carry one, Azure none), to prefix the tags looked for."""
    tag = root.tag if isinstance(root.tag, str) else ""
    return tag[: tag.index("}") + 1] if tag.startswith("{") else ""
