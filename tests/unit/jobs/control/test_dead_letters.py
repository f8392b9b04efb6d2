from __future__ import annotations

import datetime

import pytest

from db.dead_letter_store import DeadLetterFilter
from jobs.control.dead_letters import DeadLetterCursor, check_scope
from jobs.errors import InvalidCursor, UnscopedBulkRetry


def test_cursors_round_trip_and_are_opaque() -> None:
    at = datetime.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)
    cursor = DeadLetterCursor(at, 42)
    encoded = cursor.encode()
    assert "2030" not in encoded
    assert DeadLetterCursor.decode(encoded) == cursor


@pytest.mark.parametrize("bad", ["", "nope", "bm9wZQ", DeadLetterCursor.__name__])
def test_bad_cursors_are_refused(bad: str) -> None:
    with pytest.raises(InvalidCursor):
        DeadLetterCursor.decode(bad)


def test_a_cursor_without_a_time_zone_is_refused() -> None:
    naive = DeadLetterCursor(datetime.datetime(2030, 1, 1), 1).encode()
    with pytest.raises(InvalidCursor):
        DeadLetterCursor.decode(naive)


def test_scope_rule() -> None:
    nothing = DeadLetterFilter()
    by_task = DeadLetterFilter(task="tools.run")
    check_scope("matching", by_task, None)
    check_scope("matching", nothing, [1, 2])
    check_scope("all", nothing, None)
    with pytest.raises(UnscopedBulkRetry, match='scope "all"'):
        check_scope("matching", nothing, None)
    with pytest.raises(UnscopedBulkRetry, match="takes no filters"):
        check_scope("all", by_task, None)
    with pytest.raises(UnscopedBulkRetry, match="takes no filters"):
        check_scope("all", nothing, [1])
