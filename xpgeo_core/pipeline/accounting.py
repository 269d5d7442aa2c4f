"""The append loop's books: every image of a run ends with exactly one result.

Why apart from the loop: "no image lost, none counted twice" is a rule about results, not about
threads. The loop (:mod:`xpgeo_core.pipeline.loop`) schedules reads, checks and sends on several
threads; every outcome it learns goes through these books, from the coordinating thread only, so
the rule can be proved by plain unit tests (``tests/test_accounting.py``) with no thread, socket or
sink involved:

* the first result recorded for an image wins (a late duplicate, e.g. a chunk's answer after a
  cancel already settled its images, changes nothing);
* an image the run did not send is *failed* when the layer was checked and lacks it, and
  *unconfirmed* when it was never checked (an earlier run may have added it: a rerun finds out);
* a chunk that comes back gives each of its items a result, from the sink's answer or, where the answer
  has none, with the run's stop reason (or "no result");
* the final list has one result per image, in input order.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set

from xpgeo_core.pipeline.identity import Image
from xpgeo_core.pipeline.sink import Item, result
from xpgeo_core.results import APPENDED, FAILED, UNCONFIRMED, ImageResult

NO_RESULT = "the backend gave no result for this image"
NOT_CHECKED = ("; the layer was not checked for it, so an earlier run may have added it (a rerun finds out)")
IN_FLIGHT_CANCELLED = ("not confirmed: the run was cancelled while this image was being sent; run the same list "
                       "again to find out (it is not sent twice)")


class Books:
    """The results of one run's images, by ImagePath."""

    def __init__(self, images: Sequence[Image]) -> None:
        self.images: List[Image] = list(images)
        self.results: Dict[str, ImageResult] = {}
        self.checked: Set[str] = set()
        """ImagePaths the layer was asked about (the sink's ``known``): their absence is proven."""
        self.failed = 0
        """Results that are failed or unconfirmed (what the progress line counts as failed)."""

    # -- recording ------------------------------------------------------------------------------
    def record(self, outcome: ImageResult) -> bool:
        """*outcome* as its image's one result; False (and nothing changed) when it already has one."""
        if outcome.url in self.results:
            return False
        self.results[outcome.url] = outcome
        if outcome.status in (FAILED, UNCONFIRMED):
            self.failed += 1
        return True

    def mark_checked(self, images: Iterable[Image]) -> None:
        """The layer was asked about *images*: an image of them not sent is proven not in the layer."""
        self.checked.update(image.image_path for image in images)

    def not_sent(self, image: Image, reason: str) -> bool:
        """*image* was not sent: failed if the layer was checked for it, else unconfirmed."""
        if image.image_path in self.checked:
            return self.record(result(image, FAILED, reason))
        return self.record(result(image, UNCONFIRMED, reason + NOT_CHECKED))

    def not_sent_rest(self, reason: str) -> int:
        """Every image still without a result was not sent (:meth:`not_sent`); how many."""
        return sum(self.not_sent(image, reason) for image in self.images if image.image_path not in self.results)

    def chunk_results(self, items: Sequence[Item], outcomes: Mapping[str, ImageResult],
                      stop_reason: Optional[str]) -> List[ImageResult]:
        """The results a chunk that came back from the sink gives its items, to :meth:`record` one by
        one: the sink's outcome (an appended one with the notes the pipeline made for it), or, where
        the sink gave none, failed with the run's *stop_reason* (``not sent: …``) or as given no result."""
        settled = []
        for item in items:
            outcome = outcomes.get(item.image.image_path)
            if outcome is None:
                outcome = result(item.image, FAILED, "not sent: " + stop_reason if stop_reason else NO_RESULT)
            elif item.notes and outcome.status == APPENDED:
                outcome.notes = list(item.notes)
            settled.append(outcome)
        return settled

    def in_flight_lost(self, items: Sequence[Item]) -> int:
        """A chunk was being sent when the run was cancelled and its answer never came: unconfirmed."""
        return sum(self.record(result(item.image, UNCONFIRMED, IN_FLIGHT_CANCELLED)) for item in items)

    # -- reading --------------------------------------------------------------------------------
    @property
    def done(self) -> int:
        return len(self.results)

    @property
    def total(self) -> int:
        return len(self.images)

    def has(self, image: Image) -> bool:
        return image.image_path in self.results

    def count(self, *statuses: str) -> int:
        return sum(1 for outcome in self.results.values() if outcome.status in statuses)

    def final(self) -> List[ImageResult]:
        """One result per image, in input order (an image the run somehow never settled: no result)."""
        return [self.results.get(image.image_path) or result(image, FAILED, NO_RESULT) for image in self.images]
