"""The append loop's books (xpgeo_core/pipeline/accounting.py), proved without threads, sockets or sinks:
every image ends with exactly one result, the first one recorded wins, and what an image not sent
becomes depends only on whether the layer was checked for it."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from xpgeo_core.pipeline.accounting import IN_FLIGHT_CANCELLED, NO_RESULT, NOT_CHECKED, Books
from xpgeo_core.pipeline.identity import Image
from xpgeo_core.pipeline.sink import Item, result
from xpgeo_core.results import APPENDED, FAILED, SKIPPED, UNCONFIRMED


def images(n: int):
    return [Image.of(f"https://photos.example.com/p{i}.jpg", line=i + 1) for i in range(n)]


def test_the_first_result_recorded_wins():
    a, = images(1)
    books = Books([a])
    assert books.record(result(a, APPENDED))
    assert not books.record(result(a, FAILED, "a late answer"))
    assert books.final()[0].status == APPENDED and books.failed == 0


def test_an_image_not_sent_is_failed_only_where_the_layer_was_checked():
    checked, unchecked = images(2)
    books = Books([checked, unchecked])
    books.mark_checked([checked])
    assert books.not_sent_rest("not sent: the server stopped answering") == 2
    first, second = books.final()
    assert first.status == FAILED and first.reason == "not sent: the server stopped answering"
    assert second.status == UNCONFIRMED and second.reason.endswith(NOT_CHECKED)
    assert books.failed == 2


def test_a_returned_chunk_gives_every_item_a_result():
    appended, missing = images(2)
    items = [Item(appended, notes=("CameraHeading 90.0° inferred from the track",)), Item(missing)]
    books = Books([appended, missing])
    sink_said = {appended.image_path: result(appended, APPENDED)}
    stopped = books.chunk_results(items, sink_said, "credentials refused")
    assert [r.status for r in stopped] == [APPENDED, FAILED]
    assert stopped[0].notes == ["CameraHeading 90.0° inferred from the track"]
    assert stopped[1].reason == "not sent: credentials refused"
    assert books.chunk_results(items[1:], {}, None)[0].reason == NO_RESULT
    assert books.done == 0  # chunk_results only says what each result is; record() keeps it


def test_notes_go_only_on_an_appended_result():
    image, = images(1)
    skipped = result(image, SKIPPED, "already in the layer")
    out = Books([image]).chunk_results([Item(image, notes=("inferred",))], {image.image_path: skipped}, None)
    assert out[0].notes is None


def test_a_chunk_in_flight_at_a_cancel_is_unconfirmed_unless_it_already_has_a_result():
    landed, lost = images(2)
    books = Books([landed, lost])
    books.record(result(landed, APPENDED))
    assert books.in_flight_lost([Item(landed), Item(lost)]) == 1
    assert [r.status for r in books.final()] == [APPENDED, UNCONFIRMED]
    assert books.final()[1].reason == IN_FLIGHT_CANCELLED


def test_final_is_in_input_order_and_never_short():
    listed = images(3)
    books = Books(listed)
    books.record(result(listed[2], APPENDED))
    final = books.final()
    assert [r.url for r in final] == [i.image_path for i in listed]
    assert [r.reason for r in final[:2]] == [NO_RESULT, NO_RESULT]


EVENTS = st.lists(st.tuples(st.sampled_from(["appended", "skipped", "failed", "unconfirmed", "checked",
                                             "not_sent", "chunk", "in_flight"]),
                            st.integers(min_value=0, max_value=7)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.sampled_from(["cancelled", "stopped"]))
def test_whatever_happens_every_image_ends_with_one_result(events, ending):
    """Any order of answers, checks, stops and cancels: once the run closes its books (the rest not
    sent), each image has exactly one result, the first recorded, and the failed count agrees."""
    listed = images(8)
    books = Books(listed)
    first = {}
    statuses = {"appended": APPENDED, "skipped": SKIPPED, "failed": FAILED, "unconfirmed": UNCONFIRMED}
    for kind, index in events:
        image = listed[index]
        if kind in statuses:
            outcome = result(image, statuses[kind], kind)
            if books.record(outcome):
                first[image.image_path] = outcome
        elif kind == "checked":
            books.mark_checked([image])
        elif kind == "not_sent":
            was = books.has(image)
            books.not_sent(image, "not sent: stopped")
            if not was:
                first[image.image_path] = books.results[image.image_path]
        elif kind == "chunk":
            for outcome in books.chunk_results([Item(image)], {}, "stopped"):
                if books.record(outcome):
                    first[image.image_path] = outcome
        else:
            was = books.has(image)
            books.in_flight_lost([Item(image)])
            if not was:
                first[image.image_path] = books.results[image.image_path]
    books.not_sent_rest("not sent: the run was " + ending)
    final = books.final()
    assert len(final) == len(listed) == books.done
    assert [r.url for r in final] == [i.image_path for i in listed]
    for image, outcome in zip(listed, final):
        if image.image_path in first:
            assert outcome is first[image.image_path]
        elif image.image_path in books.checked:
            assert outcome.status == FAILED
        else:
            assert outcome.status == UNCONFIRMED
    assert books.failed == sum(1 for r in final if r.status in (FAILED, UNCONFIRMED))
