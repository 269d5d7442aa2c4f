"""preview.html: self-contained and offline, data matching the features, untrusted values inert.

Three levels of proof, from always-on to best-effort:

1. static: the page has exactly our two scripts, no event-handler attributes, no network
   reference, a CSP pinning our script's hash, and the embedded JSON round-trips;
2. Node.js (skipped when absent): the page's script runs against a recording fake DOM and
   canvas, so we see what it draws and every text it writes (and that ``innerHTML`` is
   never touched);
3. Chromium (``/usr/bin/chromium``, skipped when absent): a headless render shows the
   points, and a hostile layer sets no marker.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from local_support import local_settings, parse_page, photo, read_layer
from xpgeo_core import operations
from xpgeo_core.backends.local import feature_from_attributes
from xpgeo_core.demo.server import PhotoServer
from xpgeo_core.preview import embed_json, render_preview
from xpgeo_core.preview.preview import content_security_policy
from xpgeo_core.sample_photos import make_jpeg

PREVIEW_JS = Path(__file__).resolve().parents[1] / "xpgeo_core" / "preview" / "preview.js"
NODE = shutil.which("node")
CHROMIUM = "/usr/bin/chromium"
PAYLOAD = "<script>document.body.setAttribute('data-pwned','1')</script>"
IMG_PAYLOAD = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"


def features_like_demo(count: int):
    features = []
    types = ["Horizontal", "Nadir", "Oblique", "360", "Inspection"]
    for i in range(count):
        kind = types[i % len(types)]
        attributes = {"X": 4.83 + (i % 100) * 1e-4, "Y": 45.76 + (i // 100) * 1e-4, "Z": 170.0,
                      "ImagePath": f"https://photos.example.com/p{i}.jpg", "Name": f"p{i}",
                      "AcquisitionDate": "2024-05-01T08:30:00Z", "CameraHeading": (i * 37) % 360,
                      "CameraPitch": 90, "HorizontalFieldOfView": 360 if kind == "360" else 65,
                      "FarDistance": 30, "OrientedImageryType": kind}
        features.append(feature_from_attributes(attributes, i + 1))
    return features


def hostile_features():
    attributes = {"X": 4.83, "Y": 45.76, "Z": None, "ImagePath": "https://h.example.com/" + PAYLOAD + ".jpg",
                  "Name": PAYLOAD + IMG_PAYLOAD, "AcquisitionDate": "</script><script>alert(1)</script>",
                  "CameraHeading": 10, "HorizontalFieldOfView": 60, "FarDistance": 20,
                  "OrientedImageryType": "\u2028" + PAYLOAD}
    return [feature_from_attributes(attributes, 1)]


HOSTILE_FAILURES = [{"url": "https://h.example.com/" + IMG_PAYLOAD, "reason": "-->" + PAYLOAD + "<!--", "line": 3}]


def scripts_of(page: str):
    return parse_page(page).scripts


# -- 1. static -----------------------------------------------------------------------

def test_page_is_self_contained_and_offline():
    page = render_preview("demo", features_like_demo(25))
    parsed = parse_page(page)
    assert [attrs for attrs, _ in parsed.scripts] == [{"type": "application/json", "id": "xpgeo-data"}, {}]
    assert not parsed.handlers
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "no external resource"
    assert "<link" not in page and "@import" not in page and "url(" not in page
    code = parsed.scripts[1][1]
    assert "innerHTML" not in code and "outerHTML" not in code and "eval(" not in code
    assert "document.write" not in code and "insertAdjacentHTML" not in code
    assert "fetch(" not in code and "XMLHttpRequest" not in code


def test_csp_allows_only_our_script():
    page = render_preview("demo", features_like_demo(3))
    code = scripts_of(page)[1][1]
    digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert f"script-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert content_security_policy(code) == csp


def test_embedded_data_matches_the_features(tmp_path):
    features = features_like_demo(12)
    data = json.loads(scripts_of(render_preview("demo", features, [{"url": "u", "reason": "r", "line": 2}]))[0][1])
    assert data["layer"]["name"] == "demo" and data["layer"]["count"] == 12
    assert [xyz[:2] for xyz in data["xyz"]] == [f["geometry"]["coordinates"][:2] for f in features]
    for row, feature in zip(data["rows"], features):
        assert dict(zip(data["fields"], row)) == feature["properties"]
    assert data["failures"] == [{"url": "u", "reason": "r", "line": 2}]
    assert set(data["colours"]) == {"Horizontal", "Oblique", "Nadir", "360", "Inspection"}


def test_layer_preview_matches_features_geojson(tmp_path):
    files = {f"p{i}.jpg": photo(45.76 + i * 1e-4, 4.83, heading=i * 90.0) for i in range(4)}
    with PhotoServer(files) as server:
        settings = local_settings(tmp_path)
        operations.create_layer(settings, "pv")
        operations.append_images(settings, "pv", urls=server.urls())
    layer = read_layer(tmp_path / "layers" / "pv")
    data = layer["preview_data"]
    assert len(data["rows"]) == len(layer["features"]) == 4
    for row, xyz, feature in zip(data["rows"], data["xyz"], layer["features"]):
        assert dict(zip(data["fields"], row)) == feature["properties"]
        assert xyz == feature["geometry"]["coordinates"]


def test_untrusted_values_cannot_leave_the_data_block():
    page = render_preview(PAYLOAD, hostile_features(), HOSTILE_FAILURES)
    parsed = parse_page(page)
    assert len(parsed.scripts) == 2 and not parsed.handlers
    assert parsed.tags.count("img") == 1  # ours only
    assert "<script>document" not in page and "<img src=x" not in page
    assert "\u2028" not in page and "</script><script>alert" not in page
    data = json.loads(parsed.scripts[0][1])
    assert data["rows"][0][data["fields"].index("Name")] == PAYLOAD + IMG_PAYLOAD
    assert data["failures"][0]["reason"] == "-->" + PAYLOAD + "<!--"
    assert data["layer"]["name"] == PAYLOAD
    title = re.search(r"<title>(.*)</title>", page).group(1)
    assert "<" not in title


def test_embed_json_escapes_every_breaking_character():
    text = embed_json({"a": "</script><!-- & \u2028 \u2029 >"})
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == {"a": "</script><!-- & \u2028 \u2029 >"}


def test_template_markers_in_values_are_not_expanded():
    page = render_preview("{{DATA}}{{SCRIPT}}", features_like_demo(1))
    assert len(scripts_of(page)) == 2
    assert "{{DATA}}" in json.loads(scripts_of(page)[0][1])["layer"]["name"]


def test_ten_thousand_photos_stay_compact():
    page = render_preview("big", features_like_demo(10_000))
    assert len(page) < 6_000_000
    assert len(json.loads(scripts_of(page)[0][1])["rows"]) == 10_000


# -- 2. Node.js: run the page's script against a recording fake DOM ------------------

_HARNESS = r"""
const fs = require("fs"), vm = require("vm");
const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const texts = [], srcs = [], arcs = [], rects = [], fillTexts = [], frames = [];
const elements = {};
function makeEl(id, tag) {
  const el = { id, tag, children: [], attrs: {}, style: {}, className: "", listeners: {},
    clientWidth: 800, clientHeight: 600,
    appendChild(c) { this.children.push(c); return c; },
    removeChild(c) { this.children.splice(this.children.indexOf(c), 1); },
    get firstChild() { return this.children[0] || null; },
    setAttribute(k, v) { this.attrs[k] = String(v); }, removeAttribute(k) { delete this.attrs[k]; },
    addEventListener(t, f) { (this.listeners[t] = this.listeners[t] || []).push(f); },
    getBoundingClientRect() { return { left: 0, top: 0, width: 800, height: 600 }; },
    setPointerCapture() {}, getContext() { return ctx; } };
  return new Proxy(el, { set(t, p, v) {
    if (p === "innerHTML" || p === "outerHTML") throw new Error("innerHTML used");
    if (p === "textContent") texts.push(String(v));
    if (p === "src") srcs.push(String(v));
    t[p] = v; return true; } });
}
const ctx = new Proxy({}, { get(t, p) {
  if (p in t) return t[p];
  if (p === "arc") return (x, y, r) => arcs.push([x, y, r]);
  if (p === "rect") return (x, y, w, h) => rects.push([x, y, w, h]);
  if (p === "fillText") return (s) => fillTexts.push(String(s));
  return () => {}; }, set(t, p, v) { t[p] = v; return true; } });
const document = {
  body: makeEl("body", "body"),
  getElementById(id) {
    if (id === "xpgeo-data") return { textContent: input.data };
    return elements[id] || (elements[id] = makeEl(id, "div"));
  },
  createElement(tag) { return makeEl(null, tag); },
};
const window = { devicePixelRatio: 1, addEventListener() {}, requestAnimationFrame(f) { frames.push(f); } };
vm.runInNewContext(input.code, { document, window, Math, JSON, String, Object, Float64Array, Uint16Array,
                                 parseFloat, isFinite, Infinity, NaN, setTimeout });
while (frames.length) frames.shift()();
const markers = arcs.filter(a => a[2] === 4).length + rects.length;
const first = arcs.find(a => a[2] === 4) || [rects[0][0] + 3.5, rects[0][1] + 3.5];
const canvas = elements["map"];
canvas.listeners.pointerdown[0]({ clientX: first[0], clientY: first[1], pointerId: 1 });
canvas.listeners.pointerup[0]({ clientX: first[0], clientY: first[1], pointerId: 1 });
while (frames.length) frames.shift()();
process.stdout.write(JSON.stringify({ drawn: document.body.attrs["data-drawn"], markers, texts, srcs,
  fillTexts, wedges: arcs.filter(a => a[2] !== 4 && a[2] !== 8).length }));
"""


def run_in_node(tmp_path, page: str) -> dict:
    scripts = scripts_of(page)
    payload = tmp_path / "page.json"
    payload.write_text(json.dumps({"data": scripts[0][1], "code": scripts[1][1]}), encoding="utf-8")
    harness = tmp_path / "harness.js"
    harness.write_text(_HARNESS, encoding="utf-8")
    proc = subprocess.run([NODE, str(harness), str(payload)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")


@needs_node
def test_script_draws_every_point_wedge_scale_and_north(tmp_path):
    result = run_in_node(tmp_path, render_preview("demo", features_like_demo(40)))
    assert result["drawn"] == "40" and result["markers"] >= 40
    assert result["wedges"] >= 40  # one wedge or circle per photo
    assert "N" in result["fillTexts"] and any(t.endswith(" m") or t.endswith(" km") for t in result["fillTexts"])
    assert "p0" in result["texts"] or any(t.startswith("p") for t in result["texts"])
    assert result["srcs"] and result["srcs"][-1].startswith("https://photos.example.com/")


@needs_node
def test_script_is_fast_enough_for_ten_thousand_photos(tmp_path):
    result = run_in_node(tmp_path, render_preview("big", features_like_demo(10_000)))
    assert result["drawn"] == "10000"


@needs_node
def test_script_shows_hostile_values_as_text_only(tmp_path):
    result = run_in_node(tmp_path, render_preview(PAYLOAD, hostile_features(), HOSTILE_FAILURES))
    texts = result["texts"]
    assert PAYLOAD in texts  # the layer name, shown as text
    assert PAYLOAD + IMG_PAYLOAD in texts  # the Name attribute, shown as text
    assert "-->" + PAYLOAD + "<!--" in texts  # the failure reason
    assert all(src.startswith("https://") for src in result["srcs"])  # the photo URL only as an <img> source


# -- 3. Chromium (only where installed; never installed by CI) ---------------------

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="/usr/bin/chromium is not installed")


def _chromium(*args: str) -> subprocess.CompletedProcess:
    """Headless Chromium with its own empty profile and no background traffic (the machine has no
    network: without these flags it keeps retrying connections and sometimes returns an empty DOM)."""
    import tempfile

    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                               "--disable-quic", "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=3000", *args],
                              capture_output=True, text=True, timeout=120)


@needs_chromium
def test_headless_render_shows_the_points(tmp_path):
    from PIL import Image

    page = tmp_path / "preview.html"
    page.write_text(render_preview("demo", features_like_demo(50)), encoding="utf-8")
    shot = tmp_path / "shot.png"
    _chromium("--window-size=1200,800", f"--screenshot={shot}", page.as_uri())
    image = Image.open(shot).convert("RGB")
    blue = sum(1 for px in image.getdata() if abs(px[0] - 31) < 12 and abs(px[1] - 120) < 12 and abs(px[2] - 180) < 12)
    assert blue > 50, "Horizontal points (rgb 31,120,180) should be visible"
    dom = _chromium("--dump-dom", page.as_uri()).stdout
    assert 'data-drawn="50"' in dom


@needs_chromium
def test_headless_render_runs_no_injected_code(tmp_path):
    page = tmp_path / "preview.html"
    page.write_text(render_preview(PAYLOAD, hostile_features(), HOSTILE_FAILURES), encoding="utf-8")
    dom = _chromium("--dump-dom", page.as_uri()).stdout
    assert 'data-drawn="1"' in dom and "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]


def test_a_layer_built_from_hostile_photos_is_inert(tmp_path):
    """A <script> in a file name, a URL and an XMP field, through the real engine and backend."""
    evil_xmp = make_jpeg(lat=45.76, lon=4.83, alt=10.0, heading=5.0,
                         dji={"GimbalYawDegree": PAYLOAD, "RelativeAltitude": PAYLOAD},
                         gpano={"ProjectionType": PAYLOAD})
    files = {"<script>alert(1)</script>.jpg": photo(45.7601, 4.8301),
             "xmp.jpg": evil_xmp, "nogps<img src=x onerror=alert(1)>.jpg": make_jpeg(make="x")}
    with PhotoServer(files) as server:
        urls = [server.base_url + "<script>alert(1)</script>.jpg", server.url_for("xmp.jpg"),
                server.base_url + "nogps<img src=x onerror=alert(1)>.jpg", server.base_url + "q?x=" + PAYLOAD]
        settings = local_settings(tmp_path)
        operations.create_layer(settings, "evil")
        report = operations.append_images(settings, "evil", urls=urls)
    assert report.total == 4
    layer = read_layer(tmp_path / "layers" / "evil")
    assert any("<script>" in (f["properties"]["ImagePath"] or "") for f in layer["features"])
    parsed = parse_page(layer["preview"])
    assert len(parsed.scripts) == 2 and not parsed.handlers and parsed.tags.count("img") == 1
    assert "<script>alert" not in layer["preview"] and "<img src=x" not in layer["preview"]
    if NODE:
        result = run_in_node(tmp_path, layer["preview"])
        assert any("<script>alert(1)</script>" in t for t in result["texts"])
