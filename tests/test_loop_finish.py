"""The end of an append (the sink's finish: extent, footprints, derived files) hears Cancel like the rest
of the run: the sink's sockets are shut, the finish returns, and the report says so, results intact."""

from __future__ import annotations

import threading

from xpgeo_core.errors import Cancelled
from xpgeo_core.pipeline import gather, run_append
from xpgeo_core.pipeline.loop import CANCELLED_FINISHING
from xpgeo_core.pipeline.sink import Sink, result
from xpgeo_core.results import APPENDED, TICK
from xpgeo_core.settings import load_settings


class SlowFinish(Sink):
    """Takes URLs, appends them, then finishes until it is aborted (a portal that stopped answering)."""

    backend = "test"
    takes_photos = False

    def __init__(self) -> None:
        super().__init__("layer", 10)
        self.finishing = threading.Event()
        self.aborted = threading.Event()

    def send(self, items):
        return {i.image.image_path: result(i.image, APPENDED) for i in items}

    def finish(self, report):
        self.finishing.set()
        self.aborted.wait(30)  # a bound for a broken test, never reached by a passing one

    def abort(self):
        self.aborted.set()


def test_cancel_while_the_sink_finishes_is_heard_and_the_results_stand():
    sink = SlowFinish()
    images = gather((None, f"https://photos.example.com/{n}.jpg") for n in range(3)).images

    def progress(update):
        if update.kind == TICK and sink.finishing.is_set():
            raise Cancelled("Cancelled by the user")

    report = run_append(sink, images, settings=load_settings(environ={}), progress=progress)
    assert sink.aborted.is_set()
    assert report.cancelled
    assert [r.status for r in report.results] == [APPENDED] * 3
    assert any(m.startswith(CANCELLED_FINISHING) for m in report.messages)


def test_a_finish_nobody_cancels_runs_to_its_end():
    sink = SlowFinish()
    sink.aborted.set()  # finishes at once
    images = gather([(None, "https://photos.example.com/a.jpg")]).images
    report = run_append(sink, images, settings=load_settings(environ={}))
    assert not report.cancelled and not report.messages
