"""What ``XPGEO.pyt`` calls, without arcpy: settings, validation and the run of one tool.

The tools and their parameters are declared in :mod:`xpgeo_core.catalogue`. ``XPGEO.pyt``
turns those into ``arcpy.Parameter`` objects, reads their values *by name* into a dict,
calls :func:`run_tool`, and writes the returned derived outputs back by name.
Validation for ``updateMessages`` is :func:`validate_tool`. Nothing here indexes
parameters by position or dispatches on a tool's name.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from xpgeo_core.backends import choose_backend_name
from xpgeo_core.catalogue import PRO, PRO_TOOLS, ToolCall, ToolSpec, compact_json, setting_overrides
from xpgeo_core.errors import ConfigError
from xpgeo_core.results import ProgressCallback, no_progress
from xpgeo_core.settings import BACKEND_LABELS, Settings, load_settings
from xpgeo_core.urls import image_url_problem, layer_name_problem

log = logging.getLogger("xpgeo")

WEB_TOOL_SAFE_TYPES = frozenset(
    ["GPString", "GPStringHidden", "GPEncryptedString", "GPLong", "GPDouble", "GPBoolean", "DEFile",
     "GPValueTable", "GPDate"])

TOOLS: Tuple[ToolSpec, ...] = PRO_TOOLS
"""The tools XPGEO.pyt offers, in its order."""
TOOLS_BY_NAME: Dict[str, ToolSpec] = {t.name: t for t in TOOLS}


def settings_for(tool: ToolSpec, values: Mapping[str, Any], *, search_dirs: Sequence[str] = (),
                 environ: Optional[Mapping[str, str]] = None, default_output_dir: Optional[str] = None) -> Settings:
    """Settings with the tool's connection parameters on top (parameter > env > file > default)."""
    overrides = setting_overrides(tool, {p.name: values.get(p.name) for p in tool.params_for(PRO)})
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
    if tool.needs_one_of and not any(values.get(name) for name in tool.needs_one_of):
        first = tool.needs_one_of[0]
        if first not in problems:
            labels = " or ".join(tool.param(name).label for name in tool.needs_one_of)
            problems[first] = f"Give {labels}."
    for url_param in ("server_url", "portal_url"):
        value = values.get(url_param)
        if value and not str(value).strip().lower().startswith(("http://", "https://")):
            problems[url_param] = f"{value!r} is not a URL: it must start with http:// or https://."
    return problems


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
    call = ToolCall(settings, values, progress=progress, **ctx)
    return tool.outputs(tool.run(call))


__all__ = ["BACKEND_LABELS", "PRO", "TOOLS", "TOOLS_BY_NAME", "WEB_TOOL_SAFE_TYPES", "compact_json", "run_tool", "settings_for",
           "validate_tool"]
