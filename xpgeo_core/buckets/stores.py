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
import json
import re
import threading
import time
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

from xpgeo_core.buckets import xml
from xpgeo_core.buckets.source import AZURE, GCS, S3, Source
from xpgeo_core.errors import AuthError, ServerError, ValidationError, XpgeoError
from xpgeo_core.http import describe_request_failure

AZURE_API_VERSION = "2021-08-06"
HEAD_START = 0.005
"""Seconds the caller gives up the interpreter lock after starting the next page's request, so the
request is on the wire before this page's parsing (a long C call that holds the lock) begins."""


class StoredObject(NamedTuple):
    """One object of a listing (a named tuple: a listing makes 100,000 of them)."""

    key: str
    modified: Any
    """As the store gave it: a datetime (the SDKs), the answer's text (read only when a filter needs
    it: most listings never look), or None."""
    size: Optional[int] = None

    @property
    def modified_at(self) -> Optional[datetime]:
        """The modification time, aware (UTC), or None when the store did not say."""
        if isinstance(self.modified, datetime):
            value = self.modified
            return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        return parse_time(self.modified)


class Refused(AuthError):
    """The store refused to list the bucket to this caller (anonymous, or the SDK's credentials)."""


def pages(session: Any, source: Source, page_size: int) -> Iterator[List[StoredObject]]:
    """The source's objects, a page at a time, listed anonymously.

    The next page is asked for as soon as its token is seen in this page's raw answer (a cheap
    look, confirmed by the full parse), on a daemon thread, while this page is parsed, filtered and
    consumed: the pages of a listing are sequential (each needs the token of the one before), so a
    listing then takes about pages x round trip, not pages x (round trip + parsing) (bench/bucket_list.py).
    """
    request, read, peek = _APIS[source.store]
    token: Optional[str] = None
    response = request(session, source, token, page_size)
    while True:
        early = peek(response) if response.status_code == 200 else None
        ahead = _start(request, session, source, early, page_size) if early and early != token else None
        objects, following = read(response, source)
        if following is None:
            yield objects
            return
        following = _next(token, following, source)
        yield objects
        response = _finish(ahead) if ahead is not None and early == following else request(
            session, source, following, page_size)
        token = following


def _start(function: Any, *args: Any) -> Dict[str, Any]:
    """Run a request on a daemon thread (nothing waits for it at exit); see :func:`_finish`."""
    box: Dict[str, Any] = {"done": threading.Event()}

    def work() -> None:
        try:
            box["value"] = function(*args)
        except BaseException as exc:  # raised by _finish, in the caller's thread
            box["error"] = exc
        finally:
            box["done"].set()

    threading.Thread(target=work, name="xpgeo-listing", daemon=True).start()
    time.sleep(HEAD_START)
    return box


def _finish(box: Dict[str, Any]) -> Any:
    box["done"].wait()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _peek(tag: bytes) -> Any:
    """A look for ``<tag>token</tag>`` in a raw XML answer (no entity in it: else None, and the parse decides)."""
    pattern = re.compile(rb"<" + tag + rb">([^<&]{1,4096})</" + tag + rb">")

    def peek(response: Any) -> Optional[str]:
        found = pattern.search(response.content)
        return found.group(1).decode("utf-8", "replace") if found else None

    return peek


# -- S3 ListObjectsV2 ------------------------------------------------------------------------

def _s3_request(session: Any, source: Source, token: Optional[str], page_size: int) -> Any:
    params = {"list-type": "2", "max-keys": str(page_size)}
    if source.prefix:
        params["prefix"] = source.prefix
    if token:
        params["continuation-token"] = token
    return _get(session, source.service_url() + "/", params, {}, source)


def _s3_read(response: Any, source: Source) -> Tuple[List[StoredObject], Optional[str]]:
    if response.status_code != 200:
        raise _s3_error(response, source)
    root = _xml(response, source)
    ns = xml.namespace(root)
    key, modified, size = ns + "Key", ns + "LastModified", ns + "Size"
    objects = [StoredObject(c.findtext(key) or "", c.findtext(modified), _int(c.findtext(size)))
               for c in root.iterfind(ns + "Contents")]
    if (root.findtext(ns + "IsTruncated") or "").lower() != "true":
        return objects, None
    return objects, root.findtext(ns + "NextContinuationToken") or ""


def _s3_error(response: Any, source: Source) -> XpgeoError:
    code = _xml_code(response)
    if response.status_code == 301 or code == "PermanentRedirect":
        region = response.headers.get("x-amz-bucket-region") or "its own region"
        return ValidationError(
            f"Bucket {source.text!r} is in {region}: Amazon S3 answers for it at another endpoint.", status=400,
            hint=f"Give the regional URL, https://s3.{region}.amazonaws.com/{source.bucket}/{source.prefix}.")
    return _refusal(response, source, code, missing=("NoSuchBucket",))


# -- GCS JSON API objects.list ----------------------------------------------------------------

def _gcs_request(session: Any, source: Source, token: Optional[str], page_size: int) -> Any:
    base = source.endpoint or "https://storage.googleapis.com"
    params = {"maxResults": str(page_size), "fields": "items(name,updated,size),nextPageToken"}
    if source.prefix:
        params["prefix"] = source.prefix
    if token:
        params["pageToken"] = token
    return _get(session, f"{base}/storage/v1/b/{source.bucket}/o", params, {}, source)


def _gcs_read(response: Any, source: Source) -> Tuple[List[StoredObject], Optional[str]]:
    if response.status_code != 200:
        code = _json_code(response)
        raise _refusal(response, source, code, missing=("notFound",) if response.status_code == 404 else ())
    try:
        body = response.json()
        items = body.get("items") or []
        objects = [StoredObject(str(i["name"]), i.get("updated"), _int(i.get("size"))) for i in items]
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ServerError(f"Listing {source.text!r}: the answer is not a Cloud Storage object list.",
                          hint="Check the source URL (and GCS_ENDPOINT_URL).") from None
    return objects, (str(body["nextPageToken"]) if body.get("nextPageToken") else None)


def _no_peek(response: Any) -> Optional[str]:
    return None  # JSON: parsed whole (json is fast), the next page asked for after it


# -- Azure List Blobs -------------------------------------------------------------------------

def _azure_request(session: Any, source: Source, marker: Optional[str], page_size: int) -> Any:
    params = {"restype": "container", "comp": "list", "maxresults": str(page_size)}
    if source.prefix:
        params["prefix"] = source.prefix
    if marker:
        params["marker"] = marker
    return _get(session, source.service_url(), params, {"x-ms-version": AZURE_API_VERSION}, source)


def _azure_read(response: Any, source: Source) -> Tuple[List[StoredObject], Optional[str]]:
    if response.status_code != 200:
        code = response.headers.get("x-ms-error-code") or _xml_code(response)
        if response.status_code == 404:  # Azure's answer to an anonymous list of a private container too
            raise Refused(f"Container {source.text!r} was not found, or it does not allow anonymous "
                          f"listing (Azure answers {code or 404} for both).", status=404,
                          hint=_private_hint(source))
        raise _refusal(response, source, code, missing=("ContainerNotFound",))
    root = _xml(response, source)
    ns = xml.namespace(root)
    name, modified, size = ns + "Name", f"{ns}Properties/{ns}Last-Modified", f"{ns}Properties/{ns}Content-Length"
    objects = [StoredObject(b.findtext(name) or "", b.findtext(modified), _int(b.findtext(size)))
               for b in root.iter(ns + "Blob")]
    return objects, (root.findtext(ns + "NextMarker") or None)


_APIS = {S3: (_s3_request, _s3_read, _peek(b"NextContinuationToken")),
         GCS: (_gcs_request, _gcs_read, _no_peek),
         AZURE: (_azure_request, _azure_read, _peek(b"NextMarker"))}
"""store: (ask for a page, read its answer into (objects, the next token or None), look for that token early)."""


# -- shared -----------------------------------------------------------------------------------

class Answer(NamedTuple):
    """A store's answer, read whole: what the readers look at."""

    status_code: int
    headers: Any
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content.decode("utf-8"))


def _get(session: Any, url: str, params: Dict[str, str], headers: Dict[str, str], source: Source) -> Answer:
    """One listing GET, its body read in one call, at most :data:`~xpgeo_core.buckets.xml.MAX_ANSWER_BYTES`.

    One read, not requests' 10 KiB chunks: the next page is read on a thread while this one is parsed,
    and each chunk would wait for the interpreter lock that the parsing holds."""
    try:
        response = session.get(url, params=params, headers=headers, allow_redirects=False, stream=True)
        try:
            content = response.raw.read(xml.MAX_ANSWER_BYTES + 1, decode_content=True)
        finally:
            response.close()
    except XpgeoError:
        raise
    except Exception as exc:  # the transport's errors, mapped once (http.describe_request_failure)
        raise describe_request_failure(exc, url) from None
    return Answer(response.status_code, response.headers, content or b"")


def _xml(response: Any, source: Source) -> Any:
    try:
        return xml.parse(response.content)
    except xml.UnsafeXml as exc:
        raise ServerError(f"Listing {source.text!r}: {exc}.", hint="Check the source URL points at the store.") \
            from None


def _xml_code(response: Any) -> Optional[str]:
    try:
        if not response.content:
            return None
        root = xml.parse(response.content)
        return root.findtext(xml.namespace(root) + "Code")
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
