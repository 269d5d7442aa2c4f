"""The engine: one photo (its :class:`~xpgeo_core.urls.PhotoRef`) in, its Oriented Imagery attributes out.

Only the header is read, and its bytes are dropped as soon as it is parsed. Many photos are read
by the pipeline's one photo pass (:mod:`xpgeo_core.pipeline.photos`: worker threads, one
:class:`~xpgeo_core.photo_client.PhotoClient` each, a bounded window), which calls
:func:`inspect_source` per photo.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from xpgeo_core.urls import PhotoRef
from xpgeo_core.photo_client import PhotoClient, make_photo_client
from xpgeo_core.metadata import rules
from xpgeo_core.metadata.fetch import BytesSource, open_source
from xpgeo_core.metadata.jpeg import walk
from xpgeo_core.metadata.photo import PhotoError, PhotoInfo
from xpgeo_core.metadata.tiff import xmp_packets
from xpgeo_core.metadata.xmp import XmpRefused, read_xmp
from xpgeo_core.settings import Settings

log = logging.getLogger("xpgeo.metadata")


def inspect_source(source: Union[str, PhotoRef], *, settings: Settings, imagery_type: Optional[str] = None,
                   client: Optional[PhotoClient] = None, session: Any = None,
                   origin: Optional[str] = None) -> PhotoInfo:
    """Read one photo's header and build its attributes. Never raises for a bad photo.

    *client* is a worker's :class:`PhotoClient` (one is made when absent). *session*, the
    requests session of earlier releases, is accepted and ignored, with a DeprecationWarning.
    *origin*: the header read also asks for CORS (``PhotoInfo.allow_origin``, the viewer check's).
    """
    if session is not None:
        warnings.warn("inspect_source(session=...) is ignored since photo headers are read with a PhotoClient; "
                      "pass client= or nothing", DeprecationWarning, stacklevel=2)
    photo = source if isinstance(source, PhotoRef) else PhotoRef.parse(source)
    own_client = None
    try:
        if photo.is_web and client is None:
            client = own_client = make_photo_client(settings, pool_size=1)
        return _inspect(photo, lambda: open_source(photo, settings.max_header_bytes, client, origin), imagery_type,
                        settings)
    finally:
        if own_client is not None:
            own_client.close()


def inspect_bytes(data: bytes, *, source: Union[str, PhotoRef], settings: Settings,
                  imagery_type: Optional[str] = None) -> PhotoInfo:
    """The same for photo bytes already in memory; *source* is what ImagePath and Name come from
    (a name as given: nothing is read from it, so a relative name is not made a path)."""
    photo = source if isinstance(source, PhotoRef) else PhotoRef.named(source)
    return _inspect(photo, lambda: BytesSource(data, settings.max_header_bytes), imagery_type, settings)


def _inspect(photo: PhotoRef, opener: Callable[[], Any], imagery_type: Optional[str], settings: Settings) -> PhotoInfo:
    info = PhotoInfo(photo)
    try:
        byte_source = opener()
        try:
            header = walk(byte_source)
        finally:
            info.bytes_read = byte_source.bytes_read
            info.allow_origin = getattr(byte_source, "allow_origin", None)
            info.read_as_viewer = getattr(byte_source, "read_as_viewer", False)
            byte_source.close()
        info.warnings.extend(header.warnings)
        exif = header.exif or {}
        xmp = _xmp_properties(header.xmp, xmp_packets(exif), info.warnings)
        facts = rules.Facts(ifd0=exif.get("ifd0", {}), exif=exif.get("exif", {}), gps=exif.get("gps", {}),
                            xmp=xmp, frame_size=header.frame_size, warnings=info.warnings)
        info.attributes = rules.build(facts, photo, imagery_type, magnetic_correction=settings.magnetic_correction)
        info.ok = True
    except PhotoError as exc:
        info.error, info.error_code = exc.message, exc.code
        if exc.attributes is not None:
            info.attributes = exc.attributes
    except Exception as exc:  # a bug must cost one photo, not the batch
        log.debug("Unexpected error reading %s", photo.display, exc_info=True)
        info.error, info.error_code = "unexpected error reading the photo (%s)" % exc.__class__.__name__, "internal"
    if not info.ok:
        log.debug("Photo %s: %s", photo.display, info.error)
    return info


_WHERE = {"ifd0": " (in EXIF tag 700)", "exif": " (in EXIF tag 700 of the Exif IFD)"}


def _xmp_properties(app1: Optional[bytes], in_exif: List[Tuple[str, bytes]], warnings: List[str]) -> Dict[str, str]:
    """The XMP properties of the APP1 packet, completed by the packets in EXIF tag 700 (DJI
    thermal payloads write only that one, in IFD0 or the Exif IFD): where several name a
    property, the APP1 one wins, since that is the packet photo editors update, then IFD0's."""
    found: Dict[str, str] = {}
    packets = [(app1, "")] + [(packet, _WHERE[ifd]) for ifd, packet in in_exif]
    for packet, where in packets:
        if not packet:
            continue
        try:
            properties = read_xmp(packet)
        except XmpRefused as exc:
            warnings.append(str(exc).replace("XMP", "XMP" + where, 1))
            continue
        for key, value in properties.items():
            found.setdefault(key, value)
    return found
