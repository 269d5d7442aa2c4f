"""Finding the layer a user names, without trusting the portal's search.

A layer reference may be what create printed or what the user typed: the service name
(``Site_Survey_1``), the title as typed (``Site Survey 1``), the item id, the item page
URL (``…/home/item.html?id=…``), the service URL (``…/FeatureServer``) or the layer URL
(``…/FeatureServer/0``). Names are looked up in the signed-in user's own content (the
root folder and every folder), which a portal answers from its database: a layer made a
second ago is there, while search is full-text, fuzzy and may lag behind by minutes. Only
when the user owns no such layer is search asked (a layer someone shared with them), and
its results are matched exactly again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import parse_qs, urlsplit

from xpgeo_core.backends.portal import api
from xpgeo_core.backends.names import clean_service_name
from xpgeo_core.backends.portal.rest import PortalClient
from xpgeo_core.errors import ValidationError, XpgeoError
from xpgeo_core.schema import OI_LAYER_TYPE, OI_TYPE_KEYWORD

log = logging.getLogger("xpgeo.backends.portal")

ITEM_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_SERVICE_URL = re.compile(r"^(https?://.+?/FeatureServer)(?:/(\d+))?/?$", re.I)
PAGE = 100
MAX_PAGES = 200
"""At most 20,000 items per folder are read: a bound, not a limit anyone should meet."""


def cleaned(name: str) -> str:
    """The service name create makes of *name*, or "" when nothing would be left."""
    try:
        return clean_service_name(name)
    except ValidationError:
        return ""


class RefKind(str, Enum):
    """What a layer reference names."""

    URL = "url"
    """A feature service or layer URL (``…/FeatureServer[/0]``)."""
    ITEM = "item"
    """An item id (typed, or from an item page URL)."""
    NAME = "name"
    """A service name or title, looked up in the user's content."""


@dataclass(frozen=True)
class LayerRef:
    """A layer reference as typed, parsed once (module docstring)."""

    kind: RefKind
    value: str
    """The service URL, the item id (lower case) or the name."""
    layer_id: Optional[int] = None
    """The layer a layer URL names (None: the service's OI layer)."""


@dataclass(frozen=True)
class LayerTarget:
    """The layer a reference resolved to: what every request about it is sent to."""

    service_url: str
    layer_id: int
    layer: Dict[str, Any]
    """The layer's definition as the portal answered it (fields, maxRecordCount, ...)."""
    max_record_count: int
    item: Dict[str, Any] = field(default_factory=dict)
    """The service's portal item ({} when it cannot be read)."""

    @property
    def layer_url(self) -> str:
        return f"{self.service_url}/{self.layer_id}"

    @property
    def field_names(self) -> set:
        """The layer's field names, lower case (a layer of an earlier release lacks the newer fields)."""
        return {str(f.get("name", "")).lower() for f in self.layer.get("fields") or [] if isinstance(f, dict)}


def parse_reference(text: str) -> LayerRef:
    """What *text* names: a service or layer URL, an item (id or item page URL) or a name."""
    text = text.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() in ("http", "https"):
        ids = parse_qs(parts.query).get("id") or []
        if ids and ITEM_ID.match(ids[0]):
            return LayerRef(RefKind.ITEM, ids[0].lower())
        match = _SERVICE_URL.match(parts._replace(query="", fragment="").geturl())
        if match:
            return LayerRef(RefKind.URL, match.group(1), int(match.group(2)) if match.group(2) is not None else None)
        raise ValidationError(f"Layer reference {text!r} is a URL but not a feature service, layer or item page URL.",
                              status=400, hint="Give the layer's name, its item id, or a URL ending in "
                                               "/FeatureServer or /FeatureServer/0.")
    if ITEM_ID.match(text):
        return LayerRef(RefKind.ITEM, text.lower())
    return LayerRef(RefKind.NAME, text)


def _service_of(url: str) -> str:
    """The service name in a hosted service URL (``…/services/[Hosted/]<name>/FeatureServer``)."""
    match = re.search(r"/([^/]+)/FeatureServer/?$", url or "", re.I)
    return match.group(1) if match else ""


def owned_items(client: PortalClient, root: str, owner: str) -> Iterator[Dict[str, Any]]:
    """Every item in *owner*'s root folder and folders, page by page."""
    folders: List[Optional[str]] = [None]
    seen_folders = False
    while folders:
        folder = folders.pop(0)
        start = 1
        for _ in range(MAX_PAGES):
            page = api.user_content(client, root, owner, folder, start=start, num=PAGE)
            if folder is None and not seen_folders:
                seen_folders = True
                folders.extend(str(f["id"]) for f in page.get("folders") or [] if isinstance(f, dict) and f.get("id"))
            for item in page.get("items") or []:
                if isinstance(item, dict):
                    yield item
            next_start = page.get("nextStart")
            if not isinstance(next_start, int) or next_start <= start:
                break
            start = next_start


def _matches(item: Dict[str, Any], wanted: set) -> bool:
    if item.get("type") != "Feature Service" or not item.get("url"):
        return False
    names = {str(item.get("name") or "").lower(), str(item.get("title") or "").lower(),
             _service_of(str(item.get("url"))).lower()}
    return bool(names & wanted)


def _narrow(candidates: List[Dict[str, Any]], typed: str) -> List[Dict[str, Any]]:
    """OI layers first; then what matches the text exactly (title or service name), then
    case-insensitively, before what matches only once cleaned."""
    text = typed.strip()

    def names(item: Dict[str, Any]) -> List[str]:
        return [str(item.get("title") or ""), str(item.get("name") or ""), _service_of(str(item.get("url")))]

    for prefer in (lambda i: OI_TYPE_KEYWORD in (i.get("typeKeywords") or []),
                   lambda i: text in names(i),
                   lambda i: text.lower() in [n.lower() for n in names(i)]):
        narrowed = [i for i in candidates if prefer(i)]
        if narrowed:
            candidates = narrowed
        if len(candidates) == 1:
            break
    return candidates


def find_item(client: PortalClient, root: str, owner: Optional[str], typed: str, portal_url: str) -> Dict[str, Any]:
    """The feature service item *typed* names (service name, or title as typed or cleaned)."""
    wanted = {typed.strip().lower(), cleaned(typed).lower()} - {""}
    candidates: List[Dict[str, Any]] = []
    if owner:
        candidates = [i for i in owned_items(client, root, owner) if _matches(i, wanted)]
    if not candidates:
        query = 'title:"%s" AND type:"Feature Service"' % typed.replace('"', "").strip()
        candidates = [i for i in api.search_items(client, root, query) if _matches(i, wanted)]
    candidates = _narrow(candidates, typed)
    if not candidates:
        raise ValidationError(f"Layer '{typed}' was not found on the portal {portal_url}.", status=404,
                              hint="Check the name (create-oi-layer prints the name it made), or pass the layer's "
                                   "item id or FeatureServer URL.")
    if len(candidates) > 1:
        ids = ", ".join(str(i.get("id")) for i in candidates)
        raise ValidationError(f"More than one layer is named '{typed}' (items {ids}).", status=409,
                              hint="Pass the layer's item id or FeatureServer URL instead of its name.")
    return candidates[0]


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{parts.port or ''}"


def _owned_service(client: PortalClient, root: str, owner: Optional[str], service_url: str,
                   portal_url: str) -> Dict[str, Any]:
    """The owner's item for a service URL on another host than the portal (ArcGIS Online's
    hosting servers, a federated server): the credentials go to that host only when the
    portal itself lists the service, never to a host someone merely typed."""
    wanted = service_url.rstrip("/").lower()
    for item in owned_items(client, root, owner) if owner else ():
        if str(item.get("url") or "").rstrip("/").lower() == wanted:
            return item
    raise ValidationError(f"The service {service_url} is not on the portal {portal_url} and is not one of your "
                          "items there, so XPGEO does not send your credentials to it.", status=404,
                          hint="Pass the layer's item id or name instead (create-oi-layer prints both).")


def resolve(client: PortalClient, root: str, owner: Optional[str], reference: str,
            portal_url: str) -> LayerTarget:
    """The service, layer and item a reference names (module docstring)."""
    ref = parse_reference(reference)
    value, layer_id = ref.value, ref.layer_id
    item: Dict[str, Any] = {}
    if ref.kind is RefKind.URL:
        service_url = value
        if _host(service_url) != _host(portal_url):
            item = _owned_service(client, root, owner, service_url, portal_url)
    else:
        if ref.kind is RefKind.ITEM:
            try:
                item = api.get_item(client, root, value)
            except XpgeoError as exc:
                raise ValidationError(f"Item {value} was not found on the portal {portal_url}: {exc.message}",
                                      status=404, hint="Check the item id (create-oi-layer prints it).") from None
        else:
            item = find_item(client, root, owner, value, portal_url)
        if not item.get("url") or item.get("type") != "Feature Service":
            raise ValidationError(f"Item {item.get('id')} ({item.get('title')!r}) is a {item.get('type')!r}, not a "
                                  "hosted feature layer.", status=422, hint="Pass an OI layer made with "
                                                                             "create-oi-layer.")
        service_url = str(item["url"]).rstrip("/")
        match = _SERVICE_URL.match(service_url)
        if match:
            service_url = match.group(1)
            layer_id = int(match.group(2)) if match.group(2) is not None else None
    service = api.service_info(client, service_url)
    if not item and service.get("serviceItemId"):
        try:  # only for writing the item's extent at the end
            item = api.get_item(client, root, str(service["serviceItemId"]))
        except XpgeoError as exc:
            log.debug("The item of %s cannot be read: %s", service_url, exc.message)
    layers = [l for l in service.get("layers") or [] if isinstance(l, dict)]
    if layer_id is None:
        chosen = next((l for l in layers if l.get("type") == OI_LAYER_TYPE), layers[0] if layers else None)
        if chosen is None:
            raise ValidationError(f"The feature service of layer '{reference}' has no layers.", status=404,
                                  hint="Create the layer with create-oi-layer.")
        layer_id = int(chosen.get("id", 0))
    layer = api.layer_info(client, f"{service_url}/{layer_id}")
    if "ImagePath" not in {f.get("name") for f in layer.get("fields") or [] if isinstance(f, dict)}:
        raise ValidationError(f"Layer '{reference}' has no ImagePath field: it is not an Oriented Imagery layer.",
                              status=422, hint="Append to a layer made with create-oi-layer.")
    try:
        max_records = int(layer.get("maxRecordCount") or service.get("maxRecordCount") or 1000)
    except (TypeError, ValueError):
        max_records = 1000
    return LayerTarget(service_url, layer_id, layer, max_records, item)
