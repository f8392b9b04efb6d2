"""Read one job, and change it: get, cancel/abort, retry.

Each state change locks the job row first (``SELECT ... FOR UPDATE``) so the
decision "this job may be cancelled" cannot race a worker finishing it; the
caller's transaction covers both statements. Lists of jobs are the one job
query's (``query.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from db import callback_store, job_store
from db.job_store import AttemptRow, EventRow, JobRow, LockedStatus
from db.types import ACTIVE_STATUSES, RETRYABLE_STATUSES, Connection, JobStatus
from jobs.errors import AlreadyEnqueued, IllegalTransition, JobNotFound


@dataclass(frozen=True, slots=True)
class JobDetail:
    """A job with its timeline and attempts: what ``GET /jobs/{id}`` and the job page show."""

    job: JobRow
    #: Oldest first (empty for a job just created: its events are not read back).
    events: list[EventRow]
    attempts: list[AttemptRow]
    #: Its completion webhooks, one per final state it reached, with their HTTP attempts.
    callbacks: list[callback_store.DeliveryView] = field(default_factory=list)


async def get_job(conn: Connection, job_id: int) -> JobDetail:
    job = await job_store.job_get(conn, job_id)
    if job is None:
        raise JobNotFound(job_id)
    return JobDetail(
        job=job,
        events=await job_store.event_list(conn, job_id),
        attempts=await job_store.attempt_list(conn, job_id),
        callbacks=(
            await callback_store.callback_list_for_job(conn, job_id)
            if job.callback_url is not None
            else []
        ),
    )


async def cancel_job(conn: Connection, job_id: int, *, requested_by: str | None) -> str:
    """Cancel a queued job or request the abort of a running one.

    Returns ``"cancelled"`` or ``"abort_requested"``. Must run inside a transaction.
    """
    current = await _locked_status(conn, job_id)
    if current.status not in ACTIVE_STATUSES:
        raise IllegalTransition(job_id, current.status, "cancel")
    cancelled = await job_store.job_cancel(conn, job_id, requested_by=requested_by)
    assert cancelled, "the row is locked in todo/doing, procrastinate_cancel_job_v1 must accept it"
    return "cancelled" if current.status == JobStatus.TODO else "abort_requested"


async def retry_job(conn: Connection, job_id: int) -> JobStatus:
    """Put a failed, cancelled or aborted job back in its queue; returns its previous status."""
    current = await _locked_status(conn, job_id)
    if current.status not in RETRYABLE_STATUSES:
        raise IllegalTransition(job_id, current.status, "retry")
    try:
        (retried,) = await job_store.job_retry(conn, [job_id])
    except job_store.QueueingLockTaken as taken:  # a queued job holds its queueing lock
        raise AlreadyEnqueued(taken.lock or taken.args[0]) from None
    return retried.previous_status


async def _locked_status(conn: Connection, job_id: int) -> LockedStatus:
    status = await job_store.job_lock_status(conn, job_id)
    if status is None:
        raise JobNotFound(job_id)
    return status
