from __future__ import annotations

import datetime

import pytest

from api.sse import encode
from db.observability_store import JobEventRow
from jobs.live.event import EventFilter, LiveEvent
from jobs.live.stream import Cursor, InvalidEventCursor, StreamItem


@pytest.mark.parametrize(
    ("text", "cursor"), [("0", Cursor(0)), ("42", Cursor(42)), ("42.3", Cursor(42, 3))]
)
def test_cursors_round_trip(text: str, cursor: Cursor) -> None:
    assert Cursor.parse(text) == cursor
    assert str(cursor) == text


@pytest.mark.parametrize("text", ["", "abc", "-1", "1.2.3", "1.", "9" * 30])
def test_foreign_cursors_are_refused(text: str) -> None:
    with pytest.raises(InvalidEventCursor):
        Cursor.parse(text)


def test_filters_match_job_queue_and_task() -> None:
    event = LiveEvent(job_id=7, type="started", id=3, queue="llm", task="llm.generate")
    assert EventFilter().matches(event)
    assert EventFilter(job_id=7).matches(event)
    assert not EventFilter(job_id=8).matches(event)
    assert EventFilter(queue="llm", task="llm.generate").matches(event)
    assert not EventFilter(queue="video").matches(event)
    assert not EventFilter(task="tools.run").matches(event)


def test_a_database_row_becomes_an_event_with_its_status() -> None:
    at = datetime.datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=datetime.UTC)
    event = LiveEvent.from_row(
        JobEventRow(id=5, job_id=2, type="deferred_for_retry", at=at, queue="tools",
                    task="tools.run")
    )  # fmt: skip
    assert event == LiveEvent(
        job_id=2, type="deferred_for_retry", id=5, at=at, queue="tools", task="tools.run"
    )
    assert event.status == "todo"


def test_sse_encoding() -> None:
    assert encode([StreamItem(data='{"a":1}', id="4.1", event="ready")]) == (
        b'id: 4.1\nevent: ready\ndata: {"a":1}\n\n'
    )
    assert encode([StreamItem(data="{}"), StreamItem(data="[]", id="5")]) == (
        b"data: {}\n\nid: 5\ndata: []\n\n"
    )
    assert encode(None) == b": keep-alive\n\n"
