"""ArcGIS Pro as a user sees it: the created layer is a real output on the map, Append tools take a layer
from the map, validation before Run says the final name and what is missing, Create's layer properties
reach the operation, and a routine rename is one message, not warnings."""

from __future__ import annotations

import json

import pytest

from emulators.portal import PortalEmulator
from emulators.xpgeo_server import FakeXpgeoServer
from test_portal_toolbox import sign_in
from toolbox_harness import arcpy, load_toolbox, run_tool, validate
from xpgeo_core import operations
from xpgeo_core.layer_options import ElevationSource, LayerOptions
from xpgeo_core.sample_photos import make_jpeg


@pytest.fixture
def pyt():
    arcpy.reset()
    yield load_toolbox()
    arcpy.reset()


def test_created_portal_layer_is_a_feature_layer_output_added_to_the_map(pyt):
    with PortalEmulator() as portal:
        sign_in(portal)
        out = run_tool(pyt, "CreateOrientedImageryLayer", {"layer_name": "walk"})
    assert out["out_layer"] == out["out_service_url"] + "/0"
    assert arcpy.mp.MAP_LAYERS == [out["out_layer"]]
    arcpy.mp.MAP_LAYERS.clear()
    arcpy.env.addOutputsToMap = False  # Pro's option off: the output is still there, the map untouched
    with PortalEmulator() as portal:
        sign_in(portal)
        out = run_tool(pyt, "CreateOrientedImageryLayer", {"layer_name": "walk2"})
    assert out["out_layer"].endswith("/FeatureServer/0") and arcpy.mp.MAP_LAYERS == []


def test_local_layer_output_is_its_points_as_a_feature_class(pyt, tmp_path):
    arcpy.env.scratchGDB = str(tmp_path / "scratch.gdb")
    photo = tmp_path / "a.jpg"
    photo.write_bytes(make_jpeg(lat=47.6, lon=-122.3, alt=20.0, heading=90.0))
    common = {"backend": "Local folder", "output_folder": str(tmp_path / "layers")}
    created = run_tool(pyt, "CreateOrientedImageryLayer", dict(common, layer_name="site"))
    assert created["out_layer"] is None and arcpy.mp.MAP_LAYERS == []  # an empty layer draws nothing
    out = run_tool(pyt, "AppendImage", dict(common, layer_name="site", image_url=str(photo)))
    (source, target, count), = arcpy.conversion.CONVERTED
    assert source == str(tmp_path / "layers" / "site" / "features.geojson") and count == 1
    assert out["out_layer"] == target and arcpy.mp.MAP_LAYERS == [target]


def test_append_takes_a_layer_picked_in_the_map(pyt, monkeypatch):
    seen = {}

    def fake_append(settings, name, url, **kwargs):
        seen["name"] = name
        raise operations.ValidationError("stop here")

    monkeypatch.setattr(operations, "append_image", fake_append)
    layer = arcpy.Layer("Site photos", "https://gis.example.com/server/rest/services/Hosted/site/FeatureServer/0")
    with pytest.raises(arcpy.ExecuteError):
        run_tool(pyt, "AppendImage", {"layer_name": layer, "image_url": "https://p.example.com/a.jpg",
                                      "backend": "XPGEO server", "server_url": "https://x.example.com"})
    assert seen["name"] == layer.dataSource
    tool = pyt.AppendImage()
    params = {p.name: p for p in tool.getParameterInfo()}
    assert params["layer_name"].datatype == ["GPFeatureLayer", "GPString"]


def test_validation_shows_the_final_name_per_backend(pyt):
    _, params, flagged = validate(pyt, "CreateOrientedImageryLayer",
                                  {"layer_name": "Site survey 2026!", "backend": "Portal",
                                   "portal_url": "HTTP://gis.example.com/portal"})
    assert flagged == {}  # HTTP:// is a URL: schemes are case-insensitive
    note = {p.name: p for p in params}["layer_name"]
    assert note.messageType == "warning" and "'Site_survey_2026'" in note.message
    _, params, _ = validate(pyt, "CreateOrientedImageryLayer", {"layer_name": "plain_name", "backend": "Portal"})
    assert {p.name: p for p in params}["layer_name"].message is None
    flagged = validate(pyt, "CreateOrientedImageryLayer", {"layer_name": "%%%", "backend": "Portal"})[2]
    assert "no letters or digits" in flagged["layer_name"] and "Missing" not in flagged["layer_name"]
    assert validate(pyt, "CreateOrientedImageryLayer", {"layer_name": "  "})[2]["layer_name"] == "Missing layer name."
    flagged = validate(pyt, "CreateOrientedImageryLayer", {"layer_name": "a", "server_url": "xpgeo.example.com"})[2]
    assert "http:// or https://" in flagged["server_url"]


def test_validation_flags_append_images_with_nothing_to_append(pyt):
    flagged = validate(pyt, "AppendImages", {"layer_name": "a"})[2]
    assert flagged == {"url_file": "Nothing to append: give a URL list file, Image URLs, Photo folder or Bucket."}
    assert validate(pyt, "AppendImages", {"layer_name": "a", "image_urls": ["HTTPS://h/a.jpg"]})[2] == {}
    assert arcpy.CALLS.count("GetSigninToken") == 0  # validation never signs in or goes on the network


def test_create_passes_its_layer_properties(pyt, monkeypatch):
    seen = {}

    def fake_create(settings, name, imagery_type=None, **kwargs):
        seen.update(kwargs)
        raise operations.ValidationError("stop here")

    monkeypatch.setattr(operations, "create_layer", fake_create)
    with pytest.raises(arcpy.ExecuteError):
        run_tool(pyt, "CreateOrientedImageryLayer", {
            "layer_name": "site", "sharing": "Public", "portal_folder": "Surveys", "tags": ["drone", "2026;north"],
            "summary": "Site walk", "ground_height": 12.5, "backend": "XPGEO server",
            "server_url": "https://x.example.com"})
    assert seen["options"] == LayerOptions(sharing="public", folder="Surveys", tags=("drone", "2026", "north"),
                                           summary="Site walk", elevation_source=ElevationSource(constant_m=12.5))
    flagged = validate(pyt, "CreateOrientedImageryLayer", {"layer_name": "a", "ground_height": 3.0,
                                                            "elevation_service": "https://e.example.com/Image"})[2]
    assert "not both" in flagged["elevation_service"]


def test_cli_create_takes_the_same_layer_properties(monkeypatch):
    from test_xpgeo_cli import run

    seen = {}

    def fake_create(settings, name, imagery_type=None, **kwargs):
        seen.update(kwargs)
        raise operations.ValidationError("stop here")

    monkeypatch.setattr(operations, "create_layer", fake_create)
    run(["create-oi-layer", "--name", "site", "--sharing", "private", "--tags", "a,b", "--tags", "c",
         "--elevation-service", "https://e.example.com/ImageServer"])
    assert seen["options"] == LayerOptions(sharing="private", tags=("a", "b", "c"),
                                           elevation_source=ElevationSource(service_url="https://e.example.com/ImageServer"))


def test_a_taken_name_is_one_message_not_warnings(pyt):
    with FakeXpgeoServer(taken={"site"}) as server:
        out = run_tool(pyt, "CreateOrientedImageryLayer", {"layer_name": "site", "server_url": server.url})
    assert out["out_layer_name"].startswith("site_")
    assert [text for severity, text in arcpy.MESSAGES if severity == "warning"] == []
    assert len([text for _, text in arcpy.MESSAGES if "created as" in text]) == 1


def test_layer_properties_reach_the_portal_from_both_front_ends(pyt):
    from emulators.portal import API_KEY
    from portal_support import run_cli

    with PortalEmulator() as portal:
        env = {"XPGEO_PORTAL_URL": portal.portal_url, "XPGEO_API_KEY": API_KEY, "XPGEO_RETRY_BACKOFF": "0"}
        code, out, err = run_cli(["--json", "create-oi-layer", "--name", "walk", "--sharing", "private",
                                  "--tags", "drone,north", "--summary", "Site walk"], env)
        assert code == 0, err
        item = portal.item(json.loads(out)["item_id"])
        assert item["access"] == "private" and {"drone", "north"} <= set(item["tags"])
        sign_in(portal)
        created = run_tool(pyt, "CreateOrientedImageryLayer", {"layer_name": "walk2", "sharing": "Public",
                                                               "ground_height": 4.0})
        assert portal.item(created["out_item_id"])["access"] == "public"
        info = portal.layer("walk2")["orientedImageryInfo"]["orientedImageryProperties"]
        assert info["elevationSource"] == {"constantElevation": 4.0}
