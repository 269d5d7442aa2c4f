"""The operations: health check, create layer, append image(s), inspect.

The toolbox and the command line call these and nothing below them. Each one
validates its inputs with the XPGEO server's wording before any request, picks the
backend the settings call for, and returns a result object from
:mod:`xpgeo_core.results`. Errors are :mod:`xpgeo_core.errors` exceptions.

Batch rule: every distinct image ends either appended, skipped (already in the
layer) or failed with its reason; malformed lines of a URL list are failures with
their line numbers. So ``appended + skipped + failed`` is the number of distinct
entries, whatever happened on the wire.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from xpgeo_core.backends import TokenProvider, choose_backend_name, get_backend
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.image_lists import LIST_HINT, canonical, entry_problem, is_local_photo, list_entries, refuse_local_photos
from xpgeo_core.results import (FAILED, AppendReport, CreateResult, HealthResult, ImageResult, ProgressCallback,
                                no_progress)
from xpgeo_core.schema import normalize_imagery_type
from xpgeo_core.settings import Settings
from xpgeo_core.urls import (MALFORMED_URL, MISSING_NAME, MISSING_NAME_OR_LIST, MISSING_NAME_OR_URL, UrlList,
                             check_image_url, check_layer_name, collect_urls)
from xpgeo_core.errors import ValidationError
from xpgeo_core.urls import without_credentials

log = logging.getLogger("xpgeo")


def health_check(settings: Settings, *, token_provider: Optional[TokenProvider] = None,
                 portal_url: Optional[str] = None) -> HealthResult:
    """Check the backend is reachable and the credentials can publish."""
    with get_backend(settings, token_provider=token_provider, portal_url=portal_url) as backend:
        log.info("Checking the %s backend...", backend.name)
        return backend.health_check()


def create_layer(settings: Settings, name: Optional[str], imagery_type: Optional[str] = None, *,
                 token_provider: Optional[TokenProvider] = None, portal_url: Optional[str] = None,
                 options: Optional[LayerOptions] = None) -> CreateResult:
    """Create an OI layer. The created name may differ (cleaned, or a timestamp added when taken).
    *options* (sharing, folder, tags, summary, elevation source) go to the backend as they are."""
    name = check_layer_name(name, MISSING_NAME)
    imagery_type = normalize_imagery_type(imagery_type)
    with get_backend(settings, token_provider=token_provider, portal_url=portal_url) as backend:
        log.info("Starting layer creation for '%s'...", name)
        result = backend.create_layer(name, imagery_type, options=options)
    if result.renamed and not result.messages:  # routine (a taken name): one message, not a warning
        log.info("The layer was created as '%s' (asked for '%s').", result.layer_name, name)
    return result


def append_image(settings: Settings, name: Optional[str], image_url: Optional[str], *,
                 imagery_type: Optional[str] = None, token_provider: Optional[TokenProvider] = None,
                 portal_url: Optional[str] = None) -> AppendReport:
    """Append one image (a URL, or a local photo for the local backend) to layer *name*."""
    name = check_layer_name(name, MISSING_NAME_OR_URL)
    url = _check_image(settings, image_url, token_provider, portal_url)
    imagery_type = normalize_imagery_type(imagery_type)
    with get_backend(settings, token_provider=token_provider, portal_url=portal_url) as backend:
        report = backend.append_image(name, url, imagery_type=imagery_type)
    _log_failures(report)
    return report


def _check_image(settings: Settings, image: Optional[str], token_provider: Optional[TokenProvider],
                 portal_url: Optional[str]) -> str:
    """The one image of Append Image, checked: a URL, or a local photo where the backend reaches it."""
    if image is not None and str(image).strip() and is_local_photo(str(image)):
        backend = choose_backend_name(settings, token_provider=token_provider, portal_url=portal_url)
        refuse_local_photos([(None, str(image).strip())], backend)
        problem = entry_problem(str(image), local_ok=True)
        if problem:
            raise ValidationError(f"{MALFORMED_URL}: {str(image).strip()!r}: {problem}.", status=422,
                                  hint="Give the path of a photo file, or an http(s) URL.")
        return canonical(str(image), local_ok=True)
    return check_image_url(image)


def gather_urls(urls: Optional[Iterable[str]] = None, url_file: Optional[str] = None, *,
                photo_folder: Optional[str] = None, photo_filter: Optional[str] = None,
                local_ok: bool = False) -> UrlList:
    """Images from a list file, those given directly, then a photo folder's; checked and de-duplicated."""
    return collect_urls(list_entries(url_file, urls or (), photo_folder, photo_filter), local_ok=local_ok)


def append_images(settings: Settings, name: Optional[str], *, urls: Optional[Iterable[str]] = None,
                  url_file: Optional[str] = None, imagery_type: Optional[str] = None, preflight: bool = False,
                  progress: ProgressCallback = no_progress, token_provider: Optional[TokenProvider] = None,
                  portal_url: Optional[str] = None, photo_folder: Optional[str] = None,
                  photo_filter: Optional[str] = None) -> AppendReport:
    """Append many images (a list file, a list, a photo folder, or any of them) to layer *name*.

    Local photos (paths, a folder) go to the local backend only: a portal's or XPGEO
    server's viewers could not open them, so such a run is refused before anything is sent.
    With ``preflight`` every photo's metadata is read first and the ones a layer
    cannot place (no GPS, not a JPEG, unreachable) are reported and not sent.
    """
    name = check_layer_name(name, MISSING_NAME_OR_LIST)
    imagery_type = normalize_imagery_type(imagery_type)
    if url_file:
        log.debug("Reading image URLs from %s", url_file)
    entries = list_entries(url_file, urls or (), photo_folder, photo_filter)
    backend_name = choose_backend_name(settings, token_provider=token_provider, portal_url=portal_url)
    refuse_local_photos(entries, backend_name)
    gathered = collect_urls(entries, local_ok=backend_name == "local")
    if not gathered.entries and not gathered.malformed:
        where = f"file {url_file!r}" if url_file else "the list"
        raise ValidationError(f"{MISSING_NAME_OR_LIST}: {where} has no image URLs.", status=400, hint=LIST_HINT)

    set_aside: List[ImageResult] = []
    for line, text, reason in gathered.malformed:  # reported with the other failures at the end
        set_aside.append(ImageResult(text, FAILED, reason, line))
    for line, url, first in gathered.duplicates:
        where = f"line {line}" if line else "a repeated entry"
        first_where = f"line {first}" if first else "an earlier entry"
        log.info("Removed duplicate URL at %s (same as %s): %s", where, first_where, without_credentials(url))

    to_send = list(gathered.entries)
    if preflight and to_send:
        to_send, rejected = _preflight(settings, to_send, imagery_type)
        set_aside.extend(rejected)

    with get_backend(settings, token_provider=token_provider, portal_url=portal_url) as backend:
        if to_send:
            report = backend.append_images(name, [e.url for e in to_send], progress=progress,
                                           imagery_type=imagery_type)
        else:
            report = AppendReport(backend=backend.name, layer_name=name)
        report.results = _merge(to_send, report.results, set_aside)
        report.duplicates_removed = len(gathered.duplicates)
        record = getattr(backend, "record_report", None)  # Backend's hook; a bare stand-in may lack it
        if record is not None:
            record(report)  # report.json and the preview list every rejected line, as the console does
    _log_failures(report)
    return report


def inspect_photos(settings: Settings, sources: Sequence[str], *, imagery_type: Optional[str] = None) -> Iterator[Any]:
    """Read each photo's header and give its OI attributes, in input order (see :mod:`xpgeo_core.metadata`)."""
    from xpgeo_core.metadata import inspect_many

    return inspect_many(sources, settings=settings, imagery_type=normalize_imagery_type(imagery_type))


def _preflight(settings: Settings, entries: list, imagery_type: Optional[str]):
    """Split entries into (photos a layer can place, failures with the reason)."""
    keep, rejected = [], []
    for entry, info in zip(entries, inspect_photos(settings, [e.url for e in entries], imagery_type=imagery_type)):
        if info.ok:
            keep.append(entry)
        else:
            rejected.append(ImageResult(entry.url, FAILED, f"preflight: {info.error}", entry.line))
    if rejected:
        log.warning("Preflight: %d of %d image(s) would be rejected and are not sent.", len(rejected), len(entries))
    return keep, rejected


def _merge(sent: list, backend_results: List[ImageResult], set_aside: List[ImageResult]) -> List[ImageResult]:
    """One result per entry, in input order; an entry the backend forgot is a failure, never lost."""
    by_url: Dict[str, ImageResult] = {}
    for result in backend_results:
        by_url.setdefault(result.url, result)
    merged = []
    for entry in sent:
        result = by_url.get(entry.url) or ImageResult(entry.url, FAILED, "the backend gave no result for this image")
        if result.line is None:
            result.line = entry.line
        merged.append(result)
    merged.extend(set_aside)
    merged.sort(key=lambda r: (r.line is None, r.line or 0))
    return merged


def _log_failures(report: AppendReport) -> None:
    for result in report.failures():
        where = f" (line {result.line})" if result.line else ""
        log.warning("Failed%s: %s: %s", where, without_credentials(result.url), result.reason)
