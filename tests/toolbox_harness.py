"""Load XPGEO.pyt with the fake arcpy and run its tools as ArcGIS Pro would."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
FAKE = Path(__file__).resolve().parent / "fake_arcpy"
if str(FAKE) not in sys.path:
    sys.path.insert(0, str(FAKE))

import arcpy  # noqa: E402  (the fake)


def load_toolbox(path: Optional[Path] = None) -> Any:
    """Import a .pyt the way Pro does (it is a Python module with another extension)."""
    path = path or ROOT / "XPGEO.pyt"
    loader = importlib.machinery.SourceFileLoader("xpgeo_toolbox_under_test", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def validate(module: Any, tool_name: str, values: Dict[str, Any]) -> Tuple[Any, list, Dict[str, str]]:
    """Fill the named parameters and run the tool's validation as the dialog does.

    Returns (tool, parameters, {name: error message} for flagged parameters)."""
    tool = getattr(module, tool_name)()
    params = tool.getParameterInfo()
    by_name = {p.name: p for p in params}
    for name, value in values.items():
        by_name[name].set(value)
    tool.updateParameters(params)
    tool.updateMessages(params)
    return tool, params, {p.name: p.message for p in params if p.hasError()}


def run_tool(module: Any, tool_name: str, values: Dict[str, Any]) -> Dict[str, Any]:
    """Fill the named parameters, validate, execute; return derived outputs by name.

    Raises arcpy.ExecuteError like Pro would when the tool fails, or AssertionError
    when updateMessages flagged a parameter (Pro would not run the tool then).
    """
    tool, params, flagged = validate(module, tool_name, values)
    assert not flagged, f"updateMessages flagged {flagged}"
    tool.execute(params, arcpy.Messages())
    arcpy.add_outputs_to_map(params)  # as Pro does after a run
    return {p.name: p.value for p in params if p.parameterType == "Derived"}
