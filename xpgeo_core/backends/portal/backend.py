"""The portal backend: OI layers made and filled straight through the ArcGIS REST API.

For users without an XPGEO server, against ArcGIS Online or ArcGIS Enterprise 11.2+.
The call sequence and why each step is there:

* health: ``sharing/rest`` (version), ``portals/self`` (Enterprise version/build),
  ``community/self`` (who, and may they publish); refused before any work otherwise.
* create: clean the name (letters, digits, underscores), ``isServiceNameAvailable``
  (a taken name gets ``_YYYYMMDD_HHMMSS``), the folder (made if missing),
  ``createService`` (WGS84, editable), then the OI layer defined and read back, the
  item's keyword and data, sharing, each checked by reading it back
  (:mod:`~xpgeo_core.backends.portal.create`). A failed step deletes what was made, or
  says exactly what is left.
* append: the layer found by name, title, item id or URL in the owner's own content
  (:mod:`~xpgeo_core.backends.portal.lookup`); photos' attributes from the metadata
  engine; URLs already in the layer (``ImagePath``) are skipped, so reruns add only what
  is missing; ``addFeatures`` in batches, every ``addResults`` entry checked; a transient
  failure is retried only for the features a query shows did not land; the extent and
  the layer's ``maximumDistance`` follow what was appended.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from xpgeo_core.answers import list_at, object_at
from xpgeo_core.backends.base import Backend
from xpgeo_core.backends.portal import api
from xpgeo_core.backends.portal.api import where_in
from xpgeo_core.backends.portal.attachments import (UPLOAD_STREAMS, Attacher, NotAttached, file_part, is_file,
                                                    is_the_photo, key_path, lost, photo_key)
from xpgeo_core.backends.portal.rest import FilePart
from xpgeo_core.backends.portal.auth import make_auth
from xpgeo_core.backends.portal.rest import PortalClient, is_transient
from xpgeo_core.http import back_off
from xpgeo_core.errors import AnswerLost, AuthError, Cancelled, ConfigError, ServerError, ValidationError, XpgeoError
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.pipeline.sequences import SEQUENCE_FIELDS, Photo, folder_of, layer_photo
from xpgeo_core.pipeline.sink import Item, Sink, Stop, result
from xpgeo_core.results import (APPENDED, FAILED, SKIPPED, UNCONFIRMED, AppendReport, CreateResult, HealthResult,
                                ImageResult)
from xpgeo_core.settings import BackendName, Settings
from xpgeo_core.backends.portal import footprints, lookup
from xpgeo_core.backends.portal.lookup import LayerTarget
from xpgeo_core.backends.names import clean_service_name, taken_name_candidates
from xpgeo_core.backends.portal.create import LayerMaker, follow_appended, item_fields
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.schema import (OI_LAYER_TYPE, acquisition_ms, attachment_schema, complete_photo, field_names,
                               layer_definition)

log = logging.getLogger("xpgeo.backends.portal")

REQUIRED_PRIVILEGES = ("portal:user:createItem", "portal:publisher:publishFeatures")
NOT_CREATOR_TYPES = frozenset(["viewerUT", "storytellerUT", "contributorUT", "editorUT", "mobileWorkerUT",
                               "fieldWorkerUT", "insightsAnalystUT"])
"""User types that cannot publish hosted layers whatever their role (Creator and above can)."""
CAPABILITIES = "Create,Delete,Query,Update,Editing"
WGS84 = {"wkid": 4326}
WORLD = {"xmin": -180, "ymin": -90, "xmax": 180, "ymax": 90, "spatialReference": WGS84}
IMAGE_PATH = "ImagePath"
QUERY_CHUNK_URLS = 50
QUERY_CHUNK_CHARS = 12000
ALREADY_THERE = "already in the layer (ImagePath)"
ATTACHMENT_BATCH = 100
"""Features per addFeatures where photos are attachments: each batch's photos are uploaded after its features
are added, so a small batch starts the uploads sooner (the next batch's headers are read meanwhile) and leaves
few features waiting for their photo when a run stops."""
NOT_ATTACHED = ("its feature is in the layer, but the photo is not attached: {}; run the same append again to attach "
                "it (the feature is not added again)")


def epoch_ms(text: Any) -> Optional[int]:
    """An ISO 8601 ``AcquisitionDate`` as ArcGIS date milliseconds (UTC); see
    :func:`xpgeo_core.schema.acquisition_ms`."""
    return acquisition_ms(text)


def feature_of(attributes: Dict[str, Any], fields: Optional[Set[str]] = None) -> Dict[str, Any]:
    """An ArcGIS feature (WGS84 point, Z when known) with the layer's OI fields (of the schema's, those
    in *fields*, lower case, when given: a layer made by an earlier release lacks the newer ones)."""
    geometry: Dict[str, Any] = {"x": attributes["X"], "y": attributes["Y"], "spatialReference": WGS84}
    if attributes.get("Z") is not None:
        geometry["z"] = attributes["Z"]
    attributes = complete_photo(attributes)  # every per-photo value, from the photo's own imagery type
    values = {name: attributes.get(name) for name in field_names()
              if name != "OBJECTID" and (fields is None or name.lower() in fields)}
    values["AcquisitionDate"] = epoch_ms(attributes.get("AcquisitionDate"))
    return {"geometry": geometry, "attributes": values}


def _query_chunks(urls: Sequence[str]) -> Iterator[List[str]]:
    chunk: List[str] = []
    size = 0
    for url in urls:
        if chunk and (len(chunk) >= QUERY_CHUNK_URLS or size + len(url) > QUERY_CHUNK_CHARS):
            yield chunk
            chunk, size = [], 0
        chunk.append(url)
        size += len(url) + 3
    if chunk:
        yield chunk


class PortalBackend(Backend):
    """ArcGIS Online or Enterprise, through ``sharing/rest`` and the hosted feature service."""

    name = BackendName.PORTAL

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        if not self.portal_url:
            raise ConfigError("The portal URL is not set.",
                              hint="Set PORTAL_URL in xpgeo.env (or XPGEO_PORTAL_URL, or --portal-url), e.g. "
                                   "https://www.arcgis.com or https://gis.example.com/portal.")
        self.portal_url: str = self.portal_url.rstrip("/")
        self.root = api.sharing_root(self.portal_url)
        self.auth = make_auth(settings, self.root, self.portal_url, self.token_provider)
        self._client: Optional[PortalClient] = None
        self._me: Optional[Dict[str, Any]] = None

    @property
    def client(self) -> PortalClient:
        if self._client is None:
            self._client = PortalClient(self.session, self.auth, self.settings.secrets())
        return self._client

    def secrets(self) -> list:
        return self.settings.secrets() + self.auth.secrets()

    # -- who is signed in ---------------------------------------------------------------
    def me(self) -> Dict[str, Any]:
        if self._me is None:
            self._me = api.community_self(self.client, self.root)
        return self._me

    def require_publisher(self) -> Dict[str, Any]:
        """The signed-in user, if they may create content and publish hosted feature
        layers; else an AuthError naming what is missing (before any work is done)."""
        user = self.me()
        username = user.get("username")
        if not username:
            raise AuthError("The portal does not know who is signed in (community/self has no user).",
                            hint="Check the credentials: CLIENT_ESRI_API_KEY, USERNAME/PASSWORD, or ArcGIS Pro's "
                                 "sign-in.")
        license_type = user.get("userLicenseTypeId")
        if license_type in NOT_CREATOR_TYPES:
            raise AuthError(f"The portal user {username!r} is a {license_type} user; making layers needs a "
                            "Creator user type (or above).",
                            hint="Ask your ArcGIS administrator for a Creator user type with the Publisher role.")
        privileges = set(user.get("privileges") or [])
        missing = [p for p in REQUIRED_PRIVILEGES if p not in privileges]
        if missing:
            raise AuthError(f"The portal user {username!r} lacks the privilege(s) {', '.join(missing)} "
                            "(create content, publish hosted feature layers).",
                            hint="Ask your ArcGIS administrator for the Publisher role (or a custom role with "
                                 "these privileges).")
        return user

    # -- health ------------------------------------------------------------------------
    def health_check(self) -> HealthResult:
        info = api.portal_info(self.client, self.root)
        portal = api.portal_self(self.client, self.root)
        user = self.require_publisher()
        versions: Dict[str, Any] = {"currentVersion": info.get("currentVersion") or portal.get("currentVersion")}
        for key in ("enterpriseVersion", "enterpriseBuild"):
            if portal.get(key):
                versions[key] = portal[key]
        if versions.get("enterpriseVersion"):
            product = f"ArcGIS Enterprise {versions['enterpriseVersion']}"
        else:
            product = "ArcGIS Enterprise" if portal.get("isPortal") else "ArcGIS Online"
        title = portal.get("name") or self.portal_url
        message = (f"{title} ({product}) is reachable; signed in as {user['username']} "
                   f"with {self.auth.describe()}.")
        details = {"portal": self.portal_url, "portal_name": portal.get("name"), "is_portal": portal.get("isPortal"),
                   "user": user.get("username"), "user_type": user.get("userLicenseTypeId"),
                   "role": user.get("role"), "auth": self.auth.kind}
        return HealthResult(backend=self.name, liveness_label="Portal", liveness_message=message,
                            versions=versions, details=details)

    # -- the viewer ----------------------------------------------------------------------
    def viewer_target(self) -> Any:
        """The portal's origins (``portals/self`` gives ArcGIS Online's organization address); a portal
        that does not say costs only that address."""
        from xpgeo_core.readiness import portal_target

        try:
            info = api.portal_self(self.client, self.root)
        except XpgeoError as exc:
            log.debug("portals/self did not answer (%s); the viewer check uses the portal URL's origin.", exc.message)
            info = {}
        return portal_target(self.portal_url, info)

    def layer_image_paths(self, name: str) -> Iterator[str]:
        """Every ImagePath of the layer, page by page (``resultOffset``, at most maxRecordCount a page)."""
        target = self._find_layer(name)
        page = max(1, target.max_record_count)
        offset = 0
        while True:
            answer = api.query(self.client, target.layer_url, where="1=1", outFields=IMAGE_PATH,
                               returnGeometry=False, orderByFields="OBJECTID", resultOffset=offset,
                               resultRecordCount=page)
            features = answer.get("features") or []
            for feature in features:
                value = (feature.get("attributes") or {}).get(IMAGE_PATH)
                if isinstance(value, str) and value:
                    yield value
            if not features or not answer.get("exceededTransferLimit"):
                return
            offset += len(features)

    # -- create ------------------------------------------------------------------------
    def create_layer(self, name: str, imagery_type: Optional[str] = None, *,
                     options: Optional[LayerOptions] = None) -> CreateResult:
        """Make the OI layer and prove it is one (:mod:`~xpgeo_core.backends.portal.create`);
        anything short of that deletes what was made and fails."""
        options = options or LayerOptions()
        owner = self.require_publisher()["username"]
        messages: List[str] = []
        wanted = clean_service_name(name)
        if wanted != name:
            messages.append(f"Service names are letters, digits and underscores: '{name}' was cleaned to "
                            f"'{wanted}'.")
            log.info(messages[-1])  # routine, and foretold by the tool's validation: not a warning
        service_name = self._free_service_name(wanted)
        if service_name != wanted:
            messages.append(f"The name '{wanted}' is taken on the portal; using '{service_name}'.")
            log.info(messages[-1])
        maker = LayerMaker(self.client, self.root, owner)
        try:
            folder = maker.ensure_folder(options.folder)
            log.info("Creating the hosted feature service '%s'...", service_name)
            created = api.create_service(self.client, self.root, owner, self._create_parameters(service_name),
                                         folder, **item_fields(options, name.strip() or service_name))
            item_id = created.get("itemId") or created.get("serviceItemId")
            service_url = created.get("serviceurl") or created.get("encodedServiceURL")
            maker.made.item_id, maker.made.service_url = item_id, service_url
            if not item_id or not service_url:
                raise ServerError(f"The portal's createService answer for '{service_name}' has no item id or "
                                  f"service URL (item {item_id or 'unknown'}).",
                                  hint="Look for the item in the portal's content and delete it if it exists.")
            elevation = options.elevation_source.to_oi_property() if options.elevation_source else None
            definition = layer_definition(service_name, imagery_type, elevation_source=elevation,
                                          attachments=self.attachments)
            layer_id = maker.define_layer(service_url, definition)
            footprint_layer = self._define_footprints(service_url, service_name, messages)
            maker.label_item(item_id, layer_id, folder)
            maker.share(item_id, options.sharing, folder)
        except XpgeoError as exc:
            where = maker.undo()
            raise type(exc)(f"Creating the OI layer failed: {exc.message} {where}", hint=exc.hint,
                            status=exc.status) from None
        for note in maker.made.notes:
            messages.append(note)
        log.info("The portal kept the Oriented Imagery layer (%s, read back).", maker.made.how)
        layer = {"name": service_name, "id": layer_id, "url": f"{service_url}/{layer_id}",
                 "type": OI_LAYER_TYPE, "definedBy": maker.made.how}
        if footprint_layer is not None:
            layer["footprintLayer"] = {"id": footprint_layer["id"], "url": footprint_layer["url"]}
        response = {"serviceName": service_name, "serviceItemId": item_id, "serviceType": api.SERVICE_TYPE,
                    "serviceUrl": service_url, "layer": {"name": service_name, "id": layer_id}}
        return CreateResult(backend=self.name, requested_name=name, layer_name=service_name, item_id=item_id,
                            service_url=service_url, service_type=api.SERVICE_TYPE, layer=layer, response=response,
                            messages=messages)

    def _define_footprints(self, service_url: str, name: str, messages: List[str]) -> Optional[Dict[str, Any]]:
        """The footprint layer (layer 1) of a new OI layer's service; a portal that refuses it costs a note
        (the OI layer is whole without it, and each append tries again). Keyed like the OI layer: by PhotoKey
        where the photos are attachments, else by ImagePath."""
        if not self.settings.footprints:
            return None
        key_field = attachment_schema()["keyField"] if self.attachments else IMAGE_PATH
        try:
            return footprints.define_layer(self.client, service_url, name, key_field)
        except XpgeoError as exc:
            if isinstance(exc, AuthError):
                raise
            messages.append(f"The footprint layer was not added ({exc.message}); each append tries again.")
            log.warning(messages[-1])
            return None

    @property
    def attachments(self) -> bool:
        """Layers made now take their photos as attachments (ATTACHMENTS)."""
        return bool(self.settings.attachments)

    def _free_service_name(self, wanted: str) -> str:
        """The first name of the one taken-name rule (:func:`~xpgeo_core.backends.names.taken_name_candidates`)
        the portal says is free."""
        for candidate in taken_name_candidates(wanted):
            if api.is_service_name_available(self.client, self.root, candidate):
                return candidate
        raise ValidationError(f"'{wanted}' and its timestamped variants are all taken on the portal.", status=409,
                              hint="Choose another layer name.")

    def _create_parameters(self, service_name: str) -> Dict[str, Any]:
        capabilities = CAPABILITIES + (",Uploads" if self.attachments else "")  # Esri's attach_images adds Uploads
        return {"name": service_name, "serviceDescription": "", "hasStaticData": False, "maxRecordCount": 2000,
                "supportedQueryFormats": "JSON", "capabilities": capabilities, "description": "",
                "copyrightText": "", "spatialReference": WGS84, "initialExtent": WORLD, "fullExtent": WORLD,
                "allowGeometryUpdates": True, "units": "esriDecimalDegrees",
                "xssPreventionInfo": {"xssPreventionEnabled": True, "xssPreventionRule": "input",
                                      "xssInputRule": "rejectInvalid"}}

    # -- append ------------------------------------------------------------------------
    def open_sink(self, name: str, *, imagery_type: Optional[str] = None, single: bool = False) -> "PortalSink":
        return PortalSink(self, name)

    def present(self, layer_url: str, image_paths: Sequence[str], field: str = IMAGE_PATH) -> Set[str]:
        """Which of *image_paths* are already ``ImagePath`` (or *field*) values of the layer."""
        return set(self.present_ids(layer_url, image_paths, field))

    def present_ids(self, layer_url: str, values: Sequence[str], field: str = IMAGE_PATH) -> Dict[str, int]:
        """The object id of each of *values* already a *field* value of the layer (ImagePath; PhotoKey where
        the photos are attachments). The query is a POST (a ``where`` listing URLs is longer than any GET
        allows) that only reads, so the HTTP policy retries it like a GET."""
        found: Dict[str, int] = {}
        for chunk in _query_chunks(sorted(set(values))):
            answer = api.query(self.client, layer_url, where=where_in(field, chunk), outFields=f"OBJECTID,{field}",
                               returnGeometry=False)
            for feature in answer.get("features") or []:
                attributes = feature.get("attributes") or {}
                value, oid = attributes.get(field), attributes.get("OBJECTID")
                if isinstance(value, str):
                    found[value] = oid if isinstance(oid, int) else -1
        return found

    def _find_layer(self, name: str) -> LayerTarget:
        """The service, layer and item a layer reference names: a name or title (looked up in
        the user's own content, not search), an item id, or a service, layer or item URL
        (:mod:`~xpgeo_core.backends.portal.lookup`)."""
        return lookup.resolve(self.client, self.root, self.me().get("username"), name, self.portal_url)

    def _follow_appended(self, target: LayerTarget, far_distances: List[Any], report: AppendReport) -> None:
        """The layer-level values with no per-photo field follow what was appended: the layer's
        ``maximumDistance`` reaches the farthest FarDistance. A failure costs a warning."""
        try:
            raised = follow_appended(self.client, target.service_url, target.layer_id, far_distances)
        except XpgeoError as exc:
            note = f"The images were added, but the layer's maximumDistance could not be raised: {exc.message}"
            report.messages.append(note)
            log.warning(note)
            return
        if raised is not None:
            report.extra["maximumDistance"] = raised
            log.info("The layer's maximumDistance is now %g m (the farthest photo's FarDistance).", raised)

    def _write_extent(self, target: LayerTarget, report: AppendReport) -> None:
        """The layer's and item's extent, from the features now in it. A failure here costs
        a warning, not the append (the photos are in)."""
        try:
            answer = api.query(self.client, target.layer_url, where="1=1", returnExtentOnly=True, outSR=4326)
            extent = answer.get("extent") or {}
            box = [extent.get(k) for k in ("xmin", "ymin", "xmax", "ymax")]
            if not all(isinstance(v, (int, float)) for v in box):
                return
            extent = {"xmin": box[0], "ymin": box[1], "xmax": box[2], "ymax": box[3], "spatialReference": WGS84}
            api.update_layer_definition(self.client, target.service_url, target.layer_id, {"extent": extent})
            item = target.item or {}
            if item.get("id") and item.get("owner"):
                api.update_item(self.client, self.root, item["owner"], item["id"],
                                {"extent": ",".join(str(v) for v in box)}, item.get("ownerFolder") or None)
            report.extra["extent"] = extent
        except XpgeoError as exc:
            note = f"The images were added, but the layer's extent could not be updated: {exc.message}"
            report.messages.append(note)
            log.warning(note)


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

    def __init__(self, owner: PortalBackend, name: str) -> None:
        self.owner = owner
        self.target = owner._find_layer(name)
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
        for chunk in _query_chunks(sorted(wanted)):
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
            self.owner._write_extent(self.target, report)
            self.owner._follow_appended(self.target, [self.far.get(r.url) for r in report.results
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


class PortalLayerCheck:
    """Asks the portal which images a layer holds: how the XPGEO server backend, whose API has
    no listing, finds out what landed when an answer was lost (same key: ImagePath)."""

    def __init__(self, settings: Settings, layer_name: str, *, token_provider: Any = None) -> None:
        self.backend = PortalBackend(settings, token_provider=token_provider)
        self.target = self.backend._find_layer(layer_name)

    def present(self, image_paths: Sequence[str]) -> Set[str]:
        return self.backend.present(self.target.layer_url, image_paths)

    def footprint_writer(self) -> footprints.FootprintWriter:
        """A writer of the layer's footprints through the portal (photos the XPGEO server put in the layer);
        an XpgeoError when the footprint layer cannot be used."""
        return footprints.open_writer(self.backend.client, self.backend.present, self.target.service_url,
                                      self.target.layer_id, str(self.target.layer.get("name") or ""),
                                      self.backend.settings.batch_size)
