"""``xpgeo append-images --name=NAME --file=PATH [--preflight]``."""

from __future__ import annotations

import argparse

from xpgeo_core.catalogue import APPEND_IMAGES as TOOL
from xpgeo_core.commands._progress import progress_printer
from xpgeo_core.commands._report import exit_code, print_summary, response_text
from xpgeo_core.urls import safe_url


def run(args: argparse.Namespace, ctx) -> int:
    source = args.url_file or (safe_url(args.source) if args.source else None) or args.photo_folder
    ctx.say(f"Appending images from {source} to layer {args.layer_name}...")
    if args.url_file:  # the reference client's lines
        ctx.say("Reading image URLs from file...")
        ctx.say(f"File location: {args.url_file}")
    if args.photo_folder:
        ctx.say(f"Reading photos from folder {args.photo_folder} (sub-folders too, files matching "
                f"{args.photo_filter})...")
    with progress_printer(ctx) as progress:  # ends a live progress line even when the append raises
        report = TOOL.run(ctx.call(progress))
    ctx.say(f"Append images response: {response_text(report)}")
    print_summary(ctx, report)
    ctx.emit_json({"ok": report.ok, **report.to_dict()})
    return exit_code(report)
