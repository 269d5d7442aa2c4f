"""The ArcGIS API for Python (arcgis 2.4) against the portal emulator: one scenario per run.

Run by tests/test_oracle_python_api.py with the oracle venv's Python (never XPGEO's):
``python scenario.py <scenario>`` with a JSON object on stdin (``url``, ``mode`` and what
the scenario needs); prints one JSON object with what the client saw. Sockets may reach
loopback only (loopback_only.py), proxies are off, TLS is verified (SSL_CERT_FILE names
the test CA).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Dict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loopback_only  # noqa: E402,F401  (first: before arcgis opens any connection)

from arcgis.gis import GIS  # noqa: E402

USER, PASSWORD = "xpgeo_user", "xpgeo_pass"


def sign_in(config: Dict[str, Any]) -> GIS:
    """Each of the four ways the Python API logs in."""
    url, mode = config["url"], config["mode"]
    if mode == "builtin":  # the default: the OAuth2 "pythonapi" sign-in pages
        return GIS(url, USER, PASSWORD)
    if mode == "gen_token":
        return GIS(url, USER, PASSWORD, use_gen_token=True)
    if mode == "token":
        return GIS(url, token=config["token"])
    if mode == "api_key":
        return GIS(url, api_key=config["api_key"])
    raise SystemExit(f"unknown mode {mode}")


def login(config: Dict[str, Any]) -> Dict[str, Any]:
    gis = sign_in(config)
    me = gis.users.me
    return {"username": me.username, "user_id": me.id, "org_id": me.orgId, "privileges": list(me.privileges),
            "portal_name": gis.properties["portalName"], "portal_id": gis.properties["id"],
            "version": gis.version}


def publish(config: Dict[str, Any]) -> Dict[str, Any]:
    """Esri's documented publish path, step by step, as the reference records it."""
    from arcgis.features import FeatureLayer, FeatureLayerCollection
    from arcgis.gis import SharingLevel

    gis = sign_in(config)
    name = config["name"]
    out: Dict[str, Any] = {"available_before": gis.content.is_service_name_available(name, "featureService")}
    create = {"name": name, "serviceDescription": "", "hasStaticData": False, "maxRecordCount": 2000,
              "supportedQueryFormats": "JSON", "capabilities": "Create,Delete,Query,Update,Editing",
              "spatialReference": {"wkid": 4326}, "allowGeometryUpdates": True, "units": "esriDecimalDegrees"}
    item = gis.content.create_service(name, create_params=create, service_type="featureService")
    out["item_id"], out["item_type"] = item.id, item.type
    out["available_after"] = gis.content.is_service_name_available(name, "featureService")
    collection = FeatureLayerCollection.fromitem(item)
    out["add"] = collection.manager.add_to_definition({"layers": [config["layer"]]})
    layer = FeatureLayer(item.url + "/0", gis)
    out["update"] = layer.manager.update_definition(config["update"])
    out["item_update"] = item.update(item_properties={"typeKeywords": list(item.typeKeywords) + config["keywords"]})
    item = gis.content.get(item.id)
    out["type_keywords"] = list(item.typeKeywords)
    item.sharing.sharing_level = SharingLevel.ORG
    out["sharing_level"] = str(item.sharing.sharing_level)
    out["access"] = gis.content.get(item.id).access
    out["share"] = item.share(org=True)
    out["edits"] = layer.edit_features(adds=config["features"])
    out["count"] = layer.query(where="1=1", return_count_only=True)
    out["layer_type"] = FeatureLayer(item.url + "/0", gis).properties["type"]
    return out


def open_layer(config: Dict[str, Any]) -> Dict[str, Any]:
    """An XPGEO layer opened as Esri's clients open it: the item, OrientedImageryLayer.fromitem,
    its properties, and a query of every feature."""
    from arcgis.features import FeatureLayer, OrientedImageryLayer

    gis = sign_in(config)
    item = gis.content.get(config["item_id"])
    out: Dict[str, Any] = {"item_type": item.type, "type_keywords": list(item.typeKeywords), "url": item.url}
    plain = FeatureLayer(item.url + "/0", gis)
    query = plain.query(where="1=1", out_fields="*", return_geometry=True, return_z=True)
    out["features"] = [{"attributes": f.attributes, "geometry": f.geometry} for f in query.features]
    out["count"] = plain.query(where="1=1", return_count_only=True)
    try:
        layer = OrientedImageryLayer.fromitem(item)
    except Exception as exc:  # the assertion the test reads: why the client refused the layer
        out["oi_error"] = f"{type(exc).__name__}: {exc}"
        return out
    props = layer.properties
    out["oi_type"] = props["type"]
    out["oi_properties"] = dict(props.get("orientedImageryInfo", {}).get("orientedImageryProperties", {}))
    out["oi_count"] = layer.query(where="1=1", return_count_only=True)
    return out


def attachments(config: Dict[str, Any]) -> Dict[str, Any]:
    """An XPGEO layer whose photos are attachments, as the Python API reads it: each feature's attachment list
    (``layer.attachments.get_list``) and each attachment downloaded (``layer.attachments.download``)."""
    import hashlib
    import tempfile

    from arcgis.features import FeatureLayer

    gis = sign_in(config)
    item = gis.content.get(config["item_id"])
    layer = FeatureLayer(item.url + "/0", gis)
    out: Dict[str, Any] = {"has_attachments": layer.properties.get("hasAttachments"), "features": []}
    for feature in layer.query(where="1=1", out_fields="*", return_geometry=False).features:
        oid = feature.attributes["OBJECTID"]
        infos = layer.attachments.get_list(oid)
        digests = []
        for info in infos:
            with tempfile.TemporaryDirectory() as folder:
                layer.attachments.download(oid=oid, attachment_id=str(info["id"]), save_path=folder)
                files = [os.path.join(here, name) for here, _, names in os.walk(folder) for name in names]
                digests.append([os.path.basename(f) for f in files] + [
                    hashlib.sha256(open(f, "rb").read()).hexdigest() for f in files])
        out["features"].append({"attributes": feature.attributes, "attachments": infos, "downloaded": digests})
    return out


SCENARIOS: Dict[str, Callable[[Dict[str, Any]], Dict[str, Any]]] = {
    "login": login, "publish": publish, "open_layer": open_layer, "attachments": attachments}


def main() -> None:
    config = json.load(sys.stdin)
    result = SCENARIOS[sys.argv[1]](config)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
