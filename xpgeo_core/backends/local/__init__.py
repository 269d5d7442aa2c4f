"""The local backend: an Oriented Imagery layer as a folder of plain files.

Why it exists: a GIS analyst with no portal and no XPGEO server must still be able to
run the whole job and look at the result. It is also what ``auto`` falls back to.

One folder per layer inside ``settings.output_dir``::

    <output_dir>/<layer>/
        layer.json        the item, its data, the OI layer definition the portal gets and the footprint
                          layer's (``footprintLayer``: layer 1 of the portal's service)
        features.geojson  RFC 7946 points (WGS84, with Z when known) carrying the OI attributes
                          (AcquisitionDate always ISO 8601 UTC with Z)
        footprints.geojson  RFC 7946 polygons: the ground each photo covers, as Esri's viewer computes it
                          (xpgeo_core.footprints), one per photo, keyed by ImagePath
        oi_table.csv      Esri's oriented imagery table (Add Images To Oriented Imagery Dataset)
        preview.html      an offline map of the cameras (xpgeo_core.preview)
        report.json       the last append's per-image results

``features.geojson`` is the layer's source of truth; the other files are derived from
it. Every file is written whole to a temporary file and renamed over the old one, and
``features.geojson`` is written first, after each chunk. So a run killed at any point
leaves each file either as it was or complete, and a rerun skips the photos already in
``features.geojson`` and rewrites the derived files: it completes the layer without
duplicating anything.
"""

from xpgeo_core.backends.local.backend import LocalBackend
from xpgeo_core.backends.local.layer_files import (FEATURES_FILE, FOOTPRINTS_FILE, LAYER_FILE, OI_TABLE_FILE,
                                                   PREVIEW_FILE, REPORT_FILE, feature_from_attributes)
from xpgeo_core.backends.local.sink import LocalSink

__all__ = ["LocalBackend", "LocalSink", "FEATURES_FILE", "FOOTPRINTS_FILE", "LAYER_FILE", "OI_TABLE_FILE",
           "PREVIEW_FILE", "REPORT_FILE", "feature_from_attributes"]
