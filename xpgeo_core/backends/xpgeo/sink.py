"""What the append loop sends to an XPGEO server through: image URLs, chunk by chunk, never twice.

Never duplicate, never misreport: the ledger (:mod:`xpgeo_core.ledger`) marks a chunk ``unsure``
before it is sent; a lost answer is checked through the portal when XPGEO can reach it, and what
cannot be proven is listed with the command that proves it (docs/xpgeo-rest-api.md).
"""

from __future__ import annotations

import logging
import shlex
from typing import Any, Dict, List, Optional, Protocol, Sequence, Set, Tuple

from xpgeo_core.backends.xpgeo import client as api
from xpgeo_core.backends.xpgeo.client import LayerMissing
from xpgeo_core.errors import AnswerLost, AuthError, Cancelled, RequestError, ServerError, ValidationError, XpgeoError
from xpgeo_core.ledger import FAILED as LEDGER_FAILED
from xpgeo_core.ledger import SENT, UNSURE, Ledger
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.pipeline.sink import Item, Sink, Stop, result
from xpgeo_core.results import APPENDED, FAILED, SKIPPED, UNCONFIRMED, AppendReport, ImageResult
from xpgeo_core.settings import Settings

log = logging.getLogger("xpgeo.backends.xpgeo")

MAX_CONSECUTIVE_NETWORK_FAILURES = 2


class Owner(Protocol):
    """What the sink needs of its backend (:class:`~xpgeo_core.backends.xpgeo.backend.XpgeoRestBackend`),
    named here so the sink does not import the backend that makes it."""

    settings: Settings
    base_url: str
    token_provider: Any

    @property
    def client(self) -> api.XpgeoClient: ...

    def layer_missing(self, name: str, exc: XpgeoError) -> LayerMissing: ...
_ALREADY_SENT = "already appended to this layer by an earlier run (XPGEO append ledger)"
_CHECKED_THERE = "already in the layer: an earlier run sent it and lost the answer; the portal shows it landed"
_NOT_CONFIRMED = ("not confirmed: the XPGEO server's answer was lost or an error that does not say what was done "
                  "({0}), and the layer could not be checked; it is recorded, and a rerun finds out instead of "
                  "sending it twice (set PORTAL_URL so XPGEO can check the layer: see the command in the messages)")
_STILL_UNSURE = ("not confirmed: an earlier run sent it and lost the server's answer, and the layer cannot be "
                 "checked (set PORTAL_URL and the credentials so XPGEO can ask the portal: see the command in the "
                 "messages); it is not sent twice")
PORTAL_PLACEHOLDER = "https://YOUR-PORTAL.example.com/portal"
"""In the printed command when no portal is set: the person puts the one the XPGEO server writes to."""

class XpgeoSink(Sink):
    """Sends image URLs to the XPGEO server (it reads the photos itself).

    Never duplicate, never misreport: the ledger marks a chunk ``unsure`` before it is sent.
    A success must say so (``true``); an error body or ``false`` is a failure. When the answer
    is lost (reset, time-out, a cut body, a gateway's 502/504), the layer is checked through
    the portal when XPGEO can reach it (same key: ImagePath) and only what did not land is sent
    again; otherwise the chunk stays ``unconfirmed``, per image, and the rerun resolves it the
    same way without sending it twice.
    """

    backend = "xpgeo"
    takes_photos = False
    raises_errors = False
    """A single-image append (``/append-image``) raises the server's error, as the reference client does."""

    def __init__(self, owner: Owner, name: str, *, imagery_type: Optional[str], single: bool) -> None:
        super().__init__(name, 1 if single else owner.settings.max_image_list_size)
        self.owner = owner
        self.single = single
        self.raises_errors = single
        self.ledger = Ledger(owner.base_url, name)
        self.network_failures = 0
        self._checker: Any = None
        self._checker_tried = False
        self._writer: Any = None
        self._writer_tried = False
        self._writer_note: Optional[str] = None
        self._responses: List[Any] = []
        if imagery_type:
            log.warning("The XPGEO server decides each photo's imagery type itself; the imagery type '%s' "
                        "is not sent to it.", imagery_type)

    # -- what is already there -------------------------------------------------------------
    def known(self, images: Sequence[Image]) -> Dict[str, ImageResult]:
        out: Dict[str, ImageResult] = {}
        unsure = []
        for image in images:
            state = self.ledger.state(image.image_path)
            if state == SENT:
                out[image.image_path] = result(image, SKIPPED, _ALREADY_SENT)
            elif state == UNSURE:
                unsure.append(image)
        if unsure:
            landed = self.check(unsure)
            if landed is None:
                for image in unsure:
                    out[image.image_path] = result(image, UNCONFIRMED, _STILL_UNSURE)
            else:
                self.ledger.record([i.image_path for i in unsure if i.image_path in landed], SENT)
                for image in unsure:
                    if image.image_path in landed:
                        out[image.image_path] = result(image, SKIPPED, _CHECKED_THERE)
        self._footprints_later(out, SKIPPED)
        return out

    def check(self, images: Sequence[Image]) -> Optional[Set[str]]:
        """The ImagePaths of *images* the layer holds, asked through the portal; None when it cannot be asked."""
        checker = self._portal_checker()
        if checker is None:
            return None
        try:
            return checker.present([i.image_path for i in images])
        except XpgeoError as exc:
            log.info("The layer could not be checked through the portal (%s).", exc.message)
            return None

    def _portal_checker(self) -> Any:
        if not self._checker_tried:
            self._checker_tried = True
            # Only a portal the person named (PORTAL_URL, --portal-url, the tool's Portal URL), never
            # just the one ArcGIS Pro is signed in to: a same-named layer on another portal would make
            # images that landed look missing, and they would be sent twice.
            if self.owner.settings.portal_url:
                from xpgeo_core.backends.portal.backend import PortalLayerCheck

                try:
                    self._checker = PortalLayerCheck(self.owner.settings, self.layer_name,
                                                     token_provider=self.owner.token_provider)
                except XpgeoError as exc:
                    log.info("The XPGEO server's layer '%s' cannot be checked through the portal (%s); an image "
                             "whose answer is lost stays 'not confirmed'.", self.layer_name, exc.message)
        return self._checker

    # -- sending -----------------------------------------------------------------------------
    def send(self, items: Sequence[Item]) -> Dict[str, ImageResult]:
        results: Dict[str, ImageResult] = {}
        self._send([i.image for i in items], results, resend=True)
        self._footprints_later(results, APPENDED)
        return results

    def _send(self, images: List[Image], results: Dict[str, ImageResult], *, resend: bool) -> None:
        paths = [i.image_path for i in images]
        self.ledger.record(paths, UNSURE)  # before the request: a kill mid-request leaves it known
        try:
            text, parsed = self._request(images)
        except LayerMissing as exc:  # no such layer: one error for the run, not one failure per image
            self.ledger.record(paths, LEDGER_FAILED)
            raise self.owner.layer_missing(self.layer_name, exc) from None
        except ValidationError as exc:
            if api.LIST_TOO_BIG in exc.message and len(images) > 1:
                half = len(images) // 2
                log.info("The server's list limit is below %d; sending %d and %d.", len(images), half,
                         len(images) - half)
                self._send(images[:half], results, resend=resend)
                self._send(images[half:], results, resend=resend)
                return
            self._failed(images, results, exc.message)
            return
        except AuthError as exc:  # refused: nothing was done
            self._failed(images, results, "not sent: the server refused the credentials")
            raise Stop(f"the XPGEO server refused the credentials ({exc.message})", exc, results) from None
        except AnswerLost as exc:
            self._lost(images, results, exc, resend=resend)
            return
        except Cancelled as exc:  # stopped before the request went out (or while waiting to retry a 429/503)
            self._failed(images, results, "not sent: the run was cancelled")
            raise Stop("the run was cancelled", exc, results) from None
        except RequestError as exc:  # never reached the server
            self._failed(images, results, exc.message)
            self.network_failures += 1
            if self.network_failures >= MAX_CONSECUTIVE_NETWORK_FAILURES or self.single:
                raise Stop("the XPGEO server stopped answering", exc, results) from None
            return
        except ServerError as exc:  # an error answer: not done
            self._failed(images, results, exc.message)
            if self.single:  # one image: the server's error is the command's error
                raise Stop(exc.message, exc, results) from None
            return
        self.network_failures = 0
        verdict = api.verdict(text, parsed)
        self.owner_responses.append(parsed if parsed is not None else text.strip())
        if verdict is True:
            self.ledger.record(paths, SENT)
            for image in images:
                results[image.image_path] = result(image, APPENDED)
        elif verdict is None:  # a 200 whose body is not an answer (cut, empty): as good as lost
            self._lost(images, results, AnswerLost("the XPGEO server's answer was empty or cut off"), resend=resend)
        else:
            self._failed(images, results, verdict)
            if self.single:
                raise Stop(verdict, ServerError("The XPGEO server refused the image: " + verdict), results)

    def _request(self, images: List[Image]) -> Tuple[str, Any]:
        if self.single:
            return api.append_image(self.owner.client, self.layer_name, images[0].fetch_url)
        return api.append_images(self.owner.client, self.layer_name, [i.fetch_url for i in images])

    def _lost(self, images: List[Image], results: Dict[str, ImageResult], exc: XpgeoError, *, resend: bool) -> None:
        """The answer to a chunk is lost: find out what landed before sending anything again."""
        landed = self.check(images)
        if landed is None:
            for image in images:  # the ledger keeps them "unsure": the rerun resolves them
                results[image.image_path] = result(image, UNCONFIRMED, _NOT_CONFIRMED.format(exc.message))
            return
        there = [i for i in images if i.image_path in landed]
        self.ledger.record([i.image_path for i in there], SENT)
        for image in there:
            results[image.image_path] = result(image, APPENDED)
        rest = [i for i in images if i.image_path not in landed]
        if rest and resend:
            log.info("The answer to a chunk was lost (%s); %d of its %d image(s) landed, sending the other %d "
                     "again.", exc.message, len(there), len(images), len(rest))
            self._send(rest, results, resend=False)
        elif rest:
            self._failed(rest, results, exc.message)

    def _failed(self, images: List[Image], results: Dict[str, ImageResult], reason: str) -> None:
        self.ledger.record([i.image_path for i in images], LEDGER_FAILED)
        for image in images:
            results[image.image_path] = result(image, FAILED, reason)

    def finish(self, report: AppendReport) -> None:
        self._footprints(report)
        self._name_unproven(report)

    # -- footprints (issue 16 item 4) ---------------------------------------------------------
    def _footprint_writer(self) -> Any:
        """The writer of the layer's footprints through the portal the server writes to (its API takes only
        URLs, so XPGEO writes the footprint layer, layer 1 of the layer's service, from the points the server
        wrote); None without a portal to ask, or when the footprint layer cannot be used (a note says why)."""
        if not self._writer_tried:
            self._writer_tried = True
            checker = self._portal_checker() if self.owner.settings.footprints else None
            if checker is not None:
                try:
                    self._writer = checker.footprint_writer()
                except XpgeoError as exc:
                    self._writer_note = (f"No footprints were written: the footprint layer of '{self.layer_name}' "
                                         f"cannot be used ({exc.message}).")
        return self._writer

    def _footprints_later(self, results: Dict[str, ImageResult], status: str) -> None:
        """Photos the server put in the layer (appended now, or earlier): their footprints, beside the run."""
        writer = self._footprint_writer()
        if writer is not None:
            writer.complete_later(sorted(p for p, r in results.items() if r.status == status))

    def _footprints(self, report: AppendReport) -> None:
        """Wait for the footprints (the portal's points that lack one are completed), or say why there are none."""
        in_layer = {r.url for r in report.results if r.status == APPENDED
                    or (r.status == SKIPPED and r.reason in (_ALREADY_SENT, _CHECKED_THERE))}
        writer = self._footprint_writer() if in_layer else self._writer
        if writer is not None:
            writer.finish(report, in_layer)
            return
        if not self.owner.settings.footprints or not in_layer:
            return
        note = self._writer_note or (
            "The photos have no footprints: the XPGEO server takes only URLs, and XPGEO writes the footprint layer "
            "through the portal the server writes to. Set PORTAL_URL and its credentials to have them "
            "(FOOTPRINTS=false silences this).")
        report.messages.append(note)
        log.info(note)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
        if self._checker is not None:
            self._checker.backend.abort()

    def _name_unproven(self, report: AppendReport) -> None:
        """Name the images no one could prove landed or not, and the exact command that proves them."""
        unproven = [r for r in report.results
                    if r.status == UNCONFIRMED and self.ledger.state(r.url) == UNSURE]
        if not unproven:
            return
        command = self.proof_command([r.url for r in unproven])
        report.extra["unproven"] = {"count": len(unproven), "images": [r.url for r in unproven],
                                    "command": command}
        where = ("the portal could not be asked" if self.owner.settings.portal_url
                 else "no portal is set to ask")
        note = (f"{len(unproven)} image(s) of layer '{self.layer_name}' cannot be proven added or not: the XPGEO "
                f"server's answer was lost or was an error, the server cannot be asked what a layer holds, and "
                f"{where}. They are recorded and never sent twice. To prove them (and send only those missing), "
                f"run: {command}   In ArcGIS Pro: fill Portal URL (Connection) with the portal the XPGEO server "
                f"writes to and run the tool again with the same images.")
        report.messages.append(note)
        log.warning(note)

    def proof_command(self, image_paths: Sequence[str]) -> str:
        """The command that settles the unsure images: the same append, asking the layer through the
        portal the server writes to (it sends only what the portal shows missing). It takes the
        person's own list when the run came from one, else a list of these images beside the ledger."""
        portal = self.owner.settings.portal_url or PORTAL_PLACEHOLDER
        credentials = ("" if self.owner.settings.api_key or self.owner.settings.username
                       else "XPGEO_API_KEY=YOUR-KEY ")  # the key the portal takes; USERNAME/PASSWORD also do
        args = list(self.rerun or ())
        if not args:
            listing = self.ledger.write_list(image_paths, ".unproven.txt")
            args = ["append-images", "--name", self.layer_name, "--file", str(listing or "LIST.txt")]
        return credentials + "xpgeo --portal-url " + " ".join(shlex.quote(a) for a in [portal] + args)

    @property
    def owner_responses(self) -> List[Any]:
        return self._responses

    def new_report(self) -> AppendReport:
        report = AppendReport(backend=self.backend, layer_name=self.layer_name)
        self._responses = report.responses
        return report
