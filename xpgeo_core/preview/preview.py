"""Render ``preview.html``: one self-contained, offline map of a layer's cameras.

Why a hand-made canvas map and not a web-map library: the file must open anywhere,
offline (no CDN, no tiles, no network), stay fast with 10,000 photos, and be safe with
untrusted input. Everything shown comes from photos and URLs, so:

* the data travels as JSON inside ``<script type="application/json">`` with ``<``,
  ``>``, ``&`` and U+2028/U+2029 escaped (:func:`embed_json`), so no value can close
  the element or open a new one;
* the page's script writes text with ``textContent`` only, never ``innerHTML``, and
  loads a photo only from an ``http(s)`` URL;
* a Content-Security-Policy allows exactly the page's own script (by its SHA-256) and
  no network requests except ``<img>`` for the photos, so even a mistake elsewhere
  could not run injected code or send data out.

The page's layout lives in ``template.html`` and its code in ``preview.js`` beside
this module, so they can be read and edited as what they are.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from xpgeo_core import __version__, schema
from xpgeo_core.errors import ConfigError

_HERE = Path(__file__).resolve().parent
TEMPLATE_FILE = "template.html"
SCRIPT_FILE = "preview.js"
FALLBACK_COLOUR = "#00c000"

_MARKER = re.compile(r"\{\{(CSP|TITLE|SCRIPT|DATA)\}\}")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    try:
        return (_HERE / name).read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(f"The preview file {name} is missing from {str(_HERE)!r}.",
                          hint="Reinstall XPGEO (pip install -e .) or restore xpgeo_core/preview/.") from None


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


def preview_data(layer_name: str, features: Sequence[Dict[str, Any]], failures: Sequence[Dict[str, Any]], *,
                 imagery_type: Optional[str] = None, generated: Optional[str] = None) -> Dict[str, Any]:
    """The page's data: column-wise rows so 10,000 photos stay a few megabytes."""
    fields = [name for name in schema.field_names()]
    rows: List[List[Any]] = []
    xyz: List[List[Any]] = []
    for feature in features:
        coordinates = feature["geometry"]["coordinates"]
        xyz.append([coordinates[0], coordinates[1], coordinates[2] if len(coordinates) > 2 else None])
        properties = feature.get("properties") or {}
        rows.append([properties.get(name) for name in fields])
    return {
        "layer": {"name": layer_name, "imageryType": imagery_type, "count": len(rows),
                  "generated": generated or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "generator": f"xpgeo {__version__}"},
        "fields": fields,
        "rows": rows,
        "xyz": xyz,
        "failures": [{"url": f.get("url"), "reason": f.get("reason"), "line": f.get("line")} for f in failures],
        "colours": type_colours(),
        "fallbackColour": FALLBACK_COLOUR,
    }


def content_security_policy(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return ("default-src 'none'; script-src 'sha256-%s'; style-src 'unsafe-inline'; "
            "img-src http: https: data:; connect-src 'none'; base-uri 'none'; form-action 'none'" % digest)


def render_preview(layer_name: str, features: Sequence[Dict[str, Any]],
                   failures: Sequence[Dict[str, Any]] = (), *, imagery_type: Optional[str] = None,
                   generated: Optional[str] = None) -> str:
    """The whole ``preview.html`` for a layer: its features and the failed images."""
    script = _asset(SCRIPT_FILE)
    data = preview_data(layer_name, features, failures, imagery_type=imagery_type, generated=generated)
    values = {
        "CSP": html.escape(content_security_policy(script), quote=False),  # ours, no double quote
        "TITLE": html.escape(f"{layer_name} - XPGEO preview", quote=True),
        "SCRIPT": script,
        "DATA": embed_json(data),
    }
    # One pass: substituted text (which holds untrusted values) is never scanned for markers again.
    return _MARKER.sub(lambda m: values[m.group(1)], _asset(TEMPLATE_FILE))
