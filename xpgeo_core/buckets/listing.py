"""A bucket source as list entries: listed page by page, filtered, each object its public URL.

:class:`BucketListing` is an iterable of list entries ``(None, url)``, the same shape a URL list
file gives, so a bucket feeds the one image pipeline like any list (the pipeline identifies each
photo once and skips what the layer already holds: a rerun appends only new objects). It streams:
one page of the store's answer is held at a time, and each matching object becomes its URL at once.

How it lists (the ``BUCKET_ACCESS`` setting): ``auto`` lists anonymously with the store's listing
API (:mod:`~xpgeo_core.buckets.stores`) and, when the store refuses before the first page and the
store's SDK is installed, lists through the SDK with the SDK's credentials
(:mod:`~xpgeo_core.buckets.sdk`); ``anonymous`` never uses an SDK; ``sdk`` always does.

Filters: the file name filter (``*.jpg;*.jpeg``: wildcards on the object's file name, or on the key
below the prefix when a wildcard holds a ``/``), and "modified since". Progress: a heartbeat to the
progress callback per page (so Cancel is heard while listing), a log line at the start and
every :data:`LOG_EVERY_PAGES` pages (10,000 objects), and the totals at the end.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time as dtime, timezone
from typing import Any, Iterator, List, Optional, Tuple

from xpgeo_core.buckets import sdk, stores
from xpgeo_core.buckets.source import Source, encode_key, parse_source
from xpgeo_core.buckets.stores import StoredObject
from xpgeo_core.errors import ValidationError
from xpgeo_core.image_lists import DEFAULT_PHOTO_FILTER, filter_patterns, name_matches
from xpgeo_core.results import TICK, Progress, ProgressCallback, no_progress
from xpgeo_core.settings import Settings

log = logging.getLogger("xpgeo")

PAGE_SIZE = 1000
"""Objects per listing request: the most S3 and Azure return in one page."""
LOG_EVERY_PAGES = 10

Entry = Tuple[Optional[int], str]


class BucketListing:
    """The entries of one bucket source (iterate once); its counts say what the listing saw."""

    def __init__(self, settings: Settings, text: Any, *, pattern: Optional[str] = None, modified_since: Any = None,
                 progress: ProgressCallback = no_progress, page_size: int = PAGE_SIZE) -> None:
        self.settings = settings
        self.source: Source = parse_source(text, settings)
        self.pattern = pattern or DEFAULT_PHOTO_FILTER
        self.patterns = filter_patterns(self.pattern)
        self.since = parse_since(modified_since)
        self.progress = progress
        self.page_size = page_size
        self.listed = 0
        self.matched = 0
        self.older = 0
        self.pages = 0
        self.through_sdk = self.settings.bucket_access == "sdk"

    # -- the entries ------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Entry]:
        log.info("Listing %s (%s), files matching %r...", self.source.text, self.source.store_name, self.pattern)
        base = self.source.service_url() + "/"  # object_url's, once for the listing
        for page in self._pages():
            self.pages += 1
            for obj in page:
                self.listed += 1
                if self._wanted(obj):
                    self.matched += 1
                    yield None, base + encode_key(obj.key)
            self.progress(Progress(self.matched, 0, 0, self.pages, 0, message=self.status(), kind=TICK))
            if self.pages % LOG_EVERY_PAGES == 0:
                log.info("Listing %s: %s so far...", self.source.text, self.status())
        log.info("Listed %s: %s.", self.source.text, self.status())

    def _wanted(self, obj: StoredObject) -> bool:
        if not obj.key or obj.key.endswith("/"):  # a "folder" placeholder
            return False
        relative = obj.key[len(self.source.prefix):] if obj.key.startswith(self.source.prefix) else obj.key
        if not name_matches(relative, self.patterns):
            return False
        modified = obj.modified_at if self.since is not None else None
        if self.since is not None and (modified is None or modified < self.since):
            self.older += 1
            return False
        return True

    def _pages(self) -> Iterator[List[StoredObject]]:
        if self.through_sdk:
            yield from sdk.pages(self.source, self.settings, self.page_size)
            return
        from xpgeo_core.http import make_session

        session = make_session(self.settings, pool_size=1)
        try:
            try:
                for page in stores.pages(session, self.source, self.page_size):
                    yield page
                return
            except stores.Refused:
                if self.listed or self.settings.bucket_access != "auto" or not sdk.available(self.source.store):
                    raise
            log.info("%s does not list %s anonymously; listing it through the %s SDK with its credentials.",
                     self.source.store_name, self.source.text, self.source.store_name)
        finally:
            session.close()
        self.through_sdk = True
        yield from sdk.pages(self.source, self.settings, self.page_size)

    # -- what it saw ----------------------------------------------------------------------------
    def status(self) -> str:
        """``2,500 objects listed (3 pages), 2,400 match '*.jpg;*.jpeg'[, 50 modified before ...]``."""
        text = (f"{self.listed:,} object(s) listed ({self.pages:,} page(s)), {self.matched:,} match "
                f"{self.pattern!r}")
        if self.since is not None:
            text += f" and were modified since {self.since.isoformat()}"
            if self.older:
                text += f" ({self.older:,} older left out)"
        return text

    def nothing_found(self) -> ValidationError:
        """The error of a listing that gave no photo: what it saw and what to change."""
        return ValidationError(
            f"Bucket source {self.source.text!r} has no photo to append: {self.status()}.", status=400,
            hint="Check the prefix (the part after the bucket name), the file name filter (e.g. *.jpg;*.JPG;*.tif) "
                 "and the modified-since date.")


def parse_since(value: Any) -> Optional[datetime]:
    """"Modified since" as an aware datetime: a datetime or date (ArcGIS Pro's date parameter), or ISO
    8601 text (``2024-05-01``, ``2024-05-01T12:00``, ``...Z``, ``...+02:00``). A value without a time
    zone is this computer's local time, as a person typing a date means it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, dtime())
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValidationError(f"Modified since {text!r} is not a date.", status=400,
                                  hint="Give a date or date and time, e.g. 2024-05-01 or 2024-05-01T14:30:00Z.") \
                from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time
    return moment.astimezone(timezone.utc)
