"""Bucket sources: photos listed from an S3, Google Cloud Storage or Azure Blob Storage bucket.

* :mod:`~xpgeo_core.buckets.source` — what a source names (store, bucket, prefix, endpoint) and each
  object's public URL;
* :mod:`~xpgeo_core.buckets.stores` — anonymous listing with each store's own API (core dependencies only);
* :mod:`~xpgeo_core.buckets.sdk` — credentialed listing through the store's SDK (optional extras);
* :mod:`~xpgeo_core.buckets.xml` — the stores' XML answers, parsed safely;
* :mod:`~xpgeo_core.buckets.listing` — :class:`BucketListing`: list entries for the one image pipeline.
"""

from xpgeo_core.buckets.listing import BucketListing, parse_since
from xpgeo_core.buckets.source import Source, parse_source

__all__ = ["BucketListing", "Source", "parse_source", "parse_since"]
