"""Benchmark: reading photo metadata over HTTP, XPGEO's engine vs a naive pipeline.

A loopback image host (tests/emulators/image_host.py) serves N distinct photo URLs,
real-size JPEGs of 2–8 MB made here (each photo its own EXIF header in front of a shared
noisy scan body), with an injected latency per request and a bandwidth cap shared by all
connections. The cap is a token bucket one host write (64 KiB) deep, as a rate limit on a
faster wire is: an answer leaves at once while the link has had time to drain what was sent
before it, and no more than the cap goes through on average. ``--burst 0`` makes the link a
serialised 50 MB/s wire instead, where each 64 KiB answer also pays its own 1.31 ms transfer.
Measured in the same run:

* naive: sequential ``requests.get`` of the whole photo, then ``exifread``;
* xpgeo: :func:`xpgeo_core.operations.inspect_photos`, the append loop's photo pass (64 KiB range reads,
  a pool of workers)
  at 8 and at 32 workers;
* references: the same range reads from a plain thread pool that parses nothing, with
  ``requests`` (8 and 32 threads), with a ``urllib3.PoolManager`` (8 threads) and with
  bare ``http.client`` (8 threads).

Timed runs are interleaved over ``--rounds`` rounds and the median is printed, so a busy
moment on the machine does not fall on one pipeline only.

Printed: photos/s for each, the ratio, bytes read per photo, the latency bound
N·L/concurrency and (32 workers) the bandwidth bound N·(header bytes)/B, and peak
traced memory (tracemalloc) for 100 vs 10,000 photos.

    python bench/metadata_fetch.py            # full run, about a minute
    python bench/metadata_fetch.py --quick    # smaller N, about 15 s (start-up and tail weigh more)
    python bench/metadata_fetch.py --burst 0  # the link as a serialised wire

The host runs in a child process by default (a real photo server is another machine);
``--host-thread`` runs it in this process, where it competes for the interpreter lock.
"""

from __future__ import annotations

import argparse
import gc
import io
import statistics
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import requests  # noqa: E402
import urllib3  # noqa: E402

from emulators.image_host import CHUNK, ImageHost  # noqa: E402
from xpgeo_core.operations import inspect_photos  # noqa: E402
from xpgeo_core.sample_photos import make_jpeg  # noqa: E402
from xpgeo_core.settings import load_settings  # noqa: E402

MB = 1_000_000
SIZES = (2 * MB, 4 * MB, 6 * MB, 8 * MB)


def build_bodies() -> Dict[int, Tuple[Tuple[int, int], bytes]]:
    """One noisy scan body (after SOS, with EOI) per photo size, and its frame size."""
    bodies = {}
    for size in SIZES:
        data = make_jpeg(lat=0.0, lon=0.0, target_size=size, seed=size)
        sos = data.index(b"\xff\xda")
        sof = data.index(b"\xff\xc0")
        height = int.from_bytes(data[sof + 5:sof + 7], "big")
        width = int.from_bytes(data[sof + 7:sof + 9], "big")
        bodies[size] = ((width, height), data[sos + 14:])  # SOS segment is 14 bytes
    return bodies


def photo_parts(i: int, bodies) -> Tuple[bytes, bytes]:
    """Photo *i*: its own metadata header (a walk around a block) + a shared body of the right frame."""
    size = SIZES[i % len(SIZES)]
    frame, body = bodies[size]
    head = make_jpeg(lat=48.85 + i * 1e-5, lon=2.29 + (i % 50) * 1e-5, alt=35.0, heading=(i * 7.5) % 360,
                     datetime_original="2024:05:01 10:%02d:%02d" % (i // 60 % 60, i % 60),
                     offset_time_original="+02:00", make="XPGEO", model="Bench", focal_length=4.2,
                     focal_length_35mm=26, pixel_size=frame, frame_size=frame, byte_order=("little", "big")[i % 2])
    head = head[:head.index(b"\xff\xda") + 14]
    return head, body


def naive(urls: Sequence[str]) -> Tuple[float, int]:
    """Sequential full downloads + exifread: (seconds, bytes)."""
    import exifread

    total = 0
    session = requests.Session()
    start = time.perf_counter()
    for url in urls:
        response = session.get(url, timeout=60)
        response.raise_for_status()
        total += len(response.content)
        tags = exifread.process_file(io.BytesIO(response.content), details=False)
        assert "GPS GPSLatitude" in tags
    elapsed = time.perf_counter() - start
    session.close()
    return elapsed, total


def xpgeo(urls: Sequence[str], workers: int) -> Tuple[float, List[int]]:
    settings = load_settings(environ={}).replace(fetch_concurrency=workers)
    start = time.perf_counter()
    read = []
    for info in inspect_photos(settings, urls):
        if not info.ok:
            raise SystemExit("bench photo failed: %s %s" % (info.source, info.error))
        read.append(info.bytes_read)
    return time.perf_counter() - start, read


def reference_pool(urls: Sequence[str], workers: int, client: str = "requests") -> float:
    """Seconds for a reference client: a plain thread pool, one client per thread,
    ``Range: bytes=0-65535``, nothing parsed. ``client="requests"``: a ``requests.Session``
    per thread, what any client built on requests pays for the same requests.
    ``client="urllib3"``: a ``urllib3.PoolManager`` per thread, the ceiling of the engine's
    photo client (built on urllib3) if it parsed nothing. ``client="http.client"``: a bare
    ``http.client`` connection per thread, what the host and its link allow a client with
    almost no overhead (shows the host is not the bottleneck)."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    local = threading.local()
    opened: list = []

    def get(url: str) -> int:
        conn = getattr(local, "conn", None)
        if client == "requests":
            if conn is None:
                conn = local.conn = requests.Session()
                opened.append(conn)
            return len(conn.get(url, headers={"Range": "bytes=0-65535"}, timeout=60).content)
        if client == "urllib3":
            if conn is None:
                conn = local.conn = urllib3.PoolManager(maxsize=2)
                opened.append(conn)
            response = conn.request("GET", url, headers={"Range": "bytes=0-65535"}, preload_content=False,
                                    timeout=60)
            data = response.read(65536)
            response.release_conn()
            return len(data)
        parts = urlsplit(url)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            opened.append(conn)
        conn.request("GET", parts.path, headers={"Range": "bytes=0-65535"})
        return len(conn.getresponse().read())

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        assert sum(pool.map(get, urls)) == 65536 * len(urls)
    elapsed = time.perf_counter() - start
    for conn in opened:
        conn.clear() if client == "urllib3" else conn.close()
    return elapsed


def peak_memory(url: str, count: int, workers: int) -> int:
    """Peak traced bytes while inspecting *count* distinct URLs (streamed from a generator)."""
    settings = load_settings(environ={}).replace(fetch_concurrency=workers)

    def sources() -> Iterator[str]:
        for i in range(count):
            yield "%s?n=%d" % (url, i)

    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak() if hasattr(tracemalloc, "reset_peak") else None
    ok = 0
    for info in inspect_photos(settings, sources()):
        ok += info.ok
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ok == count
    return peak


def serve(conn, latency: float, bandwidth: float, burst: int, count: int) -> None:
    """Child process: build the photos, serve them, report the URLs, wait for "stop".

    The host runs in its own process, as a real photo server would: in-process it would
    compete with the engine for the interpreter lock and the benchmark would measure that.
    """
    bodies = build_bodies()
    with ImageHost(latency=latency, bandwidth=bandwidth, burst=burst) as host:
        host.log_requests = False
        urls = [host.add("p%05d.jpg" % i, photo_parts(i, bodies)) for i in range(count)]
        sizes = [host.photos["p%05d.jpg" % i].size for i in range(count)]
        memory_url = host.add("m.jpg", make_jpeg(lat=1.0, lon=2.0, heading=3.0, focal_length_35mm=26))
        conn.send((urls, sizes, memory_url))
        conn.recv()


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller N (about 15 s)")
    parser.add_argument("--latency", type=float, default=0.020, help="seconds per request (default 0.020)")
    parser.add_argument("--bandwidth", type=float, default=50.0, help="MB/s shared by all connections (default 50)")
    parser.add_argument("--burst", type=int, default=CHUNK,
                        help="depth in bytes of the cap's token bucket (default %d, one host write); "
                             "0 makes the link a serialised wire" % CHUNK)
    parser.add_argument("--host-thread", action="store_true",
                        help="run the image host in a thread of this process (default: a child process)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="timed rounds per pipeline, interleaved; the median is reported (default 5)")
    args = parser.parse_args(argv)
    n8, n32, n_naive, n_mem = (120, 240, 8, 1000) if args.quick else (400, 800, 24, 10000)
    latency, bandwidth = args.latency, args.bandwidth * MB
    rounds = max(1, args.rounds)

    import multiprocessing

    parent, child = multiprocessing.Pipe()
    if not args.host_thread:
        server = multiprocessing.Process(target=serve, args=(child, latency, bandwidth, args.burst, max(n8, n32)), daemon=True)
    else:
        server = threading.Thread(target=serve, args=(child, latency, bandwidth, args.burst, max(n8, n32)), daemon=True)
    server.start()
    names = ("http.client8", "urllib3_8", "requests8", "xpgeo8", "requests32", "xpgeo32")
    times: Dict[str, List[float]] = {name: [] for name in names}
    try:
        urls, sizes, memory_url = parent.recv()
        xpgeo(urls[:16], 8)  # warm-up: imports, first connections
        reference_pool(urls[:16], 8)
        reference_pool(urls[:16], 8, "http.client")
        reference_pool(urls[:16], 8, "urllib3")
        t_naive, naive_bytes = naive(urls[:n_naive])
        for _ in range(rounds):  # interleaved, so a busy moment on the machine hits both pipelines
            times["http.client8"].append(reference_pool(urls[:n8], 8, "http.client"))
            times["urllib3_8"].append(reference_pool(urls[:n8], 8, "urllib3"))
            times["requests8"].append(reference_pool(urls[:n8], 8))
            t, read8 = xpgeo(urls[:n8], 8)
            times["xpgeo8"].append(t)
            times["requests32"].append(reference_pool(urls[:n32], 32))
            t, read32 = xpgeo(urls[:n32], 32)
            times["xpgeo32"].append(t)
    finally:
        parent.send("stop")
        server.join(30)

    m8, u8, p8, t8, p32, t32 = (statistics.median(times[k]) for k in names)
    naive_rate = n_naive / t_naive
    rate8, rate32 = n8 / t8, n32 / t32
    bytes8 = statistics.mean(read8)
    bytes32 = statistics.mean(read32)
    lat_bound8 = n8 * latency / 8
    lat_bound32 = n32 * latency / 32
    bw_bound32 = n32 * bytes32 / bandwidth
    lower32 = max(lat_bound32, bw_bound32)  # the binding (slower) bound, in seconds

    with ImageHost() as host:  # memory: no latency, small photos, distinct URLs
        host.log_requests = False
        url = host.add("m.jpg", make_jpeg(lat=1.0, lon=2.0, heading=3.0, focal_length_35mm=26))
        peak_small = peak_memory(url, 100, 8)
        peak_large = peak_memory(url, n_mem, 8)

    def row(name: str, n: int, seconds: float, per_photo: float, workers: int) -> Tuple[str, ...]:
        lat = n * latency / workers
        bw = n * per_photo / bandwidth
        return (name, "%d" % n, "%.1f" % (n / seconds), "%.1f×" % (n / seconds / naive_rate), "%d" % per_photo,
                "%.2f s (%.0f %%)" % (lat, 100 * lat / seconds),
                "%.2f s (%.0f %%)" % (bw, 100 * bw / seconds) if workers > 8 else "-")

    rows = [
        ("naive: sequential full GET + exifread", "%d" % n_naive, "%.1f" % naive_rate, "1.0×",
         "%d" % (naive_bytes / n_naive), "-", "-"),
        row("reference: http.client thread pool, 8 threads, Range 0-65535, no parsing", n8, m8, 65536, 8),
        row("reference: urllib3 thread pool, 8 threads, Range 0-65535, no parsing", n8, u8, 65536, 8),
        row("reference: requests thread pool, 8 threads, Range 0-65535, no parsing", n8, p8, 65536, 8),
        row("xpgeo, 8 workers", n8, t8, bytes8, 8),
        row("reference: requests thread pool, 32 threads", n32, p32, 65536, 32),
        row("xpgeo, 32 workers", n32, t32, bytes32, 32),
    ]
    link = ("a cap with a %d KiB token bucket" % (args.burst // 1024) if args.burst > 0 else "a serialised wire")
    print("Loopback host: %.0f ms latency per request, %.0f MB/s shared (%s); photos %.1f–%.1f MB "
          "(mean of naive set %.1f MB)" % (latency * 1000, bandwidth / MB, link, min(SIZES) / MB, max(SIZES) / MB,
                                           statistics.mean(sizes[:n_naive]) / MB))
    print()
    print("| pipeline | photos | photos/s | vs naive | bytes read/photo | latency bound N·L/c (share reached) "
          "| bandwidth bound N·b/B (share reached) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print()
    print("Median of %d interleaved rounds; each round: %s s"
          % (rounds, "; ".join("%s %s" % (k, "/".join("%.3f" % t for t in v)) for k, v in times.items())))
    print("At 32 workers the binding bound is the %s bound: %.0f %% of it reached."
          % ("bandwidth" if bw_bound32 >= lat_bound32 else "latency", 100 * lower32 / t32))
    print("Peak traced memory: %d photos %.2f MiB, %d photos %.2f MiB (ratio %.2f)"
          % (100, peak_small / 2 ** 20, n_mem, peak_large / 2 ** 20, peak_large / peak_small))
    print()
    checks = [
        ("≥ 40× naive at 8 workers", rate8 / naive_rate >= 40),
        ("≥ 90 % of the latency bound at 8 workers", lat_bound8 / t8 >= 0.90),
        ("≥ 90 % of the lower bound at 32 workers", lower32 / t32 >= 0.90),
        ("≤ 128 KiB read per photo", max(bytes8, bytes32) <= 128 * 1024),
        ("peak memory %d photos ≤ 1.2× 100 photos" % n_mem, peak_large <= 1.2 * peak_small),
    ]
    for text, ok in checks:
        print("%s %s" % ("PASS" if ok else "MISS", text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
