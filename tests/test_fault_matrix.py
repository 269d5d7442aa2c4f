"""The fault matrix: every backend, every fault, then a rerun; the true state is read after each run.

Loopback only, seeded, bounded. A fault-injecting proxy (``emulators/fault_proxy.py``) sits
in front of the server each backend writes to (the fake XPGEO server, the portal emulator) or,
for the local backend, in front of the photo host. After every run the test reads what the
server or folder really holds and compares it with the report, image by image:

* 0 duplicated: no ImagePath is in the layer twice;
* 0 misreported: ``appended`` and ``skipped`` are in the layer, ``failed`` is not
  (``unconfirmed`` says "we cannot know" and may be either);
* 0 lost: after a rerun without faults, every image is in the layer exactly once.

``kill -9`` at seeded random moments of a command-line run, then a rerun, closes each backend's
rows. ``XPGEO_FAULT_RUNS=N`` (default 1) runs N seeds per scenario: the larger run
(``bench/fault_matrix.py`` runs it with 25).

The XPGEO server's contract does not say what a 500 did before it failed, nor whether the server
de-duplicates; the fake server has a knob for each (``server_error``, ``duplicates``) and XPGEO must be
right against every setting. Without a portal to ask, an image whose answer was lost cannot be proven
either way: there "missing after the rerun" must be exactly the images the report lists as unproven,
with the command that proves them, and running that command leaves nothing missing.
``XPGEO_FAULT_TALLY=FILE`` appends one JSON line per XPGEO-server scenario (the benchmark's table).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest

from emulators.fault_proxy import ALL_KINDS, UNREAD, FaultProxy, Rule
from emulators.image_host import ImageHost
from emulators.portal import PASSWORD, USER, PortalEmulator
from emulators.xpgeo_server import FakeXpgeoServer
from portal_support import synthetic_photos
from xpgeo_core import operations
from xpgeo_core.results import APPENDED, FAILED, SKIPPED, UNCONFIRMED
from xpgeo_core.settings import load_settings
from xpgeo_core.urls import without_credentials

ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("XPGEO_FAULT_RUNS", "1"))
TALLY = os.environ.get("XPGEO_FAULT_TALLY")  # read at import: the fixtures clear XPGEO_* for each test
SEEDS = [1000 + n for n in range(RUNS)]
COUNT = 12
WIRE = {"XPGEO_TIMEOUT_SECONDS": "0.4", "XPGEO_RETRIES": "2", "XPGEO_RETRY_BACKOFF": "0",
        "XPGEO_MAX_IMAGE_LIST_SIZE": "4", "XPGEO_BATCH_SIZE": "4", "XPGEO_FETCH_CONCURRENCY": "3"}
HANG = 0.7  # longer than the client's time-out


def check(report, truth: Counter, label: str) -> None:
    """0 duplicated, 0 misreported (see the module docstring)."""
    assert not [p for p, n in truth.items() if n > 1], f"{label}: duplicated in the layer"
    for r in report.results:
        if r.status in (APPENDED, SKIPPED):
            assert truth[r.url] == 1, f"{label}: reported {r.status} but not in the layer: {r.url} ({r.reason})"
        elif r.status == FAILED:
            assert truth[r.url] == 0, f"{label}: reported failed but in the layer: {r.url} ({r.reason})"
    assert len(report.results) == len({r.url for r in report.results}), f"{label}: an image reported twice"


def settle(append: Callable[[], object], truth: Callable[[], Counter], expected: List[str], label: str,
           proxy: FaultProxy) -> None:
    """A run with faults, a second with faults, then reruns without until nothing is left."""
    for attempt in range(2):
        check(append(), truth(), f"{label} run {attempt + 1}")
    proxy.state.rules = []
    report = append()
    check(report, truth(), f"{label} clean rerun")
    final = truth()
    assert sorted(final) == sorted(expected) and set(final.values()) == {1}, f"{label}: lost {set(expected) - set(final)}"
    assert all(r.status in (APPENDED, SKIPPED) for r in report.results), f"{label}: left unresolved"


# -- the XPGEO server (its layer mirrored in a portal emulator, as the real server writes to its portal) --------

def _mirror(portal: PortalEmulator) -> Callable[[str, List[str]], None]:
    def store(name: str, urls: List[str]) -> None:
        with portal.lock:
            for url in urls:
                portal.db.execute("INSERT INTO features(service, layer_id, x, y, z, attributes) VALUES (?,?,?,?,?,?)",
                                  (name, 0, 0.0, 0.0, None, json.dumps({"ImagePath": without_credentials(url)})))
    return store


def xpgeo_world(tmp_path: Path, seed: int, kinds, *, checker: bool = True, **knobs):
    portal = PortalEmulator().start()
    server = FakeXpgeoServer(on_append=_mirror(portal), **knobs).start()
    proxy = FaultProxy(server.url, seed=seed, hang=HANG,
                       rules=[Rule("/append-images", kinds, probability=0.45, burst=2)] if kinds else []).start()
    env = dict(WIRE, XPGEO_REST_URL=proxy.url)
    if checker:
        env.update(XPGEO_PORTAL_URL=portal.portal_url, XPGEO_USERNAME=USER, XPGEO_PASSWORD=PASSWORD)
    settings = load_settings(environ=env)
    operations.create_layer(load_settings(environ={"XPGEO_REST_URL": server.url}), "lyr")
    operations.create_layer(load_settings(environ={"XPGEO_PORTAL_URL": portal.portal_url, "XPGEO_USERNAME": USER,
                                                   "XPGEO_PASSWORD": PASSWORD}), "lyr")
    urls = [f"https://crew:pw@photos.example.com/s{seed}/img_{i:03d}.jpg?X-Amz-Signature={i}" for i in range(COUNT)]

    def truth() -> Counter:
        return Counter(without_credentials(u) for u in server.state.layers.get("lyr", []))

    def stop() -> None:
        proxy.stop(), server.stop(), portal.stop()

    world = {"portal": portal, "server": server}
    return settings, env, urls, truth, proxy, stop, world


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ALL_KINDS + (UNREAD,))
def test_xpgeo_server(tmp_path, seed, kind):
    settings, _, urls, truth, proxy, stop, world = xpgeo_world(tmp_path, seed, [kind])

    def footprints_checked():
        """Issue 16 item 4 (footprints written through the portal): never one twice, none without its point;
        after the clean rerun one per point the server wrote."""
        report = operations.append_images(settings, "lyr", urls=urls)
        polygons = Counter(f["attributes"].get("ImagePath") for f in world["portal"].features("lyr", 1))
        points = {f["attributes"].get("ImagePath") for f in world["portal"].features("lyr")}
        assert not [p for p, n in polygons.items() if n > 1], f"xpgeo {kind} seed {seed}: a footprint twice"
        assert set(polygons) <= points, f"xpgeo {kind} seed {seed}: a footprint without its point"
        if not proxy.state.rules:
            assert set(polygons) == points, f"xpgeo {kind} seed {seed}: footprints missing after the rerun"
        return report

    try:
        settle(footprints_checked, truth, [without_credentials(u) for u in urls], f"xpgeo {kind} seed {seed}", proxy)
        tally(f"portal {kind}", urls, truth(), unproven=set())
    finally:
        stop()


PROVEN_WITHOUT_A_PORTAL = {"http503", "http429"}
"""Faults whose images a rerun without a portal must leave none missing: the server said it did nothing."""


def tally(scenario: str, urls: List[str], final: Counter, unproven: set, proved: Optional[Counter] = None) -> None:
    """One scenario's numbers, for ``bench/fault_matrix.py`` (nothing when it is not asking): after the
    clean rerun, and (*proved*) after the printed command was run."""
    if not TALLY:
        return
    wanted = {without_credentials(u) for u in urls}
    missing = wanted - set(final)
    after = proved if proved is not None else final
    line = {"scenario": scenario, "images": len(wanted), "missing": len(missing),
            "unproven_missing": len(missing & unproven), "unproven": len(unproven),
            "missing_after_proof": len(wanted - set(after)),
            "duplicated": sum(1 for n in after.values() if n > 1)}
    with open(TALLY, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def rerun_without_a_portal(tmp_path: Path, settings, urls: List[str], truth, proxy, label: str):
    """Two runs with faults and a clean rerun, no portal to ask: 0 duplicated, 0 misreported, and
    what is missing is exactly what the report lists as unproven, with the command that proves it."""
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(urls) + "\n", encoding="utf-8")
    for attempt in range(2):
        check(operations.append_images(settings, "lyr", url_file=str(listing)), truth(), f"{label} run {attempt + 1}")
    proxy.state.rules = []
    report = operations.append_images(settings, "lyr", url_file=str(listing))
    check(report, truth(), f"{label} clean rerun")
    final = truth()
    missing = {without_credentials(u) for u in urls} - set(final)
    unproven = set(report.extra.get("unproven", {}).get("images", ()))
    assert {r.url for r in report.results if r.status == UNCONFIRMED} == unproven, label
    assert missing <= unproven, f"{label}: missing but not listed as unproven: {missing - unproven}"
    assert all(r.status in (APPENDED, SKIPPED) for r in report.results if r.url not in unproven), label
    if unproven:
        assert all("PORTAL_URL" in r.reason for r in report.results if r.url in unproven)
        command = report.extra["unproven"]["command"]
        assert command.startswith("xpgeo --portal-url ") and str(listing) in command, command
        assert any(command in m for m in report.messages)
    return report, missing, unproven


def run_proof(command: str, env: Dict[str, str], portal: PortalEmulator, tmp_path: Path) -> int:
    """The command the report printed, as a person runs it: the portal's URL in place of the placeholder."""
    argv = command.split()
    assert argv[:3] == ["xpgeo", "--portal-url", "https://YOUR-PORTAL.example.com/portal"], command
    argv = ["--portal-url", portal.portal_url] + argv[3:]
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("XPGEO_")}
    child_env.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "xpgeo_core", "--quiet", *argv], env=child_env, cwd=str(tmp_path),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


NO_PORTAL_CREDENTIALS = {"XPGEO_USERNAME": USER, "XPGEO_PASSWORD": PASSWORD}
"""Set (as for the portal), but no portal URL: the XPGEO server gets no credential from them."""


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ALL_KINDS + (UNREAD,))
def test_xpgeo_server_without_a_portal(tmp_path, seed, kind):
    settings, env, urls, truth, proxy, stop, world = xpgeo_world(tmp_path, seed, [kind], checker=False)
    try:
        settings = load_settings(environ=dict(env, **NO_PORTAL_CREDENTIALS))
        report, missing, unproven = rerun_without_a_portal(tmp_path, settings, urls, truth, proxy,
                                                           f"no portal {kind} seed {seed}")
        after_rerun = truth()
        if kind in PROVEN_WITHOUT_A_PORTAL:
            assert not missing and not unproven, f"{kind}: {missing}"
        if unproven:
            assert run_proof(report.extra["unproven"]["command"], dict(env, **NO_PORTAL_CREDENTIALS),
                             world["portal"], tmp_path) == 0
            final = truth()
            assert sorted(final) == sorted(without_credentials(u) for u in urls) and set(final.values()) == {1}
        tally(f"no portal {kind}", urls, after_rerun, unproven, truth())
    finally:
        stop()


@pytest.mark.parametrize("duplicates", ["append", "ignore"])
@pytest.mark.parametrize("server_error", ["before", "after", "partial"])
@pytest.mark.parametrize("portal", [True, False], ids=["portal", "no-portal"])
def test_xpgeo_server_500_on_each_server(tmp_path, server_error, duplicates, portal):
    """The server's own 500 on two of the three chunks: whatever it did before failing (the contract is
    silent), nothing is duplicated, nothing misreported; with a portal nothing is missing after the
    rerun, without one exactly the unproven images are, and the printed command settles them."""
    settings, env, urls, truth, proxy, stop, world = xpgeo_world(
        tmp_path, 1, [], checker=portal, fail_append_calls={1, 3}, server_error=server_error, duplicates=duplicates)
    label = f"500 {server_error} {duplicates} {'portal' if portal else 'no portal'}"
    try:
        if portal:
            settle(lambda: operations.append_images(settings, "lyr", urls=urls), truth,
                   [without_credentials(u) for u in urls], label, proxy)
            tally(label, urls, truth(), set())
            return
        settings = load_settings(environ=dict(env, **NO_PORTAL_CREDENTIALS))
        report, missing, unproven = rerun_without_a_portal(tmp_path, settings, urls, truth, proxy, label)
        after_rerun = truth()
        assert len(unproven) == 8  # two chunks of four: the 500 says nothing of what they did
        assert run_proof(report.extra["unproven"]["command"], dict(env, **NO_PORTAL_CREDENTIALS), world["portal"],
                         tmp_path) == 0
        assert sorted(truth()) == sorted(without_credentials(u) for u in urls) and set(truth().values()) == {1}
        tally(label, urls, after_rerun, unproven, truth())
    finally:
        stop()


# -- the portal backend ------------------------------------------------------------------------------------------

class ProxiedPortal(PortalEmulator):
    """The emulator, advertising the proxy's address in every URL it gives out."""

    front = None

    @property
    def base_url(self) -> str:
        return self.front or super().base_url


def portal_world(seed: int, kinds, paths=("addFeatures", "query")):
    host = ImageHost().start()
    portal = ProxiedPortal().start()
    real = f"http://127.0.0.1:{portal.httpd.server_address[1]}"
    proxy = FaultProxy(real, seed=seed, hang=HANG,
                       rules=[Rule(p, kinds, probability=0.35, burst=2) for p in paths]).start()
    portal.front = proxy.url
    env = dict(WIRE, XPGEO_PORTAL_URL=portal.portal_url, XPGEO_USERNAME=USER, XPGEO_PASSWORD=PASSWORD)
    settings = load_settings(environ=env)
    rules, proxy.state.rules = proxy.state.rules, []
    operations.create_layer(settings, "lyr")
    proxy.state.rules = rules
    urls = synthetic_photos(host, COUNT, prefix=f"s{seed}_")

    def truth() -> Counter:
        return Counter(f["attributes"].get("ImagePath") for f in portal.features("lyr"))

    def stop() -> None:
        proxy.stop(), portal.stop(), host.stop()

    return settings, env, urls, truth, proxy, portal, stop


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_portal(seed, kind):
    settings, _, urls, truth, proxy, portal, stop = portal_world(seed, [kind])

    def footprints_checked():
        """Issue 16 item 4 under the same faults: never a footprint twice, none without its point; after the
        clean rerun (settle's last run) one per point."""
        report = operations.append_images(settings, "lyr", urls=urls)
        polygons = Counter(f["attributes"].get("ImagePath") for f in portal.features("lyr", 1))
        assert not [p for p, n in polygons.items() if n > 1], f"portal {kind} seed {seed}: a footprint twice"
        assert set(polygons) <= set(truth()), f"portal {kind} seed {seed}: a footprint without its point"
        if not proxy.state.rules:
            assert set(polygons) == set(truth()), f"portal {kind} seed {seed}: footprints missing after the rerun"
        return report

    try:
        settle(footprints_checked, truth, urls, f"portal {kind} seed {seed}", proxy)
    finally:
        stop()


@pytest.mark.parametrize("seed", SEEDS)
def test_portal_token_revoked_mid_run(seed):
    settings, _, urls, truth, proxy, portal, stop = portal_world(seed, ["http503"], paths=())
    try:
        portal.state.faults = {"addFeatures": {2: "expire_token"}, "query": {3: "expire_token"}}
        report = operations.append_images(settings, "lyr", urls=urls)
        check(report, truth(), "token revoked")
        assert report.appended == COUNT
    finally:
        stop()


# -- the local backend: faults on the photo reads ------------------------------------------------------------------

def local_world(tmp_path: Path, seed: int, kinds):
    host = ImageHost().start()
    direct = synthetic_photos(host, COUNT, prefix=f"s{seed}_")
    proxy = FaultProxy(host.url_for(""), seed=seed, hang=HANG,
                       rules=[Rule(".jpg", kinds, probability=0.35, burst=2)]).start()
    urls = [u.replace(host.url_for("").rstrip("/"), proxy.url) for u in direct]
    env = dict(WIRE, XPGEO_BACKEND="local", XPGEO_OUTPUT_DIR=str(tmp_path / "layers"))
    settings = load_settings(environ=env)
    operations.create_layer(settings, "lyr")

    def truth() -> Counter:
        path = tmp_path / "layers" / "lyr" / "features.geojson"
        return Counter(f["properties"]["ImagePath"] for f in json.loads(path.read_text("utf-8"))["features"])

    def stop() -> None:
        proxy.stop(), host.stop()

    return settings, env, urls, truth, proxy, stop


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(set(ALL_KINDS) - {"partial"}))
def test_local(tmp_path, seed, kind):
    settings, _, urls, truth, proxy, stop = local_world(tmp_path, seed, [kind])
    try:
        settle(lambda: operations.append_images(settings, "lyr", urls=urls), truth, urls,
               f"local {kind} seed {seed}", proxy)
    finally:
        stop()


# -- kill -9 at random points, then a rerun ----------------------------------------------------------------------

def _kill_and_rerun(tmp_path: Path, env: Dict[str, str], urls: List[str], settings, truth, expected, proxy,
                    seed: int) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(urls) + "\n", encoding="utf-8")
    rng = random.Random(seed)
    proxy.state.rules, proxy.state.latency = [], 0.04  # slow enough to be caught mid-run
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("XPGEO_")}
    child_env.update(env, PYTHONPATH=str(ROOT))
    for round_ in range(2):
        child = subprocess.Popen([sys.executable, "-m", "xpgeo_core", "--quiet", "append-images", "--name", "lyr",
                                  "--file", str(listing)], env=child_env, cwd=str(tmp_path),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.4, 1.6))
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert not [p for p, n in truth().items() if n > 1], f"kill {round_ + 1}: duplicated"
    proxy.state.latency = 0.0
    report = operations.append_images(settings, "lyr", urls=urls)
    check(report, truth(), "rerun after kill -9")
    assert sorted(truth()) == sorted(expected) and set(truth().values()) == {1}
    assert all(r.status in (APPENDED, SKIPPED) for r in report.results)


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_9_xpgeo_server(tmp_path, seed):
    settings, env, urls, truth, proxy, stop, _ = xpgeo_world(tmp_path, seed, ["ok"])
    try:
        _kill_and_rerun(tmp_path, dict(env, XPGEO_MAX_IMAGE_LIST_SIZE="2"), urls * 1, settings, truth,
                        [without_credentials(u) for u in urls], proxy, seed)
    finally:
        stop()


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_9_portal(tmp_path, seed):
    settings, env, urls, truth, proxy, _, stop = portal_world(seed, ["ok"])
    try:
        _kill_and_rerun(tmp_path, dict(env, XPGEO_BATCH_SIZE="2"), urls, settings, truth, urls, proxy, seed)
    finally:
        stop()


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_9_local(tmp_path, seed):
    settings, env, urls, truth, proxy, stop = local_world(tmp_path, seed, ["ok"])
    try:
        _kill_and_rerun(tmp_path, dict(env, XPGEO_MAX_IMAGE_LIST_SIZE="2", XPGEO_FETCH_CONCURRENCY="1"), urls,
                        settings, truth, urls, proxy, seed)
    finally:
        stop()
