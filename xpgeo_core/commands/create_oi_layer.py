"""``xpgeo create-oi-layer --name=NAME [--imagery-type=T]``."""

from __future__ import annotations

import argparse

from xpgeo_core import operations
from xpgeo_core.errors import EXIT_OK
from xpgeo_core.settings import IMAGERY_TYPES
from xpgeo_core.toolbox import compact_json

NAME = "create-oi-layer"
HELP = "create an Oriented Imagery layer (a taken name gets a timestamp)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="layer (feature service) name")
    parser.add_argument("--imagery-type", metavar="TYPE", help="one of " + ", ".join(IMAGERY_TYPES))


def run(args: argparse.Namespace, ctx) -> int:
    ctx.say(f"Starting layer creation for '{args.name}'...")
    created = operations.create_layer(ctx.settings(), args.name, args.imagery_type)
    ctx.say(f"Create layer response: {compact_json(created.response or _reference_shape(created))}")
    if created.renamed:
        ctx.say(f"Note: the name '{args.name}' was taken or cleaned; the layer is '{created.layer_name}'.")
    ctx.emit_json({"ok": True, **created.to_dict()})
    return EXIT_OK


def _reference_shape(created) -> dict:
    """The XPGEO server's create answer, for backends that do not have one."""
    return {"serviceName": created.layer_name, "serviceItemId": created.item_id,
            "serviceType": created.service_type, "layer": created.layer or {"name": created.layer_name, "id": 0}}
