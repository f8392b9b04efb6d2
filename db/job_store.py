"""Repository for jobs: procrastinate's rows read together with pgjobs' records.

Functions take a connection and never commit: the caller (a request handler,
the worker middleware, application code) owns the transaction.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import errors
from psycopg.types.json import Jsonb

from db.idempotency_store import KeyClaim
from db.queries import query
from db.rows import fetch_all, fetch_one
from db.types import Connection, JobStatus

#: Name of procrastinate's unique index that enforces one queued job per queueing lock.
QUEUEING_LOCK_INDEX = "procrastinate_jobs_queueing_lock_idx_v1"
#: Name of the primary key of pgjobs' idempotency keys (one live key per scope and key).
IDEMPOTENCY_KEY_INDEX = "pgjobs_idempotency_keys_pkey"
#: How Postgres names the value of a unique violation: ``Key (queueing_lock)=(abc) already exists.``
_VIOLATION_DETAIL = re.compile(r"^Key \(queueing_lock\)=\((?P<value>.*)\) already exists\.$", re.S)


@dataclass(frozen=True, slots=True)
class NewJob:
    """One job to create; ``args`` are already validated against the task's model."""

    task: str
    args: dict[str, Any]
    queue: str
    priority: int
    scheduled_at: datetime.datetime | None = None
    lock: str | None = None
    queueing_lock: str | None = None
    #: The job's own hard/soft time limits in seconds (None: the task's defaults).
    time_limit: float | None = None
    soft_time_limit: float | None = None
    #: Where the job's outcome is POSTed when it reaches a final state (already checked).
    callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job as pgjobs knows it: procrastinate's row, pgjobs' record, times from its events.

    What ``job_get`` reads, and what ``job_defer_many`` returns for the jobs it
    created (then every field it cannot know yet has its default). The API's
    ``Job`` body and the dashboard's job page are built from it.
    """

    id: int
    task: str
    args: dict[str, Any]
    queue: str
    priority: int
    status: JobStatus
    scheduled_at: datetime.datetime | None
    lock: str | None
    queueing_lock: str | None
    #: When it was created: pgjobs' record, else (a periodic or plain procrastinate job)
    #: its first 'deferred' event.
    created_at: datetime.datetime | None
    created_by: str | None
    batch_id: uuid.UUID | None
    #: The job's own hard / soft time limits in seconds (None: its task's defaults).
    time_limit: float | None
    soft_time_limit: float | None
    #: Finished attempts (procrastinate's counter).
    attempts: int = 0
    abort_requested: bool = False
    worker_id: int | None = None
    started_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    error_traceback: str | None = None
    progress_percent: float | None = None
    progress_message: str | None = None
    progress_updated_at: datetime.datetime | None = None
    cancel_requested_by: str | None = None
    cancel_requested_at: datetime.datetime | None = None
    #: Where its outcome is POSTed when it reaches a final state (docs/callbacks.md).
    callback_url: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", JobStatus(self.status))


@dataclass(frozen=True, slots=True)
class EventRow:
    """One entry of a job's timeline (procrastinate_events)."""

    id: int
    type: str
    at: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One finished (or lost) attempt of a job (pgjobs_attempts)."""

    attempt: int
    worker_id: int | None
    started_at: datetime.datetime
    finished_at: datetime.datetime
    #: succeeded, failed, aborted or lost.
    outcome: str
    error_type: str | None
    error_message: str | None
    error_traceback: str | None


@dataclass(frozen=True, slots=True)
class LockedStatus:
    status: JobStatus
    abort_requested: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", JobStatus(self.status))


@dataclass(frozen=True, slots=True)
class RetriedJob:
    id: int
    previous_status: JobStatus

    def __post_init__(self) -> None:
        object.__setattr__(self, "previous_status", JobStatus(self.previous_status))


class QueueingLockTaken(Exception):
    """A job with the same queueing lock is already queued (procrastinate's unique index)."""

    def __init__(self, message: str, lock: str | None) -> None:
        super().__init__(message)
        #: The queueing lock that is taken, when Postgres named it.
        self.lock = lock


class IdempotencyKeyTaken(Exception):
    """Another job was already created with this idempotency key."""


async def job_defer_many(
    conn: Connection,
    new_jobs: Sequence[NewJob],
    *,
    created_by: str | None,
    batch_id: uuid.UUID | None = None,
    idempotency: KeyClaim | None = None,
) -> list[JobRow]:
    """Create jobs and their records in one statement; returns the new jobs, in order.

    ``batch_id`` creates that batch (its row in ``pgjobs_batches``, sized to the
    jobs) in the same statement. ``idempotency`` claims a key naming the batch,
    or the job when there is no batch (then exactly one job is created).

    Raises :class:`QueueingLockTaken` or :class:`IdempotencyKeyTaken` on the
    matching unique violation; the statement (and so the caller's transaction)
    is then aborted and nothing was written.
    """
    if idempotency is not None and batch_id is None and len(new_jobs) != 1:
        raise ValueError("an idempotency key names one job or one batch")
    params = {
        "queue_names": [job.queue for job in new_jobs],
        "task_names": [job.task for job in new_jobs],
        "priorities": [job.priority for job in new_jobs],
        "locks": [job.lock for job in new_jobs],
        "queueing_locks": [job.queueing_lock for job in new_jobs],
        "args": [Jsonb(job.args) for job in new_jobs],
        "scheduled_ats": [job.scheduled_at for job in new_jobs],
        "time_limits": [job.time_limit for job in new_jobs],
        "soft_time_limits": [job.soft_time_limit for job in new_jobs],
        "callback_urls": [job.callback_url for job in new_jobs],
        "created_by": created_by,
        "batch_id": batch_id,
        "idempotency_scope": idempotency.scope if idempotency else None,
        "idempotency_key": idempotency.key if idempotency else None,
        "request_fingerprint": idempotency.request_fingerprint if idempotency else None,
        "idempotency_ttl_seconds": idempotency.ttl_seconds if idempotency else None,
    }
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(query("job_defer_many"), params)
            created = await cursor.fetchall()
    except errors.UniqueViolation as error:
        raise_known_violation(error)
        raise
    # Built here rather than read back: the statement's snapshot cannot see the rows
    # procrastinate_defer_jobs_v1 inserted, and a second statement would be a round trip.
    return [
        JobRow(
            id=job_id,
            task=job.task,
            args=job.args,
            queue=job.queue,
            priority=job.priority,
            status=JobStatus.TODO,
            scheduled_at=job.scheduled_at,
            lock=job.lock,
            queueing_lock=job.queueing_lock,
            created_at=created_at,
            created_by=created_by,
            batch_id=batch_id,
            time_limit=job.time_limit,
            soft_time_limit=job.soft_time_limit,
            callback_url=job.callback_url,
        )
        for job, (job_id, created_at) in zip(new_jobs, created, strict=True)
    ]


def raise_known_violation(error: errors.UniqueViolation) -> None:
    """Raise the exception of a unique violation pgjobs expects; return if it is another one."""
    constraint = error.diag.constraint_name
    detail = str(error.diag.message_detail or error)
    if constraint == QUEUEING_LOCK_INDEX:
        match = _VIOLATION_DETAIL.match(detail)
        raise QueueingLockTaken(detail, match["value"] if match else None) from error
    if constraint == IDEMPOTENCY_KEY_INDEX:
        raise IdempotencyKeyTaken(detail) from error


async def job_get(conn: Connection, job_id: int) -> JobRow | None:
    return await fetch_one(conn, "job_get", JobRow, {"job_id": job_id})


async def job_lock_status(conn: Connection, job_id: int) -> LockedStatus | None:
    """The job's status, with the row locked until the caller's transaction ends."""
    return await fetch_one(conn, "job_lock_status", LockedStatus, {"job_id": job_id})


async def job_cancel(conn: Connection, job_id: int, *, requested_by: str | None) -> bool:
    """Cancel a queued job or request the abort of a running one; False if it was neither."""
    async with conn.cursor() as cursor:
        await cursor.execute(query("job_cancel"), {"job_id": job_id, "requested_by": requested_by})
        return await cursor.fetchone() is not None


async def job_retry(conn: Connection, job_ids: Sequence[int]) -> list[RetriedJob]:
    """Put failed/cancelled/aborted jobs back to todo, waking their queues' workers.

    Raises :class:`QueueingLockTaken` when a job's queueing lock is held by a queued job.
    """
    try:
        return await fetch_all(conn, "job_retry", RetriedJob, {"job_ids": list(job_ids)})
    except errors.UniqueViolation as error:
        raise_known_violation(error)
        raise


async def event_list(conn: Connection, job_id: int) -> list[EventRow]:
    return await fetch_all(conn, "event_list", EventRow, {"job_id": job_id})


async def attempt_list(conn: Connection, job_id: int) -> list[AttemptRow]:
    return await fetch_all(conn, "attempt_list", AttemptRow, {"job_id": job_id})


async def progress_save(
    conn: Connection, job_id: int, *, percent: float, message: str | None
) -> None:
    await conn.execute(
        query("progress_save"), {"job_id": job_id, "percent": percent, "message": message}
    )


async def job_count_by_status(conn: Connection) -> dict[JobStatus, int]:
    async with conn.cursor() as cursor:
        await cursor.execute(query("job_count_by_status"))
        return {JobStatus(status): int(count) for status, count in await cursor.fetchall()}
