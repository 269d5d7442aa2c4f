"""A fake ``arcpy`` for tests: just enough of ArcPy for a Python toolbox to run.

It records what a toolbox does (messages, progressor calls, every arcpy call) so
tests can assert on it, and lets tests play ArcGIS Pro's sign-in and product with
module attributes. :func:`reset` puts everything back.

Only ``arcpy`` is faked in the XPGEO test suite; servers are real loopback servers.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from types import SimpleNamespace

from arcpy import conversion, mp  # noqa: F401  (arcpy.mp.ArcGISProject, arcpy.conversion.JSONToFeatures)

MESSAGES: List[Tuple[str, str]] = []
"""(severity, text): severity is message, warning or error."""
PROGRESS: List[Tuple[str, Any]] = []
CALLS: List[str] = []
SIGNIN: Optional[Dict[str, Any]] = None
"""What GetSigninToken returns (None: not signed in)."""
ACTIVE_PORTAL: str = ""
PRODUCT = "ArcGISPro"


class _Env:
    """``arcpy.env``: ``isCancelled`` is what Pro sets when the person presses Cancel; ``addOutputsToMap``
    is Pro's "Add output datasets to an open map" option (on by default); ``scratchGDB`` its scratch workspace."""

    def __init__(self) -> None:
        self.isCancelled = False
        self.addOutputsToMap = True
        self.scratchGDB = ""


env = _Env()


def reset() -> None:
    global SIGNIN, ACTIVE_PORTAL, PRODUCT
    env.isCancelled = False
    MESSAGES.clear()
    PROGRESS.clear()
    CALLS.clear()
    SIGNIN = None
    ACTIVE_PORTAL = ""
    PRODUCT = "ArcGISPro"
    mp.HOME_FOLDER = None
    mp.MAP_LAYERS.clear()
    conversion.CONVERTED.clear()
    env.addOutputsToMap, env.scratchGDB, env.isCancelled = True, "", False


class Layer:
    """A layer of the map, as a GPFeatureLayer parameter's value holds it when one is picked."""

    def __init__(self, name: str, dataSource: str) -> None:
        self.name = name
        self.dataSource = dataSource

    def __str__(self) -> str:  # valueAsText of a picked layer is its name in the map
        return self.name


def Describe(value: Any) -> Any:
    """arcpy.Describe: a layer's catalogPath is its data source (a service layer URL or a dataset path)."""
    CALLS.append("Describe")
    if isinstance(value, Layer):
        return SimpleNamespace(catalogPath=value.dataSource, dataType="FeatureLayer", name=value.name)
    raise OSError(f"Describe: {value!r} does not exist or is not supported")


def ValidateTableName(name: str, workspace: str = "") -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def add_outputs_to_map(params: List["Parameter"]) -> None:
    """What Pro does after a tool runs: with "Add output datasets to an open map" on, every output
    that is a dataset or layer (not a string or number) is added to the active map."""
    if not env.addOutputsToMap:
        return
    for p in params:
        if p.direction == "Output" and p.datatype in ("GPFeatureLayer", "DEFeatureClass") and p.value:
            mp.ArcGISProject("CURRENT").activeMap.addDataFromPath(str(p.value))


class ExecuteError(Exception):
    """Raised by tools when they fail (arcpy.ExecuteError)."""


class Filter:
    def __init__(self) -> None:
        self.type: Optional[str] = None
        self.list: List[Any] = []


class Parameter:
    """The subset of arcpy.Parameter a toolbox uses."""

    def __init__(self, name: str = "", displayName: str = "", direction: str = "Input", datatype: str = "GPString",
                 parameterType: str = "Required", enabled: bool = True, category: Optional[str] = None,
                 symbology: Optional[str] = None, multiValue: bool = False) -> None:
        self.name = name
        self.displayName = displayName
        self.direction = direction
        self.datatype = datatype
        self.parameterType = parameterType
        self.enabled = enabled
        self.category = category
        self.symbology = symbology
        self.multiValue = multiValue
        self.filter = Filter()
        self.value: Any = None
        self.altered = False
        self.hasBeenValidated = False
        self.message: Optional[str] = None
        self.messageType: Optional[str] = None
        if isinstance(datatype, (list, tuple)):  # a composite type: arcpy keeps the list
            self.datatype = list(datatype)
        self.parameterDependencies: List[Any] = []

    def set(self, value: Any) -> "Parameter":
        """Test helper: what typing into the tool dialog does."""
        self.value = value
        self.altered = True
        return self

    @property
    def values(self) -> Optional[List[Any]]:
        if self.value is None:
            return None
        if isinstance(self.value, (list, tuple)):
            return list(self.value)
        return [v for v in str(self.value).split(";") if v]

    @values.setter
    def values(self, items: List[Any]) -> None:
        self.value = list(items)

    @property
    def valueAsText(self) -> Optional[str]:
        if self.value is None or self.value == "":
            return None
        if isinstance(self.value, Layer):
            return str(self.value)
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        if isinstance(self.value, (list, tuple)):
            return ";".join(str(v) for v in self.value)
        return str(self.value)

    def setErrorMessage(self, message: str) -> None:
        self.message, self.messageType = message, "error"

    def setWarningMessage(self, message: str) -> None:
        self.message, self.messageType = message, "warning"

    def clearMessage(self) -> None:
        self.message = self.messageType = None

    def hasError(self) -> bool:
        return self.messageType == "error"

    def hasWarning(self) -> bool:
        return self.messageType == "warning"


class Messages:
    """The ``messages`` object passed to ``execute``."""

    def addMessage(self, text: str) -> None:
        MESSAGES.append(("message", text))

    def addWarningMessage(self, text: str) -> None:
        MESSAGES.append(("warning", text))

    def addErrorMessage(self, text: str) -> None:
        MESSAGES.append(("error", text))


def AddMessage(text: str) -> None:
    CALLS.append("AddMessage")
    MESSAGES.append(("message", text))


def AddWarning(text: str) -> None:
    CALLS.append("AddWarning")
    MESSAGES.append(("warning", text))


def AddError(text: str) -> None:
    CALLS.append("AddError")
    MESSAGES.append(("error", text))


def SetProgressor(kind: str, message: str = "", min_range: int = 0, max_range: int = 100,
                  step_value: int = 1) -> None:
    CALLS.append("SetProgressor")
    PROGRESS.append(("SetProgressor", (kind, message, min_range, max_range, step_value)))


def SetProgressorPosition(position: Optional[int] = None) -> None:
    CALLS.append("SetProgressorPosition")
    PROGRESS.append(("SetProgressorPosition", position))


def SetProgressorLabel(label: str) -> None:
    CALLS.append("SetProgressorLabel")
    PROGRESS.append(("SetProgressorLabel", label))


def ResetProgressor() -> None:
    CALLS.append("ResetProgressor")
    PROGRESS.append(("ResetProgressor", None))


def GetSigninToken() -> Optional[Dict[str, Any]]:
    CALLS.append("GetSigninToken")
    return dict(SIGNIN) if SIGNIN else None


def GetActivePortalURL() -> str:
    CALLS.append("GetActivePortalURL")
    return ACTIVE_PORTAL


def GetInstallInfo() -> Dict[str, str]:
    CALLS.append("GetInstallInfo")
    return {"ProductName": PRODUCT, "Version": "3.5"}
