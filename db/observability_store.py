"""Read-only queries behind live events, metrics, health and the dashboard.

Functions take a connection and never commit (style rule 6). None of the
statements locks a row, so watching the queue cannot slow it down; the
planner choices that keep them cheap on a large table are commented in
``db/sql/observability.sql``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from db.rows import fetch_all, fetch_one, fetch_value
from db.types import Connection, JobStatus


@dataclass(frozen=True, slots=True)
class JobEventRow:
    """A state change of a job (procrastinate_events), with its job's queue and task.

    ``event_list_history`` reads only the event itself: queue and task are None then.
    """

    id: int
    job_id: int
    type: str
    at: datetime.datetime | None
    queue: str | None = None
    task: str | None = None
    #: ``event_list_tail`` only: the stalled-job rescue wrote it, closing a lost attempt.
    rescued: bool = False


@dataclass(frozen=True, slots=True)
class ProgressRow:
    """The stored progress of a running job."""

    job_id: int
    queue: str
    task: str
    percent: float
    message: str | None
    at: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class JobRoute:
    queue: str
    task: str


@dataclass(frozen=True, slots=True)
class QueueStatusCount:
    queue: str
    status: JobStatus
    count: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", JobStatus(self.status))


@dataclass(frozen=True, slots=True)
class QueueLagRow:
    queue: str
    #: Jobs that could run now (todo and due).
    runnable: int
    #: Seconds the oldest of them has been runnable.
    oldest_seconds: float


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A job a worker runs now."""

    id: int
    task: str
    queue: str
    progress_percent: float | None


@dataclass(frozen=True, slots=True)
class WorkerRow:
    id: int
    last_heartbeat: datetime.datetime
    heartbeat_age_seconds: float
    #: Which process it is (pgjobs_workers); None for a worker registered without pgjobs.
    name: str | None
    hostname: str | None
    pid: int | None
    started_at: datetime.datetime | None
    #: Figures of its last heartbeat.
    jobs_finished: int | None
    resident_memory_bytes: int | None
    recycling_reason: str | None
    jobs: list[RunningJob]

    def __post_init__(self) -> None:
        # the statement aggregates the running jobs as JSON objects
        jobs: list[Any] = self.jobs
        object.__setattr__(
            self, "jobs", [RunningJob(**job) if isinstance(job, dict) else job for job in jobs]
        )


@dataclass(frozen=True, slots=True)
class FinishedCount:
    """Jobs finished in one minute with one outcome (succeeded, failed or aborted)."""

    minute: datetime.datetime
    outcome: str
    count: int


async def event_max_id(conn: Connection) -> int:
    return int(await fetch_value(conn, "event_max_id"))


async def event_list_after(
    conn: Connection, after_id: int, *, queue: str | None, task: str | None, limit: int
) -> list[JobEventRow]:
    return await fetch_all(
        conn,
        "event_list_after",
        JobEventRow,
        {"after_id": after_id, "queue": queue, "task": task, "limit": limit},
    )


@dataclass(frozen=True, slots=True)
class _NewEventRow:
    snapshot: str
    id: int | None
    job_id: int | None
    type: str | None
    at: datetime.datetime | None
    queue: str | None
    task: str | None
    xid: int | None


@dataclass(frozen=True, slots=True)
class NewEvents:
    """What a live listener has not seen yet, and the snapshot the read saw."""

    #: ``xmin:xmax:xip`` (jobs.live.snapshot): which transactions the read saw.
    snapshot: str
    #: (id of the transaction that wrote it, the event), oldest first.
    events: list[tuple[int, JobEventRow]]


async def event_list_new(
    conn: Connection, after_id: int, *, awaited_ids: Sequence[int], limit: int
) -> NewEvents:
    """Events after ``after_id`` (at most ``limit``) and those of ``awaited_ids``."""
    rows = await fetch_all(
        conn,
        "event_list_new",
        _NewEventRow,
        {"after_id": after_id, "awaited_ids": list(awaited_ids), "limit": limit},
    )
    return NewEvents(
        snapshot=rows[0].snapshot,
        events=[
            (row.xid, JobEventRow(row.id, row.job_id, row.type, row.at, row.queue, row.task))
            for row in rows
            if row.id is not None
            and row.job_id is not None
            and row.type is not None
            and row.xid is not None
        ],
    )


async def event_list_for_job_after(
    conn: Connection, job_id: int, after_id: int, *, limit: int
) -> list[JobEventRow]:
    return await fetch_all(
        conn,
        "event_list_for_job_after",
        JobEventRow,
        {"job_id": job_id, "after_id": after_id, "limit": limit},
    )


async def progress_list_running(
    conn: Connection,
    *,
    job_id: int | None = None,
    queue: str | None = None,
    task: str | None = None,
    limit: int,
) -> list[ProgressRow]:
    return await fetch_all(
        conn,
        "progress_list_running",
        ProgressRow,
        {"job_id": job_id, "queue": queue, "task": task, "limit": limit},
    )


async def job_route_get(conn: Connection, job_id: int) -> JobRoute | None:
    return await fetch_one(conn, "job_route_get", JobRoute, {"job_id": job_id})


async def job_count_active_by_queue(conn: Connection) -> list[QueueStatusCount]:
    """Jobs per queue for todo and doing."""
    return await fetch_all(conn, "job_count_active_by_queue", QueueStatusCount)


async def job_count_by_queue_and_status(conn: Connection) -> list[QueueStatusCount]:
    """Jobs per queue and status over the whole table (a full scan: cache the answer)."""
    return await fetch_all(conn, "job_count_by_queue_and_status", QueueStatusCount)


async def queue_lag_list(conn: Connection) -> list[QueueLagRow]:
    """Every queue with a runnable job, and how long its oldest one has waited."""
    return await fetch_all(conn, "queue_lag_list", QueueLagRow)


async def worker_list_with_jobs(conn: Connection) -> list[WorkerRow]:
    """Registered workers, their heartbeat age and the jobs they run now."""
    return await fetch_all(conn, "worker_list_with_jobs", WorkerRow)


async def event_list_tail(
    conn: Connection, after_id: int, up_to_id: int, limit: int
) -> list[JobEventRow]:
    """The events in (after_id, up_to_id], by id, with ``rescued`` set."""
    return await fetch_all(
        conn,
        "event_list_tail",
        JobEventRow,
        {"after_id": after_id, "up_to_id": up_to_id, "limit": limit},
    )


async def event_list_history(
    conn: Connection, job_ids: Sequence[int], before_id: int
) -> list[JobEventRow]:
    """Every event of these jobs before ``before_id``, oldest first (no queue or task)."""
    return await fetch_all(
        conn,
        "event_list_history",
        JobEventRow,
        {"job_ids": list(job_ids), "before_id": before_id},
    )


async def job_finished_by_minute(conn: Connection, minutes: int) -> list[FinishedCount]:
    """Jobs finished per minute and outcome over the last ``minutes`` minutes."""
    return await fetch_all(conn, "job_finished_by_minute", FinishedCount, {"minutes": minutes})
