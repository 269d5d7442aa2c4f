"""The tool catalogue: every XPGEO tool and its parameters, declared once, as data.

Both front ends are built from this list and nothing else:

* ``XPGEO.pyt`` turns each :class:`ToolSpec` into an ArcGIS Pro tool (through
  :mod:`xpgeo_core.toolbox`): one ``arcpy.Parameter`` per :class:`Param` for Pro;
* ``xpgeo`` (:mod:`xpgeo_core.cli`) makes one sub-command per tool, one flag per
  :class:`Param` for the command line (``flags``: the first is the name in the help,
  the others are aliases);
* ``tools/make_docs.py`` writes ``docs/tools.md`` and ``XPGEO*.pyt.xml`` from it.

A parameter says which front ends it belongs to (``front_ends``) and, when only one,
why (``only_because``); ``tests/test_catalogue.py`` checks each one reaches exactly
those. The setting a parameter overrides is ``setting`` (see :mod:`xpgeo_core.settings`):
an empty value falls through to the environment, the config file, then the default.

Each tool names the function that runs it (``run``: one operation call) and, for Pro,
the function that turns the result into its derived outputs (``outputs``), so no
caller dispatches on a tool's name.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Tuple

from xpgeo_core import operations
from xpgeo_core.backends.local import FEATURES_FILE as LOCAL_POINTS_FILE
from xpgeo_core.errors import ValidationError
from xpgeo_core.image_lists import DEFAULT_PHOTO_FILTER
from xpgeo_core.layer_options import SHARING_LEVELS, ElevationSource, LayerOptions
from xpgeo_core.results import ProgressCallback, no_progress
from xpgeo_core.settings import BACKEND_LABELS, BACKENDS, IMAGERY_TYPES, VIEWER_CHECKS, Settings

log = logging.getLogger("xpgeo")

PRO = "pro"
CLI = "cli"
BOTH: FrozenSet[str] = frozenset((PRO, CLI))
ONLY_PRO: FrozenSet[str] = frozenset((PRO,))
ONLY_CLI: FrozenSet[str] = frozenset((CLI,))


@dataclass(frozen=True)
class Param:
    """One tool parameter: what ``arcpy.Parameter`` and ``argparse`` each need."""

    name: str
    """The Pro parameter name, the argparse ``dest`` and the key in a tool's values."""
    label: str
    datatype: Any
    """An arcpy datatype keyword, or a tuple of them (a composite: a map layer or a typed text)."""
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
    flags: Tuple[str, ...] = ()
    """Command-line flags, canonical first, then aliases (the reference client's spelling first)."""
    metavar: Optional[str] = None
    cli_help: Optional[str] = None
    """Shorter help for ``--help``; the Pro help otherwise."""
    cli_choices: Tuple[str, ...] = ()
    cli_required: Optional[bool] = None
    """Required on the command line when it differs from Pro (the reference client's --file)."""
    front_ends: FrozenSet[str] = BOTH
    only_because: str = ""
    """Why a parameter belongs to one front end only (documented, and required by the tests)."""
    global_option: bool = False
    """Command line: accepted before or after the command name (the connection options)."""
    local_only: bool = False
    """Only the local backend uses it (a folder or files of this machine): a web tool never offers it."""
    uploads: bool = False
    """Files of this machine the portal backend also takes when photos are attachments (ATTACHMENTS)."""

    @property
    def datatypes(self) -> Tuple[str, ...]:
        return tuple(self.datatype) if isinstance(self.datatype, (tuple, list)) else (self.datatype,)

    @property
    def required(self) -> bool:
        return self.parameter_type == "Required"

    @property
    def derived(self) -> bool:
        return self.parameter_type == "Derived"

    def on(self, front_end: str) -> bool:
        return front_end in self.front_ends

    @property
    def flag(self) -> Optional[str]:
        return self.flags[0] if self.flags else None


@dataclass(frozen=True)
class ToolCall:
    """One run of a tool: its settings, its parameter values by name, and the run's context."""

    settings: Settings
    values: Mapping[str, Any]
    progress: ProgressCallback = no_progress
    token_provider: Optional[Callable[[], Optional[dict]]] = None
    portal_url: Optional[str] = None

    def get(self, name: str) -> Any:
        value = self.values.get(name)
        return None if value == "" else value

    @property
    def connection(self) -> Dict[str, Any]:
        return {"token_provider": self.token_provider, "portal_url": self.portal_url}


@dataclass(frozen=True)
class ToolSpec:
    name: str
    """The Pro tool (class) name: letters only."""
    command: str
    """The ``xpgeo`` sub-command."""
    label: str
    description: str
    params: Tuple[Param, ...]
    run: Callable[[ToolCall], Any]
    """Runs the tool: one call of an operation; returns its result object."""
    outputs: Callable[[Any], Dict[str, Any]] = lambda result: {}
    """The Pro derived outputs, by parameter name, from the result."""
    cli_help: str = ""
    front_ends: FrozenSet[str] = BOTH
    needs_one_of: Tuple[str, ...] = ()
    """Parameters of which at least one must be given (Append Images: a list file or URLs)."""
    can_run_in_background: bool = True

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return any(p.name == name for p in self.params)

    def params_for(self, front_end: str) -> List[Param]:
        """The parameters this front end shows (none when the tool is not in it)."""
        if front_end not in self.front_ends:
            return []
        return [p for p in self.params if p.on(front_end)]

    @property
    def inputs(self) -> List[Param]:
        return [p for p in self.params if p.direction == "Input"]

    @property
    def outputs_params(self) -> List[Param]:
        return [p for p in self.params if p.derived]


# -- parameters shared by several tools -----------------------------------------------

_SEQUENCES = "Sequences"
_CONNECTION = "Connection"

CONNECTION_PARAMS: Tuple[Param, ...] = (
    Param("backend", "Backend", "GPString", value_list=tuple(BACKEND_LABELS.values()),
          default=BACKEND_LABELS["auto"], category=_CONNECTION, setting="backend",
          help="Where the layer is made. Auto uses the XPGEO server when a server URL is configured, else your "
               "portal (the portal URL setting, or the portal ArcGIS Pro is signed in to), else a local folder.",
          flags=("--backend",), cli_choices=BACKENDS,
          cli_help="where layers are made (default: the BACKEND setting, else auto)", global_option=True),
    Param("server_url", "XPGEO server URL", "GPString", category=_CONNECTION, setting="rest_url",
          help="Base URL of the AerialSphere XPGEO REST server. Empty: the XPGEO_REST_URL setting.",
          flags=("--rest-url", "--server-url"), metavar="URL", cli_help="XPGEO REST server URL",
          global_option=True),
    Param("portal_url", "Portal URL", "GPString", category=_CONNECTION, setting="portal_url",
          help="ArcGIS Online or Enterprise portal URL. Empty: the PORTAL_URL setting, else the portal ArcGIS Pro "
               "is signed in to.",
          flags=("--portal-url",), metavar="URL", cli_help="ArcGIS portal URL", global_option=True),
    Param("api_key", "API key", "GPStringHidden", category=_CONNECTION, setting="api_key",
          help="ArcGIS API key (hidden). Empty: the CLIENT_ESRI_API_KEY setting in xpgeo.env, or your ArcGIS Pro "
               "sign-in. Never shown in messages.",
          front_ends=ONLY_PRO,
          only_because="a key typed on a command line is visible to every user of the machine (process list, "
                       "shell history); the command line reads it from XPGEO_API_KEY or xpgeo.env"),
    Param("output_folder", "Output folder", "DEFolder", category=_CONNECTION, setting="output_dir",
          help="Folder for local layers (enabled when the Local folder backend will be used). Empty: the "
               "XPGEO_OUTPUT_DIR setting, else the project's home folder.", local_only=True,
          flags=("--output-dir", "--output-folder"), metavar="DIR", cli_help="folder for local layers",
          global_option=True),
)

CLI_GLOBAL_PARAMS: Tuple[Param, ...] = (
    Param("json", "JSON output", "GPBoolean", default=False, flags=("--json",),
          help="Print one machine-readable JSON document on stdout.", front_ends=ONLY_CLI,
          only_because="Pro returns results as derived outputs", global_option=True),
    Param("config", "Config file", "DEFile", flags=("--config",), metavar="PATH",
          help="Config file (KEY=VALUE lines).", front_ends=ONLY_CLI,
          only_because="the toolbox reads xpgeo.env beside XPGEO.pyt", global_option=True),
    Param("verbose", "Verbose", "GPBoolean", default=False, flags=("--verbose", "-v"),
          help="More detail on stderr.", front_ends=ONLY_CLI,
          only_because="Pro keeps every message in the tool's history", global_option=True),
    Param("quiet", "Quiet", "GPBoolean", default=False, flags=("--quiet", "-q"),
          help="No progress, only warnings.", front_ends=ONLY_CLI,
          only_because="Pro shows progress in its own progressor", global_option=True),
    Param("disable_ssl_verification", "Disable TLS verification", "GPBoolean", default=False,
          setting="disable_ssl_verification", flags=("--disable-ssl-verification",),
          help="Do not verify TLS certificates (not recommended; prefer CA_BUNDLE).", front_ends=ONLY_CLI,
          only_because="turning TLS checks off in Pro is a setting (DISABLE_SSL_VERIFICATION in xpgeo.env), "
                       "not a checkbox anyone ticks by accident", global_option=True),
)

GLOBAL_PARAMS: Tuple[Param, ...] = CLI_GLOBAL_PARAMS + tuple(p for p in CONNECTION_PARAMS if p.on(CLI))
"""The command line's global options, in ``--help`` order."""

_LAYER_NAME = Param("layer_name", "Layer name", "GPString", "Required",
                    help="Name of the OI layer (feature service). For appends, the layer must already exist.",
                    flags=("--name",), metavar="NAME", cli_help="layer (feature service) name")
_EXISTING_LAYER = Param("layer_name", "Layer", ("GPFeatureLayer", "GPString"), "Required",
                        help="The existing OI layer: pick it in the map or connect Create Oriented Imagery Layer's "
                             "output, or type its name (feature service name), item id or layer URL.",
                        flags=("--name",), metavar="LAYER",
                        cli_help="the existing layer: its name, item id or layer URL")
_IMAGERY_TYPE = Param("imagery_type", "Imagery type", "GPString", value_list=IMAGERY_TYPES,
                      help="Horizontal, Oblique, Nadir, 360 or Inspection. Empty: the server's default on create; "
                           "on append, each photo's own metadata decides.",
                      flags=("--imagery-type",), metavar="TYPE", cli_help="one of " + ", ".join(IMAGERY_TYPES))


_ATTACH_CREATE = Param(
    "attachments", "Photos as attachments", "GPBoolean", default=False, setting="attachments", category="Layer properties",
    help="Portal: make the layer with feature attachments (hasAttachments, a GlobalID field), as Esri's Generate "
         "Service From Oriented Imagery Dataset does with Attach images. Photo files and folders of this machine "
         "(an SD card) can then be appended: each photo is uploaded as its feature's attachment, and Esri's "
         "viewer shows it from there (no web server needed).",
    flags=("--attachments",), cli_help="portal: the photos will be uploaded as feature attachments (photo files "
                                       "and folders can then be appended)")
_ATTACH_APPEND = Param(
    "attachments", "Upload photos as attachments", "GPBoolean", default=False, setting="attachments",
    help="Portal: take photo files and folders of this machine (an SD card) and upload each photo as its "
         "feature's attachment, into a layer made with Photos as attachments. A rerun uploads only what is not "
         "there yet (a feature whose upload failed gets its photo); a photo larger than the service takes is "
         "reported with its size and the limit.",
    flags=("--attachments",), cli_help="portal: upload photo files and folders as feature attachments (the layer "
                                       "was made with --attachments)")


_VIEWER = "Viewer check"
VIEWER_PARAMS: Tuple[Param, ...] = (
    Param("check_viewer", "Check viewer access", "GPString", value_list=tuple(VIEWER_CHECKS.values()),
          category=_VIEWER, setting="check_viewer",
          help="Whether to check that Esri's Oriented Imagery viewer can open the photos from the layer's portal: "
               "https when the portal is, CORS for the portal's origin, JPEG/TIFF/MRF, no expiring signature, "
               "readable without XPGEO's credentials. Sample per host (the default: the first 3 photos of each "
               "host, one small request each), All photos, or Off. Empty: the CHECK_VIEWER setting.",
          flags=("--check-viewer",), cli_choices=tuple(VIEWER_CHECKS),
          cli_help="check the viewer can open the photos: a sample per host (default), all, or off"),
    Param("require_viewer_ready", "Require viewer-ready photos", "GPBoolean", default=False, category=_VIEWER,
          setting="require_viewer_ready",
          help="A photo the viewer could not open fails instead of being sent with a warning (with the sample "
               "check, so do the other photos of a host whose sample lacks CORS or cannot be reached). Check "
               "Layer fails when any photo is not viewer-ready.",
          flags=("--require-viewer-ready",),
          cli_help="a photo the viewer could not open is a failure, not a warning"),
)
"""The viewer-readiness check's parameters (:mod:`xpgeo_core.readiness`), shared by the append tools and Check Layer."""


_OUT_LAYER_HELP = ("The layer as a feature layer (the service's layer URL, or the local layer's points), added to the "
                   "open map when Pro's Add output datasets to an open map option is on, and ready for Esri's own "
                   "tools in ModelBuilder.")


_PROPERTIES = "Layer properties"
_LAYER_PROPERTIES: Tuple[Param, ...] = (
    Param("sharing", "Share with", "GPString", value_list=("Private", "Organization", "Public"), category=_PROPERTIES,
          help="Who can see the new layer: only you (Private), your organization (Organization, the default) or "
               "everyone (Public).", flags=("--sharing",), cli_choices=SHARING_LEVELS),
    Param("portal_folder", "Portal folder", "GPString", category=_PROPERTIES,
          help="Folder of your portal content the layer goes in (made when missing). Empty: your root folder.",
          flags=("--portal-folder",), metavar="FOLDER"),
    Param("tags", "Tags", "GPString", multi_value=True, category=_PROPERTIES,
          help="Tags for the layer's item, besides Oriented Imagery and XPGEO.", flags=("--tags",), metavar="TAGS",
          cli_help="tags for the layer's item, comma separated (the option may be repeated)"),
    Param("summary", "Summary", "GPString", category=_PROPERTIES,
          help="One-sentence summary of the layer's item.", flags=("--summary",), metavar="TEXT"),
    Param("ground_height", "Ground elevation (m)", "GPDouble", category=_PROPERTIES,
          help="A constant ground height in metres the OI viewer projects the photos onto (flat sites). Leave "
               "empty to use an elevation service, or the viewer's default.",
          flags=("--ground-height",), metavar="METRES"),
    Param("elevation_service", "Elevation service URL", "GPString", category=_PROPERTIES,
          help="URL of an elevation image service the OI viewer projects the photos onto (the terrain), e.g. "
               "https://elevation3d.arcgis.com/arcgis/rest/services/WorldElevation3D/Terrain3D/ImageServer.",
          flags=("--elevation-service",), metavar="URL"),
)


def _append_outputs() -> Tuple[Param, ...]:
    return (
        _derived("out_layer", "Layer (output)", "GPFeatureLayer", _OUT_LAYER_HELP),
        Param("out_layer_name", "Layer name (output)", "GPString", "Derived", "Output",
              help="The layer name, passed through so ModelBuilder can chain further tools.", front_ends=ONLY_PRO,
              only_because="the command line prints the result instead"),
        Param("out_appended_count", "Appended count", "GPLong", "Derived", "Output",
              help="Number of images appended by this run.", front_ends=ONLY_PRO,
              only_because="the command line prints the result instead"),
        Param("out_failed_count", "Failed count", "GPLong", "Derived", "Output",
              help="Number of images that failed, each reported with its reason.", front_ends=ONLY_PRO,
              only_because="the command line prints the result instead"),
        Param("out_report", "Report (JSON)", "GPString", "Derived", "Output",
              help="Per-image results as JSON: url, status (appended, skipped, failed), reason, line.",
              front_ends=ONLY_PRO, only_because="the command line prints the result instead"),
    )


def _derived(name: str, label: str, datatype: str, help_text: str) -> Param:
    return Param(name, label, datatype, "Derived", "Output", help=help_text, front_ends=ONLY_PRO,
                 only_because="the command line prints the result instead")


# -- how each tool runs: one operation call, and its Pro outputs ------------------------

def _split_multi(value: Any) -> List[str]:
    """A multivalue GPString arrives as a list, or as one ``;``-separated string."""
    if value is None:
        return []
    items = list(value) if isinstance(value, (list, tuple)) else str(value).split(";")
    return [str(v).strip().strip("'\"") for v in items if str(v).strip()]


def compact_json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def _run_health(call: ToolCall) -> Any:
    return operations.health_check(call.settings, sample_url=call.get("sample_url"), **call.connection)


def _health_outputs(health: Any) -> Dict[str, Any]:
    log.info("%s response: %s", health.liveness_label, health.liveness_message)
    log.info("Health check response: Validation response: %s", compact_json(health.versions))
    return {"out_versions": compact_json(health.versions)}


def _words(values: Any) -> Tuple[str, ...]:
    """Tags as typed: a list, or text separated by commas or semicolons."""
    return tuple(word.strip() for item in _split_multi(values) for word in re.split(r"[,;]", item) if word.strip())


def layer_options(values: Mapping[str, Any]) -> LayerOptions:
    """The Create tool's layer properties as one :class:`LayerOptions`; refused when they contradict."""
    height, service = values.get("ground_height"), values.get("elevation_service")
    if height not in (None, "") and service:
        raise ValidationError("Give a ground elevation or an elevation service URL, not both.",
                              hint="A constant ground height (metres) suits flat sites; an elevation service "
                                   "follows the terrain.")
    elevation = None
    if service:
        elevation = ElevationSource(service_url=str(service).strip())
    elif height is not None and height != "":
        elevation = ElevationSource(constant_m=float(height))
    sharing = str(values.get("sharing") or "").strip().lower() or LayerOptions().sharing
    return LayerOptions(sharing=sharing, folder=(values.get("portal_folder") or None),
                        tags=_words(values.get("tags")), summary=(values.get("summary") or None),
                        elevation_source=elevation)


def _run_create(call: ToolCall) -> Any:
    return operations.create_layer(call.settings, call.get("layer_name"), call.get("imagery_type"),
                                   options=layer_options(call.values), **call.connection)


def layer_reference(service_url: Optional[str], layer: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """What a feature-layer output holds: the layer's URL (``…/FeatureServer/0``), or, for a local layer
    (a folder), its points file, which XPGEO.pyt turns into a feature class."""
    if not service_url:
        return None
    if not re.match(r"^https?://", service_url, re.I):
        return os.path.join(service_url, LOCAL_POINTS_FILE)
    if re.search(r"/(FeatureServer|MapServer)/\d+/?$", service_url):
        return service_url.rstrip("/")
    layer_id = (layer or {}).get("id", 0)
    return f"{service_url.rstrip('/')}/{layer_id}"


def _create_outputs(created: Any) -> Dict[str, Any]:
    log.info("Create layer response: %s", compact_json(created.response or created.to_dict()))
    return {"out_layer": layer_reference(created.service_url, created.layer), "out_layer_name": created.layer_name,
            "out_item_id": created.item_id or "", "out_service_url": created.service_url or ""}


def _run_append_image(call: ToolCall) -> Any:
    return operations.append_image(call.settings, call.get("layer_name"), call.get("image_url"),
                                   imagery_type=call.get("imagery_type"), **call.connection)


def _run_append_images(call: ToolCall) -> Any:
    return operations.append_images(
        call.settings, call.get("layer_name"), url_file=call.get("url_file"),
        urls=_split_multi(call.get("image_urls")), imagery_type=call.get("imagery_type"),
        preflight=bool(call.get("preflight")), progress=call.progress, photo_folder=call.get("photo_folder"),
        photo_filter=call.get("photo_filter"), source=call.get("source"), modified_since=call.get("modified_since"),
        **call.connection)


def _append_outputs_of(report: Any) -> Dict[str, Any]:
    import json

    log.info("Appended %d, skipped %d (already in the layer), failed %d of %d image(s) in layer '%s'.",
             report.appended, report.skipped, report.failed, report.total, report.layer_name)
    folder = (report.extra or {}).get("layer_folder")
    given = str(report.layer_name)
    out_layer = layer_reference(folder) if folder else (given if re.match(r"^https?://", given, re.I) else None)
    return {"out_layer": out_layer, "out_layer_name": report.layer_name, "out_appended_count": report.appended,
            "out_failed_count": report.failed, "out_report": json.dumps(report.to_dict())}


def _run_check_layer(call: ToolCall) -> Any:
    return operations.check_layer(call.settings, call.get("layer_name"), progress=call.progress, **call.connection)


def _check_outputs(report: Any) -> Dict[str, Any]:
    import json

    log.info("Checked %d of %d photo(s) of layer '%s': %d not viewer-ready.", report.checked, len(report.photos),
             report.layer_name, len(report.problems))
    if not report.ok:
        raise ValidationError(f"{len(report.problems)} photo(s) of layer '{report.layer_name}' are not "
                              "viewer-ready (--require-viewer-ready).",
                              hint="Fix what the warnings above say for each photo, then check the layer again.")
    return {"out_checked_count": report.checked, "out_problem_count": len(report.problems),
            "out_report": json.dumps(report.to_dict())}


def _run_inspect(call: ToolCall) -> Any:
    return operations.inspect_photos(call.settings, call.get("sources") or [], imagery_type=call.get("imagery_type"))


# -- the tools ------------------------------------------------------------------------

HEALTH_CHECK = ToolSpec(
    "HealthCheck", "health-check", "Health Check",
    "Checks that the backend is reachable and that the credentials can create layers; returns its versions. "
    "With a sample photo URL, also checks that the layer's viewer could open that photo.",
    (Param("sample_url", "Sample photo URL", "GPString",
           help="A photo URL to check the way Esri's Oriented Imagery viewer will open it from the backend's "
                "portal (https, CORS, format, signature, credentials); each problem is a warning with its fix.",
           flags=("--sample-url",), metavar="URL", cli_help="also check the viewer could open this photo URL"),)
    + CONNECTION_PARAMS + (
        _derived("out_versions", "Versions (JSON)", "GPString",
                 "The backend's versions as JSON, e.g. currentVersion, enterpriseVersion, enterpriseBuild."),
    ),
    run=_run_health, outputs=_health_outputs,
    cli_help="check the backend is reachable and the credentials can create layers")

CREATE_LAYER = ToolSpec(
    "CreateOrientedImageryLayer", "create-oi-layer", "Create Oriented Imagery Layer",
    "Creates a hosted feature service with an Oriented Imagery layer definition, tags it as an Oriented "
    "Imagery layer, reads it back to prove it, and shares it as asked (the organization by default). A taken "
    "name gets a timestamp.",
    (_LAYER_NAME, _IMAGERY_TYPE) + _LAYER_PROPERTIES + (_ATTACH_CREATE,) + CONNECTION_PARAMS + (
        _derived("out_layer", "Layer", "GPFeatureLayer", _OUT_LAYER_HELP),
        _derived("out_layer_name", "Created layer name", "GPString",
                 "The name actually created: it carries a _YYYYMMDD_HHMMSS suffix when the name was taken."),
        _derived("out_item_id", "Item ID", "GPString", "Portal item id of the new feature service."),
        _derived("out_service_url", "Service URL", "GPString",
                 "URL of the new feature service (or the local layer folder)."),
    ),
    run=_run_create, outputs=_create_outputs,
    cli_help="create an Oriented Imagery layer (a taken name gets a timestamp)")

APPEND_IMAGE = ToolSpec(
    "AppendImage", "append-image", "Append Image",
    "Appends one photo, by URL (or a photo file, for a local layer), to an existing Oriented Imagery layer.",
    (_EXISTING_LAYER,
     Param("image_url", "Image URL", "GPString", "Required",
           help="http(s) URL of the photo (a presigned S3 URL works; spaces encoded as %20), or the path of a photo "
                "file for the Local folder backend.",
           flags=("--image-url",), metavar="URL", cli_help="http(s) URL of the photo (or a photo file, local backend)"),
     _IMAGERY_TYPE, _ATTACH_APPEND) + VIEWER_PARAMS + CONNECTION_PARAMS + _append_outputs(),
    run=_run_append_image, outputs=_append_outputs_of,
    cli_help="append one image, by URL, to an existing layer")

APPEND_IMAGES = ToolSpec(
    "AppendImages", "append-images", "Append Images",
    "Appends a list of photos (URLs, a bucket's photos, or photo files and folders for a local layer) to an "
    "existing Oriented Imagery layer. Every image ends appended, skipped (already in the layer) or failed with its reason.",
    (_EXISTING_LAYER,
     Param("url_file", "URL list file", "DEFile", file_types=("txt", "csv", "lst"),
           help="A list of images: a text file with one URL per line (UTF-8 or UTF-16; blank lines and # "
                "comments skipped), or a CSV with a header whose url (image_url, ImagePath, ...) column holds "
                "them. Local photo paths work with the Local folder backend.",
           flags=("--file",), metavar="PATH", cli_help="list of images: one URL per line, or a CSV with a url column"),
     Param("photo_folder", "Photo folder", "DEFolder", local_only=True, uploads=True,
           help="A folder of photos on this machine (sub-folders too, an SD card's DCIM folder), for the Local "
                "folder backend, or for a portal layer made with Photos as attachments (with Upload photos as "
                "attachments): a viewer could not open a file on this machine otherwise.",
           flags=("--photo-folder", "--folder"), metavar="DIR"),
     Param("source", "Bucket", "GPString",
           help="A bucket (or container) and prefix whose photos to append, listed with the store's own API: "
                "s3://bucket/prefix, gs://bucket/prefix, https://ACCOUNT.blob.core.windows.net/container/prefix, "
                "or the https URL of a bucket that allows listing. Each object matching the file name filter "
                "is appended by its public https URL; a rerun appends only objects not yet in the layer. Public "
                "buckets are listed anonymously; a private one through the store's SDK (pip install xpgeo[s3], "
                "xpgeo[gcs] or xpgeo[azure]) with its own credentials.",
           flags=("--source",), metavar="URL",
           cli_help="a bucket to list: s3://bucket/prefix, gs://bucket/prefix, an Azure container URL, or an "
                    "https bucket prefix"),
     Param("photo_filter", "File name filter", "GPString", default=DEFAULT_PHOTO_FILTER,
           help="Which files of the photo folder or bucket are photos: wildcards separated by ; (any case), "
                "matched against the file name (or, for a wildcard with a /, the path below the folder or "
                "prefix).",
           flags=("--filter",), metavar="PATTERN"),
     Param("modified_since", "Modified since", "GPDate",
           help="Bucket: append only objects modified at or after this date and time (without a time zone: "
                "this computer's local time).",
           flags=("--modified-since",), metavar="DATE",
           cli_help="bucket: only objects modified since DATE (2024-05-01, 2024-05-01T14:30:00Z)"),
     Param("image_urls", "Image URLs", "GPString", multi_value=True,
           help="Image URLs typed or pasted in, in addition to (or instead of) the URL list file.",
           front_ends=ONLY_PRO,
           only_because="on the command line the URLs come from the list file (--file), as in the reference "
                        "client"),
     _IMAGERY_TYPE,
     Param("preflight", "Check photos first", "GPBoolean", default=False,
           help="Read every photo's metadata before sending and report (not send) the ones without a "
                "usable GPS position or that cannot be read.",
           flags=("--preflight",),
           cli_help="read every photo's metadata first and report, not send, the ones a layer cannot place"),
     _ATTACH_APPEND,
     Param("keep_near_duplicates", "Keep near-duplicates", "GPBoolean", default=False,
           setting="keep_near_duplicates", category=_SEQUENCES,
           help="Send near-duplicates too. By default a photo within 0.1 m and 5° of the photo before it in its "
                "sequence (NEAR_DUPLICATE_METRES, NEAR_DUPLICATE_DEGREES) is skipped, with that reason in the "
                "report.",
           flags=("--keep-near-duplicates",), cli_help="send near-duplicates too (by default they are skipped "
                                                        "and reported)"),
     Param("heading_from_track", "Heading from track", "GPBoolean", default=False,
           setting="heading_from_track", category=_SEQUENCES,
           help="Give a photo without a camera heading the direction of travel of its sequence (the bearing to "
                "the next photo; the last photo: from the one before), plus the heading offset. Each such "
                "heading is flagged as inferred in the report; a recorded heading is never changed.",
           flags=("--heading-from-track",),
           cli_help="a photo without a heading takes the direction of travel (flagged as inferred)"),
     Param("heading_offset", "Heading offset (degrees)", "GPDouble", setting="heading_offset",
           category=_SEQUENCES,
           help="Degrees added to a heading from the track, for a camera not facing forward: 90 right, -90 "
                "left, 180 rear (default: the HEADING_OFFSET setting, 0).",
           flags=("--heading-offset",), metavar="DEG",
           cli_help="degrees added to a heading from the track (90: right-facing camera)"),
     Param("max_image_list_size", "Images per request", "GPLong", setting="max_image_list_size",
           help="Most image URLs sent in one append request (default: the MAX_IMAGE_LIST_SIZE setting, 100).",
           flags=("--max-image-list-size",), metavar="N", front_ends=ONLY_CLI,
           only_because="a reference-client flag; in Pro it is the MAX_IMAGE_LIST_SIZE setting"),
     ) + VIEWER_PARAMS + CONNECTION_PARAMS + _append_outputs(),
    run=_run_append_images, outputs=_append_outputs_of,
    needs_one_of=("url_file", "image_urls", "photo_folder", "source"),
    cli_help="append a list of images (a URL list file, a bucket, or a photo folder for a local layer) to an "
             "existing layer")

CHECK_LAYER = ToolSpec(
    "CheckLayer", "check-layer", "Check Layer for the Viewer",
    "Reads the photo URLs of an existing Oriented Imagery layer and checks that Esri's viewer can open them from "
    "the layer's portal: https, CORS for the portal's origin, JPEG/TIFF/MRF, no expiring signature, readable "
    "without credentials. Each problem is a warning with its fix (the CORS rule to paste).",
    (_EXISTING_LAYER,) + VIEWER_PARAMS + CONNECTION_PARAMS + (
        _derived("out_checked_count", "Checked count", "GPLong", "Number of photos whose host was asked."),
        _derived("out_problem_count", "Not viewer-ready count", "GPLong",
                 "Number of photos the viewer could not open, each reported with its reason and fix."),
        _derived("out_report", "Report (JSON)", "GPString",
                 "The check as JSON: the viewer's origins, per host what was checked, per photo its issues "
                 "(kind, message, fix), and the CORS rules to paste."),
    ),
    run=_run_check_layer, outputs=_check_outputs,
    cli_help="check that Esri's viewer can open the photos of an existing layer")

INSPECT = ToolSpec(
    "Inspect", "inspect", "Inspect Photos",
    "Reads photos' headers and shows their Oriented Imagery attributes, without sending anything.",
    (Param("sources", "Photos", "GPString", multi_value=True, help="Photo URLs or local paths.",
           flags=("sources",), metavar="SOURCE"),
     Param("list_file", "List file", "DEFile", help="Text file with one photo URL or path per line.",
           flags=("--file",), metavar="LIST"),
     Param("imagery_type", "Imagery type", "GPString", value_list=IMAGERY_TYPES,
           help="Override the detected imagery type.", flags=("--imagery-type",), metavar="TYPE")),
    run=_run_inspect, front_ends=ONLY_CLI,
    cli_help="read photos' headers and show their Oriented Imagery attributes")

TOOLS: Tuple[ToolSpec, ...] = (HEALTH_CHECK, CREATE_LAYER, APPEND_IMAGE, APPEND_IMAGES, CHECK_LAYER, INSPECT)
PRO_TOOLS: Tuple[ToolSpec, ...] = tuple(t for t in TOOLS if PRO in t.front_ends)
CLI_TOOLS: Tuple[ToolSpec, ...] = tuple(t for t in TOOLS if CLI in t.front_ends)
TOOLS_BY_NAME: Dict[str, ToolSpec] = {t.name: t for t in TOOLS}


def missing_one_of(tool: ToolSpec, values: Mapping[str, Any], front_end: str) -> Optional[str]:
    """When *tool* needs one of several inputs and none is given: what to give, in *front_end*'s words."""
    names = [name for name in tool.needs_one_of if tool.param(name).on(front_end)]
    if not names or any(values.get(name) for name in names):
        return None
    words = [((tool.param(n).flag or n) if front_end == CLI else tool.param(n).label) for n in names]
    return "give " + (", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0])


def setting_overrides(tool: ToolSpec, values: Mapping[str, Any], extra: Tuple[Param, ...] = ()) -> Dict[str, Any]:
    """``{setting: value}`` for every parameter of *tool* (and *extra*) given a value."""
    out: Dict[str, Any] = {}
    for p in tuple(tool.params) + tuple(extra):
        value = values.get(p.name)
        if p.setting and value is not None and value != "" and value is not False:  # 0 is a value (0 == False)
            out[p.setting] = value
    return out
