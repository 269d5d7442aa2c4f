"""``xpgeo health-check``: is the backend up, and can these credentials publish?"""

from __future__ import annotations

import argparse

from xpgeo_core import operations
from xpgeo_core.errors import EXIT_OK
from xpgeo_core.toolbox import compact_json

NAME = "health-check"
HELP = "check the backend is reachable and the credentials can create layers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments of its own."""


def run(args: argparse.Namespace, ctx) -> int:
    health = operations.health_check(ctx.settings())
    ctx.say(f"{health.liveness_label} response: {health.liveness_message}")
    ctx.say(f"Health check response: Validation response: {compact_json(health.versions)}")
    ctx.emit_json({"ok": True, **health.to_dict()})
    return EXIT_OK
