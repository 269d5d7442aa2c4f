"""arcgis-rest-js 4.10.2 (Node) is an oracle of the portal emulator and of XPGEO's layers: the
19 steps of the reference scenario (esri-clients.md §3), the federated token exchange they
need, and sign-in, item, layer and query on a layer XPGEO made, over verified HTTPS.

The client is installed by tests/oracles/install.sh (npm ci of tests/oracles/rest_js); without
it these tests fail in CI and skip elsewhere (tests/oracle_support.py)."""

from __future__ import annotations

import pytest

from certs import make_cert
from emulators.image_host import ImageHost
from emulators.portal import API_KEY, GROUP_ID, PASSWORD, USER, PortalEmulator
from oracle_support import ORACLES, loopback_env, rest_js, run_scenario, xpgeo_layer

SCENARIO = ORACLES / "rest_js" / "scenario.mjs"
REFERER = "@esri/arcgis-rest-js"
STEPS = ["signIn", "getSelf", "getUser", "isServiceNameAvailable", "createFeatureService", "getItem",
         "addToServiceDefinition", "updateServiceDefinition", "getLayer", "updateItem", "setItemAccess",
         "shareItemWithGroup", "searchItems", "addFeatures", "applyEdits", "queryCount", "queryNear",
         "getItemData", "apiKey"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("oracle-rest-js-tls"))


@pytest.fixture
def client():
    return rest_js()


@pytest.fixture
def portal(certs):
    with PortalEmulator(tls=(str(certs[1]), str(certs[2]))) as p:
        yield p


def run(client, certs, portal, scenario: str, **config) -> dict:
    config = dict({"portal": portal.portal_url, "modules": client["modules"], "username": USER,
                   "password": PASSWORD}, **config)
    answer = run_scenario([client["node"], str(SCENARIO), scenario], config,
                          loopback_env(NODE_EXTRA_CA_CERTS=str(certs[0])))
    return {s["step"]: s for s in answer["steps"]}


def ok(steps: dict, name: str) -> dict:
    step = steps[name]
    assert step["ok"], f"{name}: {step.get('error')}"
    return step["result"]


def test_the_nineteen_steps_and_the_federated_exchange(client, certs, portal):
    layer = {"name": "js_publish", "type": "Feature Layer", "geometryType": "esriGeometryPoint", "hasZ": True,
             "fields": [{"name": "OBJECTID", "type": "esriFieldTypeOID"},
                        {"name": "ImagePath", "type": "esriFieldTypeString"}]}
    info = {"orientedImageryProperties": {"orientedImageryType": "360"}}
    features = [{"geometry": {"x": -122.33, "y": 47.6, "z": 10}, "attributes": {"ImagePath": "https://x/1.jpg"}},
                {"geometry": {"x": -122.30, "y": 47.6, "z": 12}, "attributes": {"ImagePath": "https://x/2.jpg"}}]
    steps = run(client, certs, portal, "publish", name="js_publish", layer=layer, apiKey=API_KEY,
                update={"orientedImageryInfo": info}, keywords=["Feature Service", "OrientedImageryLayer"],
                groupId=GROUP_ID, searchText="title:js_publish", features=features,
                near={"geometry": {"x": -122.33, "y": 47.6, "spatialReference": {"wkid": 4326}}, "distance": 100})
    assert list(steps) == STEPS
    failed = {name: s["error"] for name, s in steps.items() if not s["ok"]}
    assert not failed
    assert ok(steps, "signIn")["expires"] > 10 ** 12
    created = ok(steps, "createFeatureService")
    assert created["serviceurl"] == portal.server_url + "/rest/services/Hosted/js_publish/FeatureServer"
    assert ok(steps, "getLayer") == {"type": "Feature Layer", "fields": ["OBJECTID", "ImagePath"],
                                     "orientedImageryInfo": info}
    assert ok(steps, "searchItems")["ids"] == [created["itemId"]]
    assert portal.item_groups(created["itemId"]) == [GROUP_ID]
    assert portal.item(created["itemId"])["typeKeywords"] == ["Feature Service", "OrientedImageryLayer"]
    assert ok(steps, "queryCount") == {"count": 2}
    near = ok(steps, "queryNear")
    assert near["spatialReference"]["latestWkid"] == 3857
    assert [f["attributes"]["ImagePath"] for f in near["features"]] == ["https://x/1.jpg"]
    assert near["features"][0]["geometry"]["x"] == pytest.approx(-13617713.31, abs=0.01)
    assert ok(steps, "apiKey") == {"portalId": "xPgEoEmU1at0r001", "count": 2}

    # the federated exchange: once, with the portal token and the server's root, then only server tokens
    exchanges = [r for r in portal.requests_to("generateToken") if "serverUrl" in r.params]
    assert len(exchanges) == 1 and exchanges[0].params["serverUrl"] == portal.server_url
    assert len(portal.requests_to("generateToken")) == 2  # `expires` on both tokens: no refresh loop
    server_calls = [r for r in portal.state.requests if r.path.startswith("/server/rest/services")
                    or r.path.startswith("/server/rest/admin")]
    signed_in = [r for r in server_calls if r.params.get("token") != API_KEY]
    assert signed_in and all(r.params.get("token", "").startswith("emusrv.") for r in signed_in)
    assert all(r.headers.get("referer") == REFERER or r.headers.get("Referer") == REFERER for r in signed_in)


def test_signs_in_and_reads_the_layer_xpgeo_made(client, certs, portal, tmp_path):
    with ImageHost() as host:
        made = xpgeo_layer(portal, host, tmp_path, "oracle_js_walk", ca_bundle=certs[0])
    first = made["features"][0]["geometry"]
    steps = run(client, certs, portal, "open_layer", itemId=made["created"]["item_id"],
                near={"geometry": {"x": first["x"], "y": first["y"], "spatialReference": {"wkid": 4326}},
                      "distance": 50})
    failed = {name: s["error"] for name, s in steps.items() if not s["ok"]}
    assert not failed
    item = ok(steps, "getItem")
    assert item["url"] == made["created"]["service_url"] and "OrientedImageryLayer" in item["typeKeywords"]
    layer = ok(steps, "getLayer")
    assert "ImagePath" in layer["fields"] and layer["hasZ"] is True
    assert layer["orientedImageryInfo"]["orientedImageryProperties"]["orientedImageryType"] == "Horizontal"
    got = {f["attributes"]["ImagePath"]: f for f in ok(steps, "query")["features"]}
    assert sorted(got) == sorted(made["urls"])
    for expected in made["features"]:  # what XPGEO computed, read back by Esri's client
        feature = got[expected["attributes"]["ImagePath"]]
        for key, value in expected["attributes"].items():
            assert feature["attributes"][key] == (pytest.approx(value) if isinstance(value, float) else value), key
        for axis in ("x", "y", "z"):
            assert feature["geometry"][axis] == pytest.approx(expected["geometry"][axis]), axis
    assert ok(steps, "queryNear")["paths"] == [made["features"][0]["attributes"]["ImagePath"]]
