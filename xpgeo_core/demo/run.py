"""Health check -> create layer -> append images, through :mod:`xpgeo_core.operations`.

The demo takes no shortcut: it calls the same operations as the tools and the command
line, so a demo that works says the installation works.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

from xpgeo_core import operations
from xpgeo_core.results import AppendReport, CreateResult, HealthResult, ProgressCallback, no_progress
from xpgeo_core.settings import Settings

log = logging.getLogger("xpgeo.demo")

DEFAULT_NAME = "xpgeo_demo"
StepCallback = Callable[[str, Any], None]
"""Told ``("health", HealthResult)``, ``("creating", name)``, ``("created", CreateResult)``, ``("appending", (layer name, count))``
as they happen, so a caller can print each step before the next one starts."""


@dataclass
class DemoResult:
    backend: str
    photos_url: str
    health: HealthResult
    created: CreateResult
    report: AppendReport
    preview: Optional[str]

    @property
    def ok(self) -> bool:
        return self.report.ok

    def to_dict(self) -> Dict[str, Any]:
        return {"ok": self.ok, "backend": self.backend, "photos_url": self.photos_url,
                "health": self.health.to_dict(), "created": self.created.to_dict(),
                "append": self.report.to_dict(), "preview": self.preview}


def demo_settings(settings: Settings) -> Settings:
    """The demo's backend: local unless one was asked for explicitly (flag or tool parameter).

    Why not the configured default: a person trying XPGEO on a machine set up for
    production should not find demo layers in the organisation's portal.
    """
    if settings.source_of("backend") == "parameter" and settings.backend != "auto":
        return settings
    return settings.replace(backend="local")


def run_demo(settings: Settings, urls: Sequence[str], photos_url: str, *, name: str = DEFAULT_NAME,
             progress: ProgressCallback = no_progress, step: Optional[StepCallback] = None) -> DemoResult:
    """Run the whole job on *urls* with the backend *settings* call for."""
    step = step or (lambda _stage, _value: None)
    health = operations.health_check(settings)
    step("health", health)
    step("creating", name)
    created = operations.create_layer(settings, name)
    step("created", created)
    step("appending", (created.layer_name, len(urls)))
    report = operations.append_images(settings, created.layer_name, urls=list(urls), progress=progress)
    preview = report.extra.get("preview") if report.extra else None
    if not preview:
        preview = write_preview(settings, created.layer_name, urls, report)
    return DemoResult(backend=health.backend, photos_url=photos_url, health=health, created=created,
                      report=report, preview=preview)


def write_preview(settings: Settings, layer_name: str, urls: Sequence[str], report: AppendReport) -> Optional[str]:
    """A preview for backends that do not write one (portal, XPGEO server), beside the local layers.

    The photos' attributes are read again here with the metadata engine: those backends
    do not hand them back.
    """
    from xpgeo_core.backends.local import atomic_write, feature_from_attributes, folder_name
    from xpgeo_core.preview import render_preview

    appended = {r.url for r in report.results if r.status != "failed"}
    features = []
    for info in operations.inspect_photos(settings, [u for u in urls if u in appended]):
        if info.ok and info.attributes.get("X") is not None:
            attributes = dict(info.attributes, ImagePath=info.source)
            features.append(feature_from_attributes(attributes, len(features) + 1))
    failures = [{"url": r.url, "reason": r.reason, "line": r.line} for r in report.failures()]
    folder = Path(settings.output_dir or "xpgeo-layers").expanduser().resolve()
    path = folder / f"{folder_name(layer_name)}-preview.html"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, render_preview(layer_name, features, failures))
    except OSError as exc:
        log.warning("The preview could not be written to %s: %s", path, exc.strerror or exc)
        return None
    return str(path)
