"""Shared printing of append results for the append commands."""

from __future__ import annotations

import json
from typing import Any

from xpgeo_core.errors import EXIT_CANCELLED, EXIT_OK, EXIT_SOME_FAILED
from xpgeo_core.results import FAILED, AppendReport


def response_text(report: AppendReport) -> str:
    """The server's answer as the reference client prints it (``true``, ``response: true``).

    A backend without a server answer of that kind (local, portal) gets ``true``/``false`` for
    what it did; a run that sent nothing (a rerun: every image already there) says so, rather than
    print an answer no server gave."""
    if report.responses:
        return " | ".join(_one(r) for r in report.responses)
    if report.appended == 0:
        return (f"nothing sent ({report.skipped} image(s) already in the layer"
                + (f", {report.failed} failed before sending" if report.failed else "") + ")")
    return "true" if report.ok else "false"


def _one(response: Any) -> str:
    if isinstance(response, str):
        return response
    return json.dumps(response, separators=(",", ":"))


def print_summary(ctx, report: AppendReport) -> None:
    unconfirmed = f", not confirmed {report.unconfirmed}" if report.unconfirmed else ""
    ctx.say(f"Appended {report.appended}, skipped {report.skipped} (already in the layer), "
            f"failed {report.failed}{unconfirmed} of {report.total} image(s) in layer '{report.layer_name}'.")
    if report.duplicates_removed:
        ctx.say(f"Removed {report.duplicates_removed} duplicate URL(s) from the list.")
    for r in report.failures():
        where = f"line {r.line}: " if r.line else ""
        label = "failed" if r.status == FAILED else "not confirmed"
        ctx.say(f"  {label} {where}{r.shown}: {r.reason}")  # the display form: no credentials, no query
    viewer = report.viewer
    if viewer and viewer.get("photos"):
        ctx.say(f"Viewer check ({viewer['mode']}): {viewer['checked']} of {viewer['photos']} photo(s) checked with "
                f"their host, {viewer['not_ready']} not viewer-ready"
                + (" (see the warnings for each and its fix)." if viewer["not_ready"] else "."))


def exit_code(report: AppendReport) -> int:
    if report.cancelled:
        return EXIT_CANCELLED  # 130, as a shell reports Ctrl+C
    return EXIT_OK if report.ok else EXIT_SOME_FAILED
