"""Repository for jobs: procrastinate's rows read together with pgjobs' records.

Functions take a connection and never commit: the caller (a request handler,
the worker middleware, application code) owns the transaction.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from db.queries import query
from db.types import Connection, Row

#: Name of procrastinate's unique index that enforces one queued job per queueing lock.
QUEUEING_LOCK_INDEX = "procrastinate_jobs_queueing_lock_idx_v1"
#: Name of pgjobs' unique index on idempotency keys.
IDEMPOTENCY_KEY_INDEX = "pgjobs_jobs_idempotency_key_idx"


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
    idempotency_key: str | None = None
    request_fingerprint: str | None = None


class QueueingLockTaken(Exception):
    """A job with the same queueing lock is already queued (procrastinate's unique index)."""


class IdempotencyKeyTaken(Exception):
    """Another job was already created with this idempotency key."""


async def job_defer_many(
    conn: Connection,
    new_jobs: Sequence[NewJob],
    *,
    created_by: str | None,
    batch_id: uuid.UUID | None = None,
) -> list[Row]:
    """Create jobs and their records in one statement; returns ``[{id, created_at}]`` in order.

    Raises :class:`QueueingLockTaken` or :class:`IdempotencyKeyTaken` on the
    matching unique violation; the statement (and so the caller's transaction)
    is then aborted and nothing was written.
    """
    params = {
        "queue_names": [job.queue for job in new_jobs],
        "task_names": [job.task for job in new_jobs],
        "priorities": [job.priority for job in new_jobs],
        "locks": [job.lock for job in new_jobs],
        "queueing_locks": [job.queueing_lock for job in new_jobs],
        "args": [Jsonb(job.args) for job in new_jobs],
        "scheduled_ats": [job.scheduled_at for job in new_jobs],
        "idempotency_keys": [job.idempotency_key for job in new_jobs],
        "request_fingerprints": [job.request_fingerprint for job in new_jobs],
        "created_by": created_by,
        "batch_id": batch_id,
    }
    try:
        async with conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(query("job_defer_many"), params)
            return await cursor.fetchall()
    except errors.UniqueViolation as error:
        constraint = error.diag.constraint_name
        if constraint == QUEUEING_LOCK_INDEX:
            raise QueueingLockTaken(str(error.diag.message_detail or error)) from error
        if constraint == IDEMPOTENCY_KEY_INDEX:
            raise IdempotencyKeyTaken(str(error.diag.message_detail or error)) from error
        raise


async def job_get(conn: Connection, job_id: int) -> Row | None:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("job_get"), {"job_id": job_id})
        return await cursor.fetchone()


async def job_get_by_idempotency_key(conn: Connection, key: str) -> Row | None:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("job_get_by_idempotency_key"), {"key": key})
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
    """Put failed/cancelled/aborted jobs back to todo; returns ``[{id, previous_status}]``."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("job_retry"), {"job_ids": list(job_ids)})
        return await cursor.fetchall()


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
