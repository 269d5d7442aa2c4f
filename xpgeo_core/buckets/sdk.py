"""Credentialed listing, only through each store's own SDK: an optional extra, imported lazily.

``pip install xpgeo[s3]`` brings boto3, ``xpgeo[gcs]`` google-cloud-storage, ``xpgeo[azure]``
azure-storage-blob. XPGEO never signs a request itself: each SDK finds its credentials its own way
(boto3: ``AWS_PROFILE``, ``~/.aws``, instance roles; google-cloud-storage: application default
credentials; azure-storage-blob: the ``AZURE_STORAGE_CONNECTION_STRING`` setting, else
``DefaultAzureCredential`` when azure-identity is installed). Only the listing uses them: the layer
stores each object's public URL, which the viewer opens without credentials.

Each lister yields pages of :class:`~xpgeo_core.buckets.stores.StoredObject`, like the anonymous
ones, and turns the SDK's errors into XPGEO's (the store's error code, never its request details).
"""

from __future__ import annotations

import importlib
from typing import Any, Iterator, List

from xpgeo_core.buckets.source import AZURE, GCS, S3, Source
from xpgeo_core.buckets.stores import Refused, StoredObject
from xpgeo_core.errors import AuthError, RequestError, ServerError, ValidationError, XpgeoError
from xpgeo_core.http import tls_verify
from xpgeo_core.settings import Settings

EXTRAS = {S3: ("s3", "boto3"), GCS: ("gcs", "google.cloud.storage"), AZURE: ("azure", "azure.storage.blob")}
"""store: (the pip extra, the module its SDK is imported as)."""


def available(store: str) -> bool:
    """Is the store's SDK installed (without importing it yet)?"""
    import importlib.util

    module = EXTRAS[store][1]
    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None and importlib.util.find_spec(
            module) is not None
    except (ImportError, ValueError):
        return False


def _import(source: Source) -> Any:
    extra, module = EXTRAS[source.store]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValidationError(
            f"Listing {source.text!r} with credentials needs the {source.store_name} SDK, which is not installed.",
            status=400, hint=f"pip install xpgeo[{extra}] (in ArcGIS Pro: in a clone of its Python environment).") \
            from None


def pages(source: Source, settings: Settings, page_size: int) -> Iterator[List[StoredObject]]:
    """The source's objects, a page at a time, listed through the store's SDK."""
    return {S3: _s3, GCS: _gcs, AZURE: _azure}[source.store](source, settings, page_size)


def _missing(source: Source, code: str) -> ValidationError:
    return ValidationError(f"Bucket {source.text!r} was not found on {source.store_name} ({code}).", status=404,
                           hint="Check the bucket name and the prefix (and the endpoint setting).")


def _refused(source: Source, code: str, what: str) -> Refused:
    return Refused(f"{source.store_name} refused to list {source.text!r} with {what} ({code}).", status=403,
                   hint="Check that these credentials may list the bucket (s3:ListBucket, storage.objects.list, "
                        "or a Storage Blob Data Reader role), or use other credentials.")


# -- boto3 ------------------------------------------------------------------------------------

def _s3(source: Source, settings: Settings, page_size: int) -> Iterator[List[StoredObject]]:
    boto3 = _import(source)
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        client = boto3.session.Session().client("s3", endpoint_url=source.endpoint, region_name=source.region,
                                                verify=tls_verify(settings))
        kwargs = {"Bucket": source.bucket, "PaginationConfig": {"PageSize": page_size}}
        if source.prefix:
            kwargs["Prefix"] = source.prefix
        for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
            yield [StoredObject(o["Key"], o.get("LastModified"), o.get("Size")) for o in page.get("Contents", ())]
    except NoCredentialsError:
        raise AuthError(f"Listing {source.text!r} through boto3: no AWS credentials were found.",
                        hint="Set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run aws "
                             "configure.") from None
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code") or "error")
        if code in ("NoSuchBucket", "404", "NotFound"):
            raise _missing(source, code) from None
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
                    "ExpiredToken", "InvalidToken", "403"):
            raise _refused(source, code, "the AWS credentials boto3 found") from None
        raise ServerError(f"Listing {source.text!r} through boto3 failed ({code}).") from None
    except BotoCoreError as exc:
        raise RequestError(f"Listing {source.text!r} through boto3 failed: {exc.__class__.__name__}.",
                           hint="Check the network, the region and S3_ENDPOINT_URL.") from None


# -- google-cloud-storage -----------------------------------------------------------------------

def _gcs(source: Source, settings: Settings, page_size: int) -> Iterator[List[StoredObject]]:
    storage = _import(source)
    from google.api_core import exceptions as api
    from google.auth.exceptions import DefaultCredentialsError

    try:
        options = {"api_endpoint": source.endpoint} if source.endpoint else None
        client = storage.Client(client_options=options)
        for page in client.list_blobs(source.bucket, prefix=source.prefix or None, page_size=page_size).pages:
            yield [StoredObject(b.name, b.updated, b.size) for b in page]
    except DefaultCredentialsError:
        raise AuthError(f"Listing {source.text!r} through google-cloud-storage: no Google credentials were found.",
                        hint="Run gcloud auth application-default login, or set GOOGLE_APPLICATION_CREDENTIALS.") \
            from None
    except api.NotFound:
        raise _missing(source, "notFound") from None
    except (api.Forbidden, api.Unauthorized) as exc:
        raise _refused(source, exc.__class__.__name__, "the Google credentials found") from None
    except api.GoogleAPICallError as exc:
        raise ServerError(f"Listing {source.text!r} through google-cloud-storage failed "
                          f"({exc.__class__.__name__}).") from None


# -- azure-storage-blob ---------------------------------------------------------------------------

def _azure(source: Source, settings: Settings, page_size: int) -> Iterator[List[StoredObject]]:
    blob = _import(source)
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

    try:
        container = _azure_container(blob, source, settings)
        for page in container.list_blobs(name_starts_with=source.prefix or None,
                                         results_per_page=page_size).by_page():
            yield [StoredObject(b.name, b.last_modified, b.size) for b in page]
    except ResourceNotFoundError as exc:
        raise _missing(source, getattr(exc, "error_code", None) or "ContainerNotFound") from None
    except ClientAuthenticationError as exc:
        raise _refused(source, getattr(exc, "error_code", None) or "AuthenticationFailed",
                       "the Azure credentials given") from None
    except HttpResponseError as exc:
        code = str(getattr(exc, "error_code", None) or getattr(exc, "status_code", "") or "error")
        if getattr(exc, "status_code", None) in (401, 403):
            raise _refused(source, code, "the Azure credentials given") from None
        raise ServerError(f"Listing {source.text!r} through azure-storage-blob failed ({code}).") from None
    except XpgeoError:
        raise
    except (AzureError, ValueError) as exc:
        raise RequestError(f"Listing {source.text!r} through azure-storage-blob failed: {exc.__class__.__name__}.",
                           hint="Check AZURE_STORAGE_CONNECTION_STRING and AZURE_BLOB_ENDPOINT_URL.") from None


def _azure_container(blob: Any, source: Source, settings: Settings) -> Any:
    verify = tls_verify(settings)
    secret = settings.azure_storage_connection_string
    if secret:
        service = blob.BlobServiceClient.from_connection_string(secret.reveal(), connection_verify=verify)
        if source.account and service.account_name and service.account_name != source.account:
            raise ValidationError(
                f"Listing {source.text!r}: AZURE_STORAGE_CONNECTION_STRING is for storage account "
                f"{service.account_name!r}, the source names account {source.account!r}.", status=400,
                hint="Give the connection string of the source's storage account.")
        return service.get_container_client(source.bucket)
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise AuthError(f"Listing {source.text!r} through azure-storage-blob: no Azure credentials were given.",
                        hint="Set AZURE_STORAGE_CONNECTION_STRING (xpgeo.env or the environment), or install "
                             "azure-identity to use your Azure sign-in.") from None
    account_url = source.endpoint or f"https://{source.account}.blob.core.windows.net"
    return blob.ContainerClient(account_url, source.bucket, credential=DefaultAzureCredential(),
                                connection_verify=verify)
