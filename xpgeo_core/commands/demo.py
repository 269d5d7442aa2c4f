"""``xpgeo demo``: make sample photos, serve them on loopback, and run the whole job."""

from __future__ import annotations

import argparse

NAME = "demo"
HELP = "make ~24 sample photos, serve them locally and build an OI layer from them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="xpgeo_demo", help="layer name (default xpgeo_demo)")


def run(args: argparse.Namespace, ctx) -> int:
    raise NotImplementedError("demo: in progress")
