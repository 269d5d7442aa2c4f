"""Presigned URLs: read with their signature, stored and recognised without it.

A signature is a secret (the guide: never in files), it expires, and it changes every time the
URL is signed again: a rerun with freshly presigned URLs must find the photos already there."""

from __future__ import annotations

import json
import logging

import pytest

from xpgeo_core.urls import is_presigned, without_credentials

S3_V4 = ("https://b.s3.amazonaws.com/site/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261201"
         "&X-Amz-Date=20261201T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=abc123")


@pytest.mark.parametrize("url, stored, signed", [
    (S3_V4, "https://b.s3.amazonaws.com/site/a.jpg", True),
    ("https://b.s3.amazonaws.com/a.jpg?AWSAccessKeyId=AK&Expires=1&Signature=s%3D",
     "https://b.s3.amazonaws.com/a.jpg", True),
    ("https://s.blob.core.windows.net/c/a.jpg?sv=2022-11-02&sp=r&se=2026-12-03&sr=b&sig=xyz",
     "https://s.blob.core.windows.net/c/a.jpg", True),
    ("https://storage.googleapis.com/b/a.jpg?X-Goog-Algorithm=GOOG4&X-Goog-Signature=ff",
     "https://storage.googleapis.com/b/a.jpg", True),
    ("https://cdn.example.com/a.jpg?Policy=p&Signature=s&Key-Pair-Id=K", "https://cdn.example.com/a.jpg", True),
    ("https://u:pw@h/a.jpg?v=2&token=T&sp=r", "https://h/a.jpg?v=2&sp=r", True),  # sp kept: no sig, no SAS
    ("https://h/a.jpg?v=2#f", "https://h/a.jpg?v=2#f", False),
    ("https://u:p@h/a.jpg", "https://h/a.jpg", False),
])
def test_stored_form_has_no_signature(url, stored, signed):
    assert without_credentials(url) == stored
    assert is_presigned(url) is signed


def _run(argv, env):
    from portal_support import run_cli
    return run_cli(argv, env)


def test_rerun_with_fresh_signatures_duplicates_nothing_and_stores_no_signature(tmp_path, caplog):
    from emulators.image_host import ImageHost
    from xpgeo_core.sample_photos import make_jpeg

    with ImageHost() as host:
        urls = [host.add(f"s{i}.jpg", make_jpeg(lat=47.6 + i * 0.001, lon=-122.3, alt=20.0, heading=10.0 * i,
                                                datetime_original="2026:03:01 10:00:00", seed=i))
                for i in range(3)]
        out = tmp_path / "layers"
        env = {"XPGEO_OUTPUT_DIR": str(out), "XPGEO_BACKEND": "local"}
        assert _run(["create-oi-layer", "--name", "signed"], env)[0] == 0
        for signing in ("SIGONE", "SIGTWO"):
            listing = tmp_path / f"{signing}.txt"
            listing.write_text("".join(f"{u}?X-Amz-Date={signing}&X-Amz-Signature={signing}\n" for u in urls))
            code, stdout, stderr = _run(["--json", "append-images", "--name", "signed", "--file", str(listing)], env)
            assert code == 0, stderr
            report = json.loads(stdout)
            if signing == "SIGTWO":
                assert report["skipped"] == 3 and report["appended"] == 0
            assert "presigned" in stderr
            assert signing not in stdout and signing not in stderr
        for path in (out / "signed").rglob("*"):
            if path.is_file() and path.suffix in (".json", ".geojson", ".csv", ".html"):
                text = path.read_text(encoding="utf-8", errors="replace")
                assert "SIGONE" not in text and "SIGTWO" not in text, path
        features = json.loads((out / "signed" / "features.geojson").read_text())["features"]
        assert sorted(f["properties"]["ImagePath"] for f in features) == sorted(urls)
