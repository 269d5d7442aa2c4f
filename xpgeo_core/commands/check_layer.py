"""``xpgeo check-layer --name=LAYER [--check-viewer sample|all] [--require-viewer-ready]``.

Each photo the viewer could not open is a warning on stderr with its fix (and, for CORS, the rule to
paste); stdout ends with one summary line. Exit 0, or 1 when ``--require-viewer-ready`` and a photo
is not viewer-ready.
"""

from __future__ import annotations

import argparse

from xpgeo_core.catalogue import CHECK_LAYER as TOOL
from xpgeo_core.commands._progress import progress_printer
from xpgeo_core.errors import EXIT_OK, EXIT_SOME_FAILED


def run(args: argparse.Namespace, ctx) -> int:
    with progress_printer(ctx) as progress:
        report = TOOL.run(ctx.call(progress))
    summary = report.summary
    origins = ", ".join(summary.get("origins") or []) or "no CORS origin"
    ctx.say(f"Checked {report.checked} of {len(report.photos)} photo(s) of layer '{report.layer_name}' for "
            f"{summary.get('viewer')} ({origins}): {len(report.problems)} not viewer-ready.")
    for photo in report.problems:
        ctx.say(f"  {photo.display}: " + "; ".join(issue.message for issue in photo.issues))
    ctx.emit_json({"ok": report.ok, **report.to_dict()})
    return EXIT_OK if report.ok else EXIT_SOME_FAILED
