"""``xpgeo inspect SOURCE... [--file LIST] [--json] [--imagery-type T]`` (metadata engine)."""

from __future__ import annotations

import argparse

NAME = "inspect"
HELP = "read photos' headers and show their Oriented Imagery attributes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="*", metavar="SOURCE", help="photo URL or local path")
    parser.add_argument("--file", metavar="LIST", help="text file with one photo URL or path per line")
    parser.add_argument("--imagery-type", metavar="TYPE", help="override the detected imagery type")


def run(args: argparse.Namespace, ctx) -> int:
    raise NotImplementedError("inspect: in progress")
