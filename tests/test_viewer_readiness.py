"""The viewer-readiness check (issue 15 item 3): every append, ``xpgeo check-layer``, the Check Layer
tool, and the health check's sample URL, against real loopback photo hosts (CORS on, off, for the
wrong origin; http and https; 403 without credentials or without the signature; PNG and HEIC bytes)
and the portal emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import pytest

from certs import make_cert
from emulators.image_host import ImageHost
from emulators.portal import PortalEmulator
from portal_support import feature_paths, run_cli, user_env, write_list
from toolbox_harness import arcpy, load_toolbox, run_tool
from xpgeo_core.readiness import (ARCGIS_ONLINE, SAMPLE_PER_HOST, ViewerCheck, portal_target, web_origin)
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.sample_photos import make_jpeg
from xpgeo_core.settings import load_settings

PORTAL = "https://gis.example.com/portal"
ORIGIN = "https://gis.example.com"
TIFF = b"II*\x00\x08\x00\x00\x00" + bytes(56)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(56)
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(40)


def jpeg(i: int = 0) -> bytes:
    return make_jpeg(lat=47.60 + i * 0.001, lon=-122.33 + i * 0.001, alt=50.0, heading=(i * 37) % 360,
                     datetime_original="2026:03:01 10:%02d:00" % (i % 60), offset_time_original="-08:00",
                     make="XPGEO", model="Synthetic", focal_length_35mm=28, seed=i)


def settings(**extra):
    values = {"retries": 0, "timeout_seconds": 10}
    values.update(extra)
    return load_settings(values, environ={})


def kinds_of(check: ViewerCheck, url: str) -> List[str]:
    return sorted(i.kind for i in check.issues_of(Image.of(url).image_path) or [])


def probes(host: ImageHost) -> List:
    """The readiness probes the host saw (the header reads ask for 64 KiB, the probe for 64 bytes)."""
    return [r for r in host.requests if r.range in ("bytes=0-63", "bytes=0-0")]


@pytest.fixture(autouse=True)
def _fresh_arcpy():
    arcpy.reset()
    yield
    arcpy.reset()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("viewer-tls"))


# -- the origins ----------------------------------------------------------------------------

def test_origins_of_arcgis_online_enterprise_and_a_port():
    online = portal_target("https://acme.maps.arcgis.com", {"urlKey": "acme", "customBaseUrl": "maps.arcgis.com"})
    assert online.origins == (ARCGIS_ONLINE, "https://acme.maps.arcgis.com") and online.https
    assert portal_target("https://www.arcgis.com", {}).origins == (ARCGIS_ONLINE,)
    enterprise = portal_target("https://GIS.example.com:443/portal", {"urlKey": "x"})
    assert enterprise.origins == (ORIGIN,)
    assert web_origin("http://127.0.0.1:8080/portal/home") == "http://127.0.0.1:8080"


# -- each kind of failure, against a real host ------------------------------------------------

@pytest.mark.parametrize("cors, ready", [(True, True), ([ORIGIN], True), (False, False),
                                         ("https://other.example.com", False), (["https://other.example.com"], False)])
def test_cors_for_the_portal_origin(tls, cors, ready):
    ca, cert, key = tls
    with ImageHost(cors=cors, tls=(cert, key)) as host:
        url = host.add("a.jpg", jpeg())
        check = ViewerCheck(settings(ca_bundle=str(ca)), portal_target(PORTAL), mode="all")
        check.check([Image.of(url)])
        check.close()
        assert kinds_of(check, url) == ([] if ready else ["cors"])
        sent = probes(host)
        assert len(sent) == 1 and sent[0].headers.get("Origin") == ORIGIN
        assert "Authorization" not in sent[0].headers and "Cookie" not in sent[0].headers
    if not ready:
        summary = check.summary()
        rules = summary["cors_rules"][web_origin(url)]
        s3 = json.loads(rules[rules.index("["):rules.index("]\n") + 1])
        assert s3[0]["AllowedOrigins"] == [ORIGIN] and "GET" in s3[0]["AllowedMethods"]
        assert "az storage cors add" in rules and "--cors-file=cors.json" in rules


def test_an_s3_host_gets_the_s3_rule_only():
    from xpgeo_core.readiness import cors_rules

    origins = [ARCGIS_ONLINE, "https://acme.maps.arcgis.com"]
    rules = cors_rules("https://bucket.s3.eu-west-1.amazonaws.com/a.jpg", origins)
    assert json.loads(rules[rules.index("["):])[0]["AllowedOrigins"] == origins
    assert "az storage" not in rules
    assert "az storage cors add" in cors_rules("https://acct.blob.core.windows.net/c/a.jpg", [ARCGIS_ONLINE])
    assert '"origin"' in cors_rules("https://storage.googleapis.com/b/a.jpg", [ARCGIS_ONLINE])


def test_arcgis_online_second_origin_costs_one_byte_request_when_the_host_echoes():
    target = portal_target("https://acme.maps.arcgis.com", {"urlKey": "acme", "customBaseUrl": "maps.arcgis.com"})
    with ImageHost(cors=[ARCGIS_ONLINE]) as host:
        url = host.add("a.jpg", jpeg())
        check = ViewerCheck(settings(), target, mode="all")
        check.check([Image.of(url)])
        check.close()
        sent = probes(host)
    assert [r.headers.get("Origin") for r in sent] == [ARCGIS_ONLINE, "https://acme.maps.arcgis.com"]
    assert [r.range for r in sent] == ["bytes=0-63", "bytes=0-0"]
    found = check.issues_of(Image.of(url).image_path)
    assert [i.kind for i in found] == ["http", "cors"] and "https://acme.maps.arcgis.com" in found[1].message


def test_http_photos_for_an_https_portal_and_not_for_an_http_one():
    with ImageHost(cors=True) as host:
        url = host.add("a.jpg", jpeg())
        https_portal = ViewerCheck(settings(), portal_target(PORTAL), mode="all")
        https_portal.check([Image.of(url)])
        http_portal = ViewerCheck(settings(), portal_target("http://gis.example.com/portal"), mode="all")
        http_portal.check([Image.of(url)])
    assert kinds_of(https_portal, url) == ["http"] and "mixed content" in https_portal.issues[url][0].message
    assert kinds_of(http_portal, url) == []


@pytest.mark.parametrize("body, content_type, ready", [
    (PNG, "image/png", False), (HEIC, "image/heic", False), (TIFF, "image/tiff", True),
    (b"<MRF_META>\n<Raster>" + bytes(40), "application/xml", True), (PNG, "image/jpeg", False)])
def test_formats_from_the_bytes_not_the_name(body, content_type, ready):
    with ImageHost(cors=True) as host:
        url = host.add("photo.jpg", body, content_type=content_type)
        check = ViewerCheck(settings(), portal_target("http://portal.test/portal"), mode="all")
        check.check([Image.of(url)])
    assert kinds_of(check, url) == ([] if ready else ["format"])


def test_a_jpeg_served_as_octet_stream_is_ready():
    with ImageHost(cors=True) as host:
        url = host.add("a.jpg", jpeg(), content_type="binary/octet-stream")
        check = ViewerCheck(settings(), portal_target("http://portal.test/portal"), mode="all")
        check.check([Image.of(url)])
    assert kinds_of(check, url) == []


def test_credentials_signatures_and_private_photos():
    with ImageHost(cors=True) as host:
        private = host.add("private.jpg", jpeg(), auth="ann:pw").replace("http://", "http://ann:pw@")
        signed = host.add("signed.jpg", jpeg(), signed=True) + "?X-Amz-Signature=abc&X-Amz-Expires=60"
        denied = host.add("denied.jpg", jpeg(), status=403)
        public_signed = host.add("public.jpg", jpeg()) + "?X-Amz-Signature=abc"
        token = host.add("token.jpg", jpeg(), status=401) + "?token=TOKEN123"
        check = ViewerCheck(settings(), portal_target("http://portal.test/portal"), mode="all")
        check.check([Image.of(u) for u in (private, signed, denied, public_signed, token)])
        sent = probes(host)
    assert kinds_of(check, private) == ["credentials"]
    assert kinds_of(check, signed) == ["signed"] and kinds_of(check, token) == ["signed"]
    assert all("TOKEN123" not in r.path for r in sent)
    assert kinds_of(check, denied) == ["access"]
    assert kinds_of(check, public_signed) == []  # readable unsigned: the signature was not needed
    assert len(sent) == 5
    assert all("Authorization" not in r.headers and "x-amz-signature" not in r.path.lower() for r in sent)
    assert "attachments mode" in check.issues[Image.of(private).image_path][0].fix


def test_a_local_path_in_a_portal_layer_and_in_a_local_layer(tmp_path):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(jpeg())
    portal = ViewerCheck(settings(), portal_target(PORTAL), mode="all")
    portal.check([Image.of(str(photo))])
    assert kinds_of(portal, str(photo)) == ["local"] and "attachments mode" in portal.issues[str(photo)][0].fix
    from xpgeo_core.readiness import LOCAL_TARGET

    local = ViewerCheck(settings(), LOCAL_TARGET, mode="all")
    local.check([Image.of(str(photo))])
    assert local.issues_of(str(photo)) is None  # nothing to ask, nothing wrong


# -- on every append: the sample per host ------------------------------------------------------

@pytest.fixture
def portal():
    with PortalEmulator() as emulator:
        yield emulator


def local_env(tmp_path: Path, **extra: str) -> Dict[str, str]:
    env = {"XPGEO_BACKEND": "local", "XPGEO_OUTPUT_DIR": str(tmp_path / "layers"), "XPGEO_RETRY_BACKOFF": "0"}
    env.update(extra)
    return env


def with_origin(host: ImageHost) -> List:
    """The requests that asked the host for CORS (the header reads the check uses, and probes)."""
    return [r for r in host.requests if "Origin" in r.headers]


@pytest.mark.parametrize("mode, expected", [(None, (SAMPLE_PER_HOST, 2)), ("all", (10, 2)), ("off", (0, 0))])
def test_each_portal_append_checks_a_sample_per_host_from_its_header_reads(portal, tmp_path, mode, expected):
    with ImageHost(cors=True) as a, ImageHost(cors=True) as b:
        urls = [a.add(f"a{i}.jpg", jpeg(i)) for i in range(10)] + [b.add(f"b{i}.jpg", jpeg(20 + i)) for i in range(2)]
        env = user_env(portal)
        assert run_cli(["create-oi-layer", "--name", "s"], env)[0] == 0
        argv = ["--json", "append-images", "--name", "s", "--file", write_list(tmp_path, urls)]
        code, out, err = run_cli(argv + (["--check-viewer", mode] if mode else []), env)
        assert code == 0, err
        assert (len(with_origin(a)), len(with_origin(b))) == expected
        for host, count in ((a, 10), (b, 2)):  # each photo read once, and no second request for the check
            assert len(host.requests) == count and probes(host) == []
            assert all(r.range == "bytes=0-65535" for r in host.requests)
    document = json.loads(out)
    if mode == "off":
        assert "viewer_check" not in document
        return
    assert document["viewer_check"]["checked"] == sum(expected) and document["viewer_check"]["not_ready"] == 0
    assert sum(1 for r in document["results"] if r.get("viewer") == []) == sum(expected)


def test_an_xpgeo_server_append_probes_the_sample_itself(tmp_path):
    from emulators.xpgeo_server import FakeXpgeoServer

    with FakeXpgeoServer() as server, ImageHost(cors=True) as host:
        urls = [host.add(f"a{i}.jpg", jpeg(i)) for i in range(5)]
        env = {"XPGEO_REST_URL": server.url, "XPGEO_RETRY_BACKOFF": "0"}
        assert run_cli(["create-oi-layer", "--name", "s"], env)[0] == 0
        code, out, err = run_cli(["--json", "append-images", "--name", "s", "--file", write_list(tmp_path, urls)], env)
        assert code == 0, err
        sent = probes(host)
    assert len(sent) == SAMPLE_PER_HOST and all(r.range == "bytes=0-63" for r in sent)
    viewer = json.loads(out)["viewer_check"]
    assert viewer["origins"] == [] and viewer["https_required"] and "PORTAL_URL" in viewer["viewer"]
    assert viewer["not_ready"] == 5  # http photos (every one: that check needs no request), the portal is https


def test_a_local_append_checks_from_the_header_reads_too(tmp_path):
    with ImageHost(cors=False) as host:
        urls = [host.add(f"a{i}.jpg", jpeg(i)) for i in range(5)]
        env = local_env(tmp_path)
        run_cli(["create-oi-layer", "--name", "s"], env)
        assert run_cli(["append-images", "--name", "s", "--file", write_list(tmp_path, urls)], env)[0] == 0
        assert len(host.requests) == 5 and with_origin(host) == []  # the preview needs no CORS
    report = json.loads((tmp_path / "layers" / "s" / "report.json").read_text())
    assert report["viewer_check"]["checked"] == SAMPLE_PER_HOST and report["viewer_check"]["not_ready"] == 0


def test_a_rerun_checks_nothing_it_does_not_send(tmp_path):
    with ImageHost(cors=True) as host:
        urls = [host.add(f"a{i}.jpg", jpeg(i)) for i in range(4)]
        env = local_env(tmp_path)
        run_cli(["create-oi-layer", "--name", "s"], env)
        listing = write_list(tmp_path, urls)
        assert run_cli(["append-images", "--name", "s", "--file", listing], env)[0] == 0
        before = len(probes(host))
        assert run_cli(["append-images", "--name", "s", "--file", listing], env)[0] == 0
        assert len(probes(host)) == before


# -- portal layers: warnings, and --require-viewer-ready ----------------------------------------


def test_portal_append_warns_per_photo_with_the_cors_rule_and_appends(portal, tmp_path):
    with ImageHost(cors=False) as host:
        urls = [host.add(f"p{i}.jpg", jpeg(i)) for i in range(5)]
        env = user_env(portal)
        assert run_cli(["create-oi-layer", "--name", "walk"], env)[0] == 0
        code, out, err = run_cli(["--json", "append-images", "--name", "walk", "--file",
                                  write_list(tmp_path, urls)], env)
        assert code == 0, err
        origin = web_origin(portal.portal_url)
        assert [r.headers["Origin"] for r in with_origin(host)] == [origin] * SAMPLE_PER_HOST
    document = json.loads(out)
    assert document["appended"] == 5 and len(feature_paths(portal, "walk")) == 5
    flagged = [r for r in document["results"] if r.get("viewer")]
    assert len(flagged) == SAMPLE_PER_HOST and all(r["viewer"][0]["kind"] == "cors" for r in flagged)
    assert document["viewer_check"]["origins"] == [origin]
    assert err.count("Viewer: ") == SAMPLE_PER_HOST and '"AllowedOrigins"' in err and origin in err


def test_require_viewer_ready_sends_nothing_of_a_host_whose_sample_fails(portal, tmp_path):
    with ImageHost(cors=False) as bad, ImageHost(cors=True) as good:
        urls = [bad.add(f"p{i}.jpg", jpeg(i)) for i in range(5)] + [good.add("g.jpg", jpeg(9))]
        env = user_env(portal)
        run_cli(["create-oi-layer", "--name", "walk"], env)
        code, out, err = run_cli(["--json", "append-images", "--name", "walk", "--file", write_list(tmp_path, urls),
                                  "--require-viewer-ready"], env)
    document = json.loads(out)
    assert code == 1 and document["appended"] == 1 and document["failed"] == 5
    assert feature_paths(portal, "walk") == [urls[-1]]
    reasons = [r["reason"] for r in document["results"] if r["status"] == "failed"]
    assert sum(r.startswith("not viewer-ready") for r in reasons) == SAMPLE_PER_HOST
    assert sum(r.startswith("not sent (--require-viewer-ready)") for r in reasons) == 2


def test_require_viewer_ready_from_the_setting_fails_only_the_photo_with_its_own_problem(portal, tmp_path):
    with ImageHost(cors=True) as host:
        signed = host.add("s.jpg", jpeg(1), signed=True) + "?X-Amz-Signature=SIGVALUE123&X-Amz-Expires=600"
        urls = [signed] + [host.add(f"p{i}.jpg", jpeg(i + 2)) for i in range(4)]
        env = user_env(portal, XPGEO_REQUIRE_VIEWER_READY="true")
        run_cli(["create-oi-layer", "--name", "walk"], env)
        code, out, err = run_cli(["--json", "append-images", "--name", "walk", "--file", write_list(tmp_path, urls)],
                                 env)
    document = json.loads(out)
    assert code == 1 and document["appended"] == 4 and document["failed"] == 1
    failed = [r for r in document["results"] if r["status"] == "failed"][0]
    assert failed["viewer"][0]["kind"] == "signed" and "SIGVALUE123" not in json.dumps(document)


# -- check-layer ---------------------------------------------------------------------------------

def test_check_layer_on_a_local_layer(tmp_path):
    with ImageHost(cors=True) as host:
        urls = [host.add(f"a{i}.jpg", jpeg(i)) for i in range(4)]
        env = local_env(tmp_path, XPGEO_CHECK_VIEWER="off")
        run_cli(["create-oi-layer", "--name", "s"], env)
        assert run_cli(["append-images", "--name", "s", "--file", write_list(tmp_path, urls)], env)[0] == 0
        assert probes(host) == []
        host.photos["a2.jpg"].parts = (PNG,)  # replaced on the host after the append
        code, out, err = run_cli(["--json", "check-layer", "--name", "s", "--check-viewer", "all"], env)
    assert code == 0, err
    document = json.loads(out)
    assert document["photos"] == 4 and document["checked"] == 4 and document["not_ready"] == 1
    assert [r["url"] for r in document["results"] if r["issues"]] == [urls[2]]


def test_check_layer_on_a_portal_layer_pages_through_it_and_require_fails(portal, tmp_path):
    with ImageHost(cors=True) as host:
        urls = [host.add(f"p{i}.jpg", jpeg(i)) for i in range(7)]
        env = user_env(portal, XPGEO_BATCH_SIZE="3")
        run_cli(["create-oi-layer", "--name", "walk"], env)
        assert run_cli(["append-images", "--name", "walk", "--file", write_list(tmp_path, urls)], env)[0] == 0
        with portal.lock:
            portal.db.execute("UPDATE layers SET definition = json_set(definition, '$.maxRecordCount', 3)")
        code, out, err = run_cli(["check-layer", "--name", "walk", "--check-viewer", "all"], env)
        assert code == 0, err
        assert "Checked 7 of 7 photo(s)" in out
        host.cors = False
        code, out, err = run_cli(["--json", "check-layer", "--name", "walk", "--require-viewer-ready"], env)
    document = json.loads(out)
    assert code == 1 and document["photos"] == 7 and document["checked"] == SAMPLE_PER_HOST
    assert document["not_ready"] == SAMPLE_PER_HOST and not document["ok"]
    queries = [r for r in portal.requests_to("query") if "resultOffset" in r.body.decode()]
    assert len(queries) >= 3


def test_check_layer_of_an_xpgeo_server_layer_reads_it_through_its_portal(portal, tmp_path):
    with ImageHost(cors=[web_origin(portal.portal_url)]) as host:
        urls = [host.add(f"p{i}.jpg", jpeg(i)) for i in range(4)]
        env = user_env(portal)
        run_cli(["create-oi-layer", "--name", "walk"], env)
        assert run_cli(["append-images", "--name", "walk", "--file", write_list(tmp_path, urls)], env)[0] == 0
        server_env = dict(env, XPGEO_REST_URL="http://127.0.0.1:9")  # never asked: its API lists no photos
        code, out, err = run_cli(["--json", "check-layer", "--name", "walk", "--check-viewer", "all"], server_env)
        assert code == 0, err
        assert [r.headers.get("Origin") for r in probes(host)] == [web_origin(portal.portal_url)] * 4
    document = json.loads(out)
    assert document["backend"] == "xpgeo" and document["checked"] == 4 and document["not_ready"] == 0


def test_check_layer_of_an_xpgeo_server_layer_needs_its_portal(tmp_path):
    code, out, err = run_cli(["check-layer", "--name", "x", "--rest-url", "http://127.0.0.1:9"], {})
    assert code == 2 and "PORTAL_URL" in err


# -- the health check and the Pro tools -------------------------------------------------------------

def test_health_check_reports_the_sample_url(tmp_path):
    with ImageHost(cors=True) as host:
        good, bad = host.add("a.jpg", jpeg()), host.add("b.heic", HEIC, content_type="image/heic")
        env = local_env(tmp_path)
        code, out, err = run_cli(["health-check", "--sample-url", good], env)
        assert code == 0 and f"Viewer check of {good}" in out and out.rstrip().endswith("ready.")
        code, out, err = run_cli(["--json", "health-check", "--sample-url", bad], env)
    viewer = json.loads(out)["details"]["viewer"]
    assert code == 0 and not viewer["ready"] and viewer["issues"][0]["kind"] == "format"


def test_check_layer_pro_tool_warns_and_fails_when_required(tmp_path):
    pyt = load_toolbox()
    with ImageHost(cors=True) as host:
        urls = [host.add(f"a{i}.jpg", jpeg(i)) for i in range(3)] + [host.add("denied.jpg", jpeg(5))]
        common = {"backend": "Local folder", "output_folder": str(tmp_path / "layers")}
        run_tool(pyt, "CreateOrientedImageryLayer", dict(common, layer_name="pro"))
        appended = run_tool(pyt, "AppendImages", dict(common, layer_name="pro", image_urls=urls,
                                                      check_viewer="All photos"))
        assert appended["out_appended_count"] == 4
        assert [r["viewer"] for r in json.loads(appended["out_report"])["results"]] == [[], [], [], []]
        host.photos["denied.jpg"].status = 403
        arcpy.reset()
        out = run_tool(pyt, "CheckLayer", dict(common, layer_name="pro", check_viewer="All photos"))
        assert out["out_checked_count"] == 4 and out["out_problem_count"] == 1
        warnings = [text for severity, text in arcpy.MESSAGES if severity == "warning"]
        assert any("denied.jpg" in w and "HTTP 403" in w for w in warnings)
        assert json.loads(out["out_report"])["not_ready"] == 1
        arcpy.reset()
        with pytest.raises(arcpy.ExecuteError, match="not viewer-ready"):
            run_tool(pyt, "CheckLayer", dict(common, layer_name="pro", check_viewer="All photos",
                                             require_viewer_ready=True))
    errors = [text for severity, text in arcpy.MESSAGES if severity == "error"]
    assert any("denied.jpg" in e for e in errors) and not any("--require" in e for e in errors)


def test_health_check_pro_tool_with_a_sample_url(tmp_path):
    pyt = load_toolbox()
    with ImageHost(cors=True) as host:
        url = host.add("a.png", PNG, content_type="image/png")
        out = run_tool(pyt, "HealthCheck", {"backend": "Local folder", "output_folder": str(tmp_path),
                                            "sample_url": url})
    assert json.loads(out["out_versions"])["backend"] == "local"
    warnings = [text for severity, text in arcpy.MESSAGES if severity == "warning"]
    assert any(url in w and "PNG" in w for w in warnings)
    assert any("export the photo as JPEG" in w for w in warnings)


def test_check_layer_reports_progress_per_window_and_stops_on_cancel(tmp_path):
    from xpgeo_core import operations
    from xpgeo_core.errors import Cancelled

    with ImageHost(cors=True) as host:
        urls = [host.add(f"a{i}.jpg", jpeg(i)) for i in range(150)]
        layer_settings = load_settings({"backend": "local", "output_dir": str(tmp_path), "check_viewer": "off"},
                                       environ={})
        operations.create_layer(layer_settings, "many")
        assert operations.append_images(layer_settings, "many", urls=urls).appended == 150
        seen = []
        every = layer_settings.replace(check_viewer="all")
        report = operations.check_layer(every, "many", progress=seen.append)
        assert [(p.done, p.total, p.step, p.steps) for p in seen] == [(100, 150, 1, 2), (150, 150, 2, 2)]
        assert report.checked == 150 and len(probes(host)) == 150

        def cancel(_progress):
            raise Cancelled("Cancelled in ArcGIS Pro.")

        before = len(probes(host))
        with pytest.raises(Cancelled):
            operations.check_layer(every, "many", progress=cancel)
        assert len(probes(host)) - before == 100  # the second window was never asked


def test_a_photo_behind_a_cookie_set_on_a_redirect_is_not_viewer_ready(portal, tmp_path):
    """XPGEO's header read follows the redirect with its cookie (a bot check); the viewer's fetch keeps no
    cookie, so the check asks again without it, and says so."""
    with ImageHost(cors=True) as host:
        host.add("kept.jpg", jpeg(1), cookie="pass=1")
        gate = host.add("gate.jpg", status=302, location="/kept.jpg", set_cookie="pass=1")
        plain = host.add("plain.jpg", jpeg(2))
        env = user_env(portal)
        run_cli(["create-oi-layer", "--name", "walk"], env)
        code, out, err = run_cli(["--json", "append-images", "--name", "walk", "--file",
                                  write_list(tmp_path, [gate, plain])], env)
        assert code == 0, err
        asked_again = [r for r in probes(host) if r.path == "/gate.jpg"]
    document = json.loads(out)
    assert document["appended"] == 2
    by_url = {r["url"]: r.get("viewer") for r in document["results"]}
    assert [i["kind"] for i in by_url[gate]] == ["access"] and by_url[plain] == []
    assert len(asked_again) == 1 and "Cookie" not in asked_again[0].headers
