"""The footprint of each photo (xpgeo_core/footprints.py): the viewer's coverage model, its documents.

The numbers here are the geometry worked out by hand; that they are the polygons Esri's viewer computes
is checked in the browser (tests/test_oracle_sdk.py, test_footprint_layer_is_the_viewers_coverage).
"""

from __future__ import annotations

import math

import pytest

from xpgeo_core import footprints, schema
from local_support import photo_server  # noqa: F401 (fixture)
from xpgeo_core.preview.footprint import to_metres

NADIR = {"OrientedImageryType": "Nadir", "CameraHeading": 0, "CameraPitch": 0, "CameraRoll": 0, "CameraHeight": 80,
         "HorizontalFieldOfView": 70, "VerticalFieldOfView": 55, "FarDistance": 150, "NearDistance": 0}
STREET = {"OrientedImageryType": "Horizontal", "CameraHeading": 90, "CameraPitch": 90, "CameraHeight": 2,
          "HorizontalFieldOfView": 60, "VerticalFieldOfView": 40, "FarDistance": 50, "NearDistance": 1}


def _close(ring):
    assert ring[0] == ring[-1], "a ring is closed"
    return ring[:-1]


def test_nadir_frame_is_the_rectangle_under_the_camera():
    method, (ring,) = footprints.footprint_rings(NADIR)
    assert method == "frame"
    half_x, half_y = 80 * math.tan(math.radians(35)), 80 * math.tan(math.radians(27.5))
    expected = [(-half_x, half_y), (half_x, half_y), (half_x, -half_y), (-half_x, -half_y)]
    for got, want in zip(_close(ring), expected):  # top left first: the image's top is north (heading 0)
        assert got == pytest.approx(want, abs=1e-6)


def test_a_level_frame_reaches_from_where_its_lowest_ray_lands_to_the_far_plane():
    method, (ring,) = footprints.footprint_rings(STREET)
    assert method == "frame"
    corners = _close(ring)
    near_edge = 2 / math.tan(math.radians(20))  # the frame's bottom rays meet the ground here
    half_far = 50 * math.tan(math.radians(30))
    # looking east: top corners (above the horizon) drop onto the ground at the far plane
    assert corners[0] == pytest.approx((50, half_far), abs=1e-6) and corners[1] == pytest.approx((50, -half_far))
    assert corners[2][0] == pytest.approx(near_edge) and corners[3][0] == pytest.approx(near_edge)
    assert corners[2][1] == pytest.approx(-near_edge * math.tan(math.radians(30)))


def test_360_is_a_far_distance_circle_with_the_near_distance_hole():
    method, rings = footprints.footprint_rings({"OrientedImageryType": "360", "FarDistance": 30, "NearDistance": 2,
                                                "CameraHeight": 2.5})
    assert method == "spherical" and len(rings) == 2
    assert all(math.hypot(*p) == pytest.approx(30) for p in rings[0])
    assert all(math.hypot(*p) == pytest.approx(2) for p in rings[1])
    assert len(_close(rings[0])) == footprints.CIRCLE_POINTS


def test_unknown_heading_is_a_buffer_and_inspection_its_own_quadrilateral():
    method, (ring,) = footprints.footprint_rings(dict(STREET, CameraHeading=-999))
    assert method == "buffer" and all(math.hypot(*p) == pytest.approx(50) for p in ring)
    method, (ring,) = footprints.footprint_rings({"OrientedImageryType": "Inspection", "CameraHeading": 0,
                                                  "CameraPitch": 90, "FarDistance": 10, "NearDistance": 1})
    assert method == "inspection"
    assert _close(ring)[0] == pytest.approx((-14.4 * math.sin(math.radians(45)), 14.4 * math.cos(math.radians(45))))
    assert math.hypot(*ring[2]) == pytest.approx(1.44)


def test_a_frame_wider_than_150_degrees_is_cut_into_level_5_degree_slices():
    method, rings = footprints.footprint_rings(dict(STREET, HorizontalFieldOfView=200))
    assert method == "frame" and len(rings) == 40


def test_empty_fields_take_the_photos_own_imagery_type_defaults():
    assert footprints.footprint_rings({"OrientedImageryType": "Nadir", "CameraHeading": 0}) == \
        footprints.footprint_rings(dict(schema.complete_photo({"OrientedImageryType": "Nadir"}), CameraHeading=0))


def _signed_area(ring):
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:])) / 2


def test_esri_rings_are_clockwise_and_geojson_follows_the_right_hand_rule():
    lon, lat = -122.3321, 47.6062
    feature = footprints.esri_feature("https://h/p/a.jpg", lon, lat, STREET)
    assert feature["attributes"] == {"ImagePath": "https://h/p/a.jpg", "Name": "a.jpg", "FootprintMethod": "frame"}
    (ring,) = feature["geometry"]["rings"]
    assert ring[0] == ring[-1] and _signed_area(ring) < 0
    east, north = to_metres(lon, lat, *ring[0])  # WGS84, back in metres: the far plane 50 m east
    assert east == pytest.approx(50, abs=0.01)
    geo = footprints.geojson_feature("https://h/p/a.jpg", lon, lat, STREET, 7)
    assert geo["geometry"]["type"] == "Polygon" and _signed_area(geo["geometry"]["coordinates"][0]) > 0
    assert geo["properties"]["OBJECTID"] == 7
    circle = footprints.esri_feature("x", lon, lat, {"OrientedImageryType": "360", "FarDistance": 30,
                                                     "NearDistance": 2})["geometry"]["rings"]
    assert _signed_area(circle[0]) < 0 < _signed_area(circle[1])  # a hole runs anticlockwise


def test_footprint_layer_template_is_a_polygon_layer_keyed_by_image_path():
    layer = schema.footprint_layer_definition("site")
    assert layer["id"] == schema.FOOTPRINT_LAYER_ID == 1 and layer["name"] == "site_Footprints"
    assert layer["geometryType"] == "esriGeometryPolygon" and layer["type"] == "Feature Layer"
    assert schema.footprint_field_names() == ["OBJECTID", "ImagePath", "Name", "FootprintMethod"]
    keyed = schema.footprint_layer_definition("site", "PhotoKey")  # a layer whose photos are attachments
    photo_key = next(f for f in schema.attachment_schema()["fields"] if f["name"] == "PhotoKey")
    assert keyed["fields"] == layer["fields"] + [photo_key]


# -- the local backend: footprints.geojson -------------------------------------------------------

def _local(tmp_path, server, **overrides):
    from local_support import local_settings
    from xpgeo_core import operations

    settings = local_settings(tmp_path, **overrides)
    operations.create_layer(settings, "walk")
    urls = [server.url_for(n) for n in server.names if n.startswith("street/")]
    return settings, urls, tmp_path / "layers" / "walk"


def test_local_layer_writes_one_footprint_per_photo_and_a_rerun_adds_none(tmp_path, photo_server):
    import json

    from xpgeo_core import operations

    settings, urls, folder = _local(tmp_path, photo_server)
    operations.append_images(settings, "walk", urls=urls[:3])
    operations.append_images(settings, "walk", urls=urls)  # three skipped, the rest new
    points = json.loads((folder / "features.geojson").read_text(encoding="utf-8"))["features"]
    polygons = json.loads((folder / "footprints.geojson").read_text(encoding="utf-8"))["features"]
    assert sorted(f["properties"]["ImagePath"] for f in polygons) == sorted(urls)  # one each, none twice
    by_path = {f["properties"]["ImagePath"]: f for f in polygons}
    for point in points:  # the footprint of each point, from its own attributes
        path = point["properties"]["ImagePath"]
        lon, lat = point["geometry"]["coordinates"][:2]
        assert by_path[path] == footprints.geojson_feature(path, lon, lat, point["properties"], point["id"])
    layer_file = json.loads((folder / "layer.json").read_text(encoding="utf-8"))
    assert layer_file["footprintLayer"]["geometryType"] == "esriGeometryPolygon"
    assert layer_file["footprintLayer"]["extent"] == layer_file["layer"]["extent"]


def test_local_layer_without_footprints_when_turned_off(tmp_path, photo_server):
    from xpgeo_core import operations

    settings, urls, folder = _local(tmp_path, photo_server, footprints=False)
    operations.append_images(settings, "walk", urls=urls[:2])
    assert not (folder / "footprints.geojson").exists()


# -- the portal: layer 1 of the OI layer's service ------------------------------------------------

def _portal_settings(portal, **extra):
    from portal_support import user_env
    from xpgeo_core.settings import load_settings

    return load_settings(environ=user_env(portal, **{"XPGEO_BACKEND": "portal", "XPGEO_FOOTPRINTS": "true", **extra}))


def _polygons(portal, service, key="ImagePath"):
    return {f["attributes"][key]: f for f in portal.features(service, 1)}


def _assert_footprint_of_each_point(portal, service, key="ImagePath"):
    """One footprint per point, none twice, each the polygon of the point's own attributes, keyed by the OI
    layer's *key* (PhotoKey where the photos are attachments: the footprint's ImagePath is then the photo's path)."""
    from xpgeo_core.backends.portal.attachments import key_path

    points = portal.features(service)
    polygons = [f["attributes"][key] for f in portal.features(service, 1)]
    assert sorted(polygons) == sorted(f["attributes"][key] for f in points)
    by_key = _polygons(portal, service, key)
    for point in points:
        attributes = point["attributes"]
        path = attributes["ImagePath"] if key == "ImagePath" else key_path(attributes[key])
        want = footprints.esri_feature(path, point["geometry"]["x"], point["geometry"]["y"], attributes)
        got = by_key[attributes[key]]
        assert got["attributes"]["ImagePath"] == path
        assert got["attributes"]["FootprintMethod"] == want["attributes"]["FootprintMethod"] == "frame"
        for ring_got, ring_want in zip(got["geometry"]["rings"], want["geometry"]["rings"]):
            assert [v for p in ring_got for v in p] == pytest.approx([v for p in ring_want for v in p], abs=1e-9)


def test_portal_create_adds_the_footprint_layer_and_append_fills_it_once(tmp_path):
    from emulators.image_host import ImageHost
    from emulators.portal import PortalEmulator
    from portal_support import synthetic_photos
    from xpgeo_core import operations

    with PortalEmulator() as portal, ImageHost() as host:
        settings = _portal_settings(portal, XPGEO_BATCH_SIZE="3")
        created = operations.create_layer(settings, "walk")
        layer = portal.layer("walk", 1)
        assert layer["geometryType"] == "esriGeometryPolygon" and layer["name"] == "walk_Footprints"
        assert [f["name"] for f in layer["fields"]] == schema.footprint_field_names()
        assert created.layer["footprintLayer"]["url"].endswith("/FeatureServer/1")
        assert portal.layer("walk", 0)["type"] == schema.OI_LAYER_TYPE  # the OI layer is still layer 0
        urls = synthetic_photos(host, 7)
        first = operations.append_images(settings, "walk", urls=urls[:4])
        assert first.extra["footprints"]["written"] == 4 and first.extra["footprints"]["missing"] == 0
        again = operations.append_images(settings, "walk", urls=urls)  # 4 skipped (their footprints there), 3 new
        assert again.appended == 3 and again.extra["footprints"]["completed"] == 0
        _assert_footprint_of_each_point(portal, "walk")


def test_a_layer_made_without_footprints_gains_them_all_on_its_next_append():
    from emulators.image_host import ImageHost
    from emulators.portal import PortalEmulator
    from portal_support import synthetic_photos
    from xpgeo_core import operations

    with PortalEmulator() as portal, ImageHost() as host:
        old = _portal_settings(portal, XPGEO_FOOTPRINTS="false")
        operations.create_layer(old, "old")
        urls = synthetic_photos(host, 5)
        operations.append_images(old, "old", urls=urls[:3])
        assert portal.layer("old", 1) is None
        report = operations.append_images(_portal_settings(portal), "old", urls=urls)
        assert report.appended == 2 and report.skipped == 3
        assert report.extra["footprints"]["completed"] == 3  # built from the points the layer holds
        _assert_footprint_of_each_point(portal, "old")


@pytest.mark.parametrize("fault", ["drop", "drop_after", "error500"])
def test_a_footprint_batch_whose_answer_is_lost_is_completed_once(fault):
    """One chunk: addFeatures call 1 is the points, call 2 the footprints (sent after them). Whatever that
    call did, the end of the run asks the footprint layer and sends only what it lacks."""
    from emulators.image_host import ImageHost
    from emulators.portal import PortalEmulator
    from portal_support import synthetic_photos
    from xpgeo_core import operations

    with PortalEmulator() as portal, ImageHost() as host:
        settings = _portal_settings(portal)
        operations.create_layer(settings, "lossy")
        portal.state.faults = {"addFeatures": {2: fault}}
        report = operations.append_images(settings, "lossy", urls=synthetic_photos(host, 4))
        assert report.appended == 4
        summary = report.extra["footprints"]
        assert summary["missing"] == 0
        assert summary["completed"] == (0 if fault == "drop_after" else 4)
        _assert_footprint_of_each_point(portal, "lossy")


# -- the portal, photos as attachments: footprints keyed by PhotoKey (every point's ImagePath is "FA") -----

def _footprint_adds(portal):
    return [r for r in portal.requests_to("addFeatures") if "/FeatureServer/1/" in r.path]


def test_an_attachments_layer_gets_one_footprint_per_photo_keyed_by_photo_key_and_a_rerun_adds_none(tmp_path):
    from emulators.portal import PortalEmulator
    from test_portal_attachments import sd_card
    from xpgeo_core import operations

    paths = sd_card(tmp_path / "card", count=5)
    with PortalEmulator() as portal:
        settings = _portal_settings(portal, XPGEO_ATTACHMENTS="true", XPGEO_BATCH_SIZE="3")
        created = operations.create_layer(settings, "card")
        layer = portal.layer("card", 1)
        assert created.layer["footprintLayer"]["url"].endswith("/FeatureServer/1")
        assert [f["name"] for f in layer["fields"]] == schema.footprint_field_names() + ["PhotoKey"]
        first = operations.append_images(settings, "card", photo_folder=str(tmp_path / "card"))
        assert first.appended == 5 and first.extra["footprints"] == {
            "layer_url": created.layer["footprintLayer"]["url"], "written": 5, "completed": 0, "missing": 0,
            "refused": 0}
        assert {f["attributes"]["ImagePath"] for f in portal.features("card")} == {"FA"}
        assert sorted(f["attributes"]["ImagePath"] for f in portal.features("card", 1)) == sorted(map(str, paths))
        _assert_footprint_of_each_point(portal, "card", key="PhotoKey")
        sent = len(_footprint_adds(portal))
        again = operations.append_images(settings, "card", photo_folder=str(tmp_path / "card"))
        assert again.skipped == 5 and again.extra["footprints"]["completed"] == 0
        assert again.extra["footprints"]["missing"] == 0 and len(_footprint_adds(portal)) == sent
        _assert_footprint_of_each_point(portal, "card", key="PhotoKey")


def test_an_attachments_layer_made_without_footprints_gains_them_from_its_points(tmp_path):
    from emulators.portal import PortalEmulator
    from test_portal_attachments import sd_card
    from xpgeo_core import operations

    sd_card(tmp_path / "card", count=4)
    with PortalEmulator() as portal:
        old = _portal_settings(portal, XPGEO_ATTACHMENTS="true", XPGEO_FOOTPRINTS="false")
        operations.create_layer(old, "card")
        operations.append_images(old, "card", photo_folder=str(tmp_path / "card"))
        assert portal.layer("card", 1) is None
        report = operations.append_images(_portal_settings(portal, XPGEO_ATTACHMENTS="true"), "card",
                                          photo_folder=str(tmp_path / "card"))
        assert report.skipped == 4 and report.extra["footprints"]["completed"] == 4  # from the points, by PhotoKey
        assert "PhotoKey" in {f["name"] for f in portal.layer("card", 1)["fields"]}
        _assert_footprint_of_each_point(portal, "card", key="PhotoKey")


@pytest.mark.parametrize("fault", ["drop", "drop_after", "error500"])
def test_an_attachments_layer_footprint_batch_whose_answer_is_lost_is_completed_once(tmp_path, fault):
    """One chunk: addFeatures call 1 is the points (their photos uploaded after it), call 2 the footprints."""
    from emulators.portal import PortalEmulator
    from test_portal_attachments import sd_card
    from xpgeo_core import operations

    sd_card(tmp_path / "card", count=4)
    with PortalEmulator() as portal:
        settings = _portal_settings(portal, XPGEO_ATTACHMENTS="true")
        operations.create_layer(settings, "card")
        portal.state.faults = {"addFeatures": {2: fault}}
        report = operations.append_images(settings, "card", photo_folder=str(tmp_path / "card"))
        assert report.appended == 4 and len(portal.attachments.of("card")) == 4
        summary = report.extra["footprints"]
        assert summary["missing"] == 0 and summary["completed"] == (0 if fault == "drop_after" else 4)
        _assert_footprint_of_each_point(portal, "card", key="PhotoKey")
        sent = len(_footprint_adds(portal))
        again = operations.append_images(settings, "card", photo_folder=str(tmp_path / "card"))
        assert again.skipped == 4 and again.extra["footprints"]["completed"] == 0 and len(_footprint_adds(portal)) == sent
        _assert_footprint_of_each_point(portal, "card", key="PhotoKey")


# -- the XPGEO server: footprints through the portal it writes to ----------------------------------

def _xpgeo_world(portal):
    """A fake XPGEO server whose appends land in the portal emulator's layer, as the real server writes to its
    portal: a point per URL with the camera values the server would have read (heading east, Horizontal)."""
    import json

    from emulators.xpgeo_server import FakeXpgeoServer
    from xpgeo_core.urls import without_credentials

    def store(name, urls):
        with portal.lock:
            for number, url in enumerate(urls):
                attributes = {"ImagePath": without_credentials(url), "CameraHeading": 90.0,
                              "OrientedImageryType": "Horizontal", "CameraHeight": 2.0}
                top = portal._rows("SELECT MAX(objectid) AS top FROM features WHERE service = ? AND layer_id = 0",
                                   name)[0]["top"] or 0
                portal.db.execute("INSERT INTO features(service, layer_id, objectid, x, y, z, attributes) "
                                  "VALUES (?,?,?,?,?,?,?)", (name, 0, top + 1, 2.35 + number * 1e-4, 48.85, None,
                                                             json.dumps(attributes)))
    return FakeXpgeoServer(on_append=store).start()


def test_xpgeo_server_footprints_are_written_through_the_portal_once():
    from emulators.portal import PortalEmulator
    from xpgeo_core import operations

    with PortalEmulator() as portal:
        server = _xpgeo_world(portal)
        try:
            rest = {"XPGEO_REST_URL": server.url}
            operations.create_layer(_load(rest), "lyr")
            operations.create_layer(_portal_settings(portal, XPGEO_FOOTPRINTS="false"), "lyr")  # made before footprints
            settings = _portal_settings(portal, XPGEO_BACKEND="xpgeo", **rest)
            urls = [f"https://photos.example.com/walk/{i}.jpg" for i in range(5)]
            first = operations.append_images(settings, "lyr", urls=urls[:3])
            assert first.backend == "xpgeo" and first.extra["footprints"]["completed"] == 3
            again = operations.append_images(settings, "lyr", urls=urls)  # 3 in the ledger, 2 new
            assert again.extra["footprints"]["completed"] == 2 and again.extra["footprints"]["missing"] == 0
            _assert_footprint_of_each_point(portal, "lyr")
        finally:
            server.stop()


def test_xpgeo_server_without_a_portal_says_footprints_need_one():
    from emulators.portal import PortalEmulator
    from xpgeo_core import operations

    with PortalEmulator() as portal:
        server = _xpgeo_world(portal)
        try:
            settings = _load({"XPGEO_REST_URL": server.url, "XPGEO_FOOTPRINTS": "true"})
            operations.create_layer(settings, "lyr")
            report = operations.append_images(settings, "lyr", urls=["https://photos.example.com/a.jpg"])
            assert report.appended == 1 and "footprints" not in report.extra
            assert any("have no footprints" in m and "PORTAL_URL" in m for m in report.messages), report.messages
        finally:
            server.stop()


def _load(environ):
    from xpgeo_core.settings import load_settings

    return load_settings(environ=environ)
