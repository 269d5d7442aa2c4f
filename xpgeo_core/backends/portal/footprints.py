"""The footprint layer of a portal OI layer: layer 1 of the same feature service, one polygon per photo.

Why layer 1 of the same service: that is where Esri's own publishing puts footprints (Generate Service
From Oriented Imagery Dataset shares the footprint feature class beside the OI dataset and styles
``layers[1]``), and Pro and Map Viewer show a service holding both as one group layer. No property of the
OI layer points at it: the dataset's ``footprintItem`` is dropped by that tool before it writes
``orientedImageryProperties``, and neither the web map specification nor the Maps SDK has such a key
(docs/oriented-imagery-attributes.md, Footprints). The polygons are :mod:`xpgeo_core.footprints`' (the
coverage Esri's viewer computes), keyed by what the OI layer knows the photo by: its ImagePath, or, where
the photos are attachments (ImagePath "FA" for each), its PhotoKey, a field the footprint layer then holds
too (its ImagePath is then the photo's own path, for people reading it).

How none is lost or doubled, without slowing the append: the photos' points come first; the footprints
of a chunk's appended photos are handed to a writer thread, which sends them (``addFeatures`` on layer 1)
while the next chunk's points go out, so the two layers' commits overlap. The photos a rerun finds already
in the layer go to the same thread, which asks the footprint layer which of them lack one and builds those
from the points as the layer holds them. A footprint batch is sent once; what its answer does not confirm
(lost, refused as a whole) is asked for and completed the same way at the end of the run, which so waits
for at most the batches queued and those leftovers. A rerun so completes the
footprints of an earlier run that stopped, and never adds a second one: a photo's footprint is only sent
when the footprint layer, asked first, does not hold it (a first run into empty layers asks nothing).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from xpgeo_core import footprints, schema
from xpgeo_core.answers import list_at
from xpgeo_core.backends.portal import api
from xpgeo_core.backends.portal.attachments import key_path
from xpgeo_core.backends.portal.rest import PortalClient
from xpgeo_core.errors import ServerError, XpgeoError
from xpgeo_core.results import AppendReport

log = logging.getLogger("xpgeo.backends.portal")

POLYGON = "esriGeometryPolygon"
IMAGE_PATH = "ImagePath"
QUEUED_BATCHES = 2  # footprint batches waiting for the writer: the sender blocks beyond (back-pressure)
Photo = Tuple[str, Dict[str, Any]]  # (the photo's key, attributes with X and Y in WGS84)
Job = Tuple[str, List[Any]]  # ("add", photos) or ("complete", keys)


def find_layer(client: PortalClient, service_url: str, oi_layer_id: int,
               key_field: str = IMAGE_PATH) -> Optional[Dict[str, Any]]:
    """The service's footprint layer (a polygon layer other than the OI layer, with an ImagePath field and
    the *key_field* its polygons are keyed by): ``{"id", "url", "max_record_count"}``, or None."""
    service = api.service_info(client, service_url)
    for entry in service.get("layers") or []:
        if not isinstance(entry, dict) or entry.get("id") in (None, oi_layer_id) or entry.get("geometryType") != POLYGON:
            continue
        url = f"{service_url}/{int(entry['id'])}"
        layer = api.layer_info(client, url)
        if {IMAGE_PATH, key_field} <= {f.get("name") for f in layer.get("fields") or [] if isinstance(f, dict)}:
            return {"id": int(entry["id"]), "url": url,
                    "max_record_count": int(layer.get("maxRecordCount") or service.get("maxRecordCount") or 1000)}
    return None


def define_layer(client: PortalClient, service_url: str, name: str, key_field: str = IMAGE_PATH) -> Dict[str, Any]:
    """Add the footprint layer (``layer_templates/footprint_layer.json``, with *key_field*) to the service with
    ``addToDefinition`` and read it back; a ServerError when the service does not hold it afterwards."""
    answer = api.add_to_definition(client, service_url, [schema.footprint_layer_definition(name, key_field)])
    found = find_layer(client, service_url, -1, key_field)
    if found is None:
        raise ServerError(f"addToDefinition of the footprint layer answered {str(answer)[:120]}, but the service "
                          "has no footprint layer afterwards.", hint="Try again later; set FOOTPRINTS=false to "
                                                                     "append without footprints.")
    return found


def ensure_layer(client: PortalClient, service_url: str, oi_layer_id: int, name: str,
                 key_field: str = IMAGE_PATH) -> Tuple[Dict[str, Any], bool]:
    """The footprint layer keyed by *key_field*, made when the service has none (a layer made before
    footprints). (layer, made)."""
    found = find_layer(client, service_url, oi_layer_id, key_field)
    if found is not None:
        return found, False
    return define_layer(client, service_url, name, key_field), True


class FootprintWriter:
    """The footprints of one append run (module docstring): :meth:`add` (appended photos) and
    :meth:`complete_later` (photos already in the layer) during the run, :meth:`finish` at the end,
    :meth:`cancel` on Cancel. The work is done on the writer's thread, beside the run, so Cancel is heard
    and the end of a run waits for at most the batches queued. Photos are named by their *key_field* value
    (ImagePath, or PhotoKey where they are attachments) in both layers."""

    def __init__(self, client: PortalClient, present: Any, point_layer_url: str, layer: Dict[str, Any],
                 batch_size: int, key_field: str = IMAGE_PATH) -> None:
        self.client = client
        self.present = present  # (layer_url, keys, field) -> the set of them the layer holds
        self.point_layer_url = point_layer_url
        self.key_field = key_field
        self.url = layer["url"]
        self.batch_size = max(1, min(batch_size, layer["max_record_count"]))
        self.empty_at_start = self._count() == 0
        self.added: Set[str] = set()
        self.refused: Dict[str, str] = {}
        self.completed = 0  # footprints built from the layer's points (photos already there, lost answers)
        self.cancelled = threading.Event()
        self._queue: "queue.Queue[Optional[Job]]" = queue.Queue(maxsize=QUEUED_BATCHES)
        self._thread = threading.Thread(target=self._run, name="xpgeo-footprints", daemon=True)
        self._thread.start()

    # -- during the run ---------------------------------------------------------------
    def add(self, photos: Sequence[Photo]) -> None:
        """Hand the footprints of *photos* (just appended, their attributes known) to the writer."""
        for start in range(0, len(photos), self.batch_size):
            self._put(("add", list(photos[start:start + self.batch_size])))

    def complete_later(self, paths: Sequence[str]) -> None:
        """Photos (their keys) the layer already holds (skipped by a rerun, or put there by the XPGEO server):
        the writer asks the footprint layer which lack a footprint and builds those from the points it holds."""
        for start in range(0, len(paths), self.batch_size):
            self._put(("complete", list(paths[start:start + self.batch_size])))

    def _put(self, job: Job) -> None:
        """Queue *job*; blocks while the writer is QUEUED_BATCHES behind (back-pressure), never after a cancel."""
        while not self.cancelled.is_set():
            try:
                self._queue.put(job, timeout=0.5)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self.cancelled.is_set():
                continue
            kind, work = job
            try:
                if kind == "add":
                    self._send(work, ask_first=not self.empty_at_start)
                else:
                    self._complete(work)
            except Exception as exc:  # a footprint never costs a photo: what did not land is completed at the end
                log.debug("A footprint batch was not confirmed (%s); the end of the run checks it.", exc)

    def _send(self, photos: Sequence[Photo], ask_first: bool) -> None:
        """Send the footprints of *photos* once (those the layer holds already, when asked first, are
        counted as there); what the answer confirms is recorded."""
        if ask_first:
            there = self.present(self.url, [key for key, _ in photos], self.key_field)
            self.added.update(there)
            photos = [p for p in photos if p[0] not in there]
        if not photos:
            return
        features = [self._feature(key, values) for key, values in photos]
        answer = api.add_features(self.client, self.url, features)
        for (path, _), entry in zip(photos, list_at(answer, "addResults")):
            if not isinstance(entry, dict):
                continue
            if entry.get("success") in (True, "true"):
                self.added.add(path)
            else:
                error = entry.get("error") or {}
                self.refused[path] = str(error.get("description") or error.get("message") or "no reason given")

    def _feature(self, key: str, values: Dict[str, Any]) -> Dict[str, Any]:
        """The footprint of the photo *key*; keyed by PhotoKey, its ImagePath is the photo's path (the point's
        is "FA")."""
        if self.key_field == IMAGE_PATH:
            return footprints.esri_feature(key, float(values["X"]), float(values["Y"]), values)
        feature = footprints.esri_feature(key_path(key), float(values["X"]), float(values["Y"]), values)
        feature["attributes"][self.key_field] = key
        return feature

    def _count(self) -> Optional[int]:
        try:
            count = api.query(self.client, self.url, where="1=1", returnCountOnly=True).get("count")
        except XpgeoError as exc:
            log.debug("The footprint layer's count is unknown (%s).", exc.message)
            return None
        return count if isinstance(count, int) else None

    # -- at the end -------------------------------------------------------------------
    def cancel(self) -> None:
        self.cancelled.set()

    def finish(self, report: AppendReport, in_layer: Set[str]) -> None:
        """Wait for the writer, complete the missing footprints of *in_layer* (the run's photos whose point
        the layer holds: appended, or already there), say what became of them in *report*."""
        self._queue.put(None)
        self._thread.join()
        if not self.cancelled.is_set():
            pending = sorted(in_layer - self.added - set(self.refused))
            try:
                if pending:
                    self._complete(pending)
            except XpgeoError as exc:
                log.warning("The footprints could not be completed: %s", exc.message)
        completed = self.completed
        missing = in_layer - self.added - set(self.refused)
        summary = {"layer_url": self.url, "written": len(self.added & in_layer) - completed, "completed": completed,
                   "missing": len(missing), "refused": len(self.refused)}
        report.extra["footprints"] = summary
        if self.refused:
            path, reason = next(iter(sorted(self.refused.items())))
            report.messages.append(f"The portal refused the footprint of {len(self.refused)} photo(s) (e.g. "
                                   f"{key_path(path) if self.key_field != IMAGE_PATH else path}: "
                                   f"{reason}); the photos themselves are in the layer.")
        if missing:
            report.messages.append(f"{len(missing)} photo(s) have no footprint yet (the run stopped before they were "
                                   "written): run the same append again to add them (photos already in the layer are "
                                   "skipped and their footprints completed).")
        log.info("Footprints: %d written, %d completed from the layer, %d missing.", summary["written"], completed,
                 len(missing))

    def _complete(self, paths: Sequence[str]) -> int:
        """Footprints for the *paths* (keys) whose point the layer holds and whose footprint it does not, built
        from the points as the layer holds them. Returns how many were sent and confirmed."""
        there = self.present(self.url, paths, self.key_field)
        self.added.update(there)
        missing = [p for p in paths if p not in there]
        before = len(self.added)
        try:
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start:start + self.batch_size]
                photos = list(self._points(chunk))
                if photos:
                    self._send(photos, ask_first=False)
        finally:
            self.completed += len(self.added) - before
        return len(self.added) - before

    def _points(self, paths: Sequence[str]) -> Iterable[Photo]:
        """(key, attributes with X/Y) of the points of *paths* (keys) the OI layer holds (WGS84)."""
        for start in range(0, len(paths), 50):
            answer = api.query(self.client, self.point_layer_url,
                               where=api.where_in(self.key_field, paths[start:start + 50]),
                               outFields="*", returnGeometry=True, outSR=4326)
            for feature in answer.get("features") or []:
                values = dict(feature.get("attributes") or {})
                geometry = feature.get("geometry") or {}
                if isinstance(values.get(self.key_field), str) and all(
                        isinstance(geometry.get(k), (int, float)) for k in ("x", "y")):
                    values["X"], values["Y"] = geometry["x"], geometry["y"]
                    yield values[self.key_field], values


def open_writer(client: PortalClient, present: Any, service_url: str, oi_layer_id: int, name: str,
                batch_size: int) -> FootprintWriter:
    """The writer of a layer's footprints, the footprint layer made when the service has none (a layer made
    before footprints, or by the XPGEO server); an XpgeoError when it cannot be used."""
    layer, made = ensure_layer(client, service_url, oi_layer_id, name)
    if made:
        log.info("Added the footprint layer %s (the layer had none).", layer["url"])
    return FootprintWriter(client, present, f"{service_url}/{oi_layer_id}", layer, batch_size)
