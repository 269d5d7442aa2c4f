"""Health check -> create layer -> append images, through :mod:`xpgeo_core.operations`.

The demo takes no shortcut: it calls the same operations as the tools and the command
line, so a demo that works says the installation works.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from xpgeo_core import operations
from xpgeo_core.results import (FAILED, AppendReport, CreateResult, HealthResult, ProgressCallback, failure_entries,
                                no_progress)
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
             progress: ProgressCallback = no_progress, step: Optional[StepCallback] = None,
             photos: Optional[Mapping[str, Tuple[str, bytes]]] = None) -> DemoResult:
    """Run the whole job on *urls* with the backend *settings* call for.

    *photos* maps each URL to its (file name, bytes): the preview gets copies of them in
    its folder, so it still shows the photos once the run (and its loopback server) is over.
    """
    step = step or (lambda _stage, _value: None)
    health = operations.health_check(settings)
    step("health", health)
    step("creating", name)
    created = operations.create_layer(settings, name)
    step("created", created)
    if photos and created.backend == "local" and created.service_url:
        _copy_photos(Path(created.service_url), urls, photos)  # before the append writes the preview
    step("appending", (created.layer_name, len(urls)))
    report = operations.append_images(settings, created.layer_name, urls=list(urls), progress=progress)
    preview = report.extra.get("preview") if report.extra else None
    if not preview:
        preview = write_preview(settings, created.layer_name, urls, report, photos=photos)
    return DemoResult(backend=health.backend, photos_url=photos_url, health=health, created=created,
                      report=report, preview=preview)


def _copy_photos(folder: Path, urls: Sequence[str], photos: Mapping[str, Tuple[str, bytes]]) -> None:
    from xpgeo_core.preview import save_photo_copies

    try:
        save_photo_copies(folder, [(url, *photos[url]) for url in urls if url in photos])
    except OSError as exc:
        log.warning("The demo photos could not be copied to %s (the preview will not show them): %s",
                    folder, exc.strerror or exc)


def preview_folder(settings: Settings, layer_name: str) -> Path:
    """Where the demo's preview lives for backends that do not write one (portal, XPGEO server)."""
    from xpgeo_core.backends.names import folder_name

    return Path(settings.output_dir or "xpgeo-layers").expanduser().resolve() / f"{folder_name(layer_name)}-preview"


def write_preview(settings: Settings, layer_name: str, urls: Sequence[str], report: AppendReport, *,
                  photos: Optional[Mapping[str, Tuple[str, bytes]]] = None) -> Optional[str]:
    """A preview for backends that do not write one (portal, XPGEO server), in its own folder
    beside the local layers, with copies of the photos.

    The photos' attributes are read again here with the metadata engine: those backends
    do not hand them back.
    """
    from xpgeo_core.backends.local import PREVIEW_FILE, feature_from_attributes
    from xpgeo_core.files import atomic_write
    from xpgeo_core.preview import render_preview

    appended = {r.url for r in report.results if r.status != FAILED}
    features: List[Dict[str, Any]] = []
    for info in operations.inspect_photos(settings, [u for u in urls if u in appended]):
        if info.ok and info.attributes.get("X") is not None:
            attributes = dict(info.attributes, ImagePath=info.source)
            features.append(feature_from_attributes(attributes, len(features) + 1))
    failures = failure_entries(report.results)
    folder = preview_folder(settings, layer_name)
    path = folder / PREVIEW_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if photos:
            _copy_photos(folder, urls, photos)
        atomic_write(path, render_preview(layer_name, features, failures, folder=folder))
    except OSError as exc:
        log.warning("The preview could not be written to %s: %s", path, exc.strerror or exc)
        return None
    return str(path)
