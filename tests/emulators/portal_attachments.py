"""Feature attachments of the portal emulator's hosted layers, as Esri's REST reference documents them.

Mounted by :mod:`emulators.portal` (its handler hands these paths here):

* ``POST <layer>/<oid>/addAttachment`` — a multipart (RFC 1867) body: the ``attachment`` file part (its
  name, content type and size are the attachment's), optional ``keywords``; answers
  ``{"addAttachmentResult": {"objectId": <attachment id>, "globalId": "{...}", "success": true}}``. Only on a
  layer whose ``hasAttachments`` is true, with the Create or Update capability. The body is read as a stream
  (1 MiB at a time, never whole in memory) into a file of the emulator's own temporary folder;
* ``GET <layer>/<oid>/attachments`` — ``{"attachmentInfos": [{"id", "globalId", "name", "contentType", "size",
  "keywords"}]}``;
* ``GET <layer>/<oid>/attachments/<id>`` — the file itself (its content type, ``Content-Length``, CORS),
  streamed from disk;
* ``POST <layer>/<oid>/deleteAttachments`` — ``attachmentIds``; ``{"deleteAttachmentResults": [{"objectId",
  "globalId", "success"}]}``;
* ``GET|POST <layer>/queryAttachments`` (10.5+) — ``objectIds``, ``globalIds`` or ``definitionExpression``
  (one is required), ``attachmentsDefinitionExpression`` (on the fields of ``attachmentProperties``),
  ``attachmentTypes``, ``keywords``, ``size`` (``min,max``), ``returnUrl``, ``resultOffset`` /
  ``resultRecordCount``; ``{"attachmentGroups": [{"parentObjectId", "parentGlobalId", "attachmentInfos"}]}``;
* ``GET <service>/uploads/info`` — ``{"maxUploadFileSize": <MB>}``, the service's upload limit.

Knobs (attributes of the emulator's :class:`~emulators.portal.PortalState`), since nobody here knows what
each live server does at the edges:

* ``max_upload_mb`` (default 2000): the service's ``MaxUploadFileSize``; a larger attachment is refused;
* ``uploads_info`` (default True): False, ``uploads/info`` is not there (an ArcGIS error), as on a server
  that does not publish it: a client learns the limit only from the refusal;
* ``too_large``: how that refusal looks: ``"edit_error"`` (default: ``addAttachmentResult`` with
  ``success: false`` and an error), ``"error_body"`` (HTTP 200 with an ArcGIS ``error``), ``"http413"`` (a
  proxy or web server's own HTML 413 page);
* ``supports_query_attachments`` (default True): the layer's ``advancedQueryCapabilities`` say so; False, the
  layer has no ``queryAttachments`` (clients read ``<oid>/attachments`` instead);
* ``attachment_store``: ``"disk"`` (default) keeps every file (downloads work); ``"discard"`` keeps only its
  size (benchmarks: gigabytes go through without filling the disk; a download is refused).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Dict, Iterator, List, Optional, Tuple

CHUNK = 1 << 20
"""Bytes read from the socket (and written to disk) at a time."""
ATTACHMENT_OPERATIONS = re.compile(r"(\d+)/(addAttachment|updateAttachment|deleteAttachments|attachments)(?:/(\d+))?")
TOO_LARGE_RULES = ("edit_error", "error_body", "http413")
STORES = ("disk", "discard")
ATTACHMENT_PROPERTIES = [
    {"name": "name", "fieldName": "ATT_NAME", "isEnabled": True},
    {"name": "size", "fieldName": "DATA_SIZE", "isEnabled": True},
    {"name": "contentType", "fieldName": "CONTENT_TYPE", "isEnabled": True},
    {"name": "attachmentid", "fieldName": "ATTACHMENTID", "isEnabled": True},
    {"name": "globalid", "fieldName": "GLOBALID", "isEnabled": True},
    {"name": "keywords", "fieldName": "KEYWORDS", "isEnabled": True},
    {"name": "exifInfo", "fieldName": "EXIFINFO", "isEnabled": False},
]
"""What a hosted layer with attachments lists as ``attachmentProperties`` (the names an
``attachmentsDefinitionExpression`` may use)."""
SCHEMA = """
    CREATE TABLE attachments(id INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT COLLATE NOCASE, layer_id INTEGER,
                             parent INTEGER, global_id TEXT, name TEXT, content_type TEXT, size INTEGER,
                             keywords TEXT, sha256 TEXT, path TEXT);
"""
NOT_SUPPORTED = "Requested operation is not supported by this service."


@dataclass
class Upload:
    """The file part of a multipart body, as it landed in the emulator's folder."""

    field_name: str = ""
    filename: str = ""
    content_type: str = "application/octet-stream"
    size: int = 0
    sha256: Optional[str] = None
    path: Optional[str] = None
    fields: Dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        if self.path and os.path.exists(self.path):
            os.remove(self.path)
        self.path = None


@dataclass
class Download:
    """An answer that is a stored file, streamed by the handler."""

    path: str
    size: int
    content_type: str
    name: str


def is_upload(path: str) -> bool:
    """Is *path* an operation whose body is a file (read as a stream, never whole)?"""
    return path.endswith(("/addAttachment", "/updateAttachment"))


# -- the multipart reader -------------------------------------------------------------------------

def _boundary(content_type: str) -> bytes:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or not match:
        raise ValueError("not a multipart/form-data body")
    return match.group(1).encode("latin-1")


def _chunks(rfile: BinaryIO, length: int) -> Iterator[bytes]:
    left = length
    while left > 0:
        data = rfile.read(min(CHUNK, left))
        if not data:
            raise ValueError("the body ended before its Content-Length")
        left -= len(data)
        yield data


def _disposition(headers: bytes) -> Tuple[str, Optional[str], str]:
    """(field name, file name or None, content type) of one part's headers."""
    text = headers.decode("utf-8", "replace")
    name = filename = None
    content_type = "application/octet-stream"
    for line in text.split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == "content-disposition":
            found = re.search(r'(?:^|;)\s*name="((?:[^"\\]|\\.)*)"', value)
            name = found.group(1) if found else None
            found = re.search(r'filename="((?:[^"\\]|\\.)*)"', value)
            filename = found.group(1).replace("%22", '"').replace('\\"', '"') if found else None
        elif key.strip().lower() == "content-type":
            content_type = value.strip() or content_type
    if not name:
        raise ValueError("a part has no name")
    return name, filename, content_type


def read_multipart(rfile: BinaryIO, length: int, content_type: str, folder: str, keep: bool) -> Upload:
    """Read a multipart body of *length* bytes from *rfile* as a stream: the small fields in memory,
    the file part into a new file of *folder* (or only counted, when not *keep*), hashed as it goes."""
    delimiter = b"\r\n--" + _boundary(content_type)
    upload = Upload()
    source = _chunks(rfile, length)
    buffer = b"\r\n"  # the first boundary has no CRLF before it
    state = "preamble"
    part: Optional[Tuple[str, Optional[str], str]] = None
    value = bytearray()
    out: Optional[BinaryIO] = None
    digest = None

    def more() -> bool:
        nonlocal buffer
        try:
            buffer += next(source)
            return True
        except StopIteration:
            return False

    def emit(data: bytes) -> None:
        if not data or part is None:
            return
        if part[1] is None:
            value.extend(data)
            if len(value) > CHUNK:
                raise ValueError(f"the field {part[0]!r} is too long")
            return
        upload.size += len(data)
        if digest is not None:
            digest.update(data)
        if out is not None:
            out.write(data)

    try:
        while True:
            if state in ("preamble", "body"):
                at = buffer.find(delimiter)
                if at < 0:
                    keep_tail = len(delimiter) - 1
                    if state == "body" and len(buffer) > keep_tail:
                        emit(buffer[:-keep_tail])
                        buffer = buffer[-keep_tail:]
                    if not more():
                        raise ValueError("the multipart body has no closing boundary")
                    continue
                if state == "body":
                    emit(buffer[:at])
                    if part is not None and part[1] is None:
                        upload.fields[part[0]] = value.decode("utf-8")
                    value = bytearray()
                    if out is not None:
                        out.close()
                        out = None
                buffer = buffer[at + len(delimiter):]
                state = "after"
            if state == "after":
                while len(buffer) < 2:
                    if not more():
                        raise ValueError("the multipart body ends inside a boundary")
                if buffer.startswith(b"--"):
                    for _ in source:  # the epilogue, if any
                        pass
                    if digest is not None:
                        upload.sha256 = digest.hexdigest()
                    return upload
                if not buffer.startswith(b"\r\n"):
                    raise ValueError("a boundary is not followed by a line break")
                buffer = buffer[2:]
                state = "headers"
            if state == "headers":
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > 65536 or not more():
                        raise ValueError("a part's headers do not end")
                    continue
                part = _disposition(buffer[:end])
                buffer = buffer[end + 4:]
                if part[1] is not None:
                    if upload.field_name:
                        raise ValueError("more than one file in the body")
                    upload.field_name, upload.filename, upload.content_type = part
                    digest = hashlib.sha256() if keep else None
                    if keep:
                        handle, upload.path = tempfile.mkstemp(dir=folder, suffix=".part")
                        out = os.fdopen(handle, "wb")
                state = "body"
    except BaseException:
        if out is not None:
            out.close()
        upload.discard()
        raise


# -- the store and the routes ---------------------------------------------------------------------

class Attachments:
    """The attachments of one emulator: a table in its SQLite database, files in its own folder."""

    def __init__(self, emulator: Any) -> None:
        self.emu = emulator
        emulator.db.executescript(SCHEMA)
        self._folder: Optional[str] = None

    @property
    def folder(self) -> str:
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="xpgeo-portal-attachments-")
        return self._folder

    def close(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def read_upload(self, rfile: BinaryIO, length: int, content_type: str) -> Upload:
        return read_multipart(rfile, length, content_type, self.folder, self.emu.state.attachment_store == "disk")

    # -- for tests --------------------------------------------------------------------------------
    def of(self, service: str, layer_id: int = 0) -> List[Dict[str, Any]]:
        rows = self.emu._rows("SELECT * FROM attachments WHERE service = ? AND layer_id = ? ORDER BY id",
                              service, layer_id)
        return [{"id": r["id"], "parent": r["parent"], "globalId": r["global_id"], "name": r["name"],
                 "contentType": r["content_type"], "size": r["size"], "keywords": r["keywords"],
                 "sha256": r["sha256"]} for r in rows]

    # -- layer JSON ---------------------------------------------------------------------------------
    def describe(self, layer: Dict[str, Any]) -> None:
        """What a layer's JSON says about its attachments (called for every layer)."""
        if not layer.get("hasAttachments"):
            return
        layer.setdefault("attachmentProperties", [dict(p) for p in ATTACHMENT_PROPERTIES])
        layer["advancedQueryCapabilities"]["supportsQueryAttachments"] = bool(
            self.emu.state.supports_query_attachments)
        layer["advancedQueryCapabilities"]["supportsQueryAttachmentsCountOnly"] = False

    # -- routes ---------------------------------------------------------------------------------
    def service_route(self, sub: str) -> Any:
        """``uploads/info`` of a service, or None when *sub* is not one of these routes."""
        if sub != "uploads/info":
            return None
        if not self.emu.state.uploads_info:
            raise self.emu.reply({"error": {"code": 400, "message": "Invalid URL", "details": ["Invalid URL"]}})
        return {"maxUploadFileSize": self.emu.state.max_upload_mb}

    def layer_route(self, handler: Any, service: Any, layer: Dict[str, Any], operation: str,
                    params: Dict[str, str], upload: Optional[Upload]) -> Any:
        """One attachment operation on *layer*; None when *operation* is not one."""
        if operation == "queryAttachments":
            self._require_attachments(layer)
            if not self.emu.state.supports_query_attachments:
                raise self.emu.reply({"error": {"code": 400, "message": NOT_SUPPORTED, "details": []}})
            return self._query(handler, service, layer, params)
        match = ATTACHMENT_OPERATIONS.fullmatch(operation)
        if not match:
            return None
        self._require_attachments(layer)
        oid, action, attachment_id = int(match.group(1)), match.group(2), match.group(3)
        parent = self._feature(service, layer, oid)
        if action == "attachments":
            if attachment_id is None:
                return {"attachmentInfos": [self._info(r) for r in self._rows(service, layer, parents=[oid])]}
            return self._download(service, layer, oid, int(attachment_id))
        if handler.command != "POST" or attachment_id is not None:
            raise self.emu.reply({"error": {"code": 400, "message": NOT_SUPPORTED,
                                            "details": ["The operation requires POST."]}})
        capabilities = str(layer.get("capabilities", ""))
        if action == "deleteAttachments":
            if "Delete" not in capabilities and "Update" not in capabilities:
                raise self.emu.reply({"error": {"code": 400, "message": NOT_SUPPORTED, "details": []}})
            return self._delete(service, layer, oid, params)
        if "Create" not in capabilities and "Update" not in capabilities:
            raise self.emu.reply({"error": {"code": 400, "message": NOT_SUPPORTED,
                                            "details": ["The layer does not have the Create or Update capability."]}})
        if upload is None or not upload.field_name:
            raise self.emu.reply({"error": {"code": 400, "message": "Unable to add attachment.",
                                            "details": ["'attachment' must be a file of a multipart request."]}})
        return self._add(handler, service, layer, parent, upload, action, params)

    def _require_attachments(self, layer: Dict[str, Any]) -> None:
        if not layer.get("hasAttachments"):
            raise self.emu.reply({"error": {"code": 400, "message": NOT_SUPPORTED,
                                            "details": ["The layer does not support attachments."]}})

    def _feature(self, service: Any, layer: Dict[str, Any], oid: int) -> Any:
        rows = self.emu._rows("SELECT objectid, attributes FROM features WHERE service = ? AND layer_id = ? AND "
                              "objectid = ?", service["name"], layer["id"], oid)
        if not rows:
            raise self.emu.reply({"error": {"code": 404, "message": "Feature not found.",
                                            "details": [f"Object {oid} does not exist."]}})
        return rows[0]

    def _rows(self, service: Any, layer: Dict[str, Any], *, parents: Optional[List[int]] = None) -> List[Any]:
        rows = self.emu._rows("SELECT * FROM attachments WHERE service = ? AND layer_id = ? ORDER BY id",
                              service["name"], layer["id"])
        return [r for r in rows if parents is None or r["parent"] in parents]

    @staticmethod
    def _info(row: Any, url: Optional[str] = None) -> Dict[str, Any]:
        info = {"id": row["id"], "globalId": row["global_id"], "name": row["name"],
                "contentType": row["content_type"], "size": row["size"], "keywords": row["keywords"] or "",
                "exifInfo": None}
        if url is not None:
            info["url"] = url
        return info

    def _add(self, handler: Any, service: Any, layer: Dict[str, Any], parent: Any, upload: Upload, action: str,
             params: Dict[str, str]) -> Any:
        state = self.emu.state
        result_key = "addAttachmentResult" if action == "addAttachment" else "updateAttachmentResult"
        if upload.size > state.max_upload_mb * 1024 * 1024:
            upload.discard()
            said = (f"The size of the file {upload.filename!r} ({upload.size} bytes) exceeds the maximum upload "
                    f"file size ({state.max_upload_mb} MB).")
            if state.too_large == "http413":
                raise self.emu.reply(b"<html><head><title>413 Request Entity Too Large</title></head><body>"
                                     b"<h1>Request Entity Too Large</h1></body></html>", status=413)
            if state.too_large == "error_body":
                raise self.emu.reply({"error": {"code": 400, "message": "Unable to add attachment.",
                                                "details": [said]}})
            return {result_key: {"objectId": None, "globalId": None, "success": False,
                                 "error": {"code": 1017, "description": said}}}
        with self.emu.lock:
            global_id = "{" + str(uuid.uuid4()).upper() + "}"
            if action == "updateAttachment":
                try:
                    attachment_id = int(params.get("attachmentId") or "")
                except ValueError:
                    raise self.emu.reply({"error": {"code": 400, "message": "Unable to update attachment.",
                                                    "details": ["'attachmentId' is required."]}}) from None
                old = self.emu._rows("SELECT * FROM attachments WHERE id = ? AND parent = ?", attachment_id,
                                     parent["objectid"])
                if not old:
                    upload.discard()
                    return {result_key: {"objectId": attachment_id, "success": False,
                                         "error": {"code": 1018, "description": "Attachment not found."}}}
                self._remove_file(old[0]["path"])
                self.emu.db.execute("UPDATE attachments SET name = ?, content_type = ?, size = ?, sha256 = ?, "
                                    "path = ? WHERE id = ?", (upload.filename, upload.content_type, upload.size,
                                                              upload.sha256, upload.path, attachment_id))
                global_id = old[0]["global_id"]
            else:
                cursor = self.emu.db.execute(
                    "INSERT INTO attachments(service, layer_id, parent, global_id, name, content_type, size, "
                    "keywords, sha256, path) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (service["name"], layer["id"], parent["objectid"], global_id, upload.filename,
                     upload.content_type, upload.size, params.get("keywords") or "", upload.sha256, upload.path))
                attachment_id = int(cursor.lastrowid or 0)
            upload.path = None  # the store owns the file now
        return {result_key: {"objectId": attachment_id, "globalId": global_id, "success": True}}

    @staticmethod
    def _remove_file(path: Optional[str]) -> None:
        if path and os.path.exists(path):
            os.remove(path)

    def _delete(self, service: Any, layer: Dict[str, Any], oid: int, params: Dict[str, str]) -> Any:
        wanted = [t.strip() for t in (params.get("attachmentIds") or "").strip("[]").split(",") if t.strip()]
        results = []
        with self.emu.lock:
            for text in wanted:
                rows = self.emu._rows("SELECT * FROM attachments WHERE id = ? AND parent = ? AND service = ? AND "
                                      "layer_id = ?", int(text), oid, service["name"], layer["id"]) if (
                    text.isdigit()) else []
                if not rows:
                    results.append({"objectId": int(text) if text.isdigit() else None, "globalId": None,
                                    "success": False, "error": {"code": 1018, "description": "Attachment not found."}})
                    continue
                self._remove_file(rows[0]["path"])
                self.emu.db.execute("DELETE FROM attachments WHERE id = ?", (rows[0]["id"],))
                results.append({"objectId": rows[0]["id"], "globalId": rows[0]["global_id"], "success": True})
        return {"deleteAttachmentResults": results}

    def _download(self, service: Any, layer: Dict[str, Any], oid: int, attachment_id: int) -> Any:
        rows = [r for r in self._rows(service, layer, parents=[oid]) if r["id"] == attachment_id]
        if not rows:
            raise self.emu.reply({"error": {"code": 404, "message": "Attachment not found.", "details": []}})
        row = rows[0]
        if not row["path"]:
            raise self.emu.reply({"error": {"code": 404, "message": "Attachment data not stored.",
                                            "details": ["This emulator discards attachment bytes "
                                                        "(attachment_store='discard')."]}})
        return Download(row["path"], row["size"], row["content_type"], row["name"])

    def _query(self, handler: Any, service: Any, layer: Dict[str, Any], params: Dict[str, str]) -> Any:
        where_predicate: Callable[[str], Callable[[Dict[str, Any]], bool]] = self.emu.where_predicate
        ids = [int(float(t)) for t in _list(params.get("objectIds"))]
        global_ids = {t.strip("{}").lower() for t in _list(params.get("globalIds"))}
        definition = params.get("definitionExpression") or ""
        if not ids and not global_ids and not definition:
            raise self.emu.reply({"error": {"code": 400, "message": "Unable to perform query.",
                                            "details": ["'objectIds', 'globalIds' or 'definitionExpression' "
                                                        "is required."]}})
        try:
            keep_feature = where_predicate(definition or "1=1")
            keep_attachment = where_predicate(params.get("attachmentsDefinitionExpression") or "1=1")
        except ValueError:
            raise self.emu.reply({"error": {"code": 400, "message": "Unable to perform query.",
                                            "details": ["Invalid expression."]}}) from None
        features = {}
        for row in self.emu._rows("SELECT objectid, attributes FROM features WHERE service = ? AND layer_id = ? "
                                  "ORDER BY objectid", service["name"], layer["id"]):
            attributes = {**json.loads(row["attributes"]), "OBJECTID": row["objectid"]}
            global_id = str(attributes.get("GlobalID") or "").strip("{}").lower()
            if global_ids:
                if global_id not in global_ids:
                    continue
            elif ids and row["objectid"] not in ids:
                continue
            if keep_feature(attributes):
                features[row["objectid"]] = attributes.get("GlobalID")
        types = [t.strip().lower() for t in _list(params.get("attachmentTypes"))]
        keywords = {k.strip() for k in _list(params.get("keywords"))}
        size = [int(float(t)) for t in _list(params.get("size"))]
        return_url = str(params.get("returnUrl", "")).lower() == "true"
        groups: Dict[int, List[Dict[str, Any]]] = {}
        for row in self._rows(service, layer, parents=list(features)):
            fields = {"ATT_NAME": row["name"], "DATA_SIZE": row["size"], "CONTENT_TYPE": row["content_type"],
                      "ATTACHMENTID": row["id"], "GLOBALID": row["global_id"], "KEYWORDS": row["keywords"] or "",
                      "name": row["name"], "size": row["size"], "contentType": row["content_type"],
                      "keywords": row["keywords"] or ""}
            if types and not any(_type_matches(row["content_type"], t) for t in types):
                continue
            if keywords and (row["keywords"] or "") not in keywords:
                continue
            if len(size) == 2 and not size[0] <= row["size"] <= size[1]:
                continue
            if not keep_attachment(fields):
                continue
            url = f"{handler.layer_url(service, layer)}/{row['parent']}/attachments/{row['id']}" if return_url else None
            groups.setdefault(row["parent"], []).append(self._info(row, url))
        try:
            offset = int(params.get("resultOffset") or 0)
            count = int(params.get("resultRecordCount") or 0)
        except ValueError:
            raise self.emu.reply({"error": {"code": 400, "message": "Unable to perform query.",
                                            "details": ["Invalid paging parameter."]}}) from None
        answer = [{"parentObjectId": oid, "parentGlobalId": features.get(oid), "attachmentInfos": infos}
                  for oid, infos in sorted(groups.items())]
        flat = [(group, info) for group in answer for info in group["attachmentInfos"]]
        if offset or count:
            kept = flat[offset:offset + count] if count else flat[offset:]
            answer = []
            for group, info in kept:
                if not answer or answer[-1]["parentObjectId"] != group["parentObjectId"]:
                    answer.append({**group, "attachmentInfos": []})
                answer[-1]["attachmentInfos"].append(info)
        return {"fields": [{"name": p["fieldName"], "type": "esriFieldTypeString"} for p in ATTACHMENT_PROPERTIES],
                "attachmentGroups": answer}


def _list(text: Optional[str]) -> List[str]:
    text = (text or "").strip()
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text)]
        except ValueError:
            return []
    return [t.strip() for t in text.split(",") if t.strip()]


def _type_matches(content_type: str, wanted: str) -> bool:
    """``attachmentTypes`` are ``image/jpeg`` or a family (``image``, ``image/*``)."""
    content_type = (content_type or "").lower()
    family = wanted.split("/", 1)[0]
    return content_type == wanted or wanted in (family, family + "/*") and content_type.startswith(family + "/")
