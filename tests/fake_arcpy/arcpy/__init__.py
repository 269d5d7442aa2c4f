"""A fake ``arcpy`` for tests: just enough of ArcPy for a Python toolbox to run.

It records what a toolbox does (messages, progressor calls, every arcpy call) so
tests can assert on it, and lets tests play ArcGIS Pro's sign-in and product with
module attributes. :func:`reset` puts everything back.

Only ``arcpy`` is faked in the XPGEO test suite; servers are real loopback servers.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from arcpy import mp  # noqa: F401  (arcpy.mp.ArcGISProject)

MESSAGES: List[Tuple[str, str]] = []
"""(severity, text): severity is message, warning or error."""
PROGRESS: List[Tuple[str, Any]] = []
CALLS: List[str] = []
SIGNIN: Optional[Dict[str, Any]] = None
"""What GetSigninToken returns (None: not signed in)."""
ACTIVE_PORTAL: str = ""
PRODUCT = "ArcGISPro"


class _Env:
    """``arcpy.env``: ``isCancelled`` is what Pro sets when the person presses Cancel."""

    def __init__(self) -> None:
        self.isCancelled = False


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
