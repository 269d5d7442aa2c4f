"""What the append loop sends to a local layer folder through: features added to ``features.geojson``."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple

from xpgeo_core.backends.local.layer_files import (ALREADY_PRESENT, FEATURES_FILE, NO_POSITION, PREVIEW_FILE, dumps,
                                                   feature_collection, feature_from_attributes, finite)
from xpgeo_core.files import remove_stale_temporaries
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.pipeline.sequences import Photo, folder_of, layer_photo
from xpgeo_core.pipeline.sink import Item, Sink, result
from xpgeo_core.results import APPENDED, FAILED, SKIPPED, AppendReport, ImageResult
from xpgeo_core.settings import Settings

log = logging.getLogger("xpgeo.backends.local")


class Owner(Protocol):
    """What the sink needs of its backend (:class:`~xpgeo_core.backends.local.backend.LocalBackend`),
    named here so the sink does not import the backend that makes it."""

    settings: Settings

    def read_features(self, folder: Path) -> List[Dict[str, Any]]: ...

    def write(self, folder: Path, file_name: str, text: str) -> None: ...

    def write_derived(self, folder: Path, features: List[Dict[str, Any]], results: List[ImageResult],
                      report: Optional[AppendReport] = None) -> None: ...


class LocalSink(Sink):
    """Appends to one layer folder: ``features.geojson`` rewritten whole (atomically) after each
    chunk, the derived files and ``report.json`` at the end. A run killed at any point leaves the
    layer as it was after its last chunk; a rerun skips what ``features.geojson`` holds."""

    backend = "local"
    takes_photos = True

    def __init__(self, owner: Owner, folder: Path) -> None:
        super().__init__(folder.name, owner.settings.max_image_list_size)
        self.owner = owner
        self.folder = folder
        remove_stale_temporaries(folder)
        self.features = owner.read_features(folder)
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
                if finite(attributes.get("X")) is None or finite(attributes.get("Y")) is None:
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
                self.owner.write(self.folder, FEATURES_FILE, dumps(feature_collection(self.features)))
        return out

    def new_report(self) -> AppendReport:
        return AppendReport(backend=self.backend, layer_name=self.layer_name,
                            extra={"layer_folder": str(self.folder), "preview": str(self.folder / PREVIEW_FILE)})

    def finish(self, report: AppendReport) -> None:
        self.owner.write_derived(self.folder, self.features, report.results, report)
        log.info("Layer folder %s now holds %d photo(s); preview: %s", self.folder, len(self.features),
                 self.folder / PREVIEW_FILE)
