"""Create jobs: the one path used by the HTTP API, batches and application code.

``enqueue(conn, "task", args)`` defers on the caller's connection and inside
the caller's transaction: commit and the job exists (and a worker is woken);
roll back and neither the application's rows nor the job exist.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from db import job_store
from db.idempotency_store import KeyClaim
from db.types import Connection
from jobs.errors import AlreadyEnqueued, InvalidJobOptions
from jobs.tasks.registry import TaskRegistry, check_priority, check_queue, registry
from jobs.tasks.time_limits import job_time_limits

#: How far ahead a job may be scheduled; beyond it is almost surely a unit mistake.
MAX_SCHEDULE_AHEAD = datetime.timedelta(days=366)
#: Slack for clocks: a schedule_at this far in the past still counts as "now".
PAST_TOLERANCE = datetime.timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A job as a caller asks for it, before validation."""

    task: str
    args: Any
    queue: str | None = None
    priority: int | None = None
    schedule_at: datetime.datetime | None = None
    schedule_in: float | None = None
    lock: str | None = None
    queueing_lock: str | None = None
    #: Refuse this job while an identical one (same task, same validated args) is queued.
    unique: bool = False
    #: Seconds per attempt overriding the task's hard / soft time limits.
    time_limit: float | None = None
    soft_time_limit: float | None = None


@dataclass(frozen=True, slots=True)
class EnqueuedJob:
    id: int
    task: str
    args: dict[str, Any]
    queue: str
    priority: int
    scheduled_at: datetime.datetime | None
    lock: str | None
    queueing_lock: str | None
    created_at: datetime.datetime
    created_by: str | None
    batch_id: uuid.UUID | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None


def prepare(request: JobRequest, *, tasks: TaskRegistry = registry) -> job_store.NewJob:
    """Validate one request against its task.

    Raises UnknownTask, InvalidArguments or InvalidJobOptions; nothing is written.
    """
    spec = tasks.get(request.task)
    args = spec.validate(request.args)
    queue = check_queue(request.queue) if request.queue is not None else spec.queue
    priority = check_priority(request.priority) if request.priority is not None else spec.priority
    queueing_lock = request.queueing_lock
    if request.unique:
        if queueing_lock is not None:
            raise InvalidJobOptions("unique", "give unique or queueing_lock, not both")
        queueing_lock = unique_lock(spec.name, args)
    job_time_limits(spec.time_limits, request.time_limit, request.soft_time_limit)
    return job_store.NewJob(
        task=spec.name,
        args=args,
        queue=queue,
        priority=priority,
        scheduled_at=_scheduled_at(request.schedule_at, request.schedule_in),
        lock=request.lock,
        queueing_lock=queueing_lock,
        time_limit=request.time_limit,
        soft_time_limit=request.soft_time_limit,
    )


def unique_lock(task: str, args: dict[str, Any]) -> str:
    """The queueing lock of a unique job: its task and a hash of its canonical arguments.

    Arguments are hashed after validation, so defaults and key order do not make
    two requests for the same work look different. procrastinate's unique index
    on queueing locks of queued jobs then refuses the second one, race-free.
    """
    canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"unique:{task}:{hashlib.sha256(canonical.encode()).hexdigest()}"


def _scheduled_at(
    schedule_at: datetime.datetime | None, schedule_in: float | None
) -> datetime.datetime | None:
    now = datetime.datetime.now(datetime.UTC)
    if schedule_at is not None and schedule_in is not None:
        raise InvalidJobOptions("schedule_at", "give schedule_at or schedule_in, not both")
    if schedule_in is not None:
        if schedule_in < 0:
            raise InvalidJobOptions("schedule_in", "must be >= 0 seconds")
        if datetime.timedelta(seconds=schedule_in) > MAX_SCHEDULE_AHEAD:
            raise InvalidJobOptions("schedule_in", "must be at most 366 days")
        return now + datetime.timedelta(seconds=schedule_in) if schedule_in > 0 else None
    if schedule_at is not None:
        if schedule_at.tzinfo is None:
            raise InvalidJobOptions("schedule_at", "must include a time zone (e.g. ...Z)")
        if schedule_at < now - PAST_TOLERANCE:
            raise InvalidJobOptions("schedule_at", "is in the past")
        if schedule_at - now > MAX_SCHEDULE_AHEAD:
            raise InvalidJobOptions("schedule_at", "must be at most 366 days ahead")
        return schedule_at
    return None


async def defer_prepared(
    conn: Connection,
    new_jobs: Sequence[job_store.NewJob],
    *,
    created_by: str | None,
    batch_id: uuid.UUID | None = None,
    idempotency: KeyClaim | None = None,
) -> list[EnqueuedJob]:
    """Insert validated jobs in one statement on ``conn`` (no commit).

    With ``batch_id`` the statement also creates that batch; with ``idempotency``
    it claims the key for the job or batch (raising
    ``job_store.IdempotencyKeyTaken`` when the key is live: see jobs/idempotency.py).
    """
    try:
        rows = await job_store.job_defer_many(
            conn, new_jobs, created_by=created_by, batch_id=batch_id, idempotency=idempotency
        )
    except job_store.QueueingLockTaken as taken:
        raise AlreadyEnqueued(taken.lock or taken.args[0]) from None
    return [
        EnqueuedJob(
            id=row["id"],
            task=job.task,
            args=job.args,
            queue=job.queue,
            priority=job.priority,
            scheduled_at=job.scheduled_at,
            lock=job.lock,
            queueing_lock=job.queueing_lock,
            created_at=row["created_at"],
            created_by=created_by,
            batch_id=batch_id,
            time_limit=job.time_limit,
            soft_time_limit=job.soft_time_limit,
        )
        for job, row in zip(new_jobs, rows, strict=True)
    ]


async def enqueue(
    conn: Connection,
    task: str,
    args: Any,
    *,
    queue: str | None = None,
    priority: int | None = None,
    schedule_at: datetime.datetime | None = None,
    schedule_in: float | None = None,
    lock: str | None = None,
    queueing_lock: str | None = None,
    unique: bool = False,
    time_limit: float | None = None,
    soft_time_limit: float | None = None,
    created_by: str | None = "app",
    tasks: TaskRegistry = registry,
) -> EnqueuedJob:
    """Create one job on the caller's connection and transaction; the caller commits.

    >>> async with pool.connection() as conn, conn.transaction():
    ...     invoice = await invoices.create(conn, total=42)  # the app's own write
    ...     await enqueue(conn, "llm.generate", {"prompt": f"Summarise {invoice.id}"})
    """
    new_job = prepare(
        JobRequest(
            task=task,
            args=args,
            queue=queue,
            priority=priority,
            schedule_at=schedule_at,
            schedule_in=schedule_in,
            lock=lock,
            queueing_lock=queueing_lock,
            unique=unique,
            time_limit=time_limit,
            soft_time_limit=soft_time_limit,
        ),
        tasks=tasks,
    )
    (job,) = await defer_prepared(conn, [new_job], created_by=created_by)
    return job
