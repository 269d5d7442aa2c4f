"""``xpgeo inspect SOURCE... [--file LIST] [--json] [--imagery-type T]`` (metadata engine).

Human output: one table row per photo as soon as it is read, its warnings indented below.
``--json``: one array, one object per source in input order (see
:meth:`xpgeo_core.metadata.PhotoInfo.to_dict`). Exit 0 when every photo was read and
placed, 1 when some failed, 2 for usage errors.
"""

from __future__ import annotations

import argparse
from typing import Any, List, Optional, Sequence

from xpgeo_core.catalogue import INSPECT as TOOL, ToolCall
from xpgeo_core.errors import EXIT_OK, EXIT_SOME_FAILED, ValidationError
from xpgeo_core.image_lists import read_list_file
from xpgeo_core.urls import safe_url

COLUMNS = (("Name", 24), ("Y (lat)", 12), ("X (lon)", 13), ("Z", 8), ("Heading", 9), ("Pitch", 6),
           ("HFOV", 6), ("VFOV", 6), ("Type", 10), ("AcquisitionDate", 24), ("Bytes", 8))


def run(args: argparse.Namespace, ctx) -> int:
    sources = list(args.sources or [])
    if args.list_file:
        sources.extend(text for _, text in read_list_file(args.list_file))
    if not sources:
        raise ValidationError("No photos to inspect.", hint="Give photo URLs or paths, or --file LIST.")
    call = ctx.call()
    results = TOOL.run(ToolCall(call.settings, dict(call.values, sources=sources)))
    failed = 0
    documents = []
    if not ctx.json:
        ctx.say(_row([title for title, _ in COLUMNS]))
    for info in results:
        failed += 0 if info.ok else 1
        if ctx.json:
            documents.append(info.to_dict())
            continue
        ctx.say(_row(_cells(info)))
        if not info.ok:
            ctx.say(f"    error: {info.error}")
        for warning in info.warnings:
            ctx.say(f"    warning: {warning}")
    ctx.emit_json(documents)
    ctx.say(f"{len(sources) - failed} of {len(sources)} photo(s) can be placed; {failed} failed.")
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _fmt(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _cells(info) -> List[str]:
    a = info.attributes
    heading = _fmt(a.get("CameraHeading"), 1)
    if a.get("CameraHeadingReference") == "M":
        heading += "M"
    name = a.get("Name") or safe_url(info.source)  # never the URL's user:password or signature
    if not info.ok:
        name = "!" + name
    return [name, _fmt(a.get("Y"), 7), _fmt(a.get("X"), 7), _fmt(a.get("Z"), 1), heading,
            _fmt(a.get("CameraPitch"), 1), _fmt(a.get("HorizontalFieldOfView"), 1),
            _fmt(a.get("VerticalFieldOfView"), 1), _fmt(a.get("OrientedImageryType"), 0),
            _fmt(a.get("AcquisitionDate"), 0), str(info.bytes_read)]


def _row(cells: Sequence[Optional[str]]) -> str:
    out = []
    for (title, width), cell in zip(COLUMNS, cells):
        text = str(cell)
        if len(text) > width:
            text = text[:width - 1] + "…"
        out.append(text.ljust(width))
    return " ".join(out).rstrip()
