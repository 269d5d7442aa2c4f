"""The viewer-readiness check: will Esri's OrientedImageryViewer show each photo of a layer?

Why: an append can succeed and the viewer still say "No image available". The viewer runs in a
web page of the layer's portal (ArcGIS Online's ``https://www.arcgis.com`` and the organization's
own ``https://<org>.maps.arcgis.com``, or the Enterprise portal's address) and fetches each photo's
``ImagePath`` from there, as any script of that page would. So each photo must

* be ``https`` when the portal is (an https page does not load http photos: mixed content);
* answer that fetch with an ``Access-Control-Allow-Origin`` that allows the portal's origin
  (the origin itself or ``*``), or the browser hides the answer from the viewer (CORS);
* be a format the viewer decodes: JPEG, TIFF or MRF, known from the bytes (and the
  Content-Type), not from the extension;
* be readable as the layer stores it: without the presigned signature (the layer keeps the URL
  without it, and it would expire anyway: :func:`xpgeo_core.urls.is_presigned`), without the
  list's ``user:password@``, without cookies or tokens: the viewer has none of XPGEO's credentials.

How: the checks that need no request (https, a local path) are made for every photo. The others
need the photo's host to answer as it answers the viewer. Where the append reads the photo's
header anyway (portal and local backends) and the list's URL is the stored one (no signature, no
``user:password@``), that read's first GET carries ``Origin: <portal origin>`` and its answer is
the check: no second request (a photo whose header read fails has failed anyway; one whose read
needed a cookie set along a redirect is asked again without it, as the viewer's fetch keeps none). Otherwise (the
XPGEO server reads the photos itself; a presigned or credentialed URL; ``check-layer``) the check
takes one small request of its own: a ``GET`` of the stored URL for its first :data:`PROBE_BYTES`
bytes (``Range``), with ``Origin``, anonymous (:meth:`xpgeo_core.photo_client.PhotoClient.get`),
through the one HTTP policy. Photos checked: a sample (the first :data:`SAMPLE_PER_HOST` photos of
each host a run sends: the properties checked belong to a host or bucket, so a few photos show
them), every photo with ``--check-viewer all``, none with ``off``. A second origin (ArcGIS
Online's two) costs one more ``bytes=0-0`` request only when the first answer named its origin
instead of ``*``.

Each problem is a :class:`~xpgeo_core.results.ViewerIssue` with its fix; the paste-ready CORS
rules (S3, Azure, Google Cloud Storage) go once per host into the summary and the warnings.
``--require-viewer-ready`` (the ``REQUIRE_VIEWER_READY`` setting) makes them failures: the
photo is not sent, nor, in sample mode, the other photos of a host whose sample shows a problem of the
host (CORS, unreachable: :data:`HOST_KINDS`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple
from urllib.parse import urlsplit

import urllib3

from xpgeo_core.http import ConnectionTracker
from xpgeo_core.metadata.fetch import _network_error
from xpgeo_core.metadata.jpeg import format_of
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.results import ViewerIssue
from xpgeo_core.settings import Settings

log = logging.getLogger("xpgeo.readiness")

SAMPLE_PER_HOST = 3
"""Photos checked with their host, per host, in sample mode (the first ones a run sends)."""
PROBE_BYTES = 64
"""Bytes the probe asks for: enough to tell JPEG, TIFF and MRF from PNG, HEIC, WebP or a page."""
ARCGIS_ONLINE = "https://www.arcgis.com"
VIEWER_FORMATS = ("jpeg", "tiff", "mrf")
VIEWER_CONTENT_TYPES = ("image/jpeg", "image/jpg", "image/pjpeg", "image/tiff", "image/tif")
HOST_KINDS = frozenset(["cors", "unreachable"])
"""Problems of a host's configuration, not of one photo: in sample mode with ``require``, found on the
sample, they stop the host's other photos too (a format, signature or access problem stops only its photo)."""
EXAMPLES_PER_KIND = 5
"""Photos named one by one per kind of problem in the warnings; the rest are counted."""

ATTACHMENTS = "use attachments mode, so the portal itself serves the photos (docs/backends.md)"
FIX_HTTP = ("serve the photos over https (an S3, Azure or GCS bucket's https endpoint, or a CDN), or " + ATTACHMENTS)
FIX_FORMAT = "export the photo as JPEG (the viewer shows JPEG, TIFF and MRF)"
FIX_PUBLIC = ("make the photos readable without credentials (a public bucket or prefix, or a CDN in front of a "
              "private one), or " + ATTACHMENTS)
FIX_SIGNED = ("the layer stores the URL without its signature or token (a secret, and it expires), so the viewer "
              "asks for the bare URL: make the objects publicly readable, or " + ATTACHMENTS)
FIX_LOCAL = "a web viewer cannot open a file of this machine: " + ATTACHMENTS
FIX_UNREACHABLE = "check that the host answers from outside your network (no VPN, no firewall rule for XPGEO only)"


@dataclass(frozen=True)
class ViewerTarget:
    """Where the layer's viewer runs: the web origins it fetches photos from, and whether it is https."""

    origins: Tuple[str, ...]
    """``scheme://host[:port]`` as a browser sends it in ``Origin``; empty: no CORS applies (the local
    preview, opened from disk, shows photos with ``<img>``) or the portal is not known."""
    https: bool
    where: str
    """For messages: "the portal https://gis.example.com/portal"."""
    local: bool = False
    """The local backend: photo files on this machine are what its preview shows."""


def web_origin(url: str) -> str:
    """The ``Origin`` a page at *url* sends: scheme and host in lower case, the port only when not the default."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def portal_target(portal_url: str, portal_self: Optional[Mapping[str, Any]] = None) -> ViewerTarget:
    """The viewer's origins for a portal: its own origin; for ArcGIS Online also www.arcgis.com and the
    organization's ``https://<urlKey>.<customBaseUrl>`` (``portals/self``), where Map Viewer runs."""
    origins = [web_origin(portal_url)]
    info = portal_self or {}
    url_key, base = info.get("urlKey"), info.get("customBaseUrl")
    if isinstance(url_key, str) and isinstance(base, str) and url_key and base:
        origins.append(f"https://{url_key}.{base}".lower())
    host = (urlsplit(portal_url).hostname or "").lower()
    if host == "arcgis.com" or host.endswith(".arcgis.com"):
        origins.insert(0, ARCGIS_ONLINE)
    unique = tuple(OrderedDict.fromkeys(origins))
    return ViewerTarget(unique, portal_url.lower().startswith("https://"), f"the portal {portal_url}")


LOCAL_TARGET = ViewerTarget((), False, "the local preview (opened from disk, it needs no CORS)", local=True)


def unknown_portal_target(what: str) -> ViewerTarget:
    """A layer whose portal XPGEO does not know (an XPGEO server without PORTAL_URL): https is still
    required (ArcGIS Online and Enterprise are https), CORS cannot be checked."""
    return ViewerTarget((), True, f"{what} (not known: set PORTAL_URL to check CORS too)")


# -- one photo -------------------------------------------------------------------------------

@dataclass
class Probe:
    """The host's answer to the viewer's kind of request."""

    status: Optional[int] = None
    allow_origin: Dict[str, Optional[str]] = field(default_factory=dict)
    content_type: Optional[str] = None
    head: bytes = b""
    error: Optional[str] = None


def probe(client: Any, url: str, origins: Sequence[str], known: Optional[Probe] = None) -> Probe:
    """GET the first bytes of *url* as the viewer would: anonymous, with ``Origin`` (see the module docstring).
    *known*: the answer to the header read for the first origin; only the other origins are asked, and only
    when that answer named its origin instead of ``*``."""
    out = known or Probe()
    wanted: List[Optional[str]] = list(origins) or [None]
    if known is not None:
        allowed = known.allow_origin.get(wanted[0] or "")
        if (allowed or "").strip() == "*" or len(wanted) == 1:
            for rest in wanted[1:]:
                out.allow_origin[rest or ""] = allowed
            return out
    try:
        for number, origin in enumerate(wanted):
            if known is not None and number == 0:
                continue
            last = PROBE_BYTES - 1 if number == 0 and known is None else 0
            headers = {"Range": f"bytes=0-{last}", "Accept-Encoding": "identity"}
            if origin:
                headers["Origin"] = origin
            response = client.get(url, headers, anonymous=True)
            try:
                allowed = response.headers.get("Access-Control-Allow-Origin")
                if number == 0 and known is None:
                    out.status = response.status
                    out.content_type = response.headers.get("Content-Type")
                    if response.status in (200, 206):
                        out.head = response.read(PROBE_BYTES)
                if origin:
                    out.allow_origin[origin] = allowed
            finally:
                response.close()
            if out.status not in (200, 206) or (allowed or "").strip() == "*":
                for rest in wanted[number + 1:]:
                    out.allow_origin[rest or ""] = allowed
                break
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        out.error = _network_error(exc).message
    return out


def allows(header: Optional[str], origin: str) -> bool:
    """Does ``Access-Control-Allow-Origin: <header>`` let a page of *origin* read the answer?"""
    value = (header or "").strip()
    return value == "*" or value.rstrip("/").lower() == origin.lower()


def static_issues(image: Image, target: ViewerTarget) -> List[ViewerIssue]:
    """What the stored URL alone says (no request)."""
    path = image.image_path
    if not image.is_web:
        return [] if target.local else [ViewerIssue("local", "it is a file on this machine, not a web address",
                                                    FIX_LOCAL)]
    if target.https and path.lower().startswith("http://"):
        return [ViewerIssue("http", f"it is http:// while {target.where} is https: the browser blocks it as "
                                    "mixed content", FIX_HTTP)]
    return []


def probe_issues(image: Image, target: ViewerTarget, answer: Probe, *, cors_fix: str) -> List[ViewerIssue]:
    """What the host's answer to the viewer's kind of request says."""
    if answer.error:
        return [ViewerIssue("unreachable", f"a request like the viewer's failed: {answer.error}", FIX_UNREACHABLE)]
    if answer.status not in (200, 206):
        said = f"it answers HTTP {answer.status} to a request without XPGEO's credentials"
        if image.ref.signed:
            return [ViewerIssue("signed", said + ": it is readable only with the signature or token in the list's "
                                "URL, which the layer does not store", FIX_SIGNED)]
        if image.ref.has_credentials:
            return [ViewerIssue("credentials", said + ": it is readable only with the user:password of the list",
                                FIX_PUBLIC)]
        return [ViewerIssue("access", said, FIX_PUBLIC)]
    issues = []
    refused = [o for o in target.origins if not allows(answer.allow_origin.get(o), o)]
    if refused:
        given = {answer.allow_origin.get(o) for o in refused} - {None}
        said = ("no Access-Control-Allow-Origin header" if not given else
                "Access-Control-Allow-Origin " + ", ".join(sorted(repr(g) for g in given)))
        issues.append(ViewerIssue("cors", f"its host answers {', '.join(refused)} with {said}: the browser hides the "
                                          "photo from the viewer (CORS)", cors_fix))
    kind = format_of(answer.head)
    content_type = (answer.content_type or "").split(";", 1)[0].strip().lower()
    if kind not in VIEWER_FORMATS and not (kind == "unknown" and content_type in VIEWER_CONTENT_TYPES):
        served = f" (served as {content_type})" if content_type else ""
        shown = {"heic": "HEIC/AVIF", "unknown": "not JPEG, TIFF or MRF"}.get(kind, kind.upper())
        issues.append(ViewerIssue("format", f"it is {shown}{served}: the viewer shows JPEG, TIFF and MRF", FIX_FORMAT))
    return issues


def host_of(image: Image) -> str:
    return web_origin(image.image_path) if image.is_web else "(local files)"


def cors_rules(url: str, origins: Sequence[str]) -> str:
    """The CORS rule to add to the photos' store, ready to paste: S3, Azure Blob Storage or Google Cloud
    Storage when the host is one, else all three and the header any other web server must send."""
    origins = list(origins)
    host = (urlsplit(url).hostname or "").lower()
    s3 = ("S3 (bucket > Permissions > Cross-origin resource sharing, or aws s3api put-bucket-cors --bucket BUCKET "
          "--cors-configuration '{\"CORSRules\": <this list>}'):\n"
          + json.dumps([{"AllowedOrigins": origins, "AllowedMethods": ["GET", "HEAD"], "AllowedHeaders": ["*"],
                         "ExposeHeaders": ["Content-Length", "Content-Range", "ETag"], "MaxAgeSeconds": 3600}],
                       indent=2))
    azure = ("Azure Blob Storage: az storage cors add --account-name ACCOUNT --services b --methods GET HEAD "
             "OPTIONS --origins " + " ".join(origins) + " --allowed-headers '*' --exposed-headers '*' --max-age 3600")
    gcs = ("Google Cloud Storage (save as cors.json, then gcloud storage buckets update gs://BUCKET "
           "--cors-file=cors.json):\n"
           + json.dumps([{"origin": origins, "method": ["GET", "HEAD"],
                          "responseHeader": ["Content-Type", "Content-Length", "Content-Range"],
                          "maxAgeSeconds": 3600}], indent=2))
    if host.endswith(".amazonaws.com") or host == "amazonaws.com":
        return s3
    if host.endswith(".blob.core.windows.net"):
        return azure
    if host in ("storage.googleapis.com", "storage.cloud.google.com") or host.endswith(".storage.googleapis.com"):
        return gcs
    header = ("Any other web server or CDN: answer photo requests with Access-Control-Allow-Origin: "
              + (origins[0] if len(origins) == 1 else "<the request's Origin when it is one of "
                 + ", ".join(origins) + ">, or *") + " (and Vary: Origin).")
    return "\n\n".join((s3, azure, gcs, header))


# -- many photos -----------------------------------------------------------------------------

class ViewerCheck:
    """The check of one run (an append, check-layer, the health check's sample URL).

    :meth:`plan` (cheap, in order: the static checks, and which photos the sample probes) and
    :meth:`probe_all` (the requests, in parallel) are split so the append loop can plan a window
    where it decides what to send and probe it on a thread of its own."""

    def __init__(self, settings: Settings, target: ViewerTarget, *, mode: Optional[str] = None,
                 require: Optional[bool] = None) -> None:
        self.settings = settings
        self.target = target
        self.mode = mode or getattr(settings, "check_viewer", "sample")
        self.require = bool(settings.require_viewer_ready if require is None else require)
        self.cancel = threading.Event()
        self.tracker = ConnectionTracker(self.cancel)
        self.issues: Dict[str, List[ViewerIssue]] = {}
        self.checked: Set[str] = set()
        self.deferred: Set[str] = set()
        """Chosen photos whose header read is their check (not probed)."""
        self.seen: Set[str] = set()
        self.shown: Dict[str, str] = {}
        self.per_host: Counter = Counter()
        self.host_by_path: Dict[str, str] = {}
        """Each photo's host (its origin, or "(local files)"), by ImagePath: what the summary counts by."""
        self.sampled: Counter = Counter()
        self.host_problems: Dict[str, Set[str]] = {}
        self.fixes: Dict[str, str] = {}
        self._lock = threading.Lock()
        self._client: Any = None

    @property
    def on(self) -> bool:
        return self.mode != "off"

    # -- the two steps ------------------------------------------------------------------------
    def plan(self, images: Iterable[Image], *, header_reads: bool = False) -> List[Image]:
        """The static checks of *images*, and the ones to probe (the sample, or all). ``header_reads``: the
        run reads each photo's header; a chosen photo whose list URL is the stored one is checked from that
        read (:meth:`header_origin`, :meth:`after_read`) instead of being probed."""
        chosen = []
        for image in images:
            if not self.on or image.image_path in self.seen:
                continue
            self.seen.add(image.image_path)
            self.shown[image.image_path] = image.display
            host = self.host_by_path[image.image_path] = host_of(image)
            self.per_host[host] += 1
            found = static_issues(image, self.target)
            if found:
                self._record(image, found, host)
            if not image.is_web or any(i.kind == "local" for i in found):
                continue
            if self.mode == "all" or self.sampled[host] < SAMPLE_PER_HOST:
                self.sampled[host] += 1
                if header_reads and image.fetch_url == image.image_path:
                    with self._lock:
                        self.deferred.add(image.image_path)
                else:
                    chosen.append(image)
        return chosen

    def header_origin(self, image: Image) -> Optional[str]:
        """The ``Origin`` the header read of *image* carries ("" for a viewer without CORS), or None when
        its header read is not the check."""
        with self._lock:
            if image.image_path not in self.deferred:
                return None
        return self.target.origins[0] if self.target.origins else ""

    def after_read(self, image: Image, info: Any, client: Any) -> None:
        """The check of *image* from its header read (on the reading worker, whose *client* asks the other
        origins when needed). A photo that could not be read has failed with its reason: nothing to add."""
        with self._lock:
            self.deferred.discard(image.image_path)
        if not getattr(info, "ok", False):
            return
        first = self.target.origins[0] if self.target.origins else ""
        if getattr(info, "read_as_viewer", False):
            read = Probe(status=200, allow_origin={first: info.allow_origin}, head=b"\xff\xd8\xff")  # it was read
            answer = probe(client, image.image_path, self.target.origins, known=read)
        else:  # the read needed cookies set along a redirect, which the viewer's fetch does not keep: ask anew
            answer = probe(client, image.image_path, self.target.origins)
        found = probe_issues(image, self.target, answer, cors_fix=self._cors_fix(image.image_path))
        with self._lock:
            self._checked(image)
        self._record(image, found, host_of(image))

    def probe_all(self, images: Sequence[Image]) -> None:
        """Probe *images* in parallel (``FETCH_CONCURRENCY`` at once) and record what each answer says."""
        if not images:
            return
        client = self._photo_client()
        workers = max(1, min(len(images), int(getattr(self.settings, "fetch_concurrency", 4))))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xpgeo-viewer") as pool:
            answers = list(pool.map(lambda image: probe(client, image.image_path, self.target.origins), images))
        if self.cancel.is_set():  # cancelled: the answers are the sockets being shut, not the hosts'
            return
        for image, answer in zip(images, answers):
            host = host_of(image)
            found = probe_issues(image, self.target, answer, cors_fix=self._cors_fix(image.image_path))
            with self._lock:
                self._checked(image)
            self._record(image, found, host)

    def check(self, images: Iterable[Image]) -> None:
        """Both steps at once (check-layer, the health check)."""
        self.probe_all(self.plan(images))

    # -- what was found -----------------------------------------------------------------------
    def _checked(self, image: Image) -> None:
        """*image* was probed (under the lock)."""
        self.checked.add(image.image_path)
        self.host_by_path.setdefault(image.image_path, host_of(image))

    def _record(self, image: Image, found: List[ViewerIssue], host: str) -> None:
        if not found:
            return
        with self._lock:
            self.host_by_path.setdefault(image.image_path, host)
            have = self.issues.setdefault(image.image_path, [])
            have.extend(i for i in found if i not in have)
            self.host_problems.setdefault(host, set()).update(i.kind for i in found if i.kind in HOST_KINDS)
            for issue in found:
                if issue.kind == "cors":
                    self.fixes.setdefault(host, self._cors_fix(image.image_path))

    def _cors_fix(self, url: str) -> str:
        return cors_rules(url, self.target.origins)

    def issues_of(self, image_path: str) -> Optional[List[ViewerIssue]]:
        """The photo's issues; [] when it was checked and is ready; None when only planned, never probed
        (beyond the sample) and without a static issue."""
        with self._lock:
            if image_path in self.issues:
                return list(self.issues[image_path])
            return [] if image_path in self.checked else None

    def blocking(self, image: Image) -> Optional[str]:
        """With ``require``: why *image* must not be sent (its own issues, or, not probed itself, its host's
        sample failed); None otherwise."""
        if not self.require or not self.on:
            return None
        own = self.issues_of(image.image_path)
        if own:
            return "not viewer-ready (--require-viewer-ready): " + "; ".join(i.message for i in own)
        host = host_of(image)
        if own is None and self.host_problems.get(host) and image.image_path not in self.checked:
            kinds = ", ".join(sorted(self.host_problems[host]))
            return (f"not sent (--require-viewer-ready): the photos of {host} checked on a sample are not "
                    f"viewer-ready ({kinds})")
        return None

    def _snapshot(self) -> Tuple[Dict[str, List[ViewerIssue]], Set[str]]:
        """The findings so far (a cancelled run's probes may still be finishing)."""
        with self._lock:
            return {path: list(found) for path, found in self.issues.items()}, set(self.checked)

    def summary(self) -> Dict[str, Any]:
        issues, checked = self._snapshot()
        hosts: Dict[str, Dict[str, Any]] = {host: {"photos": count, "checked": 0, "not_ready": 0, "kinds": set()}
                                            for host, count in self.per_host.items()}
        for path in checked:
            hosts.setdefault(self.host_by_path[path], {"photos": 0, "checked": 0, "not_ready": 0, "kinds": set()})[
                "checked"] += 1
        for path, found in issues.items():
            entry = hosts.setdefault(self.host_by_path[path], {"photos": 0, "checked": 0, "not_ready": 0, "kinds": set()})
            entry["not_ready"] += 1
            entry["kinds"].update(issue.kind for issue in found)
        for entry in hosts.values():
            entry["kinds"] = sorted(entry["kinds"])
        return {"mode": self.mode, "origins": list(self.target.origins), "https_required": self.target.https,
                "viewer": self.target.where, "required": self.require, "photos": len(self.seen),
                "checked": len(checked), "not_ready": len(issues), "sample_per_host": SAMPLE_PER_HOST,
                "hosts": hosts, "cors_rules": dict(self.fixes)}

    def log_findings(self, level: int = logging.WARNING) -> None:
        """One warning per photo with an issue (at most :data:`EXAMPLES_PER_KIND` per kind, the rest
        counted), the fix once per kind, and the CORS rules once per host."""
        if not self.on:
            return
        issues, checked = self._snapshot()
        named: Counter = Counter()
        fixes: Dict[str, str] = {}
        for path, found in issues.items():
            for issue in found:
                named[issue.kind] += 1
                fixes.setdefault(issue.kind, issue.fix)
                if named[issue.kind] <= EXAMPLES_PER_KIND:
                    log.log(level, "Viewer: %s: %s.", self.shown.get(path, path), issue.message)
        for kind, count in named.items():
            if count > EXAMPLES_PER_KIND:
                log.log(level, "Viewer: %d more photo(s) with the same problem (%s).", count - EXAMPLES_PER_KIND,
                        kind)
            if kind != "cors":
                log.log(level, "Viewer fix (%s): %s.", kind, fixes[kind])
        for host, rules in dict(self.fixes).items():
            log.log(level, "Viewer fix (cors) for %s: add this CORS rule to the photos' store.\n%s", host, rules)
        unchecked = len(self.seen) - len(checked)
        if self.seen:
            note = f"{len(checked)} of {len(self.seen)} photo(s) checked with their host" + (
                f" (a sample of {SAMPLE_PER_HOST} per host; set --check-viewer to all to check each)"
                if unchecked and self.mode == "sample" else "")
            if issues:
                log.log(level, "Viewer check for %s: %d photo(s) would show \"No image available\"; %s.",
                        self.target.where, len(issues), note)
            else:
                log.info("Viewer check for %s: no problem found; %s.", self.target.where, note)

    # -- connections --------------------------------------------------------------------------
    def _photo_client(self) -> Any:
        if self._client is None:
            from xpgeo_core.photo_client import PhotoClient

            workers = max(1, int(getattr(self.settings, "fetch_concurrency", 4)))
            self._client = PhotoClient(self.settings, pool_size=workers, tracker=self.tracker)
        return self._client

    def abort(self) -> None:
        """Cancel: shut the probes' sockets."""
        self.tracker.abort()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


__all__ = ["ViewerCheck", "ViewerTarget", "LOCAL_TARGET", "portal_target", "unknown_portal_target", "web_origin",
           "cors_rules", "probe", "SAMPLE_PER_HOST"]
