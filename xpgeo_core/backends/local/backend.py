"""The local backend: create a layer folder, check it, open its sink, write its derived files."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from xpgeo_core import __version__, schema
from xpgeo_core.backends.base import Backend
from xpgeo_core.backends.local.layer_files import (FEATURES_FILE, FOOTPRINTS_FILE, LAYER_FILE, OI_TABLE_FILE,
                                                   PREVIEW_FILE, REPORT_FILE, dumps, extent_of,
                                                   feature_collection, footprint_collection, oi_table_csv)
from xpgeo_core.backends.local.sink import LocalSink
from xpgeo_core.backends.names import TAKEN_VARIANTS, folder_name, taken_name_candidates
from xpgeo_core.errors import ConfigError, ValidationError, XpgeoError
from xpgeo_core.files import TEMP_SUFFIX, atomic_write
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.results import AppendReport, CreateResult, HealthResult, ImageResult, failure_entries
from xpgeo_core.settings import BackendName, Settings

log = logging.getLogger("xpgeo.backends.local")


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
            atomic_write(folder / FEATURES_FILE, dumps(feature_collection([])))
            atomic_write(folder / LAYER_FILE, json.dumps(document, indent=2) + "\n")
            self.write_derived(folder, [], [])
        except OSError as exc:
            raise self._not_writable(exc, folder) from None
        service_url = str(folder)
        response = {"serviceName": folder.name, "serviceItemId": item_id, "serviceType": "Feature Service",
                    "serviceUrl": service_url, "layer": {"name": folder.name, "id": 0}}
        log.debug("Created local layer %s", folder)
        return CreateResult(backend=self.name, requested_name=name, layer_name=folder.name, item_id=item_id,
                            service_url=service_url, layer={"name": folder.name, "id": 0}, response=response,
                            messages=messages)

    def open_sink(self, name: str, *, imagery_type: Optional[str] = None, single: bool = False) -> LocalSink:
        return LocalSink(self, self.layer_folder(name))

    def viewer_target(self) -> Any:
        """The preview, opened from disk, shows photos with ``<img>``: no CORS, http and local files alike."""
        from xpgeo_core.readiness import LOCAL_TARGET

        return LOCAL_TARGET

    def layer_image_paths(self, name: str) -> Iterator[str]:
        for feature in self.read_features(self.layer_folder(name)):
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
        self.write_derived(folder, self.read_features(folder), report.results, report)

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

    def read_features(self, folder: Path) -> List[Dict[str, Any]]:
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

    def write(self, folder: Path, file_name: str, text: str) -> None:
        try:
            atomic_write(folder / file_name, text)
        except OSError as exc:
            raise self._not_writable(exc, folder) from None

    def write_derived(self, folder: Path, features: List[Dict[str, Any]], results: List[ImageResult],
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
        self.write(folder, LAYER_FILE, json.dumps(document, indent=2) + "\n")
        if self.settings.footprints:
            self.write(folder, FOOTPRINTS_FILE, dumps(footprint_collection(features)))
        self.write(folder, OI_TABLE_FILE, oi_table_csv(features))
        self.write(folder, PREVIEW_FILE, render_preview(folder.name, features, failures, folder=folder,
                                                         imagery_type=(document.get("item") or {}).get("imageryType")))
        if report is not None:
            self.write(folder, REPORT_FILE, json.dumps(report.to_dict(), indent=2, default=str) + "\n")

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
