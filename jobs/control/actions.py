"""Read and change jobs: get, list, cancel/abort, retry.

Each state change locks the job row first (``SELECT ... FOR UPDATE``) so the
decision "this job may be cancelled" cannot race a worker finishing it; the
caller's transaction covers both statements.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from db import job_store
from db.types import Connection, Row
from jobs.errors import AlreadyEnqueued, IllegalTransition, JobNotFound

#: procrastinate's statuses, as pgjobs exposes them.
STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "aborted"})
RETRYABLE_STATUSES = frozenset({"failed", "cancelled", "aborted"})


@dataclass(frozen=True, slots=True)
class JobDetail:
    job: Row
    events: list[Row]
    attempts: list[Row]


async def get_job(conn: Connection, job_id: int) -> JobDetail:
    job = await job_store.job_get(conn, job_id)
    if job is None:
        raise JobNotFound(job_id)
    return JobDetail(
        job=job,
        events=await job_store.event_list(conn, job_id),
        attempts=await job_store.attempt_list(conn, job_id),
    )


async def list_jobs(
    conn: Connection,
    *,
    limit: int,
    before_id: int | None = None,
    statuses: Sequence[str] | None = None,
    task: str | None = None,
    queue: str | None = None,
    created_after: datetime.datetime | None = None,
    created_before: datetime.datetime | None = None,
) -> tuple[list[Row], int | None]:
    """A page of jobs, newest first, and the cursor of the next page (None on the last)."""
    rows = await job_store.job_list(
        conn,
        limit=limit + 1,
        before_id=before_id,
        statuses=statuses,
        task=task,
        queue=queue,
        created_after=created_after,
        created_before=created_before,
    )
    if len(rows) > limit:
        return rows[:limit], int(rows[limit - 1]["id"])
    return rows, None


async def cancel_job(conn: Connection, job_id: int, *, requested_by: str | None) -> str:
    """Cancel a queued job or request the abort of a running one.

    Returns ``"cancelled"`` or ``"abort_requested"``. Must run inside a transaction.
    """
    current = await _locked_status(conn, job_id)
    if current["status"] not in ("todo", "doing"):
        raise IllegalTransition(job_id, current["status"], "cancel")
    cancelled = await job_store.job_cancel(conn, job_id, requested_by=requested_by)
    assert cancelled, "the row is locked in todo/doing, procrastinate_cancel_job_v1 must accept it"
    return "cancelled" if current["status"] == "todo" else "abort_requested"


async def retry_job(conn: Connection, job_id: int) -> str:
    """Put a failed, cancelled or aborted job back in its queue; returns its previous status."""
    current = await _locked_status(conn, job_id)
    if current["status"] not in RETRYABLE_STATUSES:
        raise IllegalTransition(job_id, current["status"], "retry")
    try:
        (retried,) = await job_store.job_retry(conn, [job_id])
    except job_store.QueueingLockTaken as taken:  # a queued job holds its queueing lock
        raise AlreadyEnqueued(taken.lock or taken.args[0]) from None
    return str(retried["previous_status"])


async def _locked_status(conn: Connection, job_id: int) -> dict[str, Any]:
    row = await job_store.job_lock_status(conn, job_id)
    if row is None:
        raise JobNotFound(job_id)
    return row
