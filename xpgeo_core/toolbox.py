"""The ArcGIS Pro tools, declared once, without arcpy.

``XPGEO.pyt`` turns :data:`TOOLS` into ``arcpy.Parameter`` objects, reads their values
by *name* into a dict, calls :func:`run_tool`, and writes the returned derived outputs
back by name. Validation for ``updateMessages`` is :func:`validate_tool`. Keeping the
declarations here, as data, means the contract tests, the ``.pyt.xml`` check and
``docs/tools.md`` all read the same list, and nothing is indexed by position across
files.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from xpgeo_core import operations
from xpgeo_core.backends import choose_backend_name
from xpgeo_core.errors import ConfigError
from xpgeo_core.results import AppendReport, CreateResult, HealthResult, ProgressCallback, no_progress
from xpgeo_core.settings import IMAGERY_TYPES, Settings, load_settings
from xpgeo_core.urls import image_url_problem, layer_name_problem

log = logging.getLogger("xpgeo")

WEB_TOOL_SAFE_TYPES = frozenset(
    ["GPString", "GPStringHidden", "GPEncryptedString", "GPLong", "GPDouble", "GPBoolean", "DEFile",
     "GPValueTable", "GPDate"])

BACKEND_CHOICES: Tuple[Tuple[str, str], ...] = (
    ("Auto", "auto"), ("XPGEO server", "xpgeo"), ("Portal", "portal"), ("Local folder", "local"))
"""Label shown in the tool -> value of the ``backend`` setting."""


@dataclass(frozen=True)
class Param:
    """One tool parameter, as ``arcpy.Parameter`` wants it."""

    name: str
    label: str
    datatype: str
    parameter_type: str = "Optional"  # Required | Optional | Derived
    direction: str = "Input"
    multi_value: bool = False
    value_list: Tuple[str, ...] = ()
    file_types: Tuple[str, ...] = ()
    default: Any = None
    category: Optional[str] = None
    setting: Optional[str] = None
    """The setting this parameter overrides (see :mod:`xpgeo_core.settings`)."""
    help: str = ""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    label: str
    description: str
    params: Tuple[Param, ...]
    can_run_in_background: bool = True

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def inputs(self) -> List[Param]:
        return [p for p in self.params if p.direction == "Input"]

    @property
    def outputs(self) -> List[Param]:
        return [p for p in self.params if p.parameter_type == "Derived"]


_CONNECTION = "Connection"

CONNECTION_PARAMS: Tuple[Param, ...] = (
    Param("backend", "Backend", "GPString", value_list=tuple(label for label, _ in BACKEND_CHOICES),
          default="Auto", category=_CONNECTION, setting="backend",
          help="Where the layer is made. Auto uses the XPGEO server when a server URL is configured, else your "
               "portal (the portal URL setting, or the portal ArcGIS Pro is signed in to), else a local folder."),
    Param("server_url", "XPGEO server URL", "GPString", category=_CONNECTION, setting="rest_url",
          help="Base URL of the AerialSphere XPGEO REST server. Empty: the XPGEO_REST_URL setting."),
    Param("portal_url", "Portal URL", "GPString", category=_CONNECTION, setting="portal_url",
          help="ArcGIS Online or Enterprise portal URL. Empty: the PORTAL_URL setting, else the portal ArcGIS Pro "
               "is signed in to."),
    Param("api_key", "API key", "GPStringHidden", category=_CONNECTION, setting="api_key",
          help="ArcGIS API key (hidden). Empty: the CLIENT_ESRI_API_KEY setting in xpgeo.env, or your ArcGIS Pro "
               "sign-in. Never shown in messages."),
    Param("output_folder", "Output folder", "GPString", category=_CONNECTION, setting="output_dir",
          help="Folder for local layers (Local folder backend only). Empty: the XPGEO_OUTPUT_DIR setting, else the "
               "project's home folder."),
)

_LAYER_NAME = Param("layer_name", "Layer name", "GPString", "Required",
                    help="Name of the OI layer (feature service). For appends, the layer must already exist.")
_IMAGERY_TYPE = Param("imagery_type", "Imagery type", "GPString", value_list=IMAGERY_TYPES,
                      help="Horizontal, Oblique, Nadir, 360 or Inspection. Empty: the server's default on create; "
                           "on append, each photo's own metadata decides.")


def _append_outputs() -> Tuple[Param, ...]:
    return (
        Param("out_layer_name", "Layer name (output)", "GPString", "Derived", "Output",
              help="The layer name, passed through so ModelBuilder can chain further tools."),
        Param("out_appended_count", "Appended count", "GPLong", "Derived", "Output",
              help="Number of images appended by this run."),
        Param("out_failed_count", "Failed count", "GPLong", "Derived", "Output",
              help="Number of images that failed, each reported with its reason."),
        Param("out_report", "Report (JSON)", "GPString", "Derived", "Output",
              help="Per-image results as JSON: url, status (appended, skipped, failed), reason, line."),
    )


TOOLS: Tuple[ToolSpec, ...] = (
    ToolSpec(
        "HealthCheck", "Health Check",
        "Checks that the backend is reachable and that the credentials can create layers; returns its versions.",
        CONNECTION_PARAMS + (
            Param("out_versions", "Versions (JSON)", "GPString", "Derived", "Output",
                  help="The backend's versions as JSON, e.g. currentVersion, enterpriseVersion, enterpriseBuild."),
        )),
    ToolSpec(
        "CreateOrientedImageryLayer", "Create Oriented Imagery Layer",
        "Creates a hosted feature service with an Oriented Imagery layer definition, tags it as an Oriented "
        "Imagery layer and shares it with the organization. A taken name gets a timestamp.",
        (_LAYER_NAME, _IMAGERY_TYPE) + CONNECTION_PARAMS + (
            Param("out_layer_name", "Created layer name", "GPString", "Derived", "Output",
                  help="The name actually created: it carries a _YYYYMMDD_HHMMSS suffix when the name was taken."),
            Param("out_item_id", "Item ID", "GPString", "Derived", "Output",
                  help="Portal item id of the new feature service."),
            Param("out_service_url", "Service URL", "GPString", "Derived", "Output",
                  help="URL of the new feature service (or the local layer folder)."),
        )),
    ToolSpec(
        "AppendImage", "Append Image",
        "Appends one photo, by URL, to an existing Oriented Imagery layer.",
        (_LAYER_NAME,
         Param("image_url", "Image URL", "GPString", "Required",
               help="http(s) URL of the photo (a presigned S3 URL works). Spaces must be encoded as %20."),
         _IMAGERY_TYPE) + CONNECTION_PARAMS + _append_outputs()),
    ToolSpec(
        "AppendImages", "Append Images",
        "Appends a list of photos, by URL, to an existing Oriented Imagery layer, in chunks. Every image ends "
        "appended, skipped (already in the layer) or failed with its reason.",
        (_LAYER_NAME,
         Param("url_file", "URL list file", "DEFile", file_types=("txt", "csv", "lst"),
               help="Text file with one image URL per line (UTF-8; blank lines and # comments are skipped)."),
         Param("image_urls", "Image URLs", "GPString", multi_value=True,
               help="Image URLs typed or pasted in, in addition to (or instead of) the URL list file."),
         _IMAGERY_TYPE,
         Param("preflight", "Check photos first", "GPBoolean", default=False,
               help="Read every photo's metadata before sending and report (not send) the ones without a "
                    "usable GPS position or that cannot be read.")) + CONNECTION_PARAMS + _append_outputs()),
)

TOOLS_BY_NAME: Dict[str, ToolSpec] = {t.name: t for t in TOOLS}


def backend_value(label: Optional[str]) -> Optional[str]:
    """``Local folder`` -> ``local``; empty -> None (the setting decides)."""
    if not label:
        return None
    for shown, value in BACKEND_CHOICES:
        if label.strip().lower() in (shown.lower(), value):
            return None if value == "auto" else value
    return label


def settings_for(tool: ToolSpec, values: Mapping[str, Any], *, search_dirs: Sequence[str] = (),
                 environ: Optional[Mapping[str, str]] = None, default_output_dir: Optional[str] = None) -> Settings:
    """Settings with the tool's connection parameters on top (parameter > env > file > default)."""
    overrides: Dict[str, Any] = {}
    for p in tool.params:
        if p.setting and values.get(p.name) not in (None, ""):
            overrides[p.setting] = values[p.name]
    if "backend" in overrides:
        overrides["backend"] = backend_value(overrides["backend"])
    settings = load_settings(overrides, search_dirs=search_dirs, environ=environ)
    if default_output_dir and settings.source_of("output_dir") == "default":
        settings = settings.replace(output_dir=default_output_dir)
    return settings


def validate_tool(tool_name: str, values: Mapping[str, Any]) -> Dict[str, str]:
    """Problems to flag before the run, by parameter name (no network, cheap)."""
    tool = TOOLS_BY_NAME[tool_name]
    problems: Dict[str, str] = {}
    names = {p.name for p in tool.params}
    if "layer_name" in names and values.get("layer_name") is not None:
        problem = layer_name_problem(values.get("layer_name"))
        if problem:
            problems["layer_name"] = f"Missing layer name: {problem}."
    if "image_url" in names and values.get("image_url"):
        problem = image_url_problem(values["image_url"])
        if problem:
            problems["image_url"] = f"Malformed image URL string: {problem}."
    if "image_urls" in names and values.get("image_urls"):
        for url in values["image_urls"]:
            problem = image_url_problem(url)
            if problem:
                problems["image_urls"] = f"Malformed image URL string {url!r}: {problem}."
                break
    if "url_file" in names and values.get("url_file"):
        if os.path.isdir(str(values["url_file"])):
            problems["url_file"] = f"URL list file {values['url_file']!r} is a folder, not a file."
        elif not os.path.isfile(str(values["url_file"])):
            problems["url_file"] = f"URL list file {values['url_file']!r} was not found."
    if tool_name == "AppendImages" and not values.get("url_file") and not values.get("image_urls"):
        if "url_file" not in problems:
            problems["url_file"] = "Give a URL list file or at least one image URL."
    for url_param in ("server_url", "portal_url"):
        value = values.get(url_param)
        if value and not str(value).strip().lower().startswith(("http://", "https://")):
            problems[url_param] = f"{value!r} is not a URL: it must start with http:// or https://."
    return problems


def _split_multi(value: Any) -> List[str]:
    """A multivalue GPString arrives as a list, or as one ``;``-separated string."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = str(value).split(";")
    return [str(v).strip().strip("'\"") for v in items if str(v).strip()]


def run_tool(tool_name: str, values: Mapping[str, Any], *, search_dirs: Sequence[str] = (),
             token_provider: Optional[Callable[[], Optional[dict]]] = None, portal_url: Optional[str] = None,
             default_output_dir: Optional[str] = None, progress: ProgressCallback = no_progress,
             environ: Optional[Mapping[str, str]] = None, on_server: bool = False) -> Dict[str, Any]:
    """Run one tool and return its derived outputs by parameter name.

    ``on_server``: the tool runs as a web tool on ArcGIS Server, where a local folder
    is nobody's to look at; a run that would fall back to the local backend is refused.
    """
    tool = TOOLS_BY_NAME[tool_name]
    settings = settings_for(tool, values, search_dirs=search_dirs, environ=environ,
                            default_output_dir=default_output_dir)
    portal_url = settings.portal_url or portal_url
    ctx = {"token_provider": token_provider if not settings.api_key and not settings.username else None,
           "portal_url": portal_url}
    if on_server and choose_backend_name(settings, **ctx) == "local":
        raise ConfigError("This web tool has no XPGEO server or portal to create layers in.",
                          hint="On the server, put xpgeo.env beside XPGEO.pyt (in the service folder) with "
                               "XPGEO_REST_URL or PORTAL_URL, or pass the server/portal URL parameter.")
    if tool_name == "HealthCheck":
        health = operations.health_check(settings, **ctx)
        return health_outputs(health)
    if tool_name == "CreateOrientedImageryLayer":
        created = operations.create_layer(settings, values.get("layer_name"), values.get("imagery_type"), **ctx)
        return create_outputs(created)
    if tool_name == "AppendImage":
        report = operations.append_image(settings, values.get("layer_name"), values.get("image_url"),
                                         imagery_type=values.get("imagery_type"), **ctx)
        return append_outputs(report)
    if tool_name == "AppendImages":
        report = operations.append_images(
            settings, values.get("layer_name"), url_file=values.get("url_file") or None,
            urls=_split_multi(values.get("image_urls")), imagery_type=values.get("imagery_type"),
            preflight=bool(values.get("preflight")), progress=progress, **ctx)
        return append_outputs(report)
    raise KeyError(tool_name)


def health_outputs(health: HealthResult) -> Dict[str, Any]:
    log.info("%s response: %s", health.liveness_label, health.liveness_message)
    log.info("Health check response: Validation response: %s", compact_json(health.versions))
    return {"out_versions": compact_json(health.versions)}


def create_outputs(created: CreateResult) -> Dict[str, Any]:
    log.info("Create layer response: %s", compact_json(created.response or created.to_dict()))
    return {"out_layer_name": created.layer_name, "out_item_id": created.item_id or "",
            "out_service_url": created.service_url or ""}


def append_outputs(report: AppendReport) -> Dict[str, Any]:
    log.info("Appended %d, skipped %d (already in the layer), failed %d of %d image(s) in layer '%s'.",
             report.appended, report.skipped, report.failed, report.total, report.layer_name)
    return {"out_layer_name": report.layer_name, "out_appended_count": report.appended,
            "out_failed_count": report.failed, "out_report": json.dumps(report.to_dict())}


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
