"""The viewer-readiness check against the judge: Esri's OrientedImageryViewer (``@arcgis/core`` in headless
Chromium, tests/test_oracle_sdk.py's harness) opens a layer whose photo host answers CORS for another site,
and the browser refuses the photo; XPGEO's check, asked for the same page origin, says ``cors`` for each photo.
And for the layer whose host allows any origin, where the viewer fetches the photo, the check finds nothing.

In the oracle the viewer's page comes from the SDK asset server, not from the portal (in ArcGIS Online it
is the portal's own origin), so the check is given that page's origin.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import pytest

from sdk_support import require_oracle
from test_oracle_sdk import PortalLayer, _viewer
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.readiness import ViewerCheck, ViewerTarget, web_origin
from xpgeo_core.settings import load_settings

ELSEWHERE = "https://elsewhere.example.com"


def readiness(layer: PortalLayer) -> ViewerCheck:
    """XPGEO's check of the layer's photos, for the oracle page's origin (the host is still up)."""
    target = ViewerTarget((web_origin(layer.assets.base_url),), False, "the oracle page")
    check = ViewerCheck(load_settings({"retries": 0}, environ={}), target, mode="all")
    check.check([Image.of(url) for url in layer.urls])
    check.close()
    return check


def cors_refusals(layer: PortalLayer) -> List[str]:
    return [line for line in layer.verdict.get("console") or [] if "CORS policy" in line]


@pytest.fixture(scope="module")
def refused_layer(tmp_path_factory) -> Iterator[PortalLayer]:
    require_oracle()
    with PortalLayer(tmp_path_factory.mktemp("sdk-no-cors"), "keep", viewer=True, cors=ELSEWHERE) as layer:
        yield layer


@pytest.fixture(scope="module")
def allowed_layer(tmp_path_factory) -> Iterator[PortalLayer]:
    require_oracle()
    with PortalLayer(tmp_path_factory.mktemp("sdk-cors"), "keep", viewer=True, cors=True) as layer:
        yield layer


def test_the_browser_refuses_the_photo_the_check_flags(refused_layer):
    viewer: Dict[str, Any] = _viewer(refused_layer)
    wanted = refused_layer.target["attributes"]["ImagePath"]
    assert viewer["best"] is not None and viewer["best"]["ImagePath"] == wanted, viewer
    assert not viewer["loadedSeen"], viewer
    refusals = cors_refusals(refused_layer)
    assert any(wanted in line for line in refusals), refused_layer.verdict.get("console")
    check = readiness(refused_layer)
    for url in refused_layer.urls:
        found = check.issues_of(Image.of(url).image_path)
        assert [issue.kind for issue in found] == ["cors"], (url, found)
        assert ELSEWHERE in found[0].message


def test_the_check_finds_nothing_where_the_browser_fetched_the_photo(allowed_layer):
    viewer = _viewer(allowed_layer)
    wanted = allowed_layer.target["attributes"]["ImagePath"]
    assert viewer["best"] is not None and viewer["best"]["ImagePath"] == wanted, viewer
    assert "error" not in viewer["state"], viewer
    assert cors_refusals(allowed_layer) == []
    check = readiness(allowed_layer)
    assert all(check.issues_of(Image.of(url).image_path) == [] for url in allowed_layer.urls)
