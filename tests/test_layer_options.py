"""LayerOptions and ElevationSource check and normalise what any front end gives them."""

from __future__ import annotations

import pytest

from xpgeo_core.errors import ValidationError
from xpgeo_core.layer_options import ElevationSource, LayerOptions


def test_normalised():
    options = LayerOptions(sharing=" Everyone ", tags="roads, 2026,,roads ", folder="  ", summary=" Road survey ")
    assert options.sharing == "public" and options.tags == ("roads", "2026")
    assert options.folder is None and options.summary == "Road survey"
    assert LayerOptions(sharing="ORG").sharing == "organization"
    assert LayerOptions(tags=["a", " b"]).tags == ("a", "b")
    assert LayerOptions().requested() == ()
    assert ElevationSource(constant_m="12.5").to_oi_property() == {"constantElevation": 12.5}
    assert ElevationSource(service_url=" https://e/ImageServer ").to_oi_property() == {"url": "https://e/ImageServer"}


@pytest.mark.parametrize("build,words", [
    (lambda: LayerOptions(sharing="friends"), "Sharing level 'friends'"),
    (lambda: ElevationSource(constant_m="high"), "not a number"),
    (lambda: ElevationSource(constant_m=float("nan")), "not a finite number"),
    (lambda: ElevationSource(service_url="ftp://x"), "not an http(s) URL"),
    (lambda: ElevationSource(constant_m=1, service_url="https://x"), "not both"),
])
def test_bad_values_are_named(build, words):
    with pytest.raises(ValidationError) as caught:
        build()
    assert words in caught.value.message and caught.value.status == 400


@pytest.mark.parametrize("url", [
    "https://u:pw-SECRET@elev.example.com/arcgis/rest/services/T/ImageServer",
    "https://elev.example.com/arcgis/rest/services/T/ImageServer?token=SECRET",
    "https://elev.example.com/arcgis/rest/services/T/ImageServer?f=json&X-Amz-Signature=SECRET",
])
def test_an_elevation_service_url_with_credentials_is_refused_without_echoing_them(url):
    """The URL is written into the layer's definition, which everyone it is shared with can read."""
    with pytest.raises(ValidationError) as caught:
        ElevationSource(service_url=url)
    assert "carries credentials" in caught.value.message and "SECRET" not in caught.value.message
    assert ElevationSource(service_url="https://elev.example.com/arcgis/rest/services/T/ImageServer?f=json")
