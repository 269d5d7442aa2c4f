"""Benchmark: listing a bucket of 100,000 objects in pages of 1,000, against its bound.

A loopback S3 listing server (in a child process, as a real store is another machine) answers
ListObjectsV2 for a virtual bucket of N objects: pages of 1,000 keys, continuation tokens, each
answer leaving ``--latency`` after its request arrived (S3 answers a 1,000-key page in tens of
milliseconds). Measured in the same run:

* the round trip: the median time of one page's GET with a bare ``requests.Session`` that parses
  nothing (so it holds the latency, the server's work and the transfer of the page);
* the bound: pages × round trip (the pages of one listing are sequential: each needs the token of
  the one before);
* xpgeo: :class:`xpgeo_core.buckets.BucketListing` over ``s3://bench/``, every entry consumed (the
  XML parsed safely, each key filtered and turned into its percent-encoded public URL);
* memory: peak traced memory (tracemalloc) of listings of 10,000 and 100,000 objects, entries
  consumed and dropped, as the pipeline's reader does.

Printed: the ratio bound / xpgeo's time (target ≥ 90 %), objects/s, and the memory peaks.

    python bench/bucket_list.py              # 100,000 objects, 20 ms a page, 3 rounds
    python bench/bucket_list.py --quick      # 20,000 objects, 1 round
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from xpgeo_core.buckets import BucketListing  # noqa: E402
from xpgeo_core.settings import load_settings  # noqa: E402

PAGE = 1000


# -- the listing server (child process) -----------------------------------------------------------

def serve(port_file: str, count: int, latency: float) -> None:
    import http.server
    import threading
    from urllib.parse import parse_qs, urlsplit

    pages = {}
    lock = threading.Lock()

    def page(start: int) -> bytes:
        with lock:
            if start not in pages:
                end = min(count, start + PAGE)
                contents = "".join(
                    f"<Contents><Key>flight {i // 5000:03d}/IMG_{i:06d}.JPG</Key>"
                    f"<LastModified>2024-05-01T10:{(i // 60) % 60:02d}:{i % 60:02d}.000Z</LastModified>"
                    f"<ETag>&quot;{i:032x}&quot;</ETag><Size>{8_000_000 + i}</Size>"
                    f"<StorageClass>STANDARD</StorageClass></Contents>" for i in range(start, end))
                more = end < count
                token = f"<NextContinuationToken>t{end}</NextContinuationToken>" if more else ""
                pages[start] = (
                    '<?xml version="1.0" encoding="UTF-8"?>'
                    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bench</Name>'
                    f"<Prefix></Prefix><KeyCount>{end - start}</KeyCount><MaxKeys>{PAGE}</MaxKeys>"
                    f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>{contents}{token}"
                    "</ListBucketResult>").encode()
            return pages[start]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802
            arrived = time.monotonic()
            query = parse_qs(urlsplit(self.path).query)
            token = query.get("continuation-token", ["t0"])[0]
            body = page(int(token[1:]))
            wait = latency - (time.monotonic() - arrived)
            if wait > 0:
                time.sleep(wait)
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Path(port_file).write_text(str(server.server_port))
    server.serve_forever()


def start_server(count: int, latency: float, folder: Path):
    port_file = folder / f"port-{count}"
    port_file.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file), str(count), str(latency)])
    for _ in range(200):
        if port_file.exists() and port_file.read_text():
            return process, f"http://127.0.0.1:{port_file.read_text()}"
        time.sleep(0.05)
    process.kill()
    raise SystemExit("the listing server did not start")


# -- the measurements -----------------------------------------------------------------------------------

def round_trip(endpoint: str, samples: int) -> float:
    session = requests.Session()
    times = []
    for n in range(samples):
        started = time.perf_counter()
        response = session.get(f"{endpoint}/bench/", params={"list-type": "2", "max-keys": str(PAGE),
                                                            "continuation-token": f"t{(n % 50) * PAGE}"})
        response.content
        times.append(time.perf_counter() - started)
    session.close()
    return statistics.median(times)


def xpgeo_listing(endpoint: str) -> tuple:
    settings = load_settings({"s3_endpoint_url": endpoint}, environ={})
    listing = BucketListing(settings, "s3://bench/")
    started = time.perf_counter()
    count = sum(1 for _ in listing)
    return time.perf_counter() - started, count, listing.pages


def peak_memory(endpoint: str) -> float:
    gc.collect()
    tracemalloc.start()
    settings = load_settings({"s3_endpoint_url": endpoint}, environ={})
    for _ in BucketListing(settings, "s3://bench/"):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2 ** 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.020, help="seconds each page answer waits (default 0.020)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), float(args.serve[2]))
        return
    if args.quick:
        args.objects, args.rounds = 20_000, 1
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="xpgeo-bench-"))
    process, endpoint = start_server(args.objects, args.latency, folder)
    small, small_endpoint = start_server(args.objects // 10, args.latency, folder)
    try:
        round_trip(endpoint, 5)  # warm the page cache of the server
        results = []
        for _ in range(args.rounds):
            rt = round_trip(endpoint, 30)
            seconds, count, pages = xpgeo_listing(endpoint)
            results.append((pages * rt / seconds, seconds, rt, count, pages))
        results.sort()
        share, seconds, rt, count, pages = results[len(results) // 2]
        print(f"objects {count:,} in {pages} pages of {PAGE}; server latency {args.latency * 1000:.0f} ms")
        print(f"round trip (median of 30 bare GETs of a page): {rt * 1000:.2f} ms")
        print(f"bound: pages x round trip = {pages * rt:.2f} s")
        print(f"xpgeo BucketListing: {seconds:.2f} s, {count / seconds:,.0f} objects/s")
        print(f"share of the bound reached: {share * 100:.1f} % (target >= 90 %; rounds: "
              + ", ".join(f"{r[0] * 100:.1f} %" for r in sorted(results, key=lambda r: r[1])) + ")")
        low, high = peak_memory(small_endpoint), peak_memory(endpoint)
        print(f"peak traced memory: {args.objects // 10:,} objects {low:.2f} MiB, {args.objects:,} objects "
              f"{high:.2f} MiB (ratio {high / low:.2f})")
    finally:
        for child in (process, small):
            child.terminate()
            child.wait()


if __name__ == "__main__":
    main()
