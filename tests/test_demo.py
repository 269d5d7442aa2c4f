"""``xpgeo demo`` end to end, its photo server, and CLI progress (tty, non-tty, --quiet, --json)."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
import requests

from chromium_support import Browser, needs_chromium
from emulators.xpgeo_server import FakeXpgeoServer
from local_support import parse_page, read_layer
from xpgeo_core.cli import main
from xpgeo_core.commands._progress import ProgressPrinter, format_progress
from xpgeo_core.demo import PhotoServer, demo_photos
from xpgeo_core.demo.photos import CENTRE
from xpgeo_core.preview.footprint import best_first, camera_view, to_lonlat
from xpgeo_core.results import Progress

PROGRESS_LINE = re.compile(r"^\d+/\d+ images, \d+ failed, [\d.]+/s, about \S+ left \(chunk \d+/\d+\)$")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(argv: List[str], env: Optional[Dict[str, str]] = None, stderr: Optional[io.StringIO] = None
        ) -> Tuple[int, str, str]:
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    code = main(argv, stdout=out, stderr=err, environ=dict(env or {}))
    return code, out.getvalue(), err.getvalue()


def test_demo_runs_the_whole_job_with_the_local_backend(tmp_path):
    code, out, err = run(["demo", "--output-dir", str(tmp_path / "layers")])
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith("Serving 24 sample photos at http://127.0.0.1:")
    assert any(line.startswith("XPGEO local response: The output folder") for line in lines)
    assert any(line.startswith("Health check response: Validation response: {") for line in lines)
    assert "Starting layer creation for 'xpgeo_demo'..." in lines
    assert any(line.startswith("Create layer response: {") for line in lines)
    assert "Appended 24, skipped 0 (already in the layer), failed 0 of 24 image(s) in layer 'xpgeo_demo'." in lines
    folder = tmp_path / "layers" / "xpgeo_demo"
    assert f"Preview: {folder / 'preview.html'}" in lines
    assert f"Photos: {folder / 'photos'} (the preview shows these copies; the run's photo server has stopped)" in lines

    layer = read_layer(folder)
    kinds = Counter(f["properties"]["OrientedImageryType"] for f in layer["features"])
    assert kinds == {"Horizontal": 10, "Nadir": 9, "Oblique": 4, "360": 1}
    assert len(layer["csv"]) == 25 and len(layer["preview_data"]["rows"]) == 24
    headings = [f["properties"]["CameraHeading"] for f in layer["features"] if
                f["properties"]["OrientedImageryType"] == "Horizontal"]
    assert set(headings) == {0.0, 90.0, 180.0, 270.0}  # a walk around the block
    assert all(f["properties"]["AcquisitionDate"].endswith("Z") for f in layer["features"])


def test_demo_twice_makes_a_second_timestamped_layer(tmp_path):
    env = {"XPGEO_OUTPUT_DIR": str(tmp_path / "layers")}
    assert run(["demo"], env)[0] == 0
    code, out, _ = run(["demo", "--json"], env)
    assert code == 0
    document = json.loads(out)
    assert re.fullmatch(r"xpgeo_demo_\d{8}_\d{6}", document["created"]["layer_name"])


def test_demo_json_is_one_document_and_progress_stays_on_stderr(tmp_path):
    env = {"XPGEO_OUTPUT_DIR": str(tmp_path / "layers"), "XPGEO_MAX_IMAGE_LIST_SIZE": "5"}
    code, out, err = run(["--json", "demo"], env)
    assert code == 0
    document = json.loads(out)  # the whole of stdout is one JSON document
    assert document["ok"] is True and document["backend"] == "local"
    assert document["append"]["appended"] == 24 and document["append"]["total"] == 24
    assert document["preview"].endswith("preview.html") and Path(document["preview"]).is_file()
    assert document["photos_url"].startswith("http://127.0.0.1:")
    assert len([line for line in err.splitlines() if PROGRESS_LINE.match(line)]) == 5


def test_demo_ignores_a_configured_server_unless_asked(tmp_path):
    env = {"XPGEO_OUTPUT_DIR": str(tmp_path / "layers"), "XPGEO_REST_URL": "http://127.0.0.1:9"}
    code, out, err = run(["--json", "demo"], env)
    assert code == 0, err
    assert json.loads(out)["backend"] == "local"


def test_demo_with_another_backend_uses_its_normal_code_path(tmp_path):
    with FakeXpgeoServer() as server:
        env = {"XPGEO_OUTPUT_DIR": str(tmp_path / "layers"), "XPGEO_REST_URL": server.url}
        code, out, err = run(["--json", "demo", "--backend", "xpgeo"], env)
        paths = [r.path for r in server.state.requests]
    assert code == 0, err
    document = json.loads(out)
    assert document["backend"] == "xpgeo" and document["append"]["appended"] == 24
    assert "/create-oi-layer" in paths and "/append-images" in paths
    preview = Path(document["preview"])
    assert preview.parent == (tmp_path / "layers" / "xpgeo_demo-preview").resolve()
    data = json.loads(parse_page(preview.read_text(encoding="utf-8")).scripts[0][1])
    assert len(data["rows"]) == 24
    assert_photos_beside(preview, data)


def assert_photos_beside(preview: Path, data: dict) -> None:
    """Every photo of the page is a relative path to a copy beside it, byte for byte the demo's."""
    originals = dict(demo_photos())
    assert len(data["photos"]) == len(data["rows"])
    for src, row in zip(data["photos"], data["rows"]):
        assert src.startswith("photos/") and "://" not in src
        name = src[len("photos/"):]
        assert (preview.parent / src).read_bytes() == originals[name]
        assert row[data["fields"].index("ImagePath")].endswith("/" + name)


def test_demo_preview_shows_its_photos_with_no_server_left(tmp_path):
    code, out, err = run(["--json", "demo", "--output-dir", str(tmp_path / "layers")])
    assert code == 0, err
    document = json.loads(out)
    preview = Path(document["preview"])
    assert_photos_beside(preview, parse_preview(preview))
    with pytest.raises(requests.ConnectionError):  # the run's photo server is gone
        requests.get(document["photos_url"], timeout=5)


def parse_preview(preview: Path) -> dict:
    return json.loads(parse_page(preview.read_text(encoding="utf-8")).scripts[0][1])


def test_demo_serve_serves_the_layer_already_built(tmp_path, monkeypatch):
    from xpgeo_core.commands import demo as demo_command

    env = {"XPGEO_OUTPUT_DIR": str(tmp_path / "layers")}
    assert run(["demo"], env)[0] == 0
    fetched = {}

    def browse() -> None:  # instead of waiting for Ctrl+C: what a browser would load
        base = re.search(r"at (http://127\.0\.0\.1:\d+/)preview\.html", buffer.getvalue()).group(1)
        page = requests.get(base + "preview.html", timeout=10)
        data = json.loads(parse_page(page.text).scripts[0][1])
        fetched["page"] = page.status_code
        fetched["photo"] = requests.get(base + data["photos"][0], timeout=10)
        fetched["listing"] = requests.get(base, timeout=10).status_code
        raise KeyboardInterrupt

    buffer = io.StringIO()
    monkeypatch.setattr(demo_command, "wait_for_interrupt", browse)
    code = main(["demo", "--serve", "--port", "0"], stdout=buffer, stderr=io.StringIO(), environ=env)
    out = buffer.getvalue()
    assert code == 0, out
    assert "already built: serving it" in out and "Appended" not in out
    assert sorted(p.name for p in (tmp_path / "layers").iterdir()) == ["xpgeo_demo"]  # no second layer
    assert fetched["page"] == 200 and fetched["listing"] == 404
    assert fetched["photo"].status_code == 200 and fetched["photo"].content[:2] == b"\xff\xd8"
    assert out.rstrip().endswith("Stopped.")


def test_demo_serve_builds_the_layer_first_when_missing(tmp_path, monkeypatch):
    from xpgeo_core.commands import demo as demo_command

    def stop() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_command, "wait_for_interrupt", stop)
    code, out, err = run(["demo", "--serve", "--port", "0"], {"XPGEO_OUTPUT_DIR": str(tmp_path / "layers")})
    assert code == 0, err
    assert "Appended 24" in out and re.search(r"Serving .*xpgeo_demo at http://127\.0\.0\.1:\d+/preview\.html", out)


@needs_chromium
def test_browser_demo_preview_opens_a_photo_of_the_clicked_spot(tmp_path):
    """The first preview, opened from disk after the run: every camera and shape drawn, the
    tiles failing offline, and a click in the middle of the block opens a photo that shows it."""
    code, out, err = run(["--json", "demo", "--output-dir", str(tmp_path / "layers")])
    assert code == 0, err
    preview = Path(json.loads(out)["preview"])
    data = parse_preview(preview)
    centre = to_lonlat(CENTRE[1], CENTRE[0], 20.0, -12.0)  # near the block's centre, off the camera there
    views = [(i, tuple(xyz[:2]), camera_view(dict(zip(data["fields"], row))))
             for i, (row, xyz) in enumerate(zip(data["rows"], data["xyz"]))]
    expected = [data["rows"][i][data["fields"].index("Name")] for i in best_first(views, *centre)]
    assert len(expected) >= 3
    with Browser() as browser:
        page = browser.open(preview.as_uri())
        page.wait_for("document.body.dataset.ready === '1'")
        assert page.evaluate("[document.body.dataset.drawn, document.body.dataset.views]") == ["24", "24"]
        x, y = page.evaluate(f"(function () {{ var p = window.xpgeoMap.latLngToContainerPoint([{centre[1]}, {centre[0]}]);"
                             " var r = document.getElementById('map').getBoundingClientRect();"
                             " return [p.x + r.left, p.y + r.top]; })()")
        page.click(x, y)
        page.wait_for("document.body.dataset.photo === 'loaded' || document.body.dataset.photo === 'failed'")
        assert page.evaluate("document.body.dataset.photo") == "loaded"
        assert page.evaluate("document.getElementById('photo').naturalWidth") > 0
        assert page.text("#photo-note").startswith("A copy kept beside this page of http://127.0.0.1:")
        listed = page.evaluate("Array.prototype.map.call(document.querySelectorAll('#here-list li'),"
                               " function (li) { return li.textContent.split(' ')[0]; })")
        assert listed == expected
        page.wait_for("document.body.dataset.basemap === 'offline'")
        page.screenshot(tmp_path / "demo.png")


def test_demo_progress_on_a_terminal_is_one_live_line(tmp_path):
    env = {"XPGEO_OUTPUT_DIR": str(tmp_path / "layers"), "XPGEO_MAX_IMAGE_LIST_SIZE": "5"}
    code, _, err = run(["demo"], env, stderr=Terminal())
    assert code == 0
    live = [part for part in err.split("\r") if "images," in part]
    assert len(live) == 24 + 5  # rewritten per image (the progressor moves per image) and per chunk
    assert all(PROGRESS_LINE.match(part.split("\n")[0].rstrip()) for part in live)
    assert all("\n" not in part for part in live[:-1]) and live[-1].rstrip(" ").startswith("24/24")
    assert "\n" in live[-1], "the live line is ended before anything else prints"


def test_demo_quiet_prints_no_progress(tmp_path):
    env = {"XPGEO_OUTPUT_DIR": str(tmp_path / "layers"), "XPGEO_MAX_IMAGE_LIST_SIZE": "5"}
    code, out, err = run(["demo", "--quiet"], env, stderr=Terminal())
    assert code == 0 and "Preview:" in out
    assert "images," not in err and "\r" not in err


def test_append_images_progress_non_tty_one_line_per_chunk(tmp_path):
    env = {"XPGEO_OUTPUT_DIR": str(tmp_path / "layers"), "XPGEO_BACKEND": "local"}
    files = dict(demo_photos()[:7])
    with PhotoServer(files) as server:
        url_file = tmp_path / "urls.txt"
        url_file.write_text("\n".join(server.urls()) + "\n", encoding="utf-8")
        assert run(["create-oi-layer", "--name", "p"], env)[0] == 0
        code, out, err = run(["append-images", "--name", "p", "--file", str(url_file),
                              "--max-image-list-size", "3"], env)
        assert code == 0, err
        lines = [line for line in err.splitlines() if PROGRESS_LINE.match(line)]
        assert [line.split(" images")[0] for line in lines] == ["3/7", "6/7", "7/7"]
        assert "\r" not in err
        code, out, err = run(["--json", "append-images", "--name", "p", "--file", str(url_file)], env)
    assert code == 0 and json.loads(out)["skipped"] == 7


def test_progress_printer_ends_a_live_line_when_the_run_stops():
    stream = Terminal()
    with pytest.raises(RuntimeError):
        with ProgressPrinter(stream, live=True, clock=iter([0.0, 2.0]).__next__) as show:
            show(Progress(done=50, total=200, failed=1, step=1, steps=4))
            raise RuntimeError("server went away")
    text = stream.getvalue()
    assert text.startswith("\r50/200 images, 1 failed, 25.0/s, about 6s left (chunk 1/4)")
    assert text.endswith("\n") and text.count("\n") == 1


def test_progress_text_says_done_total_failures_rate_and_time_left():
    assert format_progress(Progress(1200, 10000, 3, 12, 100), 30.0) == (
        "1200/10000 images, 3 failed, 40.0/s, about 3m40s left (chunk 12/100)")
    assert "about 2h" in format_progress(Progress(10, 10000, 0, 1, 1000), 10.0)


def test_photo_server_serves_byte_ranges():
    with PhotoServer({"a.jpg": b"0123456789"}) as server:
        url = server.url_for("a.jpg")
        assert server.address[0] == "127.0.0.1"
        whole = requests.get(url, timeout=10)
        assert whole.status_code == 200 and whole.content == b"0123456789"
        part = requests.get(url, headers={"Range": "bytes=2-4"}, timeout=10)
        assert part.status_code == 206 and part.content == b"234"
        assert part.headers["Content-Range"] == "bytes 2-4/10"
        assert requests.get(url, headers={"Range": "bytes=-3"}, timeout=10).content == b"789"
        assert requests.get(url, headers={"Range": "bytes=20-"}, timeout=10).status_code == 416
        assert requests.head(url, timeout=10).headers["Content-Length"] == "10"
        assert requests.get(server.base_url + "missing.jpg", timeout=10).status_code == 404


def test_demo_photos_are_deterministic_and_24():
    first, second = demo_photos(), demo_photos()
    assert len(first) == 24 and first == second
    assert all(data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9" for _, data in first)


def test_demo_against_a_configured_portal(tmp_path):
    from emulators.portal import PortalEmulator
    from portal_support import assert_no_secrets, feature_paths, user_env

    with PortalEmulator() as portal:
        env = user_env(portal, XPGEO_OUTPUT_DIR=str(tmp_path / "layers"))
        code, out, err = run(["--json", "demo", "--backend", "portal"], env)
        assert code == 0, err
        document = json.loads(out)
        assert document["backend"] == "portal" and document["append"]["appended"] == 24
        paths = feature_paths(portal, document["created"]["layer_name"])
        assert len(paths) == 24 and all(p.startswith(document["photos_url"]) for p in paths)
        assert_no_secrets(portal, out, err)
    assert Path(document["preview"]).is_file()


def _picture(data: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def test_demo_photos_show_the_town_each_camera_looks_at():
    """Real colour pictures of one consistent scene, not grey boxes: the nadir photo above the
    park's centre has the fountain's water in its middle, a street photo has sky above and
    road below, the 360 photo is 2:1; each is a baseline JPEG Pillow decodes."""
    photos = dict(demo_photos())
    above_centre = _picture(photos["drone/DJI_0005.JPG"])
    assert above_centre.size == (162, 108)
    r, g, b = above_centre.getpixel((81, 54))
    assert b > r + 60 and b > g + 20, "the fountain (blue) is under the camera"
    r, g, b = above_centre.getpixel((81, 10))
    assert g > r + 30 and g > b + 30, "lawn (green) around it"
    street = _picture(photos["walk/IMG_4101.jpg"])
    assert street.size == (144, 108)
    r, g, b = street.getpixel((72, 2))
    assert b > r + 40, "sky at the top"
    r, g, b = street.getpixel((72, 105))
    assert max(r, g, b) - min(r, g, b) < 20 and max(r, g, b) < 120, "asphalt (dark grey) at the bottom"
    pano = _picture(photos["pano/R0010042.JPG"])
    assert pano.size[0] == 2 * pano.size[1]
    colours = {px for px in _pixels(above_centre)}
    assert len(colours) > 200, "a picture, not a flat frame"


def _pixels(image):
    raw = image.tobytes()
    return [raw[k:k + 3] for k in range(0, len(raw), 3)]


def test_jpeg_encoder_round_trips_through_pillow():
    from xpgeo_core.demo.jpeg_encoder import with_pixels
    from xpgeo_core.sample_photos import make_jpeg

    width, height = 37, 21  # not multiples of 16: the edges are padded
    pixels = [(x * 255 // width, y * 255 // height, (x * y) % 256 // 4 + 60) for y in range(height) for x in range(width)]
    header = make_jpeg(lat=1.0, lon=2.0, heading=3.0, make="X")
    data = with_pixels(header, width, height, pixels, quality=95)
    assert data.startswith(header[:header.index(b"\xff\xdb")])  # the metadata segments are kept as they were
    image = _picture(data)
    assert image.size == (width, height)
    decoded = _pixels(image)
    error = sum(abs(a - b) for px, want in zip(decoded, pixels) for a, b in zip(px, want)) / (3 * len(pixels))
    assert error < 4.0
