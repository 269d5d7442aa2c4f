"""What every loopback test server shares: run in a thread, stop cleanly, be a context
manager, and show everything clients sent (to look for leaked secrets)."""

from __future__ import annotations

import threading
from typing import Any


class LoopbackServer:
    """Base for servers holding ``self.httpd`` (a ThreadingHTTPServer on 127.0.0.1),
    ``self.thread`` (running ``serve_forever``) and ``self.state.requests`` (records with
    ``method``, ``raw_path``, ``headers``, ``body``)."""

    httpd: Any
    thread: threading.Thread
    state: Any

    def start(self) -> Any:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def wire_text(self) -> str:
        """Everything the clients sent (request lines, headers, bodies) as one string."""
        parts = []
        for r in self.state.requests:
            parts.append(f"{r.method} {r.raw_path}")
            parts.extend(f"{k}: {v}" for k, v in r.headers.items())
            parts.append(r.body.decode("utf-8", "replace"))
        return "\n".join(parts)
