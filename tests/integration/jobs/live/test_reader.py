"""The live-events reader: one read serves every transaction it saw, in commit order."""

from __future__ import annotations

from typing import Any

import psycopg

from db import observability_store
from jobs.live.reader import EventReader
from tests.factories import make_job

Conn = psycopg.AsyncConnection[Any]


async def create_in_transaction(conn: Conn, tool: str) -> tuple[int, int]:
    """A job created in its own transaction: (job id, the transaction's id)."""
    async with conn.transaction():
        job = await make_job(conn, "tools.run", {"tool": tool})
        cursor = await conn.execute("SELECT pg_current_xact_id()::text::bigint")
        row = await cursor.fetchone()
    assert row is not None
    return job.id, int(row[0])


async def test_one_read_serves_the_transactions_it_saw_each_at_its_own_notification(
    conn: Conn, database_url: str
) -> None:
    reader = EventReader(await observability_store.event_max_id(conn))
    first = await create_in_transaction(conn, "a")
    second = await create_in_transaction(conn, "b")
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listener:
        # the first notification reads both transactions, hands out the first's events only
        events = await reader.committed(listener, first[1], awaited_ids=[])
        assert [(e.job_id, e.type) for e in events] == [(first[0], "deferred")]
        assert reader.reads == 1
        # the second's were read with it: no second read
        events = await reader.committed(listener, second[1], awaited_ids=[])
        assert [(e.job_id, e.type) for e in events] == [(second[0], "deferred")]
        assert reader.reads == 1
        # a transaction the last read did not see is read when it is announced
        third = await create_in_transaction(conn, "c")
        events = await reader.committed(listener, third[1], awaited_ids=[])
        assert [(e.job_id, e.type) for e in events] == [(third[0], "deferred")]
        assert reader.reads == 2
        assert not reader.holding


async def test_events_written_under_another_transaction_id_are_handed_out_when_overdue(
    conn: Conn, database_url: str
) -> None:
    """Rows written in a savepoint carry the subtransaction's id, not the announced one."""
    reader = EventReader(await observability_store.event_max_id(conn), hold_seconds=0)
    async with conn.transaction():
        async with conn.transaction():  # a savepoint
            job = await make_job(conn, "tools.run", {"tool": "nested"})
        cursor = await conn.execute("SELECT pg_current_xact_id()::text::bigint")
        row = await cursor.fetchone()
    assert row is not None
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listener:
        assert await reader.committed(listener, int(row[0]), awaited_ids=[]) == []
    assert [(e.job_id, e.type) for e in reader.overdue()] == [(job.id, "deferred")]
