"""Create OI Layer on the portal backend against every kind of server the emulator models
(``layer_type_rule``): an OI layer, read back, wherever the server allows one; a clear
failure with nothing left behind where it does not. Also the create options (sharing,
folder, tags, summary, elevation source) and the item's keywords and data."""

from __future__ import annotations

import json

import pytest

from emulators.image_host import ImageHost
from emulators.portal import HOSTED_KEYWORDS, PortalEmulator
from portal_support import assert_no_secrets, run_cli, user_env
from xpgeo_core import operations, schema
from xpgeo_core.errors import ServerError
from xpgeo_core.layer_options import ElevationSource, LayerOptions
from xpgeo_core.sample_photos import make_jpeg
from xpgeo_core.settings import load_settings

OI = "Oriented Imagery Layer"


def settings_for(portal: PortalEmulator):
    return load_settings(environ=user_env(portal, XPGEO_BACKEND="portal"))


def make(portal: PortalEmulator, name: str = "site", imagery_type=None, options=None):
    return operations.create_layer(settings_for(portal), name, imagery_type, options=options)


def assert_oi_layer(portal: PortalEmulator, created, imagery_type=None) -> dict:
    """What Esri's clients need of the layer and its item, read from the emulator's state."""
    layer = portal.layer(created.layer_name)
    assert layer["type"] == OI
    props = layer["orientedImageryInfo"]["orientedImageryProperties"]
    assert props == schema.oriented_imagery_properties(imagery_type)
    assert layer["timeInfo"]["startTimeField"] == "AcquisitionDate"
    assert "zDefault" not in layer and not layer.get("enableZDefaults")
    item = portal.item(created.item_id)
    assert schema.OI_TYPE_KEYWORD in item["typeKeywords"]
    assert set(HOSTED_KEYWORDS) <= set(item["typeKeywords"])  # the portal's own keywords survive
    data = json.loads(portal._rows("SELECT data FROM items WHERE id = ?", created.item_id)[0]["data"])
    assert data == {"layers": [{"id": 0, "layerType": "OrientedImageryLayer"}]}
    assert created.layer["type"] == OI
    return layer


def assert_nothing_left(portal: PortalEmulator) -> None:
    assert portal.items() == [] and portal.service_names() == []
    assert portal._rows("SELECT * FROM folders") == []


@pytest.mark.parametrize("rule", ["keep", "promote_on_update"])
def test_an_oi_layer_where_the_server_allows_one(rule):
    with PortalEmulator(layer_type_rule=rule) as portal:
        created = make(portal, "walk", "360")
        assert_oi_layer(portal, created, "360")
        assert created.layer["definedBy"] == "addToDefinition"
        assert len(portal.requests_to("addToDefinition")) == 1 and not portal.requests_to("updateDefinition")
        # the layer was read back after it was defined
        reads = [r for r in portal.state.requests if r.path.endswith("/FeatureServer/0")]
        assert reads and all(r.path.startswith("/server/rest/services/") for r in reads)


def test_a_server_that_refuses_the_oi_type_is_a_clear_failure_with_nothing_left():
    with PortalEmulator(layer_type_rule="refuse_oi_type") as portal:
        with pytest.raises(ServerError) as caught:
            make(portal, "walk", options=LayerOptions(folder="New folder"))
        message = caught.value.message
        assert "did not keep an Oriented Imagery layer" in message
        assert "addToDefinition with type 'Oriented Imagery Layer' was refused" in message
        assert "is not supported" in message  # the portal's own words
        assert "its type is 'Feature Layer'" in message  # what updateDefinition left
        assert "nothing was left on the portal" in message
        assert "Generate Service From Oriented Imagery Dataset" in caught.value.hint
        # the documented alternatives were tried in turn: a plain feature layer, then updateDefinition
        adds = [json.loads(r.params["addToDefinition"])["layers"][0]["type"]
                for r in portal.requests_to("addToDefinition")]
        assert adds == [OI, "Feature Layer"]
        update = json.loads(portal.requests_to("updateDefinition")[0].params["updateDefinition"])
        assert set(update) == {"orientedImageryInfo"}
        assert_nothing_left(portal)  # the folder made for it went too


def test_refusal_on_the_command_line_is_exit_4_and_says_what_the_portal_did():
    with PortalEmulator(layer_type_rule="refuse_oi_type") as portal:
        code, out, err = run_cli(["create-oi-layer", "--name", "Site Survey 1"], user_env(portal))
        assert code == 4 and "Traceback" not in err
        assert "did not keep an Oriented Imagery layer" in err and "'Feature Layer'" in err
        assert_nothing_left(portal)
        assert_no_secrets(portal, out, err)


def _rewrite_admin(portal: PortalEmulator, change) -> None:
    """A server the knobs do not model, for one test: *change* edits each admin request's params."""
    handler = portal.httpd.RequestHandlerClass
    original = handler._admin

    def patched(self, service, sub, params):
        change(sub, params)
        return original(self, service, sub, params)

    handler._admin = patched


def test_a_server_that_drops_the_type_on_add_gets_the_oi_info_by_updatedefinition():
    """addToDefinition accepted but read back as a Feature Layer: the next documented step
    (updateDefinition with orientedImageryInfo, Esri's own publishing path) is tried."""
    with PortalEmulator(layer_type_rule="promote_on_update") as portal:
        def drop_type(sub, params):
            if sub == "addToDefinition":
                definition = json.loads(params["addToDefinition"])
                for layer in definition["layers"]:
                    layer.pop("type", None)
                params["addToDefinition"] = json.dumps(definition)

        _rewrite_admin(portal, drop_type)
        created = make(portal, "walk")
        assert_oi_layer(portal, created)
        assert created.layer["definedBy"] == "addToDefinition, then updateDefinition"


def test_a_server_that_drops_the_type_and_never_promotes_fails_and_cleans_up():
    with PortalEmulator(layer_type_rule="keep") as portal:
        _rewrite_admin(portal, lambda sub, params: params.update(
            addToDefinition=params["addToDefinition"].replace('"type":"Oriented Imagery Layer"', '"type":""'))
            if sub == "addToDefinition" else None)
        with pytest.raises(ServerError) as caught:
            make(portal, "walk")
        assert "after addToDefinition the layer reads back wrong" in caught.value.message
        assert "after updateDefinition with orientedImageryInfo it reads back wrong" in caught.value.message
        assert_nothing_left(portal)


def test_a_server_that_loses_oi_properties_is_not_an_oi_layer():
    with PortalEmulator() as portal:
        def strip(sub, params):
            for key in ("addToDefinition", "updateDefinition"):
                if key in params:
                    params[key] = params[key].replace('"maximumDistance"', '"maxDist"')

        _rewrite_admin(portal, strip)
        with pytest.raises(ServerError) as caught:
            make(portal, "walk")
        assert "maximumDistance did not keep the values sent" in caught.value.message
        assert_nothing_left(portal)


# -- options ---------------------------------------------------------------------------
@pytest.mark.parametrize("sharing,access", [("private", "private"), ("organization", "org"), ("public", "public")])
def test_sharing_levels_are_read_back(sharing, access):
    with PortalEmulator() as portal:
        created = make(portal, "walk", options=LayerOptions(sharing=sharing))
        assert portal.item(created.item_id)["access"] == access
        assert bool(portal.requests_to("share")) == (sharing != "private")


def test_folder_is_made_when_missing_and_reused_when_there():
    with PortalEmulator() as portal:
        first = make(portal, "one", options=LayerOptions(folder="Surveys 2026"))
        second = make(portal, "two", options=LayerOptions(folder="surveys 2026"))
        folders = portal._rows("SELECT * FROM folders")
        assert len(folders) == 1 and folders[0]["title"] == "Surveys 2026"
        assert len(portal.requests_to("createFolder")) == 1
        for created in (first, second):
            assert portal.item(created.item_id)["ownerFolder"] == folders[0]["id"]
            assert_oi_layer(portal, created)
        assert "/" + folders[0]["id"] + "/createService" in portal.requests_to("createService")[0].path


def test_tags_summary_and_elevation_sources():
    with PortalEmulator() as portal:
        constant = make(portal, "flat", "Nadir", LayerOptions(tags=("roads", "2026"), summary="Road survey",
                                                             elevation_source=ElevationSource(constant_m=212.5)))
        item = portal.item(constant.item_id)
        assert item["tags"] == ["Oriented Imagery", "XPGEO", "roads", "2026"] and item["snippet"] == "Road survey"
        props = portal.layer("flat")["orientedImageryInfo"]["orientedImageryProperties"]
        assert props["elevationSource"] == {"constantElevation": 212.5}
        url = "https://elevation3d.arcgis.com/arcgis/rest/services/WorldElevation3D/Terrain3D/ImageServer"
        make(portal, "dem", options=LayerOptions(elevation_source=ElevationSource(service_url=url)))
        props = portal.layer("dem")["orientedImageryInfo"]["orientedImageryProperties"]
        assert props["elevationSource"] == {"url": url}
        assert "elevationSource" not in schema.oriented_imagery_properties(None)  # only where the user gives one


def test_title_is_the_name_as_typed():
    with PortalEmulator() as portal:
        created = make(portal, "Site Survey 1")
        assert created.layer_name == "Site_Survey_1"
        assert portal.item(created.item_id)["title"] == "Site Survey 1"


def test_an_item_answer_without_typekeywords_does_not_erase_them():
    with PortalEmulator() as portal:
        handler = portal.httpd.RequestHandlerClass
        original = handler._sharing

        def hide_keywords(self, sub, params, user):
            answer = original(self, sub, params, user)
            if sub.startswith("/content/items/") and isinstance(answer, dict) and "typeKeywords" in answer:
                answer = {k: v for k, v in answer.items() if k != "typeKeywords"}
            return answer

        handler._sharing = hide_keywords
        created = make(portal, "walk")
        assert portal.item(created.item_id)["typeKeywords"] == HOSTED_KEYWORDS  # not rewritten, not erased
        assert "typeKeywords" not in portal.requests_to("update")[0].params
        assert any("lists no typeKeywords" in m for m in created.messages)


def test_a_share_that_does_not_hold_fails_and_cleans_up():
    with PortalEmulator() as portal:
        handler = portal.httpd.RequestHandlerClass
        handler._item_share = lambda self, item, params: {"notSharedWith": [], "itemId": item["id"]}  # says yes, does nothing
        with pytest.raises(ServerError) as caught:
            make(portal, "walk", options=LayerOptions(sharing="public"))
        assert "did not hold: its access reads back as 'private'" in caught.value.message
        assert_nothing_left(portal)


# -- what follows the photos ---------------------------------------------------------------
def test_maximum_distance_follows_the_farthest_photo():
    """A DJI oblique photo (FarDistance 250 m) appended to a Horizontal layer (maximumDistance
    100 m) must be findable 175 m in front of its camera: maximumDistance grows to 250."""
    with PortalEmulator() as portal, ImageHost() as host:
        make(portal, "mixed")
        assert portal.layer("mixed")["orientedImageryInfo"]["orientedImageryProperties"]["maximumDistance"] == 100
        oblique = host.add("dji.jpg", make_jpeg(lat=47.6, lon=-122.3, alt=160.0, datetime_original="2026:03:01 10:00:00",
                                                dji={"GimbalYawDegree": 90.0, "GimbalPitchDegree": -45.0,
                                                     "GimbalRollDegree": 0.0, "RelativeAltitude": 60.0}))
        report = operations.append_images(settings_for(portal), "mixed", urls=[oblique])
        assert report.appended == 1, report.results
        feature = portal.features("mixed")[0]["attributes"]
        assert feature["OrientedImageryType"] == "Oblique" and feature["FarDistance"] == 250
        # every per-photo value the viewer reads is the photo's own, not the Horizontal layer's defaults
        for name in ("CameraPitch", "CameraHeight", "HorizontalFieldOfView", "VerticalFieldOfView", "NearDistance"):
            assert feature[name] is not None
        layer = portal.layer("mixed")
        props = layer["orientedImageryInfo"]["orientedImageryProperties"]
        assert props["maximumDistance"] >= 250 > 175 and layer["type"] == OI
        assert report.extra["maximumDistance"] == 250
        # a nearer photo later does not shrink it
        near = host.add("phone.jpg", make_jpeg(lat=47.6001, lon=-122.3, alt=20.0, heading=10.0,
                                               datetime_original="2026:03:01 10:01:00", offset_time_original="+00:00"))
        operations.append_images(settings_for(portal), "mixed", urls=[near])
        assert portal.layer("mixed")["orientedImageryInfo"]["orientedImageryProperties"]["maximumDistance"] == 250


def test_per_photo_values_come_from_the_photo_type():
    photo = schema.complete_photo({"OrientedImageryType": "Nadir", "CameraPitch": None, "CameraHeight": 42.0})
    assert photo["CameraPitch"] == 0 and photo["CameraHeight"] == 42.0 and photo["FarDistance"] == 150
    assert schema.complete_photo({"OrientedImageryType": None})["OrientedImageryType"] == schema.default_imagery_type()
    assert schema.maximum_distance(100, [30, None, 249.2]) == 250 and schema.maximum_distance(400, [250]) is None


def test_maximum_distance_is_not_invented_for_a_layer_without_oi_properties():
    from xpgeo_core.backends.portal.backend import PortalBackend
    from xpgeo_core.backends.portal.create import follow_appended

    with PortalEmulator() as portal:
        created = make(portal, "walk")
        with portal.lock:  # a layer without orientedImageryInfo (made by other tools)
            row = portal._rows("SELECT definition FROM layers WHERE service = 'walk'")[0]
            definition = json.loads(row["definition"])
            definition.pop("orientedImageryInfo")
            portal.db.execute("UPDATE layers SET definition = ? WHERE service = 'walk'", (json.dumps(definition),))
        with PortalBackend(settings_for(portal)) as backend:
            assert follow_appended(backend.client, created.service_url, 0, [500]) is None
        assert not portal.requests_to("updateDefinition")


def test_item_data_the_portal_already_holds_is_kept():
    with PortalEmulator() as portal:
        original = portal.item_data
        portal.item_data = lambda item_id: original(item_id) or {"layers": [{"id": 0, "popupInfo": {"title": "{Name}"}}]}
        created = make(portal, "walk")
        assert original(created.item_id) == {"layers": [{"id": 0, "popupInfo": {"title": "{Name}"},
                                                         "layerType": "OrientedImageryLayer"}]}


def test_read_back_tolerates_what_a_server_may_normalise():
    sent = {"imagePathPrefix": "", "cameraHeading": -999, "maximumDistance": 100, "timeIntervalUnit": "Days"}
    layer = {"type": OI, "orientedImageryInfo": {"orientedImageryProperties": {
        "cameraHeading": -999.0, "maximumDistance": 100.0, "timeIntervalUnit": "Days"}}}
    assert schema.oi_problems(layer, sent) == []
    layer["orientedImageryInfo"]["orientedImageryProperties"]["timeIntervalUnit"] = "days"  # the JS API value
    assert schema.oi_problems(layer, sent) == ["orientedImageryProperties timeIntervalUnit did not keep the values sent"]
    assert schema.oi_problems({"type": "Feature Layer"}, sent) == [
        "its type is 'Feature Layer', not 'Oriented Imagery Layer'",
        "it has no orientedImageryInfo.orientedImageryProperties"]
