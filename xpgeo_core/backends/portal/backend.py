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
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set

from xpgeo_core.backends.base import Backend
from xpgeo_core.backends.names import clean_service_name, taken_name_candidates
from xpgeo_core.backends.portal import api, footprints, lookup
from xpgeo_core.backends.portal.api import where_in
from xpgeo_core.backends.portal.auth import make_auth
from xpgeo_core.backends.portal.create import LayerMaker, follow_appended, item_fields
from xpgeo_core.backends.portal.features import (IMAGE_PATH, WGS84, epoch_ms,  # noqa: F401 (epoch_ms: importable)
                                                 query_chunks)
from xpgeo_core.backends.portal.lookup import LayerTarget
from xpgeo_core.backends.portal.rest import PortalClient
from xpgeo_core.backends.portal.sink import PortalSink
from xpgeo_core.errors import AuthError, ConfigError, ServerError, ValidationError, XpgeoError
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.results import AppendReport, CreateResult, HealthResult
from xpgeo_core.schema import OI_LAYER_TYPE, attachment_schema, layer_definition
from xpgeo_core.settings import BackendName, Settings

log = logging.getLogger("xpgeo.backends.portal")

REQUIRED_PRIVILEGES = ("portal:user:createItem", "portal:publisher:publishFeatures")
NOT_CREATOR_TYPES = frozenset(["viewerUT", "storytellerUT", "contributorUT", "editorUT", "mobileWorkerUT",
                               "fieldWorkerUT", "insightsAnalystUT"])
"""User types that cannot publish hosted layers whatever their role (Creator and above can)."""
CAPABILITIES = "Create,Delete,Query,Update,Editing"
WORLD = {"xmin": -180, "ymin": -90, "xmax": 180, "ymax": 90, "spatialReference": WGS84}
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
        target = self.find_layer(name)
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
    def open_sink(self, name: str, *, imagery_type: Optional[str] = None, single: bool = False) -> PortalSink:
        return PortalSink(self, name)

    def present(self, layer_url: str, image_paths: Sequence[str], field: str = IMAGE_PATH) -> Set[str]:
        """Which of *image_paths* are already ``ImagePath`` (or *field*) values of the layer."""
        return set(self.present_ids(layer_url, image_paths, field))

    def present_ids(self, layer_url: str, values: Sequence[str], field: str = IMAGE_PATH) -> Dict[str, int]:
        """The object id of each of *values* already a *field* value of the layer (ImagePath; PhotoKey where
        the photos are attachments). The query is a POST (a ``where`` listing URLs is longer than any GET
        allows) that only reads, so the HTTP policy retries it like a GET."""
        found: Dict[str, int] = {}
        for chunk in query_chunks(sorted(set(values))):
            answer = api.query(self.client, layer_url, where=where_in(field, chunk), outFields=f"OBJECTID,{field}",
                               returnGeometry=False)
            for feature in answer.get("features") or []:
                attributes = feature.get("attributes") or {}
                value, oid = attributes.get(field), attributes.get("OBJECTID")
                if isinstance(value, str):
                    found[value] = oid if isinstance(oid, int) else -1
        return found

    def find_layer(self, name: str) -> LayerTarget:
        """The service, layer and item a layer reference names: a name or title (looked up in
        the user's own content, not search), an item id, or a service, layer or item URL
        (:mod:`~xpgeo_core.backends.portal.lookup`)."""
        return lookup.resolve(self.client, self.root, self.me().get("username"), name, self.portal_url)

    def follow_appended(self, target: LayerTarget, far_distances: List[Any], report: AppendReport) -> None:
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

    def write_extent(self, target: LayerTarget, report: AppendReport) -> None:
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


class PortalLayerCheck:
    """Asks the portal which images a layer holds: how the XPGEO server backend, whose API has
    no listing, finds out what landed when an answer was lost (same key: ImagePath)."""

    def __init__(self, settings: Settings, layer_name: str, *, token_provider: Any = None) -> None:
        self.backend = PortalBackend(settings, token_provider=token_provider)
        self.target = self.backend.find_layer(layer_name)

    def present(self, image_paths: Sequence[str]) -> Set[str]:
        return self.backend.present(self.target.layer_url, image_paths)

    def footprint_writer(self) -> footprints.FootprintWriter:
        """A writer of the layer's footprints through the portal (photos the XPGEO server put in the layer);
        an XpgeoError when the footprint layer cannot be used."""
        return footprints.open_writer(self.backend.client, self.backend.present, self.target.service_url,
                                      self.target.layer_id, str(self.target.layer.get("name") or ""),
                                      self.backend.settings.batch_size)
