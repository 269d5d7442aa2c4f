"""Progress of long appends on stderr: a live line on a terminal, one line per chunk
otherwise, nothing with ``--quiet``. Never on stdout, so ``--json`` stays one document."""

from __future__ import annotations

import time

from xpgeo_core.results import Progress, ProgressCallback, no_progress


def progress_printer(ctx) -> ProgressCallback:
    if ctx.quiet:
        return no_progress
    stream = ctx.stderr
    live = bool(getattr(stream, "isatty", lambda: False)())
    started = time.monotonic()

    def show(p: Progress) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        rate = p.done / elapsed
        left = (p.total - p.done) / rate if rate > 0 else 0.0
        text = (f"{p.done}/{p.total} images, {p.failed} failed, {rate:.1f}/s, "
                f"about {_duration(left)} left (chunk {p.step}/{p.steps})")
        if live:
            end = "\n" if p.step >= p.steps else ""
            stream.write("\r" + text.ljust(78) + end)
        else:
            stream.write(text + "\n")
        stream.flush()

    return show


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
