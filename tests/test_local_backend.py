"""The local backend: layer folder files, names, reruns, failures, health check."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time

import pytest

from local_support import ISO_DATE, local_settings, photo_server, read_layer  # noqa: F401 (fixture)
from xpgeo_core import operations, schema
from xpgeo_core.backends.local import LocalBackend
from xpgeo_core.backends.names import folder_name, taken_name_candidates
from xpgeo_core.errors import ConfigError, ValidationError
from xpgeo_core.results import APPENDED, FAILED, SKIPPED
from xpgeo_core.settings import IMAGERY_TYPES


def good_urls(server):
    return [server.url_for(n) for n in server.names if n.startswith("street/")]


def test_create_writes_an_empty_valid_layer(tmp_path):
    settings = local_settings(tmp_path)
    created = operations.create_layer(settings, "Survey 2024", "Oblique")
    assert created.backend == "local"
    assert created.layer_name == "Survey_2024" and created.renamed
    folder = tmp_path / "layers" / "Survey_2024"
    assert created.service_url == str(folder)
    files = read_layer(folder)
    item, layer = files["layer"]["item"], files["layer"]["layer"]
    assert item["id"] == created.item_id and re.fullmatch(r"[0-9a-f]{32}", item["id"])
    assert schema.OI_TYPE_KEYWORD in item["typeKeywords"]
    assert layer["name"] == "Survey_2024"
    assert [f["name"] for f in layer["fields"]] == schema.field_names()
    props = layer["orientedImageryInfo"]["orientedImageryProperties"]
    assert props["orientedImageryType"] == "Oblique"
    assert files["features"] == []
    assert files["csv"] == [schema.oi_table_columns()]
    assert files["preview_data"]["rows"] == []


def test_a_taken_name_gets_a_timestamp(tmp_path):
    settings = local_settings(tmp_path)
    first = operations.create_layer(settings, "walk")
    second = operations.create_layer(settings, "walk")
    third = operations.create_layer(settings, "walk")
    assert first.layer_name == "walk" and not first.renamed
    assert re.fullmatch(r"walk_\d{8}_\d{6}", second.layer_name)
    assert third.layer_name not in (first.layer_name, second.layer_name)
    assert len({first.item_id, second.item_id, third.item_id}) == 3


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="time.tzset is POSIX only")
def test_a_taken_name_is_stamped_in_utc_as_on_the_portal(tmp_path, monkeypatch):
    """One taken-name rule for every backend: UTC, whatever the machine's time zone (UTC+14 here,
    so a local-time stamp would differ by 14 hours, often by a day)."""
    monkeypatch.setenv("TZ", "Etc/GMT-14")
    time.tzset()
    try:
        settings = local_settings(tmp_path)
        operations.create_layer(settings, "walk")
        before = time.strftime("%Y%m%d_%H%M%S", time.gmtime())
        second = operations.create_layer(settings, "walk")
        after = time.strftime("%Y%m%d_%H%M%S", time.gmtime())
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    stamp = second.layer_name[len("walk_"):]
    assert before <= stamp <= after
    assert list(taken_name_candidates("walk", 0))[:3] == ["walk", "walk_19700101_000000", "walk_19700101_000000_2"]


@pytest.mark.parametrize("name, expected", [
    ("../../etc", "etc"), ("a/b\\c", "a_b_c"), ("C:\\x", "C_x"), ("CON", "CON_layer"), ("...", "layer"),
    ("Zürich Süd", "Zürich_Süd"), ("x" * 300, "x" * 100)])
def test_layer_names_never_leave_the_output_folder(tmp_path, name, expected):
    assert folder_name(name) == expected
    created = operations.create_layer(local_settings(tmp_path), name)
    assert (tmp_path / "layers" / created.layer_name / "layer.json").is_file()


def test_append_writes_features_csv_preview_and_report(tmp_path, photo_server):
    settings = local_settings(tmp_path, max_image_list_size=4)
    operations.create_layer(settings, "street")
    urls = [photo_server.url_for(n) for n in photo_server.names]
    seen = []
    report = operations.append_images(settings, "street", urls=urls, progress=seen.append)
    assert report.total == 8 and report.appended == 6 and report.failed == 2 and report.skipped == 0
    reasons = {r.url.rsplit("/", 1)[-1]: r.reason for r in report.failures()}
    assert set(reasons) == {"no_gps.jpg", "not_a_photo.jpg"}
    assert all(reasons.values())
    chunks = [(p.step, p.steps, p.total) for p in seen if p.kind == "chunk"]
    assert chunks == [(1, 2, 8), (2, 2, 8)] and seen[-1].done == 8
    assert [p.done for p in seen if p.kind == "image"] == list(range(1, 9))  # the progressor moves per image
    assert seen[-1].failed == 2

    files = read_layer(tmp_path / "layers" / "street")
    features = files["features"]
    assert [f["properties"]["ImagePath"] for f in features] == good_urls(photo_server)
    assert [f["id"] for f in features] == list(range(1, 7))
    first = features[0]
    assert first["geometry"]["coordinates"] == pytest.approx([4.835, 45.76, 100.0])
    assert first["properties"]["OrientedImageryType"] == "Horizontal"
    assert ISO_DATE.match(first["properties"]["AcquisitionDate"])
    assert set(first["properties"]) == set(schema.field_names())

    extent = files["layer"]["layer"]["extent"]
    xs = [f["geometry"]["coordinates"][0] for f in features]
    assert (extent["xmin"], extent["xmax"]) == (min(xs), max(xs))

    report_file = files["report"]
    assert report_file["appended"] == 6 and report_file["failed"] == 2
    assert {r["status"] for r in report_file["results"]} == {APPENDED, FAILED}


def test_csv_header_and_values_follow_the_oi_table_schema(tmp_path, photo_server):
    settings = local_settings(tmp_path)
    operations.create_layer(settings, "table")
    operations.append_images(settings, "table", urls=good_urls(photo_server))
    files = read_layer(tmp_path / "layers" / "table")
    header, rows = files["csv"][0], files["csv"][1:]
    assert header == schema.oi_table_columns()
    assert len(rows) == len(files["features"]) == 6
    numeric = {"X", "Y", "Z", "CameraHeading", "CameraPitch", "CameraRoll", "CameraHeight", "HorizontalFieldOfView",
               "VerticalFieldOfView", "NearDistance", "FarDistance", "ImageRotation"}
    for row, feature in zip(rows, files["features"]):
        record = dict(zip(header, row))
        lon, lat, z = feature["geometry"]["coordinates"]
        assert float(record["X"]) == pytest.approx(lon) and float(record["Y"]) == pytest.approx(lat)
        assert float(record["Z"]) == pytest.approx(z)
        assert record["SRS"] == "4326"
        assert record["ImagePath"] == feature["properties"]["ImagePath"]
        assert record["OrientedImageryType"] in IMAGERY_TYPES
        assert ISO_DATE.match(record["AcquisitionDate"])
        for column in numeric:
            if record[column] != "":
                float(record[column])
        for column, value in record.items():
            if column in feature["properties"]:
                expected = feature["properties"][column]
                assert value == ("" if expected is None else str(expected)), column


def test_rerun_skips_what_is_present_and_never_duplicates(tmp_path, photo_server):
    settings = local_settings(tmp_path, max_image_list_size=2)
    operations.create_layer(settings, "again")
    urls = good_urls(photo_server)
    operations.append_images(settings, "again", urls=urls[:3])
    report = operations.append_images(settings, "again", urls=urls)
    assert [r.status for r in report.results] == [SKIPPED] * 3 + [APPENDED] * 3
    assert report.skipped == 3 and report.appended == 3
    again = operations.append_images(settings, "again", urls=urls)
    assert again.skipped == 6 and again.appended == 0
    files = read_layer(tmp_path / "layers" / "again")
    paths = [f["properties"]["ImagePath"] for f in files["features"]]
    assert paths == urls and len(set(paths)) == 6
    assert [f["id"] for f in files["features"]] == list(range(1, 7))
    assert len(files["csv"]) == 7


def test_failed_images_are_retried_by_a_rerun_and_listed_in_the_preview(tmp_path, photo_server):
    settings = local_settings(tmp_path)
    operations.create_layer(settings, "fails")
    bad = photo_server.url_for("broken/no_gps.jpg")
    missing = photo_server.base_url + "street/nowhere.jpg"
    report = operations.append_images(settings, "fails", urls=[bad, missing])
    assert report.failed == 2 and report.appended == 0
    data = read_layer(tmp_path / "layers" / "fails")["preview_data"]
    assert [f["url"] for f in data["failures"]] == [bad, missing]
    assert all(f["reason"] for f in data["failures"])
    assert operations.append_images(settings, "fails", urls=[bad]).failed == 1  # not skipped: retried


def test_single_image_append(tmp_path, photo_server):
    settings = local_settings(tmp_path)
    operations.create_layer(settings, "one")
    report = operations.append_image(settings, "one", good_urls(photo_server)[0])
    assert report.appended == 1
    assert operations.append_image(settings, "one", good_urls(photo_server)[0]).skipped == 1


def test_imagery_type_override_reaches_the_features(tmp_path, photo_server):
    settings = local_settings(tmp_path)
    operations.create_layer(settings, "typed")
    operations.append_images(settings, "typed", urls=good_urls(photo_server)[:2], imagery_type="inspection")
    features = read_layer(tmp_path / "layers" / "typed")["features"]
    assert {f["properties"]["OrientedImageryType"] for f in features} == {"Inspection"}


def test_append_to_a_missing_layer_says_where_it_looked(tmp_path, photo_server):
    with pytest.raises(ValidationError) as caught:
        operations.append_images(local_settings(tmp_path), "nope", urls=good_urls(photo_server))
    assert "nope" in caught.value.message and str(tmp_path / "layers") in caught.value.message
    assert "create-oi-layer" in caught.value.hint


def test_health_check_reports_folder_version_and_backend(tmp_path):
    settings = local_settings(tmp_path)
    operations.create_layer(settings, "listed")
    health = operations.health_check(settings)
    assert health.backend == "local"
    assert health.versions["backend"] == "local" and health.versions["xpgeoVersion"]
    assert health.details["output_dir"] == str(tmp_path / "layers")
    assert health.details["layers"] == ["listed"]
    assert "writable" in health.liveness_message


@pytest.mark.skipif(sys.platform == "win32" or (hasattr(os, "geteuid") and os.geteuid() == 0),
                    reason="permission bits do not stop root or Windows")
def test_health_check_fails_clearly_on_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(ConfigError) as caught:
            operations.health_check(local_settings(tmp_path, output_dir=str(folder)))
        assert "not writable" in caught.value.message and "XPGEO_OUTPUT_DIR" in caught.value.hint
    finally:
        folder.chmod(stat.S_IRWXU)


def test_an_output_folder_that_is_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError) as caught:
        operations.health_check(local_settings(tmp_path, output_dir=str(blocker / "sub")))
    assert "not writable" in caught.value.message


def test_auto_falls_back_to_local_with_nothing_configured(tmp_path):
    settings = local_settings(tmp_path, backend="auto")
    assert operations.health_check(settings).backend == "local"


def test_a_damaged_features_file_is_reported_not_overwritten(tmp_path, photo_server):
    settings = local_settings(tmp_path)
    operations.create_layer(settings, "damaged")
    path = tmp_path / "layers" / "damaged" / "features.geojson"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(Exception) as caught:
        operations.append_images(settings, "damaged", urls=good_urls(photo_server))
    assert "features.geojson" in str(caught.value)
    assert path.read_text(encoding="utf-8") == "{not json"


def test_report_json_has_one_result_per_url(tmp_path, photo_server):
    settings = local_settings(tmp_path)
    operations.create_layer(settings, "rep")
    urls = [photo_server.url_for(n) for n in photo_server.names]
    operations.append_images(settings, "rep", urls=urls)
    report = json.loads((tmp_path / "layers" / "rep" / "report.json").read_text(encoding="utf-8"))
    assert [r["url"] for r in report["results"]] == urls
    assert report["appended"] + report["failed"] + report["skipped"] == len(urls)


def test_backend_is_constructed_with_the_common_signature(tmp_path):
    backend = LocalBackend(local_settings(tmp_path), session=None, token_provider=None, portal_url=None)
    assert backend.name == "local" and backend.root == (tmp_path / "layers").resolve()


def test_toolbox_local_folder_uses_the_project_home_unless_a_folder_is_given(tmp_path, photo_server):
    from xpgeo_core.toolbox import run_tool

    home = tmp_path / "project"
    created = run_tool("CreateOrientedImageryLayer", {"layer_name": "pro", "backend": "Local folder"},
                       default_output_dir=str(home), environ={})
    assert created["out_layer_name"] == "pro" and created["out_item_id"]
    assert created["out_service_url"] == str((home / "pro").resolve())
    appended = run_tool("AppendImages", {"layer_name": created["out_layer_name"], "backend": "Local folder",
                                         "image_urls": ";".join(good_urls(photo_server))},
                        default_output_dir=str(home), environ={})
    assert appended["out_appended_count"] == 6 and appended["out_failed_count"] == 0
    assert json.loads(appended["out_report"])["extra"]["preview"].endswith("preview.html")
    chosen = tmp_path / "chosen"
    elsewhere = run_tool("CreateOrientedImageryLayer", {"layer_name": "pro", "backend": "Local folder",
                                                        "output_folder": str(chosen)},
                         default_output_dir=str(home), environ={})
    assert elsewhere["out_service_url"] == str((chosen / "pro").resolve())


def test_url_credentials_read_the_photo_but_reach_no_file_and_reruns_do_not_duplicate(tmp_path, photo_server, caplog):
    """user:password@ in a photo URL opens the photo, but no layer file, report or log keeps it."""
    settings = local_settings(tmp_path)
    operations.create_layer(settings, "private")
    url = good_urls(photo_server)[0].replace("http://", "http://ann:Pr1vate-pw@")
    with caplog.at_level("DEBUG", logger="xpgeo"):
        report = operations.append_images(settings, "private", urls=[url])
        assert report.appended == 1
        again = operations.append_images(settings, "private", urls=[url])
    assert again.skipped == 1 and again.appended == 0
    folder = tmp_path / "layers" / "private"
    layer = read_layer(folder)
    assert [f["properties"]["ImagePath"] for f in layer["features"]] == [good_urls(photo_server)[0]]
    for path in folder.iterdir():
        assert "Pr1vate-pw" not in path.read_text(encoding="utf-8", errors="replace"), path.name
    assert "Pr1vate-pw" not in caplog.text and "Pr1vate-pw" not in json.dumps(report.to_dict())
