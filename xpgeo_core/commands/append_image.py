"""``xpgeo append-image --name=NAME --image-url=URL``."""

from __future__ import annotations

import argparse

from xpgeo_core.catalogue import APPEND_IMAGE as TOOL
from xpgeo_core.commands._report import exit_code, print_summary, response_text


def run(args: argparse.Namespace, ctx) -> int:
    report = TOOL.run(ctx.call())
    ctx.say(f"Append image response: {response_text(report)}")
    print_summary(ctx, report)
    ctx.emit_json({"ok": report.ok, **report.to_dict()})
    return exit_code(report)
