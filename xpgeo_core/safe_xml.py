"""XML from others (a photo's XMP, a store's listing), parsed only when it cannot expand or reach out.

Why refuse rather than parse: a DOCTYPE can declare entities that grow a few bytes into gigabytes
("billion laughs") or pull in files, and the standard library's expat has no switch to forbid them on
every Python XPGEO runs on. So any ``<!DOCTYPE`` or ``<!ENTITY`` is refused before parsing; without a
DOCTYPE no entity can be declared, and an undeclared one is a parse error. The check only holds if
the parser reads the very characters that were checked: callers decode the bytes themselves (as UTF-8)
and hand over the text, so no BOM or ``encoding=`` declaration can make the parser read other ones.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

UNSAFE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class XmlRefused(ValueError):
    """The text was not parsed; ``str()`` says why (``declares a DOCTYPE or entities; refused for
    safety``, ``is not well-formed XML (...)``), ``unsafe`` whether it was the DOCTYPE rule."""

    def __init__(self, reason: str, *, unsafe: bool) -> None:
        super().__init__(reason)
        self.unsafe = unsafe


def parse_text(text: str) -> ET.Element:
    """The root element of *text*, or :class:`XmlRefused`."""
    if UNSAFE.search(text):
        raise XmlRefused("declares a DOCTYPE or entities; refused for safety", unsafe=True)
    try:
        parser = ET.XMLParser(encoding="utf-8")
        parser.feed(text)
        return parser.close()
    except (ET.ParseError, ValueError) as exc:
        raise XmlRefused(f"is not well-formed XML ({exc})", unsafe=False) from None
