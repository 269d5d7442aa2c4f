"""``xpgeo demo``: make sample photos, serve them on loopback, and run the whole job.

Health check -> create layer -> append images with the local backend (or the one given
with ``--backend``), then the summary and the path of the preview map. The photo server
stops with the run: the preview shows copies of the photos kept in its folder.
``--serve`` then serves that folder over loopback HTTP until Ctrl+C (and, when the demo
layer is already there, serves it rather than building another).
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Optional

from xpgeo_core.commands._progress import progress_printer
from xpgeo_core.commands._report import exit_code, print_summary
from xpgeo_core.demo import PhotoServer, demo_photos, run_demo
from xpgeo_core.demo.run import DEFAULT_NAME, demo_settings, preview_folder
from xpgeo_core.demo.server import FolderServer
from xpgeo_core.preview.preview import PHOTO_FOLDER
from xpgeo_core.catalogue import compact_json
from xpgeo_core.settings import Settings

NAME = "demo"
HELP = "make ~24 sample photos, serve them locally and build an OI layer from them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"layer name (default {DEFAULT_NAME})")
    parser.add_argument("--serve", action="store_true",
                        help="serve the demo layer's folder (its preview and photos) on 127.0.0.1 until Ctrl+C; "
                             "builds the layer first only when it is not there yet")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port for --serve (default {DEFAULT_PORT}; a taken port falls back to a free one)")


DEFAULT_PORT = 8765


def wait_for_interrupt() -> None:
    """Block until Ctrl+C (a test replaces this)."""
    threading.Event().wait()


def existing_preview(settings: Settings, name: str) -> Optional[Path]:
    """The preview of a demo layer already built under *name*, if any."""
    from xpgeo_core.backends.local import LAYER_FILE, PREVIEW_FILE
    from xpgeo_core.backends.names import folder_name

    if settings.backend == "local":
        folder = Path(settings.output_dir or "xpgeo-layers").expanduser().resolve() / folder_name(name)
        if (folder / LAYER_FILE).is_file() and (folder / PREVIEW_FILE).is_file():
            return folder / PREVIEW_FILE
        return None
    page = preview_folder(settings, name) / PREVIEW_FILE
    return page if page.is_file() else None


def serve(ctx, preview: Path, port: int) -> None:
    with FolderServer(preview.parent, port=port) as server:
        ctx.say(f"Serving {preview.parent} at {server.base_url}{preview.name} (loopback only); Ctrl+C stops.")
        try:
            wait_for_interrupt()
        except KeyboardInterrupt:
            pass
        ctx.say("Stopped.")


def run(args: argparse.Namespace, ctx) -> int:
    settings = demo_settings(ctx.settings())
    if args.serve and not ctx.json:
        built = existing_preview(settings, args.name)
        if built is not None:
            ctx.say(f"The demo layer {args.name!r} is already built: serving it (xpgeo demo --name NEW builds another).")
            serve(ctx, built, args.port)
            return 0
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
                          step=step, photos={server.url_for(n): (n, data) for n, data in photos})
        progress.close()
        print_summary(ctx, result.report)
        if result.created.service_url:
            ctx.say(f"Layer: {result.created.service_url}")
        if result.preview:
            ctx.say(f"Preview: {result.preview}")
            copies = Path(result.preview).parent / PHOTO_FOLDER
            if copies.is_dir():
                ctx.say(f"Photos: {copies} (the preview shows these copies; the run's photo server has stopped)")
        ctx.emit_json(result.to_dict())
    # The photo server has stopped here: the preview shows the copies in its folder.
    if args.serve and not ctx.json and result.preview:
        serve(ctx, Path(result.preview), args.port)
    return exit_code(result.report)
