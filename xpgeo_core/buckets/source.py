"""What a bucket source names: the store, the bucket (or container), the prefix, and where to ask.

A source is what a person copies from their store's console or CLI:

* ``s3://bucket/prefix`` and ``gs://bucket/prefix`` (the AWS and gcloud CLIs' spelling);
* ``https://ACCOUNT.blob.core.windows.net/container/prefix`` (the Azure container URL);
* a plain https prefix of a bucket that allows listing: S3 virtual-hosted
  (``https://bucket.s3.REGION.amazonaws.com/prefix``) or path-style
  (``https://s3.REGION.amazonaws.com/bucket/prefix``), GCS ``https://storage.googleapis.com/bucket/prefix``;
* any URL under a configured endpoint (``S3_ENDPOINT_URL``, ``GCS_ENDPOINT_URL``,
  ``AZURE_BLOB_ENDPOINT_URL``): an S3-compatible store, an emulator, Azurite.

The prefix keeps the store's meaning: ``photos/2024`` also lists ``photos/2024-05/...``; end it
with ``/`` for one folder. A source never carries credentials (no ``user:password@``, no SAS or
signature in a query): those come from the store's SDK (:mod:`xpgeo_core.buckets.sdk`).

The photo URL of an object is :meth:`Source.object_url`: the public https URL the viewer opens,
the key percent-encoded as UTF-8 (RFC 3986; ``/`` kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote, unquote, urlsplit

from xpgeo_core.errors import ValidationError
from xpgeo_core.settings import Settings

S3, GCS, AZURE = "s3", "gcs", "azure"
STORE_NAMES = {S3: "Amazon S3", GCS: "Google Cloud Storage", AZURE: "Azure Blob Storage"}
SOURCE_HINT = ("Give s3://bucket/prefix, gs://bucket/prefix, https://ACCOUNT.blob.core.windows.net/container/prefix, "
               "or the https URL of a bucket that allows listing; for an S3-compatible store or an emulator set "
               "S3_ENDPOINT_URL (GCS_ENDPOINT_URL, AZURE_BLOB_ENDPOINT_URL).")

_S3_VIRTUAL = re.compile(r"^(?P<bucket>.+)\.s3(?:[.-](?P<region>(?!amazonaws)[a-z0-9-]+))?\.amazonaws\.com$")
_S3_PATH = re.compile(r"^s3(?:[.-](?P<region>(?!amazonaws)[a-z0-9-]+))?\.amazonaws\.com$")
_AZURE_HOST = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.blob\.core\.windows\.net$")
_GCS_HOSTS = ("storage.googleapis.com", "storage.cloud.google.com")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
"""A bucket or container name as the three stores allow them (lower case, digits, ``.``, ``-``, ``_``)."""


@dataclass(frozen=True)
class Source:
    """One bucket (or container) and prefix to list."""

    store: str
    """``s3``, ``gcs`` or ``azure``."""
    bucket: str
    prefix: str
    text: str
    """The source as the person gave it (it holds no credentials): what messages name."""
    endpoint: Optional[str] = None
    """A configured endpoint (path-style: ENDPOINT/bucket/key), or None for the store's own."""
    account: Optional[str] = None
    """Azure: the storage account."""
    region: Optional[str] = None
    """S3: the bucket's region when the URL or the store says it."""

    @property
    def store_name(self) -> str:
        return STORE_NAMES[self.store]

    def service_url(self) -> str:
        """Where the bucket is listed and its objects live (no trailing slash)."""
        if self.endpoint:
            return f"{self.endpoint}/{self.bucket}"
        if self.store == S3:
            return _aws_bucket_url(self.bucket, self.region)
        if self.store == GCS:
            return f"https://storage.googleapis.com/{self.bucket}"
        return f"https://{self.account}.blob.core.windows.net/{self.bucket}"

    def object_url(self, key: str) -> str:
        """The public https URL of object *key*: what the layer stores and the viewer opens."""
        return f"{self.service_url()}/{encode_key(key)}"

    def with_region(self, region: Optional[str]) -> "Source":
        from dataclasses import replace

        return replace(self, region=region) if region and region != self.region else self


def _aws_bucket_url(bucket: str, region: Optional[str]) -> str:
    """Virtual-hosted style (AWS's recommendation), or path-style for a bucket whose name holds a dot
    (a virtual host name with dots fails the ``*.s3.amazonaws.com`` TLS certificate)."""
    host = f"s3.{region}.amazonaws.com" if region and region != "us-east-1" else "s3.amazonaws.com"
    if "." in bucket:
        return f"https://{host}/{bucket}"
    return f"https://{bucket}.{host}"


def parse_source(text: Any, settings: Settings) -> Source:
    """The :class:`Source` *text* names; a clear error naming it when it names none."""
    given = str(text or "").strip()
    if not given:
        raise ValidationError("The bucket source is empty.", status=400, hint=SOURCE_HINT)
    scheme, sep, rest = given.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ValidationError(f"Bucket source {given!r} is not a URL.", status=400, hint=SOURCE_HINT)
    if scheme in ("s3", "gs"):
        bucket, _, prefix = rest.partition("/")
        store = S3 if scheme == "s3" else GCS
        endpoint = settings.s3_endpoint_url if store == S3 else settings.gcs_endpoint_url
        return _checked(Source(store, bucket, prefix, given, endpoint=endpoint))
    if scheme not in ("http", "https"):
        raise ValidationError(f"Bucket source {given!r}: {scheme}:// is not a store XPGEO can list.", status=400,
                              hint=SOURCE_HINT)
    parts = urlsplit(given)
    if parts.username or parts.password or parts.query:
        raise ValidationError(
            f"Bucket source {_shown(given)!r} carries credentials (a user name, a signature or a SAS token): "
            "XPGEO never reads credentials from a URL.", status=400,
            hint="Give the bucket URL without them; for a private bucket install the store's extra "
                 "(pip install xpgeo[s3], xpgeo[gcs] or xpgeo[azure]) and let its SDK find your credentials.")
    found = _under_endpoint(given, settings) or _public_host(parts, given)
    if found is None:
        raise ValidationError(f"Bucket source {given!r} is not a bucket URL XPGEO recognises.", status=400,
                              hint=SOURCE_HINT)
    return _checked(found)


def _shown(url: str) -> str:
    from xpgeo_core.urls import safe_url

    return safe_url(url)


def _under_endpoint(given: str, settings: Settings) -> Optional[Source]:
    """A URL below a configured endpoint: ENDPOINT/bucket/prefix."""
    for store, endpoint in ((S3, settings.s3_endpoint_url), (GCS, settings.gcs_endpoint_url),
                            (AZURE, settings.azure_blob_endpoint_url)):
        if not endpoint:
            continue
        base = endpoint.rstrip("/") + "/"
        if given.lower().startswith(base.lower()):
            bucket, _, prefix = given[len(base):].partition("/")
            account = urlsplit(endpoint).path.strip("/").split("/")[-1] or None if store == AZURE else None
            return Source(store, unquote(bucket), unquote(prefix), given, endpoint=endpoint.rstrip("/"),
                          account=account)
    return None


def _public_host(parts: Any, given: str) -> Optional[Source]:
    host = (parts.hostname or "").lower()
    path = parts.path.lstrip("/")
    first, _, rest = path.partition("/")
    match = _AZURE_HOST.match(host)
    if match:
        return Source(AZURE, unquote(first), unquote(rest), given, account=match.group("account"))
    if host in _GCS_HOSTS:
        return Source(GCS, unquote(first), unquote(rest), given)
    if host.endswith(".storage.googleapis.com"):
        return Source(GCS, host[: -len(".storage.googleapis.com")], unquote(path), given)
    match = _S3_PATH.match(host)
    if match:
        return Source(S3, unquote(first), unquote(rest), given, region=match.group("region"))
    match = _S3_VIRTUAL.match(host)
    if match:
        return Source(S3, match.group("bucket"), unquote(path), given, region=match.group("region"))
    return None


def _checked(source: Source) -> Source:
    if not _BUCKET.match(source.bucket):
        what = "container" if source.store == AZURE else "bucket"
        raise ValidationError(
            f"Bucket source {source.text!r}: {source.bucket!r} is not a valid {what} name.", status=400,
            hint=f"A {what} name is 3 to 222 lower-case letters, digits, dots or hyphens. " + SOURCE_HINT)
    return source


_NOT_PLAIN = re.compile(r"[^A-Za-z0-9/_.~-]+")


def _escaped(match: "re.Match[str]") -> str:
    return quote(match.group(0), safe="")


def encode_key(key: str) -> str:
    """An object key as a URL path: UTF-8, percent-encoded but for ``/`` and RFC 3986's unreserved
    characters (the same as ``quote(key, safe="/")``; only the runs that need it are encoded: a
    listing encodes 100,000 keys, most of them plain)."""
    return _NOT_PLAIN.sub(_escaped, key)
