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
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from db.idempotency_store import KeyClaim
from db.queries import query
from db.types import Connection, Row

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
) -> list[Row]:
    """Create jobs and their records in one statement; returns ``[{id, created_at}]`` in order.

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
        "created_by": created_by,
        "batch_id": batch_id,
        "idempotency_scope": idempotency.scope if idempotency else None,
        "idempotency_key": idempotency.key if idempotency else None,
        "request_fingerprint": idempotency.request_fingerprint if idempotency else None,
        "idempotency_ttl_seconds": idempotency.ttl_seconds if idempotency else None,
    }
    try:
        async with conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(query("job_defer_many"), params)
            return await cursor.fetchall()
    except errors.UniqueViolation as error:
        raise_known_violation(error)
        raise


def raise_known_violation(error: errors.UniqueViolation) -> None:
    """Raise the exception of a unique violation pgjobs expects; return if it is another one."""
    constraint = error.diag.constraint_name
    detail = str(error.diag.message_detail or error)
    if constraint == QUEUEING_LOCK_INDEX:
        match = _VIOLATION_DETAIL.match(detail)
        raise QueueingLockTaken(detail, match["value"] if match else None) from error
    if constraint == IDEMPOTENCY_KEY_INDEX:
        raise IdempotencyKeyTaken(detail) from error


async def job_get(conn: Connection, job_id: int) -> Row | None:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("job_get"), {"job_id": job_id})
        return await cursor.fetchone()


async def job_list(
    conn: Connection,
    *,
    limit: int,
    before_id: int | None = None,
    statuses: Sequence[str] | None = None,
    task: str | None = None,
    queue: str | None = None,
    created_after: datetime.datetime | None = None,
    created_before: datetime.datetime | None = None,
) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            query("job_list"),
            {
                "limit": limit,
                "before_id": before_id,
                "statuses": list(statuses) if statuses else None,
                "task": task,
                "queue": queue,
                "created_after": created_after,
                "created_before": created_before,
            },
        )
        return await cursor.fetchall()


async def job_lock_status(conn: Connection, job_id: int) -> Row | None:
    """The job's status, with the row locked until the caller's transaction ends."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("job_lock_status"), {"job_id": job_id})
        return await cursor.fetchone()


async def job_cancel(conn: Connection, job_id: int, *, requested_by: str | None) -> bool:
    """Cancel a queued job or request the abort of a running one; False if it was neither."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("job_cancel"), {"job_id": job_id, "requested_by": requested_by})
        return await cursor.fetchone() is not None


async def job_retry(conn: Connection, job_ids: Sequence[int]) -> list[Row]:
    """Put failed/cancelled/aborted jobs back to todo; returns ``[{id, previous_status}]``.

    Raises :class:`QueueingLockTaken` when a job's queueing lock is held by a queued job.
    """
    try:
        async with conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(query("job_retry"), {"job_ids": list(job_ids)})
            return await cursor.fetchall()
    except errors.UniqueViolation as error:
        raise_known_violation(error)
        raise


async def event_list(conn: Connection, job_id: int) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("event_list"), {"job_id": job_id})
        return await cursor.fetchall()


async def attempt_list(conn: Connection, job_id: int) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("attempt_list"), {"job_id": job_id})
        return await cursor.fetchall()


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one execution of a job produced, as the worker middleware saw it."""

    job_id: int
    attempt: int
    worker_id: int | None
    started_at: datetime.datetime
    outcome: str
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    error_traceback: str | None = None


async def attempt_record(conn: Connection, outcome: AttemptOutcome) -> None:
    await conn.execute(
        query("attempt_record"),
        {
            "job_id": outcome.job_id,
            "attempt": outcome.attempt,
            "worker_id": outcome.worker_id,
            "started_at": outcome.started_at,
            "outcome": outcome.outcome,
            "result": None if outcome.result is None else Jsonb(outcome.result),
            "error_type": outcome.error_type,
            "error_message": outcome.error_message,
            "error_traceback": outcome.error_traceback,
        },
    )


async def progress_save(
    conn: Connection, job_id: int, *, percent: float, message: str | None
) -> None:
    await conn.execute(
        query("progress_save"), {"job_id": job_id, "percent": percent, "message": message}
    )


async def job_count_by_status(conn: Connection) -> dict[str, int]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("job_count_by_status"))
        return {row["status"]: int(row["count"]) for row in await cursor.fetchall()}


async def job_time_limits_get(conn: Connection, job_id: int) -> tuple[float | None, float | None]:
    """The job's own ``(time_limit, soft_time_limit)`` in seconds; None for each it lacks."""
    async with conn.cursor() as cursor:
        await cursor.execute(query("job_time_limits_get"), {"job_id": job_id})
        row = await cursor.fetchone()
    return (None, None) if row is None else (row[0], row[1])
