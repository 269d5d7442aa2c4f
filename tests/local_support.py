"""Helpers for the local backend, preview and demo tests: photos on a loopback server,
settings, and readers/validators for the layer files."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from xpgeo_core.demo.server import PhotoServer
from xpgeo_core.sample_photos import make_jpeg
from xpgeo_core.settings import load_settings


def photo(lat: float, lon: float, **extra: Any) -> bytes:
    return make_jpeg(lat=lat, lon=lon, alt=extra.pop("alt", 100.0), heading=extra.pop("heading", 45.0),
                     datetime_original="2024:05:01 10:30:00", offset_time_original="+02:00",
                     focal_length_35mm=26, **extra)


def sample_files(count: int = 6) -> Dict[str, bytes]:
    """*count* good photos along a street in Lyon, plus one without GPS and one that is not a JPEG."""
    files = {f"street/P{i:03d}.jpg": photo(45.7600 + i * 0.0001, 4.8350 + i * 0.00005, heading=i * 30.0)
             for i in range(count)}
    files["broken/no_gps.jpg"] = make_jpeg(make="Canon", model="EOS")
    files["broken/not_a_photo.jpg"] = b"<html>not a photo</html>"
    return files


@pytest.fixture
def photo_server():
    with PhotoServer(sample_files()) as server:
        yield server


def local_settings(tmp_path: Path, **overrides: Any):
    values = {"backend": "local", "output_dir": str(tmp_path / "layers")}
    values.update(overrides)
    return load_settings(values, environ={})


# -- layer file readers and validators ----------------------------------------------

def check_geojson(document: Dict[str, Any]) -> List[Dict[str, Any]]:
    """RFC 7946 checks for a FeatureCollection of points; returns the features."""
    assert document["type"] == "FeatureCollection"
    assert "crs" not in document, "RFC 7946 removed crs: coordinates are WGS84 lon/lat"
    features = document["features"]
    assert isinstance(features, list)
    for feature in features:
        assert feature["type"] == "Feature"
        assert isinstance(feature["properties"], dict)
        geometry = feature["geometry"]
        assert geometry["type"] == "Point"
        coordinates = geometry["coordinates"]
        assert len(coordinates) in (2, 3)
        assert all(isinstance(c, (int, float)) and math.isfinite(c) for c in coordinates)
        assert -180 <= coordinates[0] <= 180 and -90 <= coordinates[1] <= 90
        assert isinstance(feature.get("id"), (int, str))
    if features:
        xs = [f["geometry"]["coordinates"][0] for f in features]
        ys = [f["geometry"]["coordinates"][1] for f in features]
        assert document["bbox"] == [min(xs), min(ys), max(xs), max(ys)]
    return features


def read_layer(folder: Path) -> Dict[str, Any]:
    """Every layer file, parsed (raises if any is broken)."""
    out: Dict[str, Any] = {}
    out["layer"] = json.loads((folder / "layer.json").read_text(encoding="utf-8"))
    out["features"] = check_geojson(json.loads((folder / "features.geojson").read_text(encoding="utf-8")))
    with open(folder / "oi_table.csv", encoding="utf-8", newline="") as handle:
        out["csv"] = list(csv.reader(handle))
    out["preview"] = (folder / "preview.html").read_text(encoding="utf-8")
    out["preview_data"] = preview_data(out["preview"])
    report = folder / "report.json"
    out["report"] = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else None
    return out


class ScriptCollector(HTMLParser):
    """Every <script> element of a page: (attributes, text); and every event-handler attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: List[Tuple[Dict[str, Optional[str]], str]] = []
        self.handlers: List[Tuple[str, str]] = []
        self.tags: List[str] = []
        self._in: Optional[Dict[str, Optional[str]]] = None
        self._text: List[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        self.tags.append(tag)
        for name, _ in attrs:
            if name.lower().startswith("on"):
                self.handlers.append((tag, name))
        if tag == "script":
            self._in = dict(attrs)
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in is not None:
            self.scripts.append((self._in, "".join(self._text)))
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._text.append(data)


def parse_page(html_text: str) -> ScriptCollector:
    collector = ScriptCollector()
    collector.feed(html_text)
    collector.close()
    return collector


def preview_data(html_text: str) -> Dict[str, Any]:
    page = parse_page(html_text)
    blocks = [text for attrs, text in page.scripts if attrs.get("type") == "application/json"]
    assert len(blocks) == 1
    return json.loads(blocks[0])


def csv_text_rows(text: str) -> List[List[str]]:
    return list(csv.reader(io.StringIO(text)))


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
