"""Repository for jobs whose task the worker that took them does not have."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from db.queries import query
from db.rows import fetch_one
from db.types import Connection


@dataclass(frozen=True, slots=True)
class UnavailableDecision:
    job_id: int
    #: ``unavailable`` (put back in the queue) or ``failed`` (waited too long).
    outcome: str
    #: When the first worker found it lacked the task.
    since: datetime.datetime
    retry_at: datetime.datetime


async def job_unavailable_record(
    conn: Connection,
    *,
    job_id: int,
    worker_id: int | None,
    error_type: str,
    waiting_message: str,
    failed_message: str,
    give_up_after: float,
    min_delay: float,
    max_delay: float,
) -> UnavailableDecision | None:
    """Record the unavailable attempt and decide; None when the job is no longer ``doing``."""
    return await fetch_one(
        conn,
        "job_unavailable_record",
        UnavailableDecision,
        {
            "job_id": job_id,
            "worker_id": worker_id,
            "error_type": error_type,
            "waiting_message": waiting_message,
            "failed_message": failed_message,
            "give_up_after": give_up_after,
            "min_delay": min_delay,
            "max_delay": max_delay,
        },
    )


async def job_unavailable_requeue(
    conn: Connection, job_id: int, retry_at: datetime.datetime
) -> None:
    await conn.execute(query("job_unavailable_requeue"), {"job_id": job_id, "retry_at": retry_at})


async def job_unavailable_fail(conn: Connection, job_id: int) -> None:
    await conn.execute(query("job_unavailable_fail"), {"job_id": job_id})
