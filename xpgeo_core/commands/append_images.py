"""``xpgeo append-images --name=NAME --file=PATH [--preflight]``."""

from __future__ import annotations

import argparse

from xpgeo_core import operations
from xpgeo_core.commands._progress import progress_printer
from xpgeo_core.commands._report import exit_code, print_summary, response_text
from xpgeo_core.settings import IMAGERY_TYPES

NAME = "append-images"
HELP = "append a list of images (one URL per line in a file) to an existing layer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="name of the existing layer")
    parser.add_argument("--file", required=True, metavar="PATH", help="text file with one image URL per line")
    parser.add_argument("--imagery-type", metavar="TYPE", help="override: one of " + ", ".join(IMAGERY_TYPES))
    parser.add_argument("--preflight", action="store_true",
                        help="read every photo's metadata first and report, not send, the ones a layer cannot place")
    parser.add_argument("--max-image-list-size", type=int, metavar="N",
                        help="most URLs per request (default: the MAX_IMAGE_LIST_SIZE setting, 100)")


def run(args: argparse.Namespace, ctx) -> int:
    settings = ctx.settings(max_image_list_size=args.max_image_list_size)
    ctx.say(f"Appending images from {args.file} to layer {args.name}...")
    ctx.say("Reading image URLs from file...")
    ctx.say(f"File location: {args.file}")
    with progress_printer(ctx) as progress:  # ends a live progress line even when the append raises
        report = operations.append_images(settings, args.name, url_file=args.file, imagery_type=args.imagery_type,
                                          preflight=args.preflight, progress=progress)
    ctx.say(f"Append images response: {response_text(report)}")
    print_summary(ctx, report)
    ctx.emit_json({"ok": report.ok, **report.to_dict()})
    return exit_code(report)
