"""Making an Oriented Imagery layer on a portal, and proving it is one.

Why a module of its own: nobody outside Esri knows for sure what a live portal does with an
OI layer defined through the REST API (``docs/backends.md``, "What is still unproven"). So
the layer is defined the way a published OI layer reads, then read back, and only a layer
whose ``type`` and ``orientedImageryInfo`` the portal kept is reported as made:

1. admin ``addToDefinition`` with ``type`` "Oriented Imagery Layer" and its
   ``orientedImageryInfo`` (the XPGEO server "creates a feature service with an attached
   OI layer definition");
2. if the layer reads back otherwise, admin ``updateDefinition`` with the
   ``orientedImageryInfo`` (the last step of Esri's "Generate Service From Oriented
   Imagery Dataset");
3. if ``addToDefinition`` refused the OI type, a plain feature layer (the layer Esri's
   publishing makes) and then step 2.

A plain "Feature Layer" carrying ``orientedImageryInfo`` is not accepted: the Maps SDK's
``OrientedImageryLayer`` and the Python API's ``OrientedImageryLayer.fromitem`` both
refuse any layer whose type is not "Oriented Imagery Layer". When none of the three
holds, the caller deletes what was made and the error says what the portal did.

The item then gets the ``OrientedImageryLayer`` type keyword (merged, never replacing the
portal's own keywords) and the data ``{"layers": [{"id": 0, "layerType":
"OrientedImageryLayer"}]}``, is shared as asked, and each of these is read back too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from xpgeo_core import schema
from xpgeo_core.answers import list_at, object_at
from xpgeo_core.backends.portal import api
from xpgeo_core.backends.portal.rest import PortalClient, is_transient
from xpgeo_core.errors import AuthError, ServerError, XpgeoError
from xpgeo_core.layer_options import LayerOptions

log = logging.getLogger("xpgeo.backends.portal")

ACCESS = {"private": "private", "organization": "org", "public": "public"}
"""A sharing level → the item's ``access`` once shared so."""
NOT_OI_HINT = ("Esri's clients open only layers of type 'Oriented Imagery Layer' as Oriented Imagery (ArcGIS Online, "
               "ArcGIS Enterprise 11.2 or later). On this portal, publish the layer from ArcGIS Pro instead: make an "
               "oriented imagery dataset from the local backend's oi_table.csv (Add Images To Oriented Imagery "
               "Dataset) and run Generate Service From Oriented Imagery Dataset.")


class NotAnOILayer(ServerError):
    """The portal did not keep an Oriented Imagery layer, however it was defined."""


@dataclass
class Made:
    """What was made so far: enough to delete it, and to report it."""

    folder_id: Optional[str] = None
    folder_created: bool = False
    item_id: Optional[str] = None
    service_url: Optional[str] = None
    layer_id: int = 0
    how: str = ""
    notes: List[str] = field(default_factory=list)


class LayerMaker:
    """One create: the calls in order, each result checked, and the undo."""

    def __init__(self, client: PortalClient, root: str, owner: str) -> None:
        self.client = client
        self.root = root
        self.owner = owner
        self.made = Made()

    # -- folder ----------------------------------------------------------------------
    def ensure_folder(self, title: Optional[str]) -> Optional[str]:
        """The id of the owner's folder *title* (case-insensitive), made with ``createFolder``
        when it is missing. None for the root folder."""
        if not title or not title.strip():
            return None
        title = title.strip()
        listing = api.user_content(self.client, self.root, self.owner, num=1)
        for folder in listing.get("folders") or []:
            if isinstance(folder, dict) and str(folder.get("title") or "").lower() == title.lower():
                self.made.folder_id = str(folder["id"])
                return self.made.folder_id
        answer = api.create_folder(self.client, self.root, self.owner, title)
        folder = object_at(answer, "folder")
        if not folder.get("id"):
            raise ServerError(f"The portal's createFolder answer for {title!r} has no folder id.",
                              hint="Create the folder in the portal, or leave the folder empty.")
        self.made.folder_id, self.made.folder_created = str(folder["id"]), True
        log.info("Created the portal folder %r.", title)
        return self.made.folder_id

    # -- the layer -------------------------------------------------------------------
    def define_layer(self, service_url: str, definition: Dict[str, Any]) -> int:
        """Add the OI layer to the empty service and prove the portal kept it (module docstring)."""
        info = definition["orientedImageryInfo"]
        expected = info["orientedImageryProperties"]
        name = definition["name"]
        said: List[str] = []
        try:
            added = api.add_to_definition(self.client, service_url, [definition])
        except XpgeoError as exc:
            if isinstance(exc, AuthError) or is_transient(exc):
                raise
            said.append(f"addToDefinition with type '{schema.OI_LAYER_TYPE}' was refused ({exc.message})")
            log.info("%s; trying a plain feature layer, then updateDefinition.", said[-1])
            layer_id = self._existing_layer(service_url, name)
            if layer_id is None:
                plain = {k: v for k, v in definition.items() if k != "orientedImageryInfo"}
                plain["type"] = "Feature Layer"
                added = api.add_to_definition(self.client, service_url, [plain])
                layer_id = self._added_layer(service_url, name, added)
            return self._update_until_oi(service_url, layer_id, info, expected, said,
                                         "a plain feature layer, then updateDefinition")
        layer_id = self._added_layer(service_url, name, added)
        layer = api.layer_info(self.client, f"{service_url}/{layer_id}")
        problems = schema.oi_problems(layer, expected)
        if not problems:
            self.made.how = "addToDefinition"
            return layer_id
        said.append("after addToDefinition the layer reads back wrong: " + "; ".join(problems))
        log.info("%s; trying updateDefinition with orientedImageryInfo.", said[-1])
        return self._update_until_oi(service_url, layer_id, info, expected, said, "addToDefinition, then updateDefinition")

    def _update_until_oi(self, service_url: str, layer_id: int, info: Dict[str, Any], expected: Dict[str, Any],
                         said: List[str], how: str) -> int:
        api.update_layer_definition(self.client, service_url, layer_id, {"orientedImageryInfo": info})
        layer = api.layer_info(self.client, f"{service_url}/{layer_id}")
        problems = schema.oi_problems(layer, expected)
        if not problems:
            self.made.how = how
            return layer_id
        said.append("after updateDefinition with orientedImageryInfo it reads back wrong: " + "; ".join(problems))
        raise NotAnOILayer("The portal did not keep an Oriented Imagery layer: " + "; ".join(said) + ".",
                           status=422, hint=NOT_OI_HINT)

    def _added_layer(self, service_url: str, name: str, added: Dict[str, Any]) -> int:
        """The id of the layer addToDefinition made, from the service as it now reads (the
        answer's own ``layers`` list is optional)."""
        layer_id = self._existing_layer(service_url, name)
        if layer_id is not None:
            return layer_id
        raise ServerError(f"addToDefinition answered {_brief(added)}, but the service has no layer named '{name}' "
                          "afterwards.", hint="Try again later; if it persists, check the portal's logs.")

    def _existing_layer(self, service_url: str, name: str) -> Optional[int]:
        service = api.service_info(self.client, service_url)
        layers = [l for l in service.get("layers") or [] if isinstance(l, dict) and l.get("id") is not None]
        for layer in layers:
            if str(layer.get("name") or "").lower() == name.lower():
                return int(layer["id"])
        return int(layers[0]["id"]) if len(layers) == 1 else None

    # -- the item --------------------------------------------------------------------
    def label_item(self, item_id: str, layer_id: int, folder: Optional[str]) -> None:
        """Type keyword and item data, both read back."""
        item = api.get_item(self.client, self.root, item_id)
        before = item.get("typeKeywords")
        current = self._item_data(item_id)  # kept: a portal may already hold pop-ups or settings there
        fields: Dict[str, Any] = {"text": json.dumps(schema.item_data(layer_id, current), separators=(",", ":"))}
        if isinstance(before, list):
            keywords = [str(k) for k in before if k]
            if schema.OI_TYPE_KEYWORD not in keywords:
                keywords.append(schema.OI_TYPE_KEYWORD)
            fields["typeKeywords"] = keywords
        else:
            self.made.notes.append(
                f"The portal's item answer lists no typeKeywords, so XPGEO did not rewrite them (that would erase "
                f"the keywords the portal keeps); the item lacks the '{schema.OI_TYPE_KEYWORD}' keyword that Esri's "
                "apps search for. Add it in the item's settings.")
            log.warning(self.made.notes[-1])
        answer = api.update_item(self.client, self.root, self.owner, item_id, fields, folder)
        after = api.get_item(self.client, self.root, item_id)
        problems = []
        if "typeKeywords" in fields:
            now = list_at(after, "typeKeywords")
            lost = [k for k in fields["typeKeywords"] if k not in now]
            if lost:
                problems.append("its typeKeywords lack " + ", ".join(lost))
        data = self._item_data(item_id)
        layers = data.get("layers") if isinstance(data, dict) else None
        if not any(isinstance(l, dict) and l.get("layerType") == schema.OI_TYPE_KEYWORD
                   and l.get("id") == layer_id for l in layers or []):
            problems.append("its data does not name the OI layer")
        if problems:
            raise ServerError(f"The item update of {item_id} answered {_brief(answer)}, but the item reads back "
                              "wrong: " + "; ".join(problems) + ".",
                              hint="Try again later; if it persists, check the portal's logs.")

    def _item_data(self, item_id: str) -> Any:
        try:
            return api.get_item_data(self.client, self.root, item_id)
        except ServerError as exc:  # no data at all is an empty answer, not JSON
            log.debug("The data of item %s cannot be read: %s", item_id, exc.message)
            return {}

    def share(self, item_id: str, sharing: str, folder: Optional[str]) -> None:
        """Share as asked and read the item's ``access`` back."""
        want = ACCESS[sharing]
        item = api.get_item(self.client, self.root, item_id)
        if item.get("access") == want:
            return
        answer = api.share_item(self.client, self.root, self.owner, item_id, org=sharing != "private",
                                everyone=sharing == "public", folder=folder)
        refused = answer.get("notSharedWith")
        now = api.get_item(self.client, self.root, item_id).get("access")
        if now != want:
            extra = f" (not shared with: {', '.join(map(str, refused))})" if refused else ""
            raise ServerError(f"Sharing item {item_id} with {'everyone' if sharing == 'public' else sharing} did not "
                              f"hold: its access reads back as {now!r}{extra}.",
                              hint="Check that your account may share at this level (public sharing may be turned "
                                   "off for the organization), or choose another sharing level.")

    # -- undo --------------------------------------------------------------------------
    def undo(self) -> str:
        """Delete what was made; the sentence that says what is left."""
        made = self.made
        left = []
        if made.item_id:
            try:
                api.delete_item(self.client, self.root, self.owner, made.item_id, made.folder_id)
            except XpgeoError as exc:
                log.debug("Rollback of item %s failed: %s", made.item_id, exc.message)
                left.append(f"item {made.item_id} ({made.service_url}): {exc.message}")
        if made.folder_created and made.folder_id:
            try:
                api.delete_folder(self.client, self.root, self.owner, made.folder_id)
            except XpgeoError as exc:
                log.debug("Rollback of folder %s failed: %s", made.folder_id, exc.message)
                left.append(f"folder {made.folder_id}: {exc.message}")
        if left:
            return ("What was made could NOT be deleted; it still exists: " + "; ".join(left)
                    + ". Delete it in the portal.")
        return "What was made was deleted; nothing was left on the portal."


def item_fields(options: LayerOptions, title: str) -> Dict[str, Any]:
    """The item fields createService takes along: title, tags, snippet."""
    tags = ["Oriented Imagery", "XPGEO"] + [t for t in options.tags if t and t not in ("Oriented Imagery", "XPGEO")]
    return {"title": title, "tags": ",".join(tags),
            "snippet": options.summary if options.summary else "Oriented Imagery layer made by XPGEO"}


def follow_appended(client: PortalClient, service_url: str, layer_id: int, far_distances: List[Any]) -> Optional[float]:
    """Raise the layer's ``maximumDistance`` to the farthest appended photo's FarDistance (the
    viewer only looks that far from a clicked point). The new value, or None when none was
    needed (or the layer has no ``orientedImageryProperties`` to raise). The layer is read
    back: an update that did not hold is an error."""
    layer = api.layer_info(client, f"{service_url}/{layer_id}")
    info = object_at(layer, "orientedImageryInfo")
    props = info.get("orientedImageryProperties")
    if not isinstance(props, dict) or not props:
        return None
    wanted = schema.maximum_distance(props.get("maximumDistance"), far_distances)
    if wanted is None:
        return None
    update = dict(info, orientedImageryProperties=dict(props, maximumDistance=wanted))
    api.update_layer_definition(client, service_url, layer_id, {"orientedImageryInfo": update})
    after = api.layer_info(client, f"{service_url}/{layer_id}")
    kept = ((after.get("orientedImageryInfo") or {}).get("orientedImageryProperties") or {}).get("maximumDistance")
    if not isinstance(kept, (int, float)) or kept < wanted:
        raise ServerError(f"updateDefinition of the layer's maximumDistance to {wanted:g} m did not hold (it reads "
                          f"back as {kept!r}).", hint="Set Maximum distance in the layer's Oriented Imagery "
                                                      "properties in the portal.")
    if after.get("type") != layer.get("type"):
        raise ServerError(f"updateDefinition of the layer's maximumDistance changed its type from "
                          f"{layer.get('type')!r} to {after.get('type')!r}.",
                          hint="Check the layer in the portal; recreate it with create-oi-layer if it is no longer "
                               "an Oriented Imagery layer.")
    return wanted


def _brief(answer: Any) -> str:
    text = json.dumps(answer, separators=(",", ":"), default=str) if not isinstance(answer, str) else answer
    return text if len(text) <= 120 else text[:117] + "..."

