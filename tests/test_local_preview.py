"""preview.html: what each camera covers (footprint.py), a self-contained offline page, data
matching the features, untrusted values inert, and what a person sees in a browser.

1. footprint geometry: exact numbers for known cameras;
2. static: the page has exactly Leaflet, our script and the data block, no event-handler
   attributes, no network reference but the basemap's tile template, a CSP pinning both
   scripts' hashes, Leaflet vendored and in the wheel, and the embedded JSON round-trips;
3. headless Chromium over the DevTools protocol (tests/chromium_support.py; skipped where
   absent, failing under CI): the map draws every camera and shape with the tiles failing
   offline, a click lists the photos that cover the spot in footprint.py's order, and a
   hostile layer runs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chromium_support import Browser, needs_chromium
from local_support import local_settings, parse_page, photo, read_layer
from xpgeo_core import operations
from xpgeo_core.backends.local import feature_from_attributes
from xpgeo_core.demo.server import PhotoServer
from xpgeo_core.preview import embed_json, render_preview, save_photo_copies
from xpgeo_core.preview.footprint import (best_first, camera_view, contains, ground_footprint, to_lonlat,
                                          to_metres, view_cone)
from xpgeo_core.preview.preview import (BASEMAP, LEAFLET_VERSION, content_security_policy, leaflet_css, leaflet_script,
                                        photo_source)
from xpgeo_core.sample_photos import make_jpeg

ROOT = Path(__file__).resolve().parents[1]
PREVIEW_DIR = ROOT / "xpgeo_core" / "preview"
PAYLOAD = "<script>document.body.setAttribute('data-pwned','1')</script>"
IMG_PAYLOAD = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"


def features_like_demo(count: int):
    features = []
    types = ["Horizontal", "Nadir", "Oblique", "360", "Inspection"]
    for i in range(count):
        kind = types[i % len(types)]
        attributes = {"X": 4.83 + (i % 100) * 1e-4, "Y": 45.76 + (i // 100) * 1e-4, "Z": 170.0,
                      "ImagePath": f"https://photos.example.com/p{i}.jpg", "Name": f"p{i}",
                      "AcquisitionDate": "2024-05-01T08:30:00Z", "CameraHeading": (i * 37) % 360,
                      "CameraPitch": 90, "HorizontalFieldOfView": 360 if kind == "360" else 65,
                      "FarDistance": 30, "OrientedImageryType": kind}
        features.append(feature_from_attributes(attributes, i + 1))
    return features


def hostile_features():
    attributes = {"X": 4.83, "Y": 45.76, "Z": None, "ImagePath": "https://h.example.com/" + PAYLOAD + ".jpg",
                  "Name": PAYLOAD + IMG_PAYLOAD, "AcquisitionDate": "</script><script>alert(1)</script>",
                  "CameraHeading": 10, "HorizontalFieldOfView": 60, "FarDistance": 20,
                  "OrientedImageryType": "\u2028" + PAYLOAD}
    return [feature_from_attributes(attributes, 1)]


HOSTILE_FAILURES = [{"url": "https://h.example.com/" + IMG_PAYLOAD, "reason": "-->" + PAYLOAD + "<!--", "line": 3}]


def scripts_of(page: str):
    return parse_page(page).scripts


def data_of(page: str) -> dict:
    return json.loads(scripts_of(page)[0][1])


def rounded(ring, digits=3):
    return [(round(x, digits) + 0.0, round(y, digits) + 0.0) for x, y in ring]


F35_24 = {"HorizontalFieldOfView": math.degrees(2 * math.atan(18 / 24)),  # 73.74 x 53.13 degrees
          "VerticalFieldOfView": math.degrees(2 * math.atan(12 / 24))}


# -- 1. footprint geometry -------------------------------------------------------------

def test_nadir_at_80_m_covers_120_by_80_m_under_the_camera():
    view = camera_view(dict(F35_24, OrientedImageryType="Nadir", CameraHeading=0, CameraPitch=0, CameraRoll=0,
                            CameraHeight=80, FarDistance=150))
    assert view.kind == "footprint"
    assert rounded(view.ring) == [(-60.0, 40.0), (60.0, 40.0), (60.0, -40.0), (-60.0, -40.0)]
    assert rounded([view.centre]) == [(0.0, 0.0)]
    assert view.reach == pytest.approx(math.hypot(60, 40))


def test_nadir_heading_turns_the_frame_clockwise():
    east = camera_view(dict(F35_24, OrientedImageryType="Nadir", CameraHeading=90, CameraPitch=0, CameraHeight=80,
                            FarDistance=150))
    assert rounded(east.ring) == [(40.0, 60.0), (40.0, -60.0), (-40.0, -60.0), (-40.0, 60.0)]
    turned = camera_view(dict(F35_24, OrientedImageryType="Nadir", CameraHeading=30, CameraPitch=0,
                              CameraHeight=80, FarDistance=150))
    top_right = turned.ring[1]  # the frame's top right corner: (60, 40) turned 30 degrees clockwise
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    assert top_right == pytest.approx((60 * c + 40 * s, -60 * s + 40 * c))


def test_oblique_at_45_degrees_is_a_trapezoid_ahead_of_the_camera():
    view = camera_view(dict(F35_24, OrientedImageryType="Oblique", CameraHeading=0, CameraPitch=45,
                            CameraHeight=60, FarDistance=250))
    # Near edge: 60 m x tan(45 - 26.57) = 20 m ahead; far edge: 60 m x tan(45 + 26.57) = 180 m ahead.
    far_left, far_right, near_right, near_left = view.ring
    assert far_left[1] == pytest.approx(180) and far_right[1] == pytest.approx(180)
    assert near_left[1] == pytest.approx(20) and near_right[1] == pytest.approx(20)
    # Half widths: the corner ray's sideways part times its distance along the ground.
    assert far_right[0] == pytest.approx(0.75 * 60 / (math.cos(math.radians(45)) - 0.5 * math.sin(math.radians(45))))
    assert near_right[0] == pytest.approx(0.75 * 60 / (math.cos(math.radians(45)) + 0.5 * math.sin(math.radians(45))))
    assert far_left[0] == pytest.approx(-far_right[0]) and near_left[0] == pytest.approx(-near_right[0])
    assert view.centre == pytest.approx((0, 60))  # the optical axis meets the ground 60 m ahead


def test_oblique_above_the_horizon_is_cut_at_the_far_distance():
    view = camera_view(dict(F35_24, OrientedImageryType="Oblique", CameraHeading=90, CameraPitch=75,
                            CameraHeight=60, FarDistance=250))
    distances = [math.hypot(x, y) for x, y in view.ring]
    assert max(distances) == pytest.approx(250)
    assert all(x > 0 for x, _ in view.ring), "the whole footprint is east of a camera looking east"
    near = min(x for x, _ in view.ring)
    assert near == pytest.approx(60 * math.tan(math.radians(75 - 26.565051)), rel=1e-6)


def test_roll_tilts_the_footprint():
    level = camera_view(dict(F35_24, OrientedImageryType="Nadir", CameraHeading=0, CameraPitch=0, CameraHeight=80,
                             FarDistance=500))
    rolled = camera_view(dict(F35_24, OrientedImageryType="Nadir", CameraHeading=0, CameraPitch=0, CameraRoll=10,
                              CameraHeight=80, FarDistance=500))
    turned = camera_view(dict(F35_24, OrientedImageryType="Nadir", CameraHeading=10, CameraPitch=0,
                              CameraHeight=80, FarDistance=500))
    # Roll turns the frame about the optical axis: looking straight down, that is a turn of the heading.
    assert rounded(level.ring) != rounded(rolled.ring) and rounded(rolled.ring) == rounded(turned.ring)
    assert rolled.centre == pytest.approx((0, 0))
    oblique = camera_view(dict(F35_24, OrientedImageryType="Oblique", CameraHeading=0, CameraPitch=45, CameraRoll=10,
                               CameraHeight=60, FarDistance=500))
    far_left, far_right = oblique.ring[0], oblique.ring[1]
    assert far_left[1] != pytest.approx(far_right[1])  # the far edge is no longer level
    assert oblique.centre == pytest.approx((0, 60))


def test_horizontal_photo_is_a_view_cone_to_its_far_distance():
    view = camera_view({"OrientedImageryType": "Horizontal", "CameraHeading": 90, "CameraPitch": 90,
                        "HorizontalFieldOfView": 60, "FarDistance": 50})
    assert view.kind == "cone"
    assert view.ring[0] == (0.0, 0.0)
    assert view.ring[1] == pytest.approx((50 * math.sin(math.radians(60)), 50 * math.cos(math.radians(60))))
    assert view.ring[-1] == pytest.approx((50 * math.sin(math.radians(120)), 50 * math.cos(math.radians(120))))
    assert len(view.ring) == 2 + 60 // 5
    assert all(math.hypot(x, y) == pytest.approx(50) for x, y in view.ring[1:])
    assert view.centre == pytest.approx((25, 0))


def test_360_and_unknown_heading_are_circles():
    pano = camera_view({"OrientedImageryType": "360", "HorizontalFieldOfView": 360, "FarDistance": 30})
    assert pano.kind == "circle" and pano.reach == 30 and len(pano.ring) == 72
    assert all(math.hypot(x, y) == pytest.approx(30) for x, y in pano.ring)
    unknown = camera_view({"OrientedImageryType": "Horizontal", "CameraHeading": -999, "FarDistance": 20})
    assert unknown.kind == "circle" and unknown.reach == 20
    nadir = camera_view(dict(F35_24, OrientedImageryType="Nadir", CameraPitch=0, CameraHeight=80, FarDistance=150))
    assert nadir.kind == "circle" and nadir.reach == pytest.approx(math.hypot(60, 40))


def test_layer_defaults_fill_missing_fields():
    defaults = {"orientedImageryType": "Nadir", "cameraPitch": 0, "cameraHeight": 100,
                "horizontalFieldOfView": F35_24["HorizontalFieldOfView"],
                "verticalFieldOfView": F35_24["VerticalFieldOfView"], "farDistance": 300}
    view = camera_view({"CameraHeading": 0}, defaults)
    assert rounded(view.ring) == [(-75.0, 50.0), (75.0, 50.0), (75.0, -50.0), (-75.0, -50.0)]


def test_point_in_polygon_and_best_first():
    square = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    assert contains(square, 0, 0) and not contains(square, 2, 0) and not contains(square, 0, 1.5)
    assert contains(view_cone(0, 90, 10), 0, 5) and not contains(view_cone(0, 90, 10), 0, -1)
    lon0, lat0 = -117.1826, 34.0556
    east, north = to_metres(lon0, lat0, *to_lonlat(lon0, lat0, 123.4, -56.7))
    assert (east, north) == pytest.approx((123.4, -56.7))
    nadir = camera_view(dict(F35_24, OrientedImageryType="Nadir", CameraHeading=0, CameraPitch=0, CameraHeight=80,
                             FarDistance=150))
    street = camera_view({"OrientedImageryType": "Horizontal", "CameraHeading": 0, "HorizontalFieldOfView": 60,
                          "FarDistance": 50})
    beside = to_lonlat(lon0, lat0, 30, 0)  # a nadir 30 m east of the spot, a street camera 20 m south of it
    below = to_lonlat(lon0, lat0, 0, -20)
    views = [("nadir", beside, nadir), ("street", below, street), ("far", to_lonlat(lon0, lat0, 500, 0), nadir)]
    assert best_first(views, lon0, lat0) == ["street", "nadir"]  # the spot is on the street camera's axis
    assert best_first(views, *to_lonlat(lon0, lat0, 30, 0)) == ["nadir"]  # right under the nadir camera


# -- 2. static -----------------------------------------------------------------------

def test_page_is_self_contained_and_offline():
    page = render_preview("demo", features_like_demo(25))
    parsed = parse_page(page)
    assert [attrs for attrs, _ in parsed.scripts] == [{"type": "application/json", "id": "xpgeo-data"}, {}, {}]
    assert not parsed.handlers
    assert "<link" not in page and "@import" not in page
    assert not re.search(r"url\((?!data:|#default#VML)", page), "every style sheet image is inlined"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.replace(leaflet_script(), "")), \
        "no external resource"
    ours = page.replace(leaflet_script(), "").replace(leaflet_css(), "").replace(parsed.scripts[0][1], "")
    assert not re.findall(r"https?://", ours), "our page and script name no address"
    assert json.loads(parsed.scripts[0][1])["basemap"]["url"] == BASEMAP["url"] == \
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png"  # the one address besides the photos
    code = parsed.scripts[2][1]
    assert "innerHTML" not in code and "outerHTML" not in code and "eval(" not in code
    assert "document.write" not in code and "insertAdjacentHTML" not in code
    assert "fetch(" not in code and "XMLHttpRequest" not in code


def test_leaflet_is_vendored_pinned_and_licensed():
    vendor = PREVIEW_DIR / "vendor" / "leaflet"
    assert (vendor / "LICENSE").read_text(encoding="utf-8").startswith("BSD 2-Clause License")
    assert f"Leaflet {LEAFLET_VERSION}," in (vendor / "leaflet.js").read_text(encoding="utf-8")[:200]
    assert f"leaflet@{LEAFLET_VERSION}" in (vendor / "README.md").read_text(encoding="utf-8")
    page = render_preview("demo", features_like_demo(2))
    assert scripts_of(page)[1][1] == leaflet_script() and "sourceMappingURL" not in page


def test_wheel_renders_the_preview_offline(tmp_path):
    """From a pip install: Leaflet and its icons ship in the wheel, the page comes out whole."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheel = next((tmp_path / "dist").glob("xpgeo-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "site")
    for name in ("leaflet.js", "leaflet.css", "LICENSE", "images/layers.png"):
        assert f"xpgeo_core/preview/vendor/leaflet/{name}" in names
    code = ("from xpgeo_core.preview import render_preview; import xpgeo_core.preview.preview as p; "
            "page = render_preview('w', []); print(p.__file__); print(len(page)); print('layers.png' in page)")
    run = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); {code}"],
                         cwd=str(tmp_path), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    where, size, icon_by_name = run.stdout.split()
    assert where.startswith(str(tmp_path / "site")) and int(size) > 100_000 and icon_by_name == "False"


def test_csp_allows_only_leaflet_and_our_script():
    page = render_preview("demo", features_like_demo(3))
    leaflet, code = scripts_of(page)[1][1], scripts_of(page)[2][1]
    digests = [base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() for s in (leaflet, code)]
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert f"script-src 'sha256-{digests[0]}' 'sha256-{digests[1]}';" in csp
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert content_security_policy(leaflet, code) == csp


def test_embedded_data_matches_the_features(tmp_path):
    features = features_like_demo(12)
    data = data_of(render_preview("demo", features, [{"url": "u", "reason": "r", "line": 2}]))
    assert data["layer"]["name"] == "demo" and data["layer"]["count"] == 12
    assert [xyz[:2] for xyz in data["xyz"]] == [f["geometry"]["coordinates"][:2] for f in features]
    for row, feature in zip(data["rows"], features):
        assert dict(zip(data["fields"], row)) == feature["properties"]
    assert data["failures"] == [{"url": "u", "reason": "r", "line": 2}]
    assert set(data["colours"]) == {"Horizontal", "Oblique", "Nadir", "360", "Inspection"}
    assert data["photos"] == [f["properties"]["ImagePath"] for f in features]


def test_embedded_views_are_footprint_py_to_a_tenth_of_a_metre():
    features = features_like_demo(10)
    data = data_of(render_preview("demo", features))
    for feature, (kind, ce, cn, reach, far, ring) in zip(features, data["views"]):
        view = camera_view(feature["properties"])
        assert kind == {"footprint": 0, "cone": 1, "circle": 2}[view.kind]
        assert (ce, cn, reach, far) == pytest.approx((*view.centre, view.reach, view.far), abs=0.051)
        expected = [] if view.kind == "circle" else [c for point in view.ring for c in point]
        assert ring == pytest.approx(expected, abs=0.051)


def test_photo_sources_work_offline_where_they_can(tmp_path):
    folder = tmp_path / "layer"
    (folder / "pics").mkdir(parents=True)
    (folder / "pics" / "a b.jpg").write_bytes(b"x")
    assert photo_source("https://h.example.com/a.jpg", folder) == "https://h.example.com/a.jpg"
    assert photo_source(str(folder / "pics" / "a b.jpg"), folder) == "pics/a%20b.jpg"
    assert photo_source(str(tmp_path / "elsewhere.jpg"), folder) == (tmp_path / "elsewhere.jpg").as_uri()
    assert photo_source("javascript:alert(1)", folder) is None and photo_source(None, folder) is None
    if sys.platform != "win32":
        assert photo_source(r"C:\Survey\a b.jpg", folder) == "file:///C:/Survey/a%20b.jpg"
    copies = save_photo_copies(folder, [("http://127.0.0.1:1/walk/p.jpg", "walk/p.jpg", b"jpeg")])
    assert copies == {"http://127.0.0.1:1/walk/p.jpg": "photos/walk/p.jpg"}
    assert (folder / "photos" / "walk" / "p.jpg").read_bytes() == b"jpeg"
    feature = feature_from_attributes({"X": 4.8, "Y": 45.7, "ImagePath": "http://127.0.0.1:1/walk/p.jpg"}, 1)
    assert data_of(render_preview("l", [feature], folder=folder))["photos"] == ["photos/walk/p.jpg"]
    with pytest.raises(ValueError):
        save_photo_copies(folder, [("u", "../escape.jpg", b"x")])


def test_layer_preview_matches_features_geojson(tmp_path):
    files = {f"p{i}.jpg": photo(45.76 + i * 1e-4, 4.83, heading=i * 90.0) for i in range(4)}
    with PhotoServer(files) as server:
        settings = local_settings(tmp_path)
        operations.create_layer(settings, "pv")
        operations.append_images(settings, "pv", urls=server.urls())
    layer = read_layer(tmp_path / "layers" / "pv")
    data = layer["preview_data"]
    assert len(data["rows"]) == len(layer["features"]) == 4
    for row, xyz, feature in zip(data["rows"], data["xyz"], layer["features"]):
        assert dict(zip(data["fields"], row)) == feature["properties"]
        assert xyz == feature["geometry"]["coordinates"]


def test_report_and_preview_list_every_rejected_line(tmp_path):
    """As the console does: malformed lines, unreachable photos and photos without GPS, each with its line."""
    files = {"good.jpg": photo(45.76, 4.83), "nogps.jpg": make_jpeg(make="x")}
    with PhotoServer(files) as server:
        lines = [server.url_for("good.jpg"), "not a url", "", "ftp://h/x.jpg", server.url_for("nogps.jpg"),
                 server.url_for("good.jpg"), server.base_url + "missing.jpg"]
        url_file = tmp_path / "urls.txt"
        url_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        settings = local_settings(tmp_path)
        operations.create_layer(settings, "rj")
        report = operations.append_images(settings, "rj", url_file=str(url_file))
    console = [(r.line, r.url) for r in report.failures()]
    assert [line for line, _ in console] == [2, 4, 5, 7]
    layer = read_layer(tmp_path / "layers" / "rj")
    saved = [(r["line"], r["url"]) for r in layer["report"]["results"] if r["status"] == "failed"]
    assert saved == console
    assert [(f["line"], f["url"]) for f in layer["preview_data"]["failures"]] == console
    assert layer["report"]["duplicates_removed"] == 1 and layer["report"]["appended"] == 1


def test_untrusted_values_cannot_leave_the_data_block():
    page = render_preview(PAYLOAD, hostile_features(), HOSTILE_FAILURES)
    parsed = parse_page(page)
    assert len(parsed.scripts) == 3 and not parsed.handlers
    assert parsed.tags.count("img") == 1  # ours only
    assert "<script>document" not in page and "<img src=x" not in page
    assert "\u2028" not in page and "</script><script>alert" not in page
    data = json.loads(parsed.scripts[0][1])
    assert data["rows"][0][data["fields"].index("Name")] == PAYLOAD + IMG_PAYLOAD
    assert data["failures"][0]["reason"] == "-->" + PAYLOAD + "<!--"
    assert data["layer"]["name"] == PAYLOAD
    title = re.search(r"<title>(.*)</title>", page).group(1)
    assert "<" not in title


def test_embed_json_escapes_every_breaking_character():
    text = embed_json({"a": "</script><!-- & \u2028 \u2029 >"})
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == {"a": "</script><!-- & \u2028 \u2029 >"}


def test_template_markers_in_values_are_not_expanded():
    page = render_preview("{{DATA}}{{SCRIPT}}{{LEAFLET}}", features_like_demo(1))
    assert len(scripts_of(page)) == 3
    assert "{{DATA}}" in data_of(page)["layer"]["name"]


def test_ten_thousand_photos_stay_compact():
    page = render_preview("big", features_like_demo(10_000))
    assert len(page) < 8_000_000
    assert len(data_of(page)["rows"]) == 10_000


# -- 3. Chromium ---------------------------------------------------------------------

def open_page(browser: Browser, path: Path):
    page = browser.open(path.as_uri())
    page.wait_for("document.body.dataset.ready === '1'")
    return page


@pytest.mark.parametrize("count", [50, 10_000])
@needs_chromium
def test_browser_draws_every_camera_and_shape_with_the_tiles_failing_offline(tmp_path, count):
    from PIL import Image

    path = tmp_path / "preview.html"
    path.write_text(render_preview("demo", features_like_demo(count)), encoding="utf-8")
    with Browser() as browser:
        page = open_page(browser, path)
        assert page.evaluate("[document.body.dataset.drawn, document.body.dataset.views]") == [str(count)] * 2
        page.wait_for("document.body.dataset.basemap === 'offline'")  # the tiles failed, harmlessly
        assert page.evaluate("document.querySelectorAll('img.leaflet-tile-loaded').length") == 0
        shot = page.screenshot(tmp_path / "shot.png")
    image = Image.open(shot).convert("RGB")
    raw = image.tobytes()
    pixels = (raw[k:k + 3] for k in range(0, len(raw), 3))
    blue = sum(1 for px in pixels if abs(px[0] - 31) < 12 and abs(px[1] - 120) < 12 and abs(px[2] - 180) < 12)
    assert blue > 50, "Horizontal cameras (rgb 31,120,180) should be visible"


@needs_chromium
def test_browser_click_lists_the_photos_covering_the_spot_best_first(tmp_path):
    features = []
    lon0, lat0 = -117.1826, 34.0556
    cameras = [("nadir-here", 0, 0, dict(F35_24, OrientedImageryType="Nadir", CameraHeading=0, CameraPitch=0,
                                         CameraHeight=80, FarDistance=150)),
               ("nadir-east", 50, 0, dict(F35_24, OrientedImageryType="Nadir", CameraHeading=0, CameraPitch=0,
                                          CameraHeight=80, FarDistance=150)),
               ("street-south", 0, -20, {"OrientedImageryType": "Horizontal", "CameraHeading": 0,
                                         "HorizontalFieldOfView": 60, "FarDistance": 50}),
               ("pano-far", 300, 300, {"OrientedImageryType": "360", "HorizontalFieldOfView": 360,
                                       "FarDistance": 30})]
    for k, (name, east, north, extra) in enumerate(cameras, start=1):
        lon, lat = to_lonlat(lon0, lat0, east, north)
        features.append(feature_from_attributes(dict(extra, X=lon, Y=lat, Z=400.0, Name=name,
                                                     ImagePath=f"https://h.example.com/{name}.jpg"), k))
    path = tmp_path / "preview.html"
    path.write_text(render_preview("click", features), encoding="utf-8")
    spot = to_lonlat(lon0, lat0, 5, 10)
    views = [(f["properties"]["Name"], tuple(f["geometry"]["coordinates"][:2]), camera_view(f["properties"]))
             for f in features]
    expected = best_first(views, *spot)
    assert expected[:2] == ["nadir-here", "street-south"] and "pano-far" not in expected
    with Browser() as browser:
        page = open_page(browser, path)
        x, y = page.evaluate(f"(function () {{ var p = window.xpgeoMap.latLngToContainerPoint([{spot[1]}, {spot[0]}]);"
                             " var r = document.getElementById('map').getBoundingClientRect();"
                             " return [p.x + r.left, p.y + r.top]; })()")
        page.click(x, y)
        page.wait_for("document.querySelectorAll('#here-list li').length > 0")
        listed = page.evaluate("Array.prototype.map.call(document.querySelectorAll('#here-list li'),"
                               " function (li) { return li.textContent.split(' ')[0]; })")
        assert listed == expected
        assert page.text("#here-count") == str(len(expected))
        assert page.evaluate("document.body.dataset.selected") == "1"  # the best one opened
        assert page.evaluate("document.getElementById('photo').getAttribute('src')") == \
            "https://h.example.com/nadir-here.jpg"
        page.click(x + 600, y - 300)  # nowhere: the list says so
        page.wait_for("document.getElementById('here-count').textContent === '0'")
        assert "No photo" in page.text("#here-hint")


@needs_chromium
def test_browser_runs_no_injected_code(tmp_path):
    path = tmp_path / "preview.html"
    path.write_text(render_preview(PAYLOAD, hostile_features(), HOSTILE_FAILURES), encoding="utf-8")
    with Browser() as browser:
        page = open_page(browser, path)
        assert page.evaluate("document.body.dataset.drawn") == "1"
        assert page.evaluate("document.body.hasAttribute('data-pwned')") is False
        assert page.text("#title") == PAYLOAD
        assert "-->" + PAYLOAD + "<!--" in page.text("#failure-list")
        assert page.evaluate("document.querySelectorAll('script').length") == 3


def test_a_layer_built_from_hostile_photos_is_inert(tmp_path):
    """A <script> in a file name, a URL and an XMP field, through the real engine and backend."""
    evil_xmp = make_jpeg(lat=45.76, lon=4.83, alt=10.0, heading=5.0,
                         dji={"GimbalYawDegree": PAYLOAD, "RelativeAltitude": PAYLOAD},
                         gpano={"ProjectionType": PAYLOAD})
    files = {"<script>alert(1)</script>.jpg": photo(45.7601, 4.8301),
             "xmp.jpg": evil_xmp, "nogps<img src=x onerror=alert(1)>.jpg": make_jpeg(make="x")}
    with PhotoServer(files) as server:
        urls = [server.base_url + "<script>alert(1)</script>.jpg", server.url_for("xmp.jpg"),
                server.base_url + "nogps<img src=x onerror=alert(1)>.jpg", server.base_url + "q?x=" + PAYLOAD]
        settings = local_settings(tmp_path)
        operations.create_layer(settings, "evil")
        report = operations.append_images(settings, "evil", urls=urls)
    assert report.total == 4
    layer = read_layer(tmp_path / "layers" / "evil")
    assert any("<script>" in (f["properties"]["ImagePath"] or "") for f in layer["features"])
    parsed = parse_page(layer["preview"])
    assert len(parsed.scripts) == 3 and not parsed.handlers and parsed.tags.count("img") == 1
    assert "<script>alert" not in layer["preview"] and "<img src=x" not in layer["preview"]


@needs_chromium
def test_browser_shows_a_local_photo_of_a_photo_folder_layer(tmp_path):
    """A local layer made from a photo folder: its preview loads the photos from disk."""
    import io

    from xpgeo_core.cli import main
    from xpgeo_core.demo import demo_photos

    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(dict(demo_photos())["walk/IMG_4101.jpg"])
    env = {"XPGEO_OUTPUT_DIR": str(tmp_path / "layers"), "XPGEO_BACKEND": "local"}
    out, err = io.StringIO(), io.StringIO()
    assert main(["create-oi-layer", "--name", "f"], stdout=out, stderr=err, environ=env) == 0, err.getvalue()
    assert main(["append-images", "--name", "f", "--photo-folder", str(folder)], stdout=out, stderr=err,
                environ=env) == 0, err.getvalue()
    preview = tmp_path / "layers" / "f" / "preview.html"
    assert data_of(preview.read_text(encoding="utf-8"))["photos"] == [(folder / "a.jpg").as_uri()]
    with Browser() as browser:
        page = open_page(browser, preview)
        x, y = page.evaluate("(function () { var d = JSON.parse(document.getElementById('xpgeo-data').textContent);"
                             " var p = window.xpgeoMap.latLngToContainerPoint([d.xyz[0][1], d.xyz[0][0]]);"
                             " var r = document.getElementById('map').getBoundingClientRect();"
                             " return [p.x + r.left, p.y + r.top]; })()")
        page.click(x, y)  # on the camera
        page.wait_for("document.body.dataset.photo === 'loaded' || document.body.dataset.photo === 'failed'")
        assert page.evaluate("document.body.dataset.photo") == "loaded"
