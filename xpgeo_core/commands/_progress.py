"""Progress of long appends on stderr, never on stdout (so ``--json`` stays one document).

* stderr is a terminal: one live line, rewritten per image (done/total, failures, rate,
  time left), ended with a newline when the run ends or stops;
* stderr is a file or a pipe (CI, ``2> log``): one plain line per chunk, no ``\\r``;
* heartbeats (``tick``) print nothing: they are there so Cancel is heard;
* ``--quiet``: nothing.

Nothing here is timed in tests: the rate and time left are printed, never asserted.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, TextIO

from xpgeo_core.results import IMAGE, TICK, Progress

LIVE_WIDTH = 78


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class ProgressPrinter:
    """A :data:`~xpgeo_core.results.ProgressCallback` that prints; use as a context manager
    so a live line is always ended before the next message (an error, the summary)."""

    def __init__(self, stream: Optional[TextIO], *, live: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.live = live
        self._clock = clock
        self._started = clock()
        self._open_line = False

    def __call__(self, p: Progress) -> None:
        if self.stream is None or p.kind == TICK or (not self.live and p.kind == IMAGE):
            return
        text = format_progress(p, self._clock() - self._started)
        if self.live:
            self.stream.write("\r" + text.ljust(LIVE_WIDTH))
            self._open_line = True
            if p.step >= p.steps and p.kind != IMAGE:
                self.close()
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the live line, if one is showing."""
        if self._open_line and self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()
        self._open_line = False

    def __enter__(self) -> "ProgressPrinter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_printer(ctx) -> ProgressPrinter:
    """The progress display a command should use, from its context (``--quiet``, stderr)."""
    if ctx.quiet:
        return ProgressPrinter(None, live=False)
    return ProgressPrinter(ctx.stderr, live=is_terminal(ctx.stderr))


def format_progress(p: Progress, elapsed: float) -> str:
    """``1200/10000 images, 3 failed, 41.2/s, about 3m34s left (chunk 12/100)``."""
    elapsed = max(elapsed, 1e-6)
    rate = p.done / elapsed
    left = (p.total - p.done) / rate if rate > 0 else 0.0
    return (f"{p.done}/{p.total} images, {p.failed} failed, {rate:.1f}/s, "
            f"about {_duration(left)} left (chunk {p.step}/{p.steps})")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
