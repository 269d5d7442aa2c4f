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
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

from xpgeo_core.errors import ConfigError, ValidationError
from xpgeo_core.settings import IMAGERY_TYPES

_HERE = Path(__file__).resolve().parent
TEMPLATE_DIRS = (_HERE / "layer_templates", _HERE.parent / "layer_templates")
OI_TYPE_KEYWORD = "OrientedImageryLayer"
OI_LAYER_TYPE = "Oriented Imagery Layer"


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


def layer_definition(name: str, imagery_type: Optional[str], extent: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The full point-layer definition, with ``orientedImageryInfo``, ready for
    ``addToDefinition``/``updateDefinition`` or ``layer.json``."""
    layer = copy.deepcopy(_load("oi_layer.json")["layer"])
    layer["name"] = name
    if extent:
        layer["extent"] = extent
    layer["orientedImageryInfo"] = {"orientedImageryProperties": oriented_imagery_properties(imagery_type)}
    return layer
