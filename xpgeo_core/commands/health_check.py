"""``xpgeo health-check``: is the backend up, and can these credentials publish?"""

from __future__ import annotations

import argparse

from xpgeo_core.catalogue import HEALTH_CHECK as TOOL, compact_json
from xpgeo_core.errors import EXIT_OK


def run(args: argparse.Namespace, ctx) -> int:
    health = TOOL.run(ctx.call())
    ctx.say(f"{health.liveness_label} response: {health.liveness_message}")
    ctx.say(f"Health check response: Validation response: {compact_json(health.versions)}")
    viewer = health.details.get("viewer")
    if viewer:
        found = viewer["issues"]
        ctx.say(f"Viewer check of {viewer['url']} for {viewer['viewer']}: "
                + ("ready." if not found else "; ".join(issue["message"] for issue in found) + "."))
    ctx.emit_json({"ok": True, **health.to_dict()})
    return EXIT_OK
