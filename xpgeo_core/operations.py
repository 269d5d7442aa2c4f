"""The operations: health check, create layer, append image(s), check layer, inspect.

The toolbox and the command line call these and nothing below them. Each one
validates its inputs with the XPGEO server's wording before any request, picks the
backend the settings call for, and returns a result object from
:mod:`xpgeo_core.results`. Errors are :mod:`xpgeo_core.errors` exceptions.

Appends go through the one image pipeline (:mod:`xpgeo_core.pipeline`): each list entry
becomes one image identity (de-duplicated on its ImagePath), each photo is read once,
and the one append loop sends them to the backend's sink. Batch rule: every distinct
image ends appended, skipped (already in the layer), unconfirmed (sent, answer lost, the
rerun resolves it) or failed with its reason; malformed lines of a URL list are failures
with their line numbers.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Dict, Iterable, Iterator, Optional, Sequence, Tuple

from xpgeo_core.backends import TokenProvider, choose_backend_name, get_backend
from xpgeo_core.buckets import BucketListing
from xpgeo_core.errors import ValidationError
from xpgeo_core.image_lists import LIST_HINT, list_entries, refuse_local_photos
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.pipeline import gather, run_append
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.pipeline.sink import result as image_result
from xpgeo_core.readiness import ViewerCheck
from xpgeo_core.results import (CHUNK, FAILED, AppendReport, CreateResult, HealthResult, LayerCheckReport,
                                PhotoCheck, Progress, ProgressCallback, no_progress)
from xpgeo_core.schema import normalize_imagery_type
from xpgeo_core.settings import Settings
from xpgeo_core.urls import (MALFORMED_URL, MISSING_NAME, MISSING_NAME_OR_LIST, MISSING_NAME_OR_URL, PhotoRef,
                             check_image_url, check_layer_name)

log = logging.getLogger("xpgeo")

ECHOED_BY_CLI = "xpgeo_echoed_by_cli"
"""Marks a log record whose line the command line prints itself, on stdout, as the reference
client does (``Starting layer creation for ...``): its log handler drops the record, so the
line is not shown twice; in ArcGIS Pro it is the tool's message."""


def health_check(settings: Settings, *, token_provider: Optional[TokenProvider] = None,
                 portal_url: Optional[str] = None, sample_url: Optional[str] = None) -> HealthResult:
    """Check the backend is reachable and the credentials can publish; with *sample_url*, also that
    the backend's viewer could open that photo (the viewer-readiness check of one URL)."""
    url = check_image_url(sample_url) if sample_url is not None and str(sample_url).strip() else None
    with get_backend(settings, token_provider=token_provider, portal_url=portal_url) as backend:
        log.info("Checking the %s backend...", backend.name)
        health = backend.health_check()
        if url is not None:
            check = ViewerCheck(settings, backend.viewer_target(), mode="all", require=False)
            try:
                check.check([Image.of(url)])
            finally:
                check.close()
            found = check.issues_of(Image.of(url).image_path) or []
            health.details["viewer"] = {"url": Image.of(url).display, "ready": not found,
                                        "issues": [i.to_dict() for i in found], **check.summary()}
            check.log_findings()
    return health


def _viewer_check(settings: Settings, backend: Any) -> Optional[ViewerCheck]:
    """The append's viewer-readiness check (None when CHECK_VIEWER is off)."""
    target = getattr(backend, "viewer_target", None)  # Backend's; a bare stand-in may lack it
    if settings.check_viewer == "off" or target is None:
        return None
    return ViewerCheck(settings, target())


def check_layer(settings: Settings, name: Optional[str], *, token_provider: Optional[TokenProvider] = None,
                portal_url: Optional[str] = None, progress: ProgressCallback = no_progress) -> LayerCheckReport:
    """Check that the viewer can open the photos of an existing layer (``xpgeo check-layer``): every
    ImagePath the layer holds goes through the viewer-readiness check (a sample per host, or all), a
    window at a time, with progress after each (Cancel is heard there; the probes in flight are shut)."""
    name = check_layer_name(name, MISSING_NAME)
    with get_backend(settings, token_provider=token_provider, portal_url=portal_url) as backend:
        check = ViewerCheck(settings, backend.viewer_target(),
                            mode="sample" if settings.check_viewer == "off" else settings.check_viewer)
        if settings.check_viewer == "off":
            log.info("CHECK_VIEWER is off; check-layer checks a sample per host.")
        log.info("Checking the photos of layer '%s' for %s...", name, check.target.where)
        images = [Image.of(path) for path in backend.layer_image_paths(name)]
        steps = max(1, -(-len(images) // CHECK_WINDOW))
        try:
            for step, start in enumerate(range(0, len(images), CHECK_WINDOW), start=1):
                check.check(images[start:start + CHECK_WINDOW])
                progress(Progress(min(start + CHECK_WINDOW, len(images)), len(images), len(check.issues), step,
                                  steps, kind=CHUNK))
        except BaseException:
            check.abort()
            raise
        finally:
            check.close()
    photos = [PhotoCheck(i.image_path, i.display, i.image_path in check.checked, check.issues_of(i.image_path) or [])
              for i in images]
    report = LayerCheckReport(backend=backend.name, layer_name=name, summary=check.summary(), photos=photos,
                              required=check.require)
    check.log_findings(logging.ERROR if check.require else logging.WARNING)
    return report


CHECK_WINDOW = 100
"""Photos of a layer checked at a time by check-layer: progress (and Cancel) between windows."""


def create_layer(settings: Settings, name: Optional[str], imagery_type: Optional[str] = None, *,
                 token_provider: Optional[TokenProvider] = None, portal_url: Optional[str] = None,
                 options: Optional[LayerOptions] = None) -> CreateResult:
    """Create an OI layer. The created name may differ (cleaned, or a timestamp added when taken).
    *options* (sharing, folder, tags, summary, elevation source) go to the backend as they are."""
    name = check_layer_name(name, MISSING_NAME)
    imagery_type = normalize_imagery_type(imagery_type)
    _check_attachments(settings, choose_backend_name(settings, token_provider=token_provider, portal_url=portal_url))
    with get_backend(settings, token_provider=token_provider, portal_url=portal_url) as backend:
        log.info("Starting layer creation for '%s'...", name, extra={ECHOED_BY_CLI: True})
        result = backend.create_layer(name, imagery_type, options=options)
    if result.renamed and not result.messages:  # routine (a taken name): one message, not a warning
        log.info("The layer was created as '%s' (asked for '%s').", result.layer_name, name)
    return result


def append_image(settings: Settings, name: Optional[str], image_url: Optional[str], *,
                 imagery_type: Optional[str] = None, progress: ProgressCallback = no_progress,
                 token_provider: Optional[TokenProvider] = None, portal_url: Optional[str] = None) -> AppendReport:
    """Append one image (a URL, or a local photo for the local backend) to layer *name*."""
    name = check_layer_name(name, MISSING_NAME_OR_URL)
    photo = _check_image(settings, image_url, token_provider, portal_url)
    imagery_type = normalize_imagery_type(imagery_type)
    gathered = gather([(None, photo.fetch)], local_ok=not photo.is_web)
    _warn_presigned(gathered.images)
    with get_backend(settings, token_provider=token_provider, portal_url=portal_url) as backend:
        sink = backend.open_sink(name, imagery_type=imagery_type, single=True)
        sink.rerun = ["append-image", "--name", name, "--image-url", gathered.images[0].image_path] if (
            gathered.images) else None
        report = _append(settings, backend, sink, gathered.images, imagery_type, progress)
    _log_failures(report)
    return report


def _check_attachments(settings: Settings, backend: str) -> None:
    """ATTACHMENTS is the portal's (a hosted layer's feature attachments): refused for an XPGEO server,
    whose API takes URLs only; the local backend stores the photos' paths anyway."""
    if settings.attachments and backend == "xpgeo":
        raise ValidationError("Photos as attachments (--attachments, ATTACHMENTS) need the portal backend: the "
                              "XPGEO server takes photo URLs only.", status=400,
                              hint="Run with --backend portal (and the portal's URL and credentials), or leave "
                                   "--attachments off and list the photos' http(s) URLs.")
    if settings.attachments and backend == "local":
        log.info("The local backend keeps each photo's path; --attachments (ATTACHMENTS) applies to portal layers.")


def _append(settings: Settings, backend: Any, sink: Any, images: Sequence[Image], imagery_type: Optional[str],
            progress: ProgressCallback, *, preflight: bool = False) -> AppendReport:
    """The one way into the append loop (Append Image and Append Images): the run's viewer check
    started and closed around it."""
    viewer = _viewer_check(settings, backend)
    try:
        return run_append(sink, images, settings=settings, imagery_type=imagery_type, preflight=preflight,
                          progress=progress, viewer=viewer)
    finally:
        if viewer is not None:
            viewer.close()


def _warn_presigned(images: Sequence[Image]) -> None:
    """Once a run: a presigned URL is read with its signature, but stored (and recognised on reruns)
    without it, since a signature is a secret, expires, and changes with every signing."""
    signed = sum(1 for image in images if image.ref.signed)
    if signed:
        log.warning("%d image URL(s) are presigned: XPGEO reads them with their signature, but the layer stores "
                    "their ImagePath without it (a signature is a secret and expires). Make the photos readable "
                    "to the layer's viewers (a public or ArcGIS-reachable bucket, or a proxy) so the viewer can "
                    "open them.", signed)


def _check_image(settings: Settings, image: Optional[str], token_provider: Optional[TokenProvider],
                 portal_url: Optional[str]) -> PhotoRef:
    """The one image of Append Image, checked: a URL, or a local photo where the backend reaches it."""
    text = "" if image is None else str(image).strip()
    photo = PhotoRef.parse(text) if text else None
    if photo is not None and not photo.is_web:
        backend = choose_backend_name(settings, token_provider=token_provider, portal_url=portal_url)
        _check_attachments(settings, backend)
        refuse_local_photos([(None, text)], backend, uploads=bool(settings.attachments))
        problem = photo.problem()
        if problem:
            raise ValidationError(f"{MALFORMED_URL}: {text!r}: {problem}.", status=422,
                                  hint="Give the path of a photo file, or an http(s) URL.")
        return photo
    return PhotoRef.parse(check_image_url(image), local_ok=False)


def append_images(settings: Settings, name: Optional[str], *, urls: Optional[Iterable[str]] = None,
                  url_file: Optional[str] = None, imagery_type: Optional[str] = None, preflight: bool = False,
                  progress: ProgressCallback = no_progress, token_provider: Optional[TokenProvider] = None,
                  portal_url: Optional[str] = None, photo_folder: Optional[str] = None,
                  photo_filter: Optional[str] = None, source: Optional[str] = None,
                  modified_since: Any = None) -> AppendReport:
    """Append many images (a list file, a list, a photo folder, a bucket source, or any of them) to layer *name*.

    A bucket source (``s3://``, ``gs://``, an Azure container URL, an https bucket prefix) is listed
    page by page (:mod:`xpgeo_core.buckets`), filtered by *photo_filter* and *modified_since*, and its
    objects' public URLs join the list: what the layer already holds is skipped, so a rerun appends
    only new objects.

    Local photos (paths, a folder) go to the local backend only: a portal's or XPGEO
    server's viewers could not open them, so such a run is refused before anything is sent.

    With ``preflight`` every photo's metadata is read (in the same single pass that gives the
    portal and local backends their attributes) and the ones a layer cannot place (no GPS,
    not a JPEG, unreachable) are reported and not sent.
    """
    name = check_layer_name(name, MISSING_NAME_OR_LIST)
    imagery_type = normalize_imagery_type(imagery_type)
    if url_file:
        log.debug("Reading image URLs from %s", url_file)
    entries = list_entries(url_file, urls or (), photo_folder, photo_filter)
    backend_name = choose_backend_name(settings, token_provider=token_provider, portal_url=portal_url)
    _check_attachments(settings, backend_name)
    uploads = backend_name == "portal" and bool(settings.attachments)
    refuse_local_photos(entries, backend_name, uploads=uploads)
    listing = BucketListing(settings, source, pattern=photo_filter, modified_since=modified_since,
                            progress=progress) if source else None
    gathered = gather(itertools.chain(entries, listing or ()), local_ok=backend_name == "local" or uploads)
    if listing is not None and not listing.matched and not entries:
        raise listing.nothing_found()
    if not gathered.images and not gathered.malformed:
        where = f"file {url_file!r}" if url_file else "the list"
        raise ValidationError(f"{MISSING_NAME_OR_LIST}: {where} has no image URLs.", status=400, hint=LIST_HINT)
    _warn_presigned(gathered.images)
    for repeat, first in gathered.duplicates:
        first_where = f"line {first.line}" if first.line else "an earlier entry"
        where = f"line {repeat.line}" if repeat.line else "a repeated entry"
        log.info("Removed duplicate image at %s (same ImagePath as %s): %s", where, first_where, repeat.display)

    with get_backend(settings, token_provider=token_provider, portal_url=portal_url) as backend:
        sink = backend.open_sink(name, imagery_type=imagery_type)
        if url_file and not urls and not photo_folder:  # the person's own list: it keeps any credentials
            sink.rerun = ["append-images", "--name", name, "--file", url_file]
        if gathered.images:
            report = _append(settings, backend, sink, gathered.images, imagery_type, progress, preflight=preflight)
        else:
            report = sink.new_report()
        report.results.extend(image_result(image, FAILED, reason) for image, reason in gathered.malformed)
        report.results.sort(key=lambda r: (r.line is None, r.line or 0))
        report.duplicates_removed = len(gathered.duplicates)
        record = getattr(backend, "record_report", None)  # Backend's hook; a bare stand-in may lack it
        if record is not None and (gathered.malformed or gathered.duplicates or not gathered.images):
            record(report)  # report.json and the preview list every rejected line too
    _log_failures(report)
    return report


def inspect_photos(settings: Settings, sources: Sequence[str], *, imagery_type: Optional[str] = None) -> Iterator[Any]:
    """Read each photo's header and give its OI attributes, in input order (see :mod:`xpgeo_core.metadata`)."""
    from xpgeo_core.pipeline.identity import Image
    from xpgeo_core.pipeline.photos import read_all

    images = (Image.of(str(source)) for source in sources)
    return read_all(settings, images, imagery_type=normalize_imagery_type(imagery_type))


EXAMPLES_PER_REASON = 5
"""Failures logged one by one per reason; the rest of the same reason are counted in one line (a
cancelled run of 10,000 photos must not write 10,000 warnings to Pro's messages)."""


def _log_failures(report: AppendReport) -> None:
    shown: Dict[Tuple[str, str], int] = {}
    for outcome in report.failures():
        label = "Not confirmed" if outcome.status != FAILED else "Failed"
        key = (label, outcome.reason or "")
        shown[key] = shown.get(key, 0) + 1
        if shown[key] <= EXAMPLES_PER_REASON:
            where = f" (line {outcome.line})" if outcome.line else ""
            log.warning("%s%s: %s: %s", label, where, outcome.shown, outcome.reason)
    for (label, reason), count in shown.items():
        if count > EXAMPLES_PER_REASON:
            log.warning("%s: %d more image(s): %s", label, count - EXAMPLES_PER_REASON, reason)
