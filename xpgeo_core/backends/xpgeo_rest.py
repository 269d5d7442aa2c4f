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
from typing import Any, Dict, List, Optional, Sequence, Tuple

import requests

from xpgeo_core.backends.base import Backend
from xpgeo_core.errors import AuthError, ConfigError, RequestError, ServerError, ValidationError, XpgeoError, redact
from xpgeo_core.http import describe_request_failure
from xpgeo_core.layer_options import LayerOptions
from xpgeo_core.ledger import Ledger
from xpgeo_core.results import (APPENDED, FAILED, SKIPPED, AppendReport, CreateResult, HealthResult, ImageResult,
                                Progress, ProgressCallback, no_progress)

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
# ------------------------------------------------------------------------------------

MAX_CONSECUTIVE_NETWORK_FAILURES = 2
_MESSAGE_LIMIT = 500


class XpgeoRestBackend(Backend):
    """Talks to an XPGEO REST server at ``settings.rest_url``."""

    name = "xpgeo"

    def __init__(self, settings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        if not settings.rest_url:
            raise ConfigError("The XPGEO server URL is not set.",
                              hint="Set XPGEO_REST_URL in xpgeo.env (or the environment), or pass --rest-url.")
        self.base_url = settings.rest_url.rstrip("/")

    # -- one request helper ---------------------------------------------------------
    def _call(self, method: str, path: str, *, params: Optional[Dict[str, str]] = None,
              body: Optional[Any] = None) -> Tuple[str, Any]:
        """Send one request; return (body text, parsed JSON or None); raise typed errors."""
        headers = {"Accept": "application/json, text/plain;q=0.9"}
        if self.settings.api_key:
            headers["Authorization"] = "Bearer " + self.settings.api_key.reveal()
        url = self.base_url + path
        try:
            response = self.session.request(method, url, params=params, json=body, headers=headers)
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
        if status in (401, 403):
            return AuthError(said, status=status,
                             hint="Check CLIENT_ESRI_API_KEY (or the server's own USERNAME/PASSWORD); the account "
                                  "must be Creator type with the Publisher role or above.")
        if status in (400, 404, 409, 422):
            return ValidationError(said, status=status)
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
        layer = parsed.get(R_LAYER) if isinstance(parsed.get(R_LAYER), dict) else {}
        service_url = next((parsed[k] for k in R_SERVICE_URL if isinstance(parsed.get(k), str)), None)
        return CreateResult(backend=self.name, requested_name=name,
                            layer_name=str(parsed.get(R_SERVICE_NAME) or name),
                            item_id=parsed.get(R_SERVICE_ITEM_ID), service_url=service_url,
                            service_type=parsed.get(R_SERVICE_TYPE), layer=layer, response=parsed,
                            messages=messages)

    def append_image(self, name: str, url: str, *, imagery_type: Optional[str] = None) -> AppendReport:
        report = AppendReport(backend=self.name, layer_name=name)
        ledger = self._ledger(name)
        if url in ledger:
            report.results.append(ImageResult(url, SKIPPED, _ALREADY_SENT))
            return report
        try:
            text, _ = self._call("GET", PATH_APPEND_IMAGE, params={Q_NAME: name, Q_IMAGE_URL: url})
        except ValidationError as exc:  # the server refused this image: a result, not a crash
            report.results.append(ImageResult(url, FAILED, exc.message))
            return report
        report.responses.append(text.strip())
        report.results.append(ImageResult(url, APPENDED))
        ledger.record([url])
        return report

    def append_images(self, name: str, urls: Sequence[str], *, progress: ProgressCallback = no_progress,
                      imagery_type: Optional[str] = None) -> AppendReport:
        report = AppendReport(backend=self.name, layer_name=name)
        ledger = self._ledger(name)
        results: Dict[str, ImageResult] = {}
        pending = []
        for url in urls:
            if url in ledger:
                results[url] = ImageResult(url, SKIPPED, _ALREADY_SENT)
            else:
                pending.append(url)
        size = self.settings.max_image_list_size
        chunks = [pending[i:i + size] for i in range(0, len(pending), size)]
        network_failures = 0
        done = len(results)
        for number, chunk in enumerate(chunks, start=1):
            if network_failures >= MAX_CONSECUTIVE_NETWORK_FAILURES:
                for url in chunk:
                    results[url] = ImageResult(url, FAILED, "not sent: the XPGEO server stopped answering")
            else:
                try:
                    self._send_chunk(name, chunk, results, report, ledger)
                    network_failures = 0
                except AuthError:
                    if number == 1:
                        raise  # nothing was sent: say it as it is (exit code 3)
                    self._fail_rest(chunks[number - 1:], results, "not sent: the server refused the credentials")
                    done = len(urls)
                    progress(Progress(done, len(urls), _failed(results), number, len(chunks)))
                    break
                except RequestError as exc:
                    if number == 1 and len(chunks) == 1:
                        raise
                    network_failures += 1
                    for url in chunk:
                        results[url] = ImageResult(url, FAILED, exc.message)
            done += len(chunk)
            progress(Progress(done, len(urls), _failed(results), number, len(chunks)))
        report.results = [results[u] for u in urls]
        return report

    # -- helpers --------------------------------------------------------------------
    def _send_chunk(self, name: str, chunk: List[str], results: Dict[str, ImageResult], report: AppendReport,
                    ledger: Ledger) -> None:
        """POST one chunk; on the server's "exceeds maximum size" 422, halve it and retry."""
        try:
            text, parsed = self._call("POST", PATH_APPEND_IMAGES, body={BODY_NAME: name, BODY_IMAGE_LIST: chunk})
        except ValidationError as exc:
            if LIST_TOO_BIG in exc.message and len(chunk) > 1:
                half = len(chunk) // 2
                log.info("The server's list limit is below %d; sending %d and %d.", len(chunk), half,
                         len(chunk) - half)
                self._send_chunk(name, chunk[:half], results, report, ledger)
                self._send_chunk(name, chunk[half:], results, report, ledger)
                return
            for url in chunk:
                results[url] = ImageResult(url, FAILED, exc.message)
            return
        except ServerError as exc:
            for url in chunk:
                results[url] = ImageResult(url, FAILED, exc.message)
            return
        report.responses.append(parsed if parsed is not None else text.strip())
        if parsed is False:
            for url in chunk:
                results[url] = ImageResult(url, FAILED, "the XPGEO server answered false for this chunk")
            return
        for url in chunk:
            results[url] = ImageResult(url, APPENDED)
        ledger.record(chunk)

    def _fail_rest(self, chunks: List[List[str]], results: Dict[str, ImageResult], reason: str) -> None:
        for chunk in chunks:
            for url in chunk:
                results.setdefault(url, ImageResult(url, FAILED, reason))

    def _ledger(self, name: str) -> Ledger:
        return Ledger(self.base_url, name)


_ALREADY_SENT = "already appended to this layer by an earlier run (XPGEO append ledger)"


def _failed(results: Dict[str, ImageResult]) -> int:
    return sum(1 for r in results.values() if r.status == FAILED)


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
