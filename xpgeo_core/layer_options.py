"""What a user may ask of a new layer besides its name and imagery type.

Declared once here so the tool catalogue (toolbox and CLI parameters) and the backends
agree on one shape. Backends that cannot honour an option say so in a warning; none is
silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

SHARING_LEVELS = ("private", "organization", "public")


@dataclass(frozen=True)
class ElevationSource:
    """Ground height the OI viewer projects clicks onto: a constant (metres) or an elevation image service."""

    constant_m: Optional[float] = None
    service_url: Optional[str] = None

    def to_oi_property(self) -> dict:
        """The web map specification's ``elevationSource`` object."""
        if self.service_url:
            return {"url": self.service_url}
        return {"constantElevation": float(self.constant_m or 0.0)}


@dataclass(frozen=True)
class LayerOptions:
    """Create-time options; the defaults give what XPGEO made before they existed."""

    sharing: str = "organization"
    folder: Optional[str] = None
    tags: Tuple[str, ...] = field(default_factory=tuple)
    summary: Optional[str] = None
    elevation_source: Optional[ElevationSource] = None

    def requested(self) -> Tuple[str, ...]:
        """The options set to something other than their default, in declaration order."""
        default = LayerOptions()
        return tuple(name for name in ("sharing", "folder", "tags", "summary", "elevation_source")
                     if getattr(self, name) != getattr(default, name))

    def not_honoured(self, where: str, honoured: Tuple[str, ...] = ()) -> List[str]:
        """One warning sentence per requested option *where* (e.g. "The XPGEO server") cannot honour."""
        labels = {"sharing": f"sharing '{self.sharing}'", "folder": f"folder {self.folder!r}",
                  "tags": "tags " + ", ".join(self.tags), "summary": "a summary",
                  "elevation_source": "an elevation source"}
        return [f"{where} cannot set {labels[name]}; it was ignored." for name in self.requested()
                if name not in honoured]
