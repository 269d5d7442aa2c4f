"""A portal emulator: ArcGIS Enterprise (a portal and its federated hosting server) as
Esri's own clients and XPGEO see it.

A real HTTP(S) server on 127.0.0.1, its state in SQLite, answering in the documented
ArcGIS shapes (``../shared/reference/arcgis-rest.md``, ``esri-clients.md``): errors as
HTTP 200 with an ``error`` body (498 invalid token, 499 token required, 403, 400),
``success: false`` from createService, ``addResults`` per feature, ``notSharedWith``
from share, ``expires`` (epoch ms) on every token. What it accepts is checked by Esri's
clients in the test suite (the ArcGIS API for Python, arcgis-rest-js, the Maps SDK):
``tests/test_oracle_*.py``. It accepts what those clients send: the token as
``X-Esri-Authorization: Bearer``, ``Authorization: Bearer`` or a ``token`` form/query
field; GET or POST for reads; url-encoded or multipart bodies; list parameters as JSON
arrays or comma-joined; CORS preflights from a browser.

Layout::

    <base>/portal/sharing/rest[...]                          the portal (PORTAL_URL = <base>/portal)
    <base>/portal/sharing/oauth2/{authorize,signin}          the OAuth2 sign-in pages
    <base>/server/rest/info                                  the federated hosting server
    <base>/server/rest/services/Hosted/<name>/FeatureServer   hosted feature services
    <base>/server/rest/admin/services/Hosted/<name>/...       their admin twins

Accounts: ``xpgeo_user`` / ``xpgeo_pass`` (Creator, publisher privileges), ``xpgeo_viewer`` /
``xpgeo_pass`` (Viewer), API key ``xpgeo_test_key`` (acts as ``xpgeo_user``); one group,
``GROUP_ID`` ("XPGEO Field Team"), whose members are both users.

Tokens: ``generateToken`` with username/password gives a portal token (bound to its
``referer`` when ``client=referer``); the OAuth2 implicit flow (``client_id=pythonapi``)
gives one too. ``generateToken`` with ``token`` + ``serverUrl`` exchanges a portal token for
a server token, accepted on ``/server/...`` only. The server also accepts portal tokens
and the API key, as a federated server does.

Knobs (keyword arguments, then attributes of :class:`PortalState`, settable at any time):

* ``layer_type_rule``: what happens to a layer's ``type`` (nobody here knows what a live
  server does, so each plausible server is a setting):
  ``"keep"`` (default) the type is what the client sent in addToDefinition ("Feature Layer"
  when it sent none); ``"promote_on_update"`` as keep, and an updateDefinition giving
  ``orientedImageryInfo`` also makes the layer an "Oriented Imagery Layer";
  ``"refuse_oi_type"`` addToDefinition of an "Oriented Imagery Layer" is refused with an
  ArcGIS error, and updateDefinition's ``orientedImageryInfo`` stays on a "Feature Layer";
* ``search_lag``: how many searches a new or changed item stays invisible (or stale) to,
  as the search index lags behind content; None: until :meth:`PortalEmulator.reindex`;
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
* feature attachments (addAttachment, attachment infos and downloads, queryAttachments, deleteAttachments,
  ``uploads/info``) and their knobs (``max_upload_mb``, ``uploads_info``, ``too_large``,
  ``supports_query_attachments``, ``attachment_store``): :mod:`emulators.portal_attachments`, mounted here. A
  feature added to a layer with a GlobalID field gets its GlobalID from the server (``addResults`` says it).

Layers hold points, or polygons (a layer of ``geometryType`` esriGeometryPolygon: the footprint layer).
A polygon is Esri's geometry object: ``rings``, each a closed path of at least 4 points, stored as sent
(projected to the layer's spatial reference) and answered in the asked ``outSR``; a spatial filter keeps
a polygon when one of its vertices passes it, and the extent spans every vertex.

Run on its own: ``python tests/emulators/portal.py --port 0 [--tls CERT KEY]`` prints the
portal URL (the value for ``PORTAL_URL``) as its first line and serves until stopped.
"""

from __future__ import annotations

import argparse
import html
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
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

try:
    from emulators import arcgis_geometry as geo
    from emulators.arcgis_search import SearchSyntaxError, compile_query
    from emulators.loopback import LoopbackServer
    from emulators.portal_attachments import (STORES, TOO_LARGE_RULES, Attachments, Download, Upload,
                                              is_upload)
except ImportError:  # run as a script: python tests/emulators/<name>.py
    import arcgis_geometry as geo  # type: ignore[no-redef]
    from arcgis_search import SearchSyntaxError, compile_query  # type: ignore[no-redef]
    from loopback import LoopbackServer  # type: ignore[no-redef]
    from portal_attachments import (STORES, TOO_LARGE_RULES, Attachments, Download,  # type: ignore[no-redef]
                                    Upload, is_upload)

USER = "xpgeo_user"
VIEWER = "xpgeo_viewer"
PASSWORD = "xpgeo_pass"
API_KEY = "xpgeo_test_key"
ORG_ID = "xPgEoEmU1at0r001"
GROUP_ID = "6a7e0c1d2b3f4a5e8c9d0e1f2a3b4c5d"
USER_IDS = {USER: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", VIEWER: "1a2b3c4d5e6f708192a3b4c5d6e7f809"}
PORTAL_PREFIX = "/portal/sharing/rest"
OAUTH_PREFIXES = ("/portal/sharing/oauth2", "/portal/sharing/rest/oauth2")
SERVICES_PREFIX = "/server/rest/services/Hosted/"
ADMIN_PREFIX = "/server/rest/admin/services/Hosted/"
OAUTH_CLIENTS = {"pythonapi": "ArcGIS API for Python", "arcgisonline": "ArcGIS Online", "arcgisprodesktop": "ArcGIS Pro"}
VIEWER_PRIVILEGES = ["portal:user:joinGroup", "portal:user:viewOrgGroups", "portal:user:viewOrgItems",
                     "portal:user:viewOrgUsers"]
PUBLISHER_PRIVILEGES = VIEWER_PRIVILEGES + [
    "portal:user:createGroup", "portal:user:createItem", "portal:user:shareToGroup", "portal:user:shareToOrg",
    "portal:publisher:publishFeatures", "portal:publisher:publishScenes", "portal:publisher:publishTiles"]
HOSTED_KEYWORDS = ["ArcGIS Server", "Data", "Feature Access", "Feature Service", "Service", "Hosted Service"]
SERVICE_NAME = re.compile(r"^[A-Za-z0-9_]+$")
WGS84 = geo.WGS84
OI_LAYER = "Oriented Imagery Layer"
LAYER_TYPES = ("Feature Layer", "Table", OI_LAYER)
LAYER_TYPE_RULES = ("keep", "promote_on_update", "refuse_oi_type")
CORS_HEADERS = "Authorization, X-Esri-Authorization, Content-Type, X-Requested-With, Cache-Control, Range"

INVALID_TOKEN = {"code": 498, "message": "Invalid token.", "details": []}
TOKEN_REQUIRED = {"code": 499, "message": "Token Required", "messageCode": "GWM_0003", "details": ["Token Required"]}
NO_PERMISSION = {"code": 403, "message": "You do not have permissions to access this resource or perform this "
                                        "operation.", "details": []}
NO_ITEM = {"code": 400, "messageCode": "CONT_0001", "message": "Item does not exist or is inaccessible.",
           "details": []}
NO_USER = {"code": 400, "messageCode": "COM_0003", "message": "User does not exist or is inaccessible.",
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
    layer_type_rule: str = "keep"
    search_lag: Optional[int] = 0
    token_lifetime: Optional[float] = None
    user_can_publish: bool = True
    taken_names: Set[str] = field(default_factory=set)
    faults: Dict[str, Dict[int, str]] = field(default_factory=dict)
    fail_image_paths: Set[str] = field(default_factory=set)
    max_upload_mb: float = 2000
    uploads_info: bool = True
    too_large: str = "edit_error"
    supports_query_attachments: bool = True
    attachment_store: str = "disk"
    current_version: str = "2024.1"
    enterprise_version: Optional[str] = "11.3.0"
    enterprise_build: Optional[str] = "51575"
    down: bool = False
    requests: List[Recorded] = field(default_factory=list)
    calls: Dict[str, int] = field(default_factory=dict)
    issued_tokens: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.layer_type_rule not in LAYER_TYPE_RULES:
            raise ValueError(f"layer_type_rule must be one of {LAYER_TYPE_RULES}, not {self.layer_type_rule!r}")
        if self.too_large not in TOO_LARGE_RULES:
            raise ValueError(f"too_large must be one of {TOO_LARGE_RULES}, not {self.too_large!r}")
        if self.attachment_store not in STORES:
            raise ValueError(f"attachment_store must be one of {STORES}, not {self.attachment_store!r}")


class _Reply(Exception):
    """Raised by a route to answer at once (an ArcGIS error body, usually)."""

    def __init__(self, body: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__("reply")
        self.body = body
        self.status = status
        self.headers = headers or {}


def _err(error: Dict[str, Any]) -> _Reply:
    return _Reply({"error": error})


def _bad_request(message: str, *details: str) -> _Reply:
    return _err({"code": 400, "message": message, "details": list(details)})


# -- the where clause ------------------------------------------------------------------
_LITERAL = re.compile(r"\s*(?:'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?))\s*(,|$)", re.S)
_SPLIT = re.compile(r"'(?:[^']|'')*'|\(|\)|\b(?:AND|OR)\b", re.I)


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


def _top_level(text: str, word: str) -> List[str]:
    """*text* split on AND (or OR) outside quotes and parentheses."""
    parts, depth, start = [], 0, 0
    for match in _SPLIT.finditer(text):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif token.upper() == word and depth == 0:
            parts.append(text[start:match.start()])
            start = match.end()
    parts.append(text[start:])
    return parts


def _closes_at_end(text: str) -> bool:
    """Whether the parenthesis opening *text* is the one closing it (``(a OR b)``, not ``(a) OR (b)``)."""
    depth = 0
    for match in _SPLIT.finditer(text):
        depth += {"(": 1, ")": -1}.get(match.group(0), 0)
        if depth == 0:
            return match.end() == len(text)
    return False


def where_predicate(where: str) -> Callable[[Dict[str, Any]], bool]:
    """The SQL subset hosted-layer clients use: ``1=1``, ``F IN (...)``, ``F = 'x'``, ``F LIKE 'x%'``
    (``%`` any run, ``_`` any one character; case-insensitive, as ArcGIS Online's hosted layers),
    ``F <op> number``, ``F IS [NOT] NULL``, joined by AND / OR, in parentheses. Field names
    are case-insensitive, as in ArcGIS."""
    text = (where or "").strip()

    def get(row: Dict[str, Any], name: str) -> Any:
        for key, value in row.items():
            if key.lower() == name.lower():
                return value
        raise ValueError(f"unknown field {name}")

    if not text or re.fullmatch(r"1\s*=\s*1", text):
        return lambda row: True
    ors = _top_level(text, "OR")
    if len(ors) > 1:
        tests = [where_predicate(p) for p in ors]
        return lambda row: any(t(row) for t in tests)
    ands = _top_level(text, "AND")
    if len(ands) > 1:
        tests = [where_predicate(p) for p in ands]
        return lambda row: all(t(row) for t in tests)
    if text.startswith("(") and text.endswith(")") and _closes_at_end(text):
        return where_predicate(text[1:-1])
    match = re.fullmatch(r"(\w+)\s+(NOT\s+)?IN\s*\((.*)\)", text, re.I | re.S)
    if match:
        name, negate, values = match.group(1), bool(match.group(2)), _literals(match.group(3))

        def within(row: Dict[str, Any]) -> bool:
            value = get(row, name)
            value = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
            return (value in values) != negate
        return within
    match = re.fullmatch(r"(\w+)\s+IS\s+(NOT\s+)?NULL", text, re.I)
    if match:
        name, negate = match.group(1), bool(match.group(2))
        return lambda row: (get(row, name) is None) != negate
    match = re.fullmatch(r"(\w+)\s+(NOT\s+)?LIKE\s*'((?:[^']|'')*)'", text, re.I | re.S)
    if match:
        name, negate = match.group(1), bool(match.group(2))
        pattern = re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c)
                                     for c in match.group(3).replace("''", "'")), re.I | re.S)
        return lambda row: (isinstance(get(row, name), str) and pattern.fullmatch(get(row, name)) is not None) != negate
    match = re.fullmatch(r"(\w+)\s*(=|<>|!=)\s*'((?:[^']|'')*)'", text, re.S)
    if match:
        name, op, value = match.group(1), match.group(2), match.group(3).replace("''", "'")
        return lambda row: (get(row, name) == value) == (op == "=")
    match = re.fullmatch(r"(\w+)\s*(>=|<=|<>|!=|=|>|<)\s*(-?\d+(?:\.\d+)?)", text)
    if match:
        name, op, number = match.group(1), match.group(2), float(match.group(3))
        ops = {">=": float.__ge__, "<=": float.__le__, "=": float.__eq__, ">": float.__gt__, "<": float.__lt__,
               "<>": float.__ne__, "!=": float.__ne__}
        return lambda row: get(row, name) is not None and ops[op](float(get(row, name)), number)
    raise ValueError("unsupported where clause")


# -- parameters ------------------------------------------------------------------------
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


def _list_param(text: Optional[str]) -> List[str]:
    """A list parameter as clients send it: a JSON array string (the Python API's
    ``typeKeywords``, ``items``) or comma-joined (arcgis-rest-js, the Python API's ``tags``)."""
    text = (text or "").strip()
    if text.startswith("["):
        values = json.loads(text)
        if not isinstance(values, list):
            raise ValueError("not a list")
        return [str(v).strip() for v in values if str(v).strip()]
    return [v.strip() for v in text.split(",") if v.strip()]


_keywords = _list_param  # the name older tests and callers know


def _page(results: List[Any], params: Dict[str, str], failure: str) -> Tuple[Dict[str, int], List[Any]]:
    """``start`` (1-based) and ``num`` (at most 100) paging, as search and user content do it."""
    try:
        num = min(max(int(params.get("num") or 10), 0), 100)
        start = max(int(params.get("start") or 1), 1)
    except ValueError:
        raise _bad_request(failure, "'num' and 'start' must be integers.") from None
    page = results[start - 1:start - 1 + num]
    next_start = start + len(page) if start - 1 + num < len(results) else -1
    return {"total": len(results), "start": start, "num": num, "nextStart": next_start}, page


def _wkid_answer(params: Dict[str, str], name: str, default: int) -> int:
    try:
        return geo.wkid_of(params.get(name), default)
    except geo.GeometryError as exc:
        raise _bad_request("Unable to complete operation.", str(exc)) from None


class PortalEmulator(LoopbackServer):
    """``with PortalEmulator(**knobs) as portal: portal.portal_url``; state via the methods below."""

    def __init__(self, *, port: int = 0, tls: Optional[Tuple[str, str]] = None, **knobs: Any) -> None:
        self.state = PortalState(**knobs)
        self.lock = threading.RLock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.executescript("""
            CREATE TABLE tokens(token TEXT PRIMARY KEY, username TEXT, referer TEXT, expires REAL, audience TEXT);
            CREATE TABLE items(id TEXT PRIMARY KEY, owner TEXT, name TEXT, title TEXT, type TEXT, url TEXT,
                               type_keywords TEXT, tags TEXT, snippet TEXT, access TEXT, extent TEXT,
                               created INTEGER, modified INTEGER, folder TEXT, description TEXT, data TEXT);
            CREATE TABLE folders(id TEXT PRIMARY KEY, owner TEXT, title TEXT, created INTEGER);
            CREATE TABLE groups(id TEXT PRIMARY KEY, title TEXT, owner TEXT, access TEXT);
            CREATE TABLE members(group_id TEXT, username TEXT, PRIMARY KEY(group_id, username));
            CREATE TABLE item_groups(item_id TEXT, group_id TEXT, PRIMARY KEY(item_id, group_id));
            CREATE TABLE services(name TEXT PRIMARY KEY COLLATE NOCASE, item_id TEXT, definition TEXT);
            CREATE TABLE layers(service TEXT COLLATE NOCASE, layer_id INTEGER, definition TEXT,
                                PRIMARY KEY(service, layer_id));
            CREATE TABLE features(seq INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT COLLATE NOCASE,
                                  layer_id INTEGER, objectid INTEGER, x REAL, y REAL, z REAL, attributes TEXT,
                                  rings TEXT);
            CREATE INDEX features_by_id ON features(service, layer_id, objectid);
        """)
        self.db.execute("INSERT INTO groups VALUES (?,?,?,?)", (GROUP_ID, "XPGEO Field Team", USER, "org"))
        self.attachments = Attachments(self)  # tests/emulators/portal_attachments.py
        self.where_predicate = where_predicate
        self.db.executemany("INSERT INTO members VALUES (?,?)", [(GROUP_ID, USER), (GROUP_ID, VIEWER)])
        self.oauth_states: Dict[str, Dict[str, str]] = {}
        self.search_index: Dict[str, Dict[str, Any]] = {}  # what search sees: item id -> item JSON + groups
        self.index_pending: Dict[str, List[Any]] = {}  # item id -> [searches still to wait, JSON or None]
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

    @property
    def server_url(self) -> str:
        """The federated hosting server's root (what ``generateToken``'s ``serverUrl`` names)."""
        return self.base_url + "/server"

    def stop(self) -> None:
        super().stop()
        self.attachments.close()

    @staticmethod
    def reply(body: Any, status: int = 200) -> Exception:
        """The exception a route raises to answer at once (for the mounted attachments module)."""
        return _Reply(body, status)

    # -- state, for tests --------------------------------------------------------------
    def _rows(self, sql: str, *args: Any) -> List[sqlite3.Row]:
        with self.lock:
            return list(self.db.execute(sql, args))

    def items(self) -> List[Dict[str, Any]]:
        return [self._item_json(r) for r in self._rows("SELECT * FROM items ORDER BY created, rowid")]

    def item(self, item_id: str) -> Optional[Dict[str, Any]]:
        rows = self._rows("SELECT * FROM items WHERE id = ?", item_id)
        return self._item_json(rows[0]) if rows else None

    def item_by_name(self, name: str) -> Optional[Dict[str, Any]]:
        rows = self._rows("SELECT * FROM items WHERE name = ? COLLATE NOCASE", name)
        return self._item_json(rows[0]) if rows else None

    def item_data(self, item_id: str) -> Any:
        rows = self._rows("SELECT data FROM items WHERE id = ?", item_id)
        if not rows or rows[0]["data"] is None:
            return None
        try:
            return json.loads(rows[0]["data"])
        except ValueError:
            return rows[0]["data"]

    def item_groups(self, item_id: str) -> List[str]:
        return [r["group_id"] for r in self._rows("SELECT group_id FROM item_groups WHERE item_id = ? "
                                                   "ORDER BY group_id", item_id)]

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

    def reindex(self) -> None:
        """Bring the search index up to date at once (the end of any index lag)."""
        with self.lock:
            for item_id, (_, snapshot) in list(self.index_pending.items()):
                self._apply_index(item_id, snapshot)
            self.index_pending.clear()

    # -- the search index --------------------------------------------------------------
    def _changed(self, item_id: str) -> None:
        """An item was made, changed or deleted: search sees it after ``search_lag`` searches."""
        with self.lock:
            rows = self._rows("SELECT * FROM items WHERE id = ?", item_id)
            snapshot = None
            if rows:
                snapshot = self._item_json(rows[0])
                snapshot["groups"] = self.item_groups(item_id)
            lag = self.state.search_lag
            if lag == 0:
                self.index_pending.pop(item_id, None)
                self._apply_index(item_id, snapshot)
            else:
                self.index_pending[item_id] = [lag, snapshot]

    def _apply_index(self, item_id: str, snapshot: Optional[Dict[str, Any]]) -> None:
        if snapshot is None:
            self.search_index.pop(item_id, None)
        else:
            self.search_index[item_id] = snapshot

    def _searchable(self) -> List[Dict[str, Any]]:
        with self.lock:
            for item_id, entry in list(self.index_pending.items()):
                if entry[0] is None:
                    continue
                if entry[0] <= 0:
                    self._apply_index(item_id, entry[1])
                    del self.index_pending[item_id]
                else:
                    entry[0] -= 1
            return sorted(self.search_index.values(), key=lambda i: (i["created"], i["id"]))

    # -- JSON views --------------------------------------------------------------------
    def _item_json(self, row: sqlite3.Row) -> Dict[str, Any]:
        return {"id": row["id"], "owner": row["owner"], "orgId": ORG_ID, "name": row["name"], "title": row["title"],
                "type": row["type"], "typeKeywords": json.loads(row["type_keywords"]),
                "description": row["description"], "tags": json.loads(row["tags"]), "snippet": row["snippet"],
                "url": row["url"], "access": row["access"], "extent": json.loads(row["extent"]),
                "spatialReference": None, "accessInformation": None, "licenseInfo": None, "culture": "en-us",
                "created": row["created"], "modified": row["modified"], "ownerFolder": row["folder"],
                "isOrgItem": True, "protected": False, "numViews": 0, "size": -1}

    def _service_json(self, row: sqlite3.Row) -> Dict[str, Any]:
        definition = json.loads(row["definition"])
        layers, tables = [], []
        for layer in self._rows("SELECT layer_id FROM layers WHERE service = ? ORDER BY layer_id", row["name"]):
            full = self._layer_json(row["name"], layer["layer_id"]) or {}
            entry = {"id": full.get("id"), "name": full.get("name"), "parentLayerId": -1, "defaultVisibility": True,
                     "subLayerIds": None, "minScale": 0, "maxScale": 0, "type": full.get("type")}
            if full.get("type") == "Table":
                tables.append(entry)
            else:
                entry["geometryType"] = full.get("geometryType")
                layers.append(entry)
        definition.update({"currentVersion": 11.3, "serviceItemId": row["item_id"], "layers": layers,
                           "tables": tables, "hasVersionedData": False, "supportsDisconnectedEditing": False,
                           "supportedQueryFormats": "JSON", "hasStaticData": definition.get("hasStaticData", False)})
        definition.setdefault("spatialReference", dict(WGS84))
        return definition

    def _layer_wkid(self, service_def: Dict[str, Any]) -> int:
        try:
            return geo.wkid_of(service_def.get("spatialReference"), 4326)
        except geo.GeometryError:
            return 4326

    def _layer_json(self, service: str, layer_id: int) -> Optional[Dict[str, Any]]:
        rows = self._rows("SELECT l.definition, s.definition AS sdef FROM layers l JOIN services s "
                          "ON s.name = l.service WHERE l.service = ? AND l.layer_id = ?", service, layer_id)
        if not rows:
            return None
        layer = json.loads(rows[0]["definition"])
        service_def = json.loads(rows[0]["sdef"])
        layer["id"] = layer_id
        layer.setdefault("type", "Feature Layer")  # the type the client sent (the layer_type_rule applied)
        layer["currentVersion"] = 11.3
        layer.setdefault("maxRecordCount", service_def.get("maxRecordCount", 1000))
        layer["capabilities"] = service_def.get("capabilities", "Query")
        oid = next((f["name"] for f in layer.get("fields") or [] if f.get("type") == "esriFieldTypeOID"), "OBJECTID")
        layer.setdefault("objectIdField", oid)
        layer.setdefault("globalIdField", "")
        layer.setdefault("displayField", "")
        layer.setdefault("hasM", False)
        layer.setdefault("hasAttachments", False)
        layer.setdefault("supportedQueryFormats", "JSON")
        layer.setdefault("supportsAdvancedQueries", True)
        layer.setdefault("supportsStatistics", False)
        layer.setdefault("useStandardizedQueries", True)
        layer.setdefault("standardMaxRecordCount", layer["maxRecordCount"])
        layer.setdefault("isDataVersioned", False)
        layer.setdefault("supportsRollbackOnFailureParameter", True)
        layer.setdefault("advancedQueryCapabilities", {}).update({
            "supportsReturningQueryExtent": True, "supportsPagination": True, "supportsOrderBy": True,
            "supportsDistinct": False, "supportsQueryWithDistance": True, "supportsCountDistinct": False,
            "supportsTrueCurve": False, "supportsQueryWithResultType": False, "supportsSqlExpression": False})
        if "extent" not in layer:
            layer["extent"] = service_def.get("fullExtent") or service_def.get("initialExtent")
        gid = next((f["name"] for f in layer.get("fields") or [] if f.get("type") == "esriFieldTypeGlobalID"), "")
        if gid:
            layer["globalIdField"] = gid
        self.attachments.describe(layer)
        layer["serviceItemId"] = self._rows("SELECT item_id FROM services WHERE name = ?", service)[0]["item_id"]
        return layer

    @staticmethod
    def _feature_json(row: sqlite3.Row, geometry: bool, out_fields: Optional[List[str]] = None,
                      z: bool = True, wkid: Tuple[int, int] = (4326, 4326)) -> Dict[str, Any]:
        attributes = json.loads(row["attributes"])
        attributes["OBJECTID"] = row["objectid"]
        if out_fields is not None and "*" not in out_fields:
            wanted = {f.lower() for f in out_fields} | {"objectid"}
            attributes = {k: v for k, v in attributes.items() if k.lower() in wanted}
        feature: Dict[str, Any] = {"attributes": attributes}
        if geometry and row["rings"] is not None:  # a polygon: its rings, as stored, in the asked reference
            feature["geometry"] = {"rings": [[list(geo.project(p[0], p[1], wkid[0], wkid[1])) for p in ring]
                                             for ring in json.loads(row["rings"])]}
        elif geometry:
            x, y = geo.project(row["x"], row["y"], wkid[0], wkid[1])
            feature["geometry"] = {"x": x, "y": y}
            if z and row["z"] is not None:
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
        groups = [self._group_json(r) for r in self._rows(
            "SELECT g.* FROM groups g JOIN members m ON m.group_id = g.id WHERE m.username = ?", username)]
        return {"username": username, "id": USER_IDS.get(username, uuid.uuid5(uuid.NAMESPACE_DNS, username).hex),
                "fullName": username.replace("_", " ").title(), "orgId": ORG_ID, "role": role, "roleId": None,
                "level": "2", "userLicenseTypeId": kind, "privileges": list(privileges), "access": "org",
                "provider": "arcgis", "culture": "en-us", "region": None, "units": "metric",
                "created": 1700000000000, "modified": 1700000000000, "groups": groups}

    def _group_json(self, row: sqlite3.Row) -> Dict[str, Any]:
        return {"id": row["id"], "title": row["title"], "owner": row["owner"], "access": row["access"],
                "isInvitationOnly": True, "isViewOnly": False, "protected": False, "tags": [], "snippet": None}

    def issue_token(self, username: str, referer: Optional[str], minutes: float,
                    audience: str = "portal") -> Tuple[str, int]:
        """A token for *username*; ``audience`` "server" makes a federated server's token."""
        lifetime = self.state.token_lifetime if self.state.token_lifetime is not None else minutes * 60
        expires = time.time() + lifetime
        token = ("emu." if audience == "portal" else "emusrv.") + secrets.token_urlsafe(24)
        with self.lock:
            self.db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?)", (token, username, referer, expires, audience))
            self.state.issued_tokens.append(token)
        return token, int(expires * 1000)

    def token_row(self, token: str) -> Optional[sqlite3.Row]:
        rows = self._rows("SELECT * FROM tokens WHERE token = ?", token)
        return rows[0] if rows else None

    def caller(self, token: Optional[str], referer: Optional[str], side: str = "portal") -> Optional[str]:
        """The user a token stands for; raises the 498 reply for a bad token. A server token
        is good on the server *side* only; portal tokens and the API key on both."""
        if not token:
            return None
        if token == API_KEY:
            return USER
        row = self.token_row(token)
        if row is None or row["expires"] <= time.time():
            raise _err(INVALID_TOKEN)
        if row["referer"] and row["referer"] != referer:
            raise _err(INVALID_TOKEN)  # a referer-bound token used from elsewhere
        if row["audience"] == "server" and side != "server":
            raise _err(INVALID_TOKEN)
        return row["username"]


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

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        """A browser's CORS preflight: what any origin may send (ArcGIS answers every origin
        unless the org limits ``allowedOrigins``)."""
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self._cors_headers()
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers",
                         self.headers.get("Access-Control-Request-Headers") or CORS_HEADERS)
        self.send_header("Access-Control-Max-Age", "86400")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _cors_headers(self) -> None:
        origin = self.headers.get("Origin")
        if origin:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Vary", "Origin")
        else:
            self.send_header("Access-Control-Allow-Origin", "*")

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

    def _send(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> None:
        if isinstance(body, Download):
            return self._send_file(body)
        if isinstance(body, bytes):
            data, content_type = body, "text/html; charset=utf-8"
        else:
            data, content_type = json.dumps(body).encode("utf-8"), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self._cors_headers()
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_file(self, download: Download) -> None:
        """An attachment's bytes, streamed from disk (never whole in memory)."""
        self.send_response(200)
        self.send_header("Content-Type", download.content_type)
        self.send_header("Content-Length", str(download.size))
        self.send_header("Content-Disposition", "inline; filename=\"%s\"" % quote(download.name))
        self._cors_headers()
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(download.path, "rb") as source:
            while True:
                data = source.read(1 << 20)
                if not data:
                    break
                self.wfile.write(data)

    def layer_url(self, service: sqlite3.Row, layer: Dict[str, Any]) -> str:
        return f"{self.emulator.base_url}{SERVICES_PREFIX}{service['name']}/FeatureServer/{layer['id']}"

    def _token(self, params: Dict[str, str]) -> Optional[str]:
        for header in ("X-Esri-Authorization", "Authorization"):
            value = self.headers.get(header, "")
            if value.lower().startswith("bearer "):
                return value[7:].strip()
        return params.get("token") or None

    def _handle(self) -> None:
        emu = self.emulator
        length = int(self.headers.get("Content-Length") or 0)
        path = unquote(urlsplit(self.path).path).rstrip("/")
        self.upload: Optional[Upload] = None
        if is_upload(path) and length and self.headers.get("Content-Type", "").startswith("multipart/form-data"):
            # A file: read as a stream into the attachments folder; only its small fields are kept as the body.
            try:
                self.upload = emu.attachments.read_upload(self.rfile, length, self.headers["Content-Type"])
            except ValueError as exc:
                self.close_connection = True  # what is left of the body is not read
                return self._send(200, {"error": {"code": 400, "message": "Unable to add attachment.",
                                                  "details": [str(exc)]}})
            params = {k: v for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}
            params = {k: v[-1] for k, v in params.items()}
            params.update(self.upload.fields)
            body = urlencode(self.upload.fields).encode("utf-8")
        else:
            body = self.rfile.read(length) if length else b""
            try:
                params = self._read_params(body)
            except (ValueError, UnicodeDecodeError):
                params = {}
        try:
            self._answer(path, body, params)
        finally:
            if self.upload is not None:
                self.upload.discard()  # kept only if a route took it

    def _answer(self, path: str, body: bytes, params: Dict[str, str]) -> None:
        emu = self.emulator
        state = emu.state
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
        headers: Dict[str, str] = {}
        try:
            status, answer = 200, self._route(path, params)
        except _Reply as reply:
            status, answer, headers = reply.status, reply.body, reply.headers
        if fault == "drop_after":
            return self._drop()
        self._send(status, answer, headers)

    # -- routing -----------------------------------------------------------------------
    def _route(self, path: str, params: Dict[str, str]) -> Any:
        emu = self.emulator
        for prefix in OAUTH_PREFIXES:
            if path.startswith(prefix + "/"):
                return self._oauth(path[len(prefix) + 1:], params)
        side = "server" if path.startswith("/server/") else "portal"
        user = emu.caller(self._token(params), self.headers.get("Referer"), side)
        if path == PORTAL_PREFIX or path.startswith(PORTAL_PREFIX + "/"):
            return self._sharing(path[len(PORTAL_PREFIX):], params, user)
        if path == "/server/rest/info":
            return {"currentVersion": 11.3, "fullVersion": "11.3.0", "owningSystemUrl": emu.portal_url,
                    "owningTenant": ORG_ID,
                    "authInfo": {"isTokenBasedSecurity": True, "shortLivedTokenValidity": 60,
                                 "tokenServicesUrl": emu.portal_url + "/sharing/rest/generateToken"}}
        if path == "/server/rest/services/Hosted":
            self._need_user(user)
            return {"currentVersion": 11.3, "folders": [], "services": [
                {"name": "Hosted/" + n, "type": "FeatureServer"} for n in emu.service_names()]}
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

    # -- OAuth2: the sign-in pages (authorize, then signin) -------------------------------
    def _oauth(self, sub: str, params: Dict[str, str]) -> Any:
        """The implicit grant the ArcGIS API for Python's built-in sign-in uses:
        ``authorize`` answers a page holding ``oAuthInfo`` (one line of JSON with
        ``oauth_state``); ``signin`` checks the credentials and answers 302 to the
        https ``redirect_uri`` with ``#access_token=…&expires_in=…&state=…``."""
        emu = self.emulator
        if sub == "authorize":
            client_id = params.get("client_id", "")
            redirect = params.get("redirect_uri", "")
            if client_id not in OAUTH_CLIENTS:
                return self._oauth_page(error="Invalid client_id")
            if not self._redirect_ok(redirect):
                return self._oauth_page(error="Invalid redirect_uri")
            if params.get("response_type", "token") not in ("token", "code"):
                return self._oauth_page(error="Invalid response_type")
            oauth_state = secrets.token_urlsafe(32)
            with emu.lock:
                emu.oauth_states[oauth_state] = {"client_id": client_id, "redirect_uri": redirect,
                                                 "state": params.get("state", ""),
                                                 "expiration": params.get("expiration", "120"),
                                                 "response_type": params.get("response_type", "token")}
            return self._oauth_page(info={"oauth_state": oauth_state, "client_id": client_id,
                                          "appTitle": OAUTH_CLIENTS[client_id], "locale": params.get("locale", "en"),
                                          "orgId": ORG_ID, "persistOption": True, "isMfaRecoveryCodeEnabled": False})
        if sub == "signin":
            if self.command != "POST":
                return self._oauth_page(error="Sign in must use POST")
            with emu.lock:
                pending = emu.oauth_states.get(params.get("oauth_state", ""))
            if pending is None:
                return self._oauth_page(error="Invalid oauth_state")
            username, password = params.get("username", ""), params.get("password", "")
            if username not in (USER, VIEWER) or password != PASSWORD:
                return self._oauth_page(error="Invalid username or password.",
                                        info={"oauth_state": params["oauth_state"],
                                              "client_id": pending["client_id"]})
            with emu.lock:
                emu.oauth_states.pop(params["oauth_state"], None)
            try:
                minutes = float(params.get("expiration") or pending["expiration"] or 120)
            except ValueError:
                minutes = 120.0
            token, expires = emu.issue_token(username, None, minutes)
            expires_in = max(1, int(round(expires / 1000 - time.time())))
            answer = {"access_token": token, "expires_in": str(expires_in), "username": username,
                      "ssl": "true" if emu.scheme == "https" else "false", "state": pending["state"]}
            location = pending["redirect_uri"] + "#" + urlencode(answer, quote_via=quote)
            raise _Reply(b"", status=302, headers={"Location": location})
        raise _err(INVALID_URL)

    def _redirect_ok(self, redirect: str) -> bool:
        """The built-in apps' redirect: the out-of-band URN or an https URL on this portal's host."""
        if redirect == "urn:ietf:wg:oauth:2.0:oob":
            return True
        parts = urlsplit(redirect)
        return parts.scheme == "https" and parts.netloc == urlsplit(self.emulator.base_url).netloc

    def _oauth_page(self, error: Optional[str] = None, info: Optional[Dict[str, Any]] = None) -> bytes:
        lines = ["<!DOCTYPE html>", "<html><head><title>Sign In</title></head><body>"]
        if info is not None:
            lines.append("<script>")
            lines.append("var oAuthInfo = " + json.dumps(info) + ";")
            lines.append("</script>")
        if error:
            lines.append(f'<div class="error">{html.escape(error)}</div>')
        lines.append('<form method="post" action="signin"><input name="username"><input name="password" '
                     'type="password"><input type="hidden" name="oauth_state"></form>')
        lines.append("</body></html>")
        return "\n".join(lines).encode("utf-8")

    # -- sharing/rest ------------------------------------------------------------------
    def _sharing(self, sub: str, params: Dict[str, str], user: Optional[str]) -> Any:
        emu = self.emulator
        if sub == "":
            return {"currentVersion": emu.state.current_version}
        if sub == "/info":
            return {"owningSystemUrl": emu.portal_url,
                    "authInfo": {"tokenServicesUrl": emu.portal_url + "/sharing/rest/generateToken",
                                 "isTokenBasedSecurity": True}}
        if sub == "/generateToken":
            return self._generate_token(params)
        if sub == "/portals/self":
            return self._portal_self(user)
        if re.fullmatch(r"/portals/[^/]+/isServiceNameAvailable", sub):
            self._need_user(user)
            name = params.get("name", "")
            taken = name.lower() in {n.lower() for n in emu.state.taken_names} or bool(
                emu._rows("SELECT 1 FROM services WHERE name = ?", name))
            return {"available": not taken}
        if re.fullmatch(r"/portals/[^/]+/roles", sub):
            self._need_user(user)
            return {"total": 0, "start": 1, "num": 0, "nextStart": -1, "roles": []}
        if re.fullmatch(r"/portals/[^/]+/servers", sub):
            self._need_user(user)
            return {"servers": [{"id": "xPgEoHoStInG0001", "name": urlsplit(emu.base_url).netloc,
                                 "url": emu.server_url, "adminUrl": emu.server_url, "isHosted": True,
                                 "serverType": "ArcGIS", "serverRole": "HOSTING_SERVER",
                                 "serverFunction": ""}]}
        if re.fullmatch(r"/portals/[^/]+/servers/computePrivateServiceUrl", sub):
            self._need_user(user)
            url = params.get("serviceUrl") or params.get("serviceURL") or ""
            return {"privateServiceUrl": url}
        if sub == "/community/self":
            return emu.user_json(self._need_user(user))
        match = re.fullmatch(r"/community/users/([^/]+)", sub)
        if match:
            return self._community_user(match.group(1), user)
        match = re.fullmatch(r"/community/groups/([0-9a-f]+)", sub)
        if match:
            rows = emu._rows("SELECT * FROM groups WHERE id = ?", match.group(1))
            if not rows or not user:
                raise _err({"code": 400, "messageCode": "COM_0007",
                            "message": "Group does not exist or is inaccessible.", "details": []})
            return emu._group_json(rows[0])
        if sub == "/search":
            return self._search(params, user)
        match = re.fullmatch(r"/content/items/([0-9a-f]+)(?:/(data|groups|share))?", sub)
        if match:
            item = self._readable_item(match.group(1), user)
            if match.group(2) is None:
                return item
            if match.group(2) == "data":
                data = emu.item_data(item["id"])
                return {} if data is None else data
            if match.group(2) == "groups":
                return self._groups_of(item, user)
            return self._share_via_item(item, params, user)
        match = re.fullmatch(r"/content/users/([^/]+)(?:/([0-9a-f]+))?", sub)
        if match:
            return self._user_content(match.group(1), match.group(2), params, user)
        match = re.fullmatch(r"/content/users/([^/]+)/createFolder", sub)
        if match:
            return self._create_folder(match.group(1), params, user)
        match = re.fullmatch(r"/content/users/([^/]+)/([0-9a-f]+)/delete", sub)
        if match:
            return self._delete_folder(match.group(1), match.group(2), user)
        match = re.fullmatch(r"/content/users/([^/]+)/shareItems", sub)
        if match:
            return self._share_items(match.group(1), params, user)
        match = re.fullmatch(r"/content/users/([^/]+)(?:/([0-9a-f]+))?/createService", sub)
        if match:
            return self._create_service(match.group(1), match.group(2), params, user)
        match = re.fullmatch(r"/content/users/([^/]+)(?:/([^/]+))?/items/([0-9a-f]+)/(update|share|delete|move)",
                             sub)
        if match:
            owner, item_id, action = match.group(1), match.group(3), match.group(4)
            if self._need_user(user) != owner:
                raise _err(NO_PERMISSION)
            item = emu.item(item_id)
            if item is None or item["owner"] != owner:
                raise _err(NO_ITEM)
            if self.command != "POST":
                raise _bad_request(f"Unable to {action} item.", "The operation requires POST.")
            return getattr(self, "_item_" + action)(item, params)
        raise _err(INVALID_URL)

    def _portal_self(self, user: Optional[str]) -> Dict[str, Any]:
        emu = self.emulator
        answer = {"id": ORG_ID, "name": "XPGEO Emulated Portal", "urlKey": "xpgeo", "isPortal": True,
                  "portalName": "ArcGIS Enterprise", "portalMode": "multitenant",
                  "currentVersion": emu.state.current_version, "supportsHostedServices": True,
                  "allSSL": emu.scheme == "https", "portalHostname": urlsplit(emu.base_url).netloc + "/portal",
                  "authorizedCrossOriginDomains": [], "helperServices": {}, "culture": "en", "units": "metric"}
        if emu.state.enterprise_version:
            answer["enterpriseVersion"] = emu.state.enterprise_version
        if emu.state.enterprise_build:
            answer["enterpriseBuild"] = emu.state.enterprise_build
        if user:
            answer["user"] = emu.user_json(user)
        return answer

    def _community_user(self, username: str, user: Optional[str]) -> Dict[str, Any]:
        """A user's profile: everything for oneself; others (in the org) without privileges."""
        if username not in USER_IDS or not user:
            raise _err(NO_USER)
        profile = self.emulator.user_json(username)
        if username != user:
            for private in ("privileges", "groups", "userLicenseTypeId", "role", "roleId", "level"):
                profile.pop(private, None)
        return profile

    def _readable_item(self, item_id: str, user: Optional[str]) -> Dict[str, Any]:
        emu = self.emulator
        item = emu.item(item_id)
        if item is None:
            raise _err(NO_ITEM)
        if item["owner"] == user or item["access"] == "public" or (item["access"] == "org" and user):
            return item
        if user and item["access"] == "shared" and set(emu.item_groups(item_id)) & self._member_of(user):
            return item
        raise _err(NO_ITEM)

    def _member_of(self, user: Optional[str]) -> Set[str]:
        if not user:
            return set()
        return {r["group_id"] for r in self.emulator._rows("SELECT group_id FROM members WHERE username = ?", user)}

    def _generate_token(self, params: Dict[str, str]) -> Any:
        emu = self.emulator
        if self.command != "POST":
            raise _bad_request("Unable to generate token.", "Token requests must use POST.")
        try:
            minutes = float(params.get("expiration") or 60)
        except ValueError:
            minutes = 60.0
        server_url = next((v for k, v in params.items() if k.lower() == "serverurl"), "")
        if params.get("token") and server_url:
            return self._server_token(params["token"], server_url, minutes)
        username, password = params.get("username", ""), params.get("password", "")
        if username not in (USER, VIEWER) or password != PASSWORD:
            raise _bad_request("Unable to generate token.", "Invalid username or password.")
        client = params.get("client", "requestip")
        referer = params.get("referer") if client == "referer" else None
        if client == "referer" and not referer:
            raise _bad_request("Unable to generate token.", "'referer' must be specified.")
        token, expires = emu.issue_token(username, referer, minutes)
        return {"token": token, "expires": expires, "ssl": emu.scheme == "https"}

    def _server_token(self, portal_token: str, server_url: str, minutes: float) -> Any:
        """The federated exchange: a portal token + ``serverUrl`` gives a token for that
        server (bound to the same referer as the portal token)."""
        emu = self.emulator
        row = emu.token_row(portal_token)
        if portal_token == API_KEY:
            username, referer, portal_expires = USER, None, time.time() + minutes * 60
        elif row is None or row["audience"] != "portal" or row["expires"] <= time.time():
            raise _err(INVALID_TOKEN)
        else:
            username, referer, portal_expires = row["username"], row["referer"], row["expires"]
        wanted = urlsplit(server_url.rstrip("/"))
        mine = urlsplit(emu.server_url)
        if wanted.netloc.lower() != mine.netloc.lower() or not wanted.path.lower().startswith(mine.path.lower()):
            raise _bad_request("Unable to generate token.", f"'{server_url}' is not a server federated with "
                                                            f"this portal.")
        minutes = min(minutes, max(0.0, (portal_expires - time.time()) / 60))
        token, expires = emu.issue_token(username, referer, minutes, audience="server")
        return {"token": token, "expires": expires, "ssl": emu.scheme == "https"}

    # -- search ------------------------------------------------------------------------
    def _search(self, params: Dict[str, str], user: Optional[str]) -> Any:
        """Full-text item search over the (possibly lagging) index: :mod:`arcgis_search`."""
        query = params.get("q", "")
        try:
            test = compile_query(query)
        except SearchSyntaxError as exc:
            raise _bad_request("Unable to perform search.", str(exc)) from None
        groups = self._member_of(user)
        results = []
        for item in self.emulator._searchable():
            visible = (item["owner"] == user or item["access"] == "public" or (item["access"] == "org" and user)
                       or (item["access"] == "shared" and set(item["groups"]) & groups))
            if not visible:
                continue
            doc = {k.lower(): v for k, v in item.items()}
            doc["group"] = item["groups"]
            if test(doc):
                results.append({k: v for k, v in item.items() if k != "groups"})
        sort_field = (params.get("sortField") or "").split(",")[0].strip().lower()
        if sort_field in ("title", "created", "modified", "type", "owner", "numviews"):
            key = {"numviews": "numViews"}.get(sort_field, sort_field)
            results.sort(key=lambda i: (str(i.get(key) or "").lower() if key in ("title", "type", "owner")
                                        else i.get(key) or 0),
                         reverse=(params.get("sortOrder") or "asc").lower() == "desc")
        paging, page = _page(results, params, "Unable to perform search.")
        return dict(paging, query=query, results=page)

    # -- users' content, folders, groups -------------------------------------------------
    def _user_content(self, owner: str, folder: Optional[str], params: Dict[str, str], user: Optional[str]) -> Any:
        """``content/users/<u>[/<folder>]``: the owner's own items, straight from the
        content store (no index lag), with the folder list at the root."""
        emu = self.emulator
        if self._need_user(user) != owner:
            raise _err(NO_PERMISSION)
        folders = [{"username": r["owner"], "id": r["id"], "title": r["title"], "created": r["created"]}
                   for r in emu._rows("SELECT * FROM folders WHERE owner = ? ORDER BY created", owner)]
        current = None
        if folder:
            current = next((f for f in folders if f["id"] == folder), None)
            if current is None:
                raise _bad_request("Folder not found.", f"Folder {folder} does not exist.")
            rows = emu._rows("SELECT * FROM items WHERE owner = ? AND folder = ? ORDER BY created, rowid", owner, folder)
        else:
            rows = emu._rows("SELECT * FROM items WHERE owner = ? AND folder IS NULL ORDER BY created, rowid", owner)
        items = [emu._item_json(r) for r in rows]
        paging, page = _page(items, params, "Unable to get user content.")
        answer = dict(paging, username=owner, currentFolder=current, items=page)
        if not folder:
            answer["folders"] = folders
        return answer

    def _create_folder(self, owner: str, params: Dict[str, str], user: Optional[str]) -> Any:
        emu = self.emulator
        if self._need_user(user) != owner:
            raise _err(NO_PERMISSION)
        title = (params.get("title") or "").strip()
        if not title:
            raise _bad_request("Unable to create folder.", "'title' is required.")
        if emu._rows("SELECT 1 FROM folders WHERE owner = ? AND title = ? COLLATE NOCASE", owner, title):
            raise _bad_request("Unable to create folder.", f"Folder '{title}' already exists.")
        folder_id = uuid.uuid4().hex
        with emu.lock:
            emu.db.execute("INSERT INTO folders VALUES (?,?,?,?)", (folder_id, owner, title, int(time.time() * 1000)))
        return {"success": True, "folder": {"username": owner, "id": folder_id, "title": title}}

    def _delete_folder(self, owner: str, folder_id: str, user: Optional[str]) -> Any:
        """``content/users/<u>/<folder>/delete`` (POST): the folder and the items in it."""
        emu = self.emulator
        if self._need_user(user) != owner:
            raise _err(NO_PERMISSION)
        if self.command != "POST":
            raise _bad_request("Unable to delete folder.", "The operation requires POST.")
        rows = emu._rows("SELECT * FROM folders WHERE id = ? AND owner = ?", folder_id, owner)
        if not rows:
            raise _bad_request("Unable to delete folder.", f"Folder {folder_id} does not exist.")
        for item in [i for i in emu.items() if i["owner"] == owner and i.get("ownerFolder") == folder_id]:
            self._item_delete(item, {})
        with emu.lock:
            emu.db.execute("DELETE FROM folders WHERE id = ?", (folder_id,))
        return {"success": True, "folder": {"username": owner, "id": folder_id, "title": rows[0]["title"]}}

    def _groups_of(self, item: Dict[str, Any], user: Optional[str]) -> Any:
        """``items/<id>/groups``: the groups the item is shared with, as the caller sees them."""
        emu = self.emulator
        mine = self._member_of(user)
        answer: Dict[str, List[Dict[str, Any]]] = {"admin": [], "member": [], "other": []}
        for group_id in emu.item_groups(item["id"]):
            row = emu._rows("SELECT * FROM groups WHERE id = ?", group_id)[0]
            if row["owner"] == user:
                answer["admin"].append(emu._group_json(row))
            elif group_id in mine:
                answer["member"].append(emu._group_json(row))
            else:
                answer["other"].append(emu._group_json(row))
        return answer

    # -- items ---------------------------------------------------------------------------
    def _create_service(self, owner: str, folder: Optional[str], params: Dict[str, str], user: Optional[str]) -> Any:
        emu = self.emulator
        if self._need_user(user) != owner:
            raise _err(NO_PERMISSION)
        if "portal:publisher:publishFeatures" not in emu.user_json(owner)["privileges"]:
            raise _err(NO_PERMISSION)
        if self.command != "POST":
            raise _bad_request("Unable to create service.", "The operation requires POST.")
        if params.get("outputType") != "featureService":
            raise _bad_request("Unable to create service.", "outputType must be featureService.")
        if folder and not emu._rows("SELECT 1 FROM folders WHERE id = ? AND owner = ?", folder, owner):
            raise _bad_request("Unable to create service.", f"Folder {folder} does not exist.")
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
        try:
            tags = _list_param(params.get("tags"))
        except ValueError:
            raise _bad_request("Unable to create service.", "Invalid tags.") from None
        definition = {k: v for k, v in create.items() if k != "name"}
        definition.setdefault("capabilities", "Query")
        definition.setdefault("maxRecordCount", 1000)
        definition["serviceDescription"] = definition.get("serviceDescription", "")
        with emu.lock:
            emu.db.execute("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           (item_id, owner, name, params.get("title") or name, "Feature Service", url,
                            json.dumps(HOSTED_KEYWORDS), json.dumps(tags), params.get("snippet", ""), "private",
                            json.dumps([]), now, now, folder, params.get("description"), None))
            emu.db.execute("INSERT INTO services VALUES (?,?,?)", (name, item_id, json.dumps(definition)))
        emu._changed(item_id)
        return {"encodedServiceURL": url, "isView": False, "itemId": item_id, "name": name,
                "serviceItemId": item_id, "serviceurl": url, "size": -1, "success": True,
                "type": "Feature Service", "typeKeywords": list(HOSTED_KEYWORDS)}

    def _touch(self, item_id: str, column: str, value: Optional[str]) -> None:
        with self.emulator.lock:
            self.emulator.db.execute(f"UPDATE items SET {column} = ?, modified = ? WHERE id = ?",
                                     (value, int(time.time() * 1000), item_id))

    def _item_update(self, item: Dict[str, Any], params: Dict[str, str]) -> Any:
        for key, column in (("typeKeywords", "type_keywords"), ("tags", "tags")):
            if key in params:
                try:
                    self._touch(item["id"], column, json.dumps(_list_param(params[key])))
                except ValueError:
                    raise _bad_request("Unable to update item.", f"Invalid {key}.") from None
        for key in ("title", "snippet", "description"):
            if key in params:
                self._touch(item["id"], key, params[key])
        if "text" in params:
            self._touch(item["id"], "data", params["text"] or None)
        if "extent" in params:
            text = params["extent"].strip()
            try:
                if text.startswith("["):
                    box = json.loads(text)
                elif text.startswith("{"):
                    e = json.loads(text)
                    box = [[e["xmin"], e["ymin"]], [e["xmax"], e["ymax"]]]
                else:
                    xmin, ymin, xmax, ymax = (float(v) for v in text.split(","))
                    box = [[xmin, ymin], [xmax, ymax]] if text else []
            except (ValueError, KeyError, TypeError):
                raise _bad_request("Unable to update item.", "Invalid extent.") from None
            self._touch(item["id"], "extent", json.dumps(box))
        self.emulator._changed(item["id"])
        return {"success": True, "id": item["id"]}

    def _share(self, item: Dict[str, Any], params: Dict[str, str], user: str) -> Dict[str, Any]:
        """Share one item: ``everyone``/``org`` set its access (both false: private, or
        shared with groups), ``groups`` add groups the sharer belongs to; the others come
        back in ``notSharedWith``."""
        emu = self.emulator
        try:
            groups = _list_param(params.get("groups"))
        except ValueError:
            raise _bad_request("Unable to share item.", "Invalid groups.") from None
        mine = self._member_of(user)
        shared = [g for g in groups if g in mine]
        not_shared = [g for g in groups if g not in mine]
        with emu.lock:
            for group_id in shared:
                emu.db.execute("INSERT OR IGNORE INTO item_groups VALUES (?,?)", (item["id"], group_id))
        if "everyone" in params or "org" in params:
            if _bool(params.get("everyone")):
                access = "public"
            elif _bool(params.get("org")):
                access = "org"
            else:
                access = "shared" if emu.item_groups(item["id"]) else "private"
            self._touch(item["id"], "access", access)
        elif shared and item["access"] == "private":
            self._touch(item["id"], "access", "shared")
        emu._changed(item["id"])
        return {"notSharedWith": not_shared, "itemId": item["id"]}

    def _item_share(self, item: Dict[str, Any], params: Dict[str, str]) -> Any:
        return self._share(item, params, item["owner"])

    def _share_via_item(self, item: Dict[str, Any], params: Dict[str, str], user: Optional[str]) -> Any:
        """``content/items/<id>/share``: the owner, or a group admin sharing to groups."""
        user = self._need_user(user)
        if self.command != "POST":
            raise _bad_request("Unable to share item.", "The operation requires POST.")
        if item["owner"] != user:
            params = {k: v for k, v in params.items() if k not in ("everyone", "org")}
        return self._share(item, params, user)

    def _share_items(self, owner: str, params: Dict[str, str], user: Optional[str]) -> Any:
        """``content/users/<u>/shareItems``: several items at once, one result each."""
        emu = self.emulator
        if self._need_user(user) != owner:
            raise _err(NO_PERMISSION)
        if self.command != "POST":
            raise _bad_request("Unable to share items.", "The operation requires POST.")
        try:
            ids = _list_param(params.get("items"))
        except ValueError:
            raise _bad_request("Unable to share items.", "Invalid items.") from None
        results = []
        for item_id in ids:
            item = emu.item(item_id)
            if item is None or item["owner"] != owner:
                results.append({"itemId": item_id, "success": False, "error": dict(NO_ITEM)})
                continue
            shared = self._share(item, params, owner)
            results.append({"itemId": item_id, "success": True, "notSharedWith": shared["notSharedWith"]})
        return {"results": results}

    def _item_move(self, item: Dict[str, Any], params: Dict[str, str]) -> Any:
        emu = self.emulator
        folder = (params.get("folder") or "").strip()
        if folder in ("", "/"):
            target = None
        else:
            rows = emu._rows("SELECT id FROM folders WHERE owner = ? AND (id = ? OR title = ?)", item["owner"],
                             folder, folder)
            if not rows:
                raise _bad_request("Unable to move item.", f"Folder {folder} does not exist.")
            target = rows[0]["id"]
        self._touch(item["id"], "folder", target)
        emu._changed(item["id"])
        return {"success": True, "itemId": item["id"], "owner": item["owner"], "folder": target}

    def _item_delete(self, item: Dict[str, Any], params: Dict[str, str]) -> Any:
        emu = self.emulator
        with emu.lock:
            emu.db.execute("DELETE FROM items WHERE id = ?", (item["id"],))
            emu.db.execute("DELETE FROM item_groups WHERE item_id = ?", (item["id"],))
            emu.db.execute("DELETE FROM services WHERE name = ?", (item["name"],))
            emu.db.execute("DELETE FROM layers WHERE service = ?", (item["name"],))
            emu.db.execute("DELETE FROM features WHERE service = ?", (item["name"],))
        emu._changed(item["id"])
        return {"success": True, "itemId": item["id"]}

    # -- the hosted feature service ----------------------------------------------------
    def _service(self, name: str, sub: str, params: Dict[str, str], user: Optional[str], admin: bool) -> Any:
        emu = self.emulator
        rows = emu._rows("SELECT * FROM services WHERE name = ?", name)
        if not rows:
            self._need_user(user)
            raise _err({"code": 400, "message": "Service not found or inaccessible.", "details": []})
        service = rows[0]
        item = emu.item(service["item_id"]) or {}
        if not (item.get("access") == "public" and not admin):
            user = self._need_user(user)
            if item.get("owner") != user and (admin or item.get("access") == "private" or (
                    item.get("access") == "shared" and not set(emu.item_groups(item.get("id", ""))) &
                    self._member_of(user))):
                raise _err(NO_PERMISSION)
        if admin:
            return self._admin(service, sub, params)
        if sub == "":
            return emu._service_json(service)
        uploads = emu.attachments.service_route(sub)
        if uploads is not None:
            return uploads
        layer_text, _, operation = sub.partition("/")
        if not layer_text.isdigit():
            raise _err(INVALID_URL)
        layer = emu._layer_json(service["name"], int(layer_text))
        if layer is None:
            raise _err({"code": 400, "message": "Invalid or missing input parameters.", "details": ["Invalid URL"]})
        if operation == "":
            return layer
        if operation == "query":
            return self._query(service, layer, params)
        attached = emu.attachments.layer_route(self, service, layer, operation, params, self.upload)
        if attached is not None:
            return attached
        if operation in ("addFeatures", "applyEdits"):
            if self.command != "POST":
                raise _bad_request("Requested operation is not supported by this service.",
                                   "The operation requires POST.")
            if "Create" not in str(layer.get("capabilities", "")):
                raise _bad_request("Requested operation is not supported by this service.",
                                   "The layer does not have the Create capability.")
            key = "features" if operation == "addFeatures" else "adds"
            features = _json_param(params, key) if params.get(key) else []
            results = self._add(service, layer, features, _bool(params.get("rollbackOnFailure"), True))
            if operation == "addFeatures":
                return {"addResults": results}
            return {"addResults": results, "updateResults": [], "deleteResults": []}
        raise _err(INVALID_URL)

    def _admin(self, service: sqlite3.Row, sub: str, params: Dict[str, str]) -> Any:
        """The admin twin: its service and layer JSON (with ``adminServiceInfo`` /
        ``adminLayerInfo``), ``refresh``, ``addToDefinition`` and ``updateDefinition``."""
        emu = self.emulator
        if sub == "":
            answer = emu._service_json(service)
            answer["adminServiceInfo"] = {"name": "Hosted/" + service["name"], "type": "FeatureServer",
                                          "status": "Started", "isHosted": True}
            return answer
        if re.fullmatch(r"(?:\d+/)?refresh", sub):
            if self.command != "POST":
                raise _bad_request("Unable to refresh the service.", "The operation requires POST.")
            return {"success": True}
        if sub.isdigit():
            layer = emu._layer_json(service["name"], int(sub))
            if layer is None:
                raise _bad_request("Invalid or missing input parameters.", "Invalid layer id.")
            sr = json.loads(service["definition"]).get("spatialReference") or WGS84
            layer["adminLayerInfo"] = {"geometryField": {"name": "Shape", "srid": geo.wkid_of(sr, 4326)},
                                       "tableName": f"{service['name']}_{sub}"}
            return layer
        if self.command != "POST":
            raise _bad_request("Unable to update the definition.", "The operation requires POST.")
        if sub == "addToDefinition":
            return self._add_to_definition(service, _json_param(params, "addToDefinition"))
        match = re.fullmatch(r"(?:(\d+)/)?updateDefinition", sub)
        if match:
            update = _json_param(params, "updateDefinition")
            if not isinstance(update, dict):
                raise _bad_request("Unable to update the definition.", "'updateDefinition' must be an object.")
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
                    kept_type = current.get("type", "Feature Layer")
                    current.update(update)
                    current["type"] = kept_type  # updateDefinition never changes a layer's type...
                    if emu.state.layer_type_rule == "promote_on_update" and update.get("orientedImageryInfo"):
                        current["type"] = OI_LAYER  # ...except on the server this knob models
                    emu.db.execute("UPDATE layers SET definition = ? WHERE service = ? AND layer_id = ?",
                                   (json.dumps(current), service["name"], int(match.group(1))))
            return {"success": True}
        raise _err(INVALID_URL)

    def _add_to_definition(self, service: sqlite3.Row, definition: Any) -> Any:
        emu = self.emulator
        if not isinstance(definition, dict):
            raise _bad_request("Unable to add feature service definition.", "'addToDefinition' must be an object.")
        added = []
        with emu.lock:
            ids = [r["layer_id"] for r in emu._rows("SELECT layer_id FROM layers WHERE service = ?", service["name"])]
            staged = []
            for kind, default_type in (("layers", "Feature Layer"), ("tables", "Table")):
                for layer in definition.get(kind) or []:
                    if not isinstance(layer, dict):
                        raise _bad_request("Unable to add feature service definition.", f"Invalid {kind} entry.")
                    layer_type = layer.get("type") or default_type
                    if layer_type not in LAYER_TYPES:
                        raise _bad_request("Unable to add feature service definition.",
                                           f"Layer type '{layer_type}' is not supported.")
                    if layer_type == OI_LAYER and emu.state.layer_type_rule == "refuse_oi_type":
                        raise _bad_request("Unable to add feature service definition.",
                                           f"Layer type '{OI_LAYER}' is not supported by addToDefinition.")
                    layer_id = int(layer.get("id", max(ids) + 1 if ids else 0))
                    if layer_id in ids:
                        raise _bad_request("Unable to add feature service definition.",
                                           f"Layer id {layer_id} already exists.")
                    fields = layer.get("fields") or []
                    if not any(isinstance(f, dict) and f.get("type") == "esriFieldTypeOID" for f in fields):
                        raise _bad_request("Unable to add feature service definition.",
                                           "The layer has no ObjectID field.")
                    stored = dict(layer)
                    stored.pop("id", None)
                    stored["type"] = layer_type
                    ids.append(layer_id)
                    staged.append((layer_id, stored))
                    added.append({"name": layer.get("name"), "id": layer_id})
            for layer_id, stored in staged:  # all or nothing
                emu.db.execute("INSERT INTO layers VALUES (?,?,?)", (service["name"], layer_id, json.dumps(stored)))
        return {"layers": added, "success": True}

    def _add(self, service: sqlite3.Row, layer: Dict[str, Any], features: Any, rollback: bool) -> List[Dict[str, Any]]:
        emu = self.emulator
        if not isinstance(features, list):
            raise _bad_request("Unable to add features.", "'features' must be an array.")
        layer_wkid = emu._layer_wkid(json.loads(service["definition"]))
        fields = {f["name"].lower(): f for f in layer.get("fields") or []}
        results: List[Dict[str, Any]] = []
        rows: List[Tuple[Any, ...]] = []
        polygons = layer.get("geometryType") == "esriGeometryPolygon"
        for feature in features:
            geometry = (feature or {}).get("geometry") or {}
            attributes = dict((feature or {}).get("attributes") or {})
            problem = None
            rings: Optional[List[List[Tuple[float, float]]]] = None
            if polygons:
                try:
                    rings = _polygon_rings(geometry, layer_wkid)
                    x, y = rings[0][0]
                except geo.GeometryError as exc:
                    problem = (-2147467259, f"Invalid geometry: {exc}")
            elif not all(isinstance(geometry.get(k), (int, float)) for k in ("x", "y")):
                problem = (-2147467259, "Invalid geometry: x and y are required.")
            else:
                try:  # a geometry in another spatial reference is projected to the layer's
                    x, y = geo.project(geometry["x"], geometry["y"],
                                       geo.wkid_of(geometry.get("spatialReference"), layer_wkid), layer_wkid)
                except geo.GeometryError as exc:
                    problem = (-2147467259, f"Invalid geometry: {exc}")
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
                gid = next((f["name"] for f in fields.values() if f.get("type") == "esriFieldTypeGlobalID"), None)
                if gid and not attributes.get(gid):  # the server gives each new feature its GlobalID
                    attributes[gid] = "{" + str(uuid.uuid4()).upper() + "}"
                results.append({"success": True, "globalId": attributes[gid]} if gid else {"success": True})
                rows.append((service["name"], layer["id"], x, y, None if polygons else geometry.get("z"),
                             json.dumps(attributes), json.dumps(rings) if rings is not None else None))
        if rollback and any(not r["success"] for r in results):
            return [r if not r["success"] else
                    {"objectId": None, "success": False, "error": {"code": 1003,
                                                                   "description": "Operation rolled back."}}
                    for r in results]
        with emu.lock:  # object ids count per layer, from 1, as in a new hosted layer
            last = emu._rows("SELECT MAX(objectid) AS top FROM features WHERE service = ? AND layer_id = ?",
                             service["name"], layer["id"])[0]["top"] or 0
            for result, row in zip(results, rows):
                if row:
                    last += 1
                    emu.db.execute("INSERT INTO features(service, layer_id, objectid, x, y, z, attributes, rings) "
                                   "VALUES (?,?,?,?,?,?,?,?)", row[:2] + (last,) + row[2:])
                    result["objectId"] = last
        return results

    def _query(self, service: sqlite3.Row, layer: Dict[str, Any], params: Dict[str, str]) -> Any:
        """``query``: ``where``, ``objectIds``, ``geometry`` (point, multipoint, envelope,
        polygon; ``distance`` + ``units``; ``inSR``; ``spatialRel``), ``outFields``,
        ``returnGeometry``, ``returnZ``, ``outSR``, ``orderByFields``, paging, and the
        count / ids / extent forms."""
        emu = self.emulator
        layer_wkid = emu._layer_wkid(json.loads(service["definition"]))
        out_wkid = _wkid_answer(params, "outSR", layer_wkid)
        try:
            keep = where_predicate(params.get("where", "1=1"))
            near = geo.spatial_filter(params, layer_wkid)
            ids = {int(float(i)) for i in _list_param(params.get("objectIds"))} if params.get("objectIds") else None
            rows = [r for r in emu._rows("SELECT * FROM features WHERE service = ? AND layer_id = ? "
                                         "ORDER BY objectid", service["name"], layer["id"])
                    if (ids is None or r["objectid"] in ids)
                    and keep({**json.loads(r["attributes"]), "OBJECTID": r["objectid"]})
                    and (near is None or any(near(x, y) for x, y in _vertices(r)))]
            order = [o.strip() for o in (params.get("orderByFields") or "").split(",") if o.strip()]
            for spec in reversed(order):
                name, _, direction = spec.partition(" ")
                rows.sort(key=lambda r, n=name.lower(): _sort_key(r, n),
                          reverse=direction.strip().upper() == "DESC")
        except geo.GeometryError as exc:
            raise _bad_request("Unable to complete operation.", str(exc)) from None
        except ValueError:
            raise _err(QUERY_FAILED) from None
        count_only, extent_only = _bool(params.get("returnCountOnly")), _bool(params.get("returnExtentOnly"))
        if count_only or extent_only:
            answer: Dict[str, Any] = {}
            if count_only:
                answer["count"] = len(rows)
            if extent_only:
                answer["extent"] = geo.extent_of([geo.project(x, y, layer_wkid, out_wkid) for r in rows
                                                  for x, y in _vertices(r)],
                                                 out_wkid)
            return answer
        if _bool(params.get("returnIdsOnly")):
            return {"objectIdFieldName": "OBJECTID", "objectIds": [r["objectid"] for r in rows]}
        try:
            offset = int(params.get("resultOffset") or 0)
            limit = min(int(params.get("resultRecordCount") or layer["maxRecordCount"]), layer["maxRecordCount"])
        except ValueError:
            raise _err(QUERY_FAILED) from None
        page = rows[offset:offset + limit]
        out_fields = [f.strip() for f in (params.get("outFields") or "*").split(",") if f.strip()]
        geometry = _bool(params.get("returnGeometry"), True)
        answer = {"objectIdFieldName": "OBJECTID", "globalIdFieldName": "",
                  "geometryType": layer.get("geometryType") or "esriGeometryPoint",
                  "spatialReference": geo.spatial_reference(out_wkid), "hasZ": bool(layer.get("hasZ")),
                  "fields": [f for f in layer.get("fields") or []
                             if "*" in out_fields or f["name"].lower() in {o.lower() for o in out_fields}
                             or f.get("type") == "esriFieldTypeOID"],
                  "features": [emu._feature_json(r, geometry, out_fields, _bool(params.get("returnZ")),
                                                 (layer_wkid, out_wkid)) for r in page]}
        if not _bool(params.get("returnZ")):
            answer["hasZ"] = False
        if offset + limit < len(rows):
            answer["exceededTransferLimit"] = True
        return answer


def _polygon_rings(geometry: Dict[str, Any], layer_wkid: int) -> List[List[Tuple[float, float]]]:
    """A polygon's rings in the layer's spatial reference. Esri's geometry objects: ``rings``, each ring a
    closed path (its first and last points the same) of at least 4 points of numbers."""
    rings = geometry.get("rings")
    if not isinstance(rings, list) or not rings:
        raise geo.GeometryError("a polygon needs rings.")
    source = geo.wkid_of(geometry.get("spatialReference"), layer_wkid)
    out = []
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4 or not all(
                isinstance(p, list) and len(p) >= 2 and all(isinstance(v, (int, float)) for v in p[:2]) for p in ring):
            raise geo.GeometryError("each ring is a list of at least 4 [x, y] points.")
        if ring[0][:2] != ring[-1][:2]:
            raise geo.GeometryError("a ring must be closed (its last point the same as its first).")
        out.append([geo.project(float(p[0]), float(p[1]), source, layer_wkid) for p in ring])
    return out


def _vertices(row: sqlite3.Row) -> List[Tuple[float, float]]:
    """A feature's points for the spatial filter and the extent: a point, or every vertex of a polygon (a
    polygon passes a filter when a vertex does: enough for the envelopes clients draw with)."""
    if row["rings"] is None:
        return [(row["x"], row["y"])]
    return [(p[0], p[1]) for ring in json.loads(row["rings"]) for p in ring]


def _sort_key(row: sqlite3.Row, name: str) -> Tuple[int, Any]:
    if name == "objectid":
        return (0, row["objectid"])
    for key, value in json.loads(row["attributes"]).items():
        if key.lower() == name:
            return (1, "") if value is None else (0, value)
    raise ValueError(f"unknown field {name}")


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this PEM certificate and key")
    parser.add_argument("--token-lifetime", type=float, help="seconds a generated token lives")
    parser.add_argument("--no-publish", action="store_true", help="xpgeo_user lacks publisher privileges")
    parser.add_argument("--layer-type-rule", choices=LAYER_TYPE_RULES, default="keep",
                        help="what the server does with a layer's type (see the module docstring)")
    parser.add_argument("--attachment-store", choices=STORES, default="disk",
                        help="keep attachment files (disk) or only their sizes (discard: benchmarks)")
    parser.add_argument("--max-upload-mb", type=float, default=2000, help="the services' maxUploadFileSize (MB)")
    args = parser.parse_args()
    emulator = PortalEmulator(port=args.port, tls=tuple(args.tls) if args.tls else None,
                              token_lifetime=args.token_lifetime, user_can_publish=not args.no_publish,
                              layer_type_rule=args.layer_type_rule, attachment_store=args.attachment_store,
                              max_upload_mb=args.max_upload_mb)
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
