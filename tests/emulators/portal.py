"""A portal emulator: ArcGIS Online / Enterprise as the portal backend sees it.

A real HTTP(S) server on 127.0.0.1, its state in SQLite, answering in the documented
ArcGIS shapes (``../shared/reference/arcgis-rest.md``): errors as HTTP 200 with an
``error`` body (498 invalid token, 499 token required, 403, 400), ``success: false``
from createService, ``addResults`` per feature, ``notSharedWith`` from share, ``expires``
in epoch milliseconds. It accepts what real clients send, not only what ours does: the
token as ``X-Esri-Authorization: Bearer``, ``Authorization: Bearer`` or a ``token``
form/query field; GET or POST for reads; url-encoded or multipart bodies;
``typeKeywords`` as a JSON array or a comma-separated list.

Layout (an Enterprise-like portal with a federated hosting server)::

    <base>/portal/sharing/rest[...]                          the portal (PORTAL_URL = <base>/portal)
    <base>/server/rest/services/Hosted/<name>/FeatureServer   hosted feature services
    <base>/server/rest/admin/services/Hosted/<name>/...       their admin twins

Accounts: ``xpgeo_user`` / ``xpgeo_pass`` (Creator, publisher privileges), ``xpgeo_viewer`` /
``xpgeo_pass`` (Viewer), API key ``xpgeo_test_key`` (acts as ``xpgeo_user``).

Knobs (attributes of :class:`PortalState`, settable at any time):

* ``token_lifetime``: seconds a generated token lives (default: the ``expiration`` asked);
* ``user_can_publish``: False strips ``xpgeo_user``'s publisher privileges;
* ``taken_names``: service names reported as taken;
* ``faults``: ``{operation: {call number: kind}}``, operation being the last path
  segment (``addFeatures``, ``query``, ``createService``, ``share``...), kinds:
  ``http500`` (a proxy's HTTP 500), ``error500`` (HTTP 200 + error 500 body), ``drop``
  (connection closed, nothing done), ``drop_after`` (done, then closed unanswered),
  ``expire_token`` (every token revoked: this call gets 498), ``down`` (the portal
  stops answering from this call on);
* ``fail_image_paths``: features whose ImagePath contains one of these fail in ``addResults``;
* ``layer_type_rule`` (what a layer's ``type`` becomes; nobody outside Esri knows what a live
  server does, so each plausible server is a setting): ``keep`` (default: the type sent in
  addToDefinition, "Feature Layer" when none), ``promote_on_update`` (as keep, and an
  updateDefinition giving ``orientedImageryInfo`` also makes the layer an "Oriented Imagery
  Layer"), ``refuse_oi_type`` (addToDefinition with type "Oriented Imagery Layer" is refused;
  updateDefinition's ``orientedImageryInfo`` is kept on a plain "Feature Layer").

Run on its own: ``python tests/emulators/portal.py --port 0 [--tls CERT KEY]`` prints the
portal URL (the value for ``PORTAL_URL``) as its first line and serves until stopped.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import socket
import sqlite3
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

try:
    from emulators.loopback import LoopbackServer
except ImportError:  # run as a script: python tests/emulators/<name>.py
    from loopback import LoopbackServer

USER = "xpgeo_user"
VIEWER = "xpgeo_viewer"
PASSWORD = "xpgeo_pass"
API_KEY = "xpgeo_test_key"
ORG_ID = "xPgEoEmU1at0r001"
PORTAL_PREFIX = "/portal/sharing/rest"
SERVICES_PREFIX = "/server/rest/services/Hosted/"
ADMIN_PREFIX = "/server/rest/admin/services/Hosted/"
VIEWER_PRIVILEGES = ["portal:user:joinGroup", "portal:user:viewOrgGroups", "portal:user:viewOrgItems",
                     "portal:user:viewOrgUsers"]
PUBLISHER_PRIVILEGES = VIEWER_PRIVILEGES + [
    "portal:user:createGroup", "portal:user:createItem", "portal:user:shareToGroup", "portal:user:shareToOrg",
    "portal:publisher:publishFeatures", "portal:publisher:publishScenes", "portal:publisher:publishTiles"]
HOSTED_KEYWORDS = ["ArcGIS Server", "Data", "Feature Access", "Feature Service", "Service", "Hosted Service"]
SERVICE_NAME = re.compile(r"^[A-Za-z0-9_]+$")
WGS84 = {"wkid": 4326, "latestWkid": 4326}

INVALID_TOKEN = {"code": 498, "message": "Invalid token.", "details": []}
TOKEN_REQUIRED = {"code": 499, "message": "Token Required", "messageCode": "GWM_0003", "details": ["Token Required"]}
NO_PERMISSION = {"code": 403, "message": "You do not have permissions to access this resource or perform this "
                                        "operation.", "details": []}
NO_ITEM = {"code": 400, "messageCode": "CONT_0001", "message": "Item does not exist or is inaccessible.",
           "details": []}
INVALID_URL = {"code": 400, "message": "Invalid URL", "details": ["Invalid URL"]}
QUERY_FAILED = {"code": 400, "message": "Unable to complete operation.",
                "details": ["Unable to perform query operation."]}


@dataclass
class Recorded:
    """One request as it arrived: what tests check for leaked secrets and batch sizes."""

    method: str
    path: str
    raw_path: str
    headers: Dict[str, str]
    body: bytes
    params: Dict[str, str]


@dataclass
class PortalState:
    token_lifetime: Optional[float] = None
    user_can_publish: bool = True
    taken_names: Set[str] = field(default_factory=set)
    faults: Dict[str, Dict[int, str]] = field(default_factory=dict)
    fail_image_paths: Set[str] = field(default_factory=set)
    layer_type_rule: str = "keep"
    current_version: str = "2024.1"
    enterprise_version: Optional[str] = "11.3.0"
    enterprise_build: Optional[str] = "51575"
    down: bool = False
    requests: List[Recorded] = field(default_factory=list)
    calls: Dict[str, int] = field(default_factory=dict)
    issued_tokens: List[str] = field(default_factory=list)


class _Reply(Exception):
    """Raised by a route to answer at once (an ArcGIS error body, usually)."""

    def __init__(self, body: Any, status: int = 200) -> None:
        super().__init__("reply")
        self.body = body
        self.status = status


def _err(error: Dict[str, Any]) -> _Reply:
    return _Reply({"error": error})


def _bad_request(message: str, *details: str) -> _Reply:
    return _err({"code": 400, "message": message, "details": list(details)})


# -- the where clause ------------------------------------------------------------------
_LITERAL = re.compile(r"\s*(?:'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?))\s*(,|$)", re.S)


def _literals(text: str) -> List[Any]:
    values: List[Any] = []
    pos = 0
    while pos < len(text):
        match = _LITERAL.match(text, pos)
        if not match:
            raise ValueError("bad IN list")
        values.append(match.group(1).replace("''", "'") if match.group(1) is not None else float(match.group(2)))
        pos = match.end()
        if match.group(3) == "":
            break
    return values


def where_predicate(where: str) -> Callable[[Dict[str, Any]], bool]:
    """The small SQL subset hosted-layer clients use: ``1=1``, ``F IN (...)``, ``F = 'x'``,
    ``F <op> number``. Field names are case-insensitive, as in ArcGIS."""
    text = (where or "").strip()

    def get(row: Dict[str, Any], name: str) -> Any:
        for key, value in row.items():
            if key.lower() == name.lower():
                return value
        raise ValueError(f"unknown field {name}")

    if not text or re.fullmatch(r"1\s*=\s*1", text):
        return lambda row: True
    match = re.fullmatch(r"(\w+)\s+IN\s*\((.*)\)", text, re.I | re.S)
    if match:
        name, values = match.group(1), _literals(match.group(2))
        return lambda row: get(row, name) in values
    match = re.fullmatch(r"(\w+)\s*=\s*'((?:[^']|'')*)'", text, re.S)
    if match:
        name, value = match.group(1), match.group(2).replace("''", "'")
        return lambda row: get(row, name) == value
    match = re.fullmatch(r"(\w+)\s*(>=|<=|=|>|<)\s*(-?\d+(?:\.\d+)?)", text)
    if match:
        name, op, number = match.group(1), match.group(2), float(match.group(3))
        ops = {">=": float.__ge__, "<=": float.__le__, "=": float.__eq__, ">": float.__gt__, "<": float.__lt__}
        return lambda row: get(row, name) is not None and ops[op](float(get(row, name)), number)
    raise ValueError("unsupported where clause")


def _bool(value: Optional[str], default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return str(value).strip().lower() in ("true", "1", "yes")


def _json_param(params: Dict[str, str], name: str) -> Any:
    try:
        return json.loads(params[name])
    except KeyError:
        raise _bad_request(f"'{name}' parameter is required.") from None
    except ValueError:
        raise _bad_request(f"Unable to parse the '{name}' parameter as JSON.") from None


def _keywords(text: str) -> List[str]:
    """typeKeywords as a JSON array string or a comma-separated list."""
    text = text.strip()
    if text.startswith("["):
        return [str(k) for k in json.loads(text)]
    return [k.strip() for k in text.split(",") if k.strip()]


class PortalEmulator(LoopbackServer):
    """``with PortalEmulator(**knobs) as portal: portal.portal_url``; state via the methods below."""

    def __init__(self, *, port: int = 0, tls: Optional[Tuple[str, str]] = None, **knobs: Any) -> None:
        self.state = PortalState(**knobs)
        self.lock = threading.RLock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.executescript("""
            CREATE TABLE tokens(token TEXT PRIMARY KEY, username TEXT, referer TEXT, expires REAL);
            CREATE TABLE items(id TEXT PRIMARY KEY, owner TEXT, name TEXT, title TEXT, type TEXT, url TEXT,
                               type_keywords TEXT, tags TEXT, snippet TEXT, access TEXT, extent TEXT,
                               created INTEGER, modified INTEGER, folder TEXT, data TEXT);
            CREATE TABLE folders(id TEXT PRIMARY KEY, owner TEXT, title TEXT, created INTEGER);
            CREATE TABLE services(name TEXT PRIMARY KEY COLLATE NOCASE, item_id TEXT, definition TEXT);
            CREATE TABLE layers(service TEXT COLLATE NOCASE, layer_id INTEGER, definition TEXT,
                                PRIMARY KEY(service, layer_id));
            CREATE TABLE features(objectid INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT COLLATE NOCASE,
                                  layer_id INTEGER, x REAL, y REAL, z REAL, attributes TEXT);
        """)
        handler = type("Handler", (_Handler,), {"emulator": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # failed TLS handshakes are expected in tests
        self.scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls[0], tls[1])
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True,
                                                    do_handshake_on_connect=False)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    @property
    def portal_url(self) -> str:
        return self.base_url + "/portal"

    # -- state, for tests --------------------------------------------------------------
    def _rows(self, sql: str, *args: Any) -> List[sqlite3.Row]:
        with self.lock:
            return list(self.db.execute(sql, args))

    def items(self) -> List[Dict[str, Any]]:
        return [self._item_json(r) for r in self._rows("SELECT * FROM items ORDER BY created")]

    def item(self, item_id: str) -> Optional[Dict[str, Any]]:
        rows = self._rows("SELECT * FROM items WHERE id = ?", item_id)
        return self._item_json(rows[0]) if rows else None

    def item_by_name(self, name: str) -> Optional[Dict[str, Any]]:
        rows = self._rows("SELECT * FROM items WHERE name = ? COLLATE NOCASE", name)
        return self._item_json(rows[0]) if rows else None

    def service_names(self) -> List[str]:
        return [r["name"] for r in self._rows("SELECT name FROM services ORDER BY name")]

    def service(self, name: str) -> Optional[Dict[str, Any]]:
        rows = self._rows("SELECT * FROM services WHERE name = ?", name)
        return self._service_json(rows[0]) if rows else None

    def layer(self, service: str, layer_id: int = 0) -> Optional[Dict[str, Any]]:
        return self._layer_json(service, layer_id)

    def features(self, service: str, layer_id: int = 0) -> List[Dict[str, Any]]:
        rows = self._rows("SELECT * FROM features WHERE service = ? AND layer_id = ? ORDER BY objectid",
                          service, layer_id)
        return [self._feature_json(r, True) for r in rows]

    def expire_tokens(self) -> None:
        with self.lock:
            self.db.execute("DELETE FROM tokens")

    def requests_to(self, operation: str) -> List[Recorded]:
        return [r for r in self.state.requests if r.path.rstrip("/").rsplit("/", 1)[-1] == operation]

    # -- JSON views --------------------------------------------------------------------
    def _item_json(self, row: sqlite3.Row) -> Dict[str, Any]:
        return {"id": row["id"], "owner": row["owner"], "orgId": ORG_ID, "name": row["name"], "title": row["title"],
                "type": row["type"], "typeKeywords": json.loads(row["type_keywords"]),
                "tags": json.loads(row["tags"]), "snippet": row["snippet"], "url": row["url"],
                "access": row["access"], "extent": json.loads(row["extent"]), "created": row["created"],
                "modified": row["modified"], "ownerFolder": row["folder"], "isOrgItem": True}

    def _service_json(self, row: sqlite3.Row) -> Dict[str, Any]:
        definition = json.loads(row["definition"])
        layers = []
        for layer in self._rows("SELECT layer_id FROM layers WHERE service = ? ORDER BY layer_id", row["name"]):
            full = self._layer_json(row["name"], layer["layer_id"]) or {}
            layers.append({"id": full.get("id"), "name": full.get("name"), "type": full.get("type"),
                           "geometryType": full.get("geometryType")})
        definition.update({"currentVersion": 11.3, "serviceItemId": row["item_id"], "layers": layers,
                           "tables": []})
        return definition

    def _layer_json(self, service: str, layer_id: int) -> Optional[Dict[str, Any]]:
        rows = self._rows("SELECT l.definition, s.definition AS sdef FROM layers l JOIN services s "
                          "ON s.name = l.service WHERE l.service = ? AND l.layer_id = ?", service, layer_id)
        if not rows:
            return None
        layer = json.loads(rows[0]["definition"])
        service_def = json.loads(rows[0]["sdef"])
        layer["id"] = layer_id
        layer["type"] = layer.get("type") or "Feature Layer"  # see the layer_type_rule knob
        layer["currentVersion"] = 11.3
        layer.setdefault("maxRecordCount", service_def.get("maxRecordCount", 1000))
        layer["capabilities"] = service_def.get("capabilities", "Query")
        layer.setdefault("advancedQueryCapabilities", {}).update({"supportsReturningQueryExtent": True})
        return layer

    @staticmethod
    def _feature_json(row: sqlite3.Row, geometry: bool, out_fields: Optional[List[str]] = None) -> Dict[str, Any]:
        attributes = json.loads(row["attributes"])
        attributes["OBJECTID"] = row["objectid"]
        if out_fields is not None and "*" not in out_fields:
            wanted = {f.lower() for f in out_fields} | {"objectid"}
            attributes = {k: v for k, v in attributes.items() if k.lower() in wanted}
        feature: Dict[str, Any] = {"attributes": attributes}
        if geometry:
            feature["geometry"] = {"x": row["x"], "y": row["y"]}
            if row["z"] is not None:
                feature["geometry"]["z"] = row["z"]
        if out_fields is None:
            feature["objectid"] = row["objectid"]
        return feature

    # -- users and tokens --------------------------------------------------------------
    def user_json(self, username: str) -> Dict[str, Any]:
        if username == VIEWER:
            kind, role, privileges = "viewerUT", "org_viewer", VIEWER_PRIVILEGES
        elif self.state.user_can_publish:
            kind, role, privileges = "creatorUT", "org_publisher", PUBLISHER_PRIVILEGES
        else:
            kind, role, privileges = "creatorUT", "org_user", VIEWER_PRIVILEGES + ["portal:user:createItem"]
        return {"username": username, "fullName": username.replace("_", " ").title(), "orgId": ORG_ID,
                "role": role, "roleId": None, "level": "2", "userLicenseTypeId": kind,
                "privileges": list(privileges), "access": "org", "provider": "arcgis"}

    def issue_token(self, username: str, referer: Optional[str], minutes: float) -> Tuple[str, int]:
        lifetime = self.state.token_lifetime if self.state.token_lifetime is not None else minutes * 60
        expires = time.time() + lifetime
        token = "emu." + secrets.token_urlsafe(24)
        with self.lock:
            self.db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)", (token, username, referer, expires))
            self.state.issued_tokens.append(token)
        return token, int(expires * 1000)

    def caller(self, token: Optional[str], referer: Optional[str]) -> Optional[str]:
        """The user a token stands for; raises the 498 reply for a bad token."""
        if not token:
            return None
        if token == API_KEY:
            return USER
        rows = self._rows("SELECT * FROM tokens WHERE token = ?", token)
        if not rows or rows[0]["expires"] <= time.time():
            raise _err(INVALID_TOKEN)
        if rows[0]["referer"] and rows[0]["referer"] != referer:
            raise _err(INVALID_TOKEN)  # a referer-bound token used from elsewhere
        return rows[0]["username"]


class _Handler(BaseHTTPRequestHandler):
    server_version = "PortalEmulator/1.0"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    emulator: PortalEmulator

    def log_message(self, *args: Any) -> None:
        pass

    # -- plumbing ----------------------------------------------------------------------
    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _read_params(self, body: bytes) -> Dict[str, str]:
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        content_type = self.headers.get("Content-Type", "")
        if body and content_type.startswith("multipart/form-data"):
            message = BytesParser(policy=policy.HTTP).parsebytes(
                b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name:
                    params[name] = (part.get_payload(decode=True) or b"").decode("utf-8")
        elif body:
            params.update({k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()})
        return params

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode("utf-8") if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8" if not isinstance(body, bytes)
                         else "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _token(self, params: Dict[str, str]) -> Optional[str]:
        for header in ("X-Esri-Authorization", "Authorization"):
            value = self.headers.get(header, "")
            if value.lower().startswith("bearer "):
                return value[7:].strip()
        return params.get("token") or None

    def _handle(self) -> None:
        emu = self.emulator
        state = emu.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = unquote(urlsplit(self.path).path).rstrip("/")
        try:
            params = self._read_params(body)
        except (ValueError, UnicodeDecodeError):
            params = {}
        with emu.lock:
            state.requests.append(Recorded(self.command, path, self.path, dict(self.headers.items()), body, params))
            operation = path.rsplit("/", 1)[-1]
            state.calls[operation] = state.calls.get(operation, 0) + 1
            fault = state.faults.get(operation, {}).get(state.calls[operation])
            if fault == "down":
                state.down = True
            down = state.down
        if down or fault == "drop":
            return self._drop()
        if fault == "http500":
            return self._send(500, b"<html><body><h1>500 Internal Server Error</h1></body></html>")
        if fault == "error500":
            return self._send(200, {"error": {"code": 500, "message": "Unable to complete operation.",
                                              "details": []}})
        if fault == "expire_token":
            emu.expire_tokens()
        try:
            status, answer = 200, self._route(path, params)
        except _Reply as reply:
            status, answer = reply.status, reply.body
        if fault == "drop_after":
            return self._drop()
        self._send(status, answer)

    # -- routing -----------------------------------------------------------------------
    def _route(self, path: str, params: Dict[str, str]) -> Any:
        emu = self.emulator
        user = emu.caller(self._token(params), self.headers.get("Referer"))
        if path == PORTAL_PREFIX or path.startswith(PORTAL_PREFIX + "/"):
            return self._sharing(path[len(PORTAL_PREFIX):], params, user)
        if path == "/server/rest/info":
            return {"currentVersion": 11.3, "fullVersion": "11.3.0", "owningSystemUrl": emu.portal_url,
                    "authInfo": {"isTokenBasedSecurity": True,
                                 "tokenServicesUrl": emu.portal_url + "/sharing/rest/generateToken"}}
        for prefix, admin in ((SERVICES_PREFIX, False), (ADMIN_PREFIX, True)):
            if path.startswith(prefix):
                name, _, rest = path[len(prefix):].partition("/")
                if not rest.startswith("FeatureServer"):
                    raise _err(INVALID_URL)
                return self._service(name, rest[len("FeatureServer"):].strip("/"), params, user, admin)
        raise _err(INVALID_URL)

    def _need_user(self, user: Optional[str]) -> str:
        if not user:
            raise _err(TOKEN_REQUIRED)
        return user

    # -- sharing/rest ------------------------------------------------------------------
    def _sharing(self, sub: str, params: Dict[str, str], user: Optional[str]) -> Any:
        emu = self.emulator
        if sub == "":
            return {"currentVersion": emu.state.current_version}
        if sub == "/generateToken":
            return self._generate_token(params)
        if sub == "/portals/self":
            answer = {"id": ORG_ID, "name": "XPGEO Emulated Portal", "urlKey": "xpgeo", "isPortal": True,
                      "portalName": "ArcGIS Enterprise", "currentVersion": emu.state.current_version,
                      "supportsHostedServices": True, "allSSL": emu.scheme == "https"}
            if emu.state.enterprise_version:
                answer["enterpriseVersion"] = emu.state.enterprise_version
            if emu.state.enterprise_build:
                answer["enterpriseBuild"] = emu.state.enterprise_build
            if user:
                answer["user"] = emu.user_json(user)
            return answer
        if re.fullmatch(r"/portals/[^/]+/isServiceNameAvailable", sub):
            self._need_user(user)
            name = params.get("name", "")
            taken = name.lower() in {n.lower() for n in emu.state.taken_names} or bool(
                emu._rows("SELECT 1 FROM services WHERE name = ?", name))
            return {"available": not taken}
        if sub == "/community/self":
            return emu.user_json(self._need_user(user))
        if sub == "/search":
            return self._search(params, user)
        match = re.fullmatch(r"/content/items/([0-9a-f]+)/data", sub)
        if match:
            item = self._readable_item(match.group(1), user)
            rows = emu._rows("SELECT data FROM items WHERE id = ?", item["id"])
            return json.loads(rows[0]["data"]) if rows and rows[0]["data"] else {}
        match = re.fullmatch(r"/content/users/([^/]+)/createFolder", sub)
        if match:
            return self._create_folder(match.group(1), params, user)
        match = re.fullmatch(r"/content/users/([^/]+)/([0-9a-f]{32})/delete", sub)
        if match:
            return self._delete_folder(match.group(1), match.group(2), user)
        match = re.fullmatch(r"/content/users/([^/]+)(?:/([0-9a-f]{32}))?", sub)
        if match:
            return self._user_content(match.group(1), match.group(2), params, user)
        match = re.fullmatch(r"/content/items/([0-9a-f]+)", sub)
        if match:
            return self._readable_item(match.group(1), user)
        match = re.fullmatch(r"/content/users/([^/]+)(?:/([^/]+))?/createService", sub)
        if match:
            return self._create_service(match.group(1), params, user, match.group(2))
        match = re.fullmatch(r"/content/users/([^/]+)(?:/([^/]+))?/items/([0-9a-f]+)/(update|share|delete)", sub)
        if match:
            owner, item_id, action = match.group(1), match.group(3), match.group(4)
            if self._need_user(user) != owner:
                raise _err(NO_PERMISSION)
            item = emu.item(item_id)
            if item is None or item["owner"] != owner:
                raise _err(NO_ITEM)
            return getattr(self, "_item_" + action)(item, params)
        raise _err(INVALID_URL)

    def _readable_item(self, item_id: str, user: Optional[str]) -> Dict[str, Any]:
        item = self.emulator.item(item_id)
        if item is None or (item["access"] == "private" and item["owner"] != user) or (
                item["access"] == "org" and not user):
            raise _err(NO_ITEM)
        return item

    def _generate_token(self, params: Dict[str, str]) -> Any:
        emu = self.emulator
        if self.command != "POST":
            raise _bad_request("Unable to generate token.", "Token requests must use POST.")
        username, password = params.get("username", ""), params.get("password", "")
        if username not in (USER, VIEWER) or password != PASSWORD:
            raise _bad_request("Unable to generate token.", "Invalid username or password.")
        client = params.get("client", "requestip")
        referer = params.get("referer") if client == "referer" else None
        if client == "referer" and not referer:
            raise _bad_request("Unable to generate token.", "'referer' must be specified.")
        try:
            minutes = float(params.get("expiration") or 60)
        except ValueError:
            minutes = 60.0
        token, expires = emu.issue_token(username, referer, minutes)
        return {"token": token, "expires": expires, "ssl": emu.scheme == "https"}

    def _search(self, params: Dict[str, str], user: Optional[str]) -> Any:
        """``field:"value"`` clauses joined by AND (title, name, owner, type, typekeywords, id)."""
        clauses = re.findall(r'(\w+):"([^"]*)"', params.get("q", ""))
        results = []
        for item in self.emulator.items():
            if item["access"] == "private" and item["owner"] != user:
                continue
            if item["access"] == "org" and not user:
                continue
            ok = True
            for name, value in clauses:
                name = name.lower()
                if name == "typekeywords":
                    ok = ok and value.lower() in [k.lower() for k in item["typeKeywords"]]
                elif name in ("title", "name", "owner", "type", "id"):
                    ok = ok and str(item.get(name) or "").lower() == value.lower()
            if ok:
                results.append(item)
        num = int(params.get("num") or 10)
        start = int(params.get("start") or 1)
        page = results[start - 1:start - 1 + num]
        next_start = start + len(page) if start - 1 + num < len(results) else -1
        return {"query": params.get("q", ""), "total": len(results), "start": start, "num": num,
                "nextStart": next_start, "results": page}

    def _user_content(self, owner: str, folder: Optional[str], params: Dict[str, str],
                      user: Optional[str]) -> Any:
        """``content/users/<u>[/<folder>]``: the owner's items in one folder, paged, and at the root
        the folders (read from the database: no index lag)."""
        emu = self.emulator
        if self._need_user(user) != owner:
            raise _err(NO_PERMISSION)
        current = None
        if folder:
            rows = emu._rows("SELECT * FROM folders WHERE id = ? AND owner = ?", folder, owner)
            if not rows:
                raise _bad_request("Folder not found.", f"Folder {folder} does not exist.")
            current = {"username": owner, "id": rows[0]["id"], "title": rows[0]["title"],
                       "created": rows[0]["created"]}
        items = [emu._item_json(r) for r in emu._rows(
            "SELECT * FROM items WHERE owner = ? AND folder IS ? ORDER BY created", owner, folder)]
        start = max(1, int(params.get("start") or 1))
        num = min(100, max(0, int(params.get("num") or 10)))
        page = items[start - 1:start - 1 + num]
        answer = {"username": owner, "total": len(items), "start": start, "num": num,
                  "nextStart": start + len(page) if start - 1 + len(page) < len(items) else -1,
                  "currentFolder": current, "items": page}
        if not folder:
            answer["folders"] = [{"username": owner, "id": r["id"], "title": r["title"], "created": r["created"]}
                                 for r in emu._rows("SELECT * FROM folders WHERE owner = ? ORDER BY created", owner)]
        return answer

    def _create_folder(self, owner: str, params: Dict[str, str], user: Optional[str]) -> Any:
        emu = self.emulator
        if self.command != "POST":
            raise _bad_request("Unable to create folder.", "The operation requires POST.")
        if self._need_user(user) != owner:
            raise _err(NO_PERMISSION)
        title = (params.get("title") or "").strip()
        if not title:
            raise _bad_request("Unable to create folder.", "'title' must be specified.")
        if emu._rows("SELECT 1 FROM folders WHERE owner = ? AND title = ? COLLATE NOCASE", owner, title):
            raise _bad_request("Unable to create folder.", f"Folder '{title}' already exists.")
        folder = {"username": owner, "id": uuid.uuid4().hex, "title": title}
        with emu.lock:
            emu.db.execute("INSERT INTO folders VALUES (?,?,?,?)", (folder["id"], owner, title,
                                                                    int(time.time() * 1000)))
        return {"success": True, "folder": folder}

    def _delete_folder(self, owner: str, folder: str, user: Optional[str]) -> Any:
        emu = self.emulator
        if self._need_user(user) != owner:
            raise _err(NO_PERMISSION)
        if not emu._rows("SELECT 1 FROM folders WHERE id = ? AND owner = ?", folder, owner):
            raise _bad_request("Unable to delete folder.", f"Folder {folder} does not exist.")
        with emu.lock:
            for row in emu._rows("SELECT * FROM items WHERE folder = ?", folder):
                self._item_delete(emu._item_json(row), {})
            emu.db.execute("DELETE FROM folders WHERE id = ?", (folder,))
        return {"success": True, "folder": {"username": owner, "id": folder}}

    def _create_service(self, owner: str, params: Dict[str, str], user: Optional[str],
                        folder: Optional[str] = None) -> Any:
        emu = self.emulator
        if self._need_user(user) != owner:
            raise _err(NO_PERMISSION)
        if folder and not emu._rows("SELECT 1 FROM folders WHERE id = ? AND owner = ?", folder, owner):
            raise _bad_request("Unable to create service.", f"Folder {folder} does not exist.")
        if "portal:publisher:publishFeatures" not in emu.user_json(owner)["privileges"]:
            raise _err(NO_PERMISSION)
        if params.get("outputType") != "featureService":
            raise _bad_request("Unable to create service.", "outputType must be featureService.")
        create = _json_param(params, "createParameters")
        name = str(create.get("name") or "")
        if not SERVICE_NAME.match(name):
            raise _bad_request("Unable to create service.",
                               f"Service name '{name}' is not valid: use letters, digits and underscores.")
        taken = name.lower() in {n.lower() for n in emu.state.taken_names} or bool(
            emu._rows("SELECT 1 FROM services WHERE name = ?", name))
        if taken:
            return {"success": False, "isView": False,
                    "error": {"message": f"Create Service error: Failed to create the service "
                                         f"'Hosted/{name}.FeatureServer'. Service name '{name}' already exists."}}
        item_id = uuid.uuid4().hex
        url = f"{emu.base_url}{SERVICES_PREFIX}{name}/FeatureServer"
        now = int(time.time() * 1000)
        tags = [t.strip() for t in params.get("tags", "").split(",") if t.strip()]
        definition = {k: v for k, v in create.items() if k != "name"}
        definition.setdefault("capabilities", "Query")
        definition.setdefault("maxRecordCount", 1000)
        definition["serviceDescription"] = definition.get("serviceDescription", "")
        with emu.lock:
            emu.db.execute("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           (item_id, owner, name, params.get("title") or name, "Feature Service", url,
                            json.dumps(HOSTED_KEYWORDS), json.dumps(tags), params.get("snippet", ""), "private",
                            json.dumps([]), now, now, folder, None))
            emu.db.execute("INSERT INTO services VALUES (?,?,?)", (name, item_id, json.dumps(definition)))
        return {"encodedServiceURL": url, "isView": False, "itemId": item_id, "name": name,
                "serviceItemId": item_id, "serviceurl": url, "size": -1, "success": True,
                "type": "Feature Service", "typeKeywords": list(HOSTED_KEYWORDS)}

    def _touch(self, item_id: str, column: str, value: str) -> None:
        with self.emulator.lock:
            self.emulator.db.execute(f"UPDATE items SET {column} = ?, modified = ? WHERE id = ?",
                                     (value, int(time.time() * 1000), item_id))

    def _item_update(self, item: Dict[str, Any], params: Dict[str, str]) -> Any:
        if "typeKeywords" in params:
            try:
                self._touch(item["id"], "type_keywords", json.dumps(_keywords(params["typeKeywords"])))
            except ValueError:
                raise _bad_request("Unable to update item.", "Invalid typeKeywords.") from None
        if "tags" in params:
            self._touch(item["id"], "tags", json.dumps(_keywords(params["tags"])))
        for key in ("title", "snippet"):
            if key in params:
                self._touch(item["id"], key, params[key])
        if "text" in params:  # the item's data (JSON items: the text itself)
            try:
                json.loads(params["text"] or "{}")
            except ValueError:
                raise _bad_request("Unable to update item.", "Invalid text: not JSON.") from None
            self._touch(item["id"], "data", params["text"])
        if "extent" in params:
            text = params["extent"].strip()
            try:
                if text.startswith("["):
                    box = json.loads(text)
                else:
                    xmin, ymin, xmax, ymax = (float(v) for v in text.split(","))
                    box = [[xmin, ymin], [xmax, ymax]] if text else []
            except ValueError:
                raise _bad_request("Unable to update item.", "Invalid extent.") from None
            self._touch(item["id"], "extent", json.dumps(box))
        return {"success": True, "id": item["id"]}

    def _item_share(self, item: Dict[str, Any], params: Dict[str, str]) -> Any:
        if _bool(params.get("everyone")):
            access = "public"
        elif _bool(params.get("org")):
            access = "org"
        else:
            access = "private"
        self._touch(item["id"], "access", access)
        groups = [g for g in params.get("groups", "").split(",") if g.strip()]
        return {"notSharedWith": groups, "itemId": item["id"]}  # the emulator has no groups

    def _item_delete(self, item: Dict[str, Any], params: Dict[str, str]) -> Any:
        emu = self.emulator
        with emu.lock:
            emu.db.execute("DELETE FROM items WHERE id = ?", (item["id"],))
            emu.db.execute("DELETE FROM services WHERE name = ?", (item["name"],))
            emu.db.execute("DELETE FROM layers WHERE service = ?", (item["name"],))
            emu.db.execute("DELETE FROM features WHERE service = ?", (item["name"],))
        return {"success": True, "itemId": item["id"]}

    # -- the hosted feature service ----------------------------------------------------
    def _service(self, name: str, sub: str, params: Dict[str, str], user: Optional[str], admin: bool) -> Any:
        emu = self.emulator
        user = self._need_user(user)
        rows = emu._rows("SELECT * FROM services WHERE name = ?", name)
        if not rows:
            raise _err({"code": 400, "message": "Service not found or inaccessible.", "details": []})
        service = rows[0]
        item = emu.item(service["item_id"]) or {}
        if item.get("owner") != user and (item.get("access") == "private" or admin):
            raise _err(NO_PERMISSION)
        if admin:
            return self._admin(service, sub, params)
        if sub == "":
            return emu._service_json(service)
        layer_text, _, operation = sub.partition("/")
        if not layer_text.isdigit():
            raise _err(INVALID_URL)
        layer = emu._layer_json(service["name"], int(layer_text))
        if layer is None:
            raise _err({"code": 400, "message": "Invalid or missing input parameters.", "details": ["Invalid URL"]})
        if operation == "":
            return layer
        if operation == "query":
            return self._query(service["name"], layer, params)
        if operation in ("addFeatures", "applyEdits"):
            if self.command != "POST":
                raise _bad_request("Requested operation is not supported by this service.",
                                   "The operation requires POST.")
            if "Create" not in str(layer.get("capabilities", "")):
                raise _bad_request("Requested operation is not supported by this service.",
                                   "The layer does not have the Create capability.")
            key = "features" if operation == "addFeatures" else "adds"
            features = _json_param(params, key) if params.get(key) else []
            results = self._add(service["name"], layer, features, _bool(params.get("rollbackOnFailure"), True))
            if operation == "addFeatures":
                return {"addResults": results}
            return {"addResults": results, "updateResults": [], "deleteResults": []}
        raise _err(INVALID_URL)

    def _admin(self, service: sqlite3.Row, sub: str, params: Dict[str, str]) -> Any:
        emu = self.emulator
        if self.command != "POST":
            raise _bad_request("Unable to update the definition.", "The operation requires POST.")
        if sub == "addToDefinition":
            definition = _json_param(params, "addToDefinition")
            added = []
            with emu.lock:
                for layer in definition.get("layers") or []:
                    ids = [r["layer_id"] for r in emu._rows("SELECT layer_id FROM layers WHERE service = ?",
                                                              service["name"])]
                    layer_id = int(layer.get("id", max(ids) + 1 if ids else 0))
                    if layer_id in ids:
                        raise _bad_request("Unable to add feature service definition.",
                                           f"Layer id {layer_id} already exists.")
                    fields = layer.get("fields") or []
                    if not any(f.get("type") == "esriFieldTypeOID" for f in fields):
                        raise _bad_request("Unable to add feature service definition.",
                                           "The layer has no ObjectID field.")
                    if (emu.state.layer_type_rule == "refuse_oi_type"
                            and layer.get("type") == "Oriented Imagery Layer"):
                        raise _bad_request("Unable to add feature service definition.",
                                           "Layer type 'Oriented Imagery Layer' is not supported.")
                    stored = dict(layer)
                    stored.pop("id", None)
                    emu.db.execute("INSERT INTO layers VALUES (?,?,?)",
                                   (service["name"], layer_id, json.dumps(stored)))
                    added.append({"name": layer.get("name"), "id": layer_id})
            return {"layers": added, "success": True}
        match = re.fullmatch(r"(?:(\d+)/)?updateDefinition", sub)
        if match:
            update = _json_param(params, "updateDefinition")
            with emu.lock:
                if match.group(1) is None:
                    current = json.loads(service["definition"])
                    current.update(update)
                    emu.db.execute("UPDATE services SET definition = ? WHERE name = ?",
                                   (json.dumps(current), service["name"]))
                else:
                    rows = emu._rows("SELECT definition FROM layers WHERE service = ? AND layer_id = ?",
                                     service["name"], int(match.group(1)))
                    if not rows:
                        raise _bad_request("Unable to update the definition.", "Invalid layer id.")
                    current = json.loads(rows[0]["definition"])
                    kind = current.get("type")
                    current.update(update)
                    current["type"] = kind  # a layer's type is set by addToDefinition ...
                    if emu.state.layer_type_rule == "promote_on_update" and update.get("orientedImageryInfo"):
                        current["type"] = "Oriented Imagery Layer"  # ... except on this kind of server
                    emu.db.execute("UPDATE layers SET definition = ? WHERE service = ? AND layer_id = ?",
                                   (json.dumps(current), service["name"], int(match.group(1))))
            return {"success": True}
        raise _err(INVALID_URL)

    def _add(self, service: str, layer: Dict[str, Any], features: Any, rollback: bool) -> List[Dict[str, Any]]:
        emu = self.emulator
        if not isinstance(features, list):
            raise _bad_request("Unable to add features.", "'features' must be an array.")
        fields = {f["name"].lower(): f for f in layer.get("fields") or []}
        results: List[Dict[str, Any]] = []
        rows: List[Tuple[Any, ...]] = []
        for feature in features:
            geometry = (feature or {}).get("geometry") or {}
            attributes = dict((feature or {}).get("attributes") or {})
            problem = None
            if not all(isinstance(geometry.get(k), (int, float)) for k in ("x", "y")):
                problem = (-2147467259, "Invalid geometry: x and y are required.")
            for key in attributes:
                if key.lower() not in fields:
                    problem = problem or (1000, f"Field '{key}' does not exist in the layer.")
            path = attributes.get("ImagePath")
            if not path and "imagepath" in fields and not fields["imagepath"].get("nullable", True):
                problem = problem or (-2147217395, "Setting of Value for ImagePath failed.")
            if isinstance(path, str) and any(s in path for s in emu.state.fail_image_paths):
                problem = problem or (-2147217395, "Setting of Value for ImagePath failed.")
            if problem:
                results.append({"objectId": None, "success": False,
                                "error": {"code": problem[0], "description": problem[1]}})
                rows.append(())
            else:
                results.append({"success": True})
                rows.append((service, layer["id"], geometry["x"], geometry["y"], geometry.get("z"),
                             json.dumps(attributes)))
        if rollback and any(not r["success"] for r in results):
            return [r if not r["success"] else
                    {"objectId": None, "success": False, "error": {"code": 1003,
                                                                   "description": "Operation rolled back."}}
                    for r in results]
        with emu.lock:
            for result, row in zip(results, rows):
                if row:
                    cursor = emu.db.execute("INSERT INTO features(service, layer_id, x, y, z, attributes) "
                                            "VALUES (?,?,?,?,?,?)", row)
                    result["objectId"] = cursor.lastrowid
        return results

    def _query(self, service: str, layer: Dict[str, Any], params: Dict[str, str]) -> Any:
        emu = self.emulator
        try:
            keep = where_predicate(params.get("where", "1=1"))
            rows = [r for r in emu._rows("SELECT * FROM features WHERE service = ? AND layer_id = ? "
                                         "ORDER BY objectid", service, layer["id"])
                    if keep({**json.loads(r["attributes"]), "OBJECTID": r["objectid"]})]
        except ValueError:
            raise _err(QUERY_FAILED) from None
        count_only, extent_only = _bool(params.get("returnCountOnly")), _bool(params.get("returnExtentOnly"))
        if count_only or extent_only:
            answer: Dict[str, Any] = {}
            if count_only:
                answer["count"] = len(rows)
            if extent_only:
                if rows:
                    xs, ys = [r["x"] for r in rows], [r["y"] for r in rows]
                    answer["extent"] = {"xmin": min(xs), "ymin": min(ys), "xmax": max(xs), "ymax": max(ys),
                                        "spatialReference": WGS84}
                else:
                    answer["extent"] = {"xmin": "NaN", "ymin": "NaN", "xmax": "NaN", "ymax": "NaN",
                                        "spatialReference": WGS84}
            return answer
        if _bool(params.get("returnIdsOnly")):
            return {"objectIdFieldName": "OBJECTID", "objectIds": [r["objectid"] for r in rows]}
        offset = int(params.get("resultOffset") or 0)
        limit = min(int(params.get("resultRecordCount") or layer["maxRecordCount"]), layer["maxRecordCount"])
        page = rows[offset:offset + limit]
        out_fields = [f.strip() for f in (params.get("outFields") or "*").split(",") if f.strip()]
        answer = {"objectIdFieldName": "OBJECTID", "globalIdFieldName": "", "geometryType": "esriGeometryPoint",
                  "spatialReference": WGS84, "hasZ": bool(layer.get("hasZ")),
                  "fields": [f for f in layer.get("fields") or []
                             if "*" in out_fields or f["name"].lower() in {o.lower() for o in out_fields}],
                  "features": [emu._feature_json(r, _bool(params.get("returnGeometry"), True), out_fields)
                               for r in page]}
        if offset + limit < len(rows):
            answer["exceededTransferLimit"] = True
        return answer


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this PEM certificate and key")
    parser.add_argument("--token-lifetime", type=float, help="seconds a generated token lives")
    parser.add_argument("--no-publish", action="store_true", help="xpgeo_user lacks publisher privileges")
    args = parser.parse_args()
    emulator = PortalEmulator(port=args.port, tls=tuple(args.tls) if args.tls else None,
                              token_lifetime=args.token_lifetime, user_can_publish=not args.no_publish)
    print(emulator.portal_url, flush=True)
    print(f"user {USER} / {PASSWORD}, API key {API_KEY}", flush=True)
    try:
        emulator.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.httpd.server_close()


if __name__ == "__main__":
    _main()
