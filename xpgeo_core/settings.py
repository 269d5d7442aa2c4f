"""Settings: every option XPGEO reads, declared once, with one precedence.

Highest first: tool parameter or CLI flag > environment (``XPGEO_*``) > config file
(``xpgeo.env``) > default.

The config file holds ``KEY=VALUE`` lines. It accepts the AerialSphere reference
client's names (``CLIENT_ESRI_API_KEY``, ``USERNAME``, ``PASSWORD``) as well as ours.
In the environment every setting carries the ``XPGEO_`` prefix: plain ``USERNAME`` is
always set on Windows (to the Windows login) and is never read from the environment.

Where the config file is looked for, first found wins:

1. an explicit path (``--config`` / ``XPGEO_CONFIG``); it must exist;
2. ``xpgeo.env`` in the search folders the caller gives (the toolbox folder, or the
   current folder for the command line);
3. ``xpgeo.env`` in the user's config folder: ``%APPDATA%\\XPGEO`` on Windows,
   ``$XDG_CONFIG_HOME/xpgeo`` (default ``~/.config/xpgeo``) elsewhere.

Secrets are held as :class:`Secret`, whose ``repr`` and ``str`` are asterisks.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from xpgeo_core.errors import REDACTED, ConfigError

log = logging.getLogger("xpgeo.settings")

CONFIG_FILE_NAME = "xpgeo.env"
REFERENCE_ENV_FILE_NAME = ".env"
"""The AerialSphere reference client's config file, read by the command line from the current folder
after ``xpgeo.env`` (which wins where both set a key), so a folder set up for that client works unchanged."""
class BackendName(str, Enum):
    """The ``backend`` setting's values. A ``str`` enum: a member equals, hashes, formats and
    serialises as its word ("portal"), so messages, JSON and comparisons are as with the words."""

    AUTO = "auto"
    XPGEO = "xpgeo"
    PORTAL = "portal"
    LOCAL = "local"

    def __str__(self) -> str:  # the word, on every Python (3.11 changed str() of mixed-in enums)
        return self.value


BACKEND_LABELS: Dict[str, str] = {BackendName.AUTO: "Auto", BackendName.XPGEO: "XPGEO server",
                                  BackendName.PORTAL: "Portal", BackendName.LOCAL: "Local folder"}
"""Every backend name (the ``backend`` setting's values) with the label the tools show. The one list."""
BACKENDS = tuple(name.value for name in BackendName)  # plain words: argparse choices, Pro value lists
BACKEND_PLACES: Dict[str, str] = {"xpgeo": "on an XPGEO server", "portal": "on a portal", "local": "in a local folder"}
"""Where each backend keeps a layer, as messages say it ("a layer on a portal")."""
IMAGERY_TYPES = ("Horizontal", "Oblique", "Nadir", "360", "Inspection")


class Secret:
    """A secret string that never shows itself by accident.

    ``str()``, ``repr()`` and f-strings give asterisks; only :meth:`reveal` gives the
    value, and only code that puts it on the wire calls it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):  # never pickle a secret into a file
        raise TypeError("Secret values cannot be pickled")


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on", "y", "t"):
        return True
    if value in ("0", "false", "no", "off", "n", "f", ""):
        return False
    raise ValueError("expected true or false")


def _parse_whole_number(text: str, least: int) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        value = least - 1  # not a whole number: the same message as one too small
    if value < least:
        raise ValueError(f"expected a whole number of at least {least}")
    return value


def _parse_positive_int(text: str) -> int:
    return _parse_whole_number(text, 1)


def _parse_retries(text: str) -> int:
    value = _parse_whole_number(text, 0)
    if value > 10:  # more would keep a dead server's batch busy for hours
        raise ValueError("expected a whole number from 0 to 10")
    return value


def _parse_non_negative_float(text: str) -> float:
    # NaN and infinity parse as floats but break socket time-outs and back-off sleeps.
    try:
        value = float(str(text).strip())
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise ValueError("expected a number of at least 0")
    return value


def _parse_degrees(text: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError("expected an angle in degrees, e.g. 90 (right), -90 (left), 180 (rear)")
    return value


def _parse_str(text: str) -> Optional[str]:
    value = str(text).strip()
    return value or None


def _parse_url(text: str) -> Optional[str]:
    value = _parse_str(text)
    if value is None:
        return None
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise ValueError("expected a URL starting with http:// or https://")
    return (scheme.lower() + sep + rest).rstrip("/")  # schemes are case-insensitive (RFC 3986)


parse_url = _parse_url
"""The one URL rule (http/https in any case, a trailing slash dropped), for parameters that are no setting."""


def _parse_backend(text: str) -> BackendName:
    value = str(text).strip().lower() or "auto"
    aliases = {"server": "xpgeo", "rest": "xpgeo", "xpgeo_rest": "xpgeo", "folder": "local"}
    aliases.update({label.lower(): name for name, label in BACKEND_LABELS.items()})  # the tools' labels
    value = aliases.get(value, value)
    if value not in BACKENDS:
        raise ValueError("expected one of " + ", ".join(BACKENDS))
    return BackendName(value)


BUCKET_ACCESS = ("auto", "anonymous", "sdk")


def _parse_bucket_access(text: str) -> str:
    value = str(text).strip().lower() or "auto"
    if value not in BUCKET_ACCESS:
        raise ValueError("expected one of " + ", ".join(BUCKET_ACCESS))
    return value


VIEWER_CHECKS: Dict[str, str] = {"sample": "Sample per host", "all": "All photos", "off": "Off"}
"""The viewer-readiness check's modes (the ``check_viewer`` setting) with the label the tools show."""


def _parse_viewer_check(text: str) -> str:
    value = str(text).strip().lower() or "sample"
    aliases = {label.lower(): name for name, label in VIEWER_CHECKS.items()}
    aliases.update({"none": "off", "false": "off", "no": "off", "every": "all", "true": "sample", "yes": "sample"})
    value = aliases.get(value, value)
    if value not in VIEWER_CHECKS:
        raise ValueError("expected one of " + ", ".join(VIEWER_CHECKS))
    return value


def _parse_secret(text: str) -> Optional[Secret]:
    value = str(text).strip()
    return Secret(value) if value else None


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its attribute name, the names it goes by, how it parses."""

    attr: str
    keys: Tuple[str, ...]
    """Names accepted in the config file; the first is the canonical one."""
    env: str
    parse: Callable[[str], Any]
    default: Any
    doc: str
    secret: bool = False


SETTINGS: Tuple[SettingSpec, ...] = (
    SettingSpec("backend", ("XPGEO_BACKEND", "BACKEND"), "XPGEO_BACKEND", _parse_backend, BackendName.AUTO,
                "Where layers are made: auto, xpgeo (XPGEO REST server), portal (ArcGIS REST), local (a folder). "
                "auto picks xpgeo when XPGEO_REST_URL is set, else portal when a portal URL or a Pro sign-in is "
                "available, else local."),
    SettingSpec("rest_url", ("XPGEO_REST_URL", "REST_URL"), "XPGEO_REST_URL", _parse_url, None,
                "Base URL of the AerialSphere XPGEO REST server."),
    SettingSpec("api_key", ("CLIENT_ESRI_API_KEY", "XPGEO_API_KEY", "API_KEY"), "XPGEO_API_KEY", _parse_secret,
                None, "ArcGIS API key. Sent to the XPGEO server, or used against the portal.", secret=True),
    SettingSpec("username", ("USERNAME", "XPGEO_USERNAME"), "XPGEO_USERNAME", _parse_str, None,
                "ArcGIS account name (portal backend; the XPGEO server uses its own)."),
    SettingSpec("password", ("PASSWORD", "XPGEO_PASSWORD"), "XPGEO_PASSWORD", _parse_secret, None,
                "ArcGIS account password.", secret=True),
    SettingSpec("portal_url", ("PORTAL_URL", "XPGEO_PORTAL_URL"), "XPGEO_PORTAL_URL", _parse_url, None,
                "ArcGIS Online or Enterprise portal URL, e.g. https://www.arcgis.com or https://gis.example.com/portal."),
    SettingSpec("disable_ssl_verification", ("DISABLE_SSL_VERIFICATION",), "XPGEO_DISABLE_SSL_VERIFICATION",
                _parse_bool, False, "true turns TLS certificate checks off (a warning says so each run). Prefer CA_BUNDLE."),
    SettingSpec("ca_bundle", ("CA_BUNDLE",), "XPGEO_CA_BUNDLE", _parse_str, None,
                "PEM file of the certificate authorities to trust (an internal CA)."),
    SettingSpec("max_image_list_size", ("MAX_IMAGE_LIST_SIZE",), "XPGEO_MAX_IMAGE_LIST_SIZE", _parse_positive_int,
                100, "Most image URLs sent in one append request; longer lists are split into chunks."),
    SettingSpec("timeout_seconds", ("TIMEOUT_SECONDS",), "XPGEO_TIMEOUT_SECONDS", _parse_non_negative_float, 60.0,
                "Seconds to wait for a server to connect or answer; 0 waits without limit."),
    SettingSpec("retries", ("RETRIES",), "XPGEO_RETRIES", _parse_retries, 3,
                "Retries of reads on 429/502/503/504 and dropped connections; of writes only where the server did nothing "
                "(429/503, no connection) (0 to 10)."),
    SettingSpec("retry_backoff", ("RETRY_BACKOFF",), "XPGEO_RETRY_BACKOFF", _parse_non_negative_float, 0.5,
                "Back-off factor in seconds between retries (doubles each time; Retry-After wins)."),
    SettingSpec("output_dir", ("XPGEO_OUTPUT_DIR", "OUTPUT_DIR"), "XPGEO_OUTPUT_DIR", _parse_str, "xpgeo-layers",
                "Folder that holds local layers (local backend)."),
    SettingSpec("fetch_concurrency", ("FETCH_CONCURRENCY",), "XPGEO_FETCH_CONCURRENCY", _parse_positive_int, 8,
                "Photos whose headers are read at once."),
    SettingSpec("max_header_bytes", ("MAX_HEADER_BYTES",), "XPGEO_MAX_HEADER_BYTES", _parse_positive_int,
                1024 * 1024, "Most bytes read from one photo to find its metadata when its server ignores Range; "
                "range reads and local files stop at 128 KiB (or at this, if lower)."),
    SettingSpec("magnetic_correction", ("MAGNETIC_CORRECTION",), "XPGEO_MAGNETIC_CORRECTION", _parse_bool,
                True, "true turns magnetic camera headings (GPSImgDirectionRef M) into true-north ones with the "
                "World Magnetic Model at the photo's position, height and date (each photo's warnings say by how "
                "much); false keeps them as recorded, with a warning."),
    SettingSpec("sequences", ("SEQUENCES",), "XPGEO_SEQUENCES", _parse_bool, True,
                "true groups each append's photos into sequences (SequenceId, SequenceOrder: the viewer's "
                "next/previous follows the capture), skips near-duplicates and, if asked, infers headings from "
                "the track; false sends the photos as they are (portal and local backends)."),
    SettingSpec("footprints", ("FOOTPRINTS",), "XPGEO_FOOTPRINTS", _parse_bool, True,
                "true gives each photo appended its footprint polygon (the ground it covers, as Esri's viewer "
                "computes it): the footprint layer (layer 1) of the portal's service, footprints.geojson of a "
                "local layer, through the portal for the XPGEO server; false writes none."),
    SettingSpec("sequence_cutoff_seconds", ("SEQUENCE_CUTOFF_SECONDS",), "XPGEO_SEQUENCE_CUTOFF_SECONDS",
                _parse_non_negative_float, 60.0,
                "A sequence is cut where the next photo was taken more than this many seconds later."),
    SettingSpec("sequence_cutoff_metres", ("SEQUENCE_CUTOFF_METRES",), "XPGEO_SEQUENCE_CUTOFF_METRES",
                _parse_non_negative_float, 600.0,
                "A sequence is cut where the next photo is more than this many metres away."),
    SettingSpec("keep_near_duplicates", ("KEEP_NEAR_DUPLICATES",), "XPGEO_KEEP_NEAR_DUPLICATES", _parse_bool, False,
                "true sends near-duplicates too; false skips (and reports) a photo within NEAR_DUPLICATE_METRES "
                "and NEAR_DUPLICATE_DEGREES of the photo before it in its sequence."),
    SettingSpec("near_duplicate_metres", ("NEAR_DUPLICATE_METRES",), "XPGEO_NEAR_DUPLICATE_METRES",
                _parse_non_negative_float, 0.1, "Near-duplicate distance, in metres."),
    SettingSpec("near_duplicate_degrees", ("NEAR_DUPLICATE_DEGREES",), "XPGEO_NEAR_DUPLICATE_DEGREES",
                _parse_non_negative_float, 5.0,
                "Near-duplicate heading difference, in degrees (a photo without a heading: the distance decides)."),
    SettingSpec("heading_from_track", ("HEADING_FROM_TRACK",), "XPGEO_HEADING_FROM_TRACK", _parse_bool, False,
                "true gives a photo without a heading the direction of travel of its sequence (plus "
                "HEADING_OFFSET), flagged as inferred in the report; a recorded heading is never changed."),
    SettingSpec("heading_offset", ("HEADING_OFFSET",), "XPGEO_HEADING_OFFSET", _parse_degrees, 0.0,
                "Degrees added to a heading from the track: the camera's mount (90 right-facing, -90 left, "
                "180 rear)."),
    SettingSpec("attachments", ("ATTACHMENTS",), "XPGEO_ATTACHMENTS", _parse_bool, False,
                "true (portal backend): create-oi-layer makes a layer whose photos are feature attachments (as "
                "Esri's Generate Service From Oriented Imagery Dataset with attach_images does), and appends take "
                "photo files and folders of this machine and upload each into it as its feature's attachment."),
    SettingSpec("batch_size", ("ADD_FEATURES_BATCH_SIZE", "BATCH_SIZE"), "XPGEO_BATCH_SIZE", _parse_positive_int, 250,
                "Features per addFeatures request (portal backend; capped at the layer's maxRecordCount)."),
    SettingSpec("check_viewer", ("CHECK_VIEWER",), "XPGEO_CHECK_VIEWER", _parse_viewer_check, "sample",
                "Whether each append checks that Esri's viewer can open the photos (https, CORS for the portal's "
                "origin, JPEG/TIFF/MRF, no expiring signature, readable without credentials): sample (the first "
                "3 photos of each host sent by the run), all (every photo sent), off."),
    SettingSpec("require_viewer_ready", ("REQUIRE_VIEWER_READY",), "XPGEO_REQUIRE_VIEWER_READY", _parse_bool, False,
                "true: a photo the viewer could not open is not sent (a failure, not a warning); with the sample "
                "check, a host whose sample shows a CORS or reachability problem stops the host's other photos too."),
    SettingSpec("token_minutes", ("TOKEN_MINUTES",), "XPGEO_TOKEN_MINUTES", _parse_positive_int, 60,
                "Lifetime asked for generated portal tokens, in minutes."),
    SettingSpec("referer", ("REFERER",), "XPGEO_REFERER", _parse_str, None,
                "Referer bound to generated portal tokens (default: the portal URL)."),
    SettingSpec("bucket_access", ("BUCKET_ACCESS",), "XPGEO_BUCKET_ACCESS", _parse_bucket_access, "auto",
                "How a bucket source (--source) is listed: auto (anonymously; when the store refuses, through "
                "its SDK with the SDK's own credentials, if the xpgeo[s3], xpgeo[gcs] or xpgeo[azure] extra is "
                "installed), anonymous, or sdk (always through the SDK)."),
    SettingSpec("s3_endpoint_url", ("S3_ENDPOINT_URL",), "XPGEO_S3_ENDPOINT_URL", _parse_url, None,
                "Endpoint of an S3-compatible store (MinIO, Ceph, Wasabi, ...): s3:// sources are listed there, "
                "path-style, and photos stored as ENDPOINT/bucket/key. Empty: Amazon S3."),
    SettingSpec("gcs_endpoint_url", ("GCS_ENDPOINT_URL",), "XPGEO_GCS_ENDPOINT_URL", _parse_url, None,
                "Endpoint of a Google Cloud Storage compatible server (an emulator): gs:// sources are listed "
                "there and photos stored as ENDPOINT/bucket/key. Empty: storage.googleapis.com."),
    SettingSpec("azure_blob_endpoint_url", ("AZURE_BLOB_ENDPOINT_URL",), "XPGEO_AZURE_BLOB_ENDPOINT_URL",
                _parse_url, None,
                "Blob endpoint of an Azure Storage account other than https://ACCOUNT.blob.core.windows.net "
                "(Azurite: http://127.0.0.1:10000/devstoreaccount1); sources under it are its containers."),
    SettingSpec("azure_storage_connection_string", ("AZURE_STORAGE_CONNECTION_STRING",),
                "AZURE_STORAGE_CONNECTION_STRING", _parse_secret, None,
                "Azure Storage connection string the azure-storage-blob SDK lists private containers with "
                "(the SDK's own variable name). Never shown.", secret=True),
)

SPECS_BY_ATTR: Dict[str, SettingSpec] = {s.attr: s for s in SETTINGS}
_SPECS_BY_KEY: Dict[str, SettingSpec] = {k: s for s in SETTINGS for k in s.keys}


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one run. Immutable; build with :func:`load_settings`."""

    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)
    config_file: Optional[str] = None
    read_files: Tuple[str, ...] = ()
    """Every config file read, highest precedence first (``xpgeo.env``, then a reference-client ``.env``)."""

    if TYPE_CHECKING:
        # Each setting's type, for the type checker: ``settings.batch_size`` is an int everywhere it is
        # read. They are served from ``values`` (:meth:`__getattr__`); tests/test_settings.py checks this
        # list against SETTINGS (one line per setting, each default of its type). ClassVar only so the
        # dataclass constructor does not take them.
        backend: ClassVar[BackendName]
        rest_url: ClassVar[Optional[str]]
        api_key: ClassVar[Optional[Secret]]
        username: ClassVar[Optional[str]]
        password: ClassVar[Optional[Secret]]
        portal_url: ClassVar[Optional[str]]
        disable_ssl_verification: ClassVar[bool]
        ca_bundle: ClassVar[Optional[str]]
        max_image_list_size: ClassVar[int]
        timeout_seconds: ClassVar[float]
        retries: ClassVar[int]
        retry_backoff: ClassVar[float]
        output_dir: ClassVar[str]
        fetch_concurrency: ClassVar[int]
        max_header_bytes: ClassVar[int]
        magnetic_correction: ClassVar[bool]
        sequences: ClassVar[bool]
        footprints: ClassVar[bool]
        sequence_cutoff_seconds: ClassVar[float]
        sequence_cutoff_metres: ClassVar[float]
        keep_near_duplicates: ClassVar[bool]
        near_duplicate_metres: ClassVar[float]
        near_duplicate_degrees: ClassVar[float]
        heading_from_track: ClassVar[bool]
        heading_offset: ClassVar[float]
        attachments: ClassVar[bool]
        batch_size: ClassVar[int]
        check_viewer: ClassVar[str]
        require_viewer_ready: ClassVar[bool]
        token_minutes: ClassVar[int]
        referer: ClassVar[Optional[str]]
        bucket_access: ClassVar[str]
        s3_endpoint_url: ClassVar[Optional[str]]
        gcs_endpoint_url: ClassVar[Optional[str]]
        azure_blob_endpoint_url: ClassVar[Optional[str]]
        azure_storage_connection_string: ClassVar[Optional[Secret]]

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "values")
        if name in values:
            return values[name]
        raise AttributeError(name)

    def source_of(self, attr: str) -> str:
        """Where a value came from: ``parameter``, ``environment``, ``config file``, ``default``."""
        return self.sources.get(attr, "default")

    def secrets(self) -> List[str]:
        """The revealed secret values, for :func:`xpgeo_core.errors.redact`."""
        out = []
        for spec in SETTINGS:
            value = self.values.get(spec.attr)
            if spec.secret and isinstance(value, Secret):
                out.append(value.reveal())
        return out

    def replace(self, **overrides: Any) -> "Settings":
        """A copy with some values replaced (already-parsed values)."""
        values = dict(self.values)
        sources = dict(self.sources)
        for attr, value in overrides.items():
            if attr not in SPECS_BY_ATTR:
                raise ConfigError(f"Unknown setting {attr!r}.")
            if SPECS_BY_ATTR[attr].secret and isinstance(value, str):
                value = Secret(value) if value else None
            values[attr] = value
            sources[attr] = "parameter"
        return Settings(values=values, sources=sources, config_file=self.config_file, read_files=self.read_files)

    def describe(self) -> Dict[str, Any]:
        """Every setting with its value (secrets masked) and source, for ``--verbose`` output."""
        out = {}
        for spec in SETTINGS:
            value = self.values.get(spec.attr)
            if spec.secret:
                value = REDACTED if value else None
            out[spec.keys[0]] = {
                "value": value, "source": self.source_of(spec.attr)}
        return out

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{s.attr}={(REDACTED if self.values.get(s.attr) else None) if s.secret else self.values.get(s.attr)!r}"
            for s in SETTINGS)
        return f"Settings({shown})"


def user_config_dir(environ: Mapping[str, str]) -> Optional[Path]:
    """The per-user config folder, from the standard library's point of view.

    Windows: ``%APPDATA%\\XPGEO``. Elsewhere: ``$XDG_CONFIG_HOME/xpgeo`` or ``~/.config/xpgeo``.
    """
    if os.name == "nt" and environ.get("APPDATA"):
        return Path(environ["APPDATA"]) / "XPGEO"
    if environ.get("XDG_CONFIG_HOME"):
        return Path(environ["XDG_CONFIG_HOME"]) / "xpgeo"
    home = environ.get("HOME") or environ.get("USERPROFILE")
    if home:
        return Path(home) / ".config" / "xpgeo"
    return None


def find_config_file(explicit: Optional[str], search_dirs: Sequence[str], environ: Mapping[str, str]) -> Optional[Path]:
    """The config file to read, or None. An explicit path that does not exist is an error."""
    explicit = explicit or environ.get("XPGEO_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir():
            raise ConfigError(f"Config file {str(path)!r} is a folder, not a file.",
                              hint="Give the path of the xpgeo.env file itself (--config or XPGEO_CONFIG).")
        if not path.is_file():
            raise ConfigError(f"Config file {str(path)!r} was not found.",
                              hint="Check the --config path (or XPGEO_CONFIG), or remove it to use the defaults.")
        return path
    candidates = [Path(d) / CONFIG_FILE_NAME for d in search_dirs if d]
    user_dir = user_config_dir(environ)
    if user_dir is not None:
        candidates.append(user_dir / CONFIG_FILE_NAME)
    for path in candidates:
        if path.is_file():
            return path
    return None


def read_config_file(path: Path, *, shared: bool = False) -> Dict[str, Tuple[str, int]]:
    """Parse ``KEY=VALUE`` lines: ``#`` comments, blank lines, optional ``export`` and quotes.

    Returns ``{KEY: (raw value, line number)}``. Unknown keys are warned about, not fatal,
    so a config shared with the reference client (which has server-side keys) still works.
    ``shared``: a ``.env`` that other programs read too; its unknown keys are none of our
    business (logged at debug level only).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {str(path)!r} cannot be read: {exc.__class__.__name__}.",
                          hint="Save it as UTF-8 text with KEY=VALUE lines.") from None
    entries: Dict[str, Tuple[str, int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export "):].strip()
        if "=" not in stripped:
            raise ConfigError(f"Config file {str(path)!r}, line {number}: expected KEY=VALUE.",
                              hint="Each setting goes on its own line, e.g. MAX_IMAGE_LIST_SIZE=100.")
        key, _, value = stripped.partition("=")
        key = key.strip().upper()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key not in _SPECS_BY_KEY:
            (log.debug if shared else log.warning)("Config file %s, line %d: unknown setting %s is ignored.",
                                                   path, number, key)
            continue
        entries[key] = (value, number)
    return entries


def _parse(spec: SettingSpec, raw: Any, where: str) -> Any:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = str(raw)  # a number from a tool parameter or a flag is checked like the same text anywhere else
    if not isinstance(raw, str):
        if spec.secret and raw is not None and not isinstance(raw, Secret):
            raw = str(raw)
        else:
            return raw
    try:
        return spec.parse(raw)
    except (ValueError, TypeError) as exc:
        shown = REDACTED if spec.secret else repr(raw)
        raise ConfigError(f"Setting {spec.keys[0]} from {where} is {shown}: {exc}.",
                          hint=f"{spec.doc}") from None


def load_settings(
    overrides: Optional[Mapping[str, Any]] = None,
    *,
    config_path: Optional[str] = None,
    search_dirs: Iterable[str] = (),
    environ: Optional[Mapping[str, str]] = None,
    reference_env_dirs: Iterable[str] = (),
) -> Settings:
    """Resolve every setting. ``overrides`` maps attribute names to parameter/flag values;
    ``None`` and empty strings mean "not given" so an empty tool parameter falls through.
    ``reference_env_dirs``: folders whose reference-client ``.env`` is read after the config
    file (the command line passes the current folder)."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    unknown = set(overrides) - set(SPECS_BY_ATTR)
    if unknown:
        raise ConfigError("Unknown setting(s): " + ", ".join(sorted(unknown)) + ".")

    path = find_config_file(config_path, list(search_dirs), environ)
    files: List[Tuple[Path, Dict[str, Tuple[str, int]]]] = [(path, read_config_file(path))] if path else []
    for folder in reference_env_dirs:
        dotenv = Path(folder) / REFERENCE_ENV_FILE_NAME
        if dotenv.is_file() and dotenv != path:
            files.append((dotenv, read_config_file(dotenv, shared=True)))

    values: Dict[str, Any] = {}
    sources: Dict[str, str] = {}
    for spec in SETTINGS:
        given = overrides.get(spec.attr)
        if given is not None and given != "":
            values[spec.attr] = _parse(spec, given, "a tool parameter or command-line flag")
            sources[spec.attr] = "parameter"
            continue
        env_value = environ.get(spec.env)
        if env_value is not None and env_value.strip() != "":
            values[spec.attr] = _parse(spec, env_value, f"environment variable {spec.env}")
            sources[spec.attr] = "environment"
            continue
        file_hits = [(where, key, entries[key]) for where, entries in files for key in spec.keys if key in entries]
        if file_hits:
            where, key, (raw, line) = file_hits[0]
            values[spec.attr] = _parse(spec, raw, f"{where}, line {line} ({key})")
            sources[spec.attr] = f"config file {where}" if where != path else "config file"
            continue
        values[spec.attr] = spec.default
        sources[spec.attr] = "default"

    settings = Settings(values=values, sources=sources, config_file=str(path) if path else None,
                        read_files=tuple(str(where) for where, _ in files))
    if settings.ca_bundle and not Path(settings.ca_bundle).expanduser().is_file():
        raise ConfigError(f"CA_BUNDLE file {settings.ca_bundle!r} was not found.",
                          hint="Point CA_BUNDLE at a PEM file of your organisation's certificate authorities.")
    return settings
