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

from xpgeo_core.backends import TokenProvider, get_backend
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.results import (FAILED, AppendReport, CreateResult, HealthResult, ImageResult, ProgressCallback,
                                no_progress)
from xpgeo_core.schema import normalize_imagery_type
from xpgeo_core.settings import Settings
from xpgeo_core.urls import (MISSING_NAME, MISSING_NAME_OR_LIST, MISSING_NAME_OR_URL, UrlList, check_image_url,
                             check_layer_name, collect_urls, read_url_lines)
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
    if result.renamed:
        log.warning("The layer was created as '%s' (asked for '%s').", result.layer_name, name)
    return result


def append_image(settings: Settings, name: Optional[str], image_url: Optional[str], *,
                 imagery_type: Optional[str] = None, token_provider: Optional[TokenProvider] = None,
                 portal_url: Optional[str] = None) -> AppendReport:
    """Append one image URL to layer *name*."""
    name = check_layer_name(name, MISSING_NAME_OR_URL)
    url = check_image_url(image_url)
    imagery_type = normalize_imagery_type(imagery_type)
    with get_backend(settings, token_provider=token_provider, portal_url=portal_url) as backend:
        report = backend.append_image(name, url, imagery_type=imagery_type)
    _log_failures(report)
    return report


def gather_urls(urls: Optional[Iterable[str]] = None, url_file: Optional[str] = None) -> UrlList:
    """URLs from a list file, then those given directly, checked and de-duplicated."""
    pairs: List[Tuple[Optional[int], str]] = list(read_url_lines(url_file)) if url_file else []
    pairs.extend((None, str(u)) for u in (urls or ()) if u is not None and str(u).strip())
    return collect_urls(pairs)


def append_images(settings: Settings, name: Optional[str], *, urls: Optional[Iterable[str]] = None,
                  url_file: Optional[str] = None, imagery_type: Optional[str] = None, preflight: bool = False,
                  progress: ProgressCallback = no_progress, token_provider: Optional[TokenProvider] = None,
                  portal_url: Optional[str] = None) -> AppendReport:
    """Append many image URLs (a list file, a list, or both) to layer *name*.

    With ``preflight`` every photo's metadata is read first and the ones a layer
    cannot place (no GPS, not a JPEG, unreachable) are reported and not sent.
    """
    name = check_layer_name(name, MISSING_NAME_OR_LIST)
    imagery_type = normalize_imagery_type(imagery_type)
    if url_file:
        log.debug("Reading image URLs from %s", url_file)
    gathered = gather_urls(urls, url_file)
    if not gathered.entries and not gathered.malformed:
        where = f"file {url_file!r}" if url_file else "the list"
        raise ValidationError(f"{MISSING_NAME_OR_LIST}: {where} has no image URLs.", status=400,
                              hint="Put one http(s) image URL per line; blank lines and # comments are skipped.")

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
