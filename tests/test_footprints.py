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
