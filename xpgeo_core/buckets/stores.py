"""Anonymous listing, one function per store, each with the store's own listing API and paging.

Only the core's dependencies: the one HTTP policy's session (:func:`xpgeo_core.http.make_session`:
time-outs, retries of these idempotent GETs, TLS), and :mod:`xpgeo_core.buckets.xml` for the XML
answers. Each yields one page of :class:`StoredObject` at a time, so a listing of 100,000 objects
holds one page, never the whole bucket.

* S3 ``ListObjectsV2`` (``GET /?list-type=2``, ``continuation-token`` / ``NextContinuationToken``);
* GCS JSON API ``objects.list`` (``GET /storage/v1/b/BUCKET/o``, ``pageToken`` / ``nextPageToken``);
* Azure ``List Blobs`` (``GET ?restype=container&comp=list``, ``marker`` / ``NextMarker``).

A refusal (401/403; for Azure also 404, its answer to anonymous requests for a private container)
raises :class:`Refused`, which the listing turns into "use the SDK" or a clear error; a missing
bucket and other answers raise the error a person can act on.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional

from xpgeo_core.buckets import xml
from xpgeo_core.buckets.source import AZURE, GCS, S3, Source
from xpgeo_core.errors import AuthError, ServerError, ValidationError, XpgeoError
from xpgeo_core.http import describe_request_failure

AZURE_API_VERSION = "2021-08-06"


@dataclass(frozen=True)
class StoredObject:
    key: str
    modified: Optional[datetime]
    """Aware (UTC), or None when the store did not say."""
    size: Optional[int] = None


class Refused(AuthError):
    """The store refused to list the bucket to this caller (anonymous, or the SDK's credentials)."""


def pages(session: Any, source: Source, page_size: int) -> Iterator[List[StoredObject]]:
    """The source's objects, a page at a time, listed anonymously."""
    return {S3: _s3_pages, GCS: _gcs_pages, AZURE: _azure_pages}[source.store](session, source, page_size)


# -- S3 ListObjectsV2 ------------------------------------------------------------------------

def _s3_pages(session: Any, source: Source, page_size: int) -> Iterator[List[StoredObject]]:
    token: Optional[str] = None
    while True:
        params = {"list-type": "2", "max-keys": str(page_size)}
        if source.prefix:
            params["prefix"] = source.prefix
        if token:
            params["continuation-token"] = token
        response = _get(session, source.service_url() + "/", params, {}, source)
        if response.status_code != 200:
            raise _s3_error(response, source)
        root = _xml(response, source)
        yield [StoredObject(xml.text_of(c, "Key") or "", parse_time(xml.text_of(c, "LastModified")),
                            _int(xml.text_of(c, "Size"))) for c in root.findall("Contents")]
        if (xml.text_of(root, "IsTruncated") or "").lower() != "true":
            return
        token = _next(token, xml.text_of(root, "NextContinuationToken"), source)


def _s3_error(response: Any, source: Source) -> XpgeoError:
    code = _xml_code(response)
    if response.status_code == 301 or code == "PermanentRedirect":
        region = response.headers.get("x-amz-bucket-region") or "its own region"
        return ValidationError(
            f"Bucket {source.text!r} is in {region}: Amazon S3 answers for it at another endpoint.", status=400,
            hint=f"Give the regional URL, https://s3.{region}.amazonaws.com/{source.bucket}/{source.prefix}.")
    return _refusal(response, source, code, missing=("NoSuchBucket",))


# -- GCS JSON API objects.list ----------------------------------------------------------------

def _gcs_pages(session: Any, source: Source, page_size: int) -> Iterator[List[StoredObject]]:
    base = source.endpoint or "https://storage.googleapis.com"
    url = f"{base}/storage/v1/b/{source.bucket}/o"
    token: Optional[str] = None
    while True:
        params = {"maxResults": str(page_size), "fields": "items(name,updated,size),nextPageToken"}
        if source.prefix:
            params["prefix"] = source.prefix
        if token:
            params["pageToken"] = token
        response = _get(session, url, params, {}, source)
        if response.status_code != 200:
            code = _json_code(response)
            raise _refusal(response, source, code, missing=("notFound",) if response.status_code == 404 else ())
        try:
            body = response.json()
            items = body.get("items") or []
            page = [StoredObject(str(i["name"]), parse_time(i.get("updated")), _int(i.get("size"))) for i in items]
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ServerError(f"Listing {source.text!r}: the answer is not a Cloud Storage object list.",
                              hint="Check the source URL (and GCS_ENDPOINT_URL).") from None
        yield page
        if not body.get("nextPageToken"):
            return
        token = _next(token, body.get("nextPageToken"), source)


# -- Azure List Blobs -------------------------------------------------------------------------

def _azure_pages(session: Any, source: Source, page_size: int) -> Iterator[List[StoredObject]]:
    marker: Optional[str] = None
    while True:
        params = {"restype": "container", "comp": "list", "maxresults": str(page_size)}
        if source.prefix:
            params["prefix"] = source.prefix
        if marker:
            params["marker"] = marker
        response = _get(session, source.service_url(), params, {"x-ms-version": AZURE_API_VERSION}, source)
        if response.status_code != 200:
            code = response.headers.get("x-ms-error-code") or _xml_code(response)
            if response.status_code == 404:  # Azure's answer to an anonymous list of a private container too
                raise Refused(f"Container {source.text!r} was not found, or it does not allow anonymous "
                              f"listing (Azure answers {code or 404} for both).", status=404,
                              hint=_private_hint(source))
            raise _refusal(response, source, code, missing=("ContainerNotFound",))
        root = _xml(response, source)
        yield [StoredObject(xml.text_of(b, "Name") or "", parse_time(xml.text_of(b, "Properties/Last-Modified")),
                            _int(xml.text_of(b, "Properties/Content-Length")))
               for b in root.iter("Blob")]
        following = xml.text_of(root, "NextMarker")
        if not following:
            return
        marker = _next(marker, following, source)


# -- shared -----------------------------------------------------------------------------------

def _get(session: Any, url: str, params: Dict[str, str], headers: Dict[str, str], source: Source) -> Any:
    try:
        return session.get(url, params=params, headers=headers, allow_redirects=False)
    except XpgeoError:
        raise
    except Exception as exc:  # the transport's errors, mapped once (http.describe_request_failure)
        raise describe_request_failure(exc, url) from None


def _xml(response: Any, source: Source) -> Any:
    try:
        return xml.parse(response.content)
    except xml.UnsafeXml as exc:
        raise ServerError(f"Listing {source.text!r}: {exc}.", hint="Check the source URL points at the store.") \
            from None


def _xml_code(response: Any) -> Optional[str]:
    try:
        return xml.text_of(xml.parse(response.content), "Code") if response.content else None
    except xml.UnsafeXml:
        return None


def _json_code(response: Any) -> Optional[str]:
    try:
        error = response.json().get("error") or {}
        reasons = [e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict)]
        return next((r for r in reasons if r), None) or str(error.get("code") or "") or None
    except (ValueError, AttributeError, TypeError):
        return None


def _private_hint(source: Source) -> str:
    extra = {S3: "s3", GCS: "gcs", AZURE: "azure"}[source.store]
    credentials = {S3: "AWS credentials (AWS_PROFILE, ~/.aws/credentials)",
                   GCS: "Google credentials (gcloud auth application-default login)",
                   AZURE: "AZURE_STORAGE_CONNECTION_STRING"}[source.store]
    return (f"Check the name; if it is private, install the SDK extra (pip install xpgeo[{extra}]) and set "
            f"{credentials} so XPGEO lists it through the SDK, or allow public listing.")


def _refusal(response: Any, source: Source, code: Optional[str], *, missing: tuple) -> XpgeoError:
    status = response.status_code
    said = f" ({code})" if code else ""
    if code in missing or (status == 404 and not code):
        return ValidationError(f"Bucket {source.text!r} was not found on {source.store_name}{said}.", status=404,
                               hint="Check the bucket name and the prefix (and the endpoint setting, for a "
                                    "store other than the public one).")
    if status in (401, 403):
        return Refused(f"{source.store_name} refused to list {source.text!r} (HTTP {status}{said}): the bucket "
                       f"does not allow anonymous listing.", status=status, hint=_private_hint(source))
    return ServerError(f"Listing {source.text!r} failed: {source.store_name} answered HTTP {status}{said}.",
                       status=status, hint="Try again later; check the source URL.")


def _next(previous: Optional[str], following: Optional[str], source: Source) -> str:
    """The next page's token; a store that says "more" without a new token would list forever."""
    if not following or following == previous:
        raise ServerError(f"Listing {source.text!r}: the store said more objects follow but gave no new "
                          "continuation token.", hint="Try again; if it persists, the store is misbehaving.")
    return following


def _int(text: Any) -> Optional[int]:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_time(text: Optional[str]) -> Optional[datetime]:
    """ISO 8601 (S3, GCS: ``2024-05-01T10:00:00.000Z``) or RFC 1123 (Azure: ``Wed, 01 May 2024 10:00:00
    GMT``), as an aware UTC datetime; None when absent or unreadable."""
    if not text:
        return None
    text = text.strip()
    try:
        if text[:4].isdigit():
            value = datetime.fromisoformat(_FRACTION.sub(r"\1", text.replace("Z", "+00:00").replace("z", "+00:00")))
        else:
            value = email.utils.parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
