"""The ArcGIS API for Python (arcgis 2.4, its own venv) is an oracle of the portal emulator and
of XPGEO's layers: it logs in every way it can, runs Esri's documented publish path, and opens
the layer XPGEO made, all against the emulator over verified HTTPS on 127.0.0.1.

The client is installed by tests/oracles/install.sh; without it these tests fail in CI and
skip elsewhere (tests/oracle_support.py)."""

from __future__ import annotations

import json

import pytest

from certs import make_cert
from emulators.image_host import ImageHost
from emulators.portal import API_KEY, USER, PortalEmulator
from oracle_support import ORACLES, loopback_env, python_api, run_scenario, xpgeo_layer

SCENARIO = ORACLES / "python_api" / "scenario.py"


class NotAnOrientedImageryLayer(AssertionError):
    """OrientedImageryLayer.fromitem refused XPGEO's layer because its type is not "Oriented Imagery Layer"."""


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("oracle-python-tls"))


@pytest.fixture
def python():
    return python_api()


def run(python, certs, name: str, config: dict) -> dict:
    return run_scenario([str(python), str(SCENARIO), name], config, loopback_env(SSL_CERT_FILE=str(certs[0])))


def portal_with(certs, **knobs) -> PortalEmulator:
    return PortalEmulator(tls=(str(certs[1]), str(certs[2])), **knobs)


@pytest.mark.parametrize("mode", ["builtin", "gen_token", "token", "api_key"])
def test_logs_in_every_way(python, certs, mode):
    with portal_with(certs) as portal:
        token, _ = portal.issue_token(USER, None, 60)
        seen = run(python, certs, "login", {"url": portal.portal_url, "mode": mode, "token": token,
                                             "api_key": API_KEY})
        assert seen["username"] == USER and seen["user_id"] and seen["org_id"]
        assert "portal:publisher:publishFeatures" in seen["privileges"]
        assert seen["portal_name"] == "ArcGIS Enterprise" and seen["version"] == [2024, 1]
        operations = [r.path.rsplit("/", 1)[-1] for r in portal.state.requests]
        if mode == "builtin":  # the OAuth2 pages, not generateToken
            assert "authorize" in operations and "signin" in operations and "generateToken" not in operations
        elif mode == "gen_token":
            assert "generateToken" in operations and "signin" not in operations
        else:
            assert "generateToken" not in operations and "signin" not in operations
        signed = [r for r in portal.state.requests if r.headers.get("X-Esri-Authorization", "").startswith("Bearer ")]
        assert signed, "the client never sent its token"
        assert not any("token=" in r.raw_path for r in portal.state.requests)


def test_publishes_the_documented_way(python, certs):
    layer = {"name": "py_publish", "type": "Feature Layer", "geometryType": "esriGeometryPoint", "hasZ": True,
             "fields": [{"name": "OBJECTID", "type": "esriFieldTypeOID"},
                        {"name": "ImagePath", "type": "esriFieldTypeString"}]}
    info = {"orientedImageryProperties": {"orientedImageryType": "360"}}
    features = [{"geometry": {"x": -122.33, "y": 47.6, "z": 10}, "attributes": {"ImagePath": "https://x/1.jpg"}}]
    with portal_with(certs) as portal:
        seen = run(python, certs, "publish", {
            "url": portal.portal_url, "mode": "builtin", "name": "py_publish", "layer": layer,
            "update": {"orientedImageryInfo": info}, "keywords": ["OrientedImageryLayer"], "features": features})
        assert seen["available_before"] is True and seen["available_after"] is False
        assert seen["item_type"] == "Feature Service"
        assert seen["add"]["success"] is True and seen["update"] == {"success": True}
        assert seen["item_update"] is True and "OrientedImageryLayer" in seen["type_keywords"]
        assert "Hosted Service" in seen["type_keywords"]  # the list went as a JSON array and was read as one
        assert seen["sharing_level"].endswith("ORG") and seen["access"] == "org"
        assert seen["share"]["notSharedWith"] == []
        assert seen["edits"]["addResults"] == [{"success": True, "objectId": 1}]
        assert seen["count"] == 1 and seen["layer_type"] == "Feature Layer"  # the type it sent
        edits = portal.requests_to("applyEdits")[0]
        assert edits.headers["Content-Type"].startswith("multipart/form-data")
        stored = portal.layer("py_publish")
        assert stored["orientedImageryInfo"] == info and portal.item(seen["item_id"])["access"] == "org"


def open_xpgeo_layer(python, certs, tmp_path, rule: str) -> dict:
    with portal_with(certs, layer_type_rule=rule) as portal, ImageHost() as host:
        made = xpgeo_layer(portal, host, tmp_path, "oracle_walk", ca_bundle=certs[0])
        seen = run(python, certs, "open_layer", {"url": portal.portal_url, "mode": "builtin",
                                                  "item_id": made["created"]["item_id"]})
    seen["made"] = made
    return seen


def assert_xpgeo_values(seen: dict) -> None:
    """The client reads back exactly what XPGEO computed for every photo."""
    made = seen["made"]
    assert seen["item_type"] == "Feature Service" and "OrientedImageryLayer" in seen["type_keywords"]
    assert seen["count"] == len(made["urls"])
    by_path = {f["attributes"]["ImagePath"]: f for f in seen["features"]}
    assert sorted(by_path) == sorted(made["urls"])
    for expected in made["features"]:
        got = by_path[expected["attributes"]["ImagePath"]]
        for key, value in expected["attributes"].items():
            assert got["attributes"][key] == (pytest.approx(value) if isinstance(value, float) else value), key
        for axis in ("x", "y", "z"):
            assert got["geometry"][axis] == pytest.approx(expected["geometry"][axis]), axis


def test_queries_the_layer_xpgeo_made(python, certs, tmp_path):
    seen = open_xpgeo_layer(python, certs, tmp_path, "keep")
    assert_xpgeo_values(seen)


@pytest.mark.parametrize("rule", ["keep", "promote_on_update"])  # the servers that allow an OI layer
def test_opens_the_layer_xpgeo_made_as_oriented_imagery(python, certs, tmp_path, rule):
    seen = open_xpgeo_layer(python, certs, tmp_path, rule)
    if "not an Oriented Imagery Layer" in seen.get("oi_error", ""):
        raise NotAnOrientedImageryLayer(seen["oi_error"])
    assert "oi_error" not in seen, seen.get("oi_error")
    assert seen["oi_type"] == "Oriented Imagery Layer"
    assert seen["oi_properties"]["orientedImageryType"] == "Horizontal"
    assert seen["oi_count"] == len(seen["made"]["urls"])
    assert_xpgeo_values(seen)


def test_lists_and_downloads_the_photos_xpgeo_attached(python, certs, tmp_path):
    """Issue 15 item 1: the ArcGIS API for Python lists each feature's attachment (the photo XPGEO uploaded
    from a folder of this machine) and downloads the very bytes of the photo file."""
    import hashlib

    from portal_support import run_cli, user_env
    from test_portal_attachments import sd_card

    paths = sd_card(tmp_path / "card")
    with portal_with(certs) as portal:
        env = user_env(portal, XPGEO_CA_BUNDLE=str(certs[0]))
        code, out, err = run_cli(["--json", "create-oi-layer", "--name", "py_card", "--attachments"], env)
        assert code == 0, err
        created = json.loads(out)
        code, _, err = run_cli(["append-images", "--name", "py_card", "--photo-folder", str(tmp_path / "card"),
                                "--attachments"], env)
        assert code == 0, err
        seen = run(python, certs, "attachments", {"url": portal.portal_url, "mode": "builtin",
                                                  "item_id": created["item_id"]})
    assert seen["has_attachments"] is True and len(seen["features"]) == len(paths)
    by_name = {p.name: p for p in paths}
    for feature in seen["features"]:
        assert feature["attributes"]["ImagePath"] == "FA"
        (info,) = feature["attachments"]
        photo = by_name[info["name"]]
        assert info["size"] == photo.stat().st_size and info["contentType"] == "image/jpeg"
        ((name, digest),) = feature["downloaded"]
        assert name == photo.name and digest == hashlib.sha256(photo.read_bytes()).hexdigest()
