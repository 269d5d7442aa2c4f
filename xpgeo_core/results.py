"""What operations return: plain dataclasses that turn into JSON.

Every backend returns these same shapes, so the toolbox, the CLI and the tests never
care which backend did the work.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Callable, Dict, List, Optional

from xpgeo_core.urls import safe_url, without_credentials

class ImageStatus(str, Enum):
    """What became of one image of a batch, in the words the report, the JSON output and
    report.json use. A ``str`` enum: a member equals, hashes, formats and serialises as its word,
    so code and readers that know the plain words see no change, and a type checker sees one type."""

    APPENDED = "appended"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Already in the layer: a rerun never duplicates."""
    UNCONFIRMED = "unconfirmed"
    """Sent, but the answer was lost and the layer could not be asked: it may or may not be in the
    layer. Recorded (XPGEO append ledger) so a rerun finds out instead of sending it twice."""

    def __str__(self) -> str:  # the word, on every Python (3.11 changed str() of mixed-in enums)
        return self.value


APPENDED, FAILED = ImageStatus.APPENDED, ImageStatus.FAILED
SKIPPED, UNCONFIRMED = ImageStatus.SKIPPED, ImageStatus.UNCONFIRMED


@dataclass
class HealthResult:
    backend: str
    liveness_label: str
    """First output line's label, e.g. ``XPGEO REST`` in ``XPGEO REST response: ...``."""
    liveness_message: str
    versions: Dict[str, Any]
    """``currentVersion``/``enterpriseVersion``/``enterpriseBuild`` or the backend's equivalent."""
    details: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class CreateResult:
    backend: str
    requested_name: str
    layer_name: str
    """The name actually created: may carry a ``_YYYYMMDD_HHMMSS`` suffix or be cleaned."""
    item_id: Optional[str]
    service_url: Optional[str]
    service_type: Optional[str] = "Feature Service"
    layer: Dict[str, Any] = field(default_factory=dict)
    response: Dict[str, Any] = field(default_factory=dict)
    """The server's own answer (the XPGEO create JSON), printed by the CLI."""
    messages: List[str] = field(default_factory=list)

    @property
    def renamed(self) -> bool:
        return self.layer_name != self.requested_name

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out["renamed"] = self.renamed
        return out


@dataclass(frozen=True)
class ViewerIssue:
    """Why Esri's viewer would show "No image available" for a photo, and what to do about it
    (see :mod:`xpgeo_core.readiness`). ``kind``: ``http``, ``cors``, ``format``, ``signed``,
    ``credentials``, ``access``, ``local``, ``unreachable``."""

    kind: str
    message: str
    fix: str

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "fix": self.fix}


@dataclass
class ImageResult:
    url: str
    """The image's ImagePath: the URL without ``user:password@`` (the layer's key)."""
    status: ImageStatus
    reason: Optional[str] = None
    line: Optional[int] = None
    """Line number in the URL list file, when the URL came from one."""
    attributes: Optional[Dict[str, Any]] = None
    display: Optional[str] = None
    """The form for messages and logs: no credentials, no query (presigned signatures)."""
    notes: Optional[List[str]] = None
    """Values the pipeline inferred for it (a heading from the track): never silent."""
    viewer: Optional[List[ViewerIssue]] = None
    """What the viewer-readiness check found (None: not checked, []: ready)."""

    @property
    def shown(self) -> str:
        return self.display or safe_url(self.url)

    def to_dict(self) -> Dict[str, Any]:
        """The result as written to JSON output and report files: the URL without any
        ``user:password@`` (what the layer stores as ImagePath, too)."""
        out: Dict[str, Any] = {"url": without_credentials(self.url), "status": str(self.status), "reason": self.reason,
                               "line": self.line}
        if self.attributes is not None:
            out["attributes"] = self.attributes
        if self.notes:
            out["notes"] = list(self.notes)
        if self.viewer is not None:
            out["viewer"] = [issue.to_dict() for issue in self.viewer]
        return out


def failure_entries(results: List[ImageResult]) -> List[Dict[str, Any]]:
    """The failed and unconfirmed images as people read them (the preview's failure list): the
    shown form of each URL (no credentials, no query: a presigned signature stays out), the
    reason and the list line."""
    return [{"url": r.shown, "reason": r.reason, "line": r.line}
            for r in results if r.status in (FAILED, UNCONFIRMED)]


@dataclass
class AppendReport:
    backend: str
    layer_name: str
    results: List[ImageResult] = field(default_factory=list)
    responses: List[Any] = field(default_factory=list)
    """Raw server answers, one per request, for the reference client's output lines."""
    messages: List[str] = field(default_factory=list)
    duplicates_removed: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False
    """The run was cancelled: the results say exactly what landed before it stopped."""
    viewer: Dict[str, Any] = field(default_factory=dict)
    """The viewer-readiness check's summary (mode, origins, photos checked, photos with issues)."""

    def count(self, status: ImageStatus) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def appended(self) -> int:
        return self.count(APPENDED)

    @property
    def failed(self) -> int:
        return self.count(FAILED)

    @property
    def skipped(self) -> int:
        return self.count(SKIPPED)

    @property
    def unconfirmed(self) -> int:
        return self.count(UNCONFIRMED)

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.unconfirmed == 0 and not self.cancelled

    def failures(self) -> List[ImageResult]:
        """Failed and unconfirmed images: each needs a person's attention or a rerun."""
        return [r for r in self.results if r.status in (FAILED, UNCONFIRMED)]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "backend": self.backend,
            "layer_name": self.layer_name,
            "total": self.total,
            "appended": self.appended,
            "failed": self.failed,
            "skipped": self.skipped,
            "unconfirmed": self.unconfirmed,
            "cancelled": self.cancelled,
            "duplicates_removed": self.duplicates_removed,
            "messages": list(self.messages),
            "results": [r.to_dict() for r in self.results],
            **({"extra": self.extra} if self.extra else {}),
            **({"viewer_check": self.viewer} if self.viewer else {}),
        }


@dataclass
class PhotoCheck:
    """One photo of a layer as the viewer-readiness check saw it."""

    url: str
    """The ImagePath (no credentials)."""
    display: str
    checked: bool
    """False: not probed (beyond the sample); only the checks that need no request were made."""
    issues: List[ViewerIssue] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {"url": self.url, "checked": self.checked, "issues": [i.to_dict() for i in self.issues]}


@dataclass
class LayerCheckReport:
    """What ``xpgeo check-layer`` found: every photo of the layer, the ones checked, their issues."""

    backend: str
    layer_name: str
    summary: Dict[str, Any]
    photos: List[PhotoCheck] = field(default_factory=list)
    required: bool = False
    """``--require-viewer-ready``: an issue is a failure (exit code 1; the Pro tool fails)."""

    @property
    def problems(self) -> List[PhotoCheck]:
        return [p for p in self.photos if p.issues]

    @property
    def checked(self) -> int:
        return sum(1 for p in self.photos if p.checked)

    @property
    def ok(self) -> bool:
        return not (self.required and self.problems)

    def to_dict(self) -> Dict[str, Any]:
        return {"backend": self.backend, "layer_name": self.layer_name, "photos": len(self.photos),
                "checked": self.checked, "not_ready": len(self.problems), "required": self.required,
                "viewer_check": self.summary, "results": [p.to_dict() for p in self.photos if p.checked or p.issues]}


IMAGE = "image"
CHUNK = "chunk"
TICK = "tick"


@dataclass
class Progress:
    """One progress event of an append.

    ``kind``: ``image`` after each image's result (the progressor moves per image), ``chunk``
    when a chunk is done (what a log prints), ``tick`` a heartbeat about five times a second
    while the run waits on the network, so a callback that raises
    :class:`~xpgeo_core.errors.Cancelled` is heard within two seconds whatever is in flight.
    """

    done: int
    total: int
    failed: int
    step: int
    steps: int
    message: str = ""
    kind: str = CHUNK


ProgressCallback = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """The default progress callback: nobody is watching."""
