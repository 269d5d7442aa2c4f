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

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from xpgeo_core import __version__
from xpgeo_core.backends.base import Backend
from xpgeo_core.backends.names import TAKEN_VARIANTS, folder_name, taken_name_candidates
from xpgeo_core.errors import ConfigError, ValidationError, XpgeoError
from xpgeo_core.files import TEMP_SUFFIX, atomic_write, remove_stale_temporaries
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.pipeline.sequences import Photo, folder_of, layer_photo
from xpgeo_core.pipeline.sink import Item, Sink, result
from xpgeo_core.results import (APPENDED, FAILED, SKIPPED, AppendReport, CreateResult, HealthResult, ImageResult,
                                failure_entries)
from xpgeo_core.settings import BackendName, Settings
from xpgeo_core import footprints, schema

log = logging.getLogger("xpgeo.backends.local")

LAYER_FILE = "layer.json"
FEATURES_FILE = "features.geojson"
FOOTPRINTS_FILE = "footprints.geojson"
OI_TABLE_FILE = "oi_table.csv"
PREVIEW_FILE = "preview.html"
REPORT_FILE = "report.json"
SRS_WGS84 = "4326"
ALREADY_PRESENT = "already in the layer"
NO_POSITION = "the photo has no usable GPS position"

def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity; an unknown number is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def feature_from_attributes(attributes: Dict[str, Any], object_id: int) -> Dict[str, Any]:
    """One RFC 7946 point feature (lon, lat[, z] in WGS84) carrying the layer's fields: every
    per-photo value filled (:func:`xpgeo_core.schema.complete_photo`), AcquisitionDate as ISO
    8601 UTC with ``Z`` (one form, so no reader takes it for its own local time)."""
    x, y, z = (_finite(attributes.get(k)) for k in ("X", "Y", "Z"))
    coordinates = [float(x), float(y)] + ([float(z)] if z is not None else [])
    attributes = schema.complete_photo(attributes)
    properties: Dict[str, Any] = {"OBJECTID": object_id}
    for name in schema.field_names():
        if name != "OBJECTID":
            properties[name] = _finite(attributes.get(name))
    properties["AcquisitionDate"] = schema.acquisition_iso(attributes.get("AcquisitionDate"))
    return {"type": "Feature", "id": object_id, "geometry": {"type": "Point", "coordinates": coordinates},
            "properties": properties}


def feature_collection(features: List[Dict[str, Any]]) -> Dict[str, Any]:
    collection: Dict[str, Any] = {"type": "FeatureCollection", "features": features}
    extent = extent_of(features)
    if extent:
        collection["bbox"] = [extent["xmin"], extent["ymin"], extent["xmax"], extent["ymax"]]
    return collection


def extent_of(features: Sequence[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The layer extent (WGS84) of the features, or None when there are none."""
    if not features:
        return None
    xs = [f["geometry"]["coordinates"][0] for f in features]
    ys = [f["geometry"]["coordinates"][1] for f in features]
    return {"xmin": min(xs), "ymin": min(ys), "xmax": max(xs), "ymax": max(ys), "spatialReference": {"wkid": 4326}}


def oi_table_csv(features: Iterable[Dict[str, Any]]) -> str:
    """Esri's oriented imagery table, one row per feature, columns from the schema."""
    columns = schema.oi_table_columns()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for feature in features:
        coordinates = feature["geometry"]["coordinates"]
        row = dict(feature["properties"])
        row["X"], row["Y"] = coordinates[0], coordinates[1]
        row["Z"] = coordinates[2] if len(coordinates) > 2 else None
        row["SRS"] = SRS_WGS84
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()


def footprint_collection(features: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """``footprints.geojson``: each photo's footprint polygon, with the photo's OBJECTID and ImagePath."""
    out = []
    for feature in features:
        coordinates = feature["geometry"]["coordinates"]
        properties = feature["properties"]
        out.append(footprints.geojson_feature(str(properties.get("ImagePath") or ""), coordinates[0], coordinates[1],
                                              properties, int(feature.get("id") or properties.get("OBJECTID") or 0)))
    return {"type": "FeatureCollection", "features": out}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"


class LocalBackend(Backend):
    """Layers as folders in ``settings.output_dir`` (see the module docstring)."""

    name = BackendName.LOCAL

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.root = Path(settings.output_dir or "xpgeo-layers").expanduser().resolve()

    # -- operations -----------------------------------------------------------------
    def health_check(self) -> HealthResult:
        self._ensure_root()
        probe = self.root / f".xpgeo-write-check.{os.getpid()}{TEMP_SUFFIX}"
        try:
            probe.write_text("ok", encoding="utf-8")
            probe.unlink()
        except OSError as exc:
            raise self._not_writable(exc) from None
        layers = sorted(p.name for p in self.root.iterdir() if (p / LAYER_FILE).is_file())
        versions = {"xpgeoVersion": __version__, "backend": self.name,
                    "python": "%d.%d.%d" % sys.version_info[:3]}
        return HealthResult(backend=self.name, liveness_label="XPGEO local",
                            liveness_message=f"The output folder {self.root} is writable.",
                            versions=versions, details={"output_dir": str(self.root), "layers": layers})

    def create_layer(self, name: str, imagery_type: Optional[str] = None, *,
                     options: Optional[LayerOptions] = None) -> CreateResult:
        """``layer.json`` holds the item (with its tags, summary and sharing level as given), the
        item data and the layer definition the portal gets: type "Oriented Imagery Layer" and
        the same ``orientedImageryInfo``, so Esri's SDK can build the layer from it."""
        options = options or LayerOptions()
        messages = options.not_honoured("The local backend", honoured=("sharing", "tags", "summary",
                                                                          "elevation_source"))
        for message in messages:
            log.warning(message)
        self._ensure_root()
        folder = self._claim_folder(folder_name(name))
        item_id = uuid.uuid4().hex
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        item = {"id": item_id, "title": name.strip() or folder.name, "name": folder.name, "type": "Feature Service",
                "typeKeywords": ["Data", "Service", "Feature Service", schema.OI_TYPE_KEYWORD],
                "tags": ["Oriented Imagery", "XPGEO"] + [t for t in options.tags if t not in ("Oriented Imagery",
                                                                                           "XPGEO")],
                "snippet": options.summary or "Oriented Imagery layer made by XPGEO",
                "access": {"private": "private", "organization": "org", "public": "public"}[options.sharing],
                "created": created, "imageryType": imagery_type, "generator": f"xpgeo {__version__}"}
        elevation = options.elevation_source.to_oi_property() if options.elevation_source else None
        layer = schema.layer_definition(folder.name, imagery_type, elevation_source=elevation)
        document = {"item": item, "data": schema.item_data(0), "layer": layer,
                    "footprintLayer": schema.footprint_layer_definition(folder.name)}
        try:
            atomic_write(folder / FEATURES_FILE, _dumps(feature_collection([])))
            atomic_write(folder / LAYER_FILE, json.dumps(document, indent=2) + "\n")
            self._write_derived(folder, [], [])
        except OSError as exc:
            raise self._not_writable(exc, folder) from None
        service_url = str(folder)
        response = {"serviceName": folder.name, "serviceItemId": item_id, "serviceType": "Feature Service",
                    "serviceUrl": service_url, "layer": {"name": folder.name, "id": 0}}
        log.debug("Created local layer %s", folder)
        return CreateResult(backend=self.name, requested_name=name, layer_name=folder.name, item_id=item_id,
                            service_url=service_url, layer={"name": folder.name, "id": 0}, response=response,
                            messages=messages)

    def open_sink(self, name: str, *, imagery_type: Optional[str] = None, single: bool = False) -> "LocalSink":
        return LocalSink(self, self.layer_folder(name))

    def viewer_target(self) -> Any:
        """The preview, opened from disk, shows photos with ``<img>``: no CORS, http and local files alike."""
        from xpgeo_core.readiness import LOCAL_TARGET

        return LOCAL_TARGET

    def layer_image_paths(self, name: str) -> Iterator[str]:
        for feature in self._read_features(self.layer_folder(name)):
            path = (feature.get("properties") or {}).get("ImagePath")
            if isinstance(path, str) and path:
                yield path

    def record_report(self, report: AppendReport) -> None:
        """report.json and the preview's failure list from the final report (the list's rejected
        lines included, with their line numbers)."""
        try:
            folder = self.layer_folder(report.layer_name)
        except ValidationError:
            return  # nothing was written for a layer that is not there
        self._write_derived(folder, self._read_features(folder), report.results, report)

    # -- layer files ----------------------------------------------------------------
    def layer_folder(self, name: str) -> Path:
        """The folder of an existing layer, or a 404 that says where we looked. *name* may be the
        layer name as typed or as created, the item id create printed, or the folder's path."""
        folder = self.root / folder_name(name)
        if (folder / LAYER_FILE).is_file():
            return folder
        given = Path(name.strip()).expanduser()
        if given.name == FEATURES_FILE:  # the layer's points file, as the toolbox's Layer output gives it
            given = given.parent
        if given.is_absolute() and (given / LAYER_FILE).is_file():
            return given
        if re.fullmatch(r"[0-9a-fA-F]{32}", name.strip()) and self.root.is_dir():
            for candidate in sorted(self.root.iterdir()):
                layer_file = candidate / LAYER_FILE
                try:
                    if layer_file.is_file() and json.loads(layer_file.read_text(encoding="utf-8")).get(
                            "item", {}).get("id") == name.strip().lower():
                        return candidate
                except (OSError, ValueError, AttributeError):
                    continue
        raise ValidationError(
            f"Layer {name!r} was not found in the output folder {str(self.root)!r}.", status=404,
            hint=f"Create it first (xpgeo create-oi-layer --name {folder_name(name)}), or point XPGEO_OUTPUT_DIR "
                 f"(--output-dir) at the folder that holds it.")

    def read_layer(self, folder: Path) -> Dict[str, Any]:
        return self._read_json(folder / LAYER_FILE)

    def _read_features(self, folder: Path) -> List[Dict[str, Any]]:
        path = folder / FEATURES_FILE
        if not path.is_file():
            return []
        data = self._read_json(path)
        features = data.get("features") if isinstance(data, dict) else None
        if not isinstance(features, list):
            raise XpgeoError(f"{str(path)!r} is not a GeoJSON FeatureCollection.",
                             hint="Restore it from a backup, or create a new layer and append the images again.")
        return features

    def _read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise XpgeoError(f"The layer file {str(path)!r} cannot be read: {exc.__class__.__name__}.",
                             hint="Restore it from a backup, or create a new layer and append the images "
                                  "again.") from None

    def _write(self, folder: Path, file_name: str, text: str) -> None:
        try:
            atomic_write(folder / file_name, text)
        except OSError as exc:
            raise self._not_writable(exc, folder) from None

    def _write_derived(self, folder: Path, features: List[Dict[str, Any]], results: List[ImageResult],
                       report: Optional[AppendReport] = None) -> None:
        """layer.json's extent, the footprints, the OI table, the preview and the report, all from *features*."""
        from xpgeo_core.preview import render_preview

        layer_file = folder / LAYER_FILE
        document = self._read_json(layer_file) if layer_file.is_file() else {}
        layer = document.get("layer") or schema.layer_definition(folder.name, None)
        schema.upgrade_layer(layer)
        extent = extent_of(features)
        if extent:
            layer["extent"] = extent
        props = (layer.get("orientedImageryInfo") or {}).get("orientedImageryProperties")
        if isinstance(props, dict):  # the viewer looks only maximumDistance far: reach the farthest photo
            farther = schema.maximum_distance(props.get("maximumDistance"),
                                              (f["properties"].get("FarDistance") for f in features))
            if farther is not None:
                props["maximumDistance"] = farther
        document["layer"] = layer
        footprint_layer = document.get("footprintLayer") or schema.footprint_layer_definition(folder.name)
        if extent:
            footprint_layer["extent"] = extent
        document["footprintLayer"] = footprint_layer  # a layer.json of an earlier release gains it
        failures = failure_entries(results)
        self._write(folder, LAYER_FILE, json.dumps(document, indent=2) + "\n")
        if self.settings.footprints:
            self._write(folder, FOOTPRINTS_FILE, _dumps(footprint_collection(features)))
        self._write(folder, OI_TABLE_FILE, oi_table_csv(features))
        self._write(folder, PREVIEW_FILE, render_preview(folder.name, features, failures, folder=folder,
                                                         imagery_type=(document.get("item") or {}).get("imageryType")))
        if report is not None:
            self._write(folder, REPORT_FILE, json.dumps(report.to_dict(), indent=2, default=str) + "\n")

    # -- folders --------------------------------------------------------------------
    def _ensure_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._not_writable(exc) from None

    def _claim_folder(self, wanted: str) -> Path:
        """Make the layer folder; a taken name gets ``_YYYYMMDD_HHMMSS`` in UTC (the one rule of
        :mod:`~xpgeo_core.backends.names`, as on the portal and the XPGEO server)."""
        for candidate in taken_name_candidates(wanted):
            folder = self.root / candidate
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                continue
            except OSError as exc:
                raise self._not_writable(exc) from None
        raise ValidationError(f"Layer name {wanted!r} is taken, and so are {TAKEN_VARIANTS - 1} timestamped variants.",
                              status=409, hint="Choose another layer name.")

    def _not_writable(self, exc: OSError, folder: Optional[Path] = None) -> ConfigError:
        where = folder or self.root
        reason = exc.strerror or exc.__class__.__name__
        return ConfigError(f"The output folder {str(where)!r} is not writable: {reason}.",
                           hint="Set XPGEO_OUTPUT_DIR (or --output-dir) to a folder "
                                "you can write to.")


class LocalSink(Sink):
    """Appends to one layer folder: ``features.geojson`` rewritten whole (atomically) after each
    chunk, the derived files and ``report.json`` at the end. A run killed at any point leaves the
    layer as it was after its last chunk; a rerun skips what ``features.geojson`` holds."""

    backend = "local"
    takes_photos = True

    def __init__(self, owner: LocalBackend, folder: Path) -> None:
        super().__init__(folder.name, owner.settings.max_image_list_size)
        self.owner = owner
        self.folder = folder
        remove_stale_temporaries(folder)
        self.features = owner._read_features(folder)
        self.present = {f["properties"].get("ImagePath") for f in self.features}  # URLs without user:password@
        self.next_id = max((int(f.get("id") or 0) for f in self.features), default=0) + 1
        self._lock = threading.Lock()

    def layer_photos(self, folders: Sequence[str] = ()) -> List[Tuple[str, Photo]]:
        """The sequenced photos ``features.geojson`` holds in *folders* (a rerun's photos join their sequences)."""
        wanted = set(folders)
        out = []
        for feature in self.features:
            properties = feature.get("properties") or {}
            coordinates = (feature.get("geometry") or {}).get("coordinates") or [None, None]
            path = str(properties.get("ImagePath") or "")
            photo = layer_photo(properties, coordinates[0], coordinates[1], path)
            if photo is not None and folder_of(path) in wanted:
                out.append((folder_of(path), photo))
        return out

    def known(self, images: Sequence[Image]) -> Dict[str, ImageResult]:
        with self._lock:
            return {i.image_path: result(i, SKIPPED, ALREADY_PRESENT) for i in images if i.image_path in self.present}

    def send(self, items: Sequence[Item]) -> Dict[str, ImageResult]:
        out: Dict[str, ImageResult] = {}
        added = 0
        with self._lock:
            for item in items:
                image = item.image
                if image.image_path in self.present:
                    out[image.image_path] = result(image, SKIPPED, ALREADY_PRESENT)
                    continue
                attributes = item.attributes.as_dict() if item.attributes is not None else {}
                if _finite(attributes.get("X")) is None or _finite(attributes.get("Y")) is None:
                    out[image.image_path] = result(image, FAILED, NO_POSITION)
                    continue
                attributes["ImagePath"] = image.image_path  # the key reruns recognise the photo by
                if not attributes.get("Name"):
                    attributes["Name"] = image.image_path.rsplit("/", 1)[-1].split("?", 1)[0] or image.display
                attributes["OBJECTID"] = self.next_id
                self.features.append(feature_from_attributes(attributes, self.next_id))
                self.present.add(image.image_path)
                self.next_id += 1
                added += 1
                out[image.image_path] = result(image, APPENDED, attributes=attributes)
            if added:
                self.owner._write(self.folder, FEATURES_FILE, _dumps(feature_collection(self.features)))
        return out

    def new_report(self) -> AppendReport:
        return AppendReport(backend=self.backend, layer_name=self.layer_name,
                            extra={"layer_folder": str(self.folder), "preview": str(self.folder / PREVIEW_FILE)})

    def finish(self, report: AppendReport) -> None:
        self.owner._write_derived(self.folder, self.features, report.results, report)
        log.info("Layer folder %s now holds %d photo(s); preview: %s", self.folder, len(self.features),
                 self.folder / PREVIEW_FILE)
