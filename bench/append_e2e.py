"""Benchmark: appending N photos end to end through the portal emulator.

What is measured, all in one run, each mode in its own child process (the XPGEO side; the
servers run in this process, as a real portal and photo host are other machines):

* ``read``: only the pass over the photos (``PhotoPass``, FETCH_CONCURRENCY workers);
* ``send``: only the sending: ``addFeatures`` in batches, with attributes made up front (no photo
  read); the layer checks between them are not timed (the overlapped run makes them beside the rest);
* ``sequential``: the whole append, each batch sent before the next is read (the order of
  earlier releases: ``run_append(overlap=False)``);
* ``overlap``: the whole append as XPGEO runs it (the next batch read while this one is sent), with
  sequences (issue 16: SequenceId/SequenceOrder, near-duplicate checks), headings from the track and
  footprints (issue 16 item 4: each appended photo's polygon on layer 1, sent beside the points);
* ``unsequenced``: the same with ``SEQUENCES=false``: overlap / unsequenced is what sequencing costs;
* ``unfootprinted``: the same with ``FOOTPRINTS=false``: overlap / unfootprinted is what footprints cost;
* ``bare``: neither (``SEQUENCES=false``, ``FOOTPRINTS=false``): overlap / bare is what both cost (target
  < 1.05 each). These four are run twice, alternately, and the faster of each pair counts, so a load
  change on a shared machine weighs less.

The photos are a walk (one every second, 5 m apart, no recorded heading), so every photo is sequenced and
has its heading from the track.

The bound is max(read, send): an append can go no faster than its slower half. Printed: the
seconds of each, overlap/bound (the target is >= 90 % of the bound) and sequential/overlap, and
the peak memory (max RSS) of the XPGEO process for the overlapped run at N/10 and at N, to show
it does not grow with N beyond the per-image result record.

Injected costs (documented in docs/performance.md):

* every photo read: ``--read-latency`` (20 ms) from a request's arrival to its answer's first byte
  (the loopback image host);
* every ``addFeatures``: ``--fixed`` (100 ms) plus ``--per-feature`` (1.6 ms) per feature, added by
  a proxy in front of the emulator (a hosted feature service's commit cost grows with the batch); the
  footprint layer's ``addFeatures`` pays the same (a polygon counted as one feature);
* the existence ``query`` gets no injected latency (it is cheap on a real service).

    python bench/append_e2e.py                 # N = 10,000: about three minutes
    python bench/append_e2e.py --n 2000        # quicker, start-up and tail weigh more
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

USER, PASSWORD = "xpgeo_user", "xpgeo_pass"


# -- the XPGEO side (a child process per mode) ------------------------------------------------------

def child(mode: str, portal_url: str, list_file: str, batch: int, workers: int) -> Dict[str, Any]:
    from xpgeo_core import operations
    from xpgeo_core.backends import get_backend
    from xpgeo_core.pipeline import gather, run_append
    from xpgeo_core.pipeline.photos import PhotoPass
    from xpgeo_core.oi_attributes import OIAttributes
    from xpgeo_core.pipeline.sink import Item
    from xpgeo_core.settings import load_settings
    import threading

    env = {"XPGEO_PORTAL_URL": portal_url, "XPGEO_USERNAME": USER, "XPGEO_PASSWORD": PASSWORD,
           "XPGEO_BATCH_SIZE": str(batch), "XPGEO_FETCH_CONCURRENCY": str(workers), "XPGEO_RETRY_BACKOFF": "0",
           "XPGEO_HEADING_FROM_TRACK": "true", "XPGEO_SEQUENCES": "false" if mode in ("unsequenced", "bare") else "true",
           "XPGEO_FOOTPRINTS": "false" if mode in ("unfootprinted", "bare", "read", "send") else "true"}
    settings = load_settings(environ=env)
    urls = Path(list_file).read_text(encoding="utf-8").split()
    images = gather((None, u) for u in urls).images
    name = f"{mode}_{len(urls)}_{os.getpid()}"
    appended = 0
    inferred = 0
    polygons = 0
    if mode != "read":
        operations.create_layer(settings, name)
    if mode == "read":
        reader = PhotoPass(settings, None, cancel=threading.Event())
        started = time.perf_counter()
        pending = iter(images)
        done = False
        read = 0
        while True:
            while not done and not reader.full:
                try:
                    reader.submit(next(pending))
                except StopIteration:
                    done = True
            if reader.empty:
                break
            if reader.next(1.0) is not None:
                read += 1
        seconds = time.perf_counter() - started
        reader.close()
        appended = read
    elif mode == "send":
        from xpgeo_core.metadata import inspect_source

        attributes = inspect_source(urls[0], settings=settings).attributes
        with get_backend(settings) as backend:
            sink = backend.open_sink(name)
            seconds = 0.0
            window = max(200, 2 * sink.batch_size)
            for start in range(0, len(images), window):
                chunk = images[start:start + window]
                sink.known(chunk)  # not timed: the overlapped run asks the layer beside reading and sending
                started = time.perf_counter()
                for b in range(0, len(chunk), sink.batch_size):
                    results = sink.send([Item(i, OIAttributes.from_mapping(attributes))
                                         for i in chunk[b:b + sink.batch_size]])
                    appended += sum(1 for r in results.values() if r.status == "appended")
                seconds += time.perf_counter() - started
    else:
        with get_backend(settings) as backend:
            sink = backend.open_sink(name)
            started = time.perf_counter()
            report = run_append(sink, images, settings=settings, overlap=(mode != "sequential"))
            seconds = time.perf_counter() - started
            appended = report.appended
            inferred = (report.extra.get("sequences") or {}).get("headings_inferred", 0)
            drawn = report.extra.get("footprints") or {}
            polygons = drawn.get("written", 0) + drawn.get("completed", 0)
    return {"mode": mode, "n": len(urls), "seconds": seconds, "appended": appended, "max_rss_mb": peak_rss_mb(),
            "headings_inferred": inferred, "footprints": polygons}


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: reset by exec, unlike ru_maxrss after a fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the servers (this process) ------------------------------------------------------------------------

def serve(args: argparse.Namespace) -> None:
    from emulators.fault_proxy import FaultProxy
    from emulators.image_host import ImageHost
    from emulators.portal import PortalEmulator
    from xpgeo_core.sample_photos import make_jpeg

    class ProxiedPortal(PortalEmulator):
        front = None

        @property
        def base_url(self) -> str:
            return self.front or super().base_url

    def cost(method: str, path: str, body: bytes) -> float:
        if path.endswith("/addFeatures"):
            return args.fixed + args.per_feature * body.count(b"geometry")
        return 0.0

    host = ImageHost(latency=args.read_latency)
    host.log_requests = False
    host.start()

    def photo(i: int) -> bytes:
        """Photo *i* of a walk east from the Eiffel Tower: one a second, 5 m apart, no heading."""
        return make_jpeg(lat=48.8584, lon=2.2945 + i * 5 / (111_195 * 0.6577), alt=35.0,
                         datetime_original="2026:03:%02d %02d:%02d:%02d" % (1 + i // 86400, i // 3600 % 24,
                                                                            i // 60 % 60, i % 60),
                         offset_time_original="+01:00", make="XPGEO", model="Bench", focal_length_35mm=28, seed=i % 7)
    portal = ProxiedPortal().start()
    proxy = FaultProxy(f"http://127.0.0.1:{portal.httpd.server_address[1]}", delay=cost).start()
    portal.front = proxy.url
    lists = {}
    for n in sorted({args.n, max(100, args.n // 10)}):
        path = Path(args.work) / f"urls_{n}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(host.add(f"n{n}/p{i:06d}.jpg", photo(i)) for i in range(n)) + "\n", "utf-8")
        lists[n] = str(path)
    load = os.getloadavg()
    print(f"N={args.n}, photo read latency {args.read_latency * 1000:.0f} ms, {args.workers} readers, "
          f"addFeatures {args.fixed * 1000:.0f} ms + {args.per_feature * 1000:.2f} ms/feature, batches of "
          f"{args.batch}; load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)

    def run(mode: str, n: int) -> Dict[str, Any]:
        out = subprocess.run([sys.executable, __file__, "--child", mode, portal.portal_url, lists[n],
                              str(args.batch), str(args.workers)], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {mode:13s} N={n:6d}  {result['seconds']:7.2f} s  appended/read {result['appended']:6d}  "
              f"max RSS {result['max_rss_mb']:.0f} MB  headings from the track {result['headings_inferred']}  "
              f"footprints {result['footprints']}", flush=True)
        return result

    try:
        compared = ("overlap", "unsequenced", "unfootprinted", "bare")
        results = {mode: run(mode, args.n) for mode in ("read", "send") + compared + ("sequential",)}
        again = {mode: run(mode, args.n) for mode in compared[::-1]}
        small = run("overlap", max(100, args.n // 10))
    finally:
        proxy.stop(), portal.stop(), host.stop()
    bound = max(results["read"]["seconds"], results["send"]["seconds"])
    overlap = results["overlap"]["seconds"]
    sequential = results["sequential"]["seconds"]
    print(f"bound max(read, send) = {bound:.2f} s")
    print(f"overlap reaches {bound / overlap * 100:.1f} % of the bound (target >= 90 %)")
    print(f"sequential / overlap = {sequential / overlap:.2f}x  (sequential reaches {bound / sequential * 100:.1f} % "
          f"of the bound)")
    best = {mode: min(results[mode]["seconds"], again[mode]["seconds"]) for mode in compared}
    for what, without in (("sequencing", "unsequenced"), ("footprints", "unfootprinted"),
                          ("sequencing and footprints", "bare")):
        print(f"{what}: overlap {best['overlap']:.2f} s with, {best[without]:.2f} s without (best of two each): "
              f"{(best['overlap'] / best[without] - 1) * 100:+.1f} % (target < +5 %)")
    print(f"memory: max RSS {small['max_rss_mb']:.0f} MB at N={small['n']}, {results['overlap']['max_rss_mb']:.0f} MB "
          f"at N={args.n}")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, portal_url, list_file, batch, workers = sys.argv[2:7]
        print(json.dumps(child(mode, portal_url, list_file, int(batch), int(workers))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--read-latency", type=float, default=0.020)
    parser.add_argument("--fixed", type=float, default=0.100)
    parser.add_argument("--per-feature", type=float, default=0.0016)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--work", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "xpgeo-bench-append"))
    serve(parser.parse_args())


if __name__ == "__main__":
    main()
