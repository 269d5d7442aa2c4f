"""What a backend is to the append loop: a sink.

The loop owns chunking, progress, per-image accounting, fatal stops and Cancel; a sink
owns only its wire: which images its layer already holds, how one chunk is sent, and what
landed when an answer was lost. So "every image gets one result" is written once, in
:mod:`xpgeo_core.pipeline.loop`, and each backend's rule for never duplicating lives beside
the requests it protects.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

from xpgeo_core.errors import XpgeoError
from xpgeo_core.oi_attributes import OIAttributes
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.results import AppendReport, ImageResult, ImageStatus


@dataclass
class Item:
    """One image handed to a sink, with its attributes when the sink takes photos."""

    image: Image
    attributes: Optional[OIAttributes] = None
    warnings: Sequence[str] = ()
    notes: Sequence[str] = ()
    """What the pipeline inferred for it (a heading from the track), carried to its result."""


def result(image: Image, status: ImageStatus, reason: Optional[str] = None, **extra: Any) -> ImageResult:
    """The result of *image*: keyed by its ImagePath, shown by its display form."""
    return ImageResult(image.image_path, status, reason, image.line, display=image.display, **extra)


class Stop(Exception):
    """The run cannot go on (credentials refused, the server stopped answering).

    Raised by :meth:`Sink.send` with the results it could give for its own chunk (an image of
    that chunk without one is failed with the reason); every image not yet sent is failed
    with ``not sent: <reason>``.
    """

    def __init__(self, reason: str, cause: Optional[XpgeoError] = None,
                 results: Optional[Dict[str, ImageResult]] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause
        self.results = results or {}
        self.unexpected: Optional[BaseException] = None  # a bug's exception, raised again once all is recorded


class Sink(abc.ABC):
    """One layer being appended to. Made by ``Backend.open_sink``; used by one run."""

    backend: str = "backend"
    takes_photos: bool = True
    """True: items carry the photo's attributes (portal, local). False: URLs only (XPGEO server)."""

    rerun: Optional[Sequence[str]] = None
    """The command line (arguments after ``xpgeo``) that runs this append again, set by the operation:
    a sink that cannot prove what landed names it in the command that proves it."""

    def __init__(self, layer_name: str, batch_size: int) -> None:
        self.layer_name = layer_name
        self.batch_size = max(1, int(batch_size))

    def known(self, images: Sequence[Image]) -> Dict[str, ImageResult]:
        """Results for the images that need no sending (already in the layer), by ImagePath."""
        return {}

    @abc.abstractmethod
    def send(self, items: Sequence[Item]) -> Dict[str, ImageResult]:
        """Send one chunk; a result for each item, by ImagePath. Never sends an image twice:
        after a lost answer it finds out what landed first. Raises :class:`Stop` when the run
        cannot go on."""

    def served(self, image: Image) -> bool:
        """Does the layer's own service serve this photo (a feature attachment)? Then the viewer check has no
        host to ask about it."""
        return False

    def layer_photos(self, folders: Sequence[str] = ()) -> Iterable[Tuple[str, Any]]:
        """The photos the layer already holds with a sequence in *folders* (those of the run's images), as
        (folder, :class:`~xpgeo_core.pipeline.sequences.Photo`): what a rerun's photos are sequenced
        against. Runs before the first photo is read; an XpgeoError turns sequencing off for the run
        (with a warning)."""
        return ()

    def finish(self, report: AppendReport) -> None:
        """After the last chunk (and after a stop or a cancel): extents, derived files."""

    def abort(self) -> None:
        """Cancel: close in-flight connections so a blocked send returns at once."""

    def new_report(self) -> AppendReport:
        return AppendReport(backend=self.backend, layer_name=self.layer_name)


def fill(items: Sequence[Item], results: Dict[str, ImageResult], status: ImageStatus, reason: str) -> None:
    """Give every item of *items* still without a result the same one (never lose one)."""
    for item in items:
        if item.image.image_path not in results:
            results[item.image.image_path] = result(item.image, status, reason)


__all__ = ["Item", "Sink", "Stop", "result", "fill"]
