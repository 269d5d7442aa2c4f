"""Benchmark: attaching 1,000 photos of 8 MB each through the portal emulator, against the link's own rate.

Photos as attachments (``append-images --photo-folder --attachments``): every photo is one feature and one
streamed ``addAttachment`` upload. The portal emulator runs in a child process (a portal is another
machine), keeping only each attachment's size (``--attachment-store discard``: 8 GB go through, none is
written). Measured in the same run, interleaved round by round so a busy moment of the machine falls on both:

* the link's rate for attachment uploads, as XPGEO's own HTTP stack drives it: bare ``requests`` sessions
  upload the same files, as many at once as XPGEO does (``UPLOAD_STREAMS``), each as a one-part
  ``multipart/form-data`` body of known length
  (addAttachment takes nothing else), in the pieces XPGEO reads (``UPLOAD_CHUNK``, views of one reused buffer,
  as XPGEO's), to a loopback sink in a child process that reads every byte as a portal must (the emulator's
  streamed multipart reader: each boundary found) and discards it. bound = bytes / that rate: no metadata, no
  features, no routing, no checks. For comparison, the same bytes as plain bodies by the leanest
  Python client (``http.client``) to a sink that only reads them are printed beside it: between the two lie the
  boundary search and the cost of ``requests`` and urllib3 themselves;
* xpgeo: ``create-oi-layer --attachments`` then ``append-images --photo-folder --attachments`` through the
  CLI entry point, timed from the append's start to its report (the header reads, addFeatures, the uploads,
  the sequence pass, the extent written after);
* memory: the peak resident memory of this process during the append over its level before it (sampled
  every 20 ms from /proc/self/statm; an unstreamed upload would hold a whole photo, a leak a growing set);
* CPU: the processor seconds of the client (this process) and of the server (the child) in each: on a
  loopback link the processors are the link, so on a busy machine the run that needs more of them (XPGEO:
  the photos' headers read and parsed, the features, the emulator's routing of each upload) loses more.

The photos are geotagged JPEG headers (a walk, each a distinct place and time) followed by zeros up to the
size (sparse files: the disk is not the bottleneck, the page cache is shared by both measurements).

    python bench/attach_upload.py                  # 1,000 x 8 MB, 3 rounds
    python bench/attach_upload.py --quick          # 200 x 8 MB, 2 rounds
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from xpgeo_core.cli import main as xpgeo  # noqa: E402
from xpgeo_core.sample_photos import make_jpeg  # noqa: E402

from xpgeo_core.backends.portal.attachments import UPLOAD_STREAMS  # noqa: E402  (uploads XPGEO runs at once)
from xpgeo_core.backends.portal.rest import UPLOAD_CHUNK  # noqa: E402  (the pieces XPGEO's upload reads)

CHUNK = 1 << 20
"""The sink's reads: those of the portal emulator's upload reader (tests/emulators/portal_attachments.py)."""

USER, PASSWORD = "xpgeo_user", "xpgeo_pass"


# -- the loopback sink (child process) ------------------------------------------------------------

def serve_sink(port_file: str) -> None:
    import http.server

    sys.path.insert(0, str(ROOT / "tests"))
    from emulators.portal_attachments import read_multipart

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as the emulator's: headers and body are two writes, no delayed-ACK stall

        def do_POST(self):  # noqa: N802
            left = int(self.headers.get("Content-Length") or 0)
            kind = self.headers.get("Content-Type", "")
            if kind.startswith("multipart/form-data"):  # read as a portal must: each boundary found, bytes counted
                read_multipart(self.rfile, left, kind, "", False)
                left = 0
            while left > 0:
                data = self.rfile.read(min(CHUNK, left))
                if not data:
                    break
                left -= len(data)
            body = b'{"success": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Path(port_file).write_text(str(server.server_port))
    server.serve_forever()


def start(command: List[str], ready: callable) -> Tuple[subprocess.Popen, str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    for _ in range(400):
        found = ready(process)
        if found:
            return process, found
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{command[1]} did not start")


def start_sink(folder: Path) -> Tuple[subprocess.Popen, str]:
    port_file = folder / "sink-port"
    return start([sys.executable, __file__, "--serve-sink", str(port_file)],
                 lambda p: port_file.exists() and port_file.read_text() and f"http://127.0.0.1:{port_file.read_text()}")


def start_portal() -> Tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "emulators" / "portal.py"), "--port", "0",
                                "--attachment-store", "discard"], stdout=subprocess.PIPE, text=True)
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        process.kill()
        raise SystemExit("the portal emulator did not start")
    return process, url


# -- the photos -----------------------------------------------------------------------------------

def make_card(folder: Path, count: int, size: int) -> List[Path]:
    """*count* photos of *size* bytes: a distinct geotagged JPEG header each, then zeros (a sparse file)."""
    photos = folder / "DCIM" / "100MEDIA"
    photos.mkdir(parents=True)
    paths = []
    for i in range(count):
        header = make_jpeg(lat=47.60 + i * 0.0002, lon=-122.33 + (i % 50) * 0.0002, alt=50.0 + i % 7,
                           heading=(i * 37) % 360, datetime_original="2026:03:01 %02d:%02d:%02d" % (
                               8 + i // 3600, (i // 60) % 60, i % 60), make="DJI", model="FC3411", seed=i % 97)
        path = photos / f"DJI_{i + 1:04d}.JPG"
        with open(path, "wb") as out:
            out.write(header)
            out.truncate(size)
        paths.append(path)
    return paths


# -- the measurements -----------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system processor seconds of a child process so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


BOUNDARY = "raw-upload-boundary-0123456789abcdef0123456789"


class FileBody:
    """A file as a ``multipart/form-data`` body of known length (one part, as addAttachment takes it): the part's
    header, views of one reused buffer read in the pieces XPGEO reads, the closing boundary."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="attachment"; filename="{path.name}"\r\n'
                     "Content-Type: image/jpeg\r\n\r\n").encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.size = len(self.head) + path.stat().st_size + len(self.tail)

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        yield self.head
        buffer = bytearray(UPLOAD_CHUNK)
        with open(self.path, "rb", buffering=0) as source, memoryview(buffer) as view:
            while True:
                count = source.readinto(view)
                if not count:
                    break
                yield view[:count]
        yield self.tail


def raw_upload(sink: str, paths: List[Path]) -> float:
    """The link for attachment uploads, as XPGEO's HTTP stack drives it (the bound): the same bytes by
    ``requests`` sessions, as many at once as XPGEO uploads (``UPLOAD_STREAMS``), each file a one-part multipart
    body of known length (the framing addAttachment requires), to a sink that finds its boundaries as a portal
    must, counts and discards them."""
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()
    sessions: List[requests.Session] = []

    def one(path: Path) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            sessions.append(local.session)
        answer = local.session.post(sink + "/upload", data=FileBody(path),
                                    headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        answer.raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=UPLOAD_STREAMS) as pool:
        list(pool.map(one, paths))
    seconds = time.perf_counter() - started
    for session in sessions:
        session.close()
    return seconds


def lean_upload(sink: str, paths: List[Path]) -> float:
    """For comparison only: the same by the leanest Python client (``http.client``, the buffer written straight to
    the socket). The kernel's ``sendfile`` would skip even that, but no TLS connection can use it, and every portal
    is reached over TLS."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(sink)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    buffer = bytearray(UPLOAD_CHUNK)
    started = time.perf_counter()
    with memoryview(buffer) as view:
        for path in paths:
            connection.putrequest("POST", "/upload")
            connection.putheader("Content-Type", "application/octet-stream")
            connection.putheader("Content-Length", str(path.stat().st_size))
            connection.endheaders()
            with open(path, "rb", buffering=0) as source:
                while True:
                    count = source.readinto(view)
                    if not count:
                        break
                    connection.sock.sendall(view[:count])
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise SystemExit(f"the sink answered {answer.status}")
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


class PeakMemory:
    """The peak resident memory of this process while it runs, over the level when it started (MiB)."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self.page

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def grown(self) -> float:
        return (self.peak - self.start) / 2 ** 20


def run_cli(argv: List[str], env: Dict[str, str]) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = xpgeo(argv, stdout=out, stderr=err, environ=env)
    return code, out.getvalue(), err.getvalue()


def xpgeo_append(portal: str, card: Path, name: str, count: int) -> Tuple[float, float]:
    env = {"XPGEO_PORTAL_URL": portal, "XPGEO_USERNAME": USER, "XPGEO_PASSWORD": PASSWORD,
           "XPGEO_RETRY_BACKOFF": "0", "PATH": os.environ.get("PATH", "")}
    code, out, err = run_cli(["--json", "create-oi-layer", "--name", name, "--attachments"], env)
    if code != 0:
        raise SystemExit(err)
    layer = json.loads(out)["layer_name"]
    with PeakMemory() as memory:
        started = time.perf_counter()
        code, out, err = run_cli(["--json", "--quiet", "append-images", "--name", layer, "--photo-folder", str(card),
                                  "--attachments"], env)
        seconds = time.perf_counter() - started
    report = json.loads(out) if out.strip() else {}
    if code != 0 or report.get("appended") != count:
        raise SystemExit(f"the append did not attach every photo ({code}): {err[-2000:]}")
    return seconds, memory.grown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--megabytes", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve-sink", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sink:
        serve_sink(args.serve_sink)
        return
    if args.quick:
        args.photos, args.rounds = 200, 2
    size = int(args.megabytes * 2 ** 20)
    folder = Path(tempfile.mkdtemp(prefix="xpgeo-bench-attach-"))
    paths = make_card(folder / "card", args.photos, size)
    total = sum(p.stat().st_size for p in paths)
    sink, sink_url = start_sink(folder)
    portal, portal_url = start_portal()
    try:
        for path in paths:  # into the page cache once: both measurements then read memory, not the disk
            with open(path, "rb") as source:
                while source.read(CHUNK):
                    pass
        raw_upload(sink_url, paths[:20])  # warm the connections
        rounds = []
        lean: List[float] = []
        cpu: Dict[str, List[float]] = {"raw": [0.0, 0.0], "xpgeo": [0.0, 0.0]}
        for number in range(args.rounds):
            lean.append(lean_upload(sink_url, paths))
            client, server = time.process_time(), cpu_seconds(sink.pid)
            link = raw_upload(sink_url, paths)
            cpu["raw"][0] += time.process_time() - client
            cpu["raw"][1] += cpu_seconds(sink.pid) - server
            client, server = time.process_time(), cpu_seconds(portal.pid)
            seconds, grown = xpgeo_append(portal_url, folder / "card", f"bench_attach_{number}", args.photos)
            cpu["xpgeo"][0] += time.process_time() - client
            cpu["xpgeo"][1] += cpu_seconds(portal.pid) - server
            rounds.append((link / seconds, seconds, link, grown))
        share, seconds, link, grown = sorted(rounds)[len(rounds) // 2]
        rate = total / link
        print(f"photos {args.photos:,} of {size / 2 ** 20:.1f} MB = {total / 2 ** 30:.2f} GiB, through the portal "
              "emulator (child process, sizes kept, bytes discarded)")
        print(f"link: the same bytes to a loopback sink by a bare client = {link:.2f} s ({rate / 2 ** 20:,.0f} MiB/s); "
              f"bound = bytes / link rate = {link:.2f} s")
        fastest = min(lean)
        print(f"for comparison, the leanest Python client (http.client): {sorted(lean)[len(lean) // 2]:.2f} s "
              f"(median; fastest {fastest:.2f} s, {total / fastest / 2 ** 20:,.0f} MiB/s)")
        print(f"xpgeo append-images --photo-folder --attachments: {seconds:.2f} s ({total / seconds / 2 ** 20:,.0f} "
              f"MiB/s, {args.photos / seconds:,.1f} photos/s)")
        print(f"share of the bound reached (median of {args.rounds}): {share * 100:.1f} % (target >= 90 %; rounds: "
              + ", ".join(f"{r[0] * 100:.1f} %" for r in rounds) + ")")
        print("peak memory over the start, during each append: " + ", ".join(f"{r[3]:.1f} MiB" for r in rounds)
              + f" (for {total / 2 ** 30:.2f} GiB sent)")
        gib = total / 2 ** 30 * args.rounds
        print("processor seconds per GiB (client + server): raw upload %.2f + %.2f, xpgeo %.2f + %.2f" % (
            cpu["raw"][0] / gib, cpu["raw"][1] / gib, cpu["xpgeo"][0] / gib, cpu["xpgeo"][1] / gib))
        print(f"machine load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} processors")
    finally:
        for child in (sink, portal):
            child.terminate()
            child.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
