"""Factories for test data: jobs in any state, through the product's own code paths."""

from __future__ import annotations

from typing import Any

import psycopg

from db.job_store import JobRow
from jobs.control.enqueue import enqueue


async def make_job(
    conn: psycopg.AsyncConnection[Any],
    task: str = "tools.run",
    args: dict[str, Any] | None = None,
    *,
    status: str = "todo",
    **options: Any,
) -> JobRow:
    """Create a job with ``enqueue`` and, if asked, move it to ``status`` the way a worker would."""
    job = await enqueue(conn, task, args if args is not None else {"tool": "t"}, **options)
    if status == "todo":
        return job
    if status == "cancelled":
        await conn.execute(
            "SELECT procrastinate_cancel_job_v1(%(id)s, false, false)", {"id": job.id}
        )
        return job
    # procrastinate's own functions, as a worker calls them: fetch -> doing, finish -> final.
    await conn.execute(
        "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %(id)s", {"id": job.id}
    )
    if status in ("succeeded", "failed", "aborted"):
        await conn.execute(
            "SELECT procrastinate_finish_job_v1(%(id)s, %(status)s, false)",
            {"id": job.id, "status": status},
        )
    elif status != "doing":
        raise ValueError(f"unknown status {status}")
    return job
