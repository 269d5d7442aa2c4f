"""The portal emulator accepts what real ArcGIS clients send, not only what ours does,
answers in ArcGIS's shapes, and runs on its own."""

from __future__ import annotations

import json
import re
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
    assert where_predicate("(OBJECTID = 4 OR OBJECTID = 5) AND ImagePath = 'it''s'")(row)
    assert not where_predicate("(OBJECTID = 4) OR (ImagePath = 'x AND y')")(row)
    assert where_predicate("ImagePath IS NOT NULL AND OBJECTID NOT IN (1, 2)")(row)
    assert where_predicate("ImagePath LIKE 'IT''_'")(row) and where_predicate("ImagePath LIKE '%s'")(row)
    assert not where_predicate("ImagePath LIKE 'it'")(row) and where_predicate("ImagePath NOT LIKE 'x%'")(row)
    with pytest.raises(ValueError):
        where_predicate("ImagePath SIMILAR TO '%x'")


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


# -- what Esri's own clients need (issue 9): one contract test per route -----------------------------------
BEARER = {"X-Esri-Authorization": "Bearer " + API_KEY}
POINT_LAYER = {"name": "pts", "geometryType": "esriGeometryPoint", "hasZ": True,
               "fields": [{"name": "OBJECTID", "type": "esriFieldTypeOID"},
                          {"name": "ImagePath", "type": "esriFieldTypeString"},
                          {"name": "Rank", "type": "esriFieldTypeInteger"}]}


def make_service(portal: PortalEmulator, name: str, layer: dict = None, **create) -> dict:
    answer = requests.post(sharing(portal, f"/content/users/{USER}/createService"), headers=BEARER, data={
        "createParameters": json.dumps(dict({"name": name, "capabilities": "Create,Query,Update,Delete,Editing"},
                                            **create)),
        "outputType": "featureService", "f": "json"}).json()
    assert answer["success"] is True
    if layer is not None:
        admin = answer["serviceurl"].replace("/rest/services/", "/rest/admin/services/")
        added = requests.post(admin + "/addToDefinition", headers=BEARER,
                              data={"addToDefinition": json.dumps({"layers": [layer]})}).json()
        assert added["success"] is True, added
    return answer


def test_info_answers_get_and_post_with_the_token_service(portal):
    for method in (requests.get, requests.post):
        info = method(sharing(portal, "/info"), params={"f": "json"}).json()
        assert info == {"owningSystemUrl": portal.portal_url,
                        "authInfo": {"tokenServicesUrl": portal.portal_url + "/sharing/rest/generateToken",
                                     "isTokenBasedSecurity": True}}
        server = method(portal.base_url + "/server/rest/info", params={"f": "json"}).json()
        assert server["owningSystemUrl"] == portal.portal_url
        assert server["authInfo"]["tokenServicesUrl"] == info["authInfo"]["tokenServicesUrl"]
    root = requests.get(sharing(portal, "/"), params={"f": "json"}).json()
    assert isinstance(root["currentVersion"], str)


def test_federated_token_exchange_gives_a_server_token_the_portal_refuses(portal):
    service = make_service(portal, "fed", POINT_LAYER)["serviceurl"]
    referer = {"Referer": "@esri/arcgis-rest-js"}
    portal_token = token_for(portal, referer="@esri/arcgis-rest-js")
    answer = requests.post(sharing(portal, "/generateToken"), headers=referer, data={
        "token": portal_token, "serverUrl": portal.server_url, "expiration": "20160", "f": "json"}).json()
    server_token = answer["token"]
    assert server_token != portal_token and answer["expires"] > 10 ** 12
    assert requests.get(service + "/0", headers=referer, params={"token": server_token}).json()["type"] \
        == "Feature Layer"
    assert requests.get(sharing(portal, "/community/self"), headers=referer,
                        params={"token": server_token}).json()["error"]["code"] == 498
    # the Python API sends the portal token itself to the server, as a header
    assert requests.post(service, headers=dict(referer, **{"X-Esri-Authorization": "Bearer " + portal_token}),
                         data={"f": "json"}).json()["layers"][0]["id"] == 0
    assert requests.get(service, params={"f": "json"}).json()["error"]["code"] == 499
    elsewhere = requests.post(sharing(portal, "/generateToken"), headers=referer, data={
        "token": portal_token, "serverUrl": "https://elsewhere.example/server", "f": "json"}).json()
    assert elsewhere["error"]["code"] == 400
    forged = requests.post(sharing(portal, "/generateToken"), headers=referer, data={
        "token": "nope", "serverUrl": portal.server_url, "f": "json"}).json()
    assert forged["error"]["code"] == 498


def test_oauth_implicit_sign_in_as_the_python_api_does_it(portal):
    authorize = sharing(portal, "/oauth2/authorize")
    here = "https://" + portal.base_url.split("://", 1)[1]
    query = {"response_type": "token", "client_id": "pythonapi", "redirect_uri": here, "state": "s-123",
             "expiration": "600"}
    page = requests.get(authorize, params=query).text
    info = json.loads(re.search(r"\{.*\}", page).group(0))  # what the Python API reads: the first {...} line
    assert info["client_id"] == "pythonapi"
    assert "Invalid redirect_uri" in requests.get(authorize, params=dict(query, redirect_uri="http://evil")).text
    signin = portal.portal_url + "/sharing/oauth2/signin"
    bad = requests.post(signin, data={"oauth_state": info["oauth_state"], "username": USER, "password": "x"},
                        allow_redirects=False)
    assert bad.status_code == 200 and "Invalid username or password" in bad.text
    good = requests.post(signin, data={"oauth_state": info["oauth_state"], "username": USER,
                                       "password": PASSWORD, "expiration": "600"}, allow_redirects=False)
    assert good.status_code == 302
    location = good.headers["Location"]
    assert location.startswith(here + "#")
    fragment = dict(part.split("=", 1) for part in location.split("#", 1)[1].split("&"))
    assert fragment["state"] == "s-123" and 35990 <= int(fragment["expires_in"]) <= 36000  # expiration: minutes
    me = requests.get(sharing(portal, "/community/self"),
                      headers={"X-Esri-Authorization": "Bearer " + fragment["access_token"]}).json()
    assert me["username"] == USER
    replay = requests.post(signin, data={"oauth_state": info["oauth_state"], "username": USER,
                                         "password": PASSWORD}, allow_redirects=False)
    assert replay.status_code == 200 and "Invalid oauth_state" in replay.text


def test_users_roles_servers_and_private_url(portal):
    me = requests.get(sharing(portal, f"/community/users/{USER}"), headers=BEARER).json()
    assert me["username"] == USER and me["id"] and me["orgId"] and "portal:user:createItem" in me["privileges"]
    other = requests.get(sharing(portal, "/community/users/xpgeo_viewer"), headers=BEARER).json()
    assert other["username"] == "xpgeo_viewer" and "privileges" not in other
    assert requests.get(sharing(portal, "/community/users/nobody"), headers=BEARER).json()["error"]["code"] == 400
    roles = requests.post(sharing(portal, "/portals/self/roles"), headers=BEARER, data={"start": 1, "num": 100}).json()
    assert roles["nextStart"] == -1 and roles["roles"] == []
    servers = requests.get(sharing(portal, "/portals/self/servers"), headers=BEARER).json()["servers"]
    assert servers[0]["url"] == portal.server_url and servers[0]["serverRole"] == "HOSTING_SERVER"
    url = portal.server_url + "/rest/services/Hosted/x/FeatureServer"
    assert requests.post(sharing(portal, "/portals/self/servers/computePrivateServiceUrl"), headers=BEARER,
                         data={"serviceUrl": url}).json() == {"privateServiceUrl": url}


def test_admin_service_and_layer_json_and_refresh(portal):
    admin = make_service(portal, "adm", POINT_LAYER)["serviceurl"].replace("/rest/services/", "/rest/admin/services/")
    service = requests.post(admin, headers=BEARER, data={"f": "json"}).json()
    assert service["layers"][0]["id"] == 0 and service["adminServiceInfo"]["type"] == "FeatureServer"
    layer = requests.get(admin + "/0", headers=BEARER, params={"f": "json"}).json()
    assert layer["type"] == "Feature Layer" and layer["adminLayerInfo"]["geometryField"]["srid"] == 4326
    assert requests.post(admin + "/refresh", headers=BEARER).json() == {"success": True}
    assert requests.post(admin + "/0/refresh", headers=BEARER).json() == {"success": True}
    viewer, _ = portal.issue_token("xpgeo_viewer", None, 60)
    assert requests.post(admin, data={"token": viewer}).json()["error"]["code"] == 403


@pytest.mark.parametrize("rule,sent,after_update", [
    ("keep", "Feature Layer", "Feature Layer"),
    ("keep", "Oriented Imagery Layer", "Oriented Imagery Layer"),
    ("promote_on_update", "Feature Layer", "Oriented Imagery Layer"),
    ("refuse_oi_type", "Feature Layer", "Feature Layer"),
])
def test_layer_type_is_what_the_client_sent_under_each_rule(rule, sent, after_update):
    with PortalEmulator(layer_type_rule=rule) as portal:
        created = make_service(portal, "typed", dict(POINT_LAYER, type=sent))
        service = created["serviceurl"]
        assert requests.get(service + "/0", headers=BEARER).json()["type"] == sent
        admin = service.replace("/rest/services/", "/rest/admin/services/")
        info = {"orientedImageryProperties": {"orientedImageryType": "360"}}
        assert requests.post(admin + "/0/updateDefinition", headers=BEARER, data={
            "updateDefinition": json.dumps({"orientedImageryInfo": info, "type": "Table"})}).json() == {"success": True}
        layer = requests.get(service + "/0", headers=BEARER).json()
        assert layer["type"] == after_update and layer["orientedImageryInfo"] == info
        assert requests.get(service, headers=BEARER).json()["layers"][0]["type"] == after_update


def test_refuse_oi_type_refuses_the_whole_add():
    with PortalEmulator(layer_type_rule="refuse_oi_type") as portal:
        service = make_service(portal, "refused")["serviceurl"]
        admin = service.replace("/rest/services/", "/rest/admin/services/")
        answer = requests.post(admin + "/addToDefinition", headers=BEARER, data={"addToDefinition": json.dumps(
            {"layers": [dict(POINT_LAYER, type="Oriented Imagery Layer")]})}).json()
        assert answer["error"]["code"] == 400 and "Oriented Imagery Layer" in answer["error"]["details"][0]
        assert requests.get(service, headers=BEARER).json()["layers"] == []
    with pytest.raises(ValueError):
        PortalEmulator(layer_type_rule="sometimes")


def test_sharing_groups_item_data_and_list_forms(portal):
    from emulators.portal import GROUP_ID
    item_id = make_service(portal, "shared")["itemId"]
    answer = requests.post(sharing(portal, f"/content/users/{USER}/shareItems"), headers=BEARER, data={
        "items": item_id, "org": "true", "everyone": "false", "confirmItemControl": "true", "groups": ""}).json()
    assert answer == {"results": [{"itemId": item_id, "success": True, "notSharedWith": []}]}
    assert portal.item(item_id)["access"] == "org"
    answer = requests.post(sharing(portal, f"/content/items/{item_id}/share"), headers=BEARER, data={
        "groups": json.dumps([GROUP_ID, "f" * 32]), "everyone": "false", "org": "true"}).json()
    assert answer["notSharedWith"] == ["f" * 32]
    groups = requests.post(sharing(portal, f"/content/items/{item_id}/groups"), headers=BEARER).json()
    assert [g["id"] for g in groups["admin"]] == [GROUP_ID] and groups["member"] == [] and groups["other"] == []
    assert requests.get(sharing(portal, f"/content/items/{item_id}/data"), headers=BEARER).json() == {}
    data = {"layers": [{"id": 0, "layerType": "OrientedImageryLayer"}]}
    requests.post(sharing(portal, f"/content/users/{USER}/items/{item_id}/update"), headers=BEARER,
                  data={"text": json.dumps(data), "tags": "a, b", "typeKeywords": json.dumps(["X", "Y"])})
    assert requests.get(sharing(portal, f"/content/items/{item_id}/data"), headers=BEARER).json() == data
    item = portal.item(item_id)
    assert item["tags"] == ["a", "b"] and item["typeKeywords"] == ["X", "Y"]


def test_user_content_and_folders_read_without_search(portal):
    answer = requests.post(sharing(portal, f"/content/users/{USER}/createFolder"), headers=BEARER,
                           data={"title": "Surveys"}).json()
    folder = answer["folder"]["id"]
    requests.post(sharing(portal, f"/content/users/{USER}/{folder}/createService"), headers=BEARER, data={
        "createParameters": json.dumps({"name": "in_folder"}), "outputType": "featureService"})
    make_service(portal, "at_root")
    root = requests.get(sharing(portal, f"/content/users/{USER}"), headers=BEARER).json()
    assert [i["name"] for i in root["items"]] == ["at_root"] and root["folders"][0]["title"] == "Surveys"
    inside = requests.get(sharing(portal, f"/content/users/{USER}/{folder}"), headers=BEARER).json()
    assert [i["name"] for i in inside["items"]] == ["in_folder"] and inside["items"][0]["ownerFolder"] == folder


def search(portal: PortalEmulator, q: str, **extra) -> list:
    answer = requests.post(sharing(portal, "/search"), headers=BEARER, data=dict({"q": q, "num": 100}, **extra)).json()
    return sorted(i["title"] for i in answer["results"])


def test_search_is_full_text_with_fields_groups_and_operators(portal):
    from emulators.portal import GROUP_ID
    ids = {}
    for name, title in (("a1", "Site Survey 1"), ("a2", "Site Survey 2"), ("b", "Bridge inspection")):
        ids[name] = make_service(portal, name)["itemId"]
        requests.post(sharing(portal, f"/content/users/{USER}/items/{ids[name]}/update"), headers=BEARER,
                      data={"title": title, "tags": "drone,maps"})
    requests.post(sharing(portal, f"/content/users/{USER}/items/{ids['b']}/share"), headers=BEARER,
                  data={"groups": GROUP_ID})
    assert search(portal, 'title:"Site Survey"') == ["Site Survey 1", "Site Survey 2"]  # not exact match
    assert search(portal, "survey site") == ["Site Survey 1", "Site Survey 2"]  # both words, any order
    assert search(portal, '"survey site"') == []  # a phrase keeps its order
    assert search(portal, "map") == ["Bridge inspection", "Site Survey 1", "Site Survey 2"]  # stemmed tag
    assert search(portal, f"id: {ids['b']} AND group: {GROUP_ID}") == ["Bridge inspection"]
    assert search(portal, f'group:"{GROUP_ID}"') == ["Bridge inspection"]
    assert search(portal, 'title:bridge OR title:"survey 2"') == ["Bridge inspection", "Site Survey 2"]
    assert search(portal, 'type:"Feature Service" NOT title:site') == ["Bridge inspection"]
    assert search(portal, f'(owner:{USER} AND typekeywords:"Hosted Service") -title:bridge') == [
        "Site Survey 1", "Site Survey 2"]
    assert search(portal, "title:Sit*", sortField="title", sortOrder="desc") == ["Site Survey 1", "Site Survey 2"]
    assert search(portal, f"owner:{USER.upper()}") == []  # owner is case sensitive
    bad = requests.post(sharing(portal, "/search"), headers=BEARER, data={"q": "(title:x"}).json()
    assert bad["error"]["code"] == 400


def test_search_index_lag_knob():
    with PortalEmulator(search_lag=2) as portal:
        make_service(portal, "laggy")
        assert search(portal, "laggy") == [] and search(portal, "laggy") == []
        assert search(portal, "laggy") == ["laggy"]
    with PortalEmulator(search_lag=None) as portal:
        make_service(portal, "never")
        assert search(portal, "never") == [] and search(portal, "never") == []
        portal.reindex()
        assert search(portal, "never") == ["never"]


def test_cors_preflight_and_headers_for_a_browser(portal):
    url = sharing(portal, "/portals/self")
    preflight = requests.options(url, headers={"Origin": "http://127.0.0.1:9", "Access-Control-Request-Method": "GET",
                                               "Access-Control-Request-Headers": "x-esri-authorization"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:9"
    assert "x-esri-authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    answer = requests.get(url, headers={"Origin": "http://127.0.0.1:9"})
    assert answer.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:9"
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    assert requests.get(url).headers["Access-Control-Allow-Origin"] == "*"


def test_query_honours_geometry_distance_out_sr_and_z(portal):
    from emulators.arcgis_geometry import from_wgs84
    service = make_service(portal, "geo", POINT_LAYER)["serviceurl"]
    points = [(-122.3300, 47.6000, 10.0), (-122.3300, 47.6009, 20.0), (-122.3000, 47.6000, 30.0)]  # 0, ~100 m, ~2.2 km
    features = [{"geometry": {"x": x, "y": y, "z": z}, "attributes": {"ImagePath": f"p{i}", "Rank": i}}
                for i, (x, y, z) in enumerate(points)]
    requests.post(service + "/0/applyEdits", headers=BEARER, data={"adds": json.dumps(features)})

    def paths(**params) -> list:
        answer = requests.get(service + "/0/query", headers=BEARER, params=dict({"f": "json", "outFields": "*"},
                                                                              **params)).json()
        assert "error" not in answer, answer
        return [f["attributes"]["ImagePath"] for f in answer["features"]]
    point = json.dumps({"x": -122.33, "y": 47.60, "spatialReference": {"wkid": 4326}})
    assert paths(geometry=point, geometryType="esriGeometryPoint", distance=50, units="esriSRUnit_Meter") == ["p0"]
    assert paths(geometry=point, geometryType="esriGeometryPoint", distance=150, units="esriSRUnit_Meter") == [
        "p0", "p1"]
    assert paths(geometry=point, geometryType="esriGeometryPoint", distance=3,
                 units="esriSRUnit_Kilometer") == ["p0", "p1", "p2"]
    assert paths(geometry="-122.34,47.59,-122.32,47.61") == ["p0", "p1"]  # envelope, simple syntax
    x, y = from_wgs84(-122.33, 47.60, 3857)
    mercator = json.dumps({"x": x, "y": y, "spatialReference": {"wkid": 102100}})
    assert paths(geometry=mercator, geometryType="esriGeometryPoint", distance=150, units="esriSRUnit_Meter") == [
        "p0", "p1"]
    ring = [[-122.331, 47.5995], [-122.329, 47.5995], [-122.329, 47.6005], [-122.331, 47.6005], [-122.331, 47.5995]]
    assert paths(geometry=json.dumps({"rings": [ring]}), geometryType="esriGeometryPolygon") == ["p0"]
    assert paths(where="Rank >= 1 AND ImagePath <> 'p2'") == ["p1"]
    assert paths(objectIds="1,3", orderByFields="Rank DESC") == ["p2", "p0"]
    projected = requests.get(service + "/0/query", headers=BEARER, params={
        "where": "Rank = 0", "outSR": "3857", "returnZ": "true", "f": "json"}).json()
    assert projected["spatialReference"]["latestWkid"] == 3857
    geometry = projected["features"][0]["geometry"]
    assert abs(geometry["x"] - x) < 0.01 and abs(geometry["y"] - y) < 0.01 and geometry["z"] == 10.0
    flat = requests.get(service + "/0/query", headers=BEARER, params={"where": "Rank = 0", "f": "json"}).json()
    assert "z" not in flat["features"][0]["geometry"] and flat["spatialReference"]["wkid"] == 4326
    extent = requests.get(service + "/0/query", headers=BEARER, params={
        "where": "1=1", "returnExtentOnly": "true", "outSR": json.dumps({"wkid": 3857})}).json()["extent"]
    assert extent["spatialReference"]["latestWkid"] == 3857 and extent["xmin"] < extent["xmax"]
    bad = requests.get(service + "/0/query", headers=BEARER, params={"outSR": "2193"}).json()
    assert bad["error"]["code"] == 400
