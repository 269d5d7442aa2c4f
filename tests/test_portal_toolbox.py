"""The portal backend through XPGEO.pyt and the fake arcpy: a user signed in to the
portal in ArcGIS Pro types nothing; the tools use Pro's token, its referer, its portal."""

from __future__ import annotations

import json

import pytest

from test_toolbox import _fresh_arcpy, pyt  # noqa: F401  (the toolbox fixtures: fresh fake arcpy, loaded .pyt)
from toolbox_harness import arcpy, run_tool
from emulators.image_host import ImageHost
from emulators.portal import API_KEY, USER, PortalEmulator
from portal_support import assert_no_secrets, feature_paths, synthetic_photos, write_list

PRO_REFERER = "https://pro.example.com/arcgis-pro"


@pytest.fixture
def portal():
    with PortalEmulator() as p:
        yield p


def sign_in(portal: PortalEmulator) -> str:
    """Play ArcGIS Pro signed in to the emulator: what GetSigninToken/GetActivePortalURL give."""
    token, expires = portal.issue_token(USER, PRO_REFERER, 120)
    arcpy.SIGNIN = {"token": token, "referer": PRO_REFERER, "expires": expires}
    arcpy.ACTIVE_PORTAL = portal.portal_url
    return token


def messages_text() -> str:
    return json.dumps(arcpy.MESSAGES) + json.dumps(arcpy.PROGRESS)


def test_pro_sign_in_runs_every_tool_with_nothing_typed(pyt, portal, tmp_path):
    token = sign_in(portal)
    out = run_tool(pyt, "HealthCheck", {})
    assert json.loads(out["out_versions"]) == {"currentVersion": "2024.1", "enterpriseVersion": "11.3.0",
                                               "enterpriseBuild": "51575"}
    assert any(text.startswith("Portal response:") and "ArcGIS Pro sign-in" in text for _, text in arcpy.MESSAGES)

    created = run_tool(pyt, "CreateOrientedImageryLayer", {"layer_name": "pro walk", "imagery_type": "360"})
    assert created["out_layer_name"] == "pro_walk"
    assert created["out_service_url"].endswith("/Hosted/pro_walk/FeatureServer")
    assert portal.layer("pro_walk")["orientedImageryInfo"]["orientedImageryProperties"]["orientedImageryType"] == "360"

    with ImageHost() as host:
        urls = synthetic_photos(host, 5)
        result = run_tool(pyt, "AppendImages", {"layer_name": "pro_walk", "url_file": write_list(tmp_path, urls)})
        assert result["out_appended_count"] == 5 and result["out_failed_count"] == 0
        single = run_tool(pyt, "AppendImage", {"layer_name": "pro_walk", "image_url": urls[0]})
        assert single["out_appended_count"] == 0
        assert json.loads(single["out_report"])["skipped"] == 1
    assert feature_paths(portal, "pro_walk") == urls

    assert not portal.requests_to("generateToken")
    assert {r.headers.get("X-Esri-Authorization") for r in portal.state.requests} == {"Bearer " + token}
    assert {r.headers.get("Referer") for r in portal.state.requests} == {PRO_REFERER}
    assert "GetSigninToken" in arcpy.CALLS and "GetActivePortalURL" in arcpy.CALLS
    assert_no_secrets(portal, messages_text(), extra=[token])


def test_configured_api_key_wins_over_pro_sign_in(pyt, portal):
    sign_in(portal)
    run_tool(pyt, "HealthCheck", {"api_key": API_KEY, "portal_url": portal.portal_url})
    assert {r.headers.get("X-Esri-Authorization") for r in portal.state.requests} == {"Bearer " + API_KEY}
    assert API_KEY not in messages_text()


def test_user_without_rights_fails_the_tool_before_any_work(pyt, portal):
    sign_in(portal)
    portal.state.user_can_publish = False
    with pytest.raises(arcpy.ExecuteError, match="publishFeatures"):
        run_tool(pyt, "CreateOrientedImageryLayer", {"layer_name": "nope"})
    assert not portal.requests_to("createService")
    assert "Traceback" not in messages_text()


def test_expired_pro_sign_in_is_a_clear_error(pyt, portal):
    token = sign_in(portal)
    portal.expire_tokens()
    with pytest.raises(arcpy.ExecuteError, match="Invalid token"):
        run_tool(pyt, "HealthCheck", {})
    assert "Sign in to the portal again in ArcGIS Pro" in messages_text()
    assert token not in messages_text()


def test_pro_photo_folder_goes_up_as_attachments(pyt, portal, tmp_path):
    """Issue 15 item 1 in ArcGIS Pro: the Photo folder (and photo files in the list) work with the portal once
    Photos as attachments is ticked; without it the dialog says what to tick."""
    from test_portal_attachments import assert_each_photo_attached_once, sd_card
    from toolbox_harness import validate

    sign_in(portal)
    paths = sd_card(tmp_path / "card", count=2)
    folder = str(tmp_path / "card")
    portal_only = {"backend": "Portal"}
    _, params, flagged = validate(pyt, "AppendImages", {"layer_name": "pro_card", "photo_folder": folder,
                                                        **portal_only})
    assert "Upload photos as attachments" in flagged["photo_folder"]
    assert {p.name: p.enabled for p in params}["photo_folder"] is False
    _, params, flagged = validate(pyt, "AppendImages", {"layer_name": "pro_card", "photo_folder": folder,
                                                        "attachments": True, **portal_only})
    assert not flagged and {p.name: p.enabled for p in params}["photo_folder"] is True

    created = run_tool(pyt, "CreateOrientedImageryLayer", {"layer_name": "pro_card", "attachments": True,
                                                           **portal_only})
    assert portal.layer(created["out_layer_name"])["hasAttachments"] is True
    result = run_tool(pyt, "AppendImages", {"layer_name": "pro_card", "photo_folder": folder, "attachments": True,
                                            **portal_only})
    assert result["out_appended_count"] == 2 and result["out_failed_count"] == 0
    again = run_tool(pyt, "AppendImage", {"layer_name": "pro_card", "image_url": str(paths[0]), "attachments": True,
                                          **portal_only})
    assert json.loads(again["out_report"])["skipped"] == 1
    assert_each_photo_attached_once(portal, "pro_card", paths)
    assert "file on this machine" not in messages_text()  # the portal serves attachments: no viewer warning
