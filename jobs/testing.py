"""Helpers for application tests: assert that code under test enqueued a job.

    from jobs.testing import assert_enqueued

    async def test_signup_sends_welcome(conn):
        await signup(conn, "ada@example.com")
        await assert_enqueued(conn, "emails.welcome", args={"email": "ada@example.com"})

They read the real tables (no mock queue), so they also prove the job would
survive a restart: it is a row, committed or visible in the test's transaction.
"""

from __future__ import annotations

from typing import Any

from db.types import Connection, JobStatus
from jobs.control.query import JobFilter, JobSummaryRow, query_jobs


async def enqueued_jobs(
    conn: Connection, task: str | None = None, *, queue: str | None = None, limit: int = 1000
) -> list[JobSummaryRow]:
    """Queued (``todo``) jobs, newest first, with their arguments (at most ``limit``)."""
    job_filter = JobFilter(statuses=frozenset({JobStatus.TODO}), task=task, queue=queue)
    jobs: list[JobSummaryRow] = []
    cursor: int | None = None
    while len(jobs) < limit:
        page = await query_jobs(conn, job_filter, cursor=cursor, limit=limit - len(jobs))
        jobs.extend(page.rows)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return jobs


async def assert_enqueued(
    conn: Connection,
    task: str,
    *,
    args: dict[str, Any] | None = None,
    queue: str | None = None,
    count: int | None = None,
) -> list[JobSummaryRow]:
    """Fail unless a queued job of ``task`` exists (whose args include ``args``, if given).

    With ``count``, exactly that many must match. Returns the matching jobs.
    """
    candidates = await enqueued_jobs(conn, task, queue=queue)
    matching = [
        job
        for job in candidates
        if args is None or all(job.args.get(key) == value for key, value in args.items())
    ]
    if count is not None and len(matching) != count:
        raise AssertionError(f"expected {count} queued {task!r} job(s), found {len(matching)}")
    if not matching:
        seen = [job.args for job in candidates]
        raise AssertionError(f"no queued {task!r} job with args {args!r}; queued: {seen!r}")
    return matching


async def assert_not_enqueued(conn: Connection, task: str, *, queue: str | None = None) -> None:
    found = await enqueued_jobs(conn, task, queue=queue)
    if found:
        raise AssertionError(f"{len(found)} queued {task!r} job(s), expected none")
