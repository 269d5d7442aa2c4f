"""``xpgeo create-oi-layer --name=NAME [--imagery-type=T]``."""

from __future__ import annotations

import argparse

from xpgeo_core.catalogue import CREATE_LAYER as TOOL, compact_json
from xpgeo_core.errors import EXIT_OK


def run(args: argparse.Namespace, ctx) -> int:
    ctx.say(f"Starting layer creation for '{args.layer_name}'...")
    created = TOOL.run(ctx.call())
    ctx.say(f"Create layer response: {compact_json(created.response or _reference_shape(created))}")
    ctx.emit_json({"ok": True, **created.to_dict()})
    return EXIT_OK


def _reference_shape(created) -> dict:
    """The XPGEO server's create answer, for backends that do not have one."""
    return {"serviceName": created.layer_name, "serviceItemId": created.item_id,
            "serviceType": created.service_type, "layer": created.layer or {"name": created.layer_name, "id": 0}}
