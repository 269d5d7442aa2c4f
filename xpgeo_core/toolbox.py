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
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from xpgeo_core.backends import choose_backend_name
from xpgeo_core.backends.names import FINAL_NAME_RULES
from xpgeo_core.catalogue import (CREATE_LAYER, PRO, PRO_TOOLS, TOOLS as CATALOGUE_TOOLS, ToolCall, ToolSpec,
                                  compact_json, setting_overrides)
from xpgeo_core.errors import ConfigError, XpgeoError
from xpgeo_core.results import ProgressCallback, no_progress
from xpgeo_core.settings import BACKEND_LABELS, BACKEND_PLACES, SPECS_BY_ATTR, parse_url, Settings, load_settings
from xpgeo_core.urls import MALFORMED_URL, MISSING_NAME, PhotoRef, image_url_problem, layer_name_problem

log = logging.getLogger("xpgeo")

WEB_TOOL_SAFE_TYPES = frozenset(
    ["GPString", "GPStringHidden", "GPEncryptedString", "GPLong", "GPDouble", "GPBoolean", "DEFile",
     "GPValueTable", "GPDate", "GPFeatureLayer"])
"""Input types a web tool accepts (pyt-conventions.md §3). The local-only parameters (folders of this
machine) are the one exception: a web tool disables them and never uses the local backend."""


def is_empty_points_file(path: str) -> bool:
    """A local layer's points file with no point yet (nothing for Pro to draw)."""
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            return not json.load(handle).get("features")
    except (OSError, ValueError, AttributeError):
        return True

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


def possible_backends(settings: Settings) -> Tuple[str, ...]:
    """The backends a run with these settings may use, known without the network or arcpy: Auto with
    no server or portal URL is the portal ArcGIS Pro is signed in to, or else a local folder."""
    if settings.backend != "auto":
        return (settings.backend,)
    chosen = choose_backend_name(settings)
    return ("portal", "local") if chosen == "local" else (chosen,)


def _validation_settings(tool: ToolSpec, values: Mapping[str, Any], search_dirs: Sequence[str],
                         environ: Optional[Mapping[str, str]]) -> Optional[Settings]:
    try:
        return settings_for(tool, values, search_dirs=search_dirs, environ=environ)
    except ConfigError:
        return None  # the parameter checks below name the bad value; a bad file is reported at run time


def enabled_parameters(tool_name: str, values: Mapping[str, Any], *, search_dirs: Sequence[str] = (),
                       environ: Optional[Mapping[str, str]] = None) -> Dict[str, bool]:
    """Which parameters the dialog enables: the local-only ones (output folder, photo folder)
    whenever the local backend may be used; the photo folder also for a portal taking attachments."""
    tool = TOOLS_BY_NAME[tool_name]
    settings = _validation_settings(tool, values, search_dirs, environ)
    local = settings is None or "local" in possible_backends(settings)
    files = local or _uploads(settings)
    return {p.name: files if p.uploads else local for p in tool.params_for(PRO) if p.local_only}


def _uploads(settings: Optional[Settings]) -> bool:
    """Photo files of this machine go up as attachments (ATTACHMENTS, and the portal backend may be used)."""
    return settings is not None and bool(settings.attachments) and "portal" in possible_backends(settings)


def check_tool(tool_name: str, values: Mapping[str, Any], *, search_dirs: Sequence[str] = (),
               environ: Optional[Mapping[str, str]] = None) -> Tuple[Dict[str, str], Dict[str, str]]:
    """(errors, notes) to show before the run, by parameter name: cheap, no network, no arcpy.

    Notes are what a person should know but need not fix: the name a layer will be created as."""
    tool = TOOLS_BY_NAME[tool_name]
    errors: Dict[str, str] = {}
    notes: Dict[str, str] = {}
    for p in tool.params_for(PRO):
        value = values.get(p.name)
        if p.setting and value not in (None, "", False):
            problem = setting_problem(p.setting, value)
            if problem:
                errors[p.name] = f"{p.label}: {problem}."
    settings = _validation_settings(tool, values, search_dirs, environ)
    backends = possible_backends(settings) if settings is not None else ("local",)
    local_ok = "local" in backends or _uploads(settings)
    if tool.has("layer_name") and values.get("layer_name") is not None:
        name = str(values["layer_name"])
        problem = layer_name_problem(name)
        if problem:
            errors["layer_name"] = (f"{MISSING_NAME}." if not name.strip() else f"Layer name {name!r}: {problem}.")
        elif tool is CREATE_LAYER:
            errors_or_note = _final_names(name.strip(), backends)
            (errors if errors_or_note[0] else notes)["layer_name"] = errors_or_note[1]
    for p_name in ("image_url", "image_urls"):
        for entry in _entries(values.get(p_name)):
            problem = _image_problem(entry, local_ok, backends)
            if problem:
                errors[p_name] = problem
                break
    if values.get("url_file"):
        path = str(values["url_file"])
        if os.path.isdir(path):
            errors["url_file"] = f"URL list file {path!r} is a folder, not a file (give it as the Photo folder)."
        elif not os.path.isfile(path):
            errors["url_file"] = f"URL list file {path!r} was not found."
    if values.get("photo_folder"):
        folder = str(values["photo_folder"])
        if not local_ok:
            errors["photo_folder"] = _LOCAL_ONLY.format(what="Photos in a folder")
        elif not os.path.isdir(folder):
            errors["photo_folder"] = f"Photo folder {folder!r} was not found."
    if values.get("source") or values.get("modified_since"):
        bucket_problem = _bucket_problem(values, settings)
        if bucket_problem:
            errors[bucket_problem[0]] = bucket_problem[1]
    if values.get("ground_height") not in (None, "") and values.get("elevation_service"):
        errors["elevation_service"] = "Give a ground elevation or an elevation service URL, not both."
    elif values.get("elevation_service"):
        try:
            parse_url(str(values["elevation_service"]))
        except ValueError as exc:
            errors["elevation_service"] = f"Elevation service URL: {exc}."
    if tool.needs_one_of and not any(values.get(name) for name in tool.needs_one_of):
        first = tool.needs_one_of[0]
        labels = [tool.param(name).label for name in tool.needs_one_of]
        errors.setdefault(first, "Nothing to append: give a " + ", ".join(labels[:-1]) + " or " + labels[-1] + ".")
    return errors, notes


def _bucket_problem(values: Mapping[str, Any], settings: Optional[Settings]) -> Optional[Tuple[str, str]]:
    """(parameter, message) when the bucket source or the modified-since date cannot be used (no network)."""
    from xpgeo_core.buckets import parse_since, parse_source

    try:
        parse_since(values.get("modified_since"))
    except XpgeoError as exc:
        return "modified_since", exc.message
    if values.get("source") and settings is not None:
        try:
            parse_source(values["source"], settings)
        except XpgeoError as exc:
            return "source", str(exc)
    return None


def validate_tool(tool_name: str, values: Mapping[str, Any], **kwargs: Any) -> Dict[str, str]:
    """The errors of :func:`check_tool` (problems that stop the run), by parameter name."""
    return check_tool(tool_name, values, **kwargs)[0]


_LOCAL_ONLY = ("{what} work with the Local folder backend, or with a portal layer made with Photos as attachments "
               "(tick Upload photos as attachments): otherwise a viewer could not open a file on this machine. Set "
               "Backend to Local folder, tick Upload photos as attachments, or give http(s) URLs.")


def _entries(value: Any) -> List[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(";")
    return [str(v).strip().strip("'\"") for v in items if str(v).strip()]


def _image_problem(entry: str, local_ok: bool, backends: Tuple[str, ...]) -> Optional[str]:
    photo = PhotoRef.parse(entry)
    if not photo.is_web:
        if not local_ok:
            return _LOCAL_ONLY.format(what=f"Photo files ({entry!r})")
        problem = photo.problem()
        return f"Photo file {entry!r}: {problem}." if problem else None
    problem = image_url_problem(entry)
    return f"{MALFORMED_URL} {entry!r}: {problem}." if problem else None


def _final_names(name: str, backends: Tuple[str, ...]) -> Tuple[bool, str]:
    """(is an error, text): the name each possible backend will create the layer as, when not *name*."""
    names: Dict[str, str] = {}
    for backend in backends:
        try:
            final = FINAL_NAME_RULES[backend](name) if backend in FINAL_NAME_RULES else name
        except XpgeoError:
            return True, f"Layer name {name!r} has no letters or digits: a layer name needs at least one."
        names[backend] = final
    changed = {backend: final for backend, final in names.items() if final != name}
    if not changed:
        return False, ""
    if len(set(names.values())) == 1:
        final = next(iter(names.values()))
        return False, (f"The layer will be created as '{final}': service names are letters, digits and "
                       "underscores (a taken name also gets a _YYYYMMDD_HHMMSS suffix).")
    shown = "; ".join(f"'{final}' {BACKEND_PLACES[b]}" for b, final in names.items())
    return False, f"The layer will be created as {shown} (a taken name also gets a _YYYYMMDD_HHMMSS suffix)."


def setting_problem(attr: str, value: Any) -> Optional[str]:
    """Why *value* is not acceptable for setting *attr*: the same rule the settings apply."""
    try:
        SPECS_BY_ATTR[attr].parse(str(value))
    except (ValueError, TypeError) as exc:
        shown = "the value" if SPECS_BY_ATTR[attr].secret else repr(str(value))
        return f"{shown} is not valid: {exc}"
    return None


def _pro_names() -> List[Tuple["re.Pattern[str]", str]]:
    """(pattern, Pro wording) for every command and flag of the catalogue, longest first."""
    pairs: List[Tuple[str, str]] = []
    for tool in CATALOGUE_TOOLS:
        label = f"the {tool.label} tool" if PRO in tool.front_ends else f"xpgeo {tool.command}"
        pairs.append((r"(?:\bthe\s+)?xpgeo " + re.escape(tool.command) + r"(?:\s+--?[\w-]+(?:[= ](?!-)[^\s,;.)]+)?)*", label))
        for p in tool.params:
            for flag in p.flags:
                if flag.startswith("--") and p.on(PRO):
                    pairs.append((r"(?:\bthe\s+)?(?<![\w-])" + re.escape(flag) + r"(?:[= ](?:[A-Z]+|<[^>]+>))?(?![\w-])",
                                  f"the {p.label} parameter"))
    pairs.sort(key=lambda pair: -len(pair[0]))
    return [(re.compile(pattern), text) for pattern, text in pairs]


def pro_wording(text: str) -> str:
    """A core message as the toolbox shows it: tools and parameters by their Pro names, not
    command-line syntax (``xpgeo create-oi-layer --name X`` → the Create Oriented Imagery Layer tool,
    ``--output-dir`` → the Output folder parameter)."""
    for pattern, wording in _pro_names():
        text = pattern.sub(wording, text)
    return text


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
    if settings.api_key or settings.username:
        token_provider = None  # credentials of their own: Pro's sign-in is not asked
    if on_server and choose_backend_name(settings, token_provider=token_provider, portal_url=portal_url) == "local":
        raise ConfigError("This web tool has no XPGEO server or portal to create layers in.",
                          hint="On the server, put xpgeo.env beside XPGEO.pyt (in the service folder) with "
                               "XPGEO_REST_URL or PORTAL_URL, or pass the server/portal URL parameter.")
    call = ToolCall(settings, values, progress=progress, token_provider=token_provider, portal_url=portal_url)
    return tool.outputs(tool.run(call))


__all__ = ["BACKEND_LABELS", "PRO", "TOOLS", "TOOLS_BY_NAME", "WEB_TOOL_SAFE_TYPES", "check_tool", "compact_json", "enabled_parameters", "is_empty_points_file", "pro_wording", "run_tool",
           "settings_for", "validate_tool"]
