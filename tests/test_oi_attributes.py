"""The OI attributes dataclass is generated from layer_templates/ and is the pipeline's type for a photo's
attributes (xpgeo_core/oi_attributes.py, tools/make_attributes.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import make_attributes  # noqa: E402
from xpgeo_core import schema  # noqa: E402
from xpgeo_core.metadata import ATTRIBUTE_KEYS  # noqa: E402
from xpgeo_core.oi_attributes import LAYER_FIELDS, NAMES, OIAttributes  # noqa: E402


def test_the_module_is_generated_from_the_current_template():
    assert make_attributes.main(["--check"]) == 0, "run python3 tools/make_attributes.py"


def test_it_holds_every_layer_field_and_every_value_the_engine_reads():
    assert list(LAYER_FIELDS) == [name for name in schema.field_names() if name != "OBJECTID"]
    assert set(ATTRIBUTE_KEYS) <= set(NAMES)
    assert set(schema.oi_table_columns()) - {"SRS"} <= set(NAMES)


def test_an_unknown_attribute_is_refused_not_dropped():
    with pytest.raises(KeyError, match="CameraYaw"):
        OIAttributes.from_mapping({"X": 1.0, "CameraYaw": 5.0})


def test_it_round_trips_the_engines_dict():
    values = {key: None for key in ATTRIBUTE_KEYS}
    values.update(X=8.5, Y=47.3, CameraHeading=90.0, ImagePath="https://photos.example.com/a.jpg")
    attributes = OIAttributes.from_mapping(values)
    attributes.SequenceId, attributes.SequenceOrder = 3, 1.0
    out = attributes.as_dict()
    assert {k: out[k] for k in values} == values
    assert (out["SequenceId"], out["SequenceOrder"]) == (3, 1.0)


def test_a_template_field_added_changes_the_generated_class(tmp_path, monkeypatch):
    """The template is the one source: a field added there appears in the class (typed)."""
    import json

    template = json.loads(make_attributes.TEMPLATE.read_text(encoding="utf-8"))
    template["layer"]["fields"].append({"name": "Inspector", "type": "esriFieldTypeString", "length": 64,
                                        "nullable": True})
    edited = tmp_path / "oi_layer.json"
    edited.write_text(json.dumps(template), encoding="utf-8")
    monkeypatch.setattr(make_attributes, "TEMPLATE", edited)
    text = make_attributes.render()
    assert "    Inspector: Optional[str] = None  # String(64)" in text
    assert '    "Inspector",' in text
