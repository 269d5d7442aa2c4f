"""``xpgeo append-image --name=NAME --image-url=URL``."""

from __future__ import annotations

import argparse

from xpgeo_core import operations
from xpgeo_core.commands._report import exit_code, print_summary, response_text
from xpgeo_core.settings import IMAGERY_TYPES

NAME = "append-image"
HELP = "append one image, by URL, to an existing layer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="name of the existing layer")
    parser.add_argument("--image-url", required=True, metavar="URL", help="http(s) URL of the photo")
    parser.add_argument("--imagery-type", metavar="TYPE", help="override: one of " + ", ".join(IMAGERY_TYPES))


def run(args: argparse.Namespace, ctx) -> int:
    report = operations.append_image(ctx.settings(), args.name, args.image_url, imagery_type=args.imagery_type)
    ctx.say(f"Append image response: {response_text(report)}")
    print_summary(ctx, report)
    ctx.emit_json({"ok": report.ok, **report.to_dict()})
    return exit_code(report)
