"""The AerialSphere XPGEO REST server backend.

Every path, query parameter and JSON field name of the XPGEO REST API is a constant
in this module, and every request goes through :meth:`XpgeoRestBackend._call`. What
is public and what is our assumption is written in ``docs/xpgeo-rest-api.md``.

The client's API key travels as ``Authorization: Bearer <key>``, never in a URL.
Without a key the server authenticates with its own USERNAME/PASSWORD.
"""

from __future__ import annotations

import json
import logging
import shlex
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import requests

from xpgeo_core.answers import object_at
from xpgeo_core.backends.base import Backend
from xpgeo_core.errors import (AnswerLost, AuthError, Cancelled, ConfigError, RequestError, ServerError,
                               ValidationError, XpgeoError, redact)
from xpgeo_core.http import describe_request_failure
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.ledger import FAILED as LEDGER_FAILED
from xpgeo_core.ledger import SENT, UNSURE, Ledger
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.pipeline.sink import Item, Sink, Stop, result
from xpgeo_core.results import (APPENDED, FAILED, SKIPPED, UNCONFIRMED, AppendReport, CreateResult, HealthResult,
                                ImageResult)
from xpgeo_core.settings import BackendName, Settings

log = logging.getLogger("xpgeo.backends.xpgeo")

# --- the XPGEO REST contract (docs/xpgeo-rest-api.md) ------------------------------
PATH_LIVENESS = "/"
PATH_HEALTH = "/enterprise-server-health-check"
PATH_CREATE = "/create-oi-layer"
PATH_APPEND_IMAGE = "/append-image"
PATH_APPEND_IMAGES = "/append-images"
Q_NAME = "name"
Q_IMAGERY_TYPE = "imageryType"
Q_IMAGE_URL = "imageUrl"
BODY_NAME = "name"
BODY_IMAGE_LIST = "imageList"
R_SERVICE_NAME = "serviceName"
R_SERVICE_ITEM_ID = "serviceItemId"
R_SERVICE_TYPE = "serviceType"
R_LAYER = "layer"
R_SERVICE_URL = ("serviceUrl", "url")
HEALTH_PREFIX = "Validation response:"
LIST_TOO_BIG = "exceeds maximum size"
NO_SUCH_LAYER = "Item ID is required when updating the extent"
"""The server's 400 for an append to a layer it does not have (it finds no item to update)."""
# ------------------------------------------------------------------------------------

MAX_CONSECUTIVE_NETWORK_FAILURES = 2
_MESSAGE_LIMIT = 500


class XpgeoRestBackend(Backend):
    """Talks to an XPGEO REST server at ``settings.rest_url``."""

    name = BackendName.XPGEO

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        if not settings.rest_url:
            raise ConfigError("The XPGEO server URL is not set.",
                              hint="Set XPGEO_REST_URL in xpgeo.env (or the environment), or pass --rest-url.")
        self.base_url = settings.rest_url.rstrip("/")

    # -- one request helper ---------------------------------------------------------
    def _call(self, method: str, path: str, *, params: Optional[Dict[str, str]] = None,
              body: Optional[Any] = None, idempotent: Optional[bool] = None) -> Tuple[str, Any]:
        """Send one request; return (body text, parsed JSON or None); raise typed errors.
        ``idempotent=False`` for a GET that writes (``/append-image``): never retried where
        the server may have done it."""
        headers = {"Accept": "application/json, text/plain;q=0.9"}
        if self.settings.api_key:
            headers["Authorization"] = "Bearer " + self.settings.api_key.reveal()
        url = self.base_url + path
        try:
            extra = {"idempotent": idempotent} if idempotent is not None else {}
            response = self.session.request(method, url, params=params, json=body, headers=headers, **extra)
        except requests.RequestException as exc:
            raise describe_request_failure(exc, url, self.secrets()) from None
        text = response.text or ""
        parsed = _parse_json(text)
        if response.status_code >= 400:
            raise self._error(response.status_code, text, parsed, path)
        if _looks_like_html(text):
            # The XPGEO server answers text or JSON, never a page: this is a web site, a proxy's
            # sign-in page or a captive portal. Taking it as success would mark images appended
            # (and the ledger would skip them on every rerun).
            raise ServerError(f"The answer to {path} from {self.base_url} is an HTML page, not the XPGEO "
                              f"server's answer.",
                              hint="Check XPGEO_REST_URL (--rest-url) points at the XPGEO REST server itself, "
                                   "not a web page or a sign-in page in front of it.")
        return text, parsed

    def _error(self, status: int, text: str, parsed: Any, path: str) -> XpgeoError:
        message = redact(_server_message(text, parsed), self.secrets())
        said = f"The XPGEO server refused {path} (HTTP {status}): {message}"
        if path in (PATH_APPEND_IMAGE, PATH_APPEND_IMAGES) and _says_layer_missing(status, message):
            return LayerMissing(said, status=status)
        if status in (401, 403):
            return AuthError(said, status=status,
                             hint="Check CLIENT_ESRI_API_KEY (or the server's own USERNAME/PASSWORD); the account "
                                  "must be Creator type with the Publisher role or above.")
        if status in (400, 404, 409, 422):
            return ValidationError(said, status=status)
        if status in GATEWAY_LOST:
            return AnswerLost(said, status=status, hint="A gateway in front of the server lost its answer.")
        if status >= 500 and status not in NOT_TAKEN and path in (PATH_APPEND_IMAGE, PATH_APPEND_IMAGES):
            # A 500 says the server failed, not where: it may have added some images before it did.
            return AnswerLost(said, status=status, hint="The server failed part-way; XPGEO finds out what landed.")
        return ServerError(said, status=status, hint="Try again later; if it persists, check the server's log.")

    # -- operations -----------------------------------------------------------------
    def health_check(self) -> HealthResult:
        liveness, _ = self._call("GET", PATH_LIVENESS)
        text, parsed = self._call("GET", PATH_HEALTH)
        versions = parsed if isinstance(parsed, dict) else _parse_json(text.split(HEALTH_PREFIX, 1)[-1].strip())
        if not isinstance(versions, dict):
            versions = {"response": text.strip()[:_MESSAGE_LIMIT]}
        return HealthResult(backend=self.name, liveness_label="XPGEO REST", liveness_message=liveness.strip(),
                            versions=versions, details={"server": self.base_url})

    def create_layer(self, name: str, imagery_type: Optional[str] = None, *,
                     options: Optional[LayerOptions] = None) -> CreateResult:
        # The server's create takes a name and an imagery type and shares with the organization.
        messages = (options or LayerOptions()).not_honoured("The XPGEO server", honoured=())
        for message in messages:
            log.warning(message)
        params = {Q_NAME: name}
        if imagery_type:
            params[Q_IMAGERY_TYPE] = imagery_type
        text, parsed = self._call("GET", PATH_CREATE, params=params)
        if not isinstance(parsed, dict):
            raise ServerError(f"The XPGEO server's answer to {PATH_CREATE} is not JSON: {text[:200]!r}.",
                              hint="Check XPGEO_REST_URL points at an XPGEO REST server.")
        layer = object_at(parsed, R_LAYER)
        service_url = next((parsed[k] for k in R_SERVICE_URL if isinstance(parsed.get(k), str)), None)
        return CreateResult(backend=self.name, requested_name=name,
                            layer_name=str(parsed.get(R_SERVICE_NAME) or name),
                            item_id=parsed.get(R_SERVICE_ITEM_ID), service_url=service_url,
                            service_type=parsed.get(R_SERVICE_TYPE), layer=layer, response=parsed,
                            messages=messages)

    def _portal(self) -> Any:
        """The portal the server publishes to, when XPGEO knows it (PORTAL_URL): the XPGEO server's
        API lists no layer's photos and names no portal."""
        if not self.settings.portal_url:
            return None
        from xpgeo_core.backends.portal.backend import PortalBackend

        return PortalBackend(self.settings, token_provider=self.token_provider, session=self.session)

    def viewer_target(self) -> Any:
        from xpgeo_core.readiness import portal_target, unknown_portal_target

        if self.settings.portal_url:
            return portal_target(self.settings.portal_url)
        return unknown_portal_target(f"the portal of the XPGEO server {self.base_url}")

    def layer_image_paths(self, name: str) -> Iterator[str]:
        portal = self._portal()
        if portal is None:
            raise ConfigError(f"The photos of layer '{name}' on the XPGEO server can be read only through its "
                              "portal, and no portal URL is set.",
                              hint="Set PORTAL_URL (and the portal credentials) to the portal the XPGEO server "
                                   "publishes to.")
        return portal.layer_image_paths(name)

    def open_sink(self, name: str, *, imagery_type: Optional[str] = None, single: bool = False) -> "XpgeoSink":
        return XpgeoSink(self, name, imagery_type=imagery_type, single=single)

    def layer_missing(self, name: str, exc: XpgeoError) -> "LayerMissing":
        """The one error for an append to a layer the server lacks (the run stops: nothing can land)."""
        return LayerMissing(f"Layer '{name}' does not exist on the XPGEO server {self.base_url}: create it first "
                            f"({exc.message}).", status=exc.status,
                            hint="Run xpgeo create-oi-layer --name NAME first, then append to the layer name it "
                                 "prints (a taken name gets a timestamp).")


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

    def __init__(self, owner: XpgeoRestBackend, name: str, *, imagery_type: Optional[str], single: bool) -> None:
        super().__init__(name, 1 if single else owner.settings.max_image_list_size)
        self.owner = owner
        self.single = single
        self.raises_errors = single
        self.ledger = Ledger(owner.base_url, name)
        self.network_failures = 0
        self._checker: Any = None
        self._checker_tried = False
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
            if LIST_TOO_BIG in exc.message and len(images) > 1:
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
        verdict = _verdict(text, parsed)
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
        name = self.layer_name
        if self.single:
            return self.owner._call("GET", PATH_APPEND_IMAGE, params={Q_NAME: name, Q_IMAGE_URL: images[0].fetch_url},
                                    idempotent=False)
        return self.owner._call("POST", PATH_APPEND_IMAGES,
                                body={BODY_NAME: name, BODY_IMAGE_LIST: [i.fetch_url for i in images]})

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


def _verdict(text: str, parsed: Any) -> Any:
    """True for a success answer; the reason for a refusal; None when the body is no answer."""
    said = (parsed if isinstance(parsed, str) else text).strip()  # "true" may come as a JSON string
    if parsed is True or said.lower() in ("true", "response: true"):
        return True
    if parsed is False or said.lower() in ("false", "response: false"):
        return "the XPGEO server answered false for this chunk"
    if isinstance(parsed, dict):
        if parsed.get("error") or parsed.get("success") is False or str(parsed.get("status", "")).lower() in (
                "failed", "error"):
            return "the XPGEO server answered with an error: " + _server_message(text, parsed)
        return True
    if said.lower().startswith("response:") and said.lower().endswith("true"):
        return True
    return None


class LayerMissing(ValidationError):
    """An append to a layer the server does not have: one error for the run, not one per image."""

    whole_run = True
    """The append loop raises it as the run's error when nothing landed (see pipeline/loop.py)."""


def _says_layer_missing(status: int, message: str) -> bool:
    """The server's way of saying "no such layer" to an append: its documented 400 about the extent's
    item, or a 404 (servers that say not found)."""
    return status == 404 or (status == 400 and NO_SUCH_LAYER.lower() in message.lower())


_ALREADY_SENT = "already appended to this layer by an earlier run (XPGEO append ledger)"
_CHECKED_THERE = "already in the layer: an earlier run sent it and lost the answer; the portal shows it landed"
_NOT_CONFIRMED = ("not confirmed: the XPGEO server's answer was lost or an error that does not say what was done "
                  "({0}), and the layer could not be checked; it is recorded, and a rerun finds out instead of "
                  "sending it twice (set PORTAL_URL so XPGEO can check the layer: see the command in the messages)")
_STILL_UNSURE = ("not confirmed: an earlier run sent it and lost the server's answer, and the layer cannot be "
                 "checked (set PORTAL_URL and the credentials so XPGEO can ask the portal: see the command in the "
                 "messages); it is not sent twice")
GATEWAY_LOST = (502, 504)
"""A gateway's answers that mean it lost the server's: for a write, the server may have done it."""
PORTAL_PLACEHOLDER = "https://YOUR-PORTAL.example.com/portal"
"""In the printed command when no portal is set: the person puts the one the XPGEO server writes to."""
NOT_TAKEN = (429, 501, 503, 505)
"""The 4xx/5xx answers that say the server did not act on the request (RFC 6585, RFC 9110: too many
requests, not implemented, unavailable, version not supported): its images are sent again. Every other
5xx to an append means "failed somewhere", perhaps after adding some images: what landed is found out
first (docs/xpgeo-rest-api.md)."""


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _looks_like_html(text: str) -> bool:
    return text.lstrip()[:1] == "<"


def _server_message(text: str, parsed: Any) -> str:
    """The server's own words: ``error``/``message`` of a JSON body, else the text."""
    if isinstance(parsed, dict):
        for key in ("error", "message", "detail"):
            value = parsed.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if value:
                return str(value)[:_MESSAGE_LIMIT]
    text = text.strip()
    if _looks_like_html(text):
        return "(an HTML page; is XPGEO_REST_URL the XPGEO server?)"
    return text[:_MESSAGE_LIMIT] or "(no message)"
