"""A local record of images already appended through a backend that cannot be asked.

The XPGEO REST server has no documented way to list a layer's images, so a rerun of
the same URL list would append every photo again. The ledger remembers, per server
and layer, which URLs the server accepted; a rerun skips them and says so.

One JSON-lines file per (target, layer) in the user's state folder:
``%LOCALAPPDATA%\\XPGEO\\ledger`` on Windows, ``$XDG_STATE_HOME/xpgeo/ledger``
(default ``~/.local/state/xpgeo/ledger``) elsewhere. Appends are one ``write`` of
whole lines, so an interrupted run loses at most the chunk in flight.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Iterable, Mapping, Optional, Set
from urllib.parse import urlsplit

log = logging.getLogger("xpgeo.ledger")


def state_dir(environ: Optional[Mapping[str, str]] = None) -> Path:
    environ = os.environ if environ is None else environ
    if os.name == "nt" and environ.get("LOCALAPPDATA"):
        return Path(environ["LOCALAPPDATA"]) / "XPGEO"
    if environ.get("XDG_STATE_HOME"):
        return Path(environ["XDG_STATE_HOME"]) / "xpgeo"
    return Path(environ.get("HOME") or Path.home()) / ".local" / "state" / "xpgeo"


def _normal_target(target: str) -> str:
    """One spelling per server: scheme and host are case-insensitive, default ports and
    trailing slashes do not matter."""
    parts = urlsplit(target.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}"


class Ledger:
    """URLs appended to one layer of one target."""

    def __init__(self, target: str, layer: str, folder: Optional[Path] = None) -> None:
        key = hashlib.sha256(f"{_normal_target(target)}\n{layer}".encode("utf-8")).hexdigest()[:24]
        self.path = (folder or state_dir()) / "ledger" / f"{key}.jsonl"
        self.target = target
        self.layer = layer
        self._urls: Optional[Set[str]] = None

    def urls(self) -> Set[str]:
        if self._urls is None:
            self._urls = set()
            try:
                with open(self.path, encoding="utf-8") as handle:
                    for line in handle:
                        try:
                            self._urls.add(json.loads(line)["url"])
                        except (ValueError, KeyError, TypeError):
                            continue  # a torn last line from an interrupted run
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("The append ledger %s cannot be read (%s); already-appended images may be sent again.",
                            self.path, exc.strerror)
        return self._urls

    def __contains__(self, url: str) -> bool:
        return url in self.urls()

    def record(self, urls: Iterable[str]) -> None:
        new = [u for u in urls if u not in self.urls()]
        if not new:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        text = "".join(json.dumps({"url": u, "at": stamp}) + "\n" for u in new)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(text)
            self.urls().update(new)
        except OSError as exc:
            log.warning("The append ledger %s cannot be written (%s); a rerun may send these images again.",
                        self.path, exc.strerror)
