"""Issue 16 items 1-3: sequences, near-duplicates and headings from the track.

The pure rules (:mod:`xpgeo_core.pipeline.sequences`) with their edge cases, then whole appends on the
local backend and the portal emulator: what the layer holds, what the report says, and reruns."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from xpgeo_core import operations
from xpgeo_core.demo.server import PhotoServer
from xpgeo_core.pipeline import gather, run_append
from xpgeo_core.pipeline.sink import Sink, Stop
from xpgeo_core.pipeline.sequences import (BLOCK, Photo, Rules, Sequencer, angle_between, bearing_deg,
                                           capture_seconds, distance_m, folder_of, heading_of, photo_of)
from xpgeo_core.results import APPENDED, SKIPPED
from xpgeo_core.sample_photos import make_jpeg
from local_support import local_settings
from portal_support import host, portal, run_cli, user_env, write_list  # noqa: F401 (fixtures)

METRES_PER_DEGREE = math.radians(1) * 6_371_008.8  # on the sphere the module uses


# -- the math -------------------------------------------------------------------------------------

def test_distance_and_bearing_along_a_meridian_and_a_parallel():
    assert distance_m(10, 50, 10, 50 + 1e-3) == pytest.approx(111.195, rel=1e-4)
    assert bearing_deg(10, 50, 10, 51) == pytest.approx(0.0, abs=1e-9)
    assert bearing_deg(10, 50, 10, 49) == pytest.approx(180.0)
    assert bearing_deg(10, 0, 11, 0) == pytest.approx(90.0)
    assert bearing_deg(11, 0, 10, 0) == pytest.approx(270.0)


def test_across_the_antimeridian_is_the_short_way():
    east, west = 179.9995, -179.9995  # 0.001° of longitude apart at the equator, across 180°
    assert distance_m(east, 0, west, 0) == pytest.approx(111.195, rel=1e-4)
    assert bearing_deg(east, 0, west, 0) == pytest.approx(90.0, abs=1e-6)
    assert bearing_deg(west, 0, east, 0) == pytest.approx(270.0, abs=1e-6)


def test_angles_between_headings_wrap_at_north():
    assert angle_between(359.0, 2.0) == pytest.approx(3.0)
    assert angle_between(10.0, 190.0) == pytest.approx(180.0)
    assert angle_between(-5.0, 5.0) == pytest.approx(10.0)


def test_unknown_headings_and_times():
    assert heading_of(None) is None and heading_of(-999) is None and heading_of(float("nan")) is None
    assert heading_of(True) is None and heading_of(370.0) == pytest.approx(10.0)
    assert capture_seconds(None) is None and capture_seconds("not a date") is None
    assert capture_seconds("2026-03-01T10:00:00Z") + 3600 == capture_seconds("2026-03-01T10:00:00-01:00")
    assert photo_of({"AcquisitionDate": None, "X": 1.0, "Y": 2.0}, "p") is None  # no time: unsequenced
    assert photo_of({"AcquisitionDate": "2026-03-01T10:00:00Z", "X": None, "Y": 2.0}, "p") is None


def test_folders_group_the_photos_of_one_camera():
    assert folder_of("https://h/cam1/a.jpg?x=1/2") == folder_of("https://h/cam1/b.jpg") == "https://h/cam1"
    assert folder_of("https://h/cam2/a.jpg") != folder_of("https://h/cam1/a.jpg")


# -- the rules -------------------------------------------------------------------------------------

T0 = 1_772_359_200.0  # 2026-03-01 10:00:00 UTC


def track(n: int, *, step_s: float = 2.0, step_m: float = 5.0, heading: Optional[float] = None, t0: float = T0,
          lat: float = 45.0, lon: float = 5.0, name: str = "p") -> List[Photo]:
    """*n* photos northward, *step_m* apart, *step_s* apart in time."""
    return [Photo(t0 + i * step_s, lon, lat + i * step_m / METRES_PER_DEGREE, heading, f"{name}{i}", token=f"{name}{i}")
            for i in range(n)]


def run(photos: List[Photo], rules: Rules = Rules(), layer: Optional[List[Photo]] = None,
        folder: str = "f") -> Dict[str, Any]:
    sequencer = Sequencer(rules, [(folder, p) for p in layer or []])
    photos = [Photo(p.t, p.x, p.y, p.heading, p.display, token=p.token) for p in photos]  # fresh: placing fills them
    tokens = sorted(p.token for p in photos)
    outcomes = []
    for photo in photos:
        outcomes.extend(sequencer.add(folder, photo))
    outcomes.extend(sequencer.finish())
    assert sorted(o.token for o in outcomes) == tokens, "every photo gets one outcome"
    return {o.token: o for o in outcomes}


def order_of(outcomes: Dict[str, Any]) -> List[str]:
    kept = [t for t, o in outcomes.items() if o.sequence is not None]
    return sorted(kept, key=lambda t: outcomes[t].sequence[1])


def test_one_track_is_one_sequence_in_time_order():
    photos = track(5)
    out = run(photos)
    assert {o.sequence[0] for o in out.values()} == {1}
    assert order_of(out) == ["p0", "p1", "p2", "p3", "p4"]
    orders = [out[f"p{i}"].sequence[1] for i in range(5)]
    assert orders[0] == 1 * BLOCK + BLOCK / 2 and all(b - a == pytest.approx(2.0) for a, b in zip(orders, orders[1:]))


def test_a_list_in_any_order_gives_the_same_sequences():
    photos = track(30, heading=0.0)
    in_order = run([Photo(p.t, p.x, p.y, p.heading, p.display, token=p.token) for p in photos])
    shuffled = photos[:]
    random.Random(4).shuffle(shuffled)
    any_order = run(shuffled)
    assert order_of(any_order) == order_of(in_order) == [p.token for p in photos]
    assert len({o.sequence[0] for o in any_order.values()}) == 1


def test_cut_where_the_gap_exceeds_60_seconds_or_600_metres_not_at_it():
    photos = track(2, step_s=60.0) + track(1, t0=T0 + 60 + 60.001, name="late")
    photos[-1].y = photos[1].y  # same place, 60.001 s later
    out = run(photos)
    assert out["p0"].sequence[0] == out["p1"].sequence[0] != out["late0"].sequence[0]
    far = track(2, step_m=599.99) + [Photo(T0 + 4, 5.0, 45.0 + 1200.0 / METRES_PER_DEGREE, None, "far", token="far")]
    out = run(far)
    assert out["p0"].sequence[0] == out["p1"].sequence[0] != out["far"].sequence[0]


def test_equal_capture_times_keep_the_reading_order_and_distinct_orders():
    photos = [Photo(T0, 5.0, 45.0 + i * 3 / METRES_PER_DEGREE, None, f"p{i}", token=f"p{i}") for i in range(4)]
    out = run(photos)
    assert order_of(out) == ["p0", "p1", "p2", "p3"]
    assert len({o.sequence[1] for o in out.values()}) == 4


def test_near_duplicates_are_skipped_and_named_never_silent():
    photos = track(3, heading=90.0)
    photos.insert(2, Photo(photos[1].t + 0.5, photos[1].x, photos[1].y + 0.05 / METRES_PER_DEGREE, 93.0, "dup",
                           token="dup"))
    turned = Photo(photos[1].t + 0.7, photos[1].x, photos[1].y, 100.0, "turned", token="turned")  # 10°: kept
    out = run(photos + [turned])
    assert out["dup"].duplicate_of == "p1" and out["dup"].sequence is None
    assert out["dup"].duplicate_gap[0] == pytest.approx(0.05, abs=1e-3) and out["dup"].duplicate_gap[1] == 3.0
    assert out["turned"].duplicate_of is None
    kept = run(photos, Rules(keep_duplicates=True))
    assert kept["dup"].duplicate_of is None and kept["dup"].sequence is not None


def test_without_headings_the_distance_alone_decides():
    photos = track(2) + [Photo(T0 + 3, 5.0, 45.0 + 5 / METRES_PER_DEGREE, None, "same place", token="same")]
    assert run(photos)["same"].duplicate_of == "p1"


def test_heading_from_the_track_with_an_offset_never_over_a_recorded_one():
    photos = track(3)  # northward, no headings
    photos[1].heading = 42.0
    out = run(photos, Rules(heading_from_track=True, heading_offset=90.0))
    assert out["p0"].heading == pytest.approx(90.0, abs=1e-6)  # bearing to the next (0°) + 90
    assert out["p1"].heading is None  # recorded: kept
    assert out["p2"].heading == pytest.approx(90.0, abs=1e-6) and "previous" in out["p2"].heading_from
    alone = run(track(1), Rules(heading_from_track=True))
    assert alone["p0"].heading is None and "only photo" in alone["p0"].heading_from
    assert run(track(3), Rules())["p0"].heading is None  # opt-in


def test_heading_offset_wraps_and_works_across_the_antimeridian():
    photos = [Photo(T0, 179.9999, 0.0, None, "p0", token="p0"), Photo(T0 + 1, -179.9999, 0.0, None, "p1", token="p1")]
    out = run(photos, Rules(heading_from_track=True, heading_offset=-90.0))
    assert out["p0"].heading == pytest.approx(0.0, abs=1e-6)  # eastward (90°) - 90
    assert out["p0"].sequence[0] == out["p1"].sequence[0]  # 22 m apart, not half the world


def test_a_rerun_fits_new_photos_between_and_after_without_renumbering():
    first = run(track(5, step_s=4.0)[::2])  # p0, p2, p4 in a first run
    layer = []
    for token, outcome in first.items():
        i = int(token[1:])
        layer.append(Photo(T0 + i * 4.0, 5.0, 45.0 + i * 5 / METRES_PER_DEGREE, None, token, seq=outcome.sequence[0],
                           order=outcome.sequence[1]))
    later = track(7, step_s=4.0)
    rerun = run([p for p in later if p.token in ("p1", "p3", "p5", "p6")], layer=layer)
    orders = {p.display: p.order for p in layer}
    orders.update({t: o.sequence[1] for t, o in rerun.items()})
    assert sorted(orders, key=orders.get) == [f"p{i}" for i in range(7)]
    assert {o.sequence[0] for o in rerun.values()} == {layer[0].seq}


def test_a_rerun_photo_far_in_time_starts_a_new_sequence_after_the_layers():
    layer = [Photo(T0, 5.0, 45.0, None, "old", seq=7, order=7 * BLOCK + BLOCK / 2)]
    out = run(track(1, t0=T0 + 3600), layer=layer)
    assert out["p0"].sequence == (8, 8 * BLOCK + BLOCK / 2)


def test_a_new_photo_before_the_first_of_a_sequence_joins_it():
    layer = [Photo(T0 + 10, 5.0, 45.0 + 50 / METRES_PER_DEGREE, None, "old", seq=3, order=3 * BLOCK + BLOCK / 2)]
    out = run(track(1, t0=T0), layer=layer)
    assert out["p0"].sequence == (3, 3 * BLOCK + BLOCK / 2 - 10)


# -- whole appends ----------------------------------------------------------------------------------

def capture_photo(i: int, *, heading: Optional[float] = None, second: int = 0, north_m: float = 0.0) -> bytes:
    """A photo of a northward walk in Lyon, one every 2 s and 5 m (photo *i*)."""
    total = int(i * 2 + second)
    fields: Dict[str, Any] = {}
    if heading is not None:
        fields["heading"] = heading
    return make_jpeg(lat=45.76 + (i * 5 + north_m) / METRES_PER_DEGREE, lon=4.835, alt=170.0,
                     datetime_original="2026:03:01 10:%02d:%02d" % (total // 60, total % 60),
                     offset_time_original="+01:00", focal_length_35mm=26, seed=i, **fields)


def capture() -> Dict[str, bytes]:
    files = {f"walk/P{i:03d}.jpg": capture_photo(i) for i in range(6)}
    files["walk/P002b.jpg"] = capture_photo(2, second=1, north_m=0.04)  # 4 cm from P002, a second later
    files["walk/P004.jpg"] = capture_photo(4, heading=10.0)  # a recorded heading
    files["later/Q000.jpg"] = make_jpeg(lat=45.8, lon=4.9, alt=170.0, datetime_original="2026:03:01 12:00:00",
                                        offset_time_original="+01:00", focal_length_35mm=26, seed=99)
    return files


def test_local_append_writes_sequences_skips_near_duplicates_and_flags_inferred_headings(tmp_path):
    with PhotoServer(capture()) as server:
        settings = local_settings(tmp_path, heading_from_track=True, heading_offset=90.0)
        operations.create_layer(settings, "walk")
        urls = [server.url_for(p) for p in sorted(capture())][::-1]  # newest first: order must not matter
        report = operations.append_images(settings, "walk", urls=urls)
    folder = tmp_path / "layers" / "walk"
    layer = json.loads((folder / "layer.json").read_text(encoding="utf-8"))
    props = layer["layer"]["orientedImageryInfo"]["orientedImageryProperties"]
    assert props["sequenceOrderField"] == "SequenceOrder"
    assert {"SequenceId", "SequenceOrder"} <= {f["name"] for f in layer["layer"]["fields"]}
    features = json.loads((folder / "features.geojson").read_text(encoding="utf-8"))["features"]
    by_name = {f["properties"]["Name"]: f["properties"] for f in features}
    walk = sorted((p for p in by_name.values() if "/walk/" in p["ImagePath"]), key=lambda p: p["SequenceOrder"])
    assert [p["Name"] for p in walk] == [f"P{i:03d}" for i in range(6)]
    assert len({p["SequenceId"] for p in walk}) == 1 and by_name["Q000"]["SequenceId"] != walk[0]["SequenceId"]
    assert by_name["P004"]["CameraHeading"] == pytest.approx(10.0)  # recorded: never overwritten
    assert by_name["P000"]["CameraHeading"] == pytest.approx(90.0, abs=1e-3)  # north + 90
    assert by_name["Q000"]["CameraHeading"] is None  # alone: no track
    results = {r.url.rsplit("/", 1)[-1]: r for r in report.results}
    dup = results["P002b.jpg"]
    assert dup.status == SKIPPED and dup.reason.startswith("near-duplicate of ") and "P002.jpg" in dup.reason
    assert results["P000.jpg"].notes and "inferred from the track" in results["P000.jpg"].notes[0]
    assert not results["P004.jpg"].notes
    assert report.extra["sequences"]["near_duplicates"] == 1 and report.extra["sequences"]["headings_inferred"] == 5
    saved = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    saved_by_name = {r["url"].rsplit("/", 1)[-1]: r for r in saved["results"]}
    assert saved_by_name["P002b.jpg"]["status"] == "skipped" and "near-duplicate" in saved_by_name["P002b.jpg"]["reason"]
    assert "inferred" in saved_by_name["P001.jpg"]["notes"][0]
    assert any("near-duplicate" in m for m in saved["messages"])


def test_local_rerun_adds_photos_in_between_in_order(tmp_path):
    files = {f"walk/P{i:03d}.jpg": capture_photo(i) for i in range(7)}
    with PhotoServer(files) as server:
        settings = local_settings(tmp_path)
        operations.create_layer(settings, "walk")
        urls = [server.url_for(p) for p in sorted(files)]
        operations.append_images(settings, "walk", urls=urls[::2])
        folder = tmp_path / "layers" / "walk"
        before = {f["properties"]["Name"]: f["properties"]["SequenceOrder"]
                  for f in json.loads((folder / "features.geojson").read_text(encoding="utf-8"))["features"]}
        report = operations.append_images(settings, "walk", urls=urls)
    assert report.appended == 3 and report.skipped == 4
    features = json.loads((folder / "features.geojson").read_text(encoding="utf-8"))["features"]
    after = {f["properties"]["Name"]: f["properties"]["SequenceOrder"] for f in features}
    assert {k: after[k] for k in before} == before  # nothing renumbered
    assert sorted(after, key=after.get) == [f"P{i:03d}" for i in range(7)]
    assert len({f["properties"]["SequenceId"] for f in features}) == 1


def test_sequences_can_be_turned_off(tmp_path):
    with PhotoServer(capture()) as server:
        settings = local_settings(tmp_path, sequences=False)
        operations.create_layer(settings, "walk")
        report = operations.append_images(settings, "walk", urls=[server.url_for(p) for p in sorted(capture())])
    assert report.appended == len(capture()) and "sequences" not in report.extra
    features = json.loads((tmp_path / "layers" / "walk" / "features.geojson").read_text(encoding="utf-8"))["features"]
    assert all(f["properties"]["SequenceOrder"] is None for f in features)


# -- the portal emulator ---------------------------------------------------------------------------

def walk_on(host: Any, count: int = 6) -> List[str]:
    urls = [host.add(f"walk/P{i:03d}.jpg", capture_photo(i)) for i in range(count)]
    urls.append(host.add("walk/P002b.jpg", capture_photo(2, second=1, north_m=0.04)))
    return urls


def test_portal_append_and_rerun_through_the_cli(tmp_path, portal, host):
    env = user_env(portal)
    code, out, err = run_cli(["--json", "create-oi-layer", "--name", "Walk"], env)
    assert code == 0, err
    service = json.loads(out)["layer_name"]
    definition = portal.layer(service)
    assert definition["orientedImageryInfo"]["orientedImageryProperties"]["sequenceOrderField"] == "SequenceOrder"
    urls = walk_on(host)
    first = [u for u in urls if u.endswith(("P000.jpg", "P002.jpg", "P004.jpg", "P002b.jpg"))][::-1]
    code, out, err = run_cli(["--json", "append-images", "--name", service, "--file", write_list(tmp_path, first),
                              "--heading-from-track", "--heading-offset", "90"], env)
    assert code == 0, err
    report = json.loads(out)
    # Read newest first, P002b was sent before P002 was read: P002 is then the near-duplicate (of the two, one).
    dups = [r for r in report["results"] if r["status"] == "skipped"]
    assert len(dups) == 1 and dups[0]["url"].endswith(("P002.jpg", "P002b.jpg"))
    assert dups[0]["reason"].startswith("near-duplicate of ") and "P002" in dups[0]["reason"]
    inferred = [r for r in report["results"] if r.get("notes")]
    assert len(inferred) == 3 and all("inferred from the track" in r["notes"][0] for r in inferred)
    before = {f["attributes"]["Name"]: f["attributes"] for f in portal.features(service)}
    assert before["P000"]["CameraHeading"] == pytest.approx(90.0, abs=1e-3)
    code, out, err = run_cli(["--json", "append-images", "--name", service, "--file", write_list(tmp_path, urls)], env)
    assert code == 0, err
    report = json.loads(out)
    assert report["appended"] == 3 and report["skipped"] == 4
    after = {f["attributes"]["Name"]: f["attributes"] for f in portal.features(service)}
    assert {k: after[k]["SequenceOrder"] for k in before} == {k: v["SequenceOrder"] for k, v in before.items()}
    # P002 and P002b: one of them is in the layer (the rerun skips the other again, as its near-duplicate).
    assert len(after) == 6 and len({"P002", "P002b"} & set(after)) == 1
    by_time = sorted(after, key=lambda k: (after[k]["AcquisitionDate"], k))
    assert sorted(after, key=lambda k: after[k]["SequenceOrder"]) == by_time
    assert len({a["SequenceId"] for a in after.values()}) == 1
    assert after["P001"]["CameraHeading"] is None  # the rerun did not ask for headings from the track


def test_portal_layer_without_sequence_fields_is_appended_without_them(tmp_path, portal, host, monkeypatch, caplog):
    from xpgeo_core.backends.portal import backend as portal_backend
    from xpgeo_core.settings import load_settings

    made = portal_backend.layer_definition

    def earlier_release(*args: Any, **kwargs: Any) -> Dict[str, Any]:
        definition = made(*args, **kwargs)
        definition["fields"] = [f for f in definition["fields"] if not f["name"].startswith("Sequence")]
        return definition

    monkeypatch.setattr(portal_backend, "layer_definition", earlier_release)
    settings = load_settings({"backend": "portal", "portal_url": portal.portal_url, "username": "xpgeo_user",
                              "password": user_env(portal)["XPGEO_PASSWORD"], "retry_backoff": 0}, environ={})
    created = operations.create_layer(settings, "Old")
    report = operations.append_images(settings, created.layer_name, urls=walk_on(host, 3))
    assert report.appended == 3 and report.skipped == 1  # near-duplicates are still skipped
    assert all("SequenceOrder" not in f["attributes"] for f in portal.features(created.layer_name))
    assert any("has no SequenceId and SequenceOrder fields" in r.getMessage() for r in caplog.records)


def test_portal_rerun_reads_only_the_sequences_of_its_own_folders(tmp_path, portal, host):
    env = user_env(portal)
    code, out, err = run_cli(["--json", "create-oi-layer", "--name", "Two_cameras"], env)
    assert code == 0, err
    service = json.loads(out)["layer_name"]
    left = [host.add(f"rig_left/L{i}.jpg", capture_photo(i)) for i in range(3)]
    right = [host.add(f"rig_right/R{i}.jpg", capture_photo(i, heading=90.0)) for i in range(3)]
    assert run_cli(["append-images", "--name", service, "--file", write_list(tmp_path, left + right[:1])], env)[0] == 0
    queries = len(portal.requests_to("query"))
    code, out, err = run_cli(["--json", "append-images", "--name", service, "--file",
                              write_list(tmp_path, right[1:])], env)
    assert code == 0, err
    sequence_queries = [r.params["where"] for r in portal.requests_to("query")[queries:] if "LIKE" in r.params.get(
        "where", "")]
    assert sequence_queries and all("rig_right/%" in w and "rig_left" not in w for w in sequence_queries)
    features = {f["attributes"]["Name"]: f["attributes"] for f in portal.features(service)}
    assert features["R1"]["SequenceId"] == features["R0"]["SequenceId"] != features["L0"]["SequenceId"]
    assert features["R0"]["SequenceOrder"] < features["R1"]["SequenceOrder"] < features["R2"]["SequenceOrder"]


class _GoneAfterFirstChunk(Sink):
    """A sink whose server goes away on the first chunk it is sent."""

    def __init__(self) -> None:
        super().__init__("gone", 2)
        self.sent: List[List[str]] = []

    def send(self, items):
        self.sent.append([i.image.image_path for i in items])
        raise Stop("the server stopped answering")


def test_held_photos_are_accounted_for_when_the_run_stops(tmp_path):
    files = {f"walk/P{i:03d}.jpg": capture_photo(i) for i in range(7)}
    with PhotoServer(files) as server:
        images = gather((None, server.url_for(p)) for p in sorted(files, reverse=True)).images  # out of order
        sink = _GoneAfterFirstChunk()
        report = run_append(sink, images, settings=local_settings(tmp_path, heading_from_track=True))
    assert len(report.results) == 7 and len(sink.sent) == 1
    assert all(r.status == "failed" and r.reason for r in report.results)
    assert sum("not sent: the server stopped answering" in r.reason for r in report.results) >= 5


def test_xpgeo_server_with_preflight_is_not_sent_near_duplicates(tmp_path):
    """The XPGEO server takes URLs only (it sequences itself): no sequence fields are sent to it, but where
    XPGEO reads the headers (--preflight) a near-duplicate is left out and reported."""
    from emulators.xpgeo_server import FakeXpgeoServer

    files = {f"walk/P{i:03d}.jpg": capture_photo(i) for i in range(3)}
    files["walk/P001b.jpg"] = capture_photo(1, second=1, north_m=0.03)
    with FakeXpgeoServer() as server, PhotoServer(files) as photos:
        env = {"XPGEO_REST_URL": server.url, "XPGEO_RETRY_BACKOFF": "0"}
        assert run_cli(["create-oi-layer", "--name=lyr"], env)[0] == 0
        urls = [photos.url_for(p) for p in sorted(files)]
        code, out, err = run_cli(["--json", "append-images", "--name=lyr", "--preflight", "--file",
                                  write_list(tmp_path, urls)], env)
        assert code == 0, err
        sent = list(server.state.layers["lyr"])
    report = json.loads(out)
    assert sorted(sent) == sorted(u for u in urls if not u.endswith("P001b.jpg"))
    dup = next(r for r in report["results"] if r["url"].endswith("P001b.jpg"))
    assert dup["status"] == "skipped" and dup["reason"].startswith("near-duplicate of ")
