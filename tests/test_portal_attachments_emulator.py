"""The portal emulator's feature attachments (tests/emulators/portal_attachments.py) answer as Esri's REST
reference documents them: addAttachment (multipart), the attachment infos, the download, queryAttachments,
deleteAttachments, the service's upload limit and each knob's way of refusing a file too large. These tests
speak plain HTTP the way any client does (requests' own multipart); Esri's clients check the same routes in
tests/test_oracle_python_api.py and tests/test_oracle_sdk.py."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from emulators.portal import API_KEY, USER, PortalEmulator

HEADERS = {"X-Esri-Authorization": "Bearer " + API_KEY}
FIELDS = [{"name": "OBJECTID", "type": "esriFieldTypeOID"}, {"name": "GlobalID", "type": "esriFieldTypeGlobalID"},
          {"name": "ImagePath", "type": "esriFieldTypeString"}, {"name": "PhotoKey", "type": "esriFieldTypeString"}]


def make_layer(portal: PortalEmulator, name: str = "att", *, attachments: bool = True) -> str:
    """A hosted layer (createService + addToDefinition, as any client makes one) with two features."""
    root = portal.portal_url + "/sharing/rest"
    created = requests.post(f"{root}/content/users/{USER}/createService", headers=HEADERS, data={
        "createParameters": json.dumps({"name": name, "capabilities": "Create,Delete,Query,Update,Editing"}),
        "outputType": "featureService", "f": "json"}).json()
    service = created["serviceurl"]
    layer = {"name": name, "type": "Feature Layer", "geometryType": "esriGeometryPoint", "fields": FIELDS,
             "hasAttachments": attachments}
    admin = service.replace("/rest/services/", "/rest/admin/services/")
    assert requests.post(admin + "/addToDefinition", headers=HEADERS, data={
        "addToDefinition": json.dumps({"layers": [layer]}), "f": "json"}).json()["success"]
    features = [{"geometry": {"x": 1, "y": 2}, "attributes": {"ImagePath": "FA", "PhotoKey": k}} for k in "ab"]
    added = requests.post(service + "/0/addFeatures", headers=HEADERS,
                          data={"features": json.dumps(features), "f": "json"}).json()["addResults"]
    assert all(a["success"] and a["globalId"].startswith("{") for a in added)
    return service + "/0"


def attach(layer: str, oid: int, data: bytes, name: str = "photo.jpg", **fields: str) -> dict:
    return requests.post(f"{layer}/{oid}/addAttachment", headers=HEADERS, data={"f": "json", **fields},
                         files={"attachment": (name, data, "image/jpeg")}).json()


@pytest.fixture
def portal():
    with PortalEmulator() as p:
        yield p


def test_add_list_download_query_and_delete(portal):
    layer = make_layer(portal)
    info = requests.get(layer, headers=HEADERS, params={"f": "json"}).json()
    assert info["hasAttachments"] is True and info["globalIdField"] == "GlobalID"
    assert info["advancedQueryCapabilities"]["supportsQueryAttachments"] is True
    assert {p["name"] for p in info["attachmentProperties"]} >= {"name", "size", "contentType", "keywords"}
    data = bytes(range(256)) * 4000
    added = attach(layer, 1, data, "DJI_0001.JPG", keywords="k1")["addAttachmentResult"]
    assert added["success"] is True and isinstance(added["objectId"], int) and added["globalId"].startswith("{")
    infos = requests.get(f"{layer}/1/attachments", headers=HEADERS, params={"f": "json"}).json()["attachmentInfos"]
    assert [(i["name"], i["size"], i["contentType"], i["keywords"]) for i in infos] == [
        ("DJI_0001.JPG", len(data), "image/jpeg", "k1")]
    got = requests.get(f"{layer}/1/attachments/{added['objectId']}", headers=HEADERS)
    assert got.status_code == 200 and got.content == data and got.headers["Content-Type"] == "image/jpeg"
    assert portal.attachments.of("att")[0]["sha256"] == hashlib.sha256(data).hexdigest()

    query = requests.get(layer + "/queryAttachments", headers=HEADERS, params={
        "objectIds": "1,2", "returnUrl": "true", "f": "json"}).json()
    groups = query["attachmentGroups"]
    assert [g["parentObjectId"] for g in groups] == [1]  # feature 2 has none
    assert groups[0]["parentGlobalId"].startswith("{")
    assert groups[0]["attachmentInfos"][0]["url"].endswith(f"/0/1/attachments/{added['objectId']}")
    by_name = requests.post(layer + "/queryAttachments", headers=HEADERS, data={
        "definitionExpression": "1=1", "attachmentsDefinitionExpression": "ATT_NAME = 'DJI_0001.JPG' AND DATA_SIZE = "
        f"{len(data)}", "f": "json"}).json()
    assert [g["parentObjectId"] for g in by_name["attachmentGroups"]] == [1]
    assert requests.get(layer + "/queryAttachments", headers=HEADERS, params={
        "objectIds": "1", "size": "0,10", "f": "json"}).json()["attachmentGroups"] == []
    assert "error" in requests.get(layer + "/queryAttachments", headers=HEADERS, params={"f": "json"}).json()

    deleted = requests.post(f"{layer}/1/deleteAttachments", headers=HEADERS, data={
        "attachmentIds": str(added["objectId"]), "f": "json"}).json()["deleteAttachmentResults"]
    assert deleted == [{"objectId": added["objectId"], "globalId": added["globalId"], "success": True}]
    assert portal.attachments.of("att") == []


def test_the_file_is_never_kept_as_the_recorded_body(portal):
    layer = make_layer(portal)
    data = b"\xff\xd8" + b"x" * (3 << 20)
    assert attach(layer, 1, data)["addAttachmentResult"]["success"]
    recorded = portal.requests_to("addAttachment")[-1]
    assert len(recorded.body) < 1000 and recorded.params["f"] == "json"
    assert portal.attachments.of("att")[0]["size"] == len(data)


def test_a_layer_without_attachments_refuses_them(portal):
    layer = make_layer(portal, "plain", attachments=False)
    answer = attach(layer, 1, b"data")
    assert answer["error"]["message"] == "Requested operation is not supported by this service."
    assert "error" in requests.get(layer + "/queryAttachments", headers=HEADERS,
                                   params={"objectIds": "1", "f": "json"}).json()


def test_a_missing_feature_and_a_body_without_a_file(portal):
    layer = make_layer(portal)
    assert attach(layer, 99, b"data")["error"]["code"] == 404
    no_file = requests.post(f"{layer}/1/addAttachment", headers=HEADERS, data={"f": "json"}).json()
    assert no_file["error"]["message"] == "Unable to add attachment."


@pytest.mark.parametrize("rule", ["edit_error", "error_body", "http413"])
def test_a_file_over_the_upload_limit_is_refused_as_each_server_does(rule):
    with PortalEmulator(max_upload_mb=1, too_large=rule) as portal:
        layer = make_layer(portal)
        service = layer.rsplit("/", 1)[0]
        assert requests.get(service + "/uploads/info", headers=HEADERS).json() == {"maxUploadFileSize": 1}
        response = requests.post(f"{layer}/1/addAttachment", headers=HEADERS, data={"f": "json"},
                                 files={"attachment": ("big.jpg", b"x" * ((1 << 20) + 1), "image/jpeg")})
        if rule == "http413":
            assert response.status_code == 413 and response.text.lstrip().startswith("<")
        elif rule == "error_body":
            assert "exceeds the maximum upload file size" in response.json()["error"]["details"][0]
        else:
            result = response.json()["addAttachmentResult"]
            assert result["success"] is False and "exceeds" in result["error"]["description"]
        assert portal.attachments.of("att") == []
        assert attach(layer, 1, b"x" * (1 << 20))["addAttachmentResult"]["success"]  # exactly the limit


def test_knobs_no_upload_info_no_query_attachments_and_discard():
    with PortalEmulator(uploads_info=False, supports_query_attachments=False, attachment_store="discard") as portal:
        layer = make_layer(portal)
        assert "error" in requests.get(layer.rsplit("/", 1)[0] + "/uploads/info", headers=HEADERS).json()
        info = requests.get(layer, headers=HEADERS, params={"f": "json"}).json()
        assert info["advancedQueryCapabilities"]["supportsQueryAttachments"] is False
        added = attach(layer, 2, b"abc")["addAttachmentResult"]
        assert "error" in requests.get(layer + "/queryAttachments", headers=HEADERS,
                                       params={"objectIds": "2", "f": "json"}).json()
        assert requests.get(f"{layer}/2/attachments", headers=HEADERS).json()["attachmentInfos"][0]["size"] == 3
        assert "error" in requests.get(f"{layer}/2/attachments/{added['objectId']}", headers=HEADERS).json()
