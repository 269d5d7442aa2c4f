"""The Oriented Imagery schema, read from ``layer_templates/``.

The templates are data, not code, so a GIS lead can read and adjust the fields and
per-type defaults without touching Python. Found in one of two places:

* ``xpgeo_core/layer_templates/`` when installed as a wheel (pyproject maps the
  top-level folder there);
* ``layer_templates/`` beside ``xpgeo_core/``: the checkout, or the folder a web tool
  is published from.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional

from xpgeo_core.errors import ConfigError, ValidationError
from xpgeo_core.settings import IMAGERY_TYPES

_HERE = Path(__file__).resolve().parent
TEMPLATE_DIRS = (_HERE / "layer_templates", _HERE.parent / "layer_templates")
OI_TYPE_KEYWORD = "OrientedImageryLayer"
"""The item type keyword Esri's apps search for, and the web map ``layerType`` of an OI layer."""
OI_LAYER_TYPE = "Oriented Imagery Layer"
"""The layer ``type`` Esri's clients require (Maps SDK ``OrientedImageryLayer``, Python API ``fromitem``)."""
PER_PHOTO_DEFAULTS = {"CameraPitch": "cameraPitch", "CameraRoll": "cameraRoll", "CameraHeight": "cameraHeight",
                      "HorizontalFieldOfView": "horizontalFieldOfView", "VerticalFieldOfView": "verticalFieldOfView",
                      "NearDistance": "nearDistance", "FarDistance": "farDistance", "ImageRotation": "imageRotation"}
"""Per-photo field → the layer property it overrides. A photo's empty field is filled from its own
imagery type, so a Nadir photo in a Horizontal layer is not drawn with the Horizontal defaults."""


def templates_dir() -> Path:
    for folder in TEMPLATE_DIRS:
        if (folder / "oi_layer.json").is_file():
            return folder
    raise ConfigError("The layer templates (layer_templates/oi_layer.json) were not found.",
                      hint="Keep the layer_templates folder beside xpgeo_core, or reinstall XPGEO.")


@lru_cache(maxsize=None)
def _load(name: str) -> Dict[str, Any]:
    with open(templates_dir() / name, encoding="utf-8") as handle:
        return json.load(handle)


def normalize_imagery_type(value: Optional[str]) -> Optional[str]:
    """Canonical spelling of an imagery type (case-insensitive), None for empty; else a 400."""
    if value is None or not str(value).strip():
        return None
    wanted = str(value).strip().lower()
    for known in IMAGERY_TYPES:
        if known.lower() == wanted:
            return known
    raise ValidationError(f"Imagery type {value!r} is not one of " + ", ".join(IMAGERY_TYPES) + ".", status=400,
                          hint="Leave it empty to use the default (" + default_imagery_type() + ").")


def default_imagery_type() -> str:
    return _load("imagery_types.json")["default_type"]


def layer_fields() -> List[Dict[str, Any]]:
    return copy.deepcopy(_load("oi_layer.json")["layer"]["fields"])


def field_names() -> List[str]:
    return [f["name"] for f in _load("oi_layer.json")["layer"]["fields"]]


def oi_table_columns() -> List[str]:
    """Esri's oriented imagery table columns (CSV for Add Images To Oriented Imagery Dataset)."""
    return list(_load("oi_layer.json")["oi_table_columns"])


def oriented_imagery_properties(imagery_type: Optional[str]) -> Dict[str, Any]:
    """Layer-level ``orientedImageryProperties`` for an imagery type."""
    data = _load("imagery_types.json")
    kind = normalize_imagery_type(imagery_type) or data["default_type"]
    props = dict(data["common"])
    props.update(data["types"][kind])
    return props


def near_far(imagery_type: Optional[str]) -> Dict[str, float]:
    """Per-photo ``NearDistance``/``FarDistance`` defaults for an imagery type."""
    props = oriented_imagery_properties(imagery_type)
    return {"NearDistance": props["nearDistance"], "FarDistance": props["farDistance"]}


def attachment_schema() -> Dict[str, Any]:
    """What a layer whose photos are feature attachments adds (``attachments`` of oi_layer.json): its
    fields, ``hasAttachments``, ``globalIdField``, the ImagePath that sends the viewer to the attachment
    (``imagePath``, "FA") and the field reruns recognise a photo by (``keyField``)."""
    return copy.deepcopy(_load("oi_layer.json")["attachments"])


def layer_definition(name: str, imagery_type: Optional[str], extent: Optional[Dict[str, Any]] = None, *,
                     elevation_source: Optional[Dict[str, Any]] = None, attachments: bool = False) -> Dict[str, Any]:
    """The full point-layer definition as a published OI layer reads (``type`` "Oriented Imagery
    Layer", ``orientedImageryInfo``, ``timeInfo``), ready for ``addToDefinition`` or ``layer.json``.
    *elevation_source* is the web map specification's ``elevationSource`` object; *attachments*: the
    photos will be the features' attachments (:func:`attachment_schema`)."""
    layer = copy.deepcopy(_load("oi_layer.json")["layer"])
    layer["name"] = name
    if attachments:
        extra = attachment_schema()
        layer["fields"].extend(extra["fields"])
        layer["hasAttachments"] = True
        layer["globalIdField"] = extra["globalIdField"]
    if extent:
        layer["extent"] = extent
    props = oriented_imagery_properties(imagery_type)
    if elevation_source:
        props["elevationSource"] = dict(elevation_source)
    layer["orientedImageryInfo"] = {"orientedImageryProperties": props}
    return layer


FOOTPRINT_LAYER_ID = 1
"""The footprint layer's id in the OI layer's service: where Esri's own publishing puts it."""


def footprint_layer_definition(name: str, key_field: str = "ImagePath") -> Dict[str, Any]:
    """The footprint polygon layer (``layer_templates/footprint_layer.json``) of the OI layer *name*:
    layer 1 of its feature service (portal) or ``footprintLayer`` of ``layer.json`` (local).
    *key_field*: what the OI layer's photos are recognised by. ImagePath is in the template; a layer whose
    photos are attachments is keyed by its PhotoKey (:func:`attachment_schema`), since ImagePath is "FA"
    for every photo there, so the footprint layer gets the same field to key its polygons by."""
    layer = copy.deepcopy(_load("footprint_layer.json")["layer"])
    layer["name"] = layer["name"].replace("{name}", name)
    if key_field not in {f["name"] for f in layer["fields"]}:
        extra = {f["name"]: f for f in attachment_schema()["fields"]}
        layer["fields"].append(extra[key_field])
    return layer


def footprint_field_names() -> List[str]:
    return [f["name"] for f in _load("footprint_layer.json")["layer"]["fields"]]


def upgrade_layer(layer: Dict[str, Any]) -> List[str]:
    """Give a layer definition written by an earlier release what this one writes (the local
    ``layer.json``): the schema's fields it lacks and the properties with no value yet
    (``sequenceOrderField``). Returns the names added; what the layer has is left as it is."""
    added = []
    fields = layer.setdefault("fields", [])
    have = {str(f.get("name", "")).lower() for f in fields if isinstance(f, dict)}
    for wanted in layer_fields():
        if wanted["name"].lower() not in have:
            fields.append(wanted)
            added.append(wanted["name"])
    props = (layer.get("orientedImageryInfo") or {}).get("orientedImageryProperties")
    if isinstance(props, dict):
        for key, value in _load("imagery_types.json")["common"].items():
            if key not in props:
                props[key] = value
                added.append(key)
    return added


def item_data(layer_id: int = 0, current: Any = None) -> Dict[str, Any]:
    """The item data that tells Esri's portal-item readers which layer is the OI layer; what
    *current* data already says (pop-ups, other layers) is kept."""
    data = copy.deepcopy(current) if isinstance(current, dict) else {}
    layers = [l for l in data.get("layers") or [] if isinstance(l, dict)]
    entry = next((l for l in layers if l.get("id") == int(layer_id)), None)
    if entry is None:
        entry = {"id": int(layer_id)}
        layers.append(entry)
    entry["layerType"] = OI_TYPE_KEYWORD
    data["layers"] = layers
    return data


def oi_problems(layer: Mapping[str, Any], expected: Mapping[str, Any]) -> List[str]:
    """What keeps *layer* (a layer's JSON as read back) from being the OI layer defined with
    *expected* ``orientedImageryProperties``: an empty list when it is one."""
    problems = []
    kind = layer.get("type")
    if kind != OI_LAYER_TYPE:
        problems.append(f"its type is {kind!r}, not {OI_LAYER_TYPE!r}")
    info = layer.get("orientedImageryInfo")
    props = info.get("orientedImageryProperties") if isinstance(info, dict) else None
    if not isinstance(props, dict):
        problems.append("it has no orientedImageryInfo.orientedImageryProperties")
        return problems
    changed = [key for key, value in expected.items() if not _same(props.get(key), value)]
    if changed:
        problems.append("orientedImageryProperties " + ", ".join(sorted(changed)) + " did not keep the values sent")
    return problems


def _same(got: Any, sent: Any) -> bool:
    """*got* reads back what was *sent*: numbers to rounding, an empty string as absent (a
    server may drop empty properties; the viewer reads both as none)."""
    if sent == "" and got in ("", None):
        return True
    if isinstance(sent, (int, float)) and not isinstance(sent, bool):
        return isinstance(got, (int, float)) and not isinstance(got, bool) and math.isclose(got, sent, abs_tol=1e-9)
    if isinstance(sent, dict):
        return isinstance(got, dict) and all(_same(got.get(k), v) for k, v in sent.items())
    return got == sent


def complete_photo(attributes: Mapping[str, Any]) -> Dict[str, Any]:
    """A photo's attributes with every per-photo value the viewer reads filled in: an empty
    field takes the default of the photo's own imagery type, never the layer's."""
    out = dict(attributes)
    try:
        defaults = oriented_imagery_properties(out.get("OrientedImageryType"))
    except ValidationError:
        defaults = oriented_imagery_properties(None)
    if not out.get("OrientedImageryType"):
        out["OrientedImageryType"] = defaults["orientedImageryType"]
    for field_name, prop in PER_PHOTO_DEFAULTS.items():
        if out.get(field_name) is None:
            out[field_name] = defaults[prop]
    return out


def maximum_distance(current: Any, far_distances: Iterable[Any]) -> Optional[float]:
    """The layer's ``maximumDistance`` after photos with *far_distances* were appended: the
    viewer looks for photos only this far from a clicked point, so it must reach the farthest
    photo's FarDistance. None when *current* already does."""
    farthest = max((float(d) for d in far_distances if isinstance(d, (int, float)) and math.isfinite(d)),
                   default=None)
    try:
        now = float(current)
    except (TypeError, ValueError):
        now = 0.0
    if farthest is None or farthest <= now:
        return None
    return float(math.ceil(farthest))


_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def acquisition_moment(value: Any) -> Optional[_dt.datetime]:
    """An ``AcquisitionDate`` (ISO 8601 text or epoch milliseconds) as a UTC datetime. A time
    without an offset is taken as UTC: the metadata engine already warned it is camera-local."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(milliseconds=value)
    match = _ISO.match(str(value).strip())
    if not match:
        return None
    y, mo, d, h, mi, s = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7)[1:] + "000000")[:6]) if match.group(7) else 0
    try:
        moment = _dt.datetime(y, mo, d, h, mi, s, micro, tzinfo=_dt.timezone.utc)
    except ValueError:
        return None
    offset = match.group(8)
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        moment -= sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment


def acquisition_ms(value: Any) -> Optional[int]:
    """``AcquisitionDate`` as ArcGIS date milliseconds (UTC): what the portal layer stores."""
    moment = acquisition_moment(value)
    if moment is None:
        return None
    return int(round((moment - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)).total_seconds() * 1000))


def acquisition_iso(value: Any) -> Optional[str]:
    """``AcquisitionDate`` as ISO 8601 UTC with ``Z`` (milliseconds when there are any): the one
    form ``features.geojson`` holds, so a browser never reads it in its own time zone."""
    moment = acquisition_moment(value)
    if moment is None:
        return None
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += ".%03d" % (moment.microsecond // 1000)
    return text + "Z"
