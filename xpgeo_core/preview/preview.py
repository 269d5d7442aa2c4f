"""Render ``preview.html``: one self-contained page that maps a layer's cameras and what they see.

Why Leaflet, vendored: it is the web map GIS people know (pan, zoom, scale, basemap
attribution done right), small, BSD-licensed, and inlined into the page from
``vendor/leaflet/`` so the file opens offline and from a pip install, with no CDN. Online,
OpenStreetMap tiles give a basemap; offline the tiles fail quietly and the map keeps a
plain background.

What is drawn comes from :mod:`xpgeo_core.preview.footprint` (ground footprints, view
cones and circles, computed here in Python and embedded); the page only draws them and
tests clicks against them, like Esri's viewer: a click lists the photos whose view covers
the spot, best first, and opens the first.

Everything shown comes from photos and URLs, so:

* the data travels as JSON inside ``<script type="application/json">`` with ``<``,
  ``>``, ``&`` and U+2028/U+2029 escaped (:func:`embed_json`), so no value can close
  the element or open a new one;
* the page's script writes text with ``textContent`` only, never ``innerHTML``, and
  loads a photo only from an ``http(s)`` URL or a file beside the page;
* a Content-Security-Policy allows exactly Leaflet and the page's own script (by their
  SHA-256) and no network requests except images (photos and tiles), so even a mistake
  elsewhere could not run injected code or send data out.

The page's layout lives in ``template.html`` and its code in ``preview.js`` beside
this module, so they can be read and edited as what they are.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import time
from functools import lru_cache
from pathlib import Path, PureWindowsPath
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote, urlsplit

from xpgeo_core import __version__, schema
from xpgeo_core.errors import ConfigError
from xpgeo_core.files import atomic_write
from xpgeo_core.preview.footprint import View, camera_view

_HERE = Path(__file__).resolve().parent
TEMPLATE_FILE = "template.html"
SCRIPT_FILE = "preview.js"
LEAFLET_DIR = "vendor/leaflet"
LEAFLET_VERSION = "1.9.4"
FALLBACK_COLOUR = "#00c000"
BASEMAP = {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "maxNativeZoom": 19,
           "attribution": "\u00a9 OpenStreetMap contributors", "name": "OpenStreetMap"}
PHOTO_FOLDER = "photos"  # copies of the photos beside preview.html (the demo's), see save_photo_copies
PHOTO_INDEX = "index.json"  # in PHOTO_FOLDER: {ImagePath: path relative to the preview}
VIEW_KINDS = {"footprint": 0, "cone": 1, "circle": 2}

_MARKER = re.compile(r"\{\{(CSP|TITLE|LEAFLET_CSS|LEAFLET|SCRIPT|DATA)\}\}")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_CSS_URL = re.compile(r"url\((?:images/)?([\w.-]+\.png)\)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    try:
        return (_HERE / name).read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(f"The preview file {name} is missing from {str(_HERE)!r}.",
                          hint="Reinstall XPGEO (pip install -e .) or restore xpgeo_core/preview/.") from None


@lru_cache(maxsize=None)
def leaflet_script() -> str:
    """Leaflet's code as shipped, without the source-map comment (the map file is not vendored)."""
    code = _asset(f"{LEAFLET_DIR}/leaflet.js")
    return re.sub(r"\n?//# sourceMappingURL=\S+\s*$", "\n", code)


@lru_cache(maxsize=None)
def leaflet_css() -> str:
    """Leaflet's style sheet with its icons as ``data:`` URIs, so the page needs no file beside it."""

    def inline(match: "re.Match[str]") -> str:
        path = _HERE / LEAFLET_DIR / "images" / match.group(1)
        if not path.is_file():
            return "none"  # an icon the page never shows (the default marker) is not vendored
        return "url(data:image/png;base64,%s)" % base64.b64encode(path.read_bytes()).decode("ascii")

    return _CSS_URL.sub(inline, _asset(f"{LEAFLET_DIR}/leaflet.css"))


def embed_json(value: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no character of it
    can end the element, start a comment, or break a JavaScript line."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escape in _JSON_ESCAPES.items():
        text = text.replace(char, escape)
    return text


def type_colours() -> Dict[str, str]:
    """Imagery type -> CSS colour, from the layer template's renderer (one source for both)."""
    renderer = schema.layer_definition("preview", None)["drawingInfo"]["renderer"]
    colours = {}
    for info in renderer.get("uniqueValueInfos", []):
        r, g, b = info["symbol"]["color"][:3]
        colours[str(info["value"])] = "#%02x%02x%02x" % (r, g, b)
    return colours


# -- photos: where the page loads each one from ------------------------------------------

def save_photo_copies(folder: Path, photos: Iterable[Tuple[str, str, bytes]]) -> Dict[str, str]:
    """Copy photos beside a preview so it shows them offline: ``(ImagePath, name, bytes)`` ->
    ``folder/photos/<name>``, recorded in ``photos/index.json`` for every later rendering.

    Why: a layer's ImagePath may be a URL the browser cannot reach once the run is over (the
    demo's loopback server). Returns ImagePath -> path relative to *folder*.
    """
    root = folder / PHOTO_FOLDER
    index_path = root / PHOTO_INDEX
    index = read_photo_index(folder)
    for image_path, name, data in photos:
        parts = [p for p in name.replace("\\", "/").split("/") if p]
        if not parts or any(p in (".", "..") or ":" in p for p in parts):
            raise ValueError(f"not a relative photo name: {name!r}")
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        index[image_path] = "/".join([PHOTO_FOLDER, *parts])
    atomic_write(index_path, json.dumps(index, indent=1, sort_keys=True) + "\n")
    return index


def read_photo_index(folder: Path) -> Dict[str, str]:
    """The photo copies recorded by :func:`save_photo_copies` (empty when there are none or it is unreadable)."""
    try:
        index = json.loads((folder / PHOTO_FOLDER / PHOTO_INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(index, dict):
        return {}
    return {str(k): str(v) for k, v in index.items() if _is_relative(str(v))}


def _is_relative(src: str) -> bool:
    return bool(src) and not _SCHEME.match(src) and not src.startswith(("/", "\\")) and ".." not in src.split("/")


def photo_source(image_path: Any, folder: Optional[Path] = None, copies: Mapping[str, str] = {}) -> Optional[str]:
    """What the page's ``<img>`` loads for a photo: its copy beside the page, its http(s) URL,
    or a local file (relative to the page when it is inside the page's folder); else None."""
    if not isinstance(image_path, str) or not image_path.strip():
        return None
    text = image_path.strip()
    if text in copies:
        return copies[text]
    if re.match(r"^https?://", text, re.IGNORECASE):
        return text
    if text.lower().startswith("file:"):
        return text if urlsplit(text).path else None
    if re.match(r"^[A-Za-z]:[\\/]", text) and os.name != "nt":  # a Windows path, rendered elsewhere
        return PureWindowsPath(text).as_uri()
    if _SCHEME.match(text) and not re.match(r"^[A-Za-z]:[\\/]", text):  # another scheme; C:\ is a path
        return None
    path = Path(os.path.expanduser(text))
    if folder is not None and not path.is_absolute():
        path = folder / path
    if folder is not None:
        try:
            return quote(path.resolve().relative_to(folder.resolve()).as_posix())
        except ValueError:
            pass
    return path.resolve().as_uri() if path.is_absolute() or folder is not None else None


# -- the page's data ---------------------------------------------------------------------

def _known_type(kind: Any) -> Optional[str]:
    """The imagery type's canonical name, or None for an empty or unknown one (the page shows any value)."""
    try:
        return schema.normalize_imagery_type(kind) if kind else None
    except Exception:  # an unknown type in a layer file: the defaults of the layer's default type
        return None


def _compact(view: View) -> List[Any]:
    """[kind, centre east, centre north, reach, far, ring as flat east/north list], to 0.1 m.

    A circle's ring is left out: the page draws it from its radius (the reach)."""
    def r(value: float) -> float:
        return round(value, 1) + 0.0  # + 0.0: no "-0.0" in the page

    ring = [] if view.kind == "circle" else [r(c) for point in view.ring for c in point]
    return [VIEW_KINDS[view.kind], r(view.centre[0]), r(view.centre[1]), r(view.reach), r(view.far), ring]


def preview_data(layer_name: str, features: Sequence[Dict[str, Any]], failures: Sequence[Dict[str, Any]], *,
                 imagery_type: Optional[str] = None, generated: Optional[str] = None,
                 folder: Optional[Path] = None, photo_sources: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """The page's data: column-wise rows so 10,000 photos stay a few megabytes."""
    fields = [name for name in schema.field_names()]
    copies = dict(read_photo_index(folder) if folder is not None else {})
    copies.update(photo_sources or {})
    defaults: Dict[Optional[str], Dict[str, Any]] = {}
    rows: List[List[Any]] = []
    xyz: List[List[Any]] = []
    views: List[List[Any]] = []
    photos: List[Optional[str]] = []
    for feature in features:
        coordinates = feature["geometry"]["coordinates"]
        xyz.append([coordinates[0], coordinates[1], coordinates[2] if len(coordinates) > 2 else None])
        properties = feature.get("properties") or {}
        rows.append([properties.get(name) for name in fields])
        kind = properties.get("OrientedImageryType") or imagery_type
        if kind not in defaults:
            defaults[kind] = schema.oriented_imagery_properties(_known_type(kind))
        views.append(_compact(camera_view(properties, defaults[kind])))
        photos.append(photo_source(properties.get("ImagePath"), folder, copies))
    return {
        "layer": {"name": layer_name, "imageryType": imagery_type, "count": len(rows),
                  "generated": generated or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "generator": f"xpgeo {__version__}"},
        "fields": fields,
        "rows": rows,
        "xyz": xyz,
        "views": views,
        "photos": photos,
        "failures": [{"url": f.get("url"), "reason": f.get("reason"), "line": f.get("line")} for f in failures],
        "colours": type_colours(),
        "fallbackColour": FALLBACK_COLOUR,
        "basemap": BASEMAP,
    }


def _hash(script: str) -> str:
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


def content_security_policy(*scripts: str) -> str:
    """Only these scripts run; images (photos, tiles) may come from anywhere; nothing else is fetched."""
    return ("default-src 'none'; script-src %s; style-src 'unsafe-inline'; "
            "img-src 'self' http: https: data: file:; connect-src 'none'; base-uri 'none'; form-action 'none'"
            % " ".join(_hash(s) for s in scripts))


def render_preview(layer_name: str, features: Sequence[Dict[str, Any]],
                   failures: Sequence[Dict[str, Any]] = (), *, imagery_type: Optional[str] = None,
                   generated: Optional[str] = None, folder: Optional[Path] = None,
                   photo_sources: Optional[Mapping[str, str]] = None) -> str:
    """The whole ``preview.html`` for a layer: its features and the failed images.

    *folder* is where the page will be written: photos inside it (and the copies recorded
    by :func:`save_photo_copies`) are referenced relative to it, so the folder can move.
    """
    script = _asset(SCRIPT_FILE)
    leaflet = leaflet_script()
    data = preview_data(layer_name, features, failures, imagery_type=imagery_type, generated=generated,
                        folder=folder, photo_sources=photo_sources)
    values = {
        "CSP": html.escape(content_security_policy(leaflet, script), quote=False),  # ours, no double quote
        "TITLE": html.escape(f"{layer_name} - XPGEO preview", quote=True),
        "LEAFLET_CSS": leaflet_css(),
        "LEAFLET": leaflet,
        "SCRIPT": script,
        "DATA": embed_json(data),
    }
    # One pass: substituted text (which holds untrusted values) is never scanned for markers again.
    return _MARKER.sub(lambda m: values[m.group(1)], _asset(TEMPLATE_FILE))
