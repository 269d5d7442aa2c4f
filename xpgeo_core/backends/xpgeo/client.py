"""The AerialSphere XPGEO REST server's API, as the client sees it: its contract and one request helper.

Every path, query parameter and JSON field name of the XPGEO REST API is a constant here, every
request goes through :meth:`XpgeoClient.call`, and each operation is one function below it. What
is public and what is our assumption is written in ``docs/xpgeo-rest-api.md``.

The client's API key travels as ``Authorization: Bearer <key>``, never in a URL.
Without a key the server authenticates with its own USERNAME/PASSWORD.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

import requests

from xpgeo_core.errors import AnswerLost, AuthError, ServerError, ValidationError, XpgeoError, redact
from xpgeo_core.http import XpgeoSession, describe_request_failure
from xpgeo_core.settings import Settings

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

MESSAGE_LIMIT = 500
GATEWAY_LOST = (502, 504)
"""A gateway's answers that mean it lost the server's: for a write, the server may have done it."""
NOT_TAKEN = (429, 501, 503, 505)
"""The 4xx/5xx answers that say the server did not act on the request (RFC 6585, RFC 9110: too many
requests, not implemented, unavailable, version not supported): its images are sent again. Every other
5xx to an append means "failed somewhere", perhaps after adding some images: what landed is found out
first (docs/xpgeo-rest-api.md)."""




class XpgeoClient:
    """One XPGEO REST server (``settings.rest_url``), through the run's HTTP session."""

    def __init__(self, settings: Settings, session: XpgeoSession, base_url: str, secrets: Sequence[str]) -> None:
        self.settings = settings
        self.session = session
        self.base_url = base_url
        self.secrets = list(secrets)

    def call(self, method: str, path: str, *, params: Optional[Dict[str, str]] = None,
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
            raise describe_request_failure(exc, url, self.secrets) from None
        text = response.text or ""
        parsed = parse_json(text)
        if response.status_code >= 400:
            raise self.error(response.status_code, text, parsed, path)
        if looks_like_html(text):
            # The XPGEO server answers text or JSON, never a page: this is a web site, a proxy's
            # sign-in page or a captive portal. Taking it as success would mark images appended
            # (and the ledger would skip them on every rerun).
            raise ServerError(f"The answer to {path} from {self.base_url} is an HTML page, not the XPGEO "
                              f"server's answer.",
                              hint="Check XPGEO_REST_URL (--rest-url) points at the XPGEO REST server itself, "
                                   "not a web page or a sign-in page in front of it.")
        return text, parsed

    def error(self, status: int, text: str, parsed: Any, path: str) -> XpgeoError:
        message = redact(server_message(text, parsed), self.secrets)
        said = f"The XPGEO server refused {path} (HTTP {status}): {message}"
        if path in (PATH_APPEND_IMAGE, PATH_APPEND_IMAGES) and says_layer_missing(status, message):
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


# -- one function per operation -------------------------------------------------------------

def liveness(client: XpgeoClient) -> str:
    """``GET /``: the server's liveness text."""
    return client.call("GET", PATH_LIVENESS)[0]


def health(client: XpgeoClient) -> Tuple[str, Any]:
    """``GET /enterprise-server-health-check``: its text and JSON (the portal and server versions)."""
    return client.call("GET", PATH_HEALTH)


def create_layer(client: XpgeoClient, name: str, imagery_type: Optional[str]) -> Tuple[str, Any]:
    """``GET /create-oi-layer?name=&imageryType=``."""
    params = {Q_NAME: name}
    if imagery_type:
        params[Q_IMAGERY_TYPE] = imagery_type
    return client.call("GET", PATH_CREATE, params=params)


def append_image(client: XpgeoClient, name: str, url: str) -> Tuple[str, Any]:
    """``GET /append-image?name=&imageUrl=``: a GET that writes, so never retried where it may have landed."""
    return client.call("GET", PATH_APPEND_IMAGE, params={Q_NAME: name, Q_IMAGE_URL: url}, idempotent=False)


def append_images(client: XpgeoClient, name: str, urls: List[str]) -> Tuple[str, Any]:
    """``POST /append-images`` with ``{"name", "imageList"}``."""
    return client.call("POST", PATH_APPEND_IMAGES, body={BODY_NAME: name, BODY_IMAGE_LIST: urls})


# -- reading its answers ---------------------------------------------------------------------

def verdict(text: str, parsed: Any) -> Any:
    """True for a success answer; the reason for a refusal; None when the body is no answer."""
    said = (parsed if isinstance(parsed, str) else text).strip()  # "true" may come as a JSON string
    if parsed is True or said.lower() in ("true", "response: true"):
        return True
    if parsed is False or said.lower() in ("false", "response: false"):
        return "the XPGEO server answered false for this chunk"
    if isinstance(parsed, dict):
        if parsed.get("error") or parsed.get("success") is False or str(parsed.get("status", "")).lower() in (
                "failed", "error"):
            return "the XPGEO server answered with an error: " + server_message(text, parsed)
        return True
    if said.lower().startswith("response:") and said.lower().endswith("true"):
        return True
    return None


class LayerMissing(ValidationError):
    """An append to a layer the server does not have: one error for the run, not one per image."""

    whole_run = True
    """The append loop raises it as the run's error when nothing landed (see pipeline/loop.py)."""


def says_layer_missing(status: int, message: str) -> bool:
    """The server's way of saying "no such layer" to an append: its documented 400 about the extent's
    item, or a 404 (servers that say not found)."""
    return status == 404 or (status == 400 and NO_SUCH_LAYER.lower() in message.lower())


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def looks_like_html(text: str) -> bool:
    return text.lstrip()[:1] == "<"


def server_message(text: str, parsed: Any) -> str:
    """The server's own words: ``error``/``message`` of a JSON body, else the text."""
    if isinstance(parsed, dict):
        for key in ("error", "message", "detail"):
            value = parsed.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if value:
                return str(value)[:MESSAGE_LIMIT]
    text = text.strip()
    if looks_like_html(text):
        return "(an HTML page; is XPGEO_REST_URL the XPGEO server?)"
    return text[:MESSAGE_LIMIT] or "(no message)"
