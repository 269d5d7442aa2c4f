"""Files written so that a reader never sees half of one: the local layer's files, the preview, its photo index.

Here, below the backends and the preview alike, because both write this way (the preview used to
borrow :func:`atomic_write` from the local backend, which itself renders the preview: a circle).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

TEMP_SUFFIX = ".xpgeo-tmp"
"""The ending of a temporary file that is being written (removed by :func:`remove_stale_temporaries`)."""


def atomic_write(path: Path, text: str) -> None:
    """Write *text* to *path* so that readers see the old file or the new one, never half.

    A temporary file in the same folder, flushed to disk, then ``os.replace`` (atomic
    on one file system, Windows included).
    """
    # pid and thread: two writers in one process (threads) or two processes never share a temporary.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}{TEMP_SUFFIX}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        for attempt in range(5):
            try:
                os.replace(tmp, path)
                return
            except PermissionError:  # Windows: a virus scanner or indexer holds the old file for a moment
                if attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))
    except BaseException:
        # A full disk or a locked file: the old file stands, and no temporary is left behind.
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files left by a run that was killed mid-write."""
    for leftover in folder.glob(f".*{TEMP_SUFFIX}"):
        try:
            leftover.unlink()
        except OSError:
            pass
