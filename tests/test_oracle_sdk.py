"""The ArcGIS Maps SDK for JavaScript (``@arcgis/core``, pinned in tests/oracles/sdk/package.json) opens
XPGEO's layers in headless Chromium: the oracle of issue 9 item 4 (portal) and item 5 (local backend).

Everything the browser fetches comes from loopback servers this module starts: the SDK's modules and
assets (tests/sdk_support.py), the portal emulator over https, the photo host. Every other request is
refused and must not have been needed: each browser session asserts that none was made.

What is checked, against the values XPGEO itself wrote:

* the layer opens as an ``OrientedImageryLayer`` from its portal item (the SDK's generic factory picks
  the class from the item) and from its layer URL, under each emulator rule where XPGEO makes one;
* every ``orientedImageryProperties`` key XPGEO wrote is read by the SDK's own service-JSON reader and
  written back unchanged by its web-map writer (so no key is misspelled, unknown or silently unset), and
  ``timeInfo`` is on ``AcquisitionDate``;
* a query gives back the photos' camera values and ImagePath as XPGEO computed them;
* a real click on the map in front of one camera makes the ``OrientedImageryViewer`` pick that photo
  and load it from the photo host;
* issue 15 item 1: a layer whose photos XPGEO uploaded as feature attachments (ImagePath ``FA``): a click in
  front of a camera makes the viewer ask ``queryAttachments`` and fetch that feature's attachment from the
  portal (and show it, where headless Chromium decodes it); its footprint layer is one polygon per photo
  keyed by the points' PhotoKey, each the viewer's coverage of that photo;
* item 5: a client-side ``OrientedImageryLayer`` built from the local backend's ``layer.json`` and
  ``features.geojson`` loads with the same properties and features, dates read as the same instants
  in a browser whose zone is not UTC.

Without Chromium, Node or the npm packages (``tests/oracles/install.sh``) these tests fail with the
reason under CI and skip with it elsewhere. One browser session per layer keeps the suite fast: the
tests below share their fixture's verdict.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List

import pytest
import requests

from certs import make_cert
from emulators.image_host import ImageHost
from emulators.portal import PASSWORD, USER, PortalEmulator
from local_support import local_settings
from portal_support import run_cli, user_env, write_list
from sdk_support import AssetServer, outcome, require_oracle, run_scenario
from xpgeo_core import footprints, operations
from xpgeo_core.preview.footprint import to_metres
from xpgeo_core.sample_photos import make_jpeg

# The per-photo values the SDK must give back as XPGEO wrote them.
CAMERA_FIELDS = ["ImagePath", "Name", "CameraHeading", "CameraPitch", "CameraRoll", "CameraHeight",
                 "HorizontalFieldOfView", "VerticalFieldOfView", "NearDistance", "FarDistance",
                 "OrientedImageryType", "ImageRotation", "AcquisitionDate", "SequenceId", "SequenceOrder"]
# The web-map JSON key of each OrientedImageryLayer property, where the SDK spells it differently.
SDK_KEY = {"referenceIdField": "referenceIDField"}
HEADINGS = [0.0, 90.0, 200.0]
LAT, LON = 47.6062, -122.3321
METRES_PER_DEGREE = 111_320.0


def photos(host: ImageHost) -> List[str]:
    """Three cameras 30 m apart along a street, each looking another way (north, east, south-south-west)."""
    urls = []
    for i, heading in enumerate(HEADINGS):
        data = make_jpeg(lat=LAT + i * 30 / METRES_PER_DEGREE, lon=LON, alt=50.0 + i, heading=heading,
                         datetime_original="2026:03:01 10:%02d:00" % i, offset_time_original="-08:00",
                         make="XPGEO", model="Synthetic", focal_length_35mm=28, seed=i)
        urls.append(host.add(f"cam{i}.jpg", data))
    return urls


def ahead_of(feature: Dict[str, Any], metres: float) -> Dict[str, float]:
    """The WGS84 point *metres* in front of a camera, along its heading."""
    x, y = feature["geometry"]["x"], feature["geometry"]["y"]
    heading = math.radians(feature["attributes"]["CameraHeading"])
    return {"x": x + metres * math.sin(heading) / (METRES_PER_DEGREE * math.cos(math.radians(y))),
            "y": y + metres * math.cos(heading) / METRES_PER_DEGREE}


def run_named(verdict: Dict[str, Any], name: str) -> Dict[str, Any]:
    run = outcome(verdict)[name]
    assert "error" not in run, f"the SDK failed in run {name!r}: {run['error']}\n{run.get('stack', '')}"
    return run


def loaded(verdict: Dict[str, Any], name: str) -> Dict[str, Any]:
    run = run_named(verdict, name)
    assert run["loadError"] is None, f"the SDK refused the layer ({name}): {run['loadError']}"
    return run


def assert_properties_read_back(written: Dict[str, Any], run: Dict[str, Any]) -> None:
    """Every key XPGEO wrote is known to the SDK, set on the layer, and written back as it was."""
    layer = run["layer"]
    read_back = (layer["webMapJSON"] or {}).get("orientedImageryProperties") or {}
    problems = []
    for key, value in written.items():
        sdk_key = SDK_KEY.get(key, key)
        if sdk_key not in layer["props"]:
            problems.append(f"{key}: not an OrientedImageryLayer property")
        elif layer["props"][sdk_key] is None and value is not None:
            problems.append(f"{key}: reads back as unset (wrote {value!r})")
        elif read_back.get(sdk_key) != value:
            problems.append(f"{key}: wrote {value!r}, the SDK writes back {read_back.get(sdk_key)!r}")
    assert not problems, "; ".join(problems)


def assert_features_match(sdk: List[Dict[str, Any]], expected: List[Dict[str, Any]]) -> None:
    """Same photos, same order (object id), the same camera values and position."""
    assert [f["attributes"]["ImagePath"] for f in sdk] == [f["attributes"]["ImagePath"] for f in expected]
    for got, want in zip(sdk, expected):
        for name in CAMERA_FIELDS:
            assert got["attributes"].get(name) == want["attributes"].get(name), (name, got, want)
        for axis in ("x", "y", "z"):
            assert got["geometry"][axis] == pytest.approx(want["geometry"][axis], abs=1e-7), (axis, got, want)


# -- the portal: XPGEO's create-oi-layer + append-images, then the SDK -----------------------------

class PortalLayer:
    """A layer XPGEO made on the https portal emulator, and what the SDK made of it."""

    def __init__(self, tmp: Path, rule: str, viewer: bool, cors: Any = True) -> None:
        self.tmp = tmp
        self.rule = rule
        self.viewer = viewer
        self.cors = cors  # the photo host's CORS knob (tests/emulators/image_host.py)

    def __enter__(self) -> "PortalLayer":
        ca, self.cert, key = make_cert(self.tmp)
        self.portal = PortalEmulator(tls=(str(self.cert), str(key)), layer_type_rule=self.rule).start()
        self.host = ImageHost(cors=self.cors).start()
        self.assets = AssetServer().start()
        env = user_env(self.portal, XPGEO_CA_BUNDLE=str(ca), XPGEO_FOOTPRINTS="true")
        name = f"SDK_oracle_{self.rule}"
        code, out, err = run_cli(["--json", "create-oi-layer", "--name", name, "--imagery-type", "Horizontal"], env)
        assert code == 0, err
        self.created = json.loads(out)
        self.urls = photos(self.host)
        code, out, err = run_cli(["append-images", "--name", name, "--file", write_list(self.tmp, self.urls)], env)
        assert code == 0, err
        self.service = self.created["layer_name"]
        self.definition = self.portal.layer(self.service)
        self.features = self.portal.features(self.service)
        # A web app's token is bound to its own origin: what the browser sends as Referer cross-origin.
        token = requests.post(self.portal.portal_url + "/sharing/rest/generateToken", verify=str(ca), timeout=30,
                              data={"username": USER, "password": PASSWORD, "client": "referer",
                                    "referer": self.assets.base_url + "/", "expiration": 60, "f": "json"}).json()["token"]
        layer_url = self.created["layer"]["url"]
        runs: List[Dict[str, Any]] = [
            {"name": "item", "source": "item", "itemId": self.created["item_id"], "portalUrl": self.portal.portal_url},
            {"name": "url", "source": "url", "layerUrl": layer_url},
            {"name": "footprints", "source": "url", "layerUrl": self.created["layer"]["footprintLayer"]["url"]},
        ]
        if self.viewer:
            self.target = self.features[1]
            runs.append({"name": "viewer", "source": "urlClass", "layerUrl": layer_url,
                         "click": {**ahead_of(self.target, 12.0), "scale": 1500}})
        self.verdict = run_scenario(self.assets, {"portalUrl": self.portal.portal_url, "token": token,
                                                  "userId": USER, "runs": runs},
                                    allowed=[self.portal.base_url, self.host.base_url],
                                    trusted_certs=[self.cert], timeout_s=900)
        return self

    def __exit__(self, *exc: Any) -> None:
        for server in (self.assets, self.host, self.portal):
            server.stop()


@pytest.fixture(scope="module", params=["keep", "promote_on_update"])
def portal_layer(request, tmp_path_factory):
    require_oracle()
    with PortalLayer(tmp_path_factory.mktemp("sdk-portal"), request.param, viewer=request.param == "keep") as layer:
        yield layer


def test_the_browser_needed_no_other_host(portal_layer):
    outcome(portal_layer.verdict)
    assert portal_layer.verdict["refused"] == [], "the SDK asked for hosts other than the loopback servers"
    assert any(u.startswith(portal_layer.portal.base_url) for u in portal_layer.verdict["requests"])


@pytest.mark.parametrize("how", ["item", "url"])
def test_layer_opens_as_oriented_imagery(portal_layer, how):
    run = loaded(portal_layer.verdict, how)
    assert run["factory"] == "esri.layers.OrientedImageryLayer", f"the SDK made a {run['factory']} from the {how}"
    layer = run["layer"]
    assert layer["type"] == "oriented-imagery" and layer["sourceJSONType"] == "Oriented Imagery Layer"
    assert layer["geometryType"] == "point" and layer["objectIdField"] == "OBJECTID"
    if how == "item":
        assert layer["portalItemId"] == portal_layer.created["item_id"]


@pytest.mark.parametrize("how", ["item", "url"])
def test_every_oriented_imagery_property_reads_back(portal_layer, how):
    written = portal_layer.definition["orientedImageryInfo"]["orientedImageryProperties"]
    assert_properties_read_back(written, loaded(portal_layer.verdict, how))


SEQUENCE_ORDER = [{"fieldName": "SequenceOrder", "sortOrder": "asc"}]


def assert_sequence_navigation(run: Dict[str, Any]) -> None:
    """Issue 16 item 1: the SDK reads sequenceOrderField (Esri's spelling), resolves it to the layer's
    SequenceOrder field, which is what the viewer's next/previous orders by, and that order is the capture's."""
    layer = run["layer"]
    assert layer["props"]["sequenceOrderField"] == "SequenceOrder"
    assert layer["effectiveSequenceOrderField"] == SEQUENCE_ORDER, layer["effectiveSequenceOrderField"]
    features = [f["attributes"] for f in run["features"]]
    assert all(f["SequenceOrder"] is not None for f in features)
    by_order = sorted(features, key=lambda f: f["SequenceOrder"])
    assert [f["ImagePath"] for f in by_order] == [f["ImagePath"] for f in sorted(features,
                                                                                 key=lambda f: f["AcquisitionDate"])]
    assert len({f["SequenceId"] for f in features}) == 1  # one walk, a minute between photos: one sequence


@pytest.mark.parametrize("how", ["item", "url"])
def test_viewer_navigates_in_capture_order(portal_layer, how):
    assert_sequence_navigation(loaded(portal_layer.verdict, how))


def test_time_info_is_on_acquisition_date(portal_layer):
    time_info = loaded(portal_layer.verdict, "url")["layer"]["timeInfo"]
    assert time_info and time_info["startField"] == "AcquisitionDate"


def test_query_gives_back_the_values_xpgeo_computed(portal_layer):
    sdk = loaded(portal_layer.verdict, "url")["features"]
    expected = [{"attributes": f["attributes"], "geometry": f["geometry"]} for f in portal_layer.features]
    assert_features_match(sdk, expected)
    by_path = {f["attributes"]["ImagePath"]: f["attributes"] for f in sdk}
    for url, heading in zip(portal_layer.urls, HEADINGS):  # the photos' own EXIF, through XPGEO
        assert by_path[url]["CameraHeading"] == pytest.approx(heading)


def _viewer(portal_layer) -> Dict[str, Any]:
    return loaded(portal_layer.verdict, "viewer")["viewer"]


ON_KEEP = pytest.mark.parametrize("portal_layer", ["keep"], indirect=True)  # the viewer runs once


@ON_KEEP
def test_viewer_picks_and_fetches_the_photo_that_looks_at_the_clicked_point(portal_layer):
    viewer = _viewer(portal_layer)
    wanted = portal_layer.target["attributes"]["ImagePath"]
    assert viewer["best"] is not None, f"the viewer picked no photo: {viewer['message']}"
    assert viewer["best"]["ImagePath"] == wanted, f"picked {viewer['best']['ImagePath']}, candidates {viewer}"
    assert "error" not in viewer["state"], viewer
    # The browser's own requests (fetch sets Sec-Fetch-Mode; XPGEO's reads of the headers do not).
    fetched = {portal_layer.host.url_for(r.path.lstrip("/")) for r in portal_layer.host.requests
               if r.headers.get("Sec-Fetch-Mode") == "cors"}
    assert fetched == {wanted}, f"the viewer fetched {sorted(fetched)}"


@ON_KEEP
@pytest.mark.xfail(strict=False, reason="headless Chromium (SwiftShader, busy 2-core VM): after fetching the photo "
                                        "the viewer's ImageryTileLayer decode often never reaches 'image-loaded' "
                                        "(seen in some runs, not others); not an XPGEO property")
def test_viewer_shows_the_photo(portal_layer):
    viewer = _viewer(portal_layer)
    assert viewer["loadedSeen"], f"the photo did not reach 'image-loaded' in the viewer: {viewer['states']}"


# -- issue 16 item 4: the footprint layer ---------------------------------------------------------------

COVERAGE_TOLERANCE_M = 0.05
"""How far a vertex of the footprint layer may lie from the viewer's own coverage polygon's: the two are the
same computation (xpgeo_core/footprints.py follows the SDK's createCoveragePolygon); what is left is the
SDK's Web Mercator scale taken at the camera against XPGEO's local metres, well under a centimetre at 50 m."""


def _gap_m(ring_a: List[List[float]], ring_b: List[List[float]]) -> float:
    """The largest distance, in metres, from a vertex of either ring to the nearest vertex of the other."""
    lon0, lat0 = ring_a[0][0], ring_a[0][1]
    a = [to_metres(lon0, lat0, p[0], p[1]) for p in ring_a]
    b = [to_metres(lon0, lat0, p[0], p[1]) for p in ring_b]
    return max(max(min(math.dist(p, q) for q in b) for p in a), max(min(math.dist(p, q) for q in a) for p in b))


def _footprint_polygons(portal_layer) -> Dict[str, Dict[str, Any]]:
    run = loaded(portal_layer.verdict, "footprints")
    return {f["attributes"]["ImagePath"]: f for f in run["features"]}


def test_footprint_layer_loads_as_polygons_one_per_photo(portal_layer):
    """The SDK opens layer 1 of the OI layer's service as a polygon FeatureLayer; each photo has one footprint,
    the polygon XPGEO computes from the photo's own values as the SDK reads them from layer 0."""
    run = loaded(portal_layer.verdict, "footprints")
    assert run["factory"] == "esri.layers.FeatureLayer", run["factory"]
    assert run["layer"]["geometryType"] == "polygon" and run["layer"]["layerId"] == 1
    points = loaded(portal_layer.verdict, "url")["features"]
    polygons = [f["attributes"]["ImagePath"] for f in run["features"]]
    assert sorted(polygons) == sorted(f["attributes"]["ImagePath"] for f in points)
    by_path = _footprint_polygons(portal_layer)
    for point in points:
        attributes = point["attributes"]
        want = footprints.esri_feature(attributes["ImagePath"], point["geometry"]["x"], point["geometry"]["y"],
                                       attributes)["geometry"]["rings"]
        got = by_path[attributes["ImagePath"]]["geometry"]["rings"]
        assert len(got) == len(want) and all(_gap_m(g, w) < 0.01 for g, w in zip(got, want))


@ON_KEEP
def test_footprint_layer_is_the_viewers_coverage(portal_layer):
    """The viewer's coverage polygon of each photo it considered for the click (the target's among them) is
    the footprint layer's polygon of that photo, vertex for vertex within COVERAGE_TOLERANCE_M."""
    coverage = _viewer(portal_layer)["coverage"]
    paths = {f["attributes"]["OBJECTID"]: f["attributes"]["ImagePath"]
             for f in loaded(portal_layer.verdict, "url")["features"]}
    by_path = _footprint_polygons(portal_layer)
    seen = []
    for polygon in coverage:
        path = paths[polygon["imageID"]]
        seen.append(path)
        rings = by_path[path]["geometry"]["rings"]
        assert len(polygon["rings"]) == len(rings)
        for viewer_ring, layer_ring in zip(polygon["rings"], rings):
            gap = _gap_m(viewer_ring, layer_ring)
            assert gap < COVERAGE_TOLERANCE_M, f"{path}: the footprint is {gap:.3f} m off the viewer's coverage"
    assert portal_layer.target["attributes"]["ImagePath"] in seen, f"no coverage of the target: {coverage}"


# -- issue 15 item 1: photos as feature attachments ------------------------------------------------

def photo_files(folder: Path) -> List[Path]:
    """The same three cameras as :func:`photos`, as files of this machine (a camera card's folder)."""
    folder.mkdir(parents=True)
    paths = []
    for i, heading in enumerate(HEADINGS):
        path = folder / f"CAM_{i}.JPG"
        path.write_bytes(make_jpeg(lat=LAT + i * 30 / METRES_PER_DEGREE, lon=LON, alt=50.0 + i, heading=heading,
                                   datetime_original="2026:03:01 10:%02d:00" % i, offset_time_original="-08:00",
                                   make="XPGEO", model="Synthetic", focal_length_35mm=28, seed=i))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def attached_layer(tmp_path_factory):
    """XPGEO's create-oi-layer --attachments and append-images --photo-folder --attachments on the https portal
    emulator, then the SDK: the layer and its footprint layer read, and a click in front of the middle camera in
    the viewer."""
    require_oracle()
    tmp = tmp_path_factory.mktemp("sdk-attached")
    ca, cert, key = make_cert(tmp)
    with PortalEmulator(tls=(str(cert), str(key))) as portal, AssetServer() as assets:
        env = user_env(portal, XPGEO_CA_BUNDLE=str(ca), XPGEO_FOOTPRINTS="true")
        code, out, err = run_cli(["--json", "create-oi-layer", "--name", "SDK_attached", "--imagery-type",
                                  "Horizontal", "--attachments"], env)
        assert code == 0, err
        created = json.loads(out)
        paths = photo_files(tmp / "card")
        code, out, err = run_cli(["append-images", "--name", created["layer_name"], "--photo-folder",
                                  str(tmp / "card"), "--attachments"], env)
        assert code == 0, err
        features = portal.features(created["layer_name"])
        attachments = portal.attachments.of(created["layer_name"])
        token = requests.post(portal.portal_url + "/sharing/rest/generateToken", verify=str(ca), timeout=30,
                              data={"username": USER, "password": PASSWORD, "client": "referer",
                                    "referer": assets.base_url + "/", "expiration": 60, "f": "json"}).json()["token"]
        target = features[1]
        layer_url = created["layer"]["url"]
        runs = [{"name": "url", "source": "url", "layerUrl": layer_url},
                {"name": "footprints", "source": "url", "layerUrl": created["layer"]["footprintLayer"]["url"]},
                {"name": "viewer", "source": "urlClass", "layerUrl": layer_url,
                 "click": {**ahead_of(target, 12.0), "scale": 1500}}]
        before = len(portal.state.requests)
        verdict = run_scenario(assets, {"portalUrl": portal.portal_url, "token": token, "userId": USER,
                                        "runs": runs}, allowed=[portal.base_url], trusted_certs=[cert], timeout_s=900)
        browser = [r for r in portal.state.requests[before:] if r.headers.get("Sec-Fetch-Mode")]
    yield {"verdict": verdict, "features": features, "attachments": attachments, "target": target,
           "paths": paths, "browser": browser, "layer_url": layer_url}


def test_attached_layer_needs_no_other_host(attached_layer):
    outcome(attached_layer["verdict"])
    assert attached_layer["verdict"]["refused"] == []


def test_attached_layer_reads_as_oriented_imagery_with_attachments(attached_layer):
    run = loaded(attached_layer["verdict"], "url")
    assert run["layer"]["type"] == "oriented-imagery"
    assert [f["attributes"]["ImagePath"] for f in run["features"]] == ["FA"] * 3
    assert len(attached_layer["attachments"]) == 3


def test_viewer_fetches_the_clicked_cameras_attachment(attached_layer):
    viewer = loaded(attached_layer["verdict"], "viewer")["viewer"]
    target = attached_layer["target"]["attributes"]
    assert viewer["best"] is not None, f"the viewer picked no photo: {viewer['message']}"
    assert viewer["best"]["OBJECTID"] == target["OBJECTID"], f"picked {viewer['best']}, candidates {viewer}"
    assert "error" not in viewer["state"], viewer
    assert (viewer["message"] or {}).get("key") != "noAttachment", viewer
    (attachment,) = [a for a in attached_layer["attachments"] if a["parent"] == target["OBJECTID"]]
    wanted = f"/0/{target['OBJECTID']}/attachments/{attachment['id']}"
    fetched = [r.path for r in attached_layer["browser"] if "/attachments/" in r.path]
    assert fetched and set(fetched) == {p for p in fetched if p.endswith(wanted)}, fetched
    asked = [r.path.rsplit("/", 1)[-1] for r in attached_layer["browser"]]
    assert "queryAttachments" in asked  # how the viewer found the photo of an "FA" feature


@pytest.mark.xfail(strict=False, reason="headless Chromium (SwiftShader, busy 2-core VM): after fetching the photo "
                                        "the viewer's decode often never reaches 'image-loaded' (as for URL photos "
                                        "above); not an XPGEO property")
def test_viewer_shows_the_attached_photo(attached_layer):
    viewer = loaded(attached_layer["verdict"], "viewer")["viewer"]
    assert viewer["loadedSeen"], f"the photo did not reach 'image-loaded' in the viewer: {viewer['states']}"


def test_attached_layer_footprints_are_one_per_photo_keyed_by_photo_key(attached_layer):
    """Every point's ImagePath is "FA": the SDK reads layer 1 as a polygon FeatureLayer whose footprints carry the
    points' PhotoKey, one each, each the polygon XPGEO computes from the point's values as the SDK reads them."""
    run = loaded(attached_layer["verdict"], "footprints")
    assert run["factory"] == "esri.layers.FeatureLayer" and run["layer"]["geometryType"] == "polygon"
    points = loaded(attached_layer["verdict"], "url")["features"]
    keys = sorted(f["attributes"]["PhotoKey"] for f in points)
    assert sorted(f["attributes"]["PhotoKey"] for f in run["features"]) == keys and len(set(keys)) == 3
    by_key = {f["attributes"]["PhotoKey"]: f for f in run["features"]}
    for point in points:
        attributes = point["attributes"]
        got = by_key[attributes["PhotoKey"]]
        assert got["attributes"]["ImagePath"] == attributes["PhotoKey"].rsplit("|", 2)[0]  # the photo file's path
        want = footprints.esri_feature(got["attributes"]["ImagePath"], point["geometry"]["x"], point["geometry"]["y"],
                                       attributes)["geometry"]["rings"]
        assert len(got["geometry"]["rings"]) == len(want)
        assert all(_gap_m(g, w) < 0.01 for g, w in zip(got["geometry"]["rings"], want))


def test_attached_layer_footprints_are_the_viewers_coverage(attached_layer):
    """The viewer's coverage polygon of each photo it considered for the click is the footprint with that photo's
    PhotoKey, vertex for vertex within COVERAGE_TOLERANCE_M."""
    coverage = loaded(attached_layer["verdict"], "viewer")["viewer"]["coverage"]
    keys = {f["attributes"]["OBJECTID"]: f["attributes"]["PhotoKey"]
            for f in loaded(attached_layer["verdict"], "url")["features"]}
    by_key = {f["attributes"]["PhotoKey"]: f for f in loaded(attached_layer["verdict"], "footprints")["features"]}
    seen = []
    for polygon in coverage:
        key = keys[polygon["imageID"]]
        seen.append(key)
        rings = by_key[key]["geometry"]["rings"]
        assert len(polygon["rings"]) == len(rings)
        for viewer_ring, layer_ring in zip(polygon["rings"], rings):
            gap = _gap_m(viewer_ring, layer_ring)
            assert gap < COVERAGE_TOLERANCE_M, f"{key}: the footprint is {gap:.3f} m off the viewer's coverage"
    assert attached_layer["target"]["attributes"]["PhotoKey"] in seen, f"no coverage of the target: {coverage}"


# -- item 5: the local backend's files as a client-side layer ---------------------------------------

@pytest.fixture(scope="module")
def local_layer(tmp_path_factory):
    require_oracle()
    tmp = tmp_path_factory.mktemp("sdk-local")
    with ImageHost(cors=True) as host, AssetServer() as assets:
        settings = local_settings(tmp)
        operations.create_layer(settings, "sdk local")
        operations.append_images(settings, "sdk local", urls=photos(host))
        folder = tmp / "layers" / "sdk_local"
        layer_file = json.loads((folder / "layer.json").read_text(encoding="utf-8"))
        collection = json.loads((folder / "features.geojson").read_text(encoding="utf-8"))
        run = {"name": "local", "source": "local",
               "layerJsonUrl": assets.add("layer.json", (folder / "layer.json").read_bytes()),
               "featuresUrl": assets.add("features.geojson", (folder / "features.geojson").read_bytes())}
        footprint_run = {"name": "localFootprints", "source": "geojson",
                         "geojsonUrl": assets.add("footprints.geojson", (folder / "footprints.geojson").read_bytes(),
                                                  "application/geo+json")}
        verdict = run_scenario(assets, {"runs": [run, footprint_run]}, allowed=[host.base_url], timeout_s=600)
    yield {"layer": layer_file, "features": collection["features"], "verdict": verdict}


def test_local_layer_needs_no_other_host(local_layer):
    outcome(local_layer["verdict"])
    assert local_layer["verdict"]["refused"] == []


def test_local_layer_json_is_an_oriented_imagery_layer_the_sdk_loads(local_layer):
    run = loaded(local_layer["verdict"], "local")
    assert run["extra"]["definitionType"] == "Oriented Imagery Layer"
    assert run["layer"]["type"] == "oriented-imagery" and run["layer"]["loaded"]
    assert_properties_read_back(local_layer["layer"]["layer"]["orientedImageryInfo"]["orientedImageryProperties"], run)


def test_local_layer_navigates_in_capture_order(local_layer):
    assert_sequence_navigation(loaded(local_layer["verdict"], "local"))


def _instant(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert moment.tzinfo is not None, f"{text!r} has no offset: a browser reads it in its own zone"
    return int(moment.astimezone(timezone.utc).timestamp() * 1000)


def test_local_features_read_back_with_the_same_values_and_instants(local_layer):
    run = loaded(local_layer["verdict"], "local")
    expected = []
    for feature in local_layer["features"]:
        x, y, *z = feature["geometry"]["coordinates"]
        attributes = dict(feature["properties"])
        attributes["AcquisitionDate"] = _instant(attributes["AcquisitionDate"])
        expected.append({"attributes": attributes, "geometry": {"x": x, "y": y, "z": z[0] if z else None}})
    assert_features_match(run["features"], expected)
    for feature in expected:  # 10:0i at -08:00 in the photos' EXIF
        assert datetime.fromtimestamp(feature["attributes"]["AcquisitionDate"] / 1000, timezone.utc).hour == 18


def test_local_footprints_geojson_reads_as_the_same_polygons(local_layer):
    """Issue 16 item 4, local backend: the SDK's GeoJSON reader opens footprints.geojson as polygons, one per
    photo, each the footprint XPGEO computes for that photo (what the portal's footprint layer holds)."""
    run = loaded(local_layer["verdict"], "localFootprints")
    assert run["layer"]["geometryType"] == "polygon"
    by_path = {f["attributes"]["ImagePath"]: f for f in run["features"]}
    assert sorted(by_path) == sorted(f["properties"]["ImagePath"] for f in local_layer["features"])
    for point in local_layer["features"]:
        lon, lat = point["geometry"]["coordinates"][:2]
        want = footprints.esri_feature(point["properties"]["ImagePath"], lon, lat, point["properties"])
        got = by_path[point["properties"]["ImagePath"]]
        assert got["attributes"]["FootprintMethod"] == want["attributes"]["FootprintMethod"]
        rings = got["geometry"]["rings"]
        assert len(rings) == len(want["geometry"]["rings"])
        assert all(_gap_m(g, w) < 0.01 for g, w in zip(rings, want["geometry"]["rings"]))
