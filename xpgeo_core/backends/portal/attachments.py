"""Photos as feature attachments: a photo file of this machine (an SD card) uploaded into its feature.

How Esri's own clients show such a photo, which is what this module writes for (``docs/backends.md``,
"Photos as attachments"): the Maps SDK's ``OrientedImageryViewer`` takes a feature whose ImagePath is
``FA`` to mean "the photo is my attachment"; it asks the layer for the feature's attachments
(``queryAttachments`` when the layer says ``supportsQueryAttachments``, else ``<oid>/attachments``),
opens the first one's URL (``<layer>/<oid>/attachments/<id>``) and reads its format from the attachment's
``contentType``. Esri's Generate Service From Oriented Imagery Dataset (attach_images) writes the same
``FA``. So ImagePath no longer tells photos apart, and the layer's ``PhotoKey`` field does
(:func:`photo_key`).

What never happens: a photo uploaded twice, or a feature added twice. The feature goes first (addFeatures,
keyed on PhotoKey, with the sink's lost-answer rule), then its photo. A lost addAttachment answer is
settled by asking the feature's attachments before anything is sent again; a rerun finds a feature
whose photo never landed and uploads only that photo. An attachment is the photo when its name is the
file's name and its size the file's size.

Each photo is read once while it is sent (the header read before it is a small range read), a megabyte
at a time, so memory stays flat for 100 MB photos; a photo larger than the service's ``maxUploadFileSize``
(``uploads/info``, when the service says) is refused before its feature is added, with both sizes.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Dict, Iterable, List, Optional

from xpgeo_core.answers import list_at, object_at
from xpgeo_core.backends.portal import api
from xpgeo_core.backends.portal.rest import FilePart, PortalClient, is_transient
from xpgeo_core.errors import AuthError, XpgeoError
from xpgeo_core.pipeline.identity import Image

log = logging.getLogger("xpgeo.backends.portal")

ATTACHMENT_FIELD = "attachment"
"""The multipart field addAttachment reads the file from."""
QUERY_CHUNK = 100
"""Features asked about in one queryAttachments."""
CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg", ".tif": "image/tiff",
                 ".tiff": "image/tiff", ".png": "image/png", ".heic": "image/heic", ".dng": "image/x-adobe-dng"}
"""A photo's content type from its extension: the viewer takes the format from it (image/jpeg → JPEG)."""
MB = 1024 * 1024


def is_file(image: Image) -> bool:
    """A photo of this machine (what is uploaded), not a web URL (what is stored as it is)."""
    return not image.is_web


def photo_key(image: Image) -> str:
    """What a rerun recognises a photo by in a layer whose photos are attachments (its PhotoKey): a file's
    path, size and modification time (``/media/SD/DCIM/100MEDIA/DJI_0001.JPG|8123456|1767225600``), so a
    card formatted and filled again, whose new photos reuse the old names, is not taken for the old photos;
    a web URL's own ImagePath."""
    if not is_file(image):
        return image.image_path
    stat = os.stat(image.fetch_url)
    return f"{image.image_path}|{stat.st_size}|{int(stat.st_mtime)}"


def key_path(key: str) -> str:
    """The path (or URL) part of a PhotoKey: what sequences are grouped by."""
    parts = key.rsplit("|", 2)
    return parts[0] if len(parts) == 3 and parts[1].isdigit() else key


def file_part(image: Image) -> FilePart:
    path = image.fetch_url
    name = os.path.basename(path)
    kind = CONTENT_TYPES.get(os.path.splitext(name)[1].lower(), "application/octet-stream")
    return FilePart(ATTACHMENT_FIELD, path, name, kind, os.path.getsize(path))


def is_the_photo(info: Dict[str, Any], part: FilePart) -> bool:
    """Is this attachment the photo (same file name, same size)?"""
    return info.get("name") == part.filename and info.get("size") == part.size


def megabytes(size: float) -> str:
    return f"{size / MB:.1f} MB"


class NotAttached(XpgeoError):
    """The photo is not the feature's attachment: refused, or the portal stopped answering."""


class Attacher:
    """The attachments of one layer: the service's size limit, what is attached, and one upload at a time."""

    def __init__(self, client: PortalClient, service_url: str, layer: Dict[str, Any], layer_url: str, *,
                 retries: int, back_off: Callable[[int], None]) -> None:
        self.client = client
        self.service_url = service_url
        self.layer_url = layer_url
        self.retries = retries
        self.back_off = back_off
        self.queryable = bool(object_at(layer, "advancedQueryCapabilities").get("supportsQueryAttachments"))
        self._limit: Optional[float] = None
        self._limit_asked = False

    # -- the limit ----------------------------------------------------------------------------
    def limit(self) -> Optional[float]:
        """The largest attachment the service takes, in bytes (``uploads/info``); None when it does not say."""
        if not self._limit_asked:
            self._limit_asked = True
            try:
                value = api.upload_info(self.client, self.service_url).get("maxUploadFileSize")
            except XpgeoError as exc:
                log.debug("The service's uploads/info did not answer (%s): its attachment size limit is known only "
                          "from a refusal.", exc.message)
                value = None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                self._limit = float(value) * MB
        return self._limit

    def too_large(self, part: FilePart) -> Optional[str]:
        """Why *part* cannot be attached (larger than the service takes), or None."""
        limit = self.limit()
        if limit is None or part.size <= limit:
            return None
        return (f"the photo is {megabytes(part.size)} ({part.size} bytes), larger than the {megabytes(limit)} the "
                "layer's service takes as an attachment (its maxUploadFileSize): not sent. Make it smaller (or ask "
                "the portal's administrator to raise the service's limit), then run the append again")

    # -- what is attached -----------------------------------------------------------------------
    def attached(self, object_ids: Iterable[int]) -> Dict[int, List[Dict[str, Any]]]:
        """The attachment infos of each feature of *object_ids* (a feature without any: an empty list)."""
        wanted = sorted(set(object_ids))
        found: Dict[int, List[Dict[str, Any]]] = {oid: [] for oid in wanted}
        if not self.queryable:
            for oid in wanted:
                infos = list_at(api.attachment_infos(self.client, self.layer_url, oid), "attachmentInfos")
                found[oid] = [i for i in infos if isinstance(i, dict)]
            return found
        for start in range(0, len(wanted), QUERY_CHUNK):
            answer = api.query_attachments(self.client, self.layer_url, wanted[start:start + QUERY_CHUNK])
            for group in list_at(answer, "attachmentGroups"):
                if isinstance(group, dict) and group.get("parentObjectId") in found:
                    found[group["parentObjectId"]].extend(i for i in list_at(group, "attachmentInfos")
                                                          if isinstance(i, dict))
        return found

    # -- one upload -----------------------------------------------------------------------------
    def attach(self, object_id: int, part: FilePart) -> None:
        """Make *part* the attachment of feature *object_id*, once. A lost or failed answer is checked against
        the feature's attachments before the photo is sent again (at most ``retries`` times); raises
        :class:`NotAttached` with the reason, AuthError when the credentials are refused."""
        attempt = 0
        while True:
            try:
                answer = api.add_attachment(self.client, self.layer_url, object_id, part)
            except AuthError:
                raise
            except XpgeoError as exc:
                if exc.status == 413:
                    raise NotAttached(f"the portal (or a proxy before it) refused the {megabytes(part.size)} photo as "
                                      "too large (HTTP 413). Make it smaller, or ask the portal's administrator "
                                      "about the upload limit, then run the append again") from None
                if not is_transient(exc):
                    raise NotAttached(f"the portal refused the {megabytes(part.size)} photo as an attachment: "
                                      f"{exc.message}") from None
                if self._landed(object_id, part, exc):
                    return
                attempt += 1
                if attempt > self.retries:
                    raise NotAttached(f"the photo could not be attached: {exc.message}", status=exc.status) from None
                log.info("addAttachment of %s failed (%s); it is not attached, so it is sent again.", part.filename,
                         exc.message)
                self.back_off(attempt)
                continue
            result = object_at(answer, "addAttachmentResult")
            if result.get("success") in (True, "true"):
                return
            error = object_at(result, "error")
            said = error.get("description") or error.get("message") or "no reason given"
            code = f" (code {error['code']})" if error.get("code") is not None else ""
            if not result:  # no addAttachmentResult at all: ask, as for a lost answer
                if self._landed(object_id, part, None):
                    return
                raise NotAttached("the portal's addAttachment answer has no result, and the photo is not attached")
            raise NotAttached(f"the portal refused the {megabytes(part.size)} photo as an attachment: {said}{code}")

    def _landed(self, object_id: int, part: FilePart, exc: Optional[XpgeoError]) -> bool:
        """Did an upload whose answer was lost land? Asking fails: :class:`NotAttached`, unconfirmed."""
        try:
            infos = self.attached([object_id])[object_id]
        except XpgeoError as check:
            raise NotAttached("not confirmed: the portal stopped answering while the photo was sent "
                              f"({(exc or check).message})", status=None) from None
        return any(is_the_photo(info, part) for info in infos)


def lost(exc: BaseException) -> bool:
    """An upload whose outcome nobody knows (the answer never came, and asking failed too)."""
    return isinstance(exc, NotAttached) and exc.message.startswith("not confirmed")


__all__ = ["Attacher", "NotAttached", "photo_key", "key_path", "file_part", "is_file", "is_the_photo", "lost"]
