"""The local backend's layer.json is the same OI layer definition the portal gets, so Esri's
SDK can build a client-side OrientedImageryLayer from layer.json + features.geojson; dates in
features.geojson are one form (ISO 8601 UTC with Z); options and references."""

from __future__ import annotations

import json
import re

from emulators.portal import PortalEmulator
from local_support import local_settings
from portal_support import user_env
from xpgeo_core import operations, schema
from xpgeo_core.demo.server import PhotoServer
from xpgeo_core.layer_options import ElevationSource, LayerOptions
from xpgeo_core.sample_photos import make_jpeg
from xpgeo_core.settings import load_settings

ISO_Z = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$"


def read(folder):
    return (json.loads((folder / "layer.json").read_text(encoding="utf-8")),
            json.loads((folder / "features.geojson").read_text(encoding="utf-8")))


def test_layer_json_is_the_portal_layer(tmp_path):
    created = operations.create_layer(local_settings(tmp_path), "Site Survey 1", "Oblique")
    document, _ = read(tmp_path / "layers" / "Site_Survey_1")
    with PortalEmulator() as portal:
        operations.create_layer(load_settings(environ=user_env(portal, XPGEO_BACKEND="portal")), "Site Survey 1",
                                "Oblique")
        served = portal.layer("Site_Survey_1")
    local = document["layer"]
    assert local["type"] == served["type"] == "Oriented Imagery Layer"
    assert local["orientedImageryInfo"] == served["orientedImageryInfo"]
    for key in ("geometryType", "hasZ", "objectIdField", "fields", "timeInfo", "drawingInfo"):
        assert local[key] == served[key], key
    assert "zDefault" not in local
    assert document["data"] == {"layers": [{"id": 0, "layerType": "OrientedImageryLayer"}]}
    item = document["item"]
    assert item["id"] == created.item_id and item["title"] == "Site Survey 1" and item["name"] == "Site_Survey_1"
    assert item["access"] == "org" and item["tags"] == ["Oriented Imagery", "XPGEO"]


def test_options_that_apply_are_written_and_the_rest_is_said(tmp_path):
    options = LayerOptions(sharing="private", folder="Surveys", tags=("roads",), summary="Road survey",
                           elevation_source=ElevationSource(constant_m=35.0))
    created = operations.create_layer(local_settings(tmp_path), "roads", options=options)
    document, _ = read(tmp_path / "layers" / "roads")
    assert document["item"]["access"] == "private" and document["item"]["tags"][-1] == "roads"
    assert document["item"]["snippet"] == "Road survey"
    props = document["layer"]["orientedImageryInfo"]["orientedImageryProperties"]
    assert props["elevationSource"] == {"constantElevation": 35.0}
    assert created.messages == ["The local backend cannot set folder 'Surveys'; it was ignored."]


def test_dates_are_one_form_and_photos_carry_their_own_values(tmp_path):
    photos = {
        "zoned.jpg": make_jpeg(lat=45.76, lon=4.835, alt=200.0, datetime_original="2024:05:01 10:30:00",
                               offset_time_original="+02:00", focal_length_35mm=26),
        "local.jpg": make_jpeg(lat=45.761, lon=4.835, alt=200.0, datetime_original="2024:05:01 10:31:00"),
        "drone.jpg": make_jpeg(lat=45.762, lon=4.835, alt=260.0, datetime_original="2024:05:01 10:32:00",
                               offset_time_original="+02:00",
                               dji={"GimbalYawDegree": 10.0, "GimbalPitchDegree": -45.0, "GimbalRollDegree": 0.0,
                                    "RelativeAltitude": 60.0}),
    }
    settings = local_settings(tmp_path)
    with PhotoServer(photos) as server:
        created = operations.create_layer(settings, "mixed")
        urls = [server.url_for(n) for n in sorted(photos)]
        report = operations.append_images(settings, "mixed", urls=urls)
        # the layer can be named by its item id or its folder path too (a rerun: nothing new)
        for reference in (created.item_id, created.service_url):
            again = operations.append_images(settings, reference, urls=urls[:1])
            assert again.layer_name == "mixed" and again.skipped == 1
    assert report.appended == 3, report.results
    document, collection = read(tmp_path / "layers" / "mixed")
    by_name = {f["properties"]["Name"]: f["properties"] for f in collection["features"]}
    assert all(re.match(ISO_Z, p["AcquisitionDate"]) for p in by_name.values())
    assert by_name["zoned"]["AcquisitionDate"] == "2024-05-01T08:30:00Z"
    assert by_name["local"]["AcquisitionDate"] == "2024-05-01T10:31:00Z"  # unknown zone: as UTC, as on the portal
    drone = by_name["drone"]
    assert drone["OrientedImageryType"] == "Oblique" and drone["FarDistance"] == 250
    assert all(drone[k] is not None for k in schema.PER_PHOTO_DEFAULTS)
    props = document["layer"]["orientedImageryInfo"]["orientedImageryProperties"]
    assert props["maximumDistance"] == 250  # the Horizontal layer's 100 m would miss the drone photo
