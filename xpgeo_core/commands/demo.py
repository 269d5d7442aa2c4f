"""``xpgeo demo``: make sample photos, serve them on loopback, and run the whole job.

Health check -> create layer -> append images with the local backend (or the one given
with ``--backend``), then the summary and the path of the preview map.
"""

from __future__ import annotations

import argparse
import threading

from xpgeo_core.commands._progress import progress_printer
from xpgeo_core.commands._report import exit_code, print_summary
from xpgeo_core.demo import PhotoServer, demo_photos, run_demo
from xpgeo_core.demo.run import DEFAULT_NAME, demo_settings
from xpgeo_core.catalogue import compact_json

NAME = "demo"
HELP = "make ~24 sample photos, serve them locally and build an OI layer from them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"layer name (default {DEFAULT_NAME})")
    parser.add_argument("--serve", action="store_true",
                        help="keep serving the photos after the run (until Ctrl+C), so the preview can show them")


def run(args: argparse.Namespace, ctx) -> int:
    settings = demo_settings(ctx.settings())
    photos = demo_photos()
    with PhotoServer(dict(photos)) as server, progress_printer(ctx) as progress:
        ctx.say(f"Serving {len(photos)} sample photos at {server.base_url} (loopback only).")

        def step(stage: str, value) -> None:
            if stage == "health":
                ctx.say(f"{value.liveness_label} response: {value.liveness_message}")
                ctx.say(f"Health check response: Validation response: {compact_json(value.versions)}")
            elif stage == "creating":
                ctx.say(f"Starting layer creation for '{value}'...")
            elif stage == "created":
                ctx.say(f"Create layer response: {compact_json(value.response or value.to_dict())}")
            elif stage == "appending":
                ctx.say(f"Appending {value[1]} images to layer {value[0]}...")

        result = run_demo(settings, server.urls(), server.base_url, name=args.name, progress=progress,
                          step=step)
        progress.close()
        print_summary(ctx, result.report)
        if result.created.service_url:
            ctx.say(f"Layer: {result.created.service_url}")
        if result.preview:
            ctx.say(f"Preview: {result.preview}")
        ctx.emit_json(result.to_dict())
        if args.serve and not ctx.json:
            ctx.say("Serving the photos until Ctrl+C: open the preview now to see them.")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                ctx.say("Stopped.")
    return exit_code(result.report)
