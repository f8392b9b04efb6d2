"""The one job query: bounded windows, one meaning per field, the same rows everywhere."""

from __future__ import annotations

import datetime
from typing import Any

import psycopg

from db import job_store
from db.types import JobStatus
from jobs.control.query import JobFilter, query_jobs
from jobs.testing import enqueued_jobs
from tests.factories import make_job

Conn = psycopg.AsyncConnection[Any]


async def _plain_procrastinate_job(conn: Conn, queue: str = "tools") -> int:
    """A job deferred the way procrastinate's periodic deferrer does: no pgjobs record."""
    cursor = await conn.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args)"
        " VALUES (%s, 'stats.hourly', '{\"timestamp\": 1}') RETURNING id",
        [queue],
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_scan_pages_through_windows_until_the_oldest_job(conn: Conn) -> None:
    jobs = [await make_job(conn, "tools.run", {"tool": f"t{n}"}) for n in range(25)]
    rare = {jobs[3].id, jobs[20].id}
    await conn.execute(
        "UPDATE procrastinate_jobs SET queue_name = 'rare' WHERE id = ANY(%s)", [list(rare)]
    )
    found: list[int] = []
    before: int | None = None
    windows = 0
    while True:
        page = await query_jobs(
            conn, JobFilter(queue="rare"), cursor=before, limit=10, scan_limit=10
        )
        windows += 1
        found += [row.id for row in page.rows]
        if page.next_cursor is None:
            break
        before = page.next_cursor
    assert found == sorted(rare, reverse=True)
    assert windows == 3  # 25 jobs, 10 examined per page


async def test_a_job_without_a_pgjobs_record_has_the_creation_time_of_a_read(conn: Conn) -> None:
    """created_at means one thing: a periodic (or plain procrastinate) job gets it from its
    'deferred' event in a list as in a read, and filters on it the same way."""
    job_id = await _plain_procrastinate_job(conn)
    read = await job_store.job_get(conn, job_id)
    assert read is not None
    assert read.created_at is not None
    (listed,) = (await query_jobs(conn, JobFilter(), limit=10)).rows
    assert (listed.id, listed.created_at) == (job_id, read.created_at)

    just_before = read.created_at - datetime.timedelta(microseconds=1)
    after = await query_jobs(conn, JobFilter(created_after=just_before), limit=10)
    before = await query_jobs(conn, JobFilter(created_before=just_before), limit=10)
    assert ([row.id for row in after.rows], before.rows) == ([job_id], [])


async def test_filters_combine_and_a_row_is_typed(conn: Conn) -> None:
    wanted = await make_job(conn, "tools.run", {"tool": "needle-1"}, status="failed")
    await make_job(conn, "tools.run", {"tool": "needle-2"})
    await make_job(conn, "llm.generate", {"prompt": "needle-3"}, status="failed")
    page = await query_jobs(
        conn,
        JobFilter(statuses=frozenset({JobStatus.FAILED}), task="tools.run", text="NEEDLE"),
        limit=10,
    )
    (row,) = page.rows
    assert (row.id, row.status, row.args["tool"], page.next_cursor) == (
        wanted.id,
        JobStatus.FAILED,
        "needle-1",
        None,
    )
    assert isinstance(row.status, JobStatus)


async def test_queued_jobs_are_read_along_the_active_index_however_old(conn: Conn) -> None:
    """A todo/doing-only filter walks procrastinate's partial index: a window of 10 queued
    jobs reaches an old queued job past any number of finished ones."""
    old = await make_job(conn, "tools.run", {"tool": "old"})
    for n in range(15):
        await make_job(conn, "tools.run", {"tool": f"done-{n}"}, status="succeeded")
    page = await query_jobs(
        conn, JobFilter(statuses=frozenset({JobStatus.TODO})), limit=5, scan_limit=10
    )
    assert ([row.id for row in page.rows], page.next_cursor) == ([old.id], None)
    everything = await query_jobs(conn, JobFilter(), limit=5, scan_limit=10)
    assert old.id not in [row.id for row in everything.rows]  # the window ended before it
    assert everything.next_cursor is not None


async def test_jobs_testing_reads_queued_jobs_with_their_arguments(conn: Conn) -> None:
    ids = [(await make_job(conn, "tools.run", {"tool": str(n)})).id for n in range(3)]
    await make_job(conn, "tools.run", {"tool": "x"}, status="succeeded")
    found = await enqueued_jobs(conn, "tools.run", limit=2)
    assert [job.id for job in found] == ids[::-1][:2]
    assert [job.args["tool"] for job in await enqueued_jobs(conn, "tools.run")] == ["2", "1", "0"]
