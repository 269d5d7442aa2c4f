"""One small function per ArcGIS REST operation the portal backend uses.

Each takes the :class:`~xpgeo_core.backends.portal.rest.PortalClient` and the URLs and
values it needs, and returns the portal's checked JSON. Shapes follow
``docs`` of the ArcGIS REST API (see ``docs/backends.md``); nothing here decides
anything, that is :mod:`xpgeo_core.backends.portal.backend`'s job.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from xpgeo_core.backends.portal.rest import FilePart, PortalClient

SERVICE_TYPE = "Feature Service"


def sharing_root(portal_url: str) -> str:
    """``https://host/portal`` → ``https://host/portal/sharing/rest`` (accepts either, and ``/home``)."""
    url = portal_url.rstrip("/")
    for tail in ("/sharing/rest", "/sharing", "/home"):
        if url.lower().endswith(tail):
            url = url[: -len(tail)]
    return url + "/sharing/rest"


def admin_url(service_url: str) -> str:
    """The admin twin of a hosted service URL: ``admin/`` goes right after ``/rest/``."""
    head, sep, tail = service_url.partition("/rest/")
    if not sep:
        return service_url
    return head + "/rest/admin/" + tail if not tail.startswith("admin/") else service_url


# -- portal ---------------------------------------------------------------------------
def portal_info(client: PortalClient, root: str) -> Dict[str, Any]:
    return client.call("GET", root, what="the portal's REST root")


def portal_self(client: PortalClient, root: str) -> Dict[str, Any]:
    return client.call("GET", root + "/portals/self", what="portals/self")


def community_self(client: PortalClient, root: str) -> Dict[str, Any]:
    return client.call("GET", root + "/community/self", what="community/self")


def is_service_name_available(client: PortalClient, root: str, name: str) -> bool:
    answer = client.call("GET", root + "/portals/self/isServiceNameAvailable",
                         {"name": name, "type": SERVICE_TYPE}, what="isServiceNameAvailable")
    return bool(answer.get("available"))


def search_items(client: PortalClient, root: str, query: str, num: int = 100) -> List[Dict[str, Any]]:
    answer = client.call("GET", root + "/search", {"q": query, "num": num}, what="search")
    return [r for r in answer.get("results") or [] if isinstance(r, dict)]


# -- items ----------------------------------------------------------------------------
def _user_items(root: str, owner: str, folder: Optional[str]) -> str:
    base = f"{root}/content/users/{owner}"
    return f"{base}/{folder}" if folder else base


def user_content(client: PortalClient, root: str, owner: str, folder: Optional[str] = None, *, start: int = 1,
                 num: int = 100) -> Dict[str, Any]:
    """One page of the owner's own items (root or one folder) and, at the root, their folders.
    Read straight from the owner's content, so a layer made a second ago is there (search can lag)."""
    return client.call("GET", _user_items(root, owner, folder), {"start": start, "num": num},
                       what=f"the content of {owner}" + (f" (folder {folder})" if folder else ""))


def create_folder(client: PortalClient, root: str, owner: str, title: str) -> Dict[str, Any]:
    return client.call("POST", f"{root}/content/users/{owner}/createFolder", {"title": title},
                       what=f"createFolder {title!r}")


def delete_folder(client: PortalClient, root: str, owner: str, folder_id: str) -> Dict[str, Any]:
    return client.call("POST", f"{root}/content/users/{owner}/{folder_id}/delete", {},
                       what=f"deletion of folder {folder_id}")


def create_service(client: PortalClient, root: str, owner: str, create_parameters: Dict[str, Any],
                   folder: Optional[str] = None, **item_fields: Any) -> Dict[str, Any]:
    params = {"createParameters": create_parameters, "outputType": "featureService"}
    params.update(item_fields)
    return client.call("POST", _user_items(root, owner, folder) + "/createService", params, what="createService")


def get_item(client: PortalClient, root: str, item_id: str) -> Dict[str, Any]:
    return client.call("GET", f"{root}/content/items/{item_id}", what=f"item {item_id}")


def get_item_data(client: PortalClient, root: str, item_id: str) -> Dict[str, Any]:
    return client.call("GET", f"{root}/content/items/{item_id}/data", what=f"the data of item {item_id}")


def update_item(client: PortalClient, root: str, owner: str, item_id: str, fields: Dict[str, Any],
                folder: Optional[str] = None) -> Dict[str, Any]:
    return client.call("POST", f"{_user_items(root, owner, folder)}/items/{item_id}/update", fields,
                       what=f"update of item {item_id}")


def share_item(client: PortalClient, root: str, owner: str, item_id: str, *, org: bool = True,
               everyone: bool = False, folder: Optional[str] = None) -> Dict[str, Any]:
    return client.call("POST", f"{_user_items(root, owner, folder)}/items/{item_id}/share",
                       {"everyone": everyone, "org": org}, what=f"sharing of item {item_id}")


def delete_item(client: PortalClient, root: str, owner: str, item_id: str,
                folder: Optional[str] = None) -> Dict[str, Any]:
    return client.call("POST", f"{_user_items(root, owner, folder)}/items/{item_id}/delete", {},
                       what=f"deletion of item {item_id}")


# -- hosted feature service -----------------------------------------------------------
def service_info(client: PortalClient, service_url: str) -> Dict[str, Any]:
    return client.call("GET", service_url, what="the feature service")


def layer_info(client: PortalClient, layer_url: str) -> Dict[str, Any]:
    return client.call("GET", layer_url, what="the layer")


def add_to_definition(client: PortalClient, service_url: str, layers: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    return client.call("POST", admin_url(service_url) + "/addToDefinition",
                       {"addToDefinition": {"layers": list(layers)}, "async": False}, what="addToDefinition")


def update_layer_definition(client: PortalClient, service_url: str, layer_id: int,
                            definition: Dict[str, Any]) -> Dict[str, Any]:
    return client.call("POST", f"{admin_url(service_url)}/{layer_id}/updateDefinition",
                       {"updateDefinition": definition, "async": False}, what=f"updateDefinition of layer {layer_id}")


def add_features(client: PortalClient, layer_url: str, features: Sequence[Dict[str, Any]], *,
                 rollback_on_failure: bool = False) -> Dict[str, Any]:
    return client.call("POST", layer_url + "/addFeatures",
                       {"features": list(features), "rollbackOnFailure": rollback_on_failure}, what="addFeatures")


def where_in(field: str, values: Sequence[str]) -> str:
    """``field IN ('a','b')`` with SQL quoting (a quote inside a URL is doubled)."""
    return f"{field} IN (" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def query(client: PortalClient, layer_url: str, **params: Any) -> Dict[str, Any]:
    """Always POST: a ``where`` listing image URLs is longer than any GET allows. It only reads,
    so it is retried as a GET would be."""
    params.setdefault("where", "1=1")
    return client.call("POST", layer_url + "/query", params, what="query", idempotent=True)


# -- feature attachments ----------------------------------------------------------------
def upload_info(client: PortalClient, service_url: str) -> Dict[str, Any]:
    """``<service>/uploads/info``: ``maxUploadFileSize`` (MB), the largest file the service takes."""
    return client.call("GET", service_url.rstrip("/") + "/uploads/info", what="uploads/info of the service")


def add_attachment(client: PortalClient, layer_url: str, object_id: int, part: FilePart) -> Dict[str, Any]:
    """``<layer>/<oid>/addAttachment``: a multipart upload of *part*; ``addAttachmentResult``."""
    return client.upload(f"{layer_url}/{object_id}/addAttachment", {}, part,
                         what=f"addAttachment of {part.filename} to feature {object_id}")


def query_attachments(client: PortalClient, layer_url: str, object_ids: Sequence[int]) -> Dict[str, Any]:
    """``<layer>/queryAttachments`` (10.5+) for *object_ids*: ``attachmentGroups``. It only reads: a POST (a
    long id list) retried as a GET would be."""
    return client.call("POST", layer_url + "/queryAttachments",
                       {"objectIds": ",".join(str(i) for i in object_ids)}, what="queryAttachments", idempotent=True)


def attachment_infos(client: PortalClient, layer_url: str, object_id: int) -> Dict[str, Any]:
    """``<layer>/<oid>/attachments``: ``attachmentInfos`` (where the layer has no queryAttachments)."""
    return client.call("GET", f"{layer_url}/{object_id}/attachments", what=f"the attachments of feature {object_id}")
