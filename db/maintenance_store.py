"""Queries of the maintenance tasks: stalled-job rescue, worker pruning, retention.

Each function is one statement on the caller's connection; the caller owns the
transaction (style rule 6) and bounds its lock waits first with
:func:`configure_transaction`. The SQL, with its locking choices, is in
``db/sql/maintenance.sql``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from db.queries import query
from db.rows import fetch_all, fetch_one, fetch_value
from db.types import FINAL_STATUSES, Connection, JobStatus


async def configure_transaction(conn: Connection, *, lock_timeout: float) -> None:
    """Make the current transaction give up on any lock it waits for longer than
    ``lock_timeout`` seconds, and plan without JIT."""
    await conn.execute(
        query("maintenance_transaction_configure"),
        {"lock_timeout": f"{max(1, round(lock_timeout * 1000))}ms"},
    )


async def rescue_needed(conn: Connection, *, stalled_after: float) -> bool:
    """Whether any worker is dead or any running job has lost its worker (no lock taken)."""
    return bool(await fetch_value(conn, "rescue_needed", {"stalled_after": stalled_after}))


@dataclass(frozen=True, slots=True)
class StalledJob:
    """A running job of a dead worker: procrastinate's columns, and what pgjobs knows of it."""

    id: int
    status: JobStatus
    queue_name: str
    task_name: str
    priority: int
    lock: str | None
    queueing_lock: str | None
    args: dict[str, Any]
    scheduled_at: datetime.datetime | None
    attempts: int
    abort_requested: bool
    worker_id: int | None
    last_heartbeat: datetime.datetime | None
    #: None when the worker's row is gone.
    heartbeat_age_seconds: float | None
    #: When the lost attempt started (its latest 'started' event).
    started_at: datetime.datetime | None
    #: The worker middleware's record of the lost attempt, if it wrote one.
    recorded_outcome: str | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", JobStatus(self.status))


async def job_lock_stalled(
    conn: Connection, *, stalled_after: float, limit: int
) -> list[StalledJob]:
    """Running jobs of dead workers, row-locked until the caller's transaction ends."""
    return await fetch_all(
        conn, "job_lock_stalled", StalledJob, {"stalled_after": stalled_after, "limit": limit}
    )


async def job_rescue_retry(
    conn: Connection,
    job_id: int,
    *,
    retry_at: datetime.datetime | None,
    priority: int | None,
    queue: str | None,
    lock: str | None,
    wake_queue: str,
) -> None:
    """Put a locked stalled job back to ``todo`` (procrastinate's retry) and wake workers.

    ``priority``, ``queue`` and ``lock`` are changes (None keeps the job's own).
    """
    await conn.execute(
        query("job_rescue_retry"),
        {
            "job_id": job_id,
            "retry_at": retry_at,
            "priority": priority,
            "queue": queue,
            "lock": lock,
            "wake_queue": wake_queue,
        },
    )


async def job_rescue_finish(conn: Connection, job_id: int, status: str) -> None:
    """Finish a locked stalled job with ``status`` (succeeded, failed or aborted)."""
    await conn.execute(query("job_rescue_finish"), {"job_id": job_id, "status": status})


@dataclass(frozen=True, slots=True)
class LostAttempt:
    """An attempt that ended because its worker died, as the rescue records it."""

    job_id: int
    attempt: int
    worker_id: int | None
    started_at: datetime.datetime | None
    error_type: str
    error_message: str


async def attempt_record_lost(conn: Connection, lost: LostAttempt) -> bool:
    """Record the attempt as ``lost``; False when the worker had already recorded it."""
    async with conn.cursor() as cursor:
        await cursor.execute(
            query("attempt_record_lost"),
            {
                "job_id": lost.job_id,
                "attempt": lost.attempt,
                "worker_id": lost.worker_id,
                "started_at": lost.started_at,
                "error_type": lost.error_type,
                "error_message": lost.error_message,
            },
        )
        return await cursor.fetchone() is not None


async def worker_prune_stalled(conn: Connection, *, stalled_after: float, limit: int) -> list[int]:
    """Delete dead workers that run no job any more; returns their ids."""
    async with conn.cursor() as cursor:
        await cursor.execute(
            query("worker_prune_stalled"), {"stalled_after": stalled_after, "limit": limit}
        )
        return [int(row[0]) for row in await cursor.fetchall()]


@dataclass(frozen=True, slots=True)
class PruneSlice:
    """What one retention batch did: how far it got and what it deleted, by status."""

    last_id: int | None
    done: bool
    #: status -> jobs deleted (statuses with none are absent).
    deleted: dict[str, int]


async def job_prune_finished(
    conn: Connection,
    *,
    after_id: int,
    batch_size: int,
    ages: dict[str, datetime.timedelta],
) -> PruneSlice:
    """Delete the expired finished jobs among the next ``batch_size`` jobs after ``after_id``.

    ``ages`` maps each final status to how long such jobs are kept.
    """
    missing = set(FINAL_STATUSES) - set(ages)
    if missing:
        raise ValueError(f"retention ages missing for {sorted(missing)}")
    pruned = await fetch_one(
        conn,
        "job_prune_finished",
        PruneSlice,
        {
            "after_id": after_id,
            "batch_size": batch_size,
            "succeeded_age": ages[JobStatus.SUCCEEDED],
            "failed_age": ages[JobStatus.FAILED],
            "cancelled_age": ages[JobStatus.CANCELLED],
            "aborted_age": ages[JobStatus.ABORTED],
            "youngest_age": min(ages[status] for status in FINAL_STATUSES),
        },
    )
    assert pruned is not None, "the statement's aggregates always return their row"
    return pruned


async def job_prune_maintenance(
    conn: Connection, *, queue: str, max_age: datetime.timedelta, batch_size: int
) -> int:
    """Delete up to ``batch_size`` old succeeded jobs of the maintenance queue; returns how many."""
    deleted = await fetch_value(
        conn,
        "job_prune_maintenance",
        {"queue": queue, "max_age": max_age, "batch_size": batch_size},
    )
    return int(deleted)
