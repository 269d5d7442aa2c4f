"""The one image pipeline: identity, one pass, one loop, and the inputs that used to crash."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from emulators.xpgeo_server import FakeXpgeoServer
from local_support import PhotoServer, local_settings, read_layer, sample_files
from xpgeo_core import operations
from xpgeo_core.errors import ConfigError
from xpgeo_core.pipeline import gather
from xpgeo_core.settings import load_settings
from xpgeo_core.image_lists import read_list_file
from test_xpgeo_cli import run, write_list


def test_one_identity_credentials_and_signatures_never_in_the_key_query_never_shown():
    image = gather([(3, "  https://u:p%40ss@host.example/a.jpg?X-Amz-Signature=abc123  ")]).images[0]
    assert image.fetch_url == "https://u:p%40ss@host.example/a.jpg?X-Amz-Signature=abc123"
    assert image.image_path == "https://host.example/a.jpg"
    assert image.display == "https://host.example/a.jpg"
    assert image.line == 3


def test_de_duplicated_on_the_image_path_not_the_raw_text():
    gathered = gather([(1, "http://u:p@host/a.jpg"), (2, "http://host/a.jpg"), (3, "http://host/b.jpg")])
    assert [i.line for i in gathered.images] == [1, 3]
    assert [(repeat.line, first.line) for repeat, first in gathered.duplicates] == [(2, 1)]


def test_a_photo_listed_with_and_without_credentials_is_one_feature(tmp_path):
    with PhotoServer(sample_files(2)) as server:
        plain = server.url_for("street/P000.jpg")
        secret = plain.replace("http://", "http://crew:pw@")
        settings = local_settings(tmp_path)
        operations.create_layer(settings, "dup")
        report = operations.append_images(settings, "dup", urls=[secret, plain])
    assert report.appended == 1 and report.duplicates_removed == 1
    layer = read_layer(tmp_path / "layers" / "dup")
    assert [f["properties"]["ImagePath"] for f in layer["features"]] == [plain]


def test_list_lines_split_on_lf_crlf_cr_only(tmp_path):
    path = tmp_path / "l.txt"
    path.write_bytes("https://h/a.jpg\r\nhttps://h/b\u2028c.jpg\rhttps://h/d\x0ce.jpg\nhttps://h/f\x85g.jpg\n"
                     .encode("utf-8"))
    lines = read_list_file(str(path))
    assert [n for n, _ in lines] == [1, 2, 3, 4]
    gathered = gather(lines)
    assert [i.line for i in gathered.images] == [1]
    assert sorted(image.line for image, _ in gathered.malformed) == [2, 3, 4]  # never a cut URL sent


@pytest.mark.parametrize("value", ["0", "-5", "abc"])
def test_max_image_list_size_from_a_flag_is_a_clear_error(tmp_path, value):
    with FakeXpgeoServer() as server:
        env = {"XPGEO_REST_URL": server.url}
        path = write_list(tmp_path, ["https://photos.example.com/a.jpg"])
        code, out, err = run(["append-images", "--name=lyr", "--file", path, f"--max-image-list-size={value}"], env)
    assert code == 2, err
    assert "MAX_IMAGE_LIST_SIZE" in err or "max-image-list-size" in err
    assert "Unexpected error" not in err and "Traceback" not in err


@pytest.mark.parametrize("value", [0, -5, 2.5])
def test_a_number_from_a_tool_parameter_is_checked_like_text(value):
    with pytest.raises(ConfigError, match="MAX_IMAGE_LIST_SIZE"):
        load_settings({"max_image_list_size": value}, environ={})


def test_xpgeo_server_200_with_an_error_body_is_a_failure_and_not_remembered(tmp_path):
    with FakeXpgeoServer() as server:
        env = {"XPGEO_REST_URL": server.url, "XPGEO_RETRY_BACKOFF": "0"}
        run(["create-oi-layer", "--name=lyr"], env)
        server.state.error_body_calls = {1}
        path = write_list(tmp_path, ["https://photos.example.com/a.jpg", "https://photos.example.com/b.jpg"])
        code, out, _ = run(["--json", "append-images", "--name=lyr", "--file", path], env)
        doc = json.loads(out)
        assert code == 1 and doc["failed"] == 2 and doc["appended"] == 0
        assert all("error" in r["reason"] for r in doc["results"])
        code, out, _ = run(["--json", "append-images", "--name=lyr", "--file", path], env)
        assert code == 0 and json.loads(out)["appended"] == 2  # the rerun sends them: nothing was skipped


def test_xpgeo_server_warns_that_it_decides_the_imagery_type(tmp_path, caplog):
    with FakeXpgeoServer() as server:
        env = {"XPGEO_REST_URL": server.url}
        run(["create-oi-layer", "--name=lyr"], env)
        path = write_list(tmp_path, ["https://photos.example.com/a.jpg"])
        code, out, err = run(["append-images", "--name=lyr", "--file", path, "--imagery-type", "Oblique"], env)
    assert code == 0
    assert "decides each photo's imagery type itself" in err


def test_one_photo_spelled_several_ways_is_one_image():
    """Scheme and host are case-insensitive and a fragment is never sent: one photo, one feature."""
    gathered = gather([(1, "http://photos.example.com/a.jpg"), (2, "HTTP://Photos.EXAMPLE.com/a.jpg"),
                       (3, "http://photos.example.com/a.jpg#view"), (4, "http://photos.example.com/A.jpg"),
                       (5, "https://U:P@Photos.example.com/a.jpg?X-Amz-Signature=Ab")])
    assert [i.line for i in gathered.images] == [1, 4, 5]
    assert [d.line for d, _ in gathered.duplicates] == [2, 3]
    assert gathered.images[2].fetch_url == "https://U:P@photos.example.com/a.jpg?X-Amz-Signature=Ab"
    assert gathered.images[2].image_path == "https://photos.example.com/a.jpg"  # no signature: a secret that expires


def test_a_line_with_control_characters_is_shown_escaped(tmp_path):
    """A terminal escape or a line separator in a list line is shown, not acted on or hidden."""
    gathered = gather([(1, "http://h.example/a.jpg\x1b[2J"), (2, "http://h.example/b\u2028c.jpg")])
    assert [(image.display, reason.startswith("Malformed")) for image, reason in gathered.malformed] == [
        ("http://h.example/a.jpg\\x1b[2J", True), ("http://h.example/b\\u2028c.jpg", True)]
    env = {"XPGEO_BACKEND": "local", "XPGEO_OUTPUT_DIR": str(tmp_path / "layers")}
    assert run(["create-oi-layer", "--name=ctl"], env)[0] == 0
    code, out, err = run(["append-images", "--name=ctl", "--file",
                          write_list(tmp_path, ["http://h.example/a.jpg\x1b[2J"])], env)
    assert code == 1 and "\x1b" not in out + err and "a.jpg\\x1b[2J" in out


def test_presigned_signatures_never_reach_the_log(tmp_path, caplog):
    with PhotoServer(sample_files(1)) as server:
        settings = local_settings(tmp_path)
        operations.create_layer(settings, "sig")
        signed = server.url_for("broken/no_gps.jpg") + "?X-Amz-Signature=deadbeefcafe"
        with caplog.at_level(logging.DEBUG, logger="xpgeo"):
            report = operations.append_images(settings, "sig", urls=[signed, signed.replace("no_gps", "nothere")])
    assert report.failed == 2
    assert "deadbeefcafe" not in caplog.text


def test_presigned_signatures_never_reach_the_summary_or_the_preview_failure_list(tmp_path):
    """A failed photo's signature has no place in the console summary or the preview's failure
    list (both are read by people; the layer holds no failed photo whose ImagePath needs it)."""
    with PhotoServer(sample_files(1)) as server:
        env = {"XPGEO_BACKEND": "local", "XPGEO_OUTPUT_DIR": str(tmp_path / "layers")}
        assert run(["create-oi-layer", "--name=sig"], env)[0] == 0
        signed = server.url_for("nothere.jpg") + "?X-Amz-Signature=deadbeefcafe"
        code, out, err = run(["append-images", "--name=sig", "--file", write_list(tmp_path, [signed])], env)
    assert code == 1
    assert "failed line 1: " + server.url_for("nothere.jpg") + ":" in out
    assert "deadbeefcafe" not in out + err
    failures = read_layer(tmp_path / "layers" / "sig")["preview_data"]["failures"]
    assert [f["line"] for f in failures] == [1] and "deadbeefcafe" not in json.dumps(failures)


def test_one_time_zone_summary_per_run(tmp_path, caplog):
    from xpgeo_core.sample_photos import make_jpeg

    files = {f"p{i}.jpg": make_jpeg(lat=45 + i / 1000, lon=4, datetime_original="2024:05:01 10:30:00")
             for i in range(5)}
    with PhotoServer(files) as server:
        settings = local_settings(tmp_path)
        operations.create_layer(settings, "tz")
        with caplog.at_level(logging.INFO, logger="xpgeo"):
            report = operations.append_images(settings, "tz", urls=server.urls())
    assert report.appended == 5
    lines = [r.getMessage() for r in caplog.records if "time zone unknown" in r.getMessage()
             and r.levelno >= logging.INFO]
    assert len(lines) == 1 and lines[0].startswith("5 photos")
