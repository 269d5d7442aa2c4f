"""Layer names: how each backend spells a name it is given, and the one rule for a taken name.

Why one module: the Pro dialog forecasts the name a layer will be created under before any
backend runs, and the local and portal backends each need the same taken-name rule. With the
rules inside each backend, the dialog reached into two backend modules and the two backends
stamped a taken name with different clocks (local time on disk, UTC on the portal), so the same
run at the same second gave two different names. Here each rule is written once.
"""

from __future__ import annotations

import re
import time
from typing import Callable, Dict, Iterator, Optional

from xpgeo_core.errors import ValidationError
from xpgeo_core.settings import BackendName

_SERVICE_OK = re.compile(r"^[A-Za-z0-9_]+$")
_SERVICE_BAD_RUN = re.compile(r"[^A-Za-z0-9_]+")
_FOLDER_UNSAFE = re.compile(r"[^\w\-]+")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {
    f"LPT{i}" for i in range(1, 10)}
_MAX_FOLDER = 100
TAKEN_VARIANTS = 100
"""How many names :func:`taken_name_candidates` offers before the caller gives up."""


def clean_service_name(name: str) -> str:
    """A portal service name: letters, digits and underscores only (the rule createService
    enforces); each run of other characters becomes one underscore. A 400 when nothing is left."""
    name = name.strip()
    if _SERVICE_OK.match(name):
        return name
    cleaned = _SERVICE_BAD_RUN.sub("_", name).strip("_")
    if not cleaned:
        raise ValidationError(f"Missing layer name: {name!r} has no letters or digits.", status=400,
                              hint="Service names are letters, digits and underscores, e.g. site_survey_2026.")
    return cleaned


def folder_name(name: str) -> str:
    """The local layer folder a name maps to: letters, digits, ``_`` and ``-`` only.

    Why: the name arrives from a person or a script and must never climb out of the
    output folder (``..``, ``/``, drive letters) or hit a name Windows refuses.
    """
    cleaned = _FOLDER_UNSAFE.sub("_", name.strip()).strip("_")[:_MAX_FOLDER] or "layer"
    if cleaned.upper() in _WINDOWS_RESERVED:
        cleaned += "_layer"
    return cleaned


def timestamped(name: str, now: Optional[float] = None) -> str:
    """The XPGEO rule for a taken name: ``<name>_YYYYMMDD_HHMMSS``, in UTC on every backend."""
    return name + time.strftime("_%Y%m%d_%H%M%S", time.gmtime(now))


def taken_name_candidates(wanted: str, now: Optional[float] = None) -> Iterator[str]:
    """The names to try in order: *wanted*, then its timestamped form, then that form with
    ``_2`` ... (two layers made in the same second); :data:`TAKEN_VARIANTS` in all."""
    yield wanted
    stamped = timestamped(wanted, now)
    yield stamped
    for number in range(2, TAKEN_VARIANTS):
        yield f"{stamped}_{number}"


FINAL_NAME_RULES: Dict[str, Callable[[str], str]] = {BackendName.PORTAL: clean_service_name,
                                                     BackendName.LOCAL: folder_name}
"""How each backend spells a layer name (the XPGEO server's own rule is not published: none applied)."""
