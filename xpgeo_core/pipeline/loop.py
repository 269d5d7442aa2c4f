"""The one append loop.

Every append, of one image or ten thousand, on every backend, runs here:

1. the images are taken in windows; the sink says which of a window its layer already holds
   (skipped, not read, not sent);
2. the others are read once by the :class:`~xpgeo_core.pipeline.photos.PhotoPass` when the
   sink takes photos or ``preflight`` asks (a photo that cannot be placed fails with its
   reason and is not sent);
3. the photos read are placed in capture sequences (:mod:`~xpgeo_core.pipeline.sequences`:
   SequenceId/SequenceOrder, near-duplicates skipped with their reason, headings from the track),
   each handed on as soon as its neighbours are known (at once for a list in capture order);
4. what remains goes in chunks of the sink's batch size to a sender thread, so the next
   chunk is read while this one is sent (memory: one window of photos and two chunks);
5. each image's result is recorded once, in the run's books
   (:class:`~xpgeo_core.pipeline.accounting.Books`: the accounting, kept apart from this
   scheduling and unit-tested without threads), and the progress callback hears of it at once
   (``image``), of each chunk (``chunk``), and about five times a second while the run waits
   (``tick``);
6. a :class:`~xpgeo_core.pipeline.sink.Stop` (credentials refused, server gone) fails every
   image not yet sent with the reason; nothing is ever left without a result;
7. Cancel (the callback raises :class:`~xpgeo_core.errors.Cancelled`) or Ctrl+C: photo reads
   are cancelled and their sockets shut at once, the chunk in flight gets a moment to finish
   (then its sockets are shut too and its images are "not confirmed"), and the report says
   exactly what landed. All within two seconds.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import Counter
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from xpgeo_core.errors import AnswerLost, AuthError, Cancelled, XpgeoError
from xpgeo_core.oi_attributes import OIAttributes
from xpgeo_core.pipeline.accounting import Books
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.pipeline.photos import PhotoPass
from xpgeo_core.pipeline.sequences import Outcome, Rules, Sequencer, folder_of, photo_of
from xpgeo_core.pipeline.sink import Item, Sink, Stop, result
from xpgeo_core.results import (APPENDED, CHUNK, FAILED, IMAGE, SKIPPED, TICK, UNCONFIRMED, AppendReport,
                                ImageResult, Progress, ProgressCallback, no_progress)
from xpgeo_core.settings import Settings

log = logging.getLogger("xpgeo.pipeline")

TICK_SECONDS = 0.2
"""How often a waiting loop calls the progress callback (so Cancel is heard)."""
CANCEL_GRACE = 0.8
"""Seconds the chunk in flight may take to finish after a cancel before its sockets are shut."""
ABORT_WAIT = 0.6
"""Seconds to wait for a send whose sockets were shut to return."""
WINDOW_MIN = 200
NOT_SENT_CANCELLED = "not sent: the run was cancelled"
CANCELLED_FINISHING = "Cancelled while the run was finishing (the layer's extent, footprints, derived files)"


def run_append(sink: Sink, images: Sequence[Image], *, settings: Settings, imagery_type: Optional[str] = None,
               preflight: bool = False, progress: ProgressCallback = no_progress,
               overlap: bool = True, viewer: Any = None) -> AppendReport:
    """Append *images* (distinct, valid) through *sink*; one result per image, in input order.

    ``overlap=False`` sends each chunk before reading the next (the order of earlier releases;
    the benchmark's baseline). ``viewer``: the run's :class:`~xpgeo_core.readiness.ViewerCheck`;
    each window's images to send are checked as the window is decided (with ``require``, before
    any of them is read or sent), and the findings go on the results and into the report.
    """
    return _Run(sink, images, settings=settings, imagery_type=imagery_type, preflight=preflight,
                progress=progress, overlap=overlap, viewer=viewer).go()


class _Run:
    def __init__(self, sink: Sink, images: Sequence[Image], *, settings: Settings, imagery_type: Optional[str],
                 preflight: bool, progress: ProgressCallback, overlap: bool, viewer: Any = None) -> None:
        self.sink = sink
        self.viewer = viewer if viewer is not None and viewer.on else None
        self.viewer_calls: List[Dict[str, Any]] = []
        self.images = list(images)
        self.settings = settings
        self.imagery_type = imagery_type
        self.preflight = preflight
        self.progress = progress
        self.overlap = overlap
        self.cancel = threading.Event()
        self.books = Books(self.images)
        """Every result goes through the books, from this (the coordinating) thread only."""
        self.step = 0
        self.handed = 0
        self.steps = max(1, math.ceil(len(self.images) / sink.batch_size))
        self.stopped: Optional[Stop] = None
        self.quiet = False  # after a cancel the callback is not called again
        self.reader: Optional[PhotoPass] = None
        self.sender = _Sender(sink, self)
        self.rejected = 0
        self.warnings: Counter = Counter()
        self.warning_example: Dict[str, str] = {}
        self.last_tick = time.monotonic()
        self.sequencer: Optional[Sequencer] = None
        self.sequenced: Counter = Counter()  # near_duplicates, headings_inferred, unsequenced

    # -- results (the books) and progress --------------------------------------------------
    def record(self, outcome: ImageResult, *, notify: bool = True) -> None:
        """An image's one result (the first one recorded wins: :class:`~xpgeo_core.pipeline.accounting.Books`)."""
        if self.books.record(outcome) and notify:
            self.notify(IMAGE)

    def notify(self, kind: str) -> None:
        if self.quiet:
            return
        self.last_tick = time.monotonic()
        self.progress(Progress(self.books.done, self.books.total, self.books.failed, min(self.step, self.steps),
                               self.steps, kind=kind))

    def tick(self) -> None:
        """While waiting: a heartbeat, so a callback that raises Cancelled is heard."""
        if time.monotonic() - self.last_tick >= TICK_SECONDS:
            self.notify(TICK)

    def wait(self, event: threading.Event) -> None:
        while not event.wait(TICK_SECONDS):
            self.tick()
            self.drain()

    # -- the run ----------------------------------------------------------------------------
    def go(self) -> AppendReport:
        report = self.sink.new_report()
        raise_after: Optional[BaseException] = None
        try:
            self.main()
        except (Cancelled, KeyboardInterrupt) as exc:
            self.cancelled(report, exc)
        except BaseException as exc:
            if self.viewer is not None:
                self.viewer.abort()
            self.shut(abort=True)
            self.fail_rest(f"not sent: {getattr(exc, 'message', exc.__class__.__name__)}")
            raise_after = exc
        if self.stopped is not None and raise_after is None and self.stopped.unexpected is not None:
            raise_after = self.stopped.unexpected
        if self.stopped is not None and raise_after is None and self.stopped.cause is not None and (
                isinstance(self.stopped.cause, AuthError) or getattr(self.stopped.cause, "whole_run", False)
                or getattr(self.sink, "raises_errors", False)) and not any(
                r.status in (APPENDED, UNCONFIRMED) for r in self.books.results.values()):
            raise_after = self.stopped.cause  # nothing was sent: say it as it is (exit code 3 or 4)
        report.results = self.books.final()
        if self.stopped is not None:
            report.messages.append(self.stopped.reason)
        self.summarise_warnings()
        self.summarise_sequences(report)
        self.viewer_findings(report)
        if self.preflight and self.rejected:
            log.warning("Preflight: %d of %d image(s) cannot be placed and were not sent.", self.rejected,
                        len(self.images))
        if raise_after is None or isinstance(raise_after, XpgeoError):  # not after a bug: nothing more is written
            self.finish_sink(report)
        if raise_after is not None:
            raise raise_after
        return report

    def finish_sink(self, report: AppendReport) -> None:
        """The sink's finish (the layer's extent, footprints, derived files) on a daemon thread with
        heartbeats, so a Cancel while it runs is heard: its sockets are shut at once and the report says a
        rerun completes what it did not (every image's result already stands)."""
        try:
            self.finish_call(self.start_call(self.sink.finish, report))
        except (Cancelled, KeyboardInterrupt):  # Cancelled is an XpgeoError: heard first
            self.quiet = True
            self.sink.abort()
            report.cancelled = True
            note = (f"{CANCELLED_FINISHING}: every image's result stands; a rerun of the same list completes "
                    "what was left (it sends no image twice).")
            report.messages.append(note)
            log.warning(note)
        except XpgeoError as exc:
            report.messages.append(exc.message)
            log.warning(exc.message)

    def main(self) -> None:
        self.sender.start()
        batch: List[Item] = []
        if self.sink.takes_photos or self.preflight:
            self.sequencer = self.start_sequences()
            self.reader = PhotoPass(self.settings, self.imagery_type, cancel=threading.Event(), viewer=self.viewer)
            batch = self.read_and_send(self.reader)
        else:
            for image in self.to_send():
                batch.append(Item(image))
                if len(batch) >= self.sink.batch_size:
                    self.hand(batch)
                    batch = []
        if batch and self.stopped is None:
            self.hand(batch)
        elif batch and self.stopped is not None:
            for item in batch:
                self.record(result(item.image, FAILED, "not sent: " + self.stopped.reason))
        self.shut(abort=False)
        for box in self.viewer_calls:  # the checks of windows that did not wait for them
            try:
                self.finish_call(box)
            except Exception as exc:  # a check that fails costs its warnings, never the append
                log.warning("The viewer check did not finish: %s", getattr(exc, "message", exc.__class__.__name__))

    # -- the viewer-readiness check ------------------------------------------------------------
    def check_viewer(self, images: List[Image]) -> List[Image]:
        """Plan and start the viewer check of a window's images to send; with ``require``, wait for it
        and fail (not send) the images the viewer could not open. Returns the images to send."""
        if self.viewer is None or not images:
            return images
        reads = self.sink.takes_photos or self.preflight
        hosted = [i for i in images if not self.sink.served(i)]  # an attachment is served by the layer itself
        if not hosted:
            return images
        box = self.start_call(self.viewer.probe_all, self.viewer.plan(hosted, header_reads=reads))
        if not self.viewer.require:
            self.viewer_calls.append(box)
            return images
        self.finish_call(box)  # the photos checked from their header reads are judged once read
        keep = []
        for image in images:
            reason = self.viewer.blocking(image) if not self.sink.served(image) else None
            if reason:
                self.record(result(image, FAILED, reason))
            else:
                keep.append(image)
        return keep

    def viewer_findings(self, report: AppendReport) -> None:
        """The check's findings on each result it concerns, its summary in the report, its warnings."""
        if self.viewer is None:
            return
        for outcome in report.results:
            if outcome.status in (APPENDED, SKIPPED) or (outcome.reason or "").startswith(("not viewer-ready",
                                                                                           "not sent (--require")):
                outcome.viewer = self.viewer.issues_of(outcome.url)
        report.viewer = self.viewer.summary()
        self.viewer.log_findings()

    def to_send(self) -> Iterator[Image]:
        """The images in order, less those the layer already holds. The layer is asked window by
        window, one window ahead (while this window's photos are read, the next one is checked)."""
        window = max(WINDOW_MIN, 2 * self.sink.batch_size)
        chunks = [self.images[start:start + window] for start in range(0, len(self.images), window)]
        ahead = self.start_call(self.sink.known, chunks[0]) if chunks else None
        for number, chunk in enumerate(chunks):
            check, ahead = ahead, None
            if self.stopped is not None:
                for image in chunk:
                    self.not_sent(image, "not sent: " + self.stopped.reason)
                continue
            try:
                known = self.finish_call(check if check is not None else self.start_call(self.sink.known, chunk))
            except XpgeoError as exc:
                if not self.books.done and isinstance(exc, AuthError):
                    raise
                self.stopped = Stop(f"the layer could not be checked for images already in it ({exc.message})",
                                    exc)
                log.warning(self.stopped.reason)
                for image in chunk:
                    self.not_sent(image, "not sent: " + self.stopped.reason)
                continue
            if number + 1 < len(chunks):
                ahead = self.start_call(self.sink.known, chunks[number + 1])
            self.books.mark_checked(chunk)
            for image in chunk:
                outcome = known.get(image.image_path)
                if outcome is not None:
                    self.record(outcome)
            for image in self.check_viewer([i for i in chunk if i.image_path not in known]):
                yield image

    def read_and_send(self, reader: PhotoPass) -> List[Item]:
        batch: List[Item] = []
        source = self.to_send()
        exhausted = False
        while True:
            if self.stopped is not None:  # what is being read is not sent: stop reading it now
                for image in reader.drain_unread():
                    self.record(result(image, FAILED, "not sent: " + self.stopped.reason))
                reader.close(abort=True)
                break
            while not exhausted and not reader.full and self.stopped is None:
                try:
                    reader.submit(next(source))
                except StopIteration:
                    exhausted = True
            self.drain()
            if reader.empty:
                if exhausted or self.stopped is not None:
                    break
                continue
            got = reader.next(TICK_SECONDS)
            if got is None:
                self.tick()
                continue
            image, info = got
            if self.stopped is not None:
                self.record(result(image, FAILED, "not sent: " + self.stopped.reason))
                continue
            self.note_warnings(image, info)
            if not info.ok:
                reason = info.error or "the photo could not be read"
                if self.preflight:
                    self.rejected += 1
                    reason = "preflight: " + reason
                self.record(result(image, FAILED, reason))
                continue
            refused = self.viewer.blocking(image) if self.viewer is not None else None
            if refused:  # checked from its header read, or its host's sample was
                self.record(result(image, FAILED, refused))
                continue
            item = Item(image, OIAttributes.from_mapping(info.attributes) if self.sink.takes_photos else None,
                        tuple(info.warnings))
            batch = self.gather_chunk(batch, self.in_sequence(item, info.attributes))
        if self.sequencer is not None:
            held = self.settle(self.sequencer.finish())  # folders read out of time order, last headings
            if self.stopped is not None:
                for item in held:
                    self.record(result(item.image, FAILED, "not sent: " + self.stopped.reason))
                held = []
            batch = self.gather_chunk(batch, held)
        if not exhausted and self.stopped is not None:  # stopped: whatever was not read is not sent
            for image in source:
                self.record(result(image, FAILED, "not sent: " + self.stopped.reason))
        return batch

    def gather_chunk(self, batch: List[Item], ready: List[Item]) -> List[Item]:
        """*ready* added to the chunk being filled; each full chunk is handed to the sender."""
        for item in ready:
            batch.append(item)
            if len(batch) >= self.sink.batch_size:
                self.hand(batch)
                batch = []
        return batch

    # -- sequences ------------------------------------------------------------------------------
    def start_sequences(self) -> Optional[Sequencer]:
        """The run's sequencer, seeded with the sequences the layer already holds (None: off)."""
        if not getattr(self.settings, "sequences", False):
            return None
        try:
            folders = sorted({folder_of(image.image_path) for image in self.images})
            held = list(self.finish_call(self.start_call(self.sink.layer_photos, folders)))
        except XpgeoError as exc:
            note = (f"Sequences are off for this run: the layer's sequences could not be read ({exc.message}); "
                    "a rerun numbers the photos it sends")
            log.warning(note)
            return None
        return Sequencer(Rules.of(self.settings), held)

    def in_sequence(self, item: Item, attributes: Dict[str, Any]) -> List[Item]:
        """The items ready to send once *item* was placed in its sequence (it may wait for the next photo)."""
        if self.sequencer is None:
            return [item]
        photo = photo_of(attributes, item.image.display, token=item)
        if photo is None:  # no capture time or position: sent as it is, in no sequence
            self.sequenced["unsequenced"] += 1
            return [item]
        return self.settle(self.sequencer.add(folder_of(item.image.image_path), photo))

    def settle(self, outcomes: List[Outcome]) -> List[Item]:
        """Sequence values into the items' attributes; near-duplicates recorded as skipped."""
        ready = []
        for outcome in outcomes:
            item: Item = outcome.token
            if outcome.duplicate_of is not None:
                self.sequenced["near_duplicates"] += 1
                gap, turn = outcome.duplicate_gap
                angle = "heading unknown" if turn is None else "%.1f°" % turn
                self.record(result(item.image, SKIPPED, f"near-duplicate of {outcome.duplicate_of} ({gap:.2f} m, "
                                   f"{angle}): not sent (--keep-near-duplicates, KEEP_NEAR_DUPLICATES, sends it)"))
                continue
            if item.attributes is not None and outcome.sequence is not None:
                item.attributes.SequenceId, item.attributes.SequenceOrder = outcome.sequence
                if outcome.heading is not None:
                    item.attributes.CameraHeading = round(outcome.heading, 6)
                    item.notes = tuple(item.notes) + (
                        "CameraHeading %.1f° inferred from the track (%s%s)" % (
                            outcome.heading, outcome.heading_from,
                            ", %+g° offset" % self.settings.heading_offset if self.settings.heading_offset else ""),)
                    self.sequenced["headings_inferred"] += 1
            ready.append(item)
        return ready

    def summarise_sequences(self, report: AppendReport) -> None:
        """The run's sequencing in the report (``extra["sequences"]``) and, where something was left
        out or inferred, one message each."""
        if self.sequencer is None:
            return
        counts = {key: self.sequenced[key] for key in ("near_duplicates", "headings_inferred", "unsequenced")}
        counts["out_of_order_folders"] = self.sequencer.out_of_order_folders
        report.extra["sequences"] = counts
        notes = []
        if counts["near_duplicates"]:
            notes.append(f"{counts['near_duplicates']} near-duplicate photo(s) were skipped (within "
                         f"{self.settings.near_duplicate_metres:g} m and {self.settings.near_duplicate_degrees:g}° "
                         "of the photo before them in their sequence).")
        if counts["headings_inferred"]:
            notes.append(f"{counts['headings_inferred']} photo(s) have a heading inferred from the track (flagged "
                         "in their results).")
        if counts["unsequenced"]:
            notes.append(f"{counts['unsequenced']} photo(s) have no capture time or position: they are in no "
                         "sequence (the viewer's next/previous passes them by).")
        for note in notes:
            report.messages.append(note)
            log.info(note)
        if counts["out_of_order_folders"]:
            log.info("%d folder(s) of photos were listed out of capture order: their photos were sequenced when "
                     "all were read (a list sorted by time sends sooner).", counts["out_of_order_folders"])

    def start_call(self, function: Callable[..., Any], *args: Any) -> Dict[str, Any]:
        """Run a sink call on a daemon thread (nothing waits for it at exit); see :meth:`finish_call`."""
        box: Dict[str, Any] = {"done": threading.Event()}

        def work() -> None:
            try:
                box["value"] = function(*args)
            except BaseException as exc:
                box["error"] = exc
            finally:
                box["done"].set()

        threading.Thread(target=work, name="xpgeo-check", daemon=True).start()
        return box

    def finish_call(self, box: Dict[str, Any]) -> Any:
        """Wait for a call, with heartbeats (Cancel is heard); its value, or its error raised."""
        self.wait(box["done"])
        if "error" in box:
            raise box["error"]
        return box["value"]

    def hand(self, batch: List[Item]) -> None:
        """Give a chunk to the sender (waiting, with heartbeats, while the one before is queued)."""
        while True:
            try:
                self.sender.inbox.put(batch, timeout=TICK_SECONDS)
                break
            except queue.Full:
                self.tick()
                self.drain()
        self.handed += 1
        if not self.overlap:
            self.wait_idle()

    def wait_idle(self) -> None:
        """Until every chunk handed over has come back and been recorded."""
        while self.step < self.handed:
            self.sender.returned.wait(TICK_SECONDS)
            self.sender.returned.clear()
            self.tick()
            self.drain()

    def drain(self) -> None:
        """Record the results of every chunk the sender has finished."""
        while True:
            try:
                batch, outcomes, stop = self.sender.outbox.get_nowait()
            except queue.Empty:
                return
            if stop is not None and self.stopped is None:
                self.stopped = stop
                log.warning(stop.reason)
            for outcome in self.books.chunk_results(batch, outcomes,
                                                    self.stopped.reason if self.stopped is not None else None):
                self.record(outcome)
            self.step += 1
            self.notify(CHUNK)

    def shut(self, *, abort: bool) -> None:
        """End the reader and the sender; with ``abort``, at once (Cancel, an error)."""
        if self.reader is not None:
            if abort:
                for image in self.reader.drain_unread():
                    self.record(result(image, FAILED, NOT_SENT_CANCELLED), notify=False)
            self.reader.close(abort=abort)
        self.sender.inbox_close(abort=abort)
        if not abort:
            self.wait_idle()
            self.sender.join()
            self.drain()

    def cancelled(self, report: AppendReport, exc: BaseException) -> None:
        """Stop within two seconds; the report says exactly what landed."""
        self.quiet = True
        self.cancel.set()
        report.cancelled = True
        if self.viewer is not None:
            self.viewer.abort()
        if self.reader is not None:
            for image in self.reader.drain_unread():
                self.record(result(image, FAILED, NOT_SENT_CANCELLED), notify=False)
            self.reader.close(abort=True)
        self.sender.inbox_close(abort=True)
        if not self.sender.idle.wait(CANCEL_GRACE):
            self.sink.abort()  # shut the chunk's sockets: its send returns now
            self.sender.idle.wait(ABORT_WAIT)
        self.drain()
        in_flight = self.sender.in_flight
        if in_flight is not None:
            self.books.in_flight_lost(in_flight)
        self.fail_rest(NOT_SENT_CANCELLED)
        landed = self.books.count(APPENDED)
        note = (f"Cancelled: {landed} image(s) were appended before the cancel; the other images of the list "
                f"were not sent (a rerun of the same list sends only those).")
        report.messages.append(note)
        log.warning(note)

    def fail_rest(self, reason: str) -> None:
        self.books.not_sent_rest(reason)

    def not_sent(self, image: Image, reason: str) -> None:
        """An image this run did not send (failed or unconfirmed: :meth:`Books.not_sent`)."""
        if self.books.not_sent(image, reason):
            self.notify(IMAGE)

    # -- warnings: one summary per kind per run ------------------------------------------------
    def note_warnings(self, image: Image, info: Any) -> None:
        for warning in getattr(info, "warnings", None) or ():
            key = str(warning).split(":", 1)[0] if str(warning).startswith("time zone unknown") else str(warning)
            self.warnings[key] += 1
            self.warning_example.setdefault(key, f"{image.display}: {warning}")
            log.debug("%s: %s", image.display, warning)

    def summarise_warnings(self) -> None:
        for key, count in self.warnings.most_common():
            example = self.warning_example[key]
            if count == 1:
                log.info(example)
            else:
                log.info("%d photos: %s (e.g. %s)", count, example.split(": ", 1)[-1], example.split(": ", 1)[0])


class _Sender:
    """The thread that sends chunks, one at a time, while the coordinator reads the next."""

    def __init__(self, sink: Sink, run: _Run) -> None:
        self.sink = sink
        self.run = run
        self.inbox: "queue.Queue[Optional[List[Item]]]" = queue.Queue(maxsize=1)
        self.outbox: "queue.Queue[Any]" = queue.Queue()
        self.idle = threading.Event()
        self.idle.set()
        self.returned = threading.Event()
        self.in_flight: Optional[List[Item]] = None
        self.halted: Optional[Stop] = None
        self.thread = threading.Thread(target=self.work, name="xpgeo-send", daemon=True)
        self._closing = False

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        self.thread.join()

    def inbox_close(self, *, abort: bool) -> None:
        if self._closing:
            return
        self._closing = True
        if abort:
            while True:
                try:
                    batch = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if batch:
                    for item in batch:
                        self.run.record(result(item.image, FAILED, NOT_SENT_CANCELLED), notify=False)
        while True:
            try:
                self.inbox.put(None, timeout=TICK_SECONDS)
                return
            except queue.Full:
                if abort:
                    return
                self.run.tick()
                self.run.drain()

    def work(self) -> None:
        while True:
            batch = self.inbox.get()
            if batch is None:
                return
            self.idle.clear()
            self.in_flight = batch
            outcomes: Dict[str, ImageResult] = {}
            stop: Optional[Stop] = None
            try:
                halted = self.halted or self.run.stopped
                if halted is not None or self.run.cancel.is_set():
                    reason = (NOT_SENT_CANCELLED if self.run.cancel.is_set() or halted is None
                              else "not sent: " + halted.reason)
                    outcomes = {i.image.image_path: result(i.image, FAILED, reason) for i in batch}
                else:
                    outcomes = self.sink.send(batch)
            except Stop as halted:
                stop, outcomes = halted, dict(halted.results)
            except AnswerLost as exc:  # a sink that did not resolve it: say so, never "failed"
                stop = Stop(exc.message, exc)
                outcomes = {i.image.image_path: result(i.image, UNCONFIRMED, "not confirmed: " + exc.message)
                            for i in batch}
            except XpgeoError as exc:
                stop = Stop(exc.message, exc)
            except BaseException as exc:  # a bug: the run stops, raising it, and no image is left unaccounted
                log.debug("Unexpected error sending a chunk", exc_info=True)
                stop = Stop(f"unexpected error while sending ({exc.__class__.__name__})")
                stop.unexpected = exc
                outcomes = {i.image.image_path: result(i.image, UNCONFIRMED, "not confirmed: " + stop.reason)
                            for i in batch}
            if stop is not None and self.halted is None:
                self.halted = stop  # the next chunk, already queued, is not sent
            self.outbox.put((batch, outcomes, stop))
            self.in_flight = None
            self.idle.set()
            self.returned.set()
