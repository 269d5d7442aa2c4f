"""What a user may ask of a new layer besides its name and imagery type.

Declared once here so the tool catalogue (toolbox and CLI parameters) and the backends
agree on one shape. Backends that cannot honour an option say so in a warning; none is
silently dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Tuple, Union
from urllib.parse import parse_qsl, urlsplit

from xpgeo_core.errors import ValidationError
from xpgeo_core.urls import safe_url

SHARING_LEVELS = ("private", "organization", "public")
_SHARING_ALIASES = {"org": "organization", "everyone": "public", "none": "private"}


@dataclass(frozen=True)
class ElevationSource:
    """Ground height the OI viewer projects clicks onto: a constant (metres) or an elevation image service."""

    constant_m: Optional[float] = None
    service_url: Optional[str] = None

    def __post_init__(self) -> None:
        url = (self.service_url or "").strip() or None
        object.__setattr__(self, "service_url", url)
        if url is not None and self.constant_m is not None:
            raise ValidationError("Elevation source: give a constant elevation or an elevation service URL, not "
                                  "both.", status=400, hint="Leave one of them empty.")
        if url is not None and not url.lower().startswith(("https://", "http://")):
            raise ValidationError(f"Elevation source {safe_url(url)!r} is not an http(s) URL.", status=400,
                                  hint="Give an image service URL, e.g. https://elevation3d.arcgis.com/arcgis/rest/"
                                       "services/WorldElevation3D/Terrain3D/ImageServer, or a constant in metres.")
        if url is not None and _carries_credentials(url):
            raise ValidationError(
                f"Elevation source {safe_url(url)!r} carries credentials (a user:password@ or a token, key or "
                f"signature in its query): the layer's definition, where it is written, is readable by everyone "
                f"the layer is shared with.", status=400,
                hint="Give the elevation service's URL without them; the viewer signs in to a secured service "
                     "itself.")
        if self.constant_m is not None:
            try:
                value = float(self.constant_m)
            except (TypeError, ValueError):
                raise ValidationError(f"Constant elevation {self.constant_m!r} is not a number.", status=400,
                                      hint="Give the ground height in metres, e.g. 212.5.") from None
            if not math.isfinite(value):
                raise ValidationError(f"Constant elevation {self.constant_m!r} is not a finite number.", status=400,
                                      hint="Give the ground height in metres, e.g. 212.5.")
            object.__setattr__(self, "constant_m", value)

    def to_oi_property(self) -> dict:
        """The web map specification's ``elevationSource`` object."""
        if self.service_url:
            return {"url": self.service_url}
        return {"constantElevation": float(self.constant_m or 0.0)}


_CREDENTIAL_QUERY_KEYS = ("token", "key", "apikey", "api_key", "password", "sig", "signature", "access_token")


def _carries_credentials(url: str) -> bool:
    """A ``user:password@`` in the authority, or a query key that holds a secret (``token=``,
    ``key=``, presigned ``X-Amz-*`` and ``Signature=``...)."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return True
    keys = [k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)]
    return any(k in _CREDENTIAL_QUERY_KEYS or k.startswith("x-amz-") for k in keys)


@dataclass(frozen=True)
class LayerOptions:
    """Create-time options; the defaults give what XPGEO made before they existed."""

    sharing: str = "organization"
    folder: Optional[str] = None
    tags: Tuple[str, ...] = field(default_factory=tuple)
    summary: Optional[str] = None
    elevation_source: Optional[ElevationSource] = None

    def __post_init__(self) -> None:
        """Checked and normalised once, whoever built it: a sharing level in any case (or
        ``org``/``everyone``), tags from a tuple, list or comma-separated text, blanks as unset."""
        level = str(self.sharing or "organization").strip().lower()
        level = _SHARING_ALIASES.get(level, level)
        if level not in SHARING_LEVELS:
            raise ValidationError(f"Sharing level {self.sharing!r} is not one of " + ", ".join(SHARING_LEVELS) + ".",
                                  status=400, hint="Leave it empty to share with the organization.")
        object.__setattr__(self, "sharing", level)
        object.__setattr__(self, "tags", _tags(self.tags))
        for name in ("folder", "summary"):
            value = getattr(self, name)
            object.__setattr__(self, name, str(value).strip() or None if value is not None else None)

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


def _tags(value: Union[str, Iterable[str], None]) -> Tuple[str, ...]:
    """Distinct, stripped, non-empty tags, in the order given."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    out: List[str] = []
    for tag in (str(t).strip() for t in items):
        if tag and tag not in out:
            out.append(tag)
    return tuple(out)
