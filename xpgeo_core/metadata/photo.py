"""What the engine returns for one photo, and the one error type it raises internally.

Why a result object and not exceptions: in a batch every photo must end with its own
outcome (the no-data-lost rule), so a broken photo is a value (``ok=False`` with a
reason), never an exception escaping the photo pass (:mod:`xpgeo_core.pipeline.photos`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from xpgeo_core.urls import PhotoRef

ATTRIBUTE_KEYS = (
    "X", "Y", "Z", "ImagePath", "Name", "AcquisitionDate", "CameraHeading", "CameraHeadingReference",
    "CameraPitch", "CameraRoll", "CameraHeight", "HorizontalFieldOfView", "VerticalFieldOfView",
    "NearDistance", "FarDistance", "OrientedImageryType", "ImageRotation",
)


class PhotoError(Exception):
    """A photo that cannot be read or placed. ``code`` is a stable name for tests and
    scripts (``not_jpeg``, ``truncated``, ``bad_offset``, ``ifd_loop``, ``bad_count``,
    ``header_too_large``, ``http_status``, ``network``, ``no_gps``, ``gps_out_of_range``,
    ``file_not_found``, ``file_unreadable``, ``unsupported_source``...); the message says
    what happened and what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.attributes: Optional[Dict[str, Any]] = None  # what could be read despite the error


def empty_attributes() -> Dict[str, Any]:
    return {key: None for key in ATTRIBUTE_KEYS}


@dataclass
class PhotoInfo:
    """One photo's outcome: its OI attributes, or why it has none."""

    photo: PhotoRef
    """The photo read (its address parsed once: fetched, stored and shown forms)."""
    ok: bool = False
    error: Optional[str] = None
    error_code: Optional[str] = None
    bytes_read: int = 0
    warnings: List[str] = field(default_factory=list)
    attributes: Dict[str, Any] = field(default_factory=empty_attributes)
    allow_origin: Optional[str] = None
    """The ``Access-Control-Allow-Origin`` answered to the header read, when it was asked with an Origin."""
    read_as_viewer: bool = False
    """The header read was the viewer's kind of request (with the Origin, no cookies): its answer is the check."""

    @property
    def source(self) -> str:
        """What was read: the URL (with any credentials) or the file's path."""
        return self.photo.fetch

    def to_dict(self) -> Dict[str, Any]:
        """The ``xpgeo inspect --json`` object for this photo; ``source`` without ``user:password@``
        (as the ImagePath and the append reports give it)."""
        return {"source": self.photo.image_path, "ok": self.ok, "error": self.error, "bytes_read": self.bytes_read,
                "warnings": list(self.warnings), "attributes": {k: self.attributes.get(k) for k in ATTRIBUTE_KEYS}}
