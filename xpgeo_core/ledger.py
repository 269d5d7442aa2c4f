"""A local record of images already appended through a backend that cannot be asked.

The XPGEO REST server has no documented way to list a layer's images, so a rerun of
the same URL list would append every photo again. The ledger remembers, per server
and layer, what became of each image (by its ImagePath, the URL without credentials):

* ``sent``: the server accepted it; a rerun skips it and says so;
* ``unsure``: written *before* a chunk is sent, so a chunk whose answer never came back
  (a reset, a time-out, a cut body, ``kill -9`` mid-request) is known to the rerun, which
  finds out what landed (through the portal when it can) instead of sending it twice;
* ``failed``: the server refused it or it was never sent; a rerun sends it again.

The last line for an image wins.

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
import threading
import time
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Set
from urllib.parse import urlsplit

from xpgeo_core.urls import without_credentials

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


SENT = "sent"
UNSURE = "unsure"
FAILED = "failed"


class Ledger:
    """What became of each image sent to one layer of one target, by ImagePath."""

    def __init__(self, target: str, layer: str, folder: Optional[Path] = None) -> None:
        key = hashlib.sha256(f"{_normal_target(target)}\n{layer}".encode("utf-8")).hexdigest()[:24]
        self.path = (folder or state_dir()) / "ledger" / f"{key}.jsonl"
        self.target = target
        self.layer = layer
        self._states: Optional[Dict[str, str]] = None
        self._lock = threading.Lock()

    def states(self) -> Dict[str, str]:
        if self._states is None:
            states: Dict[str, str] = {}
            try:
                with open(self.path, encoding="utf-8") as handle:
                    for line in handle:
                        try:
                            entry = json.loads(line)
                            states[without_credentials(entry["url"])] = str(entry.get("state") or SENT)
                        except (ValueError, KeyError, TypeError, AttributeError):
                            continue  # a torn last line from an interrupted run
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("The append ledger %s cannot be read (%s); already-appended images may be sent again.",
                            self.path, exc.strerror)
            self._states = states
        return self._states

    def urls(self) -> Set[str]:
        """The ImagePaths the server accepted."""
        return {path for path, state in self.states().items() if state == SENT}

    def state(self, image_path: str) -> Optional[str]:
        return self.states().get(image_path)

    def __contains__(self, image_path: str) -> bool:
        return self.state(without_credentials(image_path)) == SENT

    def write_list(self, image_paths: Iterable[str], suffix: str) -> Optional[Path]:
        """A URL list beside the ledger (one ImagePath a line: no credentials, no signatures), for a
        command that takes a list; None when it cannot be written."""
        path = self.path.with_name(self.path.stem + suffix)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(p + "\n" for p in image_paths), encoding="utf-8")
        except OSError as exc:
            log.warning("The list %s cannot be written (%s).", path, exc.strerror)
            return None
        return path

    def record(self, image_paths: Iterable[str], state: str = SENT) -> None:
        """Write *state* for each image, in one ``write`` of whole lines (flushed to disk when
        it is ``unsure``: that line must survive a ``kill -9`` of the request that follows)."""
        with self._lock:
            states = self.states()
            new = [p for p in image_paths if states.get(p) != state]
            if not new:
                return
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            text = "".join(json.dumps({"url": p, "state": state, "at": stamp}) + "\n" for p in new)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as handle:
                    handle.write(text)
                    if state == UNSURE:
                        handle.flush()
                        os.fsync(handle.fileno())
                states.update((p, state) for p in new)
            except OSError as exc:
                log.warning("The append ledger %s cannot be written (%s); a rerun may send these images again.",
                            self.path, exc.strerror)
