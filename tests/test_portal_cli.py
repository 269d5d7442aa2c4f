"""The portal backend end to end through the ``xpgeo`` command line, against the portal
emulator and a loopback photo host; the emulator's state is checked directly."""

from __future__ import annotations

import json
import re

import pytest

from emulators.image_host import ImageHost
from emulators.portal import VIEWER, PortalEmulator
from portal_support import (assert_no_secrets, feature_paths, key_env, run_cli, samples_dir, synthetic_photos,
                            user_env, write_list)
from xpgeo_core import schema


@pytest.fixture
def portal():
    with PortalEmulator() as p:
        yield p


@pytest.fixture
def host():
    with ImageHost() as h:
        yield h


def create(portal: PortalEmulator, name: str, *extra: str, env=None) -> dict:
    code, out, err = run_cli(["--json", "create-oi-layer", "--name", name, *extra], env or user_env(portal))
    assert code == 0, err
    return json.loads(out)


# -- health ---------------------------------------------------------------------------
def test_health_check_prints_portal_versions(portal):
    code, out, err = run_cli(["health-check"], user_env(portal))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Portal response: XPGEO Emulated Portal (ArcGIS Enterprise 11.3.0) is reachable; "
                               "signed in as xpgeo_user")
    assert lines[1] == ('Health check response: Validation response: '
                        '{"currentVersion":"2024.1","enterpriseVersion":"11.3.0","enterpriseBuild":"51575"}')
    token_calls = portal.requests_to("generateToken")
    assert len(token_calls) == 1 and token_calls[0].method == "POST"
    assert token_calls[0].params["client"] == "referer"
    referer = token_calls[0].params["referer"]
    later = [r for r in portal.state.requests if not r.path.endswith("generateToken")]
    assert later and all(r.headers.get("Referer") == referer for r in later)
    assert all(r.headers.get("X-Esri-Authorization", "").startswith("Bearer emu.") for r in later)
    assert_no_secrets(portal, out, err)


def test_health_check_json_on_arcgis_online_shape(portal):
    portal.state.enterprise_version = None
    portal.state.enterprise_build = None
    code, out, err = run_cli(["--json", "health-check"], key_env(portal))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["backend"] == "portal" and doc["versions"] == {"currentVersion": "2024.1"}
    assert doc["details"]["user"] == "xpgeo_user" and doc["details"]["auth"] == "API key"
    assert_no_secrets(portal, out, err)


def test_portal_is_chosen_automatically_without_an_xpgeo_server(portal):
    code, out, _ = run_cli(["health-check"], user_env(portal))
    assert code == 0 and out.startswith("Portal response:")


def test_user_without_publisher_rights_is_refused_before_any_work(portal):
    portal.state.user_can_publish = False
    code, out, err = run_cli(["create-oi-layer", "--name", "nope"], user_env(portal))
    assert code == 3
    assert "lacks the privilege(s) portal:publisher:publishFeatures" in err
    assert not portal.requests_to("createService") and not portal.requests_to("isServiceNameAvailable")
    code, _, err = run_cli(["health-check"], user_env(portal))
    assert code == 3 and "Publisher role" in err


def test_viewer_user_type_is_refused(portal):
    code, _, err = run_cli(["health-check"], user_env(portal, XPGEO_USERNAME=VIEWER))
    assert code == 3 and "viewerUT" in err and "Creator" in err


def test_wrong_password_is_an_auth_error_without_the_password(portal):
    code, out, err = run_cli(["health-check"], user_env(portal, XPGEO_PASSWORD="Wr0ng-pass-4242"))
    assert code == 3
    assert "Invalid username or password" in err
    assert "Wr0ng-pass-4242" not in out + err + portal.wire_text().split("password=")[0]
    assert_no_secrets(portal, out, err, extra=["Wr0ng-pass-4242"])


def test_missing_credentials_say_what_to_set(portal):
    code, _, err = run_cli(["--backend", "portal", "health-check"], {"XPGEO_PORTAL_URL": portal.portal_url})
    assert code == 2 and "CLIENT_ESRI_API_KEY" in err


# -- create ---------------------------------------------------------------------------
def test_create_builds_an_oriented_imagery_layer(portal):
    doc = create(portal, "survey_2026", "--imagery-type", "Nadir")
    assert doc["layer_name"] == "survey_2026" and not doc["renamed"]
    assert re.fullmatch(r"[0-9a-f]{32}", doc["item_id"])
    assert doc["service_url"] == f"{portal.base_url}/server/rest/services/Hosted/survey_2026/FeatureServer"

    layer = portal.layer("survey_2026")
    assert layer["type"] == "Oriented Imagery Layer"
    assert layer["geometryType"] == "esriGeometryPoint" and layer["hasZ"] is True
    assert [f["name"] for f in layer["fields"]] == schema.field_names()
    assert layer["orientedImageryInfo"] == {
        "orientedImageryProperties": schema.oriented_imagery_properties("Nadir")}
    assert layer["drawingInfo"]["renderer"]["field1"] == "OrientedImageryType"
    assert "Create" in layer["capabilities"]
    service = portal.service("survey_2026")
    assert service["spatialReference"]["wkid"] == 4326
    item = portal.item(doc["item_id"])
    assert "OrientedImageryLayer" in item["typeKeywords"] and "Hosted Service" in item["typeKeywords"]
    assert item["access"] == "org"
    # addToDefinition went to the admin endpoint and defined the OI layer itself; no patching afterwards
    add = portal.requests_to("addToDefinition")
    assert len(add) == 1 and "/rest/admin/services/" in add[0].path
    sent = json.loads(add[0].params["addToDefinition"])["layers"][0]
    assert sent["type"] == "Oriented Imagery Layer" and "orientedImageryInfo" in sent
    assert "zDefault" not in sent and "enableZDefaults" not in sent
    assert not portal.requests_to("updateDefinition")


def test_create_prints_the_reference_lines(portal):
    code, out, err = run_cli(["create-oi-layer", "--name=demo_20260406"], user_env(portal))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Starting layer creation for 'demo_20260406'..."
    response = json.loads(lines[1].split("Create layer response: ", 1)[1])
    assert response["serviceName"] == "demo_20260406" and response["serviceType"] == "Feature Service"
    assert response["layer"] == {"name": "demo_20260406", "id": 0}
    assert_no_secrets(portal, out, err)


def test_taken_name_gets_a_timestamp_and_bad_characters_are_cleaned(portal):
    portal.state.taken_names.add("site")
    doc = create(portal, "site")
    assert re.fullmatch(r"site_\d{8}_\d{6}", doc["layer_name"]) and doc["renamed"]
    assert portal.item_by_name(doc["layer_name"]) is not None
    assert any("taken" in m for m in doc["messages"])

    doc = create(portal, "my site-2026!")
    assert doc["layer_name"] == "my_site_2026"
    assert any("letters, digits and underscores" in m for m in doc["messages"])

    again = create(portal, "my_site_2026")  # now taken by the layer above
    assert again["layer_name"].startswith("my_site_2026_")
    assert len(portal.service_names()) == 3


def test_failed_create_is_rolled_back(portal):
    portal.state.faults = {"share": {1: "error500"}}
    code, _, err = run_cli(["create-oi-layer", "--name", "half"], user_env(portal))
    assert code == 4
    assert "was deleted; nothing was left on the portal" in err
    assert portal.items() == [] and portal.service_names() == []


def test_failed_rollback_says_exactly_what_exists(portal):
    portal.state.faults = {"share": {1: "error500"}, "delete": {1: "error500"}}
    code, _, err = run_cli(["create-oi-layer", "--name", "stuck"], user_env(portal))
    assert code == 4
    item = portal.item_by_name("stuck")
    assert item is not None
    assert "could NOT be deleted" in err and item["id"] in err and item["url"] in err


# -- append ---------------------------------------------------------------------------
def test_append_one_and_many_then_rerun_appends_nothing_new(portal, host, tmp_path):
    create(portal, "walk", "--imagery-type", "Horizontal")
    urls = synthetic_photos(host, 8)
    env = user_env(portal, XPGEO_BATCH_SIZE="3")

    code, out, err = run_cli(["append-image", "--name", "walk", "--image-url", urls[0]], env)
    assert code == 0, err
    assert "Append image response: true" in out
    assert "Appended 1, skipped 0 (already in the layer), failed 0 of 1 image(s) in layer 'walk'." in out

    listing = write_list(tmp_path, urls + [urls[2]])
    code, out, err = run_cli(["append-images", "--name", "walk", "--file", listing], env)
    assert code == 0, err
    assert "Appended 7, skipped 1 (already in the layer), failed 0 of 8 image(s) in layer 'walk'." in out
    assert "Removed 1 duplicate URL(s) from the list." in out
    assert "(chunk 3/3)" in err  # progress per batch of 3

    assert feature_paths(portal, "walk") == urls  # one feature per photo, in order
    sizes = [len(json.loads(r.params["features"])) for r in portal.requests_to("addFeatures")]
    assert sizes == [1, 3, 3, 1]
    first = portal.features("walk")[0]
    assert first["geometry"]["x"] == pytest.approx(-122.33) and first["geometry"]["y"] == pytest.approx(47.60)
    assert first["geometry"]["z"] == pytest.approx(50.0)
    assert first["attributes"]["AcquisitionDate"] == 1772388000000  # 2026-03-01 10:00 -08:00 in UTC ms
    assert first["attributes"]["Name"] == "p000" and first["attributes"]["OrientedImageryType"] == "Horizontal"

    layer_extent = portal.layer("walk")["extent"]
    assert layer_extent["xmin"] == pytest.approx(-122.33) and layer_extent["ymax"] == pytest.approx(47.607)
    item = portal.item_by_name("walk")
    assert item["extent"][0][0] == pytest.approx(-122.33) and item["extent"][1][1] == pytest.approx(47.607)

    code, out, err = run_cli(["--json", "append-images", "--name", "walk", "--file", listing], env)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["appended"] == 0 and doc["skipped"] == 8 and doc["failed"] == 0
    assert all(r["reason"] == "already in the layer (ImagePath)" for r in doc["results"])
    assert len(portal.features("walk")) == 8
    assert_no_secrets(portal, out, err)


def test_append_reports_unreadable_photos_and_missing_layer(portal, host, tmp_path):
    create(portal, "mixed")
    urls = synthetic_photos(host, 2)
    gone = host.add("gone.jpg", b"", status=404)
    no_gps = host.add("nogps.jpg", __import__("xpgeo_core.sample_photos", fromlist=["make_jpeg"]).make_jpeg(
        datetime_original="2026:01:01 00:00:00"))
    listing = write_list(tmp_path, urls + [gone, no_gps])
    code, out, err = run_cli(["--json", "append-images", "--name", "mixed", "--file", listing], user_env(portal))
    assert code == 1
    doc = json.loads(out)
    by_url = {r["url"]: r for r in doc["results"]}
    assert by_url[gone]["status"] == "failed" and "404" in by_url[gone]["reason"]
    assert by_url[no_gps]["status"] == "failed"
    assert feature_paths(portal, "mixed") == urls

    code, _, err = run_cli(["append-images", "--name", "no_such_layer", "--file", listing], user_env(portal))
    assert code == 2 and "Layer 'no_such_layer' was not found" in err


def test_layer_can_be_named_by_its_feature_server_url(portal, host):
    doc = create(portal, "by_url")
    url = synthetic_photos(host, 1)[0]
    code, out, err = run_cli(["append-image", "--name", doc["service_url"] + "/0", "--image-url", url],
                             user_env(portal))
    assert code == 0, err
    assert feature_paths(portal, "by_url") == [url]
    assert not portal.requests_to("search")
    assert portal.item(doc["item_id"])["extent"]  # the item was found from the service's serviceItemId


def test_token_expiring_mid_batch_is_refreshed_once_and_replayed(portal, host, tmp_path):
    create(portal, "tokens")
    urls = synthetic_photos(host, 6)
    before = len(portal.requests_to("generateToken"))
    portal.state.faults = {"addFeatures": {2: "expire_token"}}
    code, out, err = run_cli(["append-images", "--name", "tokens", "--file", write_list(tmp_path, urls)],
                             user_env(portal, XPGEO_BATCH_SIZE="2"))
    assert code == 0, err
    assert feature_paths(portal, "tokens") == urls
    assert len(portal.requests_to("generateToken")) - before == 2  # the run's own token, then one refresh
    assert len(portal.requests_to("addFeatures")) == 4  # 3 batches, the second replayed once
    assert_no_secrets(portal, out, err)


def test_rejected_token_is_not_retried_forever(portal):
    portal.state.faults = {"self": {1: "expire_token", 2: "expire_token", 3: "expire_token"}}
    code, _, err = run_cli(["health-check"], user_env(portal))
    assert code == 3 and "Invalid token" in err
    assert len(portal.requests_to("generateToken")) == 2
    assert len(portal.requests_to("self")) == 2


def test_one_failing_add_result_is_reported_per_image(portal, host, tmp_path):
    create(portal, "partial")
    urls = synthetic_photos(host, 5)
    portal.state.fail_image_paths = {"p003"}
    code, out, err = run_cli(["--json", "append-images", "--name", "partial", "--file", write_list(tmp_path, urls)],
                             user_env(portal))
    assert code == 1
    doc = json.loads(out)
    assert doc["appended"] == 4 and doc["failed"] == 1
    failed = [r for r in doc["results"] if r["status"] == "failed"]
    assert failed[0]["url"] == urls[3] and failed[0]["line"] == 4
    assert "Setting of Value for ImagePath failed" in failed[0]["reason"]
    assert feature_paths(portal, "partial") == urls[:3] + urls[4:]
    assert json.loads(portal.requests_to("addFeatures")[0].params["rollbackOnFailure"]) is False

    portal.state.fail_image_paths = set()  # the rerun adds only the missing one
    code, out, _ = run_cli(["append-images", "--name", "partial", "--file", write_list(tmp_path, urls)],
                           user_env(portal))
    assert code == 0 and "Appended 1, skipped 4" in out
    assert sorted(feature_paths(portal, "partial")) == sorted(urls)


def test_portal_going_down_mid_batch_reports_exactly_what_landed(portal, host, tmp_path):
    create(portal, "outage")
    urls = synthetic_photos(host, 7)
    portal.state.faults = {"addFeatures": {2: "down"}}
    code, out, err = run_cli(["--json", "append-images", "--name", "outage", "--file",
                              write_list(tmp_path, urls)], user_env(portal, XPGEO_BATCH_SIZE="2"))
    assert code == 1
    doc = json.loads(out)
    appended = [r["url"] for r in doc["results"] if r["status"] == "appended"]
    assert appended == feature_paths(portal, "outage") == urls[:2]
    reasons = {r["url"]: (r["status"], r["reason"]) for r in doc["results"] if r["status"] != "appended"}
    assert set(reasons) == set(urls[2:])
    assert reasons[urls[2]][0] == "unconfirmed"  # sent, answer lost, the layer could not be asked
    assert reasons[urls[2]][1].startswith("not confirmed: the portal stopped answering while this batch was sent")
    assert reasons[urls[6]] == ("failed", reasons[urls[6]][1])
    assert reasons[urls[6]][1].startswith("not sent: the portal stopped answering")
    assert any("extent could not be updated" in m for m in doc["messages"])

    portal.state.down = False  # back up: the rerun completes the layer without duplicates
    portal.state.faults = {}
    code, out, _ = run_cli(["append-images", "--name", "outage", "--file", write_list(tmp_path, urls)],
                           user_env(portal, XPGEO_BATCH_SIZE="2"))
    assert code == 0 and "Appended 5, skipped 2" in out
    assert feature_paths(portal, "outage") == urls


@pytest.mark.parametrize("faults,sends", [
    ({1: "drop_after"}, 1),  # saved, answer lost: a query finds them, nothing is sent twice
    ({1: "http500", 2: "error500"}, 3),  # a proxy's 500, then ArcGIS's error 500 body: retried
])
def test_transient_failures_are_retried_without_duplicates(portal, host, tmp_path, faults, sends):
    create(portal, "flaky")
    urls = synthetic_photos(host, 3)
    portal.state.faults = {"addFeatures": faults}
    code, out, err = run_cli(["append-images", "--name", "flaky", "--file", write_list(tmp_path, urls)],
                             user_env(portal))
    assert code == 0, err
    assert feature_paths(portal, "flaky") == urls
    assert len(portal.requests_to("addFeatures")) == sends


def test_batches_never_exceed_the_layers_max_record_count(portal, host, tmp_path):
    create(portal, "small_pages")
    with portal.lock:  # a portal whose layer pages at 2 records
        row = portal._rows("SELECT definition FROM layers WHERE service = 'small_pages'")[0]
        definition = json.loads(row["definition"])
        definition["maxRecordCount"] = 2
        portal.db.execute("UPDATE layers SET definition = ? WHERE service = 'small_pages'", (json.dumps(definition),))
    urls = synthetic_photos(host, 5)
    code, _, err = run_cli(["append-images", "--name", "small_pages", "--file", write_list(tmp_path, urls)],
                           user_env(portal))
    assert code == 0, err
    assert [len(json.loads(r.params["features"])) for r in portal.requests_to("addFeatures")] == [2, 2, 1]


def test_api_key_goes_in_a_header_only(portal, host, tmp_path):
    create(portal, "keyed", env=key_env(portal))
    urls = synthetic_photos(host, 2)
    code, out, err = run_cli(["append-images", "--name", "keyed", "--file", write_list(tmp_path, urls)],
                             key_env(portal))
    assert code == 0, err
    assert feature_paths(portal, "keyed") == urls
    assert not portal.requests_to("generateToken")
    for request in portal.state.requests:
        assert request.headers.get("X-Esri-Authorization") == "Bearer xpgeo_test_key"
        assert "token" not in request.params
    assert_no_secrets(portal, out, err)


def test_url_with_a_quote_is_found_on_rerun(portal, host, tmp_path):
    create(portal, "quotes")
    from xpgeo_core.sample_photos import make_jpeg

    url = host.add("q.jpg", make_jpeg(lat=1.0, lon=2.0)) + "?by=o'brien"
    for expected in ("Appended 1, skipped 0", "Appended 0, skipped 1"):
        code, out, err = run_cli(["append-image", "--name", "quotes", "--image-url", url], user_env(portal))
        assert code == 0, err
        assert expected in out
    assert feature_paths(portal, "quotes") == [url]


def test_url_credentials_are_not_stored_and_the_photo_is_found_on_rerun(portal, host, tmp_path):
    create(portal, "private")
    from xpgeo_core.sample_photos import make_jpeg

    url = host.add("p.jpg", make_jpeg(lat=1.0, lon=2.0))
    with_password = url.replace("http://", "http://ann:Pr1vate-pw@")
    for expected in ("Appended 1, skipped 0", "Appended 0, skipped 1"):
        code, out, err = run_cli(["append-image", "--name", "private", "--image-url", with_password],
                                 user_env(portal))
        assert code == 0, err
        assert expected in out and "Pr1vate-pw" not in out + err
    assert feature_paths(portal, "private") == [url]


@pytest.mark.skipif(samples_dir() is None, reason="../shared/samples is absent")
def test_append_real_sample_photos(portal, host, tmp_path, expected_samples):
    folder = samples_dir()
    create(portal, "samples")
    expected = {e["file"]: e for e in expected_samples["images"]}
    urls = {host.add(name, (folder / name).read_bytes()): name for name in sorted(expected)}
    code, out, err = run_cli(["--json", "append-images", "--name", "samples", "--file",
                              write_list(tmp_path, list(urls))], user_env(portal))
    doc = json.loads(out)
    placed = {f["attributes"]["ImagePath"]: f for f in portal.features("samples")}
    for url, name in urls.items():
        want = expected[name]
        result = next(r for r in doc["results"] if r["url"] == url)
        if want["has_gps"]:
            assert result["status"] == "appended", (name, result)
            got = placed[url]
            assert got["geometry"]["x"] == pytest.approx(want["X"], abs=1e-5)
            assert got["geometry"]["y"] == pytest.approx(want["Y"], abs=1e-5)
            assert got["attributes"]["OrientedImageryType"] == want["OrientedImageryType"]
        else:
            assert result["status"] == "failed" and url not in placed
    assert code == (0 if all(e["has_gps"] for e in expected.values()) else 1)
    assert len(placed) == sum(1 for e in expected.values() if e["has_gps"])
    assert_no_secrets(portal, out, err)
