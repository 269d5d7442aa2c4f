"""What the append loop sends to a portal OI layer through: features in batches, photos as attachments.

Every batch's ``addResults`` entry is checked; a transient failure is retried only for the features a
query shows did not land; where photos are attachments, each feature is added, then its photo streamed
into ``addAttachment`` (an upload whose answer is lost is checked before it is sent again); the run's
footprints are written beside the points (:mod:`~xpgeo_core.backends.portal.footprints`).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterator, List, Optional, Protocol, Sequence, Set, Tuple

from xpgeo_core.answers import list_at, object_at
from xpgeo_core.backends.portal import api, footprints
from xpgeo_core.backends.portal.attachments import (UPLOAD_STREAMS, Attacher, NotAttached, file_part, is_file,
                                                    is_the_photo, key_path, lost, photo_key)
from xpgeo_core.backends.portal.features import IMAGE_PATH, feature_of, query_chunks
from xpgeo_core.backends.portal.lookup import LayerTarget
from xpgeo_core.backends.portal.rest import PortalClient, is_transient
from xpgeo_core.errors import AnswerLost, AuthError, Cancelled, ValidationError, XpgeoError
from xpgeo_core.http import XpgeoSession, back_off
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.pipeline.sequences import SEQUENCE_FIELDS, Photo, folder_of, layer_photo
from xpgeo_core.pipeline.sink import Item, Sink, Stop, result
from xpgeo_core.results import APPENDED, FAILED, SKIPPED, UNCONFIRMED, AppendReport, ImageResult
from xpgeo_core.schema import attachment_schema
from xpgeo_core.settings import Settings

log = logging.getLogger("xpgeo.backends.portal")

ALREADY_THERE = "already in the layer (ImagePath)"
ATTACHMENT_BATCH = 100
"""Features per addFeatures where photos are attachments: each batch's photos are uploaded after its features
are added, so a small batch starts the uploads sooner (the next batch's headers are read meanwhile) and leaves
few features waiting for their photo when a run stops."""
NOT_ATTACHED = ("its feature is in the layer, but the photo is not attached: {}; run the same append again to attach "
                "it (the feature is not added again)")


class Owner(Protocol):
    """What the sink needs of its backend (:class:`~xpgeo_core.backends.portal.backend.PortalBackend`),
    named here so the sink does not import the backend that makes it."""

    settings: Settings

    @property
    def client(self) -> PortalClient: ...

    @property
    def session(self) -> XpgeoSession: ...

    def find_layer(self, name: str) -> LayerTarget: ...

    def present(self, layer_url: str, image_paths: Sequence[str], field: str = IMAGE_PATH) -> Set[str]: ...

    def present_ids(self, layer_url: str, values: Sequence[str], field: str = IMAGE_PATH) -> Dict[str, int]: ...

    def follow_appended(self, target: LayerTarget, far_distances: List[Any], report: AppendReport) -> None: ...

    def write_extent(self, target: LayerTarget, report: AppendReport) -> None: ...

    def abort(self) -> None: ...


class PortalSink(Sink):
    """addFeatures into a hosted OI layer, in batches of ``ADD_FEATURES_BATCH_SIZE`` (at most the
    layer's maxRecordCount).

    Never duplicate, never misreport: when a batch's answer is lost or says the portal could
    not do it (a reset, a time-out, a cut body, a 5xx, an ``addResults`` shorter than the
    batch), the layer is asked which of the batch landed before anything is sent again; what
    landed is appended, only the rest is re-sent (at most RETRIES times, with the policy's
    back-off, which Cancel ends).
    """

    backend = "portal"
    takes_photos = True

    def __init__(self, owner: Owner, name: str) -> None:
        self.owner = owner
        self.target = owner.find_layer(name)
        self.layer_url = self.target.layer_url
        self.far: Dict[str, Any] = {}  # FarDistance per photo sent, for the layer's maximumDistance
        super().__init__(name, max(1, min(owner.settings.batch_size, self.target.max_record_count)))
        layer = self.target.layer
        self.fields = self.target.field_names
        extra = attachment_schema()
        self.attacher: Optional[Attacher] = None
        self.key_field = IMAGE_PATH
        """The field a photo is recognised by: ImagePath, or PhotoKey where the photos are attachments."""
        if layer.get("hasAttachments") in (True, "true") and extra["keyField"].lower() in self.fields:
            self.key_field = extra["keyField"]
            self.attacher = Attacher(owner.client, self.target.service_url, layer, self.layer_url,
                                     retries=owner.settings.retries, back_off=self._back_off)
            self.batch_size = min(self.batch_size, ATTACHMENT_BATCH)
        elif owner.settings.attachments:
            raise ValidationError(f"Layer '{name}' was not made for photos as attachments (it has no "
                                  f"{'attachments' if not layer.get('hasAttachments') else extra['keyField'] + ' field'}"
                                  "): its photos are web URLs.", status=400,
                                  hint="Create a layer with --attachments (Photos as attachments) and append the "
                                       "photo files to it, or upload the photos to a web host and list their URLs.")
        self.keys: Dict[str, str] = {}  # ImagePath -> the key field's value
        self.oids: Dict[str, int] = {}  # ImagePath -> its feature's object id (attachments)
        self.empty_at_start = self._count() == 0
        self.footprints = self._footprint_writer() if owner.settings.footprints else None

    def _footprint_writer(self) -> Optional[footprints.FootprintWriter]:
        """The writer of this run's footprints (:mod:`~xpgeo_core.backends.portal.footprints`), the footprint
        layer made if the service has none; None, with a warning, when that cannot be done. The footprints
        are keyed by the layer's own key field (PhotoKey where the photos are attachments)."""
        try:
            layer, made = footprints.ensure_layer(self.owner.client, self.target.service_url,
                                                  self.target.layer_id, self.layer_name, self.key_field)
        except XpgeoError as exc:
            log.warning("The photos are appended without footprints: the footprint layer of '%s' cannot be used "
                        "(%s). Set FOOTPRINTS=false to silence this.", self.layer_name, exc.message)
            return None
        if made:
            log.info("Added the footprint layer %s (the layer was made before footprints).", layer["url"])
        return footprints.FootprintWriter(self.owner.client, self.owner.present, self.layer_url, layer,
                                          self.batch_size, self.key_field)

    def layer_photos(self, folders: Sequence[str] = ()) -> List[Tuple[str, Photo]]:
        """The layer's sequenced photos in *folders* (the folders of the run's images: sequences never
        cross one), by paged queries; none for a layer empty at the start. A layer made before
        sequences has no SequenceOrder field: its photos are sent without one."""
        if not all(name.lower() in self.fields for name in SEQUENCE_FIELDS):
            log.warning("Layer '%s' has no %s fields (it was made by an earlier XPGEO): the photos are appended "
                        "without sequences. A layer created now has them.", self.layer_name,
                        " and ".join(SEQUENCE_FIELDS))
            return []
        if self.empty_at_start or not folders:
            return []
        wanted = set(folders)
        out: List[Tuple[str, Photo]] = []
        for chunk in query_chunks(sorted(wanted)):
            # LIKE: a folder's "_" or "%" matches more than itself; what is not in a wanted folder is dropped.
            where = "SequenceOrder IS NOT NULL AND (" + " OR ".join(
                f"{self.key_field} LIKE '" + folder.replace("'", "''") + "/%'" for folder in chunk) + ")"
            out.extend(p for p in self._sequenced(where) if p[0] in wanted)
        return out

    def _sequenced(self, where: str) -> Iterator[Tuple[str, Photo]]:
        fields = ",".join((self.key_field, "AcquisitionDate", "CameraHeading") + SEQUENCE_FIELDS)
        offset = 0
        while True:
            answer = api.query(self.owner.client, self.layer_url, where=where, outFields=fields, returnGeometry=True,
                               outSR=4326, orderByFields="OBJECTID", resultOffset=offset,
                               resultRecordCount=self.target.max_record_count)
            features = answer.get("features") or []
            for feature in features:
                values = feature.get("attributes") or {}
                geometry = feature.get("geometry") or {}
                path = key_path(str(values.get(self.key_field) or ""))
                photo = layer_photo(values, geometry.get("x"), geometry.get("y"), path)
                if photo is not None:
                    yield folder_of(path), photo
            offset += len(features)
            if not features or not answer.get("exceededTransferLimit"):
                return

    def _count(self) -> Optional[int]:
        """How many features the layer holds now (None when the portal does not say)."""
        try:
            answer = api.query(self.owner.client, self.layer_url, where="1=1", returnCountOnly=True)
        except XpgeoError as exc:  # then each window is asked, as for a layer that holds features
            log.debug("The layer's feature count is unknown (%s).", exc.message)
            return None
        count = answer.get("count")
        return count if isinstance(count, int) else None

    def known(self, images: Sequence[Image]) -> Dict[str, ImageResult]:
        """The images already in the layer. A layer that was empty when this run began holds none of
        them (the run's images are distinct, and what it sends is accounted for as it lands), so the
        layer is not asked: a first append of 10,000 photos makes no existence query at all.

        Where photos are attachments, a feature in the layer whose photo never landed (an upload cut
        short) gets its photo here, and only its photo: its feature, sequence and all, is already there."""
        if self.empty_at_start:
            return {}
        found = self.owner.present_ids(self.layer_url, [self._key(i) for i in images], self.key_field)
        there = [i for i in images if self._key(i) in found]
        files = [i for i in there if self.attacher is not None and is_file(i)]
        attached = self.attacher.attached(found[self._key(i)] for i in files) if files and self.attacher else {}
        results: Dict[str, ImageResult] = {}
        missing: List[Tuple[Image, int]] = []
        for image in there:
            oid = found[self._key(image)]
            if image in files and not any(is_the_photo(info, file_part(image)) for info in attached.get(oid, [])):
                missing.append((image, oid))
            else:
                results[image.image_path] = result(image, SKIPPED, ALREADY_THERE)
        if missing:
            self._upload_all(missing, results)  # a stop shows again on the next request; these have their results
        if self.footprints is not None:  # a rerun: the footprints of what is there are checked beside the run
            self.footprints.complete_later(sorted(self._key(i) for i in there  # attached now: its point was there
                                                  if results[i.image_path].status in (SKIPPED, APPENDED)))
        return results

    def served(self, image: Image) -> bool:
        """A photo file the layer's own service will serve (its attachment): no host for the viewer check."""
        return self.attacher is not None and is_file(image)

    def _key(self, image: Image) -> str:
        """What the layer knows *image* by: its ImagePath, or its PhotoKey where photos are attachments."""
        key = self.keys.get(image.image_path)
        if key is None:
            key = self.keys[image.image_path] = photo_key(image) if self.attacher is not None else image.image_path
        return key

    def send(self, items: Sequence[Item]) -> Dict[str, ImageResult]:
        """The chunk's points (:meth:`_send_points`), then its appended photos' footprints handed to the
        footprint writer, which sends them while the next chunk's points go out."""
        results = self._send_points(items)
        if self.footprints is not None:
            self.footprints.add([(self._key(item.image), self._attributes(item)) for item in items
                                 if results.get(item.image.image_path) is not None
                                 and results[item.image.image_path].status == APPENDED])
        return results

    def _send_points(self, items: Sequence[Item]) -> Dict[str, ImageResult]:
        if self.attacher is None:
            return self._add_features(items)
        results: Dict[str, ImageResult] = {}
        for item in items:  # a photo the service cannot take is refused before its feature is added
            if not is_file(item.image):
                continue
            try:
                too_large = self.attacher.too_large(file_part(item.image))
            except OSError as exc:
                too_large = f"the photo cannot be read: {exc.strerror or exc}"
            if too_large:
                results[item.image.image_path] = result(item.image, FAILED, too_large)
        try:
            results.update(self._add_features([i for i in items if i.image.image_path not in results]))
        except Stop as stopped:
            stopped.results.update(results)
            raise
        uploads = [(i.image, self.oids.get(i.image.image_path)) for i in items
                   if is_file(i.image) and results[i.image.image_path].status == APPENDED]
        stop = self._upload_all(uploads, results)
        if stop is not None:
            stop.results = results
            raise stop
        return results

    def _upload_all(self, uploads: Sequence[Tuple[Image, Optional[int]]],
                    results: Dict[str, ImageResult]) -> Optional[Stop]:
        """Attach each photo to its feature, :data:`UPLOAD_STREAMS` at a time (one stream leaves the link idle
        while the portal answers each upload). Every photo gets its result; after a stop, the photos not yet
        started are not sent and say why. Returns the first stop."""
        stopped: List[Stop] = []

        def one(image: Image, oid: Optional[int]) -> None:
            if stopped:
                results[image.image_path] = result(image, FAILED, NOT_ATTACHED.format(stopped[0].reason))
                return
            outcome, stop = self._upload(image, oid)
            results[image.image_path] = outcome
            if stop is not None:
                stopped.append(stop)

        if len(uploads) == 1:
            one(*uploads[0])
        else:
            with ThreadPoolExecutor(max_workers=UPLOAD_STREAMS, thread_name_prefix="xpgeo-attach") as pool:
                for future in [pool.submit(one, image, oid) for image, oid in uploads]:
                    future.result()
        return stopped[0] if stopped else None

    def _upload(self, image: Image, oid: Optional[int]) -> Tuple[ImageResult, Optional[Stop]]:
        """Attach one photo to its feature *oid*: its result, and the Stop when the run cannot go on (the
        credentials refused, the portal stopped answering, the run cancelled)."""
        assert self.attacher is not None
        if oid is None or oid < 0:
            return result(image, FAILED, NOT_ATTACHED.format("the portal did not say its feature's object id")), None
        try:
            self.attacher.attach(oid, file_part(image))
        except OSError as exc:
            return result(image, FAILED, NOT_ATTACHED.format(f"the photo cannot be read ({exc.strerror or exc})")), None
        except AuthError as exc:
            reason = "the portal refused the credentials"
            return (result(image, FAILED, NOT_ATTACHED.format(reason)),
                    Stop(f"{reason} ({exc.message})", exc))
        except Cancelled as cancelled:
            return result(image, FAILED, NOT_ATTACHED.format("the run was cancelled")), Stop("the run was cancelled",
                                                                                          cancelled)
        except NotAttached as exc:
            if lost(exc):
                outcome = result(image, UNCONFIRMED, exc.message + "; run the same append again (a photo already "
                                 "attached is not sent again)")
                return outcome, Stop(f"the portal stopped answering ({exc.message})", exc)
            return result(image, FAILED, NOT_ATTACHED.format(exc.message)), None
        return result(image, APPENDED), None

    def _add_features(self, items: Sequence[Item]) -> Dict[str, ImageResult]:
        results: Dict[str, ImageResult] = {}
        pending = [(item.image, self._feature(item)) for item in items]
        for image, feature in pending:
            self.far[image.image_path] = feature["attributes"].get("FarDistance")
        attempt = 0
        while pending:
            try:
                answer = api.add_features(self.owner.client, self.layer_url, [f for _, f in pending])
            except AuthError as exc:  # refused (after one token refresh): not done
                for image, _ in pending:
                    results[image.image_path] = result(image, FAILED, "not sent: the portal refused the credentials")
                raise Stop(f"the portal refused the credentials ({exc.message})", exc, results) from None
            except XpgeoError as exc:
                if not is_transient(exc):
                    for image, _ in pending:
                        results[image.image_path] = result(image, FAILED, exc.message)
                    return results
                pending = self._resolve(pending, results, exc)
                attempt += 1
                if pending and attempt > self.owner.settings.retries:
                    for image, _ in pending:  # checked: not in the layer
                        results[image.image_path] = result(image, FAILED, exc.message)
                    if isinstance(exc, AnswerLost) or exc.status is None:
                        raise Stop(f"the portal stopped answering ({exc.message})", exc, results) from None
                    return results
                if pending:
                    log.info("addFeatures failed (%s); sending %d image(s) of the batch again.", exc.message,
                             len(pending))
                    try:
                        self._back_off(attempt)
                    except Cancelled as cancelled:  # checked: not in the layer, and not sent again
                        for image, _ in pending:
                            results[image.image_path] = result(image, FAILED, "not sent: the run was cancelled")
                        raise Stop("the run was cancelled", cancelled, results) from None
                continue
            pending = self._read_add_results(answer, pending, results)
            if pending:  # addResults shorter than the batch: ask the layer about the rest
                pending = self._resolve(pending, results, None)
                for image, _ in pending:
                    results[image.image_path] = result(image, FAILED,
                                                       "the portal's addFeatures answer has no result for it, and "
                                                       "it is not in the layer")
                pending = []
        return results

    def _attributes(self, item: Item) -> Dict[str, Any]:
        attributes = item.attributes.as_dict() if item.attributes is not None else {}
        attributes["ImagePath"] = item.image.image_path  # the key reruns recognise the photo by
        return attributes

    def _feature(self, item: Item) -> Dict[str, Any]:
        """The feature of one photo; where photos are attachments, ImagePath "FA" for a photo file (the viewer
        then opens the feature's attachment) and PhotoKey, what reruns recognise it by."""
        feature = feature_of(self._attributes(item), self.fields)
        if self.attacher is not None:
            if is_file(item.image):
                feature["attributes"][IMAGE_PATH] = attachment_schema()["imagePath"]
            feature["attributes"][self.key_field] = self._key(item.image)
        return feature

    def _resolve(self, pending: List[Tuple[Image, Dict[str, Any]]], results: Dict[str, ImageResult],
                 exc: Optional[XpgeoError]) -> List[Tuple[Image, Dict[str, Any]]]:
        """Ask the layer which of *pending* landed; those are appended. Returns the rest."""
        try:
            landed = self.owner.present_ids(self.layer_url, [self._key(image) for image, _ in pending],
                                            self.key_field)
        except XpgeoError as check:
            for image, _ in pending:
                results[image.image_path] = result(
                    image, UNCONFIRMED, "not confirmed: the portal stopped answering while this batch was sent "
                    f"({(exc or check).message}); run the same list again to add it (images already in the layer "
                    "are skipped)")
            raise Stop(f"the portal stopped answering ({check.message})", check, results) from None
        for image, _ in pending:
            if self._key(image) in landed:
                results[image.image_path] = result(image, APPENDED)
                self.oids[image.image_path] = landed[self._key(image)]
        return [p for p in pending if self._key(p[0]) not in landed]

    def _back_off(self, attempt: int) -> None:
        back_off(attempt, self.owner.settings.retry_backoff, self.owner.session.tracker.cancel)

    def _read_add_results(self, answer: Dict[str, Any], sent: List[Tuple[Image, Dict[str, Any]]],
                          results: Dict[str, ImageResult]) -> List[Tuple[Image, Dict[str, Any]]]:
        """Each addResults entry, in order; returns the features the answer says nothing about."""
        adds = list_at(answer, "addResults")
        unknown = []
        for index, (image, feature) in enumerate(sent):
            entry = adds[index] if index < len(adds) and isinstance(adds[index], dict) else None
            if entry is None:
                unknown.append((image, feature))
            elif entry.get("success") in (True, "true"):
                results[image.image_path] = result(image, APPENDED)
                if isinstance(entry.get("objectId"), int):
                    self.oids[image.image_path] = entry["objectId"]
            else:
                error = object_at(entry, "error")
                said = error.get("description") or error.get("message") or "no reason given"
                code = f" (code {error['code']})" if error.get("code") is not None else ""
                results[image.image_path] = result(image, FAILED, f"the portal refused the feature: {said}{code}")
        return unknown

    def new_report(self) -> AppendReport:
        return AppendReport(backend=self.backend, layer_name=self.layer_name,
                            extra={"item_id": self.target.item.get("id"), "service_url": self.target.service_url,
                                   "layer_url": self.layer_url, "batch_size": self.batch_size})

    def finish(self, report: AppendReport) -> None:
        if report.appended:
            self.owner.write_extent(self.target, report)
            self.owner.follow_appended(self.target, [self.far.get(r.url) for r in report.results
                                                      if r.status == APPENDED], report)
        if report.skipped:
            report.messages.append(f"{report.skipped} image(s) already in the layer were skipped.")
        if self.footprints is not None:
            in_layer = [r.url for r in report.results
                        if r.status == APPENDED or (r.status == SKIPPED and r.reason == ALREADY_THERE)]
            self.footprints.finish(report, {self.keys.get(url, url) for url in in_layer})  # by the layer's key

    def abort(self) -> None:
        if self.footprints is not None:
            self.footprints.cancel()
        self.owner.abort()
