"""Finding the layer to append to: by the name as typed or as created, by item id, by item,
service or layer URL, in any of the owner's folders, without the portal's search."""

from __future__ import annotations

import pytest

from portal_support import host, portal, run_cli, synthetic_photos, user_env  # noqa: F401 (fixtures)
from xpgeo_core import operations
from xpgeo_core.backends.portal.lookup import LayerRef, RefKind, parse_reference
from xpgeo_core.errors import ValidationError
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.settings import load_settings


def settings_for(portal):
    return load_settings(environ=user_env(portal, XPGEO_BACKEND="portal"))


def append(portal, reference, urls):
    return operations.append_images(settings_for(portal), reference, urls=urls)


def test_every_kind_of_reference_reaches_the_layer(portal, host):
    created = operations.create_layer(settings_for(portal), "Site Survey 1",
                                      options=LayerOptions(folder="Field work"))
    assert created.layer_name == "Site_Survey_1"
    photos = synthetic_photos(host, 7)
    references = ["Site Survey 1", "Site_Survey_1", "site survey 1", created.item_id, created.service_url,
                  created.service_url + "/0", f"{portal.portal_url}/home/item.html?id={created.item_id}"]
    for reference, photo in zip(references, photos):
        report = append(portal, reference, [photo])
        assert report.appended == 1, (reference, report.results)
    assert len(portal.features("Site_Survey_1")) == 7
    assert not portal.requests_to("search")  # the owner's own content, not the search index


def test_append_on_the_command_line_by_the_typed_name(portal, host):
    code, _, err = run_cli(["create-oi-layer", "--name", "Site Survey 1"], user_env(portal))
    assert code == 0, err
    code, out, err = run_cli(["append-image", "--name", "Site Survey 1", "--image-url", synthetic_photos(host, 1)[0]],
                             user_env(portal))
    assert code == 0, err
    assert len(portal.features("Site_Survey_1")) == 1


def test_content_is_paged_through(portal, host):
    for i in range(12):
        operations.create_layer(settings_for(portal), f"layer_{i}")
    handler = portal.httpd.RequestHandlerClass
    original = handler._user_content

    def small_pages(self, owner, folder, params, user):  # a portal that answers 5 items a page
        params = dict(params, num=str(min(5, int(params.get("num") or 10))))
        return original(self, owner, folder, params, user)

    handler._user_content = small_pages
    assert append(portal, "layer_11", synthetic_photos(host, 1)).appended == 1
    assert len(portal.requests_to("xpgeo_user")) >= 3


def test_unknown_ambiguous_and_nearly_alike_names(portal, host):
    photo = synthetic_photos(host, 1)[0]
    with pytest.raises(ValidationError) as caught:
        append(portal, "nowhere", [photo])
    assert caught.value.status == 404 and "item id or FeatureServer URL" in caught.value.hint
    first = operations.create_layer(settings_for(portal), "Survey A")
    second = operations.create_layer(settings_for(portal), "Survey-A")  # cleaned to Survey_A too: timestamped
    assert append(portal, "Survey-A", [photo]).appended == 1  # the title as typed wins over a cleaned match
    assert len(portal.features(second.layer_name)) == 1 and not portal.features(first.layer_name)
    assert append(portal, "Survey_A", [photo]).appended == 1  # the service name as created
    assert len(portal.features(first.layer_name)) == 1
    with portal.lock:  # a second item titled "Survey A" (titles, unlike service names, may repeat)
        portal.db.execute("UPDATE items SET title = 'Survey A' WHERE id = ?", (second.item_id,))
    with pytest.raises(ValidationError) as caught:
        append(portal, "Survey A", [photo])
    assert caught.value.status == 409 and "More than one layer" in caught.value.message


def test_reference_forms():
    assert parse_reference("0123456789ABCDEF0123456789abcdef") == LayerRef(RefKind.ITEM,
                                                                          "0123456789abcdef0123456789abcdef")
    assert parse_reference("https://h/server/rest/services/Hosted/a/FeatureServer/3?f=json") == LayerRef(
        RefKind.URL, "https://h/server/rest/services/Hosted/a/FeatureServer", 3)
    assert parse_reference("https://h/portal/home/item.html?id=0123456789abcdef0123456789abcdef#overview"
                           ).kind is RefKind.ITEM
    assert parse_reference(" Site Survey 1 ") == LayerRef(RefKind.NAME, "Site Survey 1")
    with pytest.raises(ValidationError):
        parse_reference("https://h/portal/home/index.html")


def test_a_url_on_another_host_gets_no_credentials_unless_the_portal_lists_it(portal, host):
    """ArcGIS Online hosts services on other hosts than the portal; a typed URL must still not
    carry the token to a host the portal does not know."""
    created = operations.create_layer(settings_for(portal), "walk")
    photo = synthetic_photos(host, 1)[0]
    elsewhere = created.service_url.replace("127.0.0.1", "localhost")  # same emulator, another host name
    with pytest.raises(ValidationError) as caught:
        append(portal, elsewhere.replace("/walk/", "/other/"), [photo])
    assert "does not send your credentials" in caught.value.message
    assert not [r for r in portal.state.requests if r.headers.get("Host", "").startswith("localhost")]
    with portal.lock:  # the portal lists the service under that host: it is the portal's
        portal.db.execute("UPDATE items SET url = ? WHERE id = ?", (elsewhere, created.item_id))
    assert append(portal, elsewhere + "/0", [photo]).appended == 1
