"""The portal emulator accepts what real ArcGIS clients send, not only what ours does,
answers in ArcGIS's shapes, and runs on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from certs import make_cert
from emulators.portal import API_KEY, PASSWORD, USER, PortalEmulator, where_predicate

EMULATOR = Path(__file__).resolve().parent / "emulators" / "portal.py"


@pytest.fixture
def portal():
    with PortalEmulator() as p:
        yield p


def sharing(portal: PortalEmulator, path: str = "") -> str:
    return portal.portal_url + "/sharing/rest" + path


def token_for(portal: PortalEmulator, referer: str = "http://client.example") -> str:
    answer = requests.post(sharing(portal, "/generateToken"), data={
        "username": USER, "password": PASSWORD, "client": "referer", "referer": referer, "expiration": "60",
        "f": "json"}).json()
    assert isinstance(answer["expires"], int) and answer["expires"] > 10 ** 12  # epoch milliseconds
    return answer["token"]


def test_token_in_header_form_or_query_and_referer_binding(portal):
    token = token_for(portal)
    url = sharing(portal, "/community/self")
    ref = {"Referer": "http://client.example"}
    assert requests.get(url, params={"f": "json"}, headers=dict(ref, **{"X-Esri-Authorization": "Bearer " + token})
                        ).json()["username"] == USER
    assert requests.get(url, params={"f": "json"}, headers=dict(ref, Authorization="Bearer " + token)
                        ).json()["username"] == USER
    assert requests.post(url, data={"f": "json", "token": token}, headers=ref).json()["username"] == USER
    assert requests.get(url, params={"f": "json", "token": token}, headers=ref).json()["username"] == USER
    wrong_referer = requests.get(url, params={"f": "json", "token": token}, headers={"Referer": "http://evil"})
    assert wrong_referer.status_code == 200 and wrong_referer.json()["error"]["code"] == 498
    assert requests.get(url, params={"f": "json"}).json()["error"]["code"] == 499
    assert requests.get(url, headers={"X-Esri-Authorization": "Bearer " + API_KEY}).json()["username"] == USER


def test_generate_token_needs_post_and_good_credentials(portal):
    assert requests.get(sharing(portal, "/generateToken"), params={"username": USER, "password": PASSWORD}
                        ).json()["error"]["code"] == 400
    bad = requests.post(sharing(portal, "/generateToken"), data={"username": USER, "password": "x",
                                                                 "client": "requestip"}).json()
    assert bad["error"] == {"code": 400, "message": "Unable to generate token.",
                            "details": ["Invalid username or password."]}


def test_multipart_bodies_and_comma_separated_type_keywords(portal):
    headers = {"X-Esri-Authorization": "Bearer " + API_KEY}
    create = requests.post(sharing(portal, f"/content/users/{USER}/createService"), headers=headers, files={
        "createParameters": (None, json.dumps({"name": "mp_test", "capabilities": "Create,Query"})),
        "outputType": (None, "featureService"), "f": (None, "json")}).json()
    assert create["success"] is True and create["serviceurl"].endswith("/Hosted/mp_test/FeatureServer")
    item_id = create["itemId"]
    update = requests.post(sharing(portal, f"/content/users/{USER}/items/{item_id}/update"), headers=headers,
                           files={"typeKeywords": (None, "Feature Service, Hosted Service, OrientedImageryLayer"),
                                  "f": (None, "json")}).json()
    assert update == {"success": True, "id": item_id}
    assert portal.item(item_id)["typeKeywords"] == ["Feature Service", "Hosted Service", "OrientedImageryLayer"]
    requests.post(sharing(portal, f"/content/users/{USER}/items/{item_id}/update"), headers=headers,
                  data={"typeKeywords": json.dumps(["A", "B"])})
    assert portal.item(item_id)["typeKeywords"] == ["A", "B"]
    shared = requests.post(sharing(portal, f"/content/users/{USER}/items/{item_id}/share"), headers=headers,
                           data={"org": "true", "everyone": "false", "f": "json"}).json()
    assert shared == {"notSharedWith": [], "itemId": item_id}
    again = requests.post(sharing(portal, f"/content/users/{USER}/createService"), headers=headers, data={
        "createParameters": json.dumps({"name": "mp_test"}), "outputType": "featureService"}).json()
    assert again["success"] is False and "already exists" in again["error"]["message"]


def test_feature_service_reads_by_get_writes_by_post_only(portal):
    headers = {"X-Esri-Authorization": "Bearer " + API_KEY}
    create = requests.post(sharing(portal, f"/content/users/{USER}/createService"), headers=headers, data={
        "createParameters": json.dumps({"name": "rw", "capabilities": "Create,Query", "maxRecordCount": 2}),
        "outputType": "featureService"}).json()
    service = create["serviceurl"]
    admin = service.replace("/rest/services/", "/rest/admin/services/")
    layer = {"name": "rw", "geometryType": "esriGeometryPoint", "hasZ": True,
             "fields": [{"name": "OBJECTID", "type": "esriFieldTypeOID"},
                        {"name": "ImagePath", "type": "esriFieldTypeString", "nullable": False}]}
    added = requests.post(admin + "/addToDefinition", headers=headers,
                          data={"addToDefinition": json.dumps({"layers": [layer]})}).json()
    assert added == {"layers": [{"name": "rw", "id": 0}], "success": True}
    assert requests.get(service + "/0", headers=headers).json()["type"] == "Feature Layer"
    features = [{"geometry": {"x": i, "y": i}, "attributes": {"ImagePath": f"u{i}"}} for i in range(3)]
    assert requests.get(service + "/0/addFeatures", headers=headers,
                        params={"features": json.dumps(features)}).json()["error"]["code"] == 400
    edits = requests.post(service + "/0/applyEdits", headers=headers,
                          data={"adds": json.dumps(features + [{"geometry": {"x": 0, "y": 0}, "attributes": {}}]),
                                "rollbackOnFailure": "true"}).json()
    assert [r["success"] for r in edits["addResults"]] == [False] * 4  # rolled back
    assert edits["addResults"][0]["error"]["code"] == 1003
    edits = requests.post(service + "/0/applyEdits", headers=headers,
                          data={"adds": json.dumps(features), "rollbackOnFailure": "false"}).json()
    assert [r["objectId"] for r in edits["addResults"]] == [1, 2, 3]
    page = requests.get(service + "/0/query", headers=headers, params={"where": "1=1", "outFields": "ImagePath"}).json()
    assert [f["attributes"]["ImagePath"] for f in page["features"]] == ["u0", "u1"] and page["exceededTransferLimit"]
    both = requests.get(service + "/0/query", headers=headers,
                        params={"where": "ImagePath IN ('u1','u2')", "returnCountOnly": "true",
                                "returnExtentOnly": "true"}).json()
    assert both["count"] == 2 and both["extent"]["xmin"] == 1 and both["extent"]["xmax"] == 2
    bad = requests.get(service + "/0/query", headers=headers, params={"where": "DROP TABLE x"}).json()
    assert bad["error"]["message"] == "Unable to complete operation."


def test_where_subset():
    row = {"ImagePath": "it's", "OBJECTID": 5}
    assert where_predicate("imagepath IN ('a', 'it''s')")(row)
    assert where_predicate("ImagePath = 'it''s'")(row)
    assert where_predicate("OBJECTID >= 5")(row) and not where_predicate("OBJECTID > 5")(row)
    with pytest.raises(ValueError):
        where_predicate("ImagePath LIKE '%x'")


@pytest.mark.parametrize("tls", [False, True])
def test_runs_on_its_own_and_prints_its_portal_url_first(tmp_path, tls):
    args = [sys.executable, str(EMULATOR), "--port", "0"]
    verify = True
    if tls:
        ca, cert, key = make_cert(tmp_path)
        args += ["--tls", str(cert), str(key)]
        verify = str(ca)
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:" if tls else "http://127.0.0.1:") and url.endswith("/portal")
        answer = requests.get(url + "/sharing/rest", params={"f": "json"}, verify=verify, timeout=10).json()
        assert answer == {"currentVersion": "2024.1"}
    finally:
        process.terminate()
        process.communicate(timeout=10)
