"""Operations: backend choice, URL checks and list reading, the no-data-lost merge."""

from __future__ import annotations

from typing import List, Optional, Sequence

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from xpgeo_core import operations
from xpgeo_core.backends import choose_backend_name
from xpgeo_core.errors import ValidationError
from xpgeo_core.results import APPENDED, FAILED, SKIPPED, AppendReport, ImageResult
from xpgeo_core.settings import load_settings
from xpgeo_core.image_lists import read_list_file
from xpgeo_core.urls import check_image_url, image_url_problem


@pytest.mark.parametrize("env, signed_in, expected", [
    ({}, False, "local"),
    ({"XPGEO_REST_URL": "https://x.example"}, True, "xpgeo"),
    ({"XPGEO_PORTAL_URL": "https://gis.example/portal"}, False, "portal"),
    ({}, True, "portal"),
    ({"XPGEO_BACKEND": "local", "XPGEO_REST_URL": "https://x.example"}, True, "local"),
])
def test_backend_choice(env, signed_in, expected):
    s = load_settings(environ=env)
    provider = (lambda: {"token": "t"}) if signed_in else None
    portal = "https://www.arcgis.com" if signed_in else None
    assert choose_backend_name(s, token_provider=provider, portal_url=portal) == expected


@pytest.mark.parametrize("url", ["https://b.s3.us-west-2.amazonaws.com/k/IMG_1.jpg?X-Amz-Signature=abc&x=1",
                                 "http://127.0.0.1:8080/a.jpg", "https://h/%20a.jpg"])
def test_good_urls(url):
    assert image_url_problem(url) is None and check_image_url(" " + url + " ") == url


@pytest.mark.parametrize("url, words", [("", "empty"), ("file:///a.jpg", "http"), ("https://h/a b.jpg", "space"),
                                        ("https://h/a\tb.jpg", "control"), ("https:///a.jpg", "host"),
                                        ("https://h:port/a.jpg", "port")])
def test_bad_urls(url, words):
    assert words in image_url_problem(url)


@hsettings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_url_check_never_raises_anything_but_validation(text):
    try:
        check_image_url(text)
    except ValidationError as exc:
        assert exc.status in (400, 422)


def test_url_file_rejects_non_utf8(tmp_path):
    path = tmp_path / "l.txt"
    path.write_bytes(b"https://h/caf\xe9.jpg\n")
    with pytest.raises(ValidationError, match="UTF-8"):
        read_list_file(str(path))


def test_empty_list_is_a_clear_error(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("# nothing yet\n\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="has no image URLs"):
        operations.append_images(load_settings(environ={}), "lyr", url_file=str(path))


class _Forgetful:
    """A backend whose sink loses one result and invents one: the loop must still account for every URL."""

    name = "forgetful"

    def __init__(self, *a, **k):
        self.sent: List[str] = []

    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass

    def open_sink(self, name: str, *, imagery_type: Optional[str] = None, single: bool = False):
        from xpgeo_core.pipeline.sink import Sink, result

        owner = self

        class ForgetfulSink(Sink):
            takes_photos = False

            def send(self, items):
                owner.sent += [i.image.fetch_url for i in items]
                out = {i.image.image_path: result(i.image, APPENDED) for i in items[1:]}
                out["https://other/x.jpg"] = ImageResult("https://other/x.jpg", APPENDED)
                if len(items) > 1:
                    out[items[1].image.image_path].status = SKIPPED
                return out

        return ForgetfulSink(name, 3)


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([f"https://h/{i}.jpg" for i in range(8)] + ["bad url", "ftp://x/y"]),
                min_size=1, max_size=30))
def test_every_distinct_entry_ends_with_one_result(monkeypatch_items):
    import xpgeo_core.operations as ops

    original = ops.get_backend
    ops.get_backend = lambda *a, **k: _Forgetful()
    try:
        report = ops.append_images(load_settings(environ={}), "lyr", urls=monkeypatch_items)
    finally:
        ops.get_backend = original
    distinct = list(dict.fromkeys(u.strip() for u in monkeypatch_items))
    assert sorted(r.url for r in report.results) == sorted(distinct)
    assert report.appended + report.skipped + report.failed == len(distinct)
    assert report.duplicates_removed == len(monkeypatch_items) - len(distinct)
    assert all(r.reason for r in report.results if r.status == FAILED)
