"""Photos as feature attachments (issue 15 item 1): photo files of this machine (an SD card's folder) go into a
portal layer made with --attachments, each uploaded as its feature's attachment, through the CLI against the
portal emulator (tests/emulators/portal_attachments.py).

What each test proves: the layer and its features are what Esri's viewer needs (hasAttachments, GlobalID,
ImagePath "FA", the photo's bytes and content type as the attachment); a rerun uploads and adds nothing; a
lost addAttachment answer is checked before anything is sent again; a feature whose photo never landed gets
only its photo on the rerun; a photo over the service's limit is refused with both sizes (before its feature
when the service says its limit, from the refusal on each kind of server otherwise); memory stays flat for a
100 MB photo; bad combinations are refused before anything is sent.
"""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from pathlib import Path
from typing import Any, Dict, List

import pytest

from emulators.portal import PortalEmulator
from portal_support import run_cli, user_env
from xpgeo_core.sample_photos import make_jpeg


def sd_card(folder: Path, count: int = 3, size: int = 0) -> List[Path]:
    """A camera card: DCIM/100MEDIA/DJI_000N.JPG, geotagged, a walk north-east."""
    photos = folder / "DCIM" / "100MEDIA"
    photos.mkdir(parents=True)
    paths = []
    for i in range(count):
        data = make_jpeg(lat=47.60 + i * 0.0001, lon=-122.33 + i * 0.0001, alt=50.0 + i, heading=(i * 37) % 360,
                         datetime_original="2026:03:01 10:%02d:00" % i, make="DJI", model="FC3411", seed=i,
                         target_size=size if 0 < size < (24 << 20) else None)
        path = photos / f"DJI_{i + 1:04d}.JPG"
        with open(path, "wb") as out:
            out.write(data)
            if len(data) < size:  # a big photo: what follows the JPEG's end is not read by any decoder
                out.truncate(size)
        paths.append(path)
    return paths


def make_layer(portal: PortalEmulator, name: str = "sd_walk", attachments: bool = True) -> str:
    argv = ["--json", "create-oi-layer", "--name", name] + (["--attachments"] if attachments else [])
    code, out, err = run_cli(argv, user_env(portal))
    assert code == 0, err
    return json.loads(out)["layer_name"]


def append(portal: PortalEmulator, name: str, folder: Path, *extra: str, env: Any = None) -> Dict[str, Any]:
    code, out, err = run_cli(["--json", "append-images", "--name", name, "--photo-folder", str(folder),
                              "--attachments", *extra], env or user_env(portal))
    report = json.loads(out) if out.strip() else {}
    report["_code"], report["_err"] = code, err
    return report


def statuses(report: Dict[str, Any]) -> List[str]:
    return sorted(r["status"] for r in report["results"])


def assert_each_photo_attached_once(portal: PortalEmulator, service: str, paths: List[Path]) -> None:
    features = portal.features(service)
    attachments = portal.attachments.of(service)
    assert len(features) == len(paths) and len(attachments) == len(paths)
    by_parent = {a["parent"]: a for a in attachments}
    for feature in features:
        attributes = feature["attributes"]
        assert attributes["ImagePath"] == "FA" and attributes["GlobalID"].startswith("{")
        path = Path(attributes["PhotoKey"].rsplit("|", 2)[0])
        attached = by_parent[attributes["OBJECTID"]]
        assert attached["name"] == path.name and attached["contentType"] == "image/jpeg"
        assert attached["size"] == path.stat().st_size
        assert attached["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sorted(Path(f["attributes"]["PhotoKey"].rsplit("|", 2)[0]) for f in features) == sorted(paths)


def test_an_sd_card_folder_becomes_attached_photos_and_a_rerun_sends_nothing(tmp_path):
    paths = sd_card(tmp_path / "card")
    with PortalEmulator() as portal:
        service = make_layer(portal)
        layer = portal.layer(service)
        assert layer["hasAttachments"] is True and layer["globalIdField"] == "GlobalID"
        assert {"GlobalID", "PhotoKey"} <= {f["name"] for f in layer["fields"]}
        assert "Uploads" in portal.service(service)["capabilities"]
        props = layer["orientedImageryInfo"]["orientedImageryProperties"]
        assert props.get("imagePathPrefix", "") == "" and props.get("imagePathSuffix", "") == ""
        report = append(portal, service, tmp_path / "card")
        assert report["_code"] == 0, report["_err"]
        assert statuses(report) == ["appended"] * 3
        assert_each_photo_attached_once(portal, service, paths)
        assert all(f["attributes"]["SequenceOrder"] is not None for f in portal.features(service))

        uploads, adds = len(portal.requests_to("addAttachment")), len(portal.requests_to("addFeatures"))
        again = append(portal, service, tmp_path / "card")
        assert again["_code"] == 0 and statuses(again) == ["skipped"] * 3
        assert len(portal.requests_to("addAttachment")) == uploads and len(portal.requests_to("addFeatures")) == adds
        assert_each_photo_attached_once(portal, service, paths)


def test_a_lost_upload_answer_is_checked_not_sent_again(tmp_path):
    paths = sd_card(tmp_path / "card")
    with PortalEmulator(faults={"addAttachment": {2: "drop_after"}}) as portal:
        service = make_layer(portal)
        report = append(portal, service, tmp_path / "card")
        assert report["_code"] == 0, report["_err"]
        assert statuses(report) == ["appended"] * 3
        assert len(portal.requests_to("addAttachment")) == 3  # the lost one was found attached
        assert portal.requests_to("queryAttachments")
        assert_each_photo_attached_once(portal, service, paths)


def test_a_failed_upload_is_sent_again_after_checking(tmp_path):
    paths = sd_card(tmp_path / "card", count=2)
    with PortalEmulator(faults={"addAttachment": {1: "drop"}}) as portal:
        service = make_layer(portal)
        report = append(portal, service, tmp_path / "card")
        assert report["_code"] == 0 and statuses(report) == ["appended"] * 2
        assert len(portal.requests_to("addAttachment")) == 3
        assert_each_photo_attached_once(portal, service, paths)


@pytest.mark.parametrize("query_attachments", [True, False])
def test_a_feature_whose_photo_never_landed_gets_only_its_photo_on_the_rerun(tmp_path, query_attachments):
    paths = sd_card(tmp_path / "card")
    with PortalEmulator(faults={"addAttachment": {2: "down"}}, supports_query_attachments=query_attachments) as portal:
        service = make_layer(portal)
        first = append(portal, service, tmp_path / "card")
        assert first["_code"] != 0
        assert len(portal.features(service)) == 3 and len(portal.attachments.of(service)) == 1
        not_attached = [r for r in first["results"] if r["status"] != "appended"]
        assert len(not_attached) == 2 and all("run the same append again" in r["reason"] for r in not_attached)
        portal.state.down = False
        portal.state.faults.clear()
        adds = len(portal.requests_to("addFeatures"))
        again = append(portal, service, tmp_path / "card")
        assert again["_code"] == 0, again["_err"]
        assert statuses(again) == ["appended", "appended", "skipped"]
        assert len(portal.requests_to("addFeatures")) == adds  # no feature added twice
        assert_each_photo_attached_once(portal, service, paths)


def test_a_photo_over_the_service_limit_is_refused_before_its_feature(tmp_path):
    sd_card(tmp_path / "card", count=2, size=(1 << 20) + 4096)
    small = tmp_path / "card" / "DCIM" / "100MEDIA" / "SMALL.JPG"
    small.write_bytes(make_jpeg(lat=47.61, lon=-122.33, alt=50.0, heading=10.0, seed=9))
    with PortalEmulator(max_upload_mb=1) as portal:
        service = make_layer(portal)
        report = append(portal, service, tmp_path / "card")
        assert report["_code"] != 0
        refused = [r for r in report["results"] if r["status"] == "failed"]
        assert len(refused) == 2
        for outcome in refused:
            assert "1.0 MB" in outcome["reason"] and "maxUploadFileSize" in outcome["reason"]
            assert "DJI_000" in outcome["url"]
        assert len(portal.features(service)) == 1 and len(portal.attachments.of(service)) == 1
        assert "larger than the 1.0 MB" in report["_err"]


@pytest.mark.parametrize("rule", ["edit_error", "error_body", "http413"])
def test_a_service_that_does_not_say_its_limit_refuses_clearly(tmp_path, rule):
    sd_card(tmp_path / "card", count=1, size=(1 << 20) + 4096)
    with PortalEmulator(max_upload_mb=1, uploads_info=False, too_large=rule) as portal:
        service = make_layer(portal)
        report = append(portal, service, tmp_path / "card")
        assert report["_code"] != 0
        (outcome,) = report["results"]
        assert outcome["status"] == "failed" and "DJI_0001.JPG" in outcome["url"]
        assert "1.0 MB photo" in outcome["reason"] and "not attached" in outcome["reason"]
        if rule == "http413":
            assert "too large (HTTP 413)" in outcome["reason"]
        else:
            assert "exceeds the maximum upload file size" in outcome["reason"]
        assert len(portal.requests_to("addAttachment")) == 1  # a refusal is not sent again


def test_a_100_mb_photo_is_streamed_with_flat_memory(tmp_path):
    (path,) = sd_card(tmp_path / "card", count=1, size=100 * 1024 * 1024)
    with PortalEmulator() as portal:
        service = make_layer(portal)
        tracemalloc.start()
        try:
            report = append(portal, service, tmp_path / "card")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert report["_code"] == 0, report["_err"]
        assert_each_photo_attached_once(portal, service, [path])
        assert peak < 24 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a 100 MB photo: not streamed"


def test_bad_combinations_are_refused_before_anything_is_sent(tmp_path):
    sd_card(tmp_path / "card", count=1)
    with PortalEmulator() as portal:
        plain = make_layer(portal, "plain_layer", attachments=False)
        report = append(portal, plain, tmp_path / "card")
        assert report["_code"] != 0 and "was not made for photos as attachments" in report["_err"]
        assert "--attachments" in report["_err"]
        code, _, err = run_cli(["append-images", "--name", plain, "--photo-folder", str(tmp_path / "card")],
                               user_env(portal))
        assert code != 0 and "--attachments" in err  # local files without --attachments: what to do
        code, _, err = run_cli(["--backend", "xpgeo", "--rest-url", "http://127.0.0.1:9", "append-images", "--name",
                                plain, "--photo-folder", str(tmp_path / "card"), "--attachments"], user_env(portal))
        assert code != 0 and "need the portal backend" in err
        assert portal.requests_to("addFeatures") == [] and portal.requests_to("addAttachment") == []
