"""The one pass over the photos: each header read once, by a small pool of daemon workers.

It is the only reader of many photos (``xpgeo inspect``, ``--preflight`` and every append use
it), because the append loop must be able to stop in two seconds with photo hosts stalled (Cancel, Ctrl+C). So the workers here are daemon
threads (nothing waits for them at exit), each with its own
:class:`~xpgeo_core.photo_client.PhotoClient` registered with one
:class:`~xpgeo_core.http.ConnectionTracker`, and :meth:`PhotoPass.close` with ``abort``
shuts their in-flight sockets, so a worker blocked on a silent host returns at once.
The per-photo work is the engine's own :func:`~xpgeo_core.metadata.inspect_source`.
``--preflight`` is this same pass: its verdicts are the ones the sink then uses.
"""

from __future__ import annotations

import collections
import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Deque, List, Optional, Tuple

from xpgeo_core.http import ConnectionTracker
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.settings import Settings

WINDOW_PER_WORKER = 4
"""Photos queued per worker: keeps workers busy without holding the whole list in memory."""


class PhotoPass:
    """Read photos' headers concurrently; results come back in submission order."""

    def __init__(self, settings: Settings, imagery_type: Optional[str], *, cancel: threading.Event,
                 viewer: Any = None) -> None:
        self.settings = settings
        self.viewer = viewer
        """The run's :class:`~xpgeo_core.readiness.ViewerCheck`: a photo it checks from its header read is
        read with its ``Origin``, and handed to it on the worker."""
        self.imagery_type = imagery_type
        self.workers = max(1, int(settings.fetch_concurrency))
        self.cancel = cancel
        self.tracker = ConnectionTracker(cancel)
        self._tasks: "queue.Queue[Optional[Tuple[Image, Future]]]" = queue.Queue()
        self._pending: Deque[Tuple[Image, Future]] = collections.deque()
        self._threads: List[threading.Thread] = []
        self._clients: List[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- the coordinator's side -------------------------------------------------------
    def submit(self, image: Image) -> None:
        if not self._threads:
            self._start()
        future: Future = Future()
        self._pending.append((image, future))
        self._tasks.put((image, future))

    @property
    def full(self) -> bool:
        return len(self._pending) >= self.workers * WINDOW_PER_WORKER

    @property
    def empty(self) -> bool:
        return not self._pending

    def next(self, timeout: float) -> Optional[Tuple[Image, Any]]:
        """The oldest photo's (image, PhotoInfo), or None when it is not read within *timeout*."""
        image, future = self._pending[0]
        try:
            info = future.result(timeout=timeout)
        except FutureTimeout:  # not the built-in TimeoutError before Python 3.11
            return None
        self._pending.popleft()
        return image, info

    def drain_unread(self) -> List[Image]:
        """Images submitted and not yet handed back (after a stop or a cancel)."""
        images = [image for image, _ in self._pending]
        self._pending.clear()
        return images

    def close(self, *, abort: bool = False) -> None:
        """Stop the workers. ``abort``: also shut every in-flight socket (Cancel)."""
        if self._closed:
            return
        self._closed = True
        if abort:
            self.cancel.set()
            self.tracker.abort()
        while True:  # queued, not started: never read
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                break
            if task is not None:
                task[1].cancel()
        for _ in self._threads:
            self._tasks.put(None)
        if not abort:
            for thread in self._threads:
                thread.join()
            for client in self._clients:
                client.close()

    # -- the workers --------------------------------------------------------------------
    def _start(self) -> None:
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"xpgeo-photo-{number + 1}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        from xpgeo_core.metadata import inspect_source
        from xpgeo_core.photo_client import PhotoClient

        client = None
        while True:
            task = self._tasks.get()
            if task is None:
                return
            image, future = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                remote = image.is_web
                if remote and client is None:
                    client = PhotoClient(self.settings, pool_size=2, tracker=self.tracker)
                    with self._lock:
                        self._clients.append(client)
                origin = self.viewer.header_origin(image) if self.viewer is not None and remote else None
                info = inspect_source(image.ref, settings=self.settings, imagery_type=self.imagery_type,
                                      client=client if remote else None, origin=origin)
                if origin is not None:
                    self.viewer.after_read(image, info, client)
                future.set_result(info)
            except BaseException as exc:  # inspect_source never raises for a bad photo; a bug costs one photo
                future.set_exception(exc)


def read_all(settings: Settings, images: Any, imagery_type: Optional[str] = None) -> Any:
    """Every photo's PhotoInfo, in input order, read by one :class:`PhotoPass` (``xpgeo inspect``).

    Lazy and bounded like the append loop; when the consumer stops (Ctrl+C, ``close()``) the reads
    in flight are cancelled and their sockets shut instead of being waited for.
    """
    reader = PhotoPass(settings, imagery_type, cancel=threading.Event())
    pending = iter(images)
    exhausted = False
    finished = False
    try:
        while True:
            while not exhausted and not reader.full:
                try:
                    reader.submit(next(pending))
                except StopIteration:
                    exhausted = True
            if reader.empty:
                break
            got = reader.next(0.2)
            if got is not None:
                yield got[1]
        finished = True
    finally:
        reader.close(abort=not finished)
