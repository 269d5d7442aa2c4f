"""Benchmark: listing a bucket of 100,000 objects in pages of 1,000, against its bound.

A loopback S3 listing server (in a child process, as a real store is another machine) answers
ListObjectsV2 for a virtual bucket of N objects: pages of 1,000 keys, continuation tokens, each
answer leaving ``--latency`` after its request arrived (S3 answers a 1,000-key page in tens of
milliseconds). Measured in the same run:

* the bound, pages × round trip: the same listing by a bare ``requests.Session`` that parses nothing
  (each GET holds the latency, the server's work and the transfer of a page; the pages of a listing are
  sequential, since each needs the token of the one before);
* xpgeo: :class:`xpgeo_core.buckets.BucketListing` over ``s3://bench/``, every entry consumed (the
  XML parsed safely, each key filtered and turned into its percent-encoded public URL);
* memory: peak traced memory (tracemalloc) of listings of 10,000 and 100,000 objects, entries
  consumed and dropped, as the pipeline's reader does.

Printed: the ratio bound / xpgeo's time (target ≥ 90 %), objects/s, and the memory peaks.

    python bench/bucket_list.py              # 100,000 objects, 20 ms a page, 5 interleaved rounds
    python bench/bucket_list.py --quick      # 20,000 objects, 3 rounds
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

def bare_listing(endpoint: str) -> tuple:
    """The bound, measured: the same pages fetched one after the other by a bare ``requests.Session`` that
    parses nothing (the token taken from the answer with a regular expression): pages x round trip."""
    import re

    session = requests.Session()
    token, pages = "", 0
    started = time.perf_counter()
    while True:
        params = {"list-type": "2", "max-keys": str(PAGE)}
        if token:
            params["continuation-token"] = token
        body = session.get(f"{endpoint}/bench/", params=params).content
        pages += 1
        found = re.search(rb"<NextContinuationToken>([^<]*)<", body)
        if not found:
            break
        token = found.group(1).decode()
    seconds = time.perf_counter() - started
    session.close()
    return seconds, pages


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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), float(args.serve[2]))
        return
    if args.quick:
        args.objects, args.rounds = 20_000, 3
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="xpgeo-bench-"))
    process, endpoint = start_server(args.objects, args.latency, folder)
    small, small_endpoint = start_server(args.objects // 10, args.latency, folder)
    try:
        bare_listing(endpoint)  # warm the server's page cache
        results = []
        for _ in range(args.rounds):  # interleaved, so a busy moment of the machine falls on both
            bound, pages = bare_listing(endpoint)
            seconds, count, xpgeo_pages = xpgeo_listing(endpoint)
            assert xpgeo_pages == pages
            results.append((bound / seconds, seconds, bound, count, pages))
        share, seconds, bound, count, pages = sorted(results)[len(results) // 2]
        print(f"objects {count:,} in {pages} pages of {PAGE}; server latency {args.latency * 1000:.0f} ms")
        print(f"bound: pages x round trip, measured by a bare client = {bound:.2f} s "
              f"({bound / pages * 1000:.2f} ms a page)")
        print(f"xpgeo BucketListing: {seconds:.2f} s ({seconds / pages * 1000:.2f} ms a page), "
              f"{count / seconds:,.0f} objects/s")
        print(f"share of the bound reached (median of {args.rounds}): {share * 100:.1f} % (target >= 90 %; rounds: "
              + ", ".join(f"{r[0] * 100:.1f} %" for r in results) + ")")
        low, high = peak_memory(small_endpoint), peak_memory(endpoint)
        print(f"peak traced memory: {args.objects // 10:,} objects {low:.2f} MiB, {args.objects:,} objects "
              f"{high:.2f} MiB (ratio {high / low:.2f})")
    finally:
        for child in (process, small):
            child.terminate()
            child.wait()


if __name__ == "__main__":
    main()
